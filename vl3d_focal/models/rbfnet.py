"""RBFNet point-wise classifier (VL3D's ``RBFNetPwiseClassifier``) as a Keras functional model.

The network, for receptive fields of ``num_points`` points (RBFNet, Chen et al. 2019, as VL3D
builds it for point-wise classification):

1. optional input T-Net on the coordinates (this project's PointNet T-Net, identity start);
2. one :class:`~vl3d_focal.models.rbf_layers.RBFFeatureExtraction` per ``rbfs`` entry on the
   transformed coordinates (K_i features each), each optionally batch-normalised and activated;
3. their concatenation through the ``enhanced_dim`` shared layers (Dense, BN, ReLU);
4. global max pooling of those, repeated for every point;
5. with point features (F > 0): optionally a feature T-Net (``transform_input_features``),
   its output concatenated as a skip link (``skip_link_features``) and, with
   ``feature_processing``, an :class:`~vl3d_focal.models.rbf_layers.RBFFeatureProcessing` of
   it (optionally through one shared layer of F x num_kernels widths, ``enhance``);
6. the RBF features of step 2, the enhanced ones (``include_prepooling_features``), the global
   ones (``include_global_features``) and those of step 5 concatenated, through the
   ``after_features_dim`` shared layers, then a Dense layer giving ``num_classes`` LOGITS.

Like the PointNet, it emits logits (the loss is built with ``from_logits=True``); both T-Nets
are left out when both T-Net specs are empty. Inputs are ``[coordinates (B, P, 3), features
(B, P, F)]``.

Example:
    >>> model = build_rbfnet_pwise_classifier(num_points=32, num_features=2, num_classes=3,
    ...     rbfs=[{"max_radii": [1, 1, 1], "angular_resolutions": [1, 2]}], enhanced_dim=[8],
    ...     after_features_dim=[8], tnet_pre_filters_spec=[], tnet_post_filters_spec=[], random_seed=1)
    >>> tuple(model.output.shape)
    (None, 32, 3)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from vl3d_focal.errors import SpecError, SpecIssue
from vl3d_focal.models.initializers import SeededInitializers, keras_named
from vl3d_focal.models.pointnet import _shared_layer, _tnet
from vl3d_focal.models.pointnet_schema import DEFAULT_TNET_POST_FILTERS_SPEC, DEFAULT_TNET_PRE_FILTERS_SPEC
from vl3d_focal.models.rbf_layers import RBFFeatureExtraction, RBFFeatureProcessing
from vl3d_focal.models.rbfnet_schema import (
    DEFAULT_AFTER_FEATURES_DIM,
    DEFAULT_ENHANCED_DIM,
    DEFAULT_INITIALIZER,
    rbfnet_args_issues,
    rbfnet_features_issues,
)

logger = logging.getLogger(__name__)


def _check(*, num_points: int, num_features: int, num_classes: int, model_args: Mapping[str, Any]) -> None:
    issues = [SpecIssue(".".join(map(str, path)), message) for path, message in rbfnet_args_issues(model_args)]
    for path, value, least in (
        ("model_args.pre_processing.num_points", num_points, 1),
        ("model_args.num_classes", num_classes, 1),
        ("fnames", num_features, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            issues.append(SpecIssue(path, f"expected an integer >= {least}, got {value!r}"))
    if isinstance(num_features, (int, np.integer)) and num_features >= 0:
        found = rbfnet_features_issues(model_args, num_features=int(num_features))
        issues += [SpecIssue(".".join(map(str, path)), message) for path, message in found]
    if issues:
        raise SpecError(issues)


def _seed(random_seed: int | None, offset: int) -> int | None:
    return None if random_seed is None else (int(random_seed) * 1000 + offset) % (2**31 - 1)


def _rbf_features(x: Any, rbfs: Sequence[Mapping[str, Any]], *, seed: int | None, synchronized: bool) -> list[Any]:
    outputs = []
    for i, rbf in enumerate(rbfs):
        y = RBFFeatureExtraction(
            max_radii=rbf["max_radii"],
            angular_resolutions=rbf["angular_resolutions"],
            structure=rbf.get("structure_initialization_type", "concentric_ellipsoids"),
            kernel_function=rbf.get("kernel_function_type", "Gaussian"),
            trainable_structure=rbf.get("trainable_kernel_structure", True),
            trainable_sizes=rbf.get("trainable_kernel_sizes", True),
            seed=_seed(seed, 500 + i),
            name=f"rbf{i + 1}",
        )(x)
        if rbf.get("batch_normalization", False):
            y = keras.layers.BatchNormalization(synchronized=synchronized, name=f"rbf{i + 1}_bn")(y)
        if rbf.get("activation") is not None:
            activation = keras_named("activation", rbf["activation"], path=f"model_args.rbfs[{i}].activation")
            y = keras.layers.Activation(activation, name=f"rbf{i + 1}_activation")(y)
        outputs.append(y)
    return outputs


def _processed_features(
    f: Any, processing: Mapping[str, Any], *, num_features: int, seed: int | None, inits: SeededInitializers, sync: bool
) -> Any:
    rng = np.random.default_rng(seed)  # VL3D's draws when means or stdevs are not given
    a, b = float(processing.get("a", 0.01)), float(processing.get("b", 1.0))
    means = processing.get("means")
    stdevs = processing.get("stdevs")
    y = RBFFeatureProcessing(
        num_kernels=int(processing["num_kernels"]),
        means=rng.uniform(-a, a, num_features).tolist() if means is None else means,
        stdevs=rng.uniform(a, b, num_features).tolist() if stdevs is None else stdevs,
        a=a,
        b=b,
        kernel_function=processing.get("kernel_function_type", "Gaussian"),
        trainable_centres=processing.get("trainable_M", True),
        trainable_sizes=processing.get("trainable_Omega", True),
        seed=seed,
        name="feature_processing",
    )(f)
    if not processing.get("enhance", False):
        return y
    width = int(processing["num_kernels"]) * num_features
    if processing.get("batch_normalization", True):
        return _shared_layer(y, width, "feature_processing_enhancement", inits, sync)
    y = keras.layers.Dense(width, kernel_initializer=inits.next(), name="feature_processing_enhancement")(y)
    return keras.layers.ReLU(name="feature_processing_enhancement_relu")(y)


def build_rbfnet_pwise_classifier(
    *,
    num_points: int,
    num_features: int,
    num_classes: int,
    rbfs: Sequence[Mapping[str, Any]],
    fnames: Sequence[str] | None = None,
    feature_processing: Mapping[str, Any] | None = None,
    tnet_pre_filters_spec: Sequence[int] = DEFAULT_TNET_PRE_FILTERS_SPEC,
    tnet_post_filters_spec: Sequence[int] = DEFAULT_TNET_POST_FILTERS_SPEC,
    tnet_kernel_initializer: str = DEFAULT_INITIALIZER,
    enhanced_dim: Sequence[int] | None = DEFAULT_ENHANCED_DIM,
    enhancement_kernel_initializer: str = DEFAULT_INITIALIZER,
    after_features_type: str = "MLP",
    after_features_dim: Sequence[int] = DEFAULT_AFTER_FEATURES_DIM,
    after_features_kernel_initializer: str = DEFAULT_INITIALIZER,
    output_kernel_initializer: str = DEFAULT_INITIALIZER,
    include_prepooling_features: bool = True,
    include_global_features: bool = True,
    skip_link_features: bool = True,
    transform_input_features: bool = True,
    random_seed: int | None = None,
    synchronized_batch_norm: bool = False,
) -> keras.Model:
    """RBFNet point-wise classifier emitting per-point logits (see the module docstring).

    Args:
        num_points: points per receptive field (P).
        num_features: point features besides the coordinates (F, may be 0).
        num_classes: number of classes (C), the width of the logits.
        rbfs: the RBF feature extraction layers (``model_args.rbfs`` entries).
        fnames: VL3D's feature names in ``model_args``; validation makes them the train step's
            ``fnames`` when it has none, and the step's features are ``num_features`` here.
        feature_processing: the RBF feature processing of the point features, or None.
        tnet_pre_filters_spec: widths of the T-Nets' per-point layers.
        tnet_post_filters_spec: widths of their dense layers; both empty: no T-Net.
        tnet_kernel_initializer: Keras initializer of the T-Nets' kernels.
        enhanced_dim: widths of the shared layers after the RBF features (None: none).
        enhancement_kernel_initializer: initializer of those layers (and of the feature
            processing's enhancement).
        after_features_type: ``"MLP"`` or ``"Conv1D"``: the same per-point shared layers.
        after_features_dim: widths of the shared layers before the logits.
        after_features_kernel_initializer: initializer of those layers.
        output_kernel_initializer: initializer of the logits layer.
        include_prepooling_features: concatenate the enhanced RBF features.
        include_global_features: concatenate the global feature.
        skip_link_features: concatenate the (transformed) point features.
        transform_input_features: a feature T-Net transforms the point features.
        random_seed: seeds every initializer; ``None`` draws them at random.
        synchronized_batch_norm: batch-norm statistics of the global batch (several replicas).

    Raises:
        SpecError: an argument is out of range, or an initializer or activation is unknown.
    """
    del fnames, after_features_type  # the step's features; MLP and Conv1D are the same layers here
    args = {
        "rbfs": rbfs,
        "feature_processing": feature_processing,
        "tnet_kernel_initializer": tnet_kernel_initializer,
        "enhancement_kernel_initializer": enhancement_kernel_initializer,
        "after_features_kernel_initializer": after_features_kernel_initializer,
        "output_kernel_initializer": output_kernel_initializer,
    }
    _check(num_points=num_points, num_features=num_features, num_classes=num_classes, model_args=args)
    sync = bool(synchronized_batch_norm)
    use_tnet = bool(tnet_pre_filters_spec) or bool(tnet_post_filters_spec)

    def inits(name: str, group: int) -> SeededInitializers:
        return SeededInitializers(name, random_seed=_seed(random_seed, 100 * group), path=f"model_args.{name}")

    tnet_inits = inits(tnet_kernel_initializer, 1)
    enhancement_inits = inits(enhancement_kernel_initializer, 2)
    after_inits = inits(after_features_kernel_initializer, 3)

    def tnet(x: Any, k: int, name: str, regularize: bool) -> Any:
        return _tnet(
            x,
            k=k,
            pre=list(tnet_pre_filters_spec),
            post=list(tnet_post_filters_spec),
            name=name,
            inits=tnet_inits,
            regularize=regularize,
            synchronized=sync,
        )

    coordinates = keras.Input((num_points, 3), name="coordinates")
    features = keras.Input((num_points, num_features), name="features")
    xyz = tnet(coordinates, 3, "input_tnet", False) if use_tnet else coordinates
    rbf_outputs = _rbf_features(xyz, rbfs, seed=random_seed, synchronized=sync)
    x = rbf_outputs[0] if len(rbf_outputs) == 1 else keras.layers.Concatenate(name="rbf_concat")(rbf_outputs)
    for i, width in enumerate(enhanced_dim or ()):
        x = _shared_layer(x, int(width), f"enhancement{i + 1}", enhancement_inits, sync)
    gathered = [x] if include_prepooling_features else []
    if include_global_features:
        pooled = keras.layers.GlobalMaxPooling1D(name="global_maxpool")(x)
        gathered.append(keras.layers.RepeatVector(num_points, name="global_feature")(pooled))
    if num_features > 0:
        f = tnet(features, num_features, "feature_tnet", True) if use_tnet and transform_input_features else features
        if skip_link_features:
            gathered.append(f)
        if feature_processing is not None:
            gathered.append(
                _processed_features(
                    f,
                    feature_processing,
                    num_features=num_features,
                    seed=_seed(random_seed, 900),
                    inits=enhancement_inits,
                    sync=sync,
                )
            )
    x = keras.layers.Concatenate(name="full_features")([*rbf_outputs, *gathered])
    for i, width in enumerate(after_features_dim):
        x = _shared_layer(x, int(width), f"after_features{i + 1}", after_inits, sync)
    output_init = inits(output_kernel_initializer, 4).next()
    logits = keras.layers.Dense(num_classes, kernel_initializer=output_init, name="logits")(x)
    model = keras.Model(inputs=[coordinates, features], outputs=logits, name="RBFNetPwiseClassifier")
    logger.info(
        "built RBFNetPwiseClassifier: %d points, %d features, %d classes, %d RBFs (%s kernel points), %d parameters",
        num_points,
        num_features,
        num_classes,
        len(rbfs),
        "+".join(str(y.shape[-1]) for y in rbf_outputs),
        model.count_params(),
    )
    return model
