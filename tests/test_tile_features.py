"""Neighbourhood features of a streamed cloud, tile by tile, equal the whole cloud's."""

import laspy
import numpy as np
import pytest

from vl3d_focal.data.features import extract_features
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.inference import tile_features
from vl3d_focal.inference.tile_buckets import StreamedPredictions, TileGrid, bucket_dtype, cloud_bounds, write_buckets
from vl3d_focal.io.las import PointCloud

NAMES = ["intensity", "height_above_ground", "linearity", "planarity", "scattering", "verticality"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("tile_features") / "scene.las"
    generate_urban_scene(seed=5, size_m=64.0).write(path)
    return path


def _bucketed(path, *, side: float) -> tuple[StreamedPredictions, list[int], tuple]:
    low, high, _ = cloud_bounds(path, chunk_points=5000)
    shape = tuple(int(v) for v in np.floor((high[:2] - low[:2]) / side) + 1)
    result = StreamedPredictions(
        path=path, grid=TileGrid(origin=low[:2], side=side, shape=shape), chunk_points=5000, num_classes=2
    )
    write_buckets(result, feature_names=NAMES)
    return result, [int(t) for t in np.flatnonzero(result.counts.sum(axis=1))], (low, high)


def _bucket_features(result: StreamedPredictions, tiles: list[int]) -> np.ndarray:
    rows = np.concatenate([np.fromfile(result.bucket(t), dtype=bucket_dtype(len(NAMES))) for t in tiles])
    return rows["feat"][np.argsort(rows["id"])]


@pytest.mark.parametrize("shape_margin", [tile_features.SHAPE_MARGIN_M, 0.05])
def test_tiles_get_the_whole_cloud_values(scene, monkeypatch, caplog, shape_margin):
    monkeypatch.setattr(tile_features, "SHAPE_MARGIN_M", shape_margin)  # 0.05 m: most points reload
    whole = extract_features(PointCloud.from_las(laspy.read(scene), path=scene), NAMES)
    result, tiles, bounds = _bucketed(scene, side=16.0)
    assert len(tiles) >= 12
    np.testing.assert_array_equal(_bucket_features(result, tiles)[:, 1:], 0.0)  # not computed yet
    with caplog.at_level("DEBUG", logger="vl3d_focal.inference.tile_features"):
        tile_features.fill_neighbourhood_features(result, feature_names=NAMES, tiles=tiles, bounds=bounds)
    np.testing.assert_array_equal(_bucket_features(result, tiles), whole)
    reloaded = {r.args[1] for r in caplog.records if "beyond the margin" in r.getMessage()}
    if shape_margin < 1.0:  # the widening path really ran in most tiles
        assert len(reloaded) >= len(tiles) // 2, reloaded
    assert np.ptp(whole[:, 1]) > 5.0 and np.ptp(whole[:, 3]) > 0.5  # real variation, not constants
    result.close()


def test_without_neighbourhood_features_nothing_is_read(scene, monkeypatch):
    result, tiles, bounds = _bucketed(scene, side=32.0)
    monkeypatch.setattr(tile_features, "load_tile", lambda *a, **k: pytest.fail("tile loaded"))
    tile_features.fill_neighbourhood_features(result, feature_names=["intensity"], tiles=tiles, bounds=bounds)
    result.close()


def test_a_smoothing_of_a_computed_feature_is_refused(scene):
    # tiles run at once: a neighbour's computed columns may be half written when another tile reads them
    from vl3d_focal.data.miners import MinedFeatures
    from vl3d_focal.errors import DataError

    recipe = MinedFeatures("SmoothFeatures", ("mean",), ("planarity_mean",), {"radius": 1.0}, inputs=("planarity",))
    names = [*NAMES, "planarity_mean"]
    result, tiles, bounds = _bucketed(scene, side=32.0)
    with pytest.raises(DataError, match=r"point-wise features, not computed ones: \['planarity'\]"):
        tile_features.fill_neighbourhood_features(
            result, feature_names=names, tiles=tiles, bounds=bounds, miners=(recipe,)
        )
    result.close()
