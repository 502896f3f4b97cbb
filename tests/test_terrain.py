"""The terrain surface: the whole cloud or any split of it into blocks gives the same grid."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from vl3d_focal.data.terrain import (
    ISOLATED_RADIUS_M,
    PointBlock,
    TerrainGrid,
    count_neighbours,
    estimate_ground,
    terrain_surface,
    whole_cloud_block,
)


def _hill(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 120, (30_000, 2))
    ground = 6.0 * np.exp(-((xy[:, 0] - 60) ** 2 + (xy[:, 1] - 60) ** 2) / 3200.0)  # a 6 m hill
    z = ground.copy()
    box = (np.abs(xy[:, 0] - 30) < 6) & (np.abs(xy[:, 1] - 90) < 6)  # a 12 m building
    z[box] += 8.0
    noise = rng.choice(len(xy), 5, replace=False)  # isolated points 10 m under the ground
    z[noise] -= 10.0
    return np.column_stack([xy, z]), ground, box, noise


def test_ground_follows_the_hill_ignores_the_building_and_low_noise():
    xyz, ground, box, noise = _hill()
    estimate = estimate_ground(xyz)
    keep = np.ones(len(xyz), bool)
    keep[noise] = False
    error = np.abs(estimate - ground)[keep & ~box]
    assert np.percentile(error, 95) < 0.2, np.percentile(error, 95)
    assert np.median(np.abs(estimate[box] - ground[box])) < 0.3  # the 8 m roof is not ground
    assert np.all(estimate[noise] > ground[noise] - 1.0)  # noise 10 m below is skipped


def test_blocks_give_the_whole_cloud_surface():
    xyz, *_ = _hill(1)
    grid = TerrainGrid.covering(xyz.min(axis=0), xyz.max(axis=0))
    whole = terrain_surface(lambda: [whole_cloud_block(xyz)], grid)
    tree = cKDTree(xyz)
    passes = []

    def blocks():
        passes.append(1)
        order = np.random.default_rng(len(passes)).permutation(len(xyz))  # any split, any order
        for part in np.array_split(order, 7):
            yield PointBlock(
                ids=part,
                xyz=xyz[part],
                count_within=lambda q, r: np.asarray(tree.query_ball_point(q, r=r, return_length=True)),
            )

    split = terrain_surface(blocks, grid)
    np.testing.assert_array_equal(split, whole)
    assert len(passes) >= 6 + 2  # refinement passes plus the lowest-point rounds
    np.testing.assert_array_equal(grid.surface_at(split, xyz), estimate_ground(xyz))
    assert ISOLATED_RADIUS_M == 1.5


def test_count_neighbours_counts_as_a_tree_over_every_point():
    xyz, *_ = _hill(2)
    rng = np.random.default_rng(5)
    canopy = np.column_stack([rng.uniform(0, 120, (5_000, 2)), rng.uniform(2, 20, 5_000)])  # points the filter drops
    points = np.concatenate([xyz, canopy])
    query = np.concatenate([xyz[::37], canopy[::50], xyz[:20] + [[1.5, 0.0, 0.0]]])  # some exactly one radius away
    for radius in (0.7, ISOLATED_RADIUS_M, 4.0):
        expected = cKDTree(points).query_ball_point(query, r=radius, return_length=True)
        np.testing.assert_array_equal(count_neighbours(points, query, radius), expected)
    assert count_neighbours(points, query[:0], 1.0).shape == (0,)


@pytest.mark.parametrize("points", [1, 2, 5])
def test_a_cloud_of_isolated_points_takes_its_lowest_point_as_terrain(points, caplog):
    """Every point of a tiny cloud is isolated (no cell keeps one): the terrain was NaN and the
    height above it was reported as the cloud's own non-finite feature values."""
    xyz = np.random.default_rng(points).uniform(0.0, 30.0, (points, 3))
    with caplog.at_level("WARNING", logger="vl3d_focal.data.terrain"):
        ground = estimate_ground(xyz)
    np.testing.assert_allclose(ground, np.full(points, xyz[:, 2].min()), rtol=1e-12)
    assert "every point is isolated (too few points)" in caplog.text
