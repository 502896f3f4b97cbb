"""The radial basis function layers of ``RBFNetPwiseClassifier`` (Keras, XLA-compatible).

:class:`RBFFeatureExtraction` (VL3D's RBF feature extraction layer, after RBFNet, Chen et al.
2019, arXiv:1812.04302): ``K`` kernel points ``q_j`` (:mod:`vl3d_focal.models.kernel_structures`)
with sizes ``omega_j``; each point ``x`` of a field gets ``K`` features::

    Gaussian: y_j = exp(-||x - q_j||^2 / omega_j^2)
    Markov:   y_j = exp(-||x - q_j|| / omega_j^2)

:class:`RBFFeatureProcessing` (VL3D's RBF feature processing layer): each input feature ``f_i``
(of ``F``) meets ``K`` one-dimensional kernels of centres ``mu_ki`` and sizes ``omega_ki``;
output ``i * K + k`` is ``exp(-((f_i - mu_ki) / omega_ki)^2)`` (Gaussian) or
``exp(-|f_i - mu_ki| / omega_ki^2)`` (Markov), ``F * K`` features per point.

Both are registered Keras objects: a saved model loads once this module is imported.

Example:
    >>> layer = RBFFeatureExtraction(max_radii=(1.0, 1.0, 1.0), angular_resolutions=(1, 2),
    ...                              structure="concentric_grids", seed=1)
    >>> tuple(layer(keras.ops.zeros((2, 5, 3))).shape)
    (2, 5, 9)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from vl3d_focal.models.kernel_structures import kernel_points

KERNEL_FUNCTIONS = ("Gaussian", "Markov")
"""VL3D's ``kernel_function_type`` values (case-insensitive)."""


def _kernel(kind: str, distance_or_gap: Any, squared: Any, sizes: Any) -> Any:
    """``exp(-squared / sizes^2)`` (Gaussian) or ``exp(-|distance_or_gap| / sizes^2)`` (Markov)."""
    if kind.lower() == "gaussian":
        return keras.ops.exp(-squared / keras.ops.square(sizes))
    return keras.ops.exp(-distance_or_gap / keras.ops.square(sizes))


def _checked_kind(kind: str) -> str:
    if str(kind).lower() not in (name.lower() for name in KERNEL_FUNCTIONS):
        raise ValueError(f"expected a kernel function among {', '.join(KERNEL_FUNCTIONS)}, got {kind!r}")
    return str(kind)


@keras.saving.register_keras_serializable(package="vl3d_focal")
class RBFFeatureExtraction(keras.layers.Layer):
    """Coordinates ``(B, P, 3)`` to RBF features ``(B, P, K)`` (see the module docstring).

    Args:
        max_radii: radii of the outermost shell of the kernel points, along x, y and z.
        angular_resolutions: resolution of each shell, the centre's (1) first.
        structure: the kernel points' initial structure (VL3D's ``structure_initialization_type``).
        kernel_function: ``"Gaussian"`` or ``"Markov"``.
        trainable_structure: the kernel points learn (VL3D's ``trainable_kernel_structure``).
        trainable_sizes: the sizes learn (VL3D's ``trainable_kernel_sizes``).
        seed: seed of the sizes' initial values, uniform in ``[0.01, 1] * max(max_radii)``.

    Example:
        >>> layer = RBFFeatureExtraction(max_radii=(1.0, 1.0, 1.0), angular_resolutions=(1,), structure="zeros")
        >>> y = layer(keras.ops.zeros((1, 2, 3)))
        >>> layer.num_kernel_points, [round(float(v), 3) for v in keras.ops.reshape(y, (-1,))]
        (1, [1.0, 1.0])
    """

    def __init__(
        self,
        *,
        max_radii: Sequence[float],
        angular_resolutions: Sequence[int],
        structure: str = "concentric_ellipsoids",
        kernel_function: str = "Gaussian",
        trainable_structure: bool = True,
        trainable_sizes: bool = True,
        seed: int | None = None,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
    ):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self.max_radii = [float(r) for r in max_radii]
        self.angular_resolutions = [int(m) for m in angular_resolutions]
        self.structure = str(structure)
        self.kernel_function = _checked_kind(kernel_function)
        self.trainable_structure = bool(trainable_structure)
        self.trainable_sizes = bool(trainable_sizes)
        self.seed = seed
        self.initial_points = kernel_points(
            structure=self.structure, max_radii=self.max_radii, angular_resolutions=self.angular_resolutions
        )
        self.num_kernel_points = len(self.initial_points)

    def build(self, input_shape: Any) -> None:  # noqa: D102
        if input_shape[-1] != 3:
            raise ValueError(f"{self.name}: expected 3D coordinates (..., 3), got shape {tuple(input_shape)}")
        k, largest = self.num_kernel_points, max(self.max_radii)
        self.kernel_points = self.add_weight(
            shape=(k, 3),
            initializer=keras.initializers.Constant(self.initial_points),
            trainable=self.trainable_structure,
            name="kernel_points",
        )
        self.kernel_sizes = self.add_weight(
            shape=(k,),
            initializer=keras.initializers.RandomUniform(0.01 * largest, largest, seed=self.seed),
            trainable=self.trainable_sizes,
            name="kernel_sizes",
        )

    def call(self, inputs: Any) -> Any:  # noqa: D102
        gaps = keras.ops.expand_dims(inputs, -2) - self.kernel_points  # (B, P, K, 3)
        squared = keras.ops.sum(keras.ops.square(gaps), axis=-1)
        positive = squared > 0  # the norm's gradient at 0 would be infinite: 0 there
        distance = keras.ops.where(positive, keras.ops.sqrt(keras.ops.where(positive, squared, 1.0)), 0.0)
        return _kernel(self.kernel_function, distance, squared, self.kernel_sizes)

    def compute_output_shape(self, input_shape: Any) -> Any:  # noqa: D102
        return (*input_shape[:-1], self.num_kernel_points)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {
            **super().get_config(),
            "max_radii": self.max_radii,
            "angular_resolutions": self.angular_resolutions,
            "structure": self.structure,
            "kernel_function": self.kernel_function,
            "trainable_structure": self.trainable_structure,
            "trainable_sizes": self.trainable_sizes,
            "seed": self.seed,
        }


def initial_feature_kernels(
    *, num_kernels: int, means: Sequence[float], stdevs: Sequence[float], a: float, b: float, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Initial centres and sizes ``(K, F)`` of :class:`RBFFeatureProcessing` (VL3D's rule).

    The centres of feature ``i`` span ``mean_i -+ 3 stdev_i`` evenly; its sizes are
    ``a + stdev_i * (b + u)`` with ``u`` uniform in ``[-b, b]``.

    Example:
        >>> centres, sizes = initial_feature_kernels(num_kernels=3, means=[0.0], stdevs=[1.0], a=0.01, b=0.0, seed=1)
        >>> centres.ravel().tolist(), sizes.ravel().tolist()
        ([-3.0, 0.0, 3.0], [0.01, 0.01, 0.01])
    """
    mu, sd = np.asarray(means, dtype=np.float64), np.asarray(stdevs, dtype=np.float64)
    centres = np.linspace(mu - 3 * sd, mu + 3 * sd, int(num_kernels))
    noise = np.random.default_rng(seed).uniform(-b, b, size=centres.shape)
    return centres, a + sd * (b + noise)


@keras.saving.register_keras_serializable(package="vl3d_focal")
class RBFFeatureProcessing(keras.layers.Layer):
    """Point features ``(B, P, F)`` to ``(B, P, F * K)`` RBF features (see the module docstring).

    Args:
        num_kernels: kernels per feature (K).
        means: one per feature, the middle of its kernels' centres.
        stdevs: one per feature: its centres span ``mean -+ 3 stdev``; scales the sizes.
        a: the sizes' floor.
        b: the sizes' spread (:func:`initial_feature_kernels`).
        kernel_function: ``"Gaussian"`` or ``"Markov"``.
        trainable_centres: the centres learn (VL3D's ``trainable_M``).
        trainable_sizes: the sizes learn (VL3D's ``trainable_Omega``).
        seed: seed of the sizes' initial noise.

    Example:
        >>> layer = RBFFeatureProcessing(num_kernels=2, means=[0.0, 1.0], stdevs=[1.0, 1.0], seed=1)
        >>> tuple(layer(keras.ops.zeros((1, 4, 2))).shape)
        (1, 4, 4)
    """

    def __init__(
        self,
        *,
        num_kernels: int,
        means: Sequence[float],
        stdevs: Sequence[float],
        a: float = 0.01,
        b: float = 1.0,
        kernel_function: str = "Gaussian",
        trainable_centres: bool = True,
        trainable_sizes: bool = True,
        seed: int | None = None,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
    ):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        if len(means) != len(stdevs):
            raise ValueError(f"expected as many means as stdevs, got {len(means)} and {len(stdevs)}")
        self.num_kernels = int(num_kernels)
        self.means = [float(v) for v in means]
        self.stdevs = [float(v) for v in stdevs]
        self.a, self.b = float(a), float(b)
        self.kernel_function = _checked_kind(kernel_function)
        self.trainable_centres = bool(trainable_centres)
        self.trainable_sizes = bool(trainable_sizes)
        self.seed = seed

    def build(self, input_shape: Any) -> None:  # noqa: D102
        if input_shape[-1] != len(self.means):
            raise ValueError(f"{self.name}: expected {len(self.means)} features, got shape {tuple(input_shape)}")
        centres, sizes = initial_feature_kernels(
            num_kernels=self.num_kernels, means=self.means, stdevs=self.stdevs, a=self.a, b=self.b, seed=self.seed
        )
        # stored (F, K), so that feature i's kernels are outputs i*K .. i*K + K - 1
        self.centres = self.add_weight(
            shape=centres.T.shape,
            initializer=keras.initializers.Constant(centres.T),
            trainable=self.trainable_centres,
            name="centres",
        )
        self.sizes = self.add_weight(
            shape=sizes.T.shape,
            initializer=keras.initializers.Constant(sizes.T),
            trainable=self.trainable_sizes,
            name="sizes",
        )

    def call(self, inputs: Any) -> Any:  # noqa: D102
        gaps = keras.ops.expand_dims(inputs, -1) - self.centres  # (B, P, F, K)
        y = _kernel(self.kernel_function, keras.ops.abs(gaps), keras.ops.square(gaps), self.sizes)
        return keras.ops.reshape(y, (*keras.ops.shape(inputs)[:-1], len(self.means) * self.num_kernels))

    def compute_output_shape(self, input_shape: Any) -> Any:  # noqa: D102
        return (*input_shape[:-1], len(self.means) * self.num_kernels)

    def get_config(self) -> dict[str, Any]:  # noqa: D102
        return {
            **super().get_config(),
            "num_kernels": self.num_kernels,
            "means": self.means,
            "stdevs": self.stdevs,
            "a": self.a,
            "b": self.b,
            "kernel_function": self.kernel_function,
            "trainable_centres": self.trainable_centres,
            "trainable_sizes": self.trainable_sizes,
            "seed": self.seed,
        }
