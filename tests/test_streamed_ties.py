"""A streamed cloud's points in no field take the same nearest covered point as in memory, even
among equidistant ones (quantised LiDAR coordinates make such ties common): the lowest point id."""

from __future__ import annotations

import dataclasses

import laspy
import numpy as np
from helpers import random_bundle

from vl3d_focal.data.imputers import REMOVAL, Imputer
from vl3d_focal.data.point_tree import nearest_points
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.inference.prediction import cloud_probabilities
from vl3d_focal.inference.streaming import predict_streamed
from vl3d_focal.io.las import read_cloud
from vl3d_focal.runner.inputs import read_inputs
from vl3d_focal.steps.predict import predict_clouds


def _lattice(path, *, side: int = 64, spacing: float = 0.5) -> None:
    """A flat square lattice (every point has equidistant neighbours), random intensities, and
    an extra ``score`` that is NaN on every other point of every other line (each such point
    has four equidistant points holding a score)."""
    gx, gy = np.meshgrid(np.arange(side) * spacing, np.arange(side) * spacing, indexing="ij")
    las = laspy.LasData(laspy.LasHeader(point_format=3, version="1.2"))
    las.header.scales, las.header.offsets = np.array([0.01, 0.01, 0.01]), np.zeros(3)
    las.x, las.y, las.z = gx.ravel(), gy.ravel(), np.zeros(side * side)
    las.intensity = np.random.default_rng(0).integers(0, 1000, side * side).astype(np.uint16)
    las.classification = np.full(side * side, 2, dtype=np.uint8)
    las.add_extra_dim(laspy.ExtraBytesParams(name="score", type=np.float32))
    i, j = np.divmod(np.arange(side * side), side)
    las.score = np.where((i % 2 == 0) & (j % 2 == 0), np.nan, 1.0).astype(np.float32)
    las.write(path)


def test_equidistant_points_resolve_to_the_lowest_id_whatever_the_subset():
    points = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0], [3.0, 0, 0]])
    query = np.zeros((1, 3))
    for order in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [2, 4, 1, 0, 3, 5]):
        distance, row = nearest_points(points[order], query, ids=np.asarray(order))
        assert (distance.tolist(), order[int(row[0])]) == ([1.0], 0)
    distance, row = nearest_points(points[[4, 2, 5]], query)  # no ids: the lowest row
    assert (distance.tolist(), row.tolist()) == ([1.0], [0])
    many = np.repeat(points[:1], 9, axis=0)  # more tied points than the tree's first candidates
    assert nearest_points(many, query, ids=np.arange(9)[::-1])[1].tolist() == [8]


def test_streamed_points_in_no_field_match_the_one_shot_path_on_ties(tmp_path):
    path = tmp_path / "lattice.las"
    _lattice(path)
    bundle = random_bundle(fnames=["intensity"], num_points=8)
    results = {}
    for name, chunk_points in (("whole", None), ("streamed", 800)):
        state = read_inputs(inputs=[path], prefixes=[str(tmp_path / f"{name}_")])
        state.bundle = bundle
        if chunk_points is None:
            state.clouds[0].cloud  # noqa: B018 - read in memory: the one-shot path
        predict_clouds({"chunk_points": chunk_points, "buffer": None}, state, bundle)
        record = state.clouds[0]
        if chunk_points is None:
            results[name] = record.result.probabilities, record.fields_cache[next(iter(record.fields_cache))]
        else:
            assert record.streamed
            results[name] = np.concatenate([p[3] for p in record.result.iter_chunks()]), None
            record.result.close()
    (whole, fields), (streamed, _) = results["whole"], results["streamed"]
    covered = fields.covered_mask(len(whole))
    assert 0.2 < covered.mean() < 0.8  # many points in no field, each among equidistant covered ones
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-6)


def test_streamed_points_left_out_take_the_one_shot_path_s_equidistant_kept_point(tmp_path):
    path = tmp_path / "lattice.las"
    _lattice(path)
    bundle = dataclasses.replace(random_bundle(fnames=["intensity", "score"]), imputers=(Imputer(REMOVAL, ("score",)),))
    memory = CloudRecord(path=path, cloud=read_cloud(path), prefix=f"{tmp_path}/")
    whole, _ = cloud_probabilities(memory, bundle, chunk_points=None)
    lazy = CloudRecord(path=path, prefix=f"{tmp_path}/", num_points=len(whole))
    streamed = np.concatenate([p for *_, p in predict_streamed(lazy, bundle, chunk_points=800).iter_chunks()])
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-6)
