"""Mined features of mined features: a ``SmoothFeatures`` recipe that smooths what earlier miners give.

A smoothed value of a point reads its input at every point of its neighbourhood (within
``radius``). When that input is mined by an earlier recipe (:func:`~vl3d_focal.data.miners.input_sources`:
``HSV_H``, ``floor_distance_r50.0_sep0.35``, an earlier smoothing...), :func:`compute_chain`
computes it first, from the same points, at those neighbours only, and so on down the chain. The
value then depends on points as far as the radius plus the farthest reach of the input values it
reads: the margins add up (:func:`chain_reach`), and a tile of a streamed cloud
(:mod:`vl3d_focal.inference.tile_features`) loads what that reach needs, no more.

Example:
    >>> from vl3d_focal.data.miners import MinedFeatures
    >>> height = MinedFeatures("HeightFeatures", ("floor_distance",), ("fd",), {"radius": 2.0,
    ...     "separation_factor": 0.5, "neighborhood": "Rectangular2D", "outlier_filter": None})
    >>> smooth = MinedFeatures("SmoothFeatures", ("mean",), ("fd_mean",), {"radius": 1.0, "neighborhood": "sphere",
    ...     "weighted_mean_omega": 0.0001, "gaussian_rbf_omega": 1.0, "nan_policy": "propagate"}, inputs=("fd",))
    >>> xyz = np.array([[0.0, 0, 0.0], [0.5, 0, 0.5], [5.0, 0, 1.0]])
    >>> values, reach = compute_chain(smooth, xyz, names=["fd_mean"], miners=[height, smooth], columns={})
    >>> values.ravel().tolist(), reach.tolist(), chain_reach(smooth, [height, smooth], unknown=2.0)
    ([0.25, 0.25, 0.0], [3.5, 3.5, 3.5], 3.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from vl3d_focal.data.miners import MinedFeatures, compute_mined, input_sources


def chain_reach(recipe: MinedFeatures, miners: Sequence[MinedFeatures], *, unknown: float) -> float:
    """How far (in each of x and y) the recipe's values may depend on other points, through the
    mined features it smooths: its :attr:`~MinedFeatures.reach` plus the largest chain reach of
    its mined inputs; ``unknown`` stands for the reach of k neighbours (it depends on the density).

    Example:
        >>> from vl3d_focal.data.miners import MinedFeatures
        >>> k = MinedFeatures("GeometricFeatures", ("planarity",), ("p",), {"k": 8})
        >>> s = MinedFeatures("SmoothFeatures", ("mean",), ("p_mean",), {"radius": 1.0}, inputs=("p",))
        >>> chain_reach(s, [k, s], unknown=2.0)
        3.0
    """
    own = unknown if recipe.reach is None else recipe.reach
    inputs = [chain_reach(source, miners, unknown=unknown) for source, _ in _by_recipe(input_sources(recipe, miners))]
    return own + max(inputs, default=0.0)


def _by_recipe(sources: Mapping[str, MinedFeatures]) -> list[tuple[MinedFeatures, list[str]]]:
    """The names of ``sources`` grouped by the recipe giving them."""
    groups: dict[str, tuple[MinedFeatures, list[str]]] = {}
    for name, source in sources.items():
        groups.setdefault(source.key(), (source, []))[1].append(name)
    return list(groups.values())


def compute_chain(
    recipe: MinedFeatures,
    xyz: np.ndarray,
    *,
    names: Sequence[str],
    miners: Sequence[MinedFeatures],
    columns: Mapping[str, np.ndarray],
    queries: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    colours: Mapping[str, np.ndarray] | None = None,
    isolated: set[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~vl3d_focal.data.miners.compute_mined`, the mined inputs of a smoothing computed first.

    Args:
        recipe: the miner's recipe; miners: the pipeline's recipes in order (``recipe`` among
            them), whose earlier ones give its mined inputs.
        xyz: ``(n, 3)`` the points (a cloud, or a tile and its margin).
        names: output names of the recipe to compute.
        columns: values at every row of ``xyz`` of the point-wise features the chain reads
            (:func:`~vl3d_focal.data.miners.cloud_inputs`), and of mined ones already computed
            there (used as they are).
        queries: rows of ``xyz`` whose features are wanted (None: all).
        ids: the points' ids in the cloud (ties of k neighbours; None: row numbers).
        colours: the colours an ``HSVFromRGB`` recipe reads, when not those of ``columns``
            (a tile's colours divided by their cloud's colour scale).
        isolated: :func:`~vl3d_focal.data.miners.compute_mined`'s (a GeometricFeatures recipe
            reads no mined input).

    Returns:
        ``(values (q, len(names)), reach (q,))``: the reach of a smoothed value is its radius plus
        the largest reach of the input values it read.

    Raises:
        DataError: a value that is not finite; an input missing.
    """
    if recipe.kind.reads_colours and colours is not None:
        return compute_mined(recipe, xyz, names=names, queries=queries, ids=ids, inputs=colours)
    inputs = {name: columns[name] for name in dict.fromkeys(recipe.inputs) if name in columns}
    read = {recipe.inputs[recipe.names.index(name)] for name in names} if recipe.kind.smooths else set()
    pending = {name: source for name, source in input_sources(recipe, miners).items() if name in read - set(columns)}
    if not pending:
        return compute_mined(recipe, xyz, names=names, queries=queries, ids=ids, inputs=inputs, isolated=isolated)
    from vl3d_focal.data.smooth_features import neighbourhood_max, neighbourhood_rows

    radius, hood = float(recipe.params["radius"]), str(recipe.params["neighborhood"])
    # the only rows whose inputs are read (every row when every row is a query: each is its own neighbour)
    support = (
        np.arange(len(xyz))
        if queries is None
        else neighbourhood_rows(xyz, radius=radius, neighborhood=hood, queries=queries)
    )
    input_reach = np.zeros(len(xyz))
    for source, wanted in _by_recipe(pending):
        values, reach = compute_chain(
            source, xyz, names=wanted, miners=miners, columns=columns, queries=support, ids=ids, colours=colours
        )
        for column, name in enumerate(wanted):
            inputs[name] = np.full(len(xyz), np.nan)
            inputs[name][support] = values[:, column]
        input_reach[support] = np.maximum(input_reach[support], reach)
    values, reach = compute_mined(recipe, xyz, names=names, queries=queries, ids=ids, inputs=inputs)
    read_reach = input_reach[support]
    if len(read_reach) and np.ptp(read_reach) > 0:  # k neighbours: each query's own neighbours' reach
        return values, reach + neighbourhood_max(xyz, input_reach, radius=radius, neighborhood=hood, queries=queries)
    return values, reach + (read_reach[0] if len(read_reach) else 0.0)
