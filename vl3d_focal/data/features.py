"""Point features by name (their normalisation: :mod:`vl3d_focal.data.normalization`).

Names accepted by :func:`extract_features`:

* ``x``, ``y``, ``z``: scaled coordinates.
* Any dimension of the LAS file, standard or extra bytes (``intensity``, ``return_number``,
  ``number_of_returns``, ``red``, ``green``, ``blue``, ``nir``, ``gps_time``, ...).
* ``scan_angle`` (alias ``scan_angle_rank``): the scan angle in degrees for every point format
  (formats 6-10 store 0.006-degree units, formats 0-5 whole degrees).
* Derived features (see :data:`DERIVED_FEATURES`), computed unless the file stores a dimension
  of the same name, which is then read as it is (:func:`~vl3d_focal.data.feature_names.stored_derived`):

  - ``height_above_ground``: z minus an estimated terrain surface
    (:mod:`vl3d_focal.data.terrain`: lowest points per 2 m cell without isolated low noise,
    a morphological opening over 30 m, refined towards the points just above it).
  - ``return_ratio``: return_number / number_of_returns (1 for single and last returns).
  - ``ones``: the constant 1 (VL3D's feature for a model without features; being constant,
    it carries no information, and the normaliser maps it to 0).
  - ``linearity``, ``planarity``, ``scattering``, ``verticality``: shape of the 16 nearest
    neighbours (equal distances ordered by point index) from the eigenvalues l1 >= l2 >= l3 of
    their covariance: (l1-l2)/l1, (l2-l3)/l1, l3/l1 and 1 - |n_z| for the normal n (smallest
    eigenvector).

* Mined features: the names a miner step gives (:mod:`vl3d_focal.data.miners`), passed as
  ``miners``.

:func:`extract_features` refuses NaN and infinite values; :func:`model_features` applies a
model's imputers (:mod:`vl3d_focal.data.imputers`) first.

Example:
    >>> extract_features(cloud, ["intensity", "height_above_ground"]).shape
    (1531, 2)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence

import numpy as np

from vl3d_focal.data.eigen_features import eigen_features, log_isolated_points
from vl3d_focal.data.feature_listing import hinted_names, indented, offered_groups
from vl3d_focal.data.feature_names import SCAN_ANGLE_ALIASES, feature_names
from vl3d_focal.data.imputers import Imputer, apply_imputers
from vl3d_focal.data.mined_chain import compute_chain
from vl3d_focal.data.miners import MinedFeatures, cloud_inputs, mined_names, recipes_for, smoothing_inputs
from vl3d_focal.data.terrain import estimate_ground
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud, las_dimensions
from vl3d_focal.wording import counted

logger = logging.getLogger(__name__)

SHAPE_NEIGHBOURS = 16
_SHAPE_EIGEN_NAMES = ("linearity", "planarity", "sphericity", "verticality")  # scattering = sphericity


def _height_above_ground(cloud: PointCloud) -> np.ndarray:
    return cloud.xyz[:, 2] - estimate_ground(cloud.xyz)


def _return_ratio(cloud: PointCloud) -> np.ndarray:
    returns = np.asarray(cloud.las.return_number, dtype=np.float64)
    total = np.maximum(np.asarray(cloud.las.number_of_returns, dtype=np.float64), 1.0)
    return np.minimum(returns / total, 1.0)


def neighbour_shapes(
    xyz: np.ndarray, *, queries: np.ndarray | None = None, ids: np.ndarray | None = None, k: int = SHAPE_NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray]:
    """Shape features of some points from their k nearest neighbours among ``xyz``.

    Args:
        xyz: ``(n, 3)`` the points searched.
        queries: rows of ``xyz`` whose features are wanted (None: all).
        ids: the points' ids in the cloud, for :func:`~vl3d_focal.data.eigen_features.nearest_in_order`
            (None: row numbers).
        k: neighbours (capped at ``n``).

    Returns:
        ``(features (q, 4), k-th neighbour distance (q,))``; the features are linearity,
        planarity, scattering and verticality (module docstring).

    Example:
        >>> plane = np.column_stack([np.random.default_rng(0).uniform(0, 1, (200, 2)), np.zeros(200)])
        >>> features, reach = neighbour_shapes(plane)
        >>> bool(features[:, 2].max() < 1e-9), bool(features[:, 3].max() < 1e-6)  # flat, horizontal
        (True, True)
    """
    return eigen_features(xyz, names=_SHAPE_EIGEN_NAMES, k=k, queries=queries, ids=ids, what="shape features")


def shape_features(xyz: np.ndarray, *, k: int = SHAPE_NEIGHBOURS) -> np.ndarray:
    """Linearity, planarity, scattering, verticality of every point's k nearest neighbours, (N, 4).

    Example:
        >>> shape_features(cloud.xyz).shape
        (1531, 4)
    """
    return neighbour_shapes(xyz, k=k)[0]


def _shape_column(column: int) -> Callable[[PointCloud], np.ndarray]:
    def compute(cloud: PointCloud) -> np.ndarray:
        return shape_features(cloud.xyz)[:, column]

    return compute


def _ones(cloud: PointCloud) -> np.ndarray:
    return np.ones(cloud.num_points)


DERIVED_FEATURES: dict[str, Callable[[PointCloud], np.ndarray]] = {
    "ones": _ones,
    "height_above_ground": _height_above_ground,
    "return_ratio": _return_ratio,
    "linearity": _shape_column(0),
    "planarity": _shape_column(1),
    "scattering": _shape_column(2),
    "verticality": _shape_column(3),
}
"""How each derived feature is computed (what it is: :data:`~vl3d_focal.data.feature_names.DERIVED_DEFINITIONS`)."""
SHAPE_FEATURES = ("linearity", "planarity", "scattering", "verticality")


def _scan_angle_degrees(cloud: PointCloud) -> np.ndarray:
    names = cloud.las.point_format.dimension_names
    if "scan_angle" in names:
        return np.asarray(cloud.las.scan_angle, dtype=np.float64) * 0.006
    return np.asarray(cloud.las.scan_angle_rank, dtype=np.float64)


def available_features(cloud: PointCloud) -> list[str]:
    """Every feature name :func:`extract_features` accepts for this cloud.

    Example:
        >>> available_features(cloud)[:4]
        ['x', 'y', 'z', 'intensity']
    """
    return feature_names(las_dimensions(cloud.las))


def _column(cloud: PointCloud, name: str, *, stored: Collection[str]) -> np.ndarray:
    axis = "xyz".find(name) if len(name) == 1 else -1
    if axis >= 0:
        return cloud.xyz[:, axis]
    if name in SCAN_ANGLE_ALIASES:
        return _scan_angle_degrees(cloud)
    if name in DERIVED_FEATURES and name not in stored:
        return DERIVED_FEATURES[name](cloud)
    return np.asarray(cloud.las[name], dtype=np.float64)


def raw_features(cloud: PointCloud, fnames: Sequence[str], *, miners: Sequence[MinedFeatures] = ()) -> np.ndarray:
    """The named features of every point as read or computed, float32 ``(N, len(fnames))``,
    NaN and infinite values included (:func:`extract_features` refuses them).

    Raises:
        DataError: A name the cloud does not have; the message lists the missing names (each with
            its close match) and what the cloud offers, by where it comes from.

    Example:
        >>> raw_features(cloud, ["intensity"]).dtype
        dtype('float32')
    """
    available = available_features(cloud) + mined_names(miners)
    mined = recipes_for(fnames, miners)
    missing = [name for name in dict.fromkeys([*fnames, *smoothing_inputs(fnames, mined)]) if name not in available]
    if missing:
        readers = "".join(
            f"; {r.miner} reads {list(dict.fromkeys(r.inputs))}" for r in mined if set(r.inputs) & set(missing)
        )
        groups = offered_groups(available, dimensions=las_dimensions(cloud.las), mined=mined_names(miners))
        lines = [  # the first line tells the error alone (a survey's summary of failed tiles shows it)
            f"point cloud {cloud.path or cloud.name}: {counted(len(missing), 'unknown feature')} "
            f"{hinted_names(missing, available)} (not in the file nor derived{readers}); the cloud offers:",
            *(indented(line, "  ") for line in groups),
        ]
        raise DataError("\n".join(lines))
    out = np.empty((cloud.num_points, len(fnames)), dtype=np.float32)
    shape_cache: np.ndarray | None = None
    stored = set(las_dimensions(cloud.las))
    computed: dict[str, np.ndarray] = {}  # the mined features computed so far (float64), read by later smoothings
    for recipe in mined:
        wanted = [name for name in fnames if name in recipe.names]
        if not wanted:  # only smoothed by a later recipe: computed there, where it is read
            continue
        columns = {name: _column(cloud, name, stored=stored) for name in cloud_inputs(wanted, mined)}
        isolated: set[int] = set()
        values, _ = compute_chain(
            recipe, cloud.xyz, names=wanted, miners=mined, columns={**columns, **computed}, isolated=isolated
        )
        log_isolated_points(
            isolated=len(isolated), total=cloud.num_points, radius=recipe.params.get("radius"), cloud=cloud.name
        )
        for column, name in enumerate(wanted):
            out[:, list(fnames).index(name)] = values[:, column]
            computed[name] = values[:, column]
    done = set(mined_names(mined))
    for j, name in enumerate(fnames):
        if name in done:
            continue
        if name in SHAPE_FEATURES and name not in stored:
            if shape_cache is None:
                shape_cache = shape_features(cloud.xyz)
            out[:, j] = shape_cache[:, SHAPE_FEATURES.index(name)]
        else:
            out[:, j] = _column(cloud, name, stored=stored)
        logger.debug("%s: feature %s computed", cloud.name, name)
    return out


class NonFiniteFeatures(DataError):
    """A feature value that is NaN or infinite (:func:`require_finite`)."""


def non_finite_counts(features: np.ndarray) -> np.ndarray:
    """``(F,)`` the NaN or infinite values of each column of ``(N, F)`` features; the counts of a
    cloud's parts (chunks, tiles) add up to the cloud's, for :func:`require_counts_finite`.

    Example:
        >>> non_finite_counts(np.array([[np.nan, 1.0], [np.inf, 2.0]])).tolist()
        [2, 0]
    """
    return np.sum(~np.isfinite(features), axis=0)


def require_finite(features: np.ndarray, fnames: Sequence[str], *, source: object) -> None:
    """Raises when a feature value is NaN or infinite, naming the features and their counts.

    Raises:
        NonFiniteFeatures: naming ``source`` (the cloud).

    Example:
        >>> require_finite(np.array([[1.0, np.inf]]), ["a", "b"], source="a.las")
        Traceback (most recent call last):
        ...
        vl3d_focal.data.features.NonFiniteFeatures: point cloud a.las: NaN or infinite feature values ('b' at 1 points); expected finite values
    """
    require_counts_finite(non_finite_counts(features), fnames, source=source)


def require_counts_finite(counts: np.ndarray, fnames: Sequence[str], *, source: object) -> None:
    """:func:`require_finite` from the ``(F,)`` :func:`non_finite_counts` of every point of the cloud.

    Example:
        >>> require_counts_finite(np.array([0, 600]), ["a", "b"], source="a.las")
        Traceback (most recent call last):
        ...
        vl3d_focal.data.features.NonFiniteFeatures: point cloud a.las: NaN or infinite feature values ('b' at 600 points); expected finite values
    """
    if not np.any(counts):
        return
    bad = {name: int(count) for name, count in zip(fnames, counts) if count}
    listing = ", ".join(f"{name!r} at {count} points" for name, count in bad.items())
    raise NonFiniteFeatures(f"point cloud {source}: NaN or infinite feature values ({listing}); expected finite values")


def extract_features(cloud: PointCloud, fnames: Sequence[str], *, miners: Sequence[MinedFeatures] = ()) -> np.ndarray:
    """The named features of every point, float32 array of shape (N, len(fnames)).

    Args:
        cloud: The point cloud.
        fnames: Feature names (see the module docstring); may be empty.
        miners: recipes of mined features (:mod:`vl3d_focal.data.miners`) ``fnames`` may name.

    Raises:
        DataError: A name the cloud does not have (the message lists the available names), or a
            value that is not finite.

    Example:
        >>> extract_features(cloud, ["intensity", "return_number"]).shape
        (1531, 2)
    """
    out = raw_features(cloud, fnames, miners=miners)
    require_finite(out, fnames, source=cloud.path or cloud.name)
    logger.info("%s: %d features extracted (%s)", cloud.name, len(fnames), ", ".join(fnames))
    return out


def model_features(
    cloud: PointCloud,
    fnames: Sequence[str],
    *,
    miners: Sequence[MinedFeatures] = (),
    imputers: Sequence[Imputer] = (),
    raw: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The features of every point as a model with ``imputers`` takes them, and the points it keeps.

    Args:
        cloud: The point cloud.
        fnames: Feature names; miners: the recipes of the mined ones.
        imputers: fitted imputers (:mod:`vl3d_focal.data.imputers`), applied in order.
        raw: the cloud's :func:`raw_features` when already at hand.

    Returns:
        ``(features (N, F), kept (N,))``: the features imputed (the values of the points a
        ``RemovalImputer`` leaves out as they were), and the mask of the points kept.

    Raises:
        DataError: An unknown name, or a value of a kept point that is not finite after imputation.

    Example:
        >>> from vl3d_focal.data.imputers import Imputer
        >>> features, kept = model_features(cloud, ["intensity"], imputers=[Imputer("RemovalImputer", target=0.0)])
        >>> features.shape, bool(kept.all())
        ((1531, 1), True)
    """
    out = raw_features(cloud, fnames, miners=miners) if raw is None else raw
    out, kept = apply_imputers(out, fnames, imputers, source=cloud.name)
    require_finite(out[kept], fnames, source=cloud.path or cloud.name)
    return out, kept
