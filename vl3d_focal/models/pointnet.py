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

With ``fnames`` (VL3D's two-branch form, :mod:`vl3d_focal.models.pointnet_branches`), steps 1-6
run twice: on the coordinates (X branch: ``*_spec``, ``kernel_initializer``) and on the point
features (F branch: its input T-Net is F x F; ``*_F_spec``, ``kernel_initializer_F``), and the
``skip_link_features_X|F`` and ``include_*_feats_X|F`` flags choose what is concatenated before
step 7. A ``features_structuring_layer`` adds VL3D's features structuring layer on the input
coordinates after the ``num_pwise_feats`` layer (:mod:`vl3d_focal.models.features_structuring`).

The T-Nets (of a branch) are left out when its ``tnet_pre_filters_spec`` and ``tnet_post_filters_spec`` are
both empty. Inputs are ``[coordinates (B, P, 3), features (B, P, F)]``; ``F`` may be 0.

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
from vl3d_focal.models.features_structuring import features_structuring_block
from vl3d_focal.models.initializers import SeededInitializers
from vl3d_focal.models.pointnet_blocks import _shared_layer, _tnet
from vl3d_focal.models.pointnet_branches import F_SEED_OFFSET, two_branches
from vl3d_focal.models.pointnet_schema import (
    BRANCH_FLAG_DEFAULTS,
    DEFAULT_FINAL_SHARED_MLPS,
    DEFAULT_KERNEL_INITIALIZER,
    DEFAULT_KERNEL_INITIALIZER_F,
    DEFAULT_NUM_PWISE_FEATS,
    DEFAULT_POSTRANSF_FEATS_SPEC,
    DEFAULT_PRETRANSF_FEATS_SPEC,
    DEFAULT_TNET_POST_FILTERS_SPEC,
    DEFAULT_TNET_PRE_FILTERS_SPEC,
    F_BRANCH_ARGS,
    VL3D_BRANCH_FLAGS,
    pointnet_args_issues,
)

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
    model_args: Mapping[str, Any],
) -> None:
    issues: list[SpecIssue] = []
    fnames = model_args.get("fnames")
    if fnames is not None and isinstance(num_features, int) and len(fnames) != num_features:
        issues.append(
            SpecIssue(
                "model_args.fnames",
                f"expected the train step's {num_features} features (its fnames, in the same order), got "
                f"{len(fnames)} names; give the step these fnames",
            )
        )
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
    issues += [SpecIssue(".".join(map(str, path)), message) for path, message in pointnet_args_issues(model_args)]
    if issues:
        raise SpecError(issues)


def _one_branch(
    coordinates: Any, features: Any, *, layers: Mapping[str, Any], inits: SeededInitializers, synchronized: bool
) -> tuple[Any, bool]:
    """This project's one-branch PointNet (no ``fnames``): steps 1-6 of the module docstring.
    Returns the concatenated per-point features and whether the T-Nets are on."""
    use_tnet = bool(layers["tnet_pre"]) or bool(layers["tnet_post"])
    tnet = functools.partial(
        _tnet, pre=list(layers["tnet_pre"]), post=list(layers["tnet_post"]), inits=inits, synchronized=synchronized
    )
    xyz = tnet(coordinates, k=3, name="input_tnet", regularize=False) if use_tnet else coordinates
    x = keras.layers.Concatenate(name="point_inputs")([xyz, features])  # F = 0 adds nothing
    for i, layer in enumerate(layers["pre"]):
        x = _shared_layer(x, int(layer["filters"]), layer.get("name") or f"pretransf{i + 1}", inits, synchronized)
    if use_tnet:
        x = tnet(x, k=int(layers["pre"][-1]["filters"]), name="feature_tnet", regularize=True)
    local = x
    for i, layer in enumerate(layers["post"]):
        x = _shared_layer(x, int(layer["filters"]), layer.get("name") or f"postransf{i + 1}", inits, synchronized)
    pooled = keras.layers.GlobalMaxPooling1D(name="global_maxpool")(x)
    tiled = keras.layers.RepeatVector(int(x.shape[1]), name="global_feature")(pooled)
    return keras.layers.Concatenate(name="pwise_concat")([local, x, tiled]), use_tnet


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
    fnames: Sequence[str] | None = None,
    pretransf_feats_F_spec: Sequence[Mapping[str, Any]] | None = None,
    postransf_feats_F_spec: Sequence[Mapping[str, Any]] | None = None,
    tnet_pre_filters_F_spec: Sequence[int] | None = None,
    tnet_post_filters_F_spec: Sequence[int] | None = None,
    kernel_initializer_F: str = DEFAULT_KERNEL_INITIALIZER_F,
    skip_link_features_X: bool = BRANCH_FLAG_DEFAULTS["skip_link_features"],
    include_pretransf_feats_X: bool = BRANCH_FLAG_DEFAULTS["include_pretransf_feats"],
    include_transf_feats_X: bool = BRANCH_FLAG_DEFAULTS["include_transf_feats"],
    include_postransf_feats_X: bool = BRANCH_FLAG_DEFAULTS["include_postransf_feats"],
    include_global_feats_X: bool = BRANCH_FLAG_DEFAULTS["include_global_feats"],
    skip_link_features_F: bool = BRANCH_FLAG_DEFAULTS["skip_link_features"],
    include_pretransf_feats_F: bool = BRANCH_FLAG_DEFAULTS["include_pretransf_feats"],
    include_transf_feats_F: bool = BRANCH_FLAG_DEFAULTS["include_transf_feats"],
    include_postransf_feats_F: bool = BRANCH_FLAG_DEFAULTS["include_postransf_feats"],
    include_global_feats_F: bool = BRANCH_FLAG_DEFAULTS["include_global_feats"],
    features_structuring_layer: Mapping[str, Any] | None = None,
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
        kernel_initializer: Keras initializer name for every kernel (of the X branch and the
            final layers with ``fnames``).
        fnames: VL3D's two-branch form: the names of the ``F`` features (the train step's, in
            order); they go through a feature branch of their own (input T-Net on the F
            features, pretransf layers, feature T-Net, postransf layers) separate from the
            coordinates' branch, and the branches' tensors the flags select are concatenated.
            None: one branch (coordinates after their T-Net, concatenated with the features).
        pretransf_feats_F_spec, postransf_feats_F_spec, tnet_pre_filters_F_spec,
            tnet_post_filters_F_spec: the feature branch's layers; None: the coordinate
            branch's (VL3D's fallback). Without ``fnames`` they have no effect.
        kernel_initializer_F: Keras initializer of the feature branch's kernels.
        skip_link_features_X, include_pretransf_feats_X, include_transf_feats_X,
            include_postransf_feats_X, include_global_feats_X, and their ``_F`` twins: with
            ``fnames``, what each branch contributes to the concatenation: its input after the
            input T-Net, every pretransf output, the feature T-Net's output, every postransf
            output but the last, the global max-pooled feature. Without ``fnames``: no effect.
        features_structuring_layer: VL3D's features structuring layer (a
            ``model_args.features_structuring_layer`` mapping) after the ``num_pwise_feats``
            layer, on the input coordinates (:mod:`vl3d_focal.models.features_structuring`);
            None: none.
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
    f_layers = {
        "pre": pretransf_feats_spec if pretransf_feats_F_spec is None else pretransf_feats_F_spec,
        "post": postransf_feats_spec if postransf_feats_F_spec is None else postransf_feats_F_spec,
        "tnet_pre": tnet_pre_filters_spec if tnet_pre_filters_F_spec is None else tnet_pre_filters_F_spec,
        "tnet_post": tnet_post_filters_spec if tnet_post_filters_F_spec is None else tnet_post_filters_F_spec,
    }
    flag_values = (
        (skip_link_features_X, include_pretransf_feats_X, include_transf_feats_X, include_postransf_feats_X)
        + (include_global_feats_X, skip_link_features_F, include_pretransf_feats_F, include_transf_feats_F)
        + (include_postransf_feats_F, include_global_feats_F)
    )
    flags = dict(zip(VL3D_BRANCH_FLAGS, map(bool, flag_values), strict=True))  # VL3D_BRANCH_FLAGS' order
    f_values = (pretransf_feats_F_spec, postransf_feats_F_spec, tnet_pre_filters_F_spec, tnet_post_filters_F_spec)
    optional = {arg: value for arg, value in zip(F_BRANCH_ARGS, (*f_values, kernel_initializer_F), strict=True)}
    optional = {arg: value for arg, value in optional.items() if value is not None}
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
        feats_specs={**feats_specs, **{k: v for k, v in optional.items() if k.endswith("feats_F_spec")}},
        tnet_specs={**tnet_specs, **{k: v for k, v in optional.items() if k.startswith("tnet_")}},
        model_args={
            **feats_specs,
            **optional,
            **flags,
            "fnames": fnames,
            "features_structuring_layer": features_structuring_layer,
        },
    )
    inits = SeededInitializers(kernel_initializer, random_seed=random_seed)
    sync = bool(synchronized_batch_norm)
    coordinates = keras.Input((num_points, 3), name="coordinates")
    features = keras.Input((num_points, num_features), name="features")
    x_layers: dict[str, Any] = {
        "pre": pretransf_feats_spec,
        "post": postransf_feats_spec,
        "tnet_pre": tnet_pre_filters_spec,
        "tnet_post": tnet_post_filters_spec,
    }
    if fnames is None:
        x, use_tnet = _one_branch(coordinates, features, layers=x_layers, inits=inits, synchronized=sync)
    else:
        inits_f = SeededInitializers(
            kernel_initializer_F,
            random_seed=None if random_seed is None else int(random_seed) + F_SEED_OFFSET,
            path="model_args.kernel_initializer_F",
        )
        x = two_branches(
            coordinates=coordinates,
            features=features,
            x_layers=x_layers,
            f_layers=f_layers,
            flags=flags,
            inits=inits,
            inits_f=inits_f,
            synchronized=sync,
        )
        use_tnet = bool(tnet_pre_filters_spec) or bool(tnet_post_filters_spec)
    for i, filters in enumerate(final_shared_mlps):
        x = _shared_layer(x, int(filters), f"final_mlp{i + 1}", inits, sync)
    x = _shared_layer(x, int(num_pwise_feats), "pwise_feats", inits, sync)
    if features_structuring_layer is not None:
        x = features_structuring_block(
            x,
            coordinates=coordinates,
            spec=features_structuring_layer,
            num_pwise_feats=int(num_pwise_feats),
            seed=inits.next("glorot_uniform").get_config()["seed"],
            synchronized=sync,
        )
    logits = keras.layers.Dense(num_classes, kernel_initializer=inits.next(), name="logits")(x)

    model = keras.Model(inputs=[coordinates, features], outputs=logits, name="PointNetPwiseClassifier")
    logger.info(
        "built PointNetPwiseClassifier: %d points, %d features, %d classes, T-Net %s, %s%s, %d parameters",
        num_points,
        num_features,
        num_classes,
        "on" if use_tnet else "off",
        "one branch" if fnames is None else "coordinate and feature branches",
        "" if features_structuring_layer is None else ", features structuring layer",
        model.count_params(),
    )
    return model
