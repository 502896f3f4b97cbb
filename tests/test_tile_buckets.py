"""On-disk tile buckets of a streamed cloud: every point once, in file order, margins exact."""

import laspy
import numpy as np
import pytest

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.steps.tile_buckets import (
    StreamedPredictions, TileGrid, bucket_dtype, cloud_bounds, load_tile, write_buckets,
)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("buckets") / "scene.las"
    generate_urban_scene(seed=2, size_m=40.0).write(path)
    return path


def test_buckets_hold_every_point_once_in_file_order_and_margins_are_exact(scene):
    las = laspy.read(scene)
    xyz = np.column_stack([las.x, las.y, las.z])
    low, high, total = cloud_bounds(scene, chunk_points=4000)
    np.testing.assert_array_equal(low, xyz.min(axis=0))
    assert total == len(xyz)
    result = StreamedPredictions(path=scene, grid=TileGrid(origin=low[:2], side=12.0, shape=(4, 4)),
                                 chunk_points=4000, num_classes=3)
    write_buckets(result, feature_names=["intensity", "height_above_ground"])
    assert result.counts.shape == (16, -(-total // 4000)) and result.counts.sum() == total
    rows = [np.fromfile(result.bucket(t), dtype=bucket_dtype(2)) for t in range(16) if result.bucket(t).exists()]
    ids = np.concatenate([r["id"] for r in rows])
    assert sorted(ids.tolist()) == list(range(total))
    assert all(np.all(np.diff(r["id"]) > 0) for r in rows)  # file order inside each bucket
    every = np.concatenate(rows)[np.argsort(ids)]
    np.testing.assert_array_equal(every["xyz"], xyz)
    np.testing.assert_array_equal(every["feat"][:, 0], np.asarray(las.intensity, dtype=np.float32))
    np.testing.assert_array_equal(every["feat"][:, 1], 0.0)  # left for the neighbourhood pass

    loaded, own, box_low, box_high = load_tile(result, 5, margin=3.0, num_features=2)
    mine = result.grid.tile_of(xyz) == 5
    np.testing.assert_array_equal(loaded["id"][own], np.flatnonzero(mine))
    near = np.all((xyz[:, :2] >= box_low - 3.0) & (xyz[:, :2] <= box_high + 3.0), axis=1)
    np.testing.assert_array_equal(loaded["id"], np.flatnonzero(near | mine))
    folder = result.folder
    result.close()
    assert not folder.exists()


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_bounds_refuse_nan_coordinates(tmp_path):
    las = generate_urban_scene(seed=1, size_m=20.0)
    las.header.scales = np.array([0.01, 0.01, np.nan])
    path = tmp_path / "nan.las"
    las.write(path)
    with pytest.raises(DataError, match="NaN or infinite coordinates"):
        cloud_bounds(path, chunk_points=1000)
