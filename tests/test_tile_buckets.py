"""On-disk tile buckets of a streamed cloud: every point once, in file order, margins exact."""

import os

import laspy
import numpy as np
import pytest

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.inference.tile_buckets import (
    StreamedPredictions,
    TileGrid,
    bucket_dtype,
    cloud_bounds,
    load_tile,
    write_buckets,
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
    result = StreamedPredictions(
        path=scene, grid=TileGrid(origin=low[:2], side=12.0, shape=(4, 4)), chunk_points=4000, num_classes=3
    )
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


def test_tile_folders_of_killed_runs_are_removed_and_live_ones_kept(tmp_path, caplog):
    import subprocess
    import sys

    from vl3d_focal.inference.tile_buckets import FOLDER_PREFIX

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    stale = tmp_path / f"{FOLDER_PREFIX}{dead_pid}.abc"
    (stale / "sub").mkdir(parents=True)
    (stale / "tile_0.bin").write_bytes(b"x" * 100)
    live = tmp_path / f"{FOLDER_PREFIX}{os.getpid()}.old"
    live.mkdir()
    unrelated = tmp_path / ".vl3d_focal_tilesX"
    unrelated.mkdir()
    output = tmp_path / "scene_pred.laz"
    output.write_bytes(b"keep")
    with caplog.at_level("INFO", logger="vl3d_focal.inference.tile_buckets"):
        result = StreamedPredictions(
            path=tmp_path / "a.las",
            grid=TileGrid(origin=np.zeros(2), side=1.0, shape=(1, 1)),
            chunk_points=10,
            num_classes=2,
            parent=tmp_path,
        )
    assert not stale.exists() and live.exists() and unrelated.exists() and output.read_bytes() == b"keep"
    assert any(str(stale) in r.getMessage() for r in caplog.records)
    assert result.folder.parent == tmp_path and result.folder.name.startswith(f"{FOLDER_PREFIX}{os.getpid()}.")
    result.close()
    assert not result.folder.exists()


def test_too_little_disk_for_the_tiles_is_reported(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from vl3d_focal.inference import tile_buckets

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * 2**30, 10 * 2**30 - 2**20, 2**20))
    need = 5_000_000 * (8 + 24 + 3 * 4 + 2 + 1 + 5 * 4) * 1.05 / 2**20  # bucket + result rows
    with pytest.raises(DataError, match=rf"need about {need:.0f} MiB in .* only 1 MiB are free"):
        tile_buckets.check_tile_space(
            tmp_path, path=tmp_path / "big.laz", num_points=5_000_000, num_features=3, num_classes=5
        )
    tile_buckets.check_tile_space(tmp_path, path=tmp_path / "small.laz", num_points=1000, num_features=3, num_classes=5)
