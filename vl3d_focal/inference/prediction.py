"""Prediction of a cloud in memory: fields, tiles of a cloud, propagation to points.

The fields of a cloud (or of each tile of a big one, with its neighbours' points) go through
the network (:func:`vl3d_focal.inference.network.field_probabilities`) and their probabilities
are propagated back to every original point (averaged over the fields containing it; points in
no field take their nearest neighbour's).

Example:
    >>> predict_cloud(record, bundle)
    >>> record.result.probabilities.shape == (record.num_points, bundle.num_classes)
    True
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.data.feature_shift import shift_messages, source_messages
from vl3d_focal.data.field_inputs import FieldInputs, cloud_features, field_features, field_inputs
from vl3d_focal.data.miners import mined_names
from vl3d_focal.data.normalization import sample_stride
from vl3d_focal.data.parallel import ordered_map
from vl3d_focal.data.records import CloudRecord, InMemoryPredictions
from vl3d_focal.inference.field_clouds import FIELDS_DIR, FieldClouds
from vl3d_focal.inference.field_outputs import FieldReportTally
from vl3d_focal.inference.network import field_probabilities
from vl3d_focal.models.bundle import ModelBundle

logger = logging.getLogger(__name__)

PREDICTED_LOG = "%s: predicted %d points %s (%.1f s)"
"""The log line of a cloud predicted in memory; args: its name, points, how, seconds (the quality
benchmark reads the points and seconds)."""


def group_by_tile(tiles: np.ndarray) -> list[np.ndarray]:
    """Ids grouped by tile number, tiles in increasing order, ids increasing within a tile.

    Example:
        >>> [g.tolist() for g in group_by_tile(np.array([3, 1, 3, 0]))]
        [[3], [1], [0, 2]]
    """
    order = np.argsort(tiles, kind="stable")
    bounds = np.flatnonzero(np.diff(tiles[order])) + 1
    return [group for group in np.split(order, bounds) if group.size]


def _tiles(xyz: np.ndarray, *, origin: np.ndarray, side: float, shape: tuple[int, int] | None = None) -> np.ndarray:
    cells = np.floor((xyz[:, :2] - origin) / side).astype(np.int64)
    if shape is None:
        shape = (int(cells[:, 0].max()) + 1, int(cells[:, 1].max()) + 1)
    np.clip(cells[:, 0], 0, shape[0] - 1, out=cells[:, 0])
    np.clip(cells[:, 1], 0, shape[1] - 1, out=cells[:, 1])
    return cells[:, 0] * (shape[1] + 2) + cells[:, 1]


class _TiledPoints:
    """The points of a cloud sorted by xy tile, to fetch a tile and its 8 neighbours quickly."""

    def __init__(self, xyz: np.ndarray, *, origin: np.ndarray, side: float) -> None:
        self.origin, self.side = origin, side
        high = np.floor((xyz[:, :2].max(axis=0) - origin) / side).astype(np.int64)
        self.shape = (int(high[0]) + 1, int(high[1]) + 1)
        tiles = _tiles(xyz, origin=origin, side=side, shape=self.shape).astype(np.int32)
        self.order = np.argsort(tiles, kind="stable").astype(np.int32 if len(xyz) < 2**31 else np.int64)
        self.bounds = np.searchsorted(tiles[self.order], np.arange((self.shape[0] + 2) * (self.shape[1] + 2) + 1))

    def around(self, tile: int) -> np.ndarray:
        width = self.shape[1] + 2
        row, col = divmod(int(tile), width)
        parts = []
        for r in range(max(row - 1, 0), min(row + 1, self.shape[0] - 1) + 1):
            lo = r * width + max(col - 1, 0)
            hi = r * width + min(col + 1, self.shape[1] - 1)
            parts.append(self.order[self.bounds[lo] : self.bounds[hi + 1]])
        return np.concatenate(parts)


def predict_cloud_blocks(
    record: Any, bundle: ModelBundle, *, chunk_points: int, tally: FieldReportTally | None = None
) -> tuple[np.ndarray, int]:
    """Propagated ``(N, C)`` probabilities of a cloud predicted block by block.

    The field centres are those of the whole cloud (:func:`~vl3d_focal.data.receptive_fields.field_centers`);
    they are grouped by square xy tiles holding about ``chunk_points`` points (side at least 4
    field radii), and each tile's fields are built from the points of the tile and its
    neighbours within one radius of the fields' centres (in the cloud's order, with their ids in
    the cloud), predicted and added to the propagation sums. Each field is therefore the one
    the whole-cloud path builds and predicts, so the result equals :func:`predict_cloud`'s
    one-shot result (up to float rounding of the sums), while the field tensors, features and
    probabilities held at once are those of one tile. ``tally`` counts the fields for the
    receptive-field reports (and writes each block's fields' clouds as they come).

    Returns:
        The probabilities and the number of fields.

    Example:
        >>> probs, fields = predict_cloud_blocks(record, bundle, chunk_points=500)
        >>> probs.shape, bool(np.allclose(probs, cloud_probabilities(record, bundle, chunk_points=None)[0], atol=1e-5))
        ((1531, 5), True)
    """
    from vl3d_focal.data.propagation import PropagationSums
    from vl3d_focal.data.receptive_fields import (
        NEIGHBORHOODS,
        ReceptiveFields,
        field_centers,
        field_coordinates,
        fields_at_centers,
    )

    spec = bundle.field_spec
    assert spec is not None  # a model of receptive fields
    xyz = record.cloud.xyz
    n = len(xyz)
    dims, _ = NEIGHBORHOODS[spec.neighborhood]
    raw = cloud_features(record, feature_names=bundle.feature_names, miners=bundle.miners)
    normalizer = bundle.normalizer if raw.shape[1] else None
    assert normalizer is not None or not raw.shape[1]  # a model with features has their normaliser
    statistics = None if normalizer is None else normalizer.cloud_statistics(raw[:: sample_stride(n)])
    centers = field_centers(xyz, spec)
    origin = xyz[:, :2].min(axis=0)
    extent = np.maximum(xyz[:, :2].max(axis=0) - origin, spec.radius)
    num_blocks = max(1, math.ceil(n / chunk_points))
    side = max(math.sqrt(float(extent[0] * extent[1]) / num_blocks), 4.0 * spec.radius)
    tiled = _TiledPoints(xyz, origin=origin, side=side)
    centre_tiles = _tiles(centers, origin=origin, side=side, shape=tiled.shape)
    blocks = group_by_tile(centre_tiles)
    sums = PropagationSums(num_points_total=n, num_classes=bundle.num_classes)

    def predict_block(block: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        block_centers = centers[block]
        candidates = tiled.around(int(centre_tiles[block[0]]))
        low = block_centers[:, :dims].min(axis=0) - spec.radius
        high = block_centers[:, :dims].max(axis=0) + spec.radius
        near = candidates[np.all((xyz[candidates, :dims] >= low) & (xyz[candidates, :dims] <= high), axis=1)]
        local = np.sort(near)
        local_fields = ReceptiveFields(
            indices=fields_at_centers(xyz[local], block_centers, spec, seed=bundle.random_seed, point_ids=local),
            centers=block_centers,
        )
        indices = local[local_fields.indices]
        coordinates = field_coordinates(xyz, ReceptiveFields(indices=indices, centers=block_centers), spec)
        local_features = raw[local]
        if normalizer is not None:
            local_features = np.asarray(normalizer.transform(local_features, cloud=statistics), dtype=np.float32)
        features = field_features(xyz[local], local_features, local_fields, spec)
        return field_probabilities(bundle, coordinates, features), indices, len(local)

    # blocks at once on two cores or more; their sums in the blocks' order (the same float rounding)
    for number, (block, (probabilities, indices, points)) in enumerate(
        zip(blocks, ordered_map(predict_block, blocks)), start=1
    ):
        sums.add(probabilities, indices)
        if tally is not None:
            tally.add(probabilities, indices, centers[block])
        logger.info(
            "%s: block %d/%d, %d fields over %d points", record.path.name, number, len(blocks), len(block), points
        )
    return sums.finish(xyz=xyz), len(centers)


def point_probabilities(bundle: ModelBundle, raw: np.ndarray, *, statistics: Any) -> np.ndarray:
    """``(n, C)`` probabilities of a model that predicts each point from its own features.

    Args:
        bundle: the model (``learns_from_points``).
        raw: ``(n, F)`` raw features of a cloud, or of a tile of it with ``statistics``.
        statistics: the cloud's per-cloud scaling statistics; None: those of ``raw``.

    Example:
        >>> import dataclasses
        >>> from vl3d_focal.models.forest import ForestModel
        >>> stump = ForestModel(left=[-1], right=[-1], feature=[0], threshold=[0.0], value=[[0.25, 0.75]], roots=[0],
        ...                     num_features=1)
        >>> forest_bundle = dataclasses.replace(bundle, model=stump, field_spec=None, class_names=["a", "b"])
        >>> point_probabilities(forest_bundle, np.zeros((3, 1), dtype="float32"), statistics=None).tolist()[0]
        [0.25, 0.75]
    """
    assert bundle.normalizer is not None  # a model of points learns from their features
    return np.asarray(bundle.model.predict_proba(bundle.normalizer.transform(raw, cloud=statistics)), dtype=np.float32)


def check_features(record: Any, bundle: ModelBundle, sample: np.ndarray) -> None:
    """Warns (in the log, ``record.feature_warnings`` and ``record.warnings``) about the features
    of a cloud far from the model's training data or got another way (read from the file or
    computed, :mod:`vl3d_focal.data.feature_shift`), from the cloud's sample and header.

    Example:
        >>> check_features(record, bundle, np.full((100, 1), 60_000.0, dtype="float32"))  # far brighter than trained on
        >>> len(record.feature_warnings) > 0, record.warnings == record.feature_warnings
        (True, True)
    """
    source = str(record.path)
    record.feature_warnings = [
        *source_messages(bundle.normalizer, record.dimension_names, mined=mined_names(bundle.miners), source=source),
        *shift_messages(bundle.normalizer, sample, source=source),
    ]
    record.warnings.extend(record.feature_warnings)
    for message in record.feature_warnings:
        logger.warning(message)


def model_field_inputs(record: Any, bundle: ModelBundle) -> FieldInputs:
    """The receptive fields of a cloud held in memory as a bundle's model takes them: its field
    spec and seed, its features (mined ones computed) normalised as in training.

    Example:
        >>> model_field_inputs(record, bundle).features.shape[-1] == len(bundle.feature_names)
        True
    """
    return field_inputs(
        record,
        field_spec=bundle.field_spec,
        seed=bundle.random_seed,
        feature_names=bundle.feature_names,
        normalizer=bundle.normalizer,
        miners=bundle.miners,
    )


def bundle_view(record: Any, bundle: ModelBundle) -> CloudRecord:
    """The cloud as a bundle's model sees it (:func:`~vl3d_focal.data.model_view.model_view`): its
    features, mined ones, imputers and projection.

    Example:
        >>> bundle_view(record, bundle) is record  # no imputers nor projection
        True
    """
    from vl3d_focal.data.model_view import model_view

    return model_view(
        record,
        feature_names=bundle.feature_names,
        miners=bundle.miners,
        imputers=bundle.imputers,
        projection=bundle.projection,
    )


def field_clouds(record: Any, bundle: ModelBundle, *, paths: Mapping[str, Path]) -> FieldClouds | None:
    """The writer of a cloud's fields in ``paths[FIELDS_DIR]`` (None where not given), see
    :mod:`~vl3d_focal.inference.field_clouds`.

    Example:
        >>> field_clouds(record, bundle, paths={}) is None
        True
    """
    if not paths.get(FIELDS_DIR):
        return None
    return FieldClouds(
        paths[FIELDS_DIR], las=record.cloud.las, class_names=list(bundle.class_names), mapping=bundle.mapping
    )


def cloud_probabilities(record: Any, bundle: ModelBundle, *, chunk_points: int | None) -> tuple[np.ndarray, int]:
    """``(N, C)`` propagated probabilities of every point of a cloud held in memory, and the number
    of fields (0 for a model that predicts each point from its features); a cloud of more than
    ``chunk_points`` points is predicted tile by tile (same result), a smaller one in one go,
    reusing the fields training built. Checks the cloud's features against the training data
    (:func:`check_features`) and writes the model's prediction-time receptive-field reports
    (:mod:`~vl3d_focal.inference.field_outputs`), the fields' own clouds among them, each block's
    fields as they come.

    Example:
        >>> probabilities, fields = cloud_probabilities(record, bundle, chunk_points=None)
        >>> probabilities.shape, fields > 0, bool(np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5))
        ((1531, 5), True, True)
    """
    from vl3d_focal.data.model_view import ModelView
    from vl3d_focal.data.propagation import propagate

    view = bundle_view(record, bundle)
    if view is not record and isinstance(view, ModelView):  # imputed features; left-out points: the nearest kept one's
        probabilities, num_fields = cloud_probabilities(view, bundle, chunk_points=chunk_points)
        return view.all_points(probabilities), num_fields
    raw = cloud_features(record, feature_names=bundle.feature_names, miners=bundle.miners)
    check_features(record, bundle, raw[:: sample_stride(len(raw))])
    if bundle.learns_from_points:
        return point_probabilities(bundle, raw, statistics=None), 0
    paths = bundle.field_reports(record.prefix) if bundle.field_reports is not None else {}
    tally = (
        FieldReportTally(
            num_classes=bundle.num_classes, labels=record.labels, clouds=field_clouds(record, bundle, paths=paths)
        )
        if paths
        else None
    )
    if chunk_points is not None and record.num_points > chunk_points:
        probabilities, num_fields = predict_cloud_blocks(record, bundle, chunk_points=int(chunk_points), tally=tally)
    else:
        inputs = model_field_inputs(record, bundle)
        field_probs = field_probabilities(bundle, *inputs.as_inputs())
        if tally is not None:
            tally.add(field_probs, inputs.indices, inputs.fields.centers)
        probabilities = propagate(field_probs, inputs.fields, record.num_points, xyz=record.cloud.xyz)
        num_fields = len(inputs.coordinates)
        del inputs, field_probs
    if tally is not None:
        tally.write(paths, class_names=list(bundle.class_names), template=record.cloud)
    return probabilities, num_fields


def predict_cloud(record: Any, bundle: ModelBundle, *, chunk_points: int | None = None) -> None:
    """Predicts class probabilities and classes of every point of one cloud.

    Sets ``record.result`` (:class:`~vl3d_focal.data.records.InMemoryPredictions`), see
    :func:`cloud_probabilities`.

    Example:
        >>> predict_cloud(state.clouds[0], state.bundle)
        >>> state.clouds[0].result.classes.shape
        (1531,)
    """
    start = time.perf_counter()
    probabilities, num_fields = cloud_probabilities(record, bundle, chunk_points=chunk_points)
    record.result = InMemoryPredictions(record.cloud, probabilities)
    logger.info(
        PREDICTED_LOG,
        record.path.name,
        record.num_points,
        "point-wise (a model without receptive fields)" if bundle.learns_from_points else f"from {num_fields} fields",
        time.perf_counter() - start,
    )
