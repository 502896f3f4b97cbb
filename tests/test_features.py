"""Features by name, derived height above ground, and the robust normaliser."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from vl3d_focal.data.eigen_features import nearest_in_order
from vl3d_focal.data.features import extract_features, neighbour_shapes, shape_features
from vl3d_focal.data.normalization import FeatureNormalizer
from vl3d_focal.data.synthetic import CLASS_CODES, generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud, read_cloud


@pytest.fixture(scope="module")
def scene():
    return PointCloud.from_las(generate_urban_scene(seed=0))


def test_las_dimensions_by_name(scene):
    feats = extract_features(scene, ["intensity", "return_number", "number_of_returns", "z"])
    assert feats.dtype == np.float32 and feats.shape == (scene.num_points, 4)
    np.testing.assert_array_equal(feats[:, 0], np.asarray(scene.las.intensity, dtype=np.float32))
    np.testing.assert_array_equal(feats[:, 2], np.asarray(scene.las.number_of_returns, dtype=np.float32))
    np.testing.assert_allclose(feats[:, 3], scene.xyz[:, 2], rtol=1e-6)


def test_scan_angle_in_degrees(scene):
    angle = extract_features(scene, ["scan_angle"])[:, 0]
    np.testing.assert_allclose(angle, np.asarray(scene.las.scan_angle) * 0.006, rtol=1e-6)
    assert 0.0 < angle.min() < angle.max() < 20.0


def test_missing_feature_lists_available(scene):
    with pytest.raises(DataError) as info:
        extract_features(scene, ["intensity", "red"])
    message = str(info.value)
    assert "1 unknown feature 'red' (" in message.splitlines()[0]
    assert "intensity" in message and "height_above_ground" in message


def test_missing_features_are_told_like_validation(scene):
    """The names shortened, each with its close match, then what the cloud offers, by group."""
    names = ["intensty", *(f"f{i}" for i in range(14))]
    with pytest.raises(DataError) as info:
        extract_features(scene, ["intensity", *names])
    first, *groups = str(info.value).replace("\n    ", " ").splitlines()
    shown = ", ".join(f"'f{i}'" for i in range(11))
    assert first == (
        f"point cloud <memory>: 15 unknown features 'intensty' (did you mean 'intensity'?), {shown} … and 3 more "
        "(not in the file nor derived); the cloud offers:"
    )  # the error in one line, for a survey's summary of its failed tiles
    assert groups[0].startswith("  in the file: x, y, z, intensity, ") and "gps_time" in groups[0]
    assert groups[1].startswith("  derived on request: ones = the constant 1 (VL3D); height_above_ground = ")
    assert len(groups) == 2 and all(len(line) <= 100 for line in str(info.value).splitlines()[1:])


def test_height_above_ground_separates_classes(scene):
    hag = extract_features(scene, ["height_above_ground"])[:, 0]
    codes = np.asarray(scene.las.classification)
    ground = hag[codes == CLASS_CODES["ground"]]
    assert abs(np.median(ground)) < 0.15 and np.percentile(np.abs(ground), 95) < 0.4
    assert np.median(hag[codes == CLASS_CODES["building"]]) > 3.0
    assert 0.5 < np.median(hag[codes == CLASS_CODES["vehicle"]]) < 1.8


def test_height_above_ground_on_real_tile(ign_dir):
    cloud = read_cloud(ign_dir / "test_data_77055_627755_LA93_IGN69.laz")
    hag = extract_features(cloud, ["height_above_ground"])[:, 0]
    codes = np.asarray(cloud.las.classification)
    assert abs(np.median(hag[codes == 2])) < 0.2
    assert np.median(hag[codes == 6]) > 3.0 and np.median(hag[codes == 5]) > 2.0


def test_shape_features_of_a_plane_and_a_line():
    rng = np.random.default_rng(0)
    plane = np.column_stack([rng.uniform(0, 10, 500), rng.uniform(0, 10, 500), np.zeros(500)])
    feats = shape_features(plane)
    assert np.median(feats[:, 1]) > 0.5 and np.max(feats[:, 2]) < 1e-9 and np.max(feats[:, 3]) < 1e-6
    line = np.column_stack([np.zeros(300), np.zeros(300), np.linspace(0, 30, 300)])
    assert np.min(shape_features(line)[:, 0]) > 0.999


def test_normalizer_round_trip_and_numbers():
    data = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0], [100.0, 5.0]])
    norm = FeatureNormalizer().fit(data, fnames=["a", "b"])
    q25, q50, q75 = np.percentile(data[:, 0], [25, 50, 75])
    assert norm.center.tolist() == [q50, 5.0]
    assert norm.scale.tolist() == [pytest.approx((q75 - q25) / 1.349), 1.0]
    out = norm.transform(data)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], (data[:, 0] - q50) / ((q75 - q25) / 1.349), rtol=1e-6)
    again = FeatureNormalizer.from_config(norm.to_config())
    assert again.fnames == ["a", "b"]
    np.testing.assert_array_equal(again.transform(data), out)
    with pytest.raises(DataError):
        again.transform(np.ones((3, 3)))
    with pytest.raises(DataError):
        FeatureNormalizer().transform(data)


def test_neighbours_at_equal_distances_are_ordered_by_index_whatever_the_subset():
    # a 0.5 m lattice: every point has many neighbours at exactly the same distance
    grid = np.stack(np.meshgrid(np.arange(20), np.arange(20), np.arange(3), indexing="ij"), -1).reshape(-1, 3) * 0.5
    rng = np.random.default_rng(3)
    whole, reach = neighbour_shapes(grid)
    lattice_tree = cKDTree(grid)
    index, _ = nearest_in_order(lattice_tree, grid[:5], ids=np.arange(len(grid)), k=16)
    for row, query in enumerate(grid[:5]):
        gaps = np.linalg.norm(grid - query, axis=1)
        expected = np.lexsort((np.arange(len(grid)), gaps))[:16]
        np.testing.assert_array_equal(index[row], expected)
    # the same points shuffled (another KD-tree), then a window with a margin: same values
    order = rng.permutation(len(grid))
    shuffled, _ = neighbour_shapes(grid[order], ids=order)
    np.testing.assert_array_equal(shuffled, whole[order])
    inside = np.flatnonzero(np.all((grid[:, :2] >= 3.0) & (grid[:, :2] <= 6.0), axis=1))
    window = np.flatnonzero(np.all((grid[:, :2] >= 3.0 - 2.0) & (grid[:, :2] <= 6.0 + 2.0), axis=1))
    rows = np.searchsorted(window, inside)
    local, local_reach = neighbour_shapes(grid[window], queries=rows, ids=window)
    np.testing.assert_array_equal(local, whole[inside])
    np.testing.assert_array_equal(local_reach, reach[inside])
    assert np.unique(np.round(whole[:, 1], 9)).size > 1  # borders differ from the interior


def test_shape_features_of_a_cloud_smaller_than_k():
    xyz = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    features, reach = neighbour_shapes(xyz, k=16)
    assert features.shape == (3, 4) and np.all(np.isfinite(features))
    np.testing.assert_allclose(reach, [1.0, np.sqrt(2.0), np.sqrt(2.0)])
    np.testing.assert_allclose(features[:, 2], 0.0, atol=1e-12)  # three points: a plane


def test_header_feature_names_equal_the_features_of_the_read_cloud(tmp_path):
    from vl3d_focal.data.feature_names import DERIVED_FEATURE_NAMES, header_feature_names
    from vl3d_focal.data.features import DERIVED_FEATURES, available_features
    from vl3d_focal.data.synthetic import write_demo_scene
    from vl3d_focal.io.las import read_cloud

    assert tuple(DERIVED_FEATURES) == DERIVED_FEATURE_NAMES
    path = tmp_path / "scene.las"
    write_demo_scene(path, seed=1, size_m=10.0, density=2.0)
    assert header_feature_names(path) == available_features(read_cloud(path))
    assert header_feature_names(tmp_path / "missing.las") is None
