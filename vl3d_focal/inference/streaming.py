"""Streamed prediction of a cloud that is never read whole (issue 6, big clouds).

A cloud read lazily (only its header, see :mod:`vl3d_focal.runner.inputs`) is predicted in
square xy tiles without ever holding a per-point array of the whole cloud:

1. one chunked pass over the file (:func:`vl3d_focal.io.chunks.iter_chunks`) checks the
   coordinates and finds their bounds;
2. a second pass writes every point (index, xyz, raw features) to an on-disk bucket of its
   tile, in file order, and counts the points of each (tile, file chunk) pair
   (:mod:`vl3d_focal.inference.tile_buckets`); features that depend on a neighbourhood (height
   above ground, shape features) are then computed tile by tile with a margin, to the values
   of the whole cloud (:mod:`vl3d_focal.inference.tile_features`), and the model's imputers
   applied (:mod:`vl3d_focal.inference.tile_imputation`);
3. each tile is then loaded with a margin (the neighbouring buckets' points within
   :func:`tile_margin` of the tile), and the field centres, fields, predictions and propagated
   probabilities of the tile's own points are computed exactly as the whole-cloud path
   computes them (same grid cells and cell means, same uncovered points, same fields); a first
   sweep over the tiles finds the lowest uncovered point, which the whole-cloud path uses as the
   origin of its fine grid (:mod:`vl3d_focal.inference.tile_centres`);
4. the tile's classes and probabilities go to an on-disk result file; eval and the writer read
   them back chunk by chunk, in file order (:meth:`StreamedPredictions.iter_chunks`); with
   ``pre_processing.receptive_fields_dir``, each tile writes the clouds of the fields it owns
   (:mod:`vl3d_focal.inference.tile_field_clouds`).

The tiles of steps 2 and 3 run several at once (:func:`~vl3d_focal.data.parallel.ordered_map`),
with the same result to the bit as one after the other; memory grows with the threads, not the tiles.

The buckets and results live in a hidden folder of the cloud's output folder, whose free space
is checked first; the folders that killed runs left there are deleted.

With a buffer (points of neighbouring clouds, :class:`~vl3d_focal.inference.tile_buckets.BufferPoints`)
the buffer's points are bucketed after the cloud's, give their context to every step (features,
terrain, fields, propagation) and are never written; with a survey ``origin`` the field and
terrain grids are anchored there, so that a tile predicted with enough buffer gets the fields
the whole survey predicted at once would have.

The result equals the one-shot path's up to the order of the float32 propagation sums
(probabilities within 1e-6, identical classes but for exact ties). A point in no field takes
its nearest covered point's probabilities (of equidistant ones, the lowest point index, as in
memory: :func:`~vl3d_focal.data.point_tree.nearest_points`), searched within one field radius beyond its tile;
when the nearest found is farther than that, the whole cloud's nearest covered point is searched
in the tiles within that distance once every tile is predicted.

Example:
    >>> result = predict_streamed(record, bundle, chunk_points=500)
    >>> record.loaded, sum(len(classes) for start, points, classes, probabilities in result.iter_chunks())
    (False, 1531)
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.data.miners import mined_names, smoothing_inputs
from vl3d_focal.data.normalization import sample_stride
from vl3d_focal.data.parallel import ordered_map
from vl3d_focal.data.point_tree import nearest_points
from vl3d_focal.errors import DataError
from vl3d_focal.inference.tile_buckets import (
    BufferPoints,
    StreamedPredictions,
    TileGrid,
    bucket_dtype,
    check_tile_space,
    cloud_bounds,
    load_tile,
    result_dtype,
    sample_buckets,
    write_buckets,
)
from vl3d_focal.inference.tile_centres import TileCentres, centres_file, lowest_uncovered
from vl3d_focal.inference.tile_features import fill_neighbourhood_features
from vl3d_focal.inference.tile_field_clouds import StreamedFieldClouds, streamed_field_clouds
from vl3d_focal.inference.tile_fields import TileFields
from vl3d_focal.inference.tile_geometry import SLACK, anchored, inside, tile_margin, with_buffer
from vl3d_focal.inference.tile_imputation import impute_buckets

logger = logging.getLogger(__name__)

STREAMED_LOG = "%s: streamed prediction of %d points (and %d of its buffer) in %d tiles, %d fields (%.1f s)"
"""The log line of a cloud predicted tile by tile; args: its name, points, buffer points, tiles,
fields, seconds (the quality benchmark reads the points and seconds)."""


def bucket_columns(bundle: Any) -> list[str]:
    """The feature columns of a streamed cloud's buckets: the model's features (a projection's
    inputs in place of its outputs), then the point-wise features its miners read (smoothed ones,
    HSV's colours) and it does not use itself.

    Example:
        >>> bucket_columns(bundle)  # a model of the intensity alone, without miners
        ['intensity']
    """
    return list(bundle.computed_features) + smoothing_inputs(bundle.computed_features, bundle.miners)


def _model_features(rows: np.ndarray, bundle: Any) -> np.ndarray:
    """The model's features of bucket records (without the smoothing miners' extra inputs)."""
    return rows["feat"][:, : len(bundle.feature_names)]


def _predict_tile(
    result: StreamedPredictions,
    tile: int,
    bundle: Any,
    *,
    origin: np.ndarray,
    fine_origin: np.ndarray | None,
    margin: float,
    statistics: Any,
    clouds: StreamedFieldClouds | None,
) -> tuple[int, list[tuple[int, int, np.ndarray, float]], list[Path]]:
    """Predicts one tile's own points and writes them; returns the number of fields computed
    (those centred within one radius of the tile, and the ring's where its points need them:
    :mod:`vl3d_focal.inference.tile_fields`), the points in no field whose nearest covered
    point may lie beyond the tile's margin (for :func:`_resolve_far`) and the files of the
    fields' clouds it wrote (with ``clouds``)."""
    spec = bundle.field_spec
    rows, own, low, high = load_tile(result, tile, margin=margin, num_features=len(bucket_columns(bundle)))
    xyz = rows["xyz"]
    saved = centres_file(result, tile)
    finder = TileCentres(xyz, low=low, high=high, margin=margin, spec=spec, origin=origin, saved=saved)
    saved.unlink(missing_ok=True)
    centres = finder.centres(xyz, fine_origin=fine_origin)
    centres = centres[inside(centres, low - 2.0 * spec.radius, high + 2.0 * spec.radius, 0.0)]
    inner = inside(centres, low - SLACK * spec.radius, high + SLACK * spec.radius, 0.0)
    features = _model_features(rows, bundle)
    if features.shape[1]:
        features = np.asarray(bundle.normalizer.transform(features, cloud=statistics), dtype=np.float32)
    fields = TileFields(rows, features, bundle)
    field_probabilities, field_rows = fields.add(centres[inner])
    written = [] if clouds is None else clouds.write_tile(tile, rows, field_probabilities, field_rows, centres[inner])
    del field_probabilities, field_rows
    own_ids = np.flatnonzero(own)
    probabilities, covered, far = fields.own_probabilities(own_ids, low=low, high=high, ring=centres[~inner])
    lonely, beyond = np.flatnonzero(~covered), ~np.isnan(far)
    _write_result(result, tile, probabilities, covered)
    far_points = [(tile, int(row), xyz[own_ids[row]], float(d)) for row, d in zip(lonely[beyond], far[beyond])]
    return fields.count, far_points, written


def _write_result(result: StreamedPredictions, tile: int, probabilities: np.ndarray, covered: np.ndarray) -> None:
    records = np.empty(len(probabilities), dtype=result_dtype(result.num_classes))
    records["prob"] = probabilities
    records["pred"] = np.argmax(probabilities, axis=1)
    records["covered"] = covered
    records.tofile(result.result(tile))


def _predict_tile_points(result: StreamedPredictions, tile: int, bundle: Any, *, statistics: Any) -> None:
    """A tile of a model that predicts each point from its own features (no fields, no margin)."""
    from vl3d_focal.inference.prediction import point_probabilities

    rows = np.fromfile(result.bucket(tile), dtype=bucket_dtype(len(bucket_columns(bundle))))
    probabilities = point_probabilities(bundle, _model_features(rows, bundle), statistics=statistics)
    _write_result(result, tile, probabilities, np.ones(len(rows), dtype=bool))


def _resolve_far(result: StreamedPredictions, unresolved: list, *, num_features: int) -> None:
    """Points in no field whose nearest covered point may lie beyond their tile's margin: the
    nearest covered point of the whole cloud (equidistant ones: the lowest id, as in memory),
    searched within the distance already found."""
    buckets, results = bucket_dtype(num_features), result_dtype(result.num_classes)
    for tile, row, position, distance in unresolved:
        best: tuple[float, int, np.ndarray] | None = None
        for other in result.grid.tiles_over(position[:2] - distance, position[:2] + distance):
            if not result.bucket(other).exists() or not result.result(other).exists():
                continue
            points = np.fromfile(result.bucket(other), dtype=buckets)
            rows = np.fromfile(result.result(other), dtype=results)
            covered = np.flatnonzero(rows["covered"] == 1)
            if covered.size == 0:
                continue
            ids = points["id"][covered]
            gap, pick = nearest_points(points["xyz"][covered], position[None, :], ids=ids)
            found = (float(gap[0]), int(ids[pick[0]]), rows["prob"][covered[pick[0]]])
            if best is None or found[:2] < best[:2]:
                best = found
        if best is not None:  # the tile's own nearest is among those searched: as near or nearer
            rows = np.fromfile(result.result(tile), dtype=results)
            rows["prob"][row] = best[2]
            rows["pred"][row] = np.argmax(best[2])
            rows.tofile(result.result(tile))
    if unresolved:
        logger.info(
            "%s: %d points in no field took a covered point beyond their tile's margin",
            result.path.name,
            len(unresolved),
        )


def predict_streamed(
    record: Any,
    bundle: Any,
    *,
    chunk_points: int,
    buffer: Sequence[BufferPoints] = (),
    origin: np.ndarray | None = None,
) -> StreamedPredictions:
    """Predicts a lazily read cloud tile by tile (see the module docstring).

    Args:
        record: a :class:`~vl3d_focal.data.records.CloudRecord` whose cloud is not loaded.
        bundle: the model and what it needs.
        chunk_points: points per file chunk and about per tile.
        buffer: points of neighbouring clouds, context only.
        origin: anchor of the field and terrain grids (a survey's lowest coordinates, at most
            the cloud's and its buffer's); None: the cloud's own lowest coordinates.

    Returns:
        The on-disk predictions of the cloud's own points (:meth:`StreamedPredictions.iter_chunks`).

    Example:
        >>> from vl3d_focal.inference.prediction import cloud_probabilities
        >>> result = predict_streamed(record, bundle, chunk_points=500)
        >>> streamed = np.concatenate([probabilities for *_, probabilities in result.iter_chunks()])
        >>> bool(np.allclose(streamed, cloud_probabilities(record, bundle, chunk_points=None)[0], atol=1e-5))
        True
    """
    from vl3d_focal.data.terrain import GROUND_CELL_M
    from vl3d_focal.inference.prediction import check_features

    if not bundle.learns_from_points and bundle.field_spec.support_strategy != "grid":
        raise DataError(
            f"{record.path}: pre_processing.support_strategy {bundle.field_spec.support_strategy!r} needs the whole "
            f"cloud, but this cloud is streamed (more than chunk_points={chunk_points} points, not trained on); "
            "set the predict step's chunk_points to null to predict it in memory, or train with support_strategy 'grid'"
        )
    start = time.perf_counter()
    low, high, own_total = cloud_bounds(record.path, chunk_points=chunk_points)
    low, high, extra = with_buffer(low, high, buffer)
    total = own_total + extra
    given, origin = origin, low if origin is None else np.minimum(np.asarray(origin, dtype=np.float64), low)
    margin = 0.0 if bundle.learns_from_points else tile_margin(bundle.field_spec)
    extent = np.maximum(high[:2] - low[:2], 1e-9)
    side = max(math.sqrt(float(extent[0] * extent[1]) * chunk_points / total), margin, 1e-6)
    cells = np.floor(extent / side).astype(np.int64) + 1
    shape = (int(cells[0]), int(cells[1]))
    parent = Path(os.path.dirname(record.prefix) or ".")  # the cloud's output folder
    parent.mkdir(parents=True, exist_ok=True)
    columns = bucket_columns(bundle)
    check_tile_space(
        parent, path=record.path, num_points=total, num_features=len(columns), num_classes=bundle.num_classes
    )
    result = StreamedPredictions(
        path=record.path,
        grid=TileGrid(origin=low[:2], side=side, shape=shape),
        chunk_points=chunk_points,
        num_classes=bundle.num_classes,
        parent=parent,
        buffer=buffer,
    )
    write_buckets(result, feature_names=columns, mined=mined_names(bundle.miners), imputed=bool(bundle.imputers))
    clouds = streamed_field_clouds(result, record=record, bundle=bundle)  # each field's cloud, tile by tile
    tiles = [int(t) for t in np.flatnonzero(result.counts.sum(axis=1))]
    fill_neighbourhood_features(
        result,
        feature_names=columns,
        tiles=tiles,
        bounds=(anchored(low, origin, GROUND_CELL_M), high),
        miners=bundle.miners,
    )
    nb, computed = len(bundle.feature_names), len(bundle.computed_features)
    left_out = impute_buckets(
        result, tiles=tiles, columns=columns, imputers=bundle.imputers, num_model=computed, projection=bundle.projection
    )
    fields, own_tiles, tiles = 0, left_out.remaining(result.own_tiles), left_out.remaining(tiles)
    origin = origin if given is not None or left_out.low is None else left_out.low  # the kept points' grid
    unresolved: list[tuple[int, int, np.ndarray, float]] = []
    statistics = None
    if bundle.feature_names:  # the cloud's own sample: per-cloud scaling and the check against the training data
        sample = sample_buckets(
            result, tiles=own_tiles, num_features=len(columns), stride=sample_stride(own_total - left_out.count)
        )
        sample = sample[:, :nb]
        check_features(record, bundle, sample)
        statistics = bundle.normalizer.cloud_statistics(sample)
    if bundle.learns_from_points:
        for tile in own_tiles:
            _predict_tile_points(result, tile, bundle, statistics=statistics)
    else:
        fine_origin, boxes = lowest_uncovered(
            result, tiles=tiles, spec=bundle.field_spec, origin=origin, margin=margin, num_features=len(columns)
        )
        if clouds is not None:
            clouds.boxes = boxes
        predict = functools.partial(
            _predict_tile,
            result,
            bundle=bundle,
            origin=origin,
            fine_origin=fine_origin,
            margin=margin,
            statistics=statistics,
            clouds=clouds,
        )
        predicted = ordered_map(predict, own_tiles)  # two tiles at once on 2 cores
        for number, (count, far, written) in enumerate(predicted, start=1):
            fields += count
            unresolved.extend(far)
            if clouds is not None:
                clouds.collect(written)
            logger.info("%s: tile %d/%d predicted", record.path.name, number, len(own_tiles))
        _resolve_far(result, unresolved, num_features=len(columns))
    left_out.restore(result, num_features=len(columns), record=record)
    for tile in tiles:  # the buckets stay until every tile (and neighbour) is done
        result.bucket(tile).unlink(missing_ok=True)
    if clouds is not None:
        clouds.close()
        logger.info("%s: wrote %d receptive fields to %s", record.path.name, clouds.count, clouds.folder)
    logger.info(STREAMED_LOG, record.path.name, own_total, extra, len(own_tiles), fields, time.perf_counter() - start)
    return result
