"""GeometricFeatures of a radius: the points with no other point within it get 0 here (VL3D: NaN);
the miner logs their count once per cloud, in memory and tile by tile alike, and once per run
(not again when the cloud's features are computed again, for its evaluation or prediction)."""

from __future__ import annotations

import laspy
import numpy as np
import pytest
from helpers import streamed_features

from vl3d_focal.data.eigen_features import forget_isolated_points
from vl3d_focal.data.features import extract_features
from vl3d_focal.data.miners import MinedFeatures
from vl3d_focal.inference.tile_buckets import cloud_bounds
from vl3d_focal.io.las import PointCloud

RADIUS = 1.0
LONE = np.array([[33.0, 3.0, 0.0], [33.0, 27.0, 0.0], [3.0, 33.0, 0.0]])  # 3 m from the plane, from each other


@pytest.fixture(autouse=True)
def new_run():
    """Each test is a run of its own: the counts logged by another test are forgotten."""
    forget_isolated_points()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.arange(0.0, 30.01, 0.5), np.arange(0.0, 30.01, 0.5))
    plane = np.column_stack([x.ravel(), y.ravel(), rng.normal(0.0, 0.05, x.size)])
    xyz = np.concatenate([plane, LONE])
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales, header.offsets = np.full(3, 0.001), np.zeros(3)
    las = laspy.LasData(header)
    las.x, las.y, las.z = xyz.T
    las.intensity = np.full(len(xyz), 100, dtype=np.uint16)
    path = tmp_path_factory.mktemp("isolated") / "lone.las"
    las.write(path)
    return path


def _alone(xyz: np.ndarray) -> int:
    """NumPy reference: the points whose nearest other point is farther than the radius."""
    distance = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=2)
    np.fill_diagonal(distance, np.inf)
    return int((distance.min(axis=1) > RADIUS).sum())


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "no other point within the radius" in r.getMessage()]


RECIPE = MinedFeatures.from_step({"miner": "GeometricFeatures", "radius": RADIUS, "fnames": ["planarity", "linearity"]})


def test_in_memory_mining_logs_the_isolated_points_once(cloud, caplog):
    points = PointCloud.from_las(laspy.read(cloud), path=cloud)
    with caplog.at_level("INFO"):
        values = extract_features(points, list(RECIPE.names), miners=[RECIPE])
    total = points.num_points
    assert _alone(points.xyz) == 3
    assert _lines(caplog) == [
        f"lone.las: GeometricFeatures radius 1: 3 of {total} points ({100 * 3 / total:.2f}%) have no other point "
        "within the radius; their features are 0 here (VL3D gives NaN, which its imputers would fill)"
    ]
    np.testing.assert_array_equal(values[-3:], 0.0)  # the documented 0, unchanged


def test_k_neighbours_log_nothing(cloud, caplog):
    recipe = MinedFeatures.from_step({"miner": "GeometricFeatures", "k": 4, "fnames": ["planarity"]})
    with caplog.at_level("INFO"):
        extract_features(PointCloud.from_las(laspy.read(cloud), path=cloud), list(recipe.names), miners=[recipe])
    assert _lines(caplog) == []


def test_tiles_sum_the_isolated_points_of_the_cloud(cloud, caplog):
    low, _, total = cloud_bounds(cloud, chunk_points=1000)
    with caplog.at_level("INFO"):
        values = streamed_features(cloud, ["intensity", *RECIPE.names], [RECIPE], side=10.0)
    assert len({tuple(np.floor((p[:2] - low[:2]) / 10.0)) for p in LONE}) == 3  # in 3 of the 16 tiles
    lines = _lines(caplog)
    assert len(lines) == 1 and f": 3 of {total} points" in lines[0]
    np.testing.assert_array_equal(values[-3:, 1:], 0.0)  # the lone points, last in the file


def test_the_same_cloud_mined_again_logs_nothing_more_until_a_new_run(cloud, caplog):
    with caplog.at_level("INFO"):
        for _ in range(3):  # training, evaluation, prediction of the same cloud
            extract_features(PointCloud.from_las(laspy.read(cloud), path=cloud), list(RECIPE.names), miners=[RECIPE])
        assert len(_lines(caplog)) == 1
        other = MinedFeatures.from_step({"miner": "GeometricFeatures", "radius": 0.2, "fnames": ["planarity"]})
        extract_features(PointCloud.from_las(laspy.read(cloud), path=cloud), list(other.names), miners=[other])
        assert len(_lines(caplog)) == 2 and "radius 0.2: " in _lines(caplog)[1]  # another radius: its own count
        forget_isolated_points()  # a new run
        extract_features(PointCloud.from_las(laspy.read(cloud), path=cloud), list(RECIPE.names), miners=[RECIPE])
    assert len(_lines(caplog)) == 3
