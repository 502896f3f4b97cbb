"""PDAL's covariance features (``filters.covariancefeatures``) and optimal neighbourhood
(``filters.optimalneighborhood``), as VL3D's legacy ``CovarianceFeatures`` miner asks for them.

PDAL's covariance of ``n`` neighbours divides by ``n - 1``: ``C = sum((p - mean)(p - mean)^T) / (n - 1)``.
Its eigenvalues ``l1 >= l2 >= l3`` (clamped at 0, ``S = l1 + l2 + l3``) become, per ``mode``,
``L_i = l_i`` (``Raw``), ``l_i / S`` (``Normalized``) or ``sqrt(l_i)`` (``SQRT``); with ``v_i``
the unit eigenvector of ``l_i``, the features are (Weinmann et al. 2015; Guinard and Landrieu
2017 for ``Verticality``; Demantke et al. 2011 for ``DemantkeVerticality``):

===================  =====================================  ================  ============================
Linearity            (L1 - L2) / L1                         Omnivariance      (L1 L2 L3) ** (1/3)
Planarity            (L2 - L3) / L1                         Eigenentropy      -sum(L_i ln L_i)
Scattering           L3 / L1                                EigenvalueSum     S (of l, whatever the mode)
Anisotropy           (L1 - L3) / L1                         SurfaceVariation  L3 / S (S of l: PDAL's)
Verticality          u_z / |u|, u = sum(L_i |v_i|)          Density           (k_opt + 1) / (4/3 pi r_opt³)
DemantkeVerticality  1 - |z of v3|
===================  =====================================  ================  ============================

``|v_i|`` is taken component-wise; ``pi`` is PDAL's 3.14159265. The optimal neighbourhood of a
point (Demantke et al. 2011, as PDAL computes it) is its ``k_opt`` nearest points (itself first),
``k_opt`` in ``[min_k, max_k]`` the first that minimises the eigenentropy of the normalised
eigenvalues of their ``n - 1`` covariance; ``r_opt`` is the distance of the ``k_opt``-th. With
``optimize`` the features are of that neighbourhood; ``Density`` always needs it (VL3D runs
PDAL's optimal neighbourhood for it, with PDAL's defaults ``min_k = 10``, ``max_k = 14``).

Where PDAL's arithmetic gives no number, here: ``0 ln 0 = 0`` (PDAL: NaN, and it leaves such a
``k`` out of the optimum), and a neighbourhood without spread (``l1 <= 1e-12`` m², or ``r_opt = 0``)
gets 0 (PDAL: an error, or an infinite density). Neighbours are ordered by (distance, point id),
so a tile holding every point within a value's reach gets the whole cloud's values.

Example:
    >>> rng = np.random.default_rng(0)
    >>> plane = np.column_stack([rng.uniform(0, 4, (300, 2)), np.zeros(300)])
    >>> values, _ = pdal_features(plane, names=["Verticality", "DemantkeVerticality"], mode="Raw", radius=1.0)
    >>> values.max(axis=0).round(12).tolist()
    [0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from vl3d_focal.data.covariance_features import MODES, OPTIMAL_K, PDAL_FEATURES
from vl3d_focal.data.eigen_features import NO_SPREAD, nearest_in_order, neighbourhood_covariances
from vl3d_focal.data.point_tree import point_tree
from vl3d_focal.data.symmetric3x3 import eigenvectors, smallest_eigenvector
from vl3d_focal.wording import noun

PDAL_PI = 3.14159265
"""The value of pi in PDAL's ``Density``."""
_CHUNK = 20_000


def _entropy(values: np.ndarray) -> np.ndarray:
    """``-sum(v ln v)`` over the last axis, ``0 ln 0`` being 0."""
    safe = np.where(values > 0, values, 1.0)
    return -np.sum(np.where(values > 0, values * np.log(safe), 0.0), axis=-1)


def _unbiased(covariance: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Covariances divided by ``n`` -> divided by ``n - 1`` (PDAL's; one point stays 0)."""
    n = counts.astype(np.float64)
    return covariance * (n / np.maximum(n - 1.0, 1.0))[:, None, None]


def optimal_neighbourhood(
    xyz: np.ndarray, query: np.ndarray, *, ids: np.ndarray, min_k: int, max_k: int, tree: cKDTree | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PDAL's optimal neighbourhood of each query point among ``xyz``.

    Args:
        xyz: ``(n, 3)`` the points searched.
        query: ``(q, 3)`` query positions (points of ``xyz``).
        ids: ``(n,)`` the points' ids in the cloud (ties among neighbours).
        min_k, max_k: the sizes tried (capped at n).
        tree: a :func:`~vl3d_focal.data.point_tree.point_tree` of ``xyz`` (None: built here).

    Returns:
        ``(k_opt (q,), r_opt (q,), covariance of the k_opt nearest divided by k_opt - 1 (q, 3, 3),
        distance of the max_k-th nearest (q,))``.

    Example:
        >>> line = np.column_stack([np.arange(6.0), np.zeros(6), np.zeros(6)])
        >>> k, r, _, _ = optimal_neighbourhood(line, line[:1], ids=np.arange(6), min_k=3, max_k=5)
        >>> k.tolist(), r.tolist()
        ([3], [2.0])
    """
    tree = point_tree(xyz) if tree is None else tree
    top = min(int(max_k), len(xyz))
    low = max(min(int(min_k), top), 2)
    if top < 2:  # a lone point: no neighbourhood to choose, no spread
        return np.full(len(query), top), np.zeros(len(query)), np.zeros((len(query), 3, 3)), np.zeros(len(query))
    index, reach = nearest_in_order(tree, query, ids=ids, k=top)
    offsets = xyz[index] - query[:, None, :]  # (q, top, 3)
    first = np.cumsum(offsets, axis=1)
    second = np.cumsum(offsets[:, :, :, None] * offsets[:, :, None, :], axis=1)  # (q, top, 3, 3)
    sizes = np.arange(low, top + 1, dtype=np.float64)
    mean = first[:, low - 1 :] / sizes[None, :, None]
    scatter = second[:, low - 1 :] - sizes[None, :, None, None] * mean[..., :, None] * mean[..., None, :]
    covariance = scatter / (sizes - 1.0)[None, :, None, None]
    values, _ = smallest_eigenvector(covariance.reshape(-1, 3, 3))
    values = np.maximum(values, 0.0).reshape(len(query), len(sizes), 3)
    total = values.sum(axis=2, keepdims=True)
    normalised = np.divide(values, total, out=np.zeros_like(values), where=total > 0)
    best = np.argmin(_entropy(normalised), axis=1)  # the first minimum, as PDAL's strict <
    rows = np.arange(len(query))
    k_opt = low + best
    r_opt = np.sqrt(np.sum(offsets[rows, k_opt - 1] ** 2, axis=1))
    return k_opt, r_opt, covariance[rows, best], reach


def _features(values: np.ndarray, vectors: np.ndarray, names: Sequence[str], mode: str) -> dict[str, np.ndarray]:
    """PDAL's features (but Density) of ``(q, 3)`` ascending eigenvalues of ``n - 1`` covariances
    and ``(q, 3, 3)`` their eigenvectors (columns)."""
    raw = np.maximum(values[:, ::-1], 0.0)  # l1, l2, l3
    total = raw.sum(axis=1)
    spread = raw[:, 0] > NO_SPREAD
    scaled = {"Raw": raw, "SQRT": np.sqrt(raw)}.get(mode)
    if scaled is None:
        scaled = np.divide(raw, total[:, None], out=np.zeros_like(raw), where=spread[:, None])
    big, mid, small = scaled[:, 0], scaled[:, 1], scaled[:, 2]

    def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
        return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=spread)

    found: dict[str, np.ndarray] = {}
    for name in names:
        if name == "Verticality":
            unary = np.einsum("qij,qj->qi", np.abs(vectors[:, :, ::-1]), scaled)
            found[name] = ratio(unary[:, 2], np.sqrt(np.sum(unary**2, axis=1)))
        elif name == "DemantkeVerticality":
            found[name] = np.where(spread, 1.0 - np.abs(vectors[:, 2, 0]), 0.0)
        elif name != "Density":
            found[name] = {
                "Linearity": lambda: ratio(big - mid, big),
                "Planarity": lambda: ratio(mid - small, big),
                "Scattering": lambda: ratio(small, big),
                "Anisotropy": lambda: ratio(big - small, big),
                "SurfaceVariation": lambda: ratio(small, total),
                "Omnivariance": lambda: np.where(spread, np.cbrt(big * mid * small), 0.0),
                "Eigenentropy": lambda: np.where(spread, _entropy(scaled), 0.0),
                "EigenvalueSum": lambda: np.where(spread, total, 0.0),
            }[name]()
    return found


def pdal_features(
    xyz: np.ndarray,
    *,
    names: Sequence[str],
    mode: str,
    radius: float | None = None,
    k: int | None = None,
    optimize: bool = False,
    optimal_k: Sequence[int] = OPTIMAL_K,
    queries: np.ndarray | None = None,
    ids: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """PDAL's covariance features of some points.

    Args:
        xyz: ``(n, 3)`` the points searched.
        names: features wanted, among :data:`PDAL_FEATURES`.
        mode: one of :data:`MODES`.
        radius: the neighbourhood is every point within it (give radius or k, unless optimize).
        k: the neighbourhood is the k nearest points (the point itself first).
        optimize: the neighbourhood is the optimal one (radius and k unused).
        optimal_k: ``(min_k, max_k)`` of the optimal neighbourhood (optimize, Density).
        queries: rows of ``xyz`` whose features are wanted (None: all).
        ids: the points' ids in the cloud, to order tied neighbours (None: row numbers).

    Returns:
        ``(features (q, len(names)) float64, reach (q,))``: the distance each value depends on.

    Raises:
        ValueError: an unknown name or mode; no neighbourhood.

    Example:
        >>> box = np.array([[x, y, z] for x in (0.0, 1) for y in (0.0, 2) for z in (0.0, 3)])  # variances 2/7, 8/7, 18/7
        >>> pdal_features(box, names=["EigenvalueSum", "Verticality"], mode="Raw", k=8)[0][0].round(6).tolist()
        [4.0, 0.909137]
    """
    unknown = [name for name in names if name not in PDAL_FEATURES]
    if unknown or mode not in MODES:
        raise ValueError(
            f"pdal_features: unknown {noun(len(unknown), 'feature')} {unknown} or mode {mode!r}; expected {PDAL_FEATURES}, {MODES}"
        )
    if not optimize and (radius is None) == (k is None):
        raise ValueError(f"pdal_features: give exactly one of radius and k, or optimize; got radius={radius}, k={k}")
    xyz = np.asarray(xyz, dtype=np.float64)
    queries = np.arange(len(xyz)) if queries is None else np.asarray(queries)
    ids = np.arange(len(xyz)) if ids is None else np.asarray(ids)
    out, reach = np.zeros((len(queries), len(names))), np.zeros(len(queries))
    if optimize or "Density" in names:
        tree, (min_k, max_k) = point_tree(xyz), optimal_k
        for start in range(0, len(queries), _CHUNK):
            rows = slice(start, start + _CHUNK)
            k_opt, r_opt, covariance, reach[rows] = optimal_neighbourhood(
                xyz, xyz[queries[rows]], ids=ids, min_k=min_k, max_k=max_k, tree=tree
            )
            if "Density" in names:
                volume = (4.0 / 3.0) * PDAL_PI * r_opt**3
                density = np.divide(k_opt + 1.0, volume, out=np.zeros_like(volume), where=r_opt > 0)
                out[rows, list(names).index("Density")] = density
            if optimize:
                found = _features(*eigenvectors(covariance), names, mode)
                out[rows] = np.column_stack([found.get(name, out[rows, i]) for i, name in enumerate(names)])
    if not optimize:
        chunks = neighbourhood_covariances(
            xyz, radius=radius, k=k, queries=queries, ids=ids, what="covariance features"
        )
        for rows, covariance, counts, spans in chunks:
            found = _features(*eigenvectors(_unbiased(covariance, counts)), names, mode)
            out[rows] = np.column_stack([found.get(name, out[rows, i]) for i, name in enumerate(names)])
            reach[rows] = np.maximum(reach[rows], spans)
    return out, reach
