"""Subsampling of receptive fields: furthest-point against a NumPy reference, grid by voxels."""

import numpy as np
import pytest

import vl3d_focal.data.subsampling as subsampling
from vl3d_focal.data.receptive_fields import FieldSpec, build_fields
from vl3d_focal.data.subsampling import furthest_point_subsample, grid_subsample, point_priorities


@pytest.fixture(scope="module")
def xyz():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 30, (6000, 2))
    return np.column_stack([xy, 0.3 * np.sin(xy[:, 0] / 4)])


def _reference_fps(points: np.ndarray, k: int) -> list[int]:
    """Textbook furthest-point sampling from the point nearest the origin (float64)."""
    chosen = [int(np.argmin(np.sum(points**2, axis=1)))]
    distance = np.sum((points - points[chosen[0]]) ** 2, axis=1)
    for _ in range(k - 1):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, np.sum((points - points[chosen[-1]]) ** 2, axis=1))
    return chosen


def test_furthest_point_subsample_matches_the_textbook_algorithm():
    rng = np.random.default_rng(4)
    xyz = rng.normal(0, 3, (500, 3))
    sizes = np.array([40, 75, 120, 265])
    members = rng.permutation(500)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    centers = np.stack([xyz[members[s : s + n]].mean(axis=0) for s, n in zip(starts, sizes)])
    out = furthest_point_subsample(xyz, centers=centers, members=members, starts=starts, counts=sizes, k=16)
    for f, (s, n) in enumerate(zip(starts, sizes)):
        field = members[s : s + n]
        assert out[f].tolist() == field[_reference_fps(xyz[field] - centers[f], 16)].tolist()


def test_grid_subsample_takes_one_point_per_voxel_first():
    rng = np.random.default_rng(2)
    xyz = rng.uniform(-1, 1, (400, 3))
    priority = point_priorities(np.arange(400), seed=3)
    k, radius = 16, 1.0
    out = grid_subsample(
        xyz,
        centers=np.zeros((1, 3)),
        members=np.arange(400),
        field_of=np.zeros(400, int),
        counts=np.array([400]),
        k=k,
        radius=radius,
        priority=priority,
    )[0]
    voxel = 2.0 * radius / np.sqrt(k)
    cells = [tuple(c) for c in np.floor(xyz[out] / voxel).astype(int)]
    assert len(set(cells)) == k  # 16 points from 16 different voxels
    for i, cell in zip(out, cells):  # each is its voxel's lowest priority
        same = np.flatnonzero(np.all(np.floor(xyz / voxel).astype(int) == cell, axis=1))
        assert priority[i] == priority[same].min()


def test_fps_same_with_one_or_several_threads(xyz, monkeypatch):
    spec = FieldSpec(radius=3.0, num_points=24)
    monkeypatch.setattr(subsampling, "_FPS_BATCH_ELEMENTS", 4096)  # many small batches
    monkeypatch.setattr(subsampling, "cpu_threads", lambda: 1)
    one = build_fields(xyz, spec, seed=0).indices
    monkeypatch.setattr(subsampling, "cpu_threads", lambda: 3)
    np.testing.assert_array_equal(build_fields(xyz, spec, seed=0).indices, one)


def test_grid_priorities_depend_on_point_ids_only():
    ids = np.arange(1000)
    a = point_priorities(ids, seed=5)
    np.testing.assert_array_equal(point_priorities(ids[500:], seed=5), a[500:])
    assert len(np.unique(a)) == 1000 and not np.array_equal(a, point_priorities(ids, seed=6))
    # roughly uniform: each quarter of the uint64 range holds about a quarter of the points
    quarters = np.bincount((a >> np.uint64(62)).astype(np.int64), minlength=4)
    assert quarters.min() > 200
