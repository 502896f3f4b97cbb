"""VL3D's ``ConvolutionalAutoencoderPwiseClassifier``: a hierarchical autoencoder with KPConv
(Thomas et al. 2019) or PointNet++-style feature extraction, as a Keras functional model.

For hierarchical fields of depths ``0..D-1`` (:mod:`vl3d_focal.data.hierarchical_fields`):

1. encoder, depth 0: a constant-1 feature is put before the point features, then
   ``operations_per_depth[0]`` feature extraction operations over the ``num_pwise_neighbors[0]``
   neighbours (KPConv, batch norm, ReLU; or PointNet ``gamma(max_j H(y_j - x, f_j))``);
2. encoder, depth ``d >= 1``: downsampling from depth ``d - 1`` over the
   ``num_downsampling_neighbors[d]`` neighbours (a strided KPConv with the kernel and width of
   the previous operation, or the ``mean`` / ``gaussian`` pooling), then
   ``operations_per_depth[d]`` operations;
3. decoder, ``d = D-1..1``: upsampling to depth ``d - 1`` over the
   ``num_upsampling_neighbors[d]`` neighbours (``mean`` / ``gaussian``), concatenated with the
   encoder's features of depth ``d - 1`` (skip connection), then a shared layer of their width
   (Dense on the last axis, batch norm per ``upsampling_bn``, ReLU);
4. a last Dense layer: per-point LOGITS of the depth-0 points (no softmax; the loss is built
   with ``from_logits=True``, as for PointNet; the builder knows no loss).

Inputs, in order: ``coordinates`` (B, P_0, 3) float32, ``features`` (B, P_0, F) float32 (F may
be 0), then the int32 index arrays named and shaped as
:meth:`~vl3d_focal.data.hierarchical_fields.HierarchySpec.index_shapes` lists them;
:func:`~vl3d_focal.data.hierarchical_fields.hierarchical_model_inputs` builds that list for a
batch of fields. Output: ``logits`` (B, P_0, C).

Example:
    >>> model = build_conv_autoencoder_pwise_classifier(num_points=16, num_features=1, num_classes=3,
    ...     pre_processing=TINY_PRE_PROCESSING, feature_extraction=TINY_FEATURE_EXTRACTION, random_seed=0)
    >>> [t.name for t in model.inputs][:4], tuple(model.output.shape)
    (['coordinates', 'features', 'pwise_neighbors_0', 'subsample_1'], (None, 16, 3))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import keras

from vl3d_focal.data.hierarchy_spec import HierarchySpec
from vl3d_focal.errors import SpecError, SpecIssue
from vl3d_focal.models.autoencoder_operations import dotted_path, expand_operations, filter_issues
from vl3d_focal.models.autoencoder_schema import DOWNSAMPLING_FILTERS, UPSAMPLING_FILTERS
from vl3d_focal.models.initializers import SeededInitializers, keras_named
from vl3d_focal.models.kpconv import KPConv
from vl3d_focal.models.neighborhoods import AppendOnes, GatherPoints, GroupNeighbors, NeighborPooling

logger = logging.getLogger(__name__)

TINY_PRE_PROCESSING: dict[str, Any] = {
    "pre_processor": "hierarchical_fps",
    "neighborhood": {"type": "sphere", "radius": 1.0},
    "num_points_per_depth": [16, 8, 4],
    "num_pwise_neighbors": [4, 4, 2],
    "num_downsampling_neighbors": [1, 4, 2],
    "num_upsampling_neighbors": [1, 2, 2],
}
"""A three-depth hierarchy of 16, 8 and 4 points, for examples and tests."""

TINY_FEATURE_EXTRACTION: dict[str, Any] = {
    "type": "KPConv",
    "operations_per_depth": [1, 1, 1],
    "feature_space_dims": [8, 8, 16],
    "num_kernel_points": [5, 5, 5],
    "kernel_radius": [0.5, 0.5, 1.0],
    "sigma": [0.5, 0.5, 1.0],
}
"""Small KPConv operations matching :data:`TINY_PRE_PROCESSING`, for examples and tests."""

_FE = "model_args.feature_extraction"


def _check_args(
    *,
    num_points: Any,
    num_features: Any,
    num_classes: Any,
    hierarchy: HierarchySpec,
    downsampling_filter: Any,
    upsampling_filter: Any,
    kind: str,
    alignments: Mapping[str, Any],
) -> None:
    issues = []
    if num_points != hierarchy.num_points_per_depth[0]:
        issues.append(
            SpecIssue(
                "model_args.pre_processing.num_points_per_depth[0]",
                f"expected the fields' {num_points!r} points, received {hierarchy.num_points_per_depth[0]}",
            )
        )
    if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 0:
        issues.append(SpecIssue("fnames", f"expected a feature count >= 0, got {num_features!r}"))
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        issues.append(SpecIssue("model_args.num_classes", f"expected a positive integer, got {num_classes!r}"))
    if downsampling_filter not in DOWNSAMPLING_FILTERS:
        issues.append(
            SpecIssue(
                "model_args.downsampling_filter",
                f"expected one of {list(DOWNSAMPLING_FILTERS)}, received {downsampling_filter!r}",
            )
        )
    issues += [
        SpecIssue(dotted_path(path), message)
        for path, message in filter_issues(downsampling_filter=downsampling_filter, kind=kind)
    ]
    if upsampling_filter not in UPSAMPLING_FILTERS:
        issues.append(
            SpecIssue(
                "model_args.upsampling_filter",
                f"expected one of {list(UPSAMPLING_FILTERS)}, received {upsampling_filter!r}",
            )
        )
    issues += [
        SpecIssue(f"model_args.{key}", f"expected null (alignment T-Nets are not implemented), received {value!r}")
        for key, value in alignments.items()
        if value is not None
    ]
    if issues:
        raise SpecError(issues)


class _Blocks:
    """Builds the model's layer blocks with seeded initializers and one batch-norm setting."""

    def __init__(self, *, inits: SeededInitializers, synchronized: bool):
        self.inits = inits
        self.synchronized = synchronized

    def norm_activate(self, x: Any, *, name: str, bn: bool, momentum: float, activation: Any) -> Any:
        if bn:
            x = keras.layers.BatchNormalization(momentum=momentum, synchronized=self.synchronized, name=f"{name}_bn")(x)
        return keras.layers.Activation(activation, name=f"{name}_act")(x) if activation is not None else x

    def kpconv(self, op: Mapping[str, Any], inputs: list[Any], *, filters: int, name: str) -> Any:
        path = f"{_FE}.%s[{op['index']}]"
        x = KPConv(
            filters=filters,
            num_kernel_points=op["num_kernel_points"],
            kernel_radius=op["kernel_radius"],
            sigma=op["sigma"],
            use_bias=not op["bn"],
            kernel_initializer=self.inits.next(op["W_initializer"], path=path % "W_initializer"),
            kernel_regularizer=keras_named("regularizer", op["W_regularizer"], path=path % "W_regularizer"),
            kernel_constraint=keras_named("constraint", op["W_constraint"], path=path % "W_constraint"),
            name=name,
        )(inputs)
        return self.norm_activate(
            x, name=name, bn=op["bn"], momentum=op["bn_momentum"], activation="relu" if op["activate"] else None
        )

    def pointnet(self, op: Mapping[str, Any], inputs: list[Any], *, name: str) -> Any:
        path = f"{_FE}.%s[{op['index']}]"
        num_points, num_neighbors = inputs[3].shape[1], inputs[3].shape[2]
        grouped = GroupNeighbors(name=f"{name}_group")(inputs)
        h = keras.layers.Dense(
            op["filters"],
            activation=keras_named("activation", op["H_activation"], path=path % "H_activation"),
            kernel_initializer=self.inits.next(op["H_initializer"], path=path % "H_initializer"),
            kernel_regularizer=keras_named("regularizer", op["H_regularizer"], path=path % "H_regularizer"),
            kernel_constraint=keras_named("constraint", op["H_constraint"], path=path % "H_constraint"),
            name=f"{name}_H",
        )(grouped)
        h = keras.layers.MaxPooling2D(pool_size=(1, num_neighbors), name=f"{name}_max")(h)
        h = keras.layers.Reshape((num_points, op["filters"]), name=f"{name}_pooled")(h)
        x = keras.layers.Dense(
            op["filters"],
            use_bias=op["gamma_bias_enabled"],
            kernel_initializer=self.inits.next(op["gamma_kernel_initializer"], path=path % "gamma_kernel_initializer"),
            bias_initializer=keras_named(
                "initializer", op["gamma_bias_initializer"], path=path % "gamma_bias_initializer"
            ),
            kernel_regularizer=keras_named(
                "regularizer", op["gamma_kernel_regularizer"], path=path % "gamma_kernel_regularizer"
            ),
            bias_regularizer=keras_named(
                "regularizer", op["gamma_bias_regularizer"], path=path % "gamma_bias_regularizer"
            ),
            kernel_constraint=keras_named(
                "constraint", op["gamma_kernel_constraint"], path=path % "gamma_kernel_constraint"
            ),
            bias_constraint=keras_named("constraint", op["gamma_bias_constraint"], path=path % "gamma_bias_constraint"),
            name=f"{name}_gamma",
        )(h)
        activation = keras_named("activation", op["gamma_activation"], path=path % "gamma_activation")
        return self.norm_activate(x, name=name, bn=op["bn"], momentum=op["bn_momentum"], activation=activation)

    def shared(self, x: Any, *, filters: int, name: str, bn: bool, momentum: float) -> Any:
        x = keras.layers.Dense(filters, use_bias=not bn, kernel_initializer=self.inits.next(), name=name)(x)
        return self.norm_activate(x, name=name, bn=bn, momentum=momentum, activation="relu")


def build_conv_autoencoder_pwise_classifier(
    *,
    num_points: int,
    num_features: int,
    num_classes: int,
    pre_processing: Mapping[str, Any] | None = None,
    feature_extraction: Mapping[str, Any] | None = None,
    downsampling_filter: str = "strided_kpconv",
    upsampling_filter: str = "mean",
    upsampling_bn: bool = True,
    upsampling_momentum: float = 0.99,
    conv1d_kernel_initializer: str = "glorot_normal",
    output_kernel_initializer: str = "glorot_normal",
    structure_alignment: None = None,
    features_alignment: None = None,
    fnames: Sequence[str] | None = None,
    random_seed: int | None = None,
    synchronized_batch_norm: bool = False,
) -> keras.Model:
    """Hierarchical autoencoder point-wise classifier emitting per-point logits (apply softmax to predict).

    Args:
        num_points: points per receptive field, ``num_points_per_depth[0]`` (P_0).
        num_features: point features besides the coordinates (F, may be 0).
        num_classes: number of classes (C), the width of the logits.
        pre_processing: VL3D's ``hierarchical_fps`` pre-processing (the depths and neighbour
            counts; see :func:`~vl3d_focal.models.autoencoder_schema.hierarchical_fps_schema`);
            None: its defaults.
        feature_extraction: VL3D's ``feature_extraction`` (KPConv or PointNet; see
            :func:`~vl3d_focal.models.autoencoder_schema.feature_extraction_schema`); None: defaults.
        downsampling_filter: ``strided_kpconv``, ``mean`` or ``gaussian``.
        upsampling_filter: ``mean`` or ``gaussian``.
        upsampling_bn: batch norm after each upsampling's shared layer.
        upsampling_momentum: its momentum (Keras').
        conv1d_kernel_initializer: initializer of the upsamplings' shared layers.
        output_kernel_initializer: initializer of the logits layer.
        structure_alignment: only None (VL3D's T-Net alignment is not implemented).
        features_alignment: only None.
        fnames: VL3D's feature names in ``model_args``; validation makes them the train step's
            ``fnames`` when it has none, and the step's features are ``num_features`` here.
        random_seed: seeds every kernel initializer; None draws them at random.
        synchronized_batch_norm: batch statistics of the global batch under ``tf.distribute``.

    Returns:
        An uncompiled ``keras.Model`` (inputs and output in the module docstring).

    Raises:
        SpecError: an argument out of range, inconsistent lists, or an unknown Keras name.

    Example:
        >>> model = build_conv_autoencoder_pwise_classifier(num_points=16, num_features=0, num_classes=2,
        ...     pre_processing=TINY_PRE_PROCESSING, feature_extraction=TINY_FEATURE_EXTRACTION,
        ...     downsampling_filter="gaussian", random_seed=1)
        >>> len(model.inputs), model.get_layer("logits").units
        (11, 2)
    """
    del fnames  # the step's features (num_features)
    hierarchy = HierarchySpec.from_config(pre_processing or {})
    operations = expand_operations(feature_extraction or {}, depth=hierarchy.depth)
    kind = operations[0]["type"]
    _check_args(
        num_points=num_points,
        num_features=num_features,
        num_classes=num_classes,
        hierarchy=hierarchy,
        downsampling_filter=downsampling_filter,
        upsampling_filter=upsampling_filter,
        kind=kind,
        alignments={"structure_alignment": structure_alignment, "features_alignment": features_alignment},
    )
    blocks = _Blocks(
        inits=SeededInitializers(
            conv1d_kernel_initializer, random_seed=random_seed, path="model_args.conv1d_kernel_initializer"
        ),
        synchronized=bool(synchronized_batch_norm),
    )

    coordinates = keras.Input((num_points, 3), name="coordinates")
    features = keras.Input((num_points, num_features), name="features")
    index = {name: keras.Input(shape, dtype="int32", name=name) for name, shape in hierarchy.index_shapes().items()}
    xyz = [coordinates]
    for d in range(1, hierarchy.depth):
        xyz.append(GatherPoints(name=f"xyz_{d}")([xyz[d - 1], index[f"subsample_{d}"]]))

    x = AppendOnes(name="input_features")(features)
    skips = []
    for d in range(hierarchy.depth):
        if d:
            inputs = [xyz[d], xyz[d - 1], x, index[f"downsampling_neighbors_{d}"]]
            if downsampling_filter == "strided_kpconv":
                previous = [op for op in operations if op["depth"] == d - 1][-1]
                x = blocks.kpconv(previous, inputs, filters=previous["filters"], name=f"strided_kpconv_{d}")
            else:
                x = NeighborPooling(filter=downsampling_filter, name=f"downsampling_{d}")(inputs)
        for op in (op for op in operations if op["depth"] == d):
            inputs = [xyz[d], xyz[d], x, index[f"pwise_neighbors_{d}"]]
            name = f"{kind.lower()}_{op['index'] + 1}"
            x = (
                blocks.kpconv(op, inputs, filters=op["filters"], name=name)
                if kind == "KPConv"
                else blocks.pointnet(op, inputs, name=name)
            )
        skips.append(x)
    for d in range(hierarchy.depth - 1, 0, -1):
        up = NeighborPooling(filter=upsampling_filter, name=f"upsampling_{d}")(
            [xyz[d - 1], xyz[d], x, index[f"upsampling_neighbors_{d}"]]
        )
        x = keras.layers.Concatenate(name=f"skip_{d - 1}")([up, skips[d - 1]])
        x = blocks.shared(
            x,
            filters=int(skips[d - 1].shape[-1]),
            name=f"decoder_{d - 1}",
            bn=bool(upsampling_bn),
            momentum=float(upsampling_momentum),
        )
    logits = keras.layers.Dense(
        num_classes,
        name="logits",
        kernel_initializer=blocks.inits.next(output_kernel_initializer, path="model_args.output_kernel_initializer"),
    )(x)

    model = keras.Model(
        inputs=[coordinates, features, *index.values()], outputs=logits, name="ConvolutionalAutoencoderPwiseClassifier"
    )
    logger.info(
        "built ConvolutionalAutoencoderPwiseClassifier: %s points per depth, %s feature extraction, "
        "%s downsampling, %s upsampling, %d features, %d classes, %d parameters",
        list(hierarchy.num_points_per_depth),
        kind,
        downsampling_filter,
        upsampling_filter,
        num_features,
        num_classes,
        model.count_params(),
    )
    return model
