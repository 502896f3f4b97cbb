"""Neighbourhood features of a streamed cloud, computed tile by tile.

:func:`~vl3d_focal.inference.tile_buckets.write_buckets` leaves 0 in the columns of the features
that depend on a point's neighbourhood (:data:`~vl3d_focal.data.feature_names.NEIGHBOURHOOD_FEATURE_NAMES`).
:func:`fill_neighbourhood_features` fills them with the values the whole-cloud
:func:`~vl3d_focal.data.features.extract_features` gives, holding one tile (and a margin) at a time:

* ``height_above_ground``: the terrain grid comes from passes over the buckets
  (:func:`~vl3d_focal.data.terrain.terrain_surface`, one block per tile; the neighbour counts of
  the low-noise test come from the tile and the points within ``ISOLATED_RADIUS_M`` of it);
  only the grid (one float per 2 m cell) is held whole.
* shape features: each tile's points get their neighbours among the tile and the points within
  :data:`SHAPE_MARGIN_M` of it; when a point's k-th neighbour is farther than the edge of what
  was loaded, the tile is loaded again with a margin that reaches it.
* mined features (:mod:`vl3d_focal.data.miners`): likewise, the first margin being the reach the
  recipe declares (its radius; the support cell too for height features), for k neighbours
  :data:`SHAPE_MARGIN_M` widened as needed. Neighbours at equal
  distances are ordered by point index (:func:`~vl3d_focal.data.eigen_features.nearest_in_order`),
  as in the whole cloud, so the values are the same. HSV features (point-wise) come from the
  tile's own points alone, their colours first divided by the
  :func:`~vl3d_focal.data.hsv_features.colour_scale` of all the cloud's colours (a pass over the
  buckets; a buffer's points by that of their own file's points read), as the whole cloud's are.
  A smoothing of mined features (:mod:`vl3d_focal.data.mined_chain`) loads the margins of its
  chain added up (:func:`~vl3d_focal.data.mined_chain.chain_reach`) and computes the mined
  inputs from the loaded points, at the points within its radius of the tile's own only.

Example:
    >>> from vl3d_focal.data.features import extract_features
    >>> from vl3d_focal.inference.tile_buckets import write_buckets, sample_buckets
    >>> write_buckets(streamed, feature_names=["height_above_ground"])
    >>> fill_neighbourhood_features(streamed, feature_names=["height_above_ground"], tiles=streamed.own_tiles,
    ...                             bounds=bounds)
    >>> tiled = sample_buckets(streamed, tiles=streamed.own_tiles, num_features=1, stride=1)[:, 0]
    >>> bool(np.allclose(np.sort(tiled), np.sort(extract_features(cloud, ["height_above_ground"])[:, 0]), atol=1e-4))
    True
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from vl3d_focal.data.eigen_features import log_isolated_points
from vl3d_focal.data.feature_names import COLOUR_DIMENSIONS, neighbourhood_computed
from vl3d_focal.data.features import SHAPE_FEATURES, SHAPE_NEIGHBOURS, neighbour_shapes
from vl3d_focal.data.mined_chain import chain_reach, compute_chain
from vl3d_focal.data.miners import MinedFeatures, cloud_inputs, compute_mined, recipes_for
from vl3d_focal.data.parallel import ordered_map
from vl3d_focal.data.terrain import PointBlock, TerrainGrid, count_neighbours, terrain_surface
from vl3d_focal.errors import DataError
from vl3d_focal.inference.tile_buckets import StreamedPredictions, bucket_dtype, load_tile
from vl3d_focal.io.chunks import read_header
from vl3d_focal.io.las import las_dimensions

logger = logging.getLogger(__name__)

SHAPE_MARGIN_M = 2.0
"""First margin loaded around a tile for the shape features' neighbours (widened when short)."""


def _reach_margin(radius: float) -> float:
    """A margin that surely holds every point within ``radius`` (rounding of the box included)."""
    return radius * (1.0 + 1e-9) + 1e-9


def _tile_blocks(result: StreamedPredictions, tiles: Sequence[int], *, num_features: int) -> Iterator[PointBlock]:
    """One :class:`PointBlock` per tile, its neighbour counts from the tile and a margin."""
    dtype = bucket_dtype(num_features)
    for tile in tiles:
        core = np.fromfile(result.bucket(tile), dtype=dtype)

        def count_within(query: np.ndarray, radius: float, tile: int = tile) -> np.ndarray:
            rows, *_ = load_tile(result, tile, margin=_reach_margin(radius), num_features=num_features)
            return count_neighbours(rows["xyz"], query, radius)

        yield PointBlock(ids=core["id"], xyz=core["xyz"], count_within=count_within)


Compute = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(rows, queries) -> (values (q, width), reach (q,))``: features of the query rows (of bucket
records: id, xyz, feat) and the distance (in x and y) each value depends on."""


def _tile_values(
    result: StreamedPredictions, tile: int, *, num_features: int, width: int, compute: Compute, margin: float
) -> np.ndarray:
    """Features of a tile's own points (in bucket order), exact for every point: the points whose
    reach lies beyond what was loaded are computed again, alone, with a margin that reaches it."""
    values: np.ndarray | None = None
    pending = np.arange(0)  # the rows still to compute: all of them, from the first load
    while True:
        rows, own, low, high = load_tile(result, tile, margin=margin, num_features=num_features)
        mine = np.flatnonzero(own)
        if values is None:
            values, pending = np.empty((len(mine), width)), np.arange(len(mine))
        found, reach = compute(rows, mine[pending])
        values[pending] = found
        xy = rows["xyz"][mine[pending], :2]
        room = np.minimum(xy - (low - margin), (high + margin) - xy).min(axis=1)
        short = reach > room
        if len(rows) < min(SHAPE_NEIGHBOURS, result.num_points):
            short[:] = True
        if not short.any() or len(rows) >= result.num_points:
            return values
        pending = pending[short]
        margin = max(2.0 * margin, _reach_margin(float(reach[short].max())))
        logger.debug(
            "%s: tile %d: %d points need neighbours beyond the margin, loading %.1f m",
            result.path.name,
            tile,
            len(pending),
            margin,
        )


def _shapes(rows: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return neighbour_shapes(rows["xyz"], queries=queries, ids=rows["id"])


def _mined(
    recipe: MinedFeatures,
    names: list[str],
    columns: list[str],
    *,
    miners: Sequence[MinedFeatures],
    scales: tuple[np.ndarray, np.ndarray] | None,
    isolated: set[int],
) -> Compute:
    """The recipe's ``names`` from bucket records whose feature columns are ``columns`` (the
    point-wise inputs of a smoothing recipe, and of the mined features it smooths, among them:
    those mined features are computed from the loaded points, :func:`compute_chain`); ``isolated``
    gets the ids of the points without neighbour, as :func:`compute_chain`'s (over the tiles of a
    cloud: a point computed again with a wider margin is counted once)."""
    reads = cloud_inputs(names, miners)
    scales = scales if any(r.kind.reads_colours for r in recipes_for(names, miners)) else None

    def compute(rows: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inputs = {name: rows["feat"][:, columns.index(name)] for name in reads}
        colours = None if scales is None else _scaled_colours(rows, columns, scales)
        return compute_chain(
            recipe,
            rows["xyz"],
            names=names,
            miners=miners,
            columns=inputs,
            queries=queries,
            ids=rows["id"],
            colours=colours,
            isolated=isolated,
        )

    return compute


def _colour_scales(
    result: StreamedPredictions, names: list[str], tiles: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """``(first id, colour scale)`` of each file whose points are bucketed: the cloud's, then
    each buffer part's, its scale from the lowest and highest of its bucketed colours."""
    from vl3d_focal.data.hsv_features import colour_scale

    own = int(result.counts[:, : result.counts.shape[1] - result.buffer_chunks].sum())
    starts = np.cumsum([0, own, *(len(part) for part in result.buffer)])[:-1]
    low, high = np.full(len(starts), np.inf), np.full(len(starts), -np.inf)
    columns = [names.index(name) for name in COLOUR_DIMENSIONS]
    for tile in tiles:
        rows = np.fromfile(result.bucket(tile), dtype=bucket_dtype(len(names)))
        part, colours = np.searchsorted(starts, rows["id"], side="right") - 1, rows["feat"][:, columns]
        np.minimum.at(low, part, colours.min(axis=1))
        np.maximum.at(high, part, colours.max(axis=1))
    scales = [colour_scale(a, b) if np.isfinite(b) else 1.0 for a, b in zip(low, high)]
    return starts, np.asarray(scales)


def _scaled_colours(rows: np.ndarray, names: list[str], scales: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """The colours of bucket records, divided by their file's colour scale (:func:`_colour_scales`)."""
    starts, by_part = scales
    divisor = by_part[np.searchsorted(starts, rows["id"], side="right") - 1]
    return {name: rows["feat"][:, names.index(name)] / divisor for name in COLOUR_DIMENSIONS}


def fill_neighbourhood_features(
    result: StreamedPredictions,
    *,
    feature_names: Sequence[str],
    tiles: Sequence[int],
    bounds: tuple[np.ndarray, np.ndarray],
    miners: Sequence[MinedFeatures] = (),
) -> None:
    """Writes the neighbourhood features of every bucketed point into its bucket.

    Args:
        result: the streamed cloud's buckets (written by ``write_buckets``).
        feature_names: the bucket's feature columns, in order.
        tiles: the tiles holding points.
        bounds: the lowest and highest coordinates of the cloud (``cloud_bounds``).
        miners: the recipes of the mined features among ``feature_names``.

    Raises:
        DataError: a computed feature is not finite.

    Example:
        >>> from vl3d_focal.data.features import extract_features
    >>> from vl3d_focal.inference.tile_buckets import write_buckets, sample_buckets
        >>> write_buckets(streamed, feature_names=["intensity", "planarity"])
        >>> fill_neighbourhood_features(streamed, feature_names=["intensity", "planarity"], tiles=streamed.own_tiles,
        ...                             bounds=bounds)
        >>> bool(sample_buckets(streamed, tiles=streamed.own_tiles, num_features=2, stride=1)[:, 1].any())
        True
    """
    names = list(feature_names)
    recipes = recipes_for(names, miners)
    mined = {name: recipe for recipe in recipes for name in recipe.names if name in names}
    computed = set(neighbourhood_computed(names, mined=mined, stored=las_dimensions(read_header(result.path))))
    columns = [j for j, name in enumerate(names) if name in computed]
    if not columns:
        return
    smoothing_computed = [name for name in cloud_inputs(names, miners) if name in computed]
    if smoothing_computed:  # the tiles run at once: a neighbour's computed columns may be half written
        raise DataError(f"smoothing inputs must be point-wise features, not computed ones: {smoothing_computed}")
    start, dtype = time.perf_counter(), bucket_dtype(len(names))
    ground: tuple[TerrainGrid, np.ndarray] | None = None  # the terrain grid and its surface
    if "height_above_ground" in computed and "height_above_ground" not in mined:
        grid = TerrainGrid.covering(bounds[0], bounds[1])
        ground = grid, terrain_surface(lambda: _tile_blocks(result, tiles, num_features=len(names)), grid)
    scales = _colour_scales(result, names, tiles) if any(r.kind.reads_colours for r in recipes) else None
    isolated: list[set[int]] = [set() for _ in recipes]  # per recipe, over the cloud's tiles

    def fill(tile: int) -> None:
        core = np.fromfile(result.bucket(tile), dtype=dtype)
        if any(names[j] in SHAPE_FEATURES and names[j] not in mined for j in columns):
            shapes = _tile_values(
                result, tile, num_features=len(names), width=len(SHAPE_FEATURES), compute=_shapes, margin=SHAPE_MARGIN_M
            )
            for j in columns:
                if names[j] in SHAPE_FEATURES and names[j] not in mined:
                    core["feat"][:, j] = shapes[:, SHAPE_FEATURES.index(names[j])]
        for recipe, alone in zip(recipes, isolated):
            wanted = [name for name in recipe.names if name in mined and mined[name] is recipe]
            if not wanted:  # only smoothed by a later recipe: computed where that one reads it
                continue
            if recipe.kind.reads_colours and scales is not None:  # point-wise: the tile's own points alone
                colours = _scaled_colours(core, names, scales)
                values = compute_mined(recipe, core["xyz"], names=wanted, inputs=colours)[0]
            else:
                values = _tile_values(
                    result,
                    tile,
                    num_features=len(names),
                    width=len(wanted),
                    compute=_mined(recipe, wanted, names, miners=recipes, scales=scales, isolated=alone),
                    margin=_reach_margin(chain_reach(recipe, recipes, unknown=SHAPE_MARGIN_M)),
                )
            for column, name in enumerate(wanted):
                core["feat"][:, names.index(name)] = values[:, column]
        if ground is not None:
            grid, surface = ground
            j = names.index("height_above_ground")
            core["feat"][:, j] = core["xyz"][:, 2] - grid.surface_at(surface, core["xyz"])
        bad = [names[j] for j in columns if not np.isfinite(core["feat"][:, j]).all()]
        if bad:
            raise DataError(
                f"point cloud {result.path}: NaN or infinite feature values ({bad}); expected finite values"
            )
        with open(result.bucket(tile), "r+b") as bucket:  # in place: a neighbour's thread may read its points now
            core.tofile(bucket)

    for number, _ in enumerate(ordered_map(fill, tiles), start=1):  # two tiles at once on 2 cores
        logger.info("%s: neighbourhood features of tile %d/%d", result.path.name, number, len(tiles))
    own = int(result.counts[:, : result.counts.shape[1] - result.buffer_chunks].sum())  # the buffer's ids come after
    for recipe, alone in zip(recipes, isolated):
        log_isolated_points(
            isolated=sum(1 for point in alone if point < own),
            total=own,
            radius=recipe.params.get("radius"),
            cloud=result.path.name,
        )
    logger.info(
        "%s: %s computed tile by tile (%.1f s)",
        result.path.name,
        ", ".join(names[j] for j in columns),
        time.perf_counter() - start,
    )
