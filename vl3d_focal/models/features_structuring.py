"""VL3D's features structuring layer (FSL) as a Keras layer, and its block in a PointNet.

Inputs: a field's coordinates ``X`` (B, P, 3) and point-wise features ``F`` (B, P, n). The
layer holds ``K`` kernel points ``q_k`` (concentric ellipsoids around the field's centre,
:func:`vl3d_focal.models.kernel_structures.kernel_points`), one Gaussian width ``w_k`` per
kernel point, one weight ``v_i`` per input feature and a transform ``W`` (n x d)::

    D[k, j] = exp(-||x_j - q_k||^2 / w_k^2)            (K x P: kernel point k sees point j)
    G       = (1 / P) D (F diag(v))                     (K x n: features gathered at the kernel)
    Y       = D^T G W                                   (P x d: spread back to the points)

The output is ``[F, Y]`` (``FULL``) or ``Y`` (``OPAQUE``). Initial values: the ellipsoids'
points, ``w_k = max(max_radii)``, ``v_i = 1`` and a Glorot-uniform ``W``.

The layer is a registered Keras object: a saved model loads once this module is imported.

Example:
    >>> layer = FeaturesStructuring(max_radii=(1.0, 1.0, 1.0), angular_resolutions=(1, 2), dim_out=3, seed=0)
    >>> tuple(layer([keras.ops.zeros((2, 5, 3)), keras.ops.ones((2, 5, 4))]).shape)
    (2, 5, 7)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from vl3d_focal.models.features_structuring_schema import DEFAULT_ANGULAR_RESOLUTIONS, DEFAULT_DIM_OUT
from vl3d_focal.models.kernel_structures import kernel_points

STRATEGIES = ("FULL", "OPAQUE")
"""VL3D's ``concatenation_strategy`` values (case-insensitive)."""


@keras.saving.register_keras_serializable(package="vl3d_focal")
class FeaturesStructuring(keras.layers.Layer):
    """``[coordinates (B, P, 3), features (B, P, n)]`` to structured features (see the module docstring).

    Args:
        max_radii: radii of the outermost ellipsoid of kernel points, along x, y and z.
        angular_resolutions: resolution of each ellipsoid, the centre's first.
        dim_out: output features per point (d).
        concatenation_strategy: ``"FULL"`` (input features, then output) or ``"OPAQUE"``.
        trainable_kernel_structure: the kernel points learn.
        trainable_kernel_weights: ``W`` learns.
        trainable_distance_weights: the widths ``w_k`` learn.
        trainable_feature_weights: the feature weights ``v_i`` learn.
        seed: seed of ``W``'s initial values.

    Example:
        >>> layer = FeaturesStructuring(max_radii=(2.0, 1.0, 1.0), angular_resolutions=(1,), dim_out=1,
        ...                             concatenation_strategy="opaque")
        >>> layer.num_kernel_points, tuple(layer([keras.ops.zeros((1, 2, 3)), keras.ops.ones((1, 2, 1))]).shape)
        (1, (1, 2, 1))
    """

    def __init__(
        self,
        *,
        max_radii: Sequence[float],
        angular_resolutions: Sequence[int],
        dim_out: int,
        concatenation_strategy: str = "FULL",
        trainable_kernel_structure: bool = False,
        trainable_kernel_weights: bool = True,
        trainable_distance_weights: bool = True,
        trainable_feature_weights: bool = True,
        seed: int | None = None,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
    ):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        if str(concatenation_strategy).upper() not in STRATEGIES:
            raise ValueError(f"expected a concatenation strategy among {STRATEGIES}, got {concatenation_strategy!r}")
        self.max_radii = [float(r) for r in max_radii]
        self.angular_resolutions = [int(m) for m in angular_resolutions]
        self.dim_out = int(dim_out)
        self.concatenation_strategy = str(concatenation_strategy).upper()
        self.trainable_kernel_structure = bool(trainable_kernel_structure)
        self.trainable_kernel_weights = bool(trainable_kernel_weights)
        self.trainable_distance_weights = bool(trainable_distance_weights)
        self.trainable_feature_weights = bool(trainable_feature_weights)
        self.seed = seed
        self.initial_points = kernel_points(
            structure="concentric_ellipsoids", max_radii=self.max_radii, angular_resolutions=self.angular_resolutions
        )
        self.num_kernel_points = len(self.initial_points)

    def build(self, input_shape: Any) -> None:  # noqa: D102
        coordinates, features = input_shape
        if coordinates[-1] != 3:
            raise ValueError(f"{self.name}: expected 3D coordinates (..., 3), got shape {tuple(coordinates)}")
        k, n = self.num_kernel_points, int(features[-1])
        self.kernel_points = self.add_weight(
            shape=(k, 3),
            initializer=keras.initializers.Constant(self.initial_points),
            trainable=self.trainable_kernel_structure,
            name="kernel_points",
        )
        self.distance_weights = self.add_weight(
            shape=(k,),
            initializer=keras.initializers.Constant(max(self.max_radii)),
            trainable=self.trainable_distance_weights,
            name="distance_weights",
        )
        self.feature_weights = self.add_weight(
            shape=(n,), initializer="ones", trainable=self.trainable_feature_weights, name="feature_weights"
        )
        self.kernel_weights = self.add_weight(
            shape=(n, self.dim_out),
            initializer=keras.initializers.GlorotUniform(seed=self.seed),
            trainable=self.trainable_kernel_weights,
            name="kernel_weights",
        )

    def call(self, inputs: Any) -> Any:  # noqa: D102
        coordinates, features = inputs
        gaps = keras.ops.expand_dims(coordinates, -3) - keras.ops.expand_dims(self.kernel_points, -2)  # (B, K, P, 3)
        squared = keras.ops.sum(keras.ops.square(gaps), axis=-1)
        d = keras.ops.exp(-squared / keras.ops.expand_dims(keras.ops.square(self.distance_weights), -1))
        points = keras.ops.cast(keras.ops.shape(coordinates)[-2], d.dtype)
        gathered = keras.ops.matmul(d, features * self.feature_weights) / points  # (B, K, n)
        y = keras.ops.matmul(keras.ops.transpose(d, (0, 2, 1)), keras.ops.matmul(gathered, self.kernel_weights))
        return keras.ops.concatenate([features, y], axis=-1) if self.concatenation_strategy == "FULL" else y

    def compute_output_shape(self, input_shape: Any) -> Any:  # noqa: D102
        coordinates, features = input_shape
        width = self.dim_out + (int(features[-1]) if self.concatenation_strategy == "FULL" else 0)
        return (*coordinates[:-1], width)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {
            **super().get_config(),
            "max_radii": self.max_radii,
            "angular_resolutions": self.angular_resolutions,
            "dim_out": self.dim_out,
            "concatenation_strategy": self.concatenation_strategy,
            "trainable_kernel_structure": self.trainable_kernel_structure,
            "trainable_kernel_weights": self.trainable_kernel_weights,
            "trainable_distance_weights": self.trainable_distance_weights,
            "trainable_feature_weights": self.trainable_feature_weights,
            "seed": self.seed,
        }


def features_structuring_block(
    x: Any, *, coordinates: Any, spec: Mapping[str, Any], num_pwise_feats: int, seed: int | None, synchronized: bool
) -> Any:
    """``x`` (B, P, n) through a :class:`FeaturesStructuring` layer named ``FSL`` on ``coordinates``,
    then, as ``spec`` (a ``features_structuring_layer``) says, batch normalisation and ReLU.

    Example:
        >>> x, xyz = keras.Input((8, 4)), keras.Input((8, 3))
        >>> y = features_structuring_block(x, coordinates=xyz, spec={"max_radii": [1, 1, 1], "dim_out": "AUTO"},
        ...                                num_pwise_feats=4, seed=0, synchronized=False)
        >>> tuple(y.shape)
        (None, 8, 8)
    """
    dim_out = spec.get("dim_out", DEFAULT_DIM_OUT)
    y = FeaturesStructuring(
        max_radii=spec["max_radii"],
        angular_resolutions=spec.get("angular_resolutions", DEFAULT_ANGULAR_RESOLUTIONS),
        dim_out=num_pwise_feats if dim_out == "AUTO" else int(dim_out),
        concatenation_strategy=spec.get("concatenation_strategy", "FULL"),
        trainable_kernel_structure=spec.get("trainable_kernel_structure", False),
        trainable_kernel_weights=spec.get("trainable_kernel_weights", True),
        trainable_distance_weights=spec.get("trainable_distance_weights", True),
        trainable_feature_weights=spec.get("trainable_feature_weights", True),
        seed=seed,
        name="FSL",
    )([coordinates, x])
    if spec.get("batch_normalization", True):
        y = keras.layers.BatchNormalization(synchronized=synchronized, name="FSL_bn")(y)
    if spec.get("activation", "relu") is not None:
        y = keras.layers.ReLU(name="FSL_relu")(y)
    return y
