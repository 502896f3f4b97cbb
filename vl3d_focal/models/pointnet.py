"""PointNet point-wise classifier (VL3D's ``PointNetPwiseClassifier``) as a Keras functional model.

The network, for receptive fields of ``num_points`` points:

1. optional input T-Net on the coordinates: a learned 3x3 transform, initialised to the identity;
2. the transformed coordinates concatenated with the point features;
3. ``pretransf_feats_spec``: shared per-point layers (Dense on the last axis, i.e. a kernel-1
   convolution, then BatchNormalization and ReLU);
4. optional feature T-Net: a learned k x k transform of those features (k = the last
   ``pretransf_feats_spec`` width), initialised to the identity and pulled towards an orthogonal
   matrix by a small penalty (:class:`OrthogonalityPenalty`, a mean over the batch);
5. ``postransf_feats_spec``: more shared per-point layers;
6. global max pooling over the points, repeated for every point and concatenated with the
   per-point features of steps 4 and 5;
7. ``final_shared_mlps``: shared per-point layers (none by default), then a shared
   ``num_pwise_feats`` layer and a last Dense layer giving ``num_classes`` LOGITS.

The model emits logits, not probabilities: train it with a loss built with ``from_logits=True``
and apply a softmax over the last axis to its predictions
(``keras.ops.softmax(model.predict(...), axis=-1)``).

Both T-Nets are left out when ``tnet_pre_filters_spec`` and ``tnet_post_filters_spec`` are both
empty. Inputs are ``[coordinates (B, P, 3), features (B, P, F)]``; ``F`` may be 0.

Example:
    >>> model = build_pointnet_pwise_classifier(num_points=64, num_features=2, num_classes=4)
    >>> [tuple(t.shape) for t in model.inputs], tuple(model.output.shape)
    ([(None, 64, 3), (None, 64, 2)], (None, 64, 4))
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from vl3d_focal.errors import SpecError, SpecIssue
from vl3d_focal.models.initializers import SeededInitializers
from vl3d_focal.models.pointnet_schema import (
    DEFAULT_FINAL_SHARED_MLPS,
    DEFAULT_KERNEL_INITIALIZER,
    DEFAULT_NUM_PWISE_FEATS,
    DEFAULT_POSTRANSF_FEATS_SPEC,
    DEFAULT_PRETRANSF_FEATS_SPEC,
    DEFAULT_TNET_POST_FILTERS_SPEC,
    DEFAULT_TNET_PRE_FILTERS_SPEC,
    pointnet_args_issues,
)
from vl3d_focal.models.tnet import FlatIdentity, OrthogonalityPenalty

logger = logging.getLogger(__name__)


def _positive_int(value: Any, path: str, issues: list[SpecIssue]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        issues.append(SpecIssue(path, f"expected a positive integer, got {value!r}"))


def _check_args(
    *,
    num_points: Any,
    num_features: Any,
    num_classes: Any,
    num_pwise_feats: Any,
    feats_specs: Mapping[str, Any],
    tnet_specs: Mapping[str, Any],
) -> None:
    issues: list[SpecIssue] = []
    _positive_int(num_points, "model_args.pre_processing.num_points", issues)
    _positive_int(num_classes, "model_args.num_classes", issues)
    _positive_int(num_pwise_feats, "model_args.num_pwise_feats", issues)
    if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 0:
        issues.append(SpecIssue("fnames", f"expected a feature count >= 0, got {num_features!r}"))
    for arg, spec in feats_specs.items():
        if not isinstance(spec, Sequence) or isinstance(spec, (str, bytes)):
            issues.append(SpecIssue(f"model_args.{arg}", f"expected a list of layers, got {spec!r}"))
            continue
        for i, layer in enumerate(spec):
            if not isinstance(layer, Mapping) or "filters" not in layer:
                issues.append(SpecIssue(f"model_args.{arg}[{i}]", f"expected {{'filters': int}}, got {layer!r}"))
            else:
                _positive_int(layer["filters"], f"model_args.{arg}[{i}].filters", issues)
    for arg, spec in tnet_specs.items():
        if not isinstance(spec, Sequence) or isinstance(spec, (str, bytes)):
            issues.append(SpecIssue(f"model_args.{arg}", f"expected a list of integers, got {spec!r}"))
            continue
        for i, filters in enumerate(spec):
            _positive_int(filters, f"model_args.{arg}[{i}]", issues)
    issues += [SpecIssue(".".join(map(str, path)), message) for path, message in pointnet_args_issues(feats_specs)]
    if issues:
        raise SpecError(issues)


def _shared_layer(x: Any, filters: int, name: str, inits: SeededInitializers, synchronized: bool) -> Any:
    """A shared per-point layer: Dense on the last axis (a kernel-1 convolution), BN, ReLU."""
    x = keras.layers.Dense(filters, use_bias=False, kernel_initializer=inits.next(), name=name)(x)
    x = keras.layers.BatchNormalization(synchronized=synchronized, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _tnet(
    x: Any,
    *,
    k: int,
    pre: Sequence[int],
    post: Sequence[int],
    name: str,
    inits: SeededInitializers,
    regularize: bool,
    synchronized: bool,
) -> Any:
    """A T-Net predicting a k x k transform from ``x`` (B, P, d), applied to ``x`` when d == k."""
    h = x
    for i, filters in enumerate(pre):
        h = _shared_layer(h, int(filters), f"{name}_pre{i + 1}", inits, synchronized)
    h = keras.layers.GlobalMaxPooling1D(name=f"{name}_maxpool")(h)
    for i, filters in enumerate(post):
        layer = f"{name}_post{i + 1}"
        h = keras.layers.Dense(int(filters), use_bias=False, kernel_initializer=inits.next(), name=layer)(h)
        h = keras.layers.BatchNormalization(synchronized=synchronized, name=f"{name}_post{i + 1}_bn")(h)
        h = keras.layers.ReLU(name=f"{name}_post{i + 1}_relu")(h)
    flat = keras.layers.Dense(
        k * k, kernel_initializer="zeros", bias_initializer=FlatIdentity(), name=f"{name}_matrix"
    )(h)
    if regularize:
        flat = OrthogonalityPenalty(k=k, name=f"{name}_orthogonality")(flat)
    matrix = keras.layers.Reshape((k, k), name=f"{name}_reshape")(flat)
    return keras.layers.Dot(axes=(2, 1), name=f"{name}_apply")([x, matrix])


def build_pointnet_pwise_classifier(
    *,
    num_points: int,
    num_features: int,
    num_classes: int,
    num_pwise_feats: int = DEFAULT_NUM_PWISE_FEATS,
    pretransf_feats_spec: Sequence[Mapping[str, Any]] = DEFAULT_PRETRANSF_FEATS_SPEC,
    postransf_feats_spec: Sequence[Mapping[str, Any]] = DEFAULT_POSTRANSF_FEATS_SPEC,
    tnet_pre_filters_spec: Sequence[int] = DEFAULT_TNET_PRE_FILTERS_SPEC,
    tnet_post_filters_spec: Sequence[int] = DEFAULT_TNET_POST_FILTERS_SPEC,
    final_shared_mlps: Sequence[int] = DEFAULT_FINAL_SHARED_MLPS,
    kernel_initializer: str = DEFAULT_KERNEL_INITIALIZER,
    random_seed: int | None = None,
    synchronized_batch_norm: bool = False,
) -> keras.Model:
    """PointNet point-wise classifier emitting per-point logits (apply softmax to predict).

    Args:
        num_points: points per receptive field (P).
        num_features: point features besides the coordinates (F, may be 0).
        num_classes: number of classes (C), the width of the logits.
        num_pwise_feats: width of the shared layer before the logits.
        pretransf_feats_spec: shared per-point layers before the feature transform, as
            ``[{"filters": int, "name": str (optional)}, ...]``.
        postransf_feats_spec: shared per-point layers after it, same format.
        tnet_pre_filters_spec: widths of the T-Nets' per-point layers.
        tnet_post_filters_spec: widths of the T-Nets' dense layers after pooling; both T-Net
            specs empty means no T-Net.
        final_shared_mlps: widths of shared per-point layers between the concatenation and
            the ``num_pwise_feats`` layer (named ``final_mlp<i>``).
        kernel_initializer: Keras initializer name for every kernel.
        random_seed: seeds every kernel initializer (same seed, same initial weights);
            ``None`` draws them at random.
        synchronized_batch_norm: batch normalisation statistics of the global batch, summed
            over the replicas of a ``tf.distribute`` strategy (the train step sets it when it
            trains on several replicas); False: each replica's own statistics.

    Returns:
        An uncompiled ``keras.Model`` with inputs ``coordinates`` (B, P, 3) and ``features``
        (B, P, F) and output ``logits`` (B, P, C).

    Raises:
        SpecError: an argument is out of range or the initializer is unknown.

    Example:
        >>> model = build_pointnet_pwise_classifier(
        ...     num_points=32, num_features=0, num_classes=3,
        ...     tnet_pre_filters_spec=[], tnet_post_filters_spec=[], random_seed=1)
        >>> tuple(model.output.shape)
        (None, 32, 3)
    """
    feats_specs = {"pretransf_feats_spec": pretransf_feats_spec, "postransf_feats_spec": postransf_feats_spec}
    tnet_specs = {
        "tnet_pre_filters_spec": tnet_pre_filters_spec,
        "tnet_post_filters_spec": tnet_post_filters_spec,
        "final_shared_mlps": final_shared_mlps,
    }
    _check_args(
        num_points=num_points,
        num_features=num_features,
        num_classes=num_classes,
        num_pwise_feats=num_pwise_feats,
        feats_specs=feats_specs,
        tnet_specs=tnet_specs,
    )
    inits = SeededInitializers(kernel_initializer, random_seed=random_seed)
    use_tnet = bool(tnet_pre_filters_spec) or bool(tnet_post_filters_spec)
    sync = bool(synchronized_batch_norm)
    tnet = functools.partial(
        _tnet, pre=list(tnet_pre_filters_spec), post=list(tnet_post_filters_spec), inits=inits, synchronized=sync
    )

    coordinates = keras.Input((num_points, 3), name="coordinates")
    features = keras.Input((num_points, num_features), name="features")
    xyz = tnet(coordinates, k=3, name="input_tnet", regularize=False) if use_tnet else coordinates
    x = keras.layers.Concatenate(name="point_inputs")([xyz, features])  # F = 0 adds nothing

    for i, layer in enumerate(pretransf_feats_spec):
        x = _shared_layer(x, int(layer["filters"]), layer.get("name") or f"pretransf{i + 1}", inits, sync)
    if use_tnet:
        k = int(pretransf_feats_spec[-1]["filters"])
        x = tnet(x, k=k, name="feature_tnet", regularize=True)
    local = x
    for i, layer in enumerate(postransf_feats_spec):
        x = _shared_layer(x, int(layer["filters"]), layer.get("name") or f"postransf{i + 1}", inits, sync)

    pooled = keras.layers.GlobalMaxPooling1D(name="global_maxpool")(x)
    tiled = keras.layers.RepeatVector(num_points, name="global_feature")(pooled)
    x = keras.layers.Concatenate(name="pwise_concat")([local, x, tiled])
    for i, filters in enumerate(final_shared_mlps):
        x = _shared_layer(x, int(filters), f"final_mlp{i + 1}", inits, sync)
    x = _shared_layer(x, int(num_pwise_feats), "pwise_feats", inits, sync)
    logits = keras.layers.Dense(num_classes, kernel_initializer=inits.next(), name="logits")(x)

    model = keras.Model(inputs=[coordinates, features], outputs=logits, name="PointNetPwiseClassifier")
    logger.info(
        "built PointNetPwiseClassifier: %d points, %d features, %d classes, T-Net %s, %d parameters",
        num_points,
        num_features,
        num_classes,
        "on" if use_tnet else "off",
        model.count_params(),
    )
    return model
