"""The synthetic urban scene: determinism, LAS layout, realistic class imbalance, CLI."""

import laspy
import numpy as np
import pytest

from vl3d_focal.data.synthetic import CLASS_CODES, generate_urban_scene, main, write_demo_scene


@pytest.fixture(scope="module")
def scene():
    return generate_urban_scene(seed=0)


def test_deterministic(scene):
    again = generate_urban_scene(seed=0)
    np.testing.assert_array_equal(scene.X, again.X)
    np.testing.assert_array_equal(scene.classification, again.classification)
    other = generate_urban_scene(seed=1)
    assert len(other.points) != len(scene.points) or not np.array_equal(other.X, scene.X)


def test_layout_and_size(scene):
    assert scene.header.point_format.id == 6 and str(scene.header.version) == "1.4"
    assert 60_000 <= len(scene.points) <= 150_000
    assert np.ptp(scene.x) == pytest.approx(80.0, abs=1.0)
    assert set(np.unique(scene.classification).tolist()) == set(CLASS_CODES.values())
    assert (np.asarray(scene.return_number) <= np.asarray(scene.number_of_returns)).all()
    assert np.all(np.diff(scene.gps_time) >= 0)


def test_class_imbalance_and_intensity(scene):
    codes = np.asarray(scene.classification)
    share = {name: float(np.mean(codes == code)) for name, code in CLASS_CODES.items()}
    ground_veg = share["ground"] + share["low_vegetation"] + share["medium_vegetation"] + share["high_vegetation"]
    assert 0.78 <= ground_veg <= 0.92
    assert 0.0 < share["vehicle"] < 0.025 and 0.0 < share["pole"] < 0.02 and share["noise"] < 0.005
    intensity = np.asarray(scene.intensity)
    assert np.median(intensity[codes == CLASS_CODES["vehicle"]]) > 1.2 * np.median(
        intensity[codes == CLASS_CODES["ground"]]
    )
    high = codes == CLASS_CODES["high_vegetation"]
    assert np.mean(np.asarray(scene.number_of_returns)[high] > 1) > 0.5


def test_cli_and_writer(tmp_path, capsys):
    path = write_demo_scene(tmp_path / "a" / "scene.laz", seed=2, size_m=30.0)
    assert len(laspy.read(path).points) == len(generate_urban_scene(seed=2, size_m=30.0).points)
    assert main([str(tmp_path / "cli.las"), "--seed", "4", "--size", "30"]) == 0
    assert "points" in capsys.readouterr().out and (tmp_path / "cli.las").exists()
