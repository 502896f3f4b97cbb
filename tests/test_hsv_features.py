"""HSVFromRGB: VL3D's hue, saturation and value against NumPy and colorsys, 8 and 16-bit colours,
validation, and a forest trained on them that predicts alike in memory and streamed."""

from __future__ import annotations

import colorsys
import json

import laspy
import numpy as np
import pytest
from helpers import VEGETATION_REDUCER, miner_spec, streamed_features

from vl3d_focal.config import check_spec, load_spec, validate_spec
from vl3d_focal.data.features import extract_features
from vl3d_focal.data.hsv_features import colour_scale, hsv_features
from vl3d_focal.data.miners import MinedFeatures, compute_mined, smoothing_inputs
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud
from vl3d_focal.runner.pipeline import execute_pipeline

HSV = {"miner": "HSVFromRGB", "hue_unit": "radians", "frenames": ["HSV_Hrad", "HSV_S", "HSV_V"]}


def _reference(rgb: np.ndarray, scale: float) -> np.ndarray:
    """Hue in degrees, saturation, value: NumPy's own way, the sector from the argmax (blue, then
    green, then red on ties, as VL3D's masks overwrite)."""
    rgb = rgb / scale
    high, low = rgb.max(axis=1), rgb.min(axis=1)
    spread = high - low
    r, g, b = rgb.T
    largest = np.where(b == high, 2, np.where(g == high, 1, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        hue = np.choose(largest, [((g - b) / spread) % 6, (b - r) / spread + 2, (r - g) / spread + 4]) * 60
        saturation = np.where(high > 0, spread / high, 0.0)
    return np.column_stack([np.where(spread > 0, hue, 0.0), saturation, high])


@pytest.mark.parametrize("scale", [1.0, 255.0, 65535.0])
def test_values_equal_numpy_and_colorsys(scale):
    rng = np.random.default_rng(4)
    rgb = np.round(rng.uniform(0, 1, (500, 3)) * scale) if scale > 1 else rng.uniform(0, 1, (500, 3))
    rgb[0] = [scale, scale, scale]  # the scale is the cloud's: its largest colour sets it
    degrees = hsv_features(rgb, hue_unit="degrees")
    np.testing.assert_allclose(degrees, _reference(rgb, scale), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hsv_features(rgb)[:, 0], np.radians(degrees[:, 0]), rtol=1e-12, atol=1e-12)
    for colour, hsv in zip(rgb[:20], degrees[:20]):
        h, s, v = colorsys.rgb_to_hsv(*(colour / scale))
        np.testing.assert_allclose(hsv, [360.0 * h, s, v], rtol=1e-9, atol=1e-9)
    assert degrees[:, 0].min() >= 0 and degrees[:, 0].max() < 360


def test_grey_and_black_points_have_hue_and_saturation_zero_and_ties_take_vl3d_sectors():
    rgb = np.array([[0, 0, 0], [128, 128, 128], [255, 255, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]], float)
    hsv = hsv_features(rgb, hue_unit="degrees")
    assert hsv[:3, :2].tolist() == [[0, 0]] * 3 and hsv[:3, 2].round(4).tolist() == [0.0, 0.502, 1.0]
    assert hsv[3:, 0].tolist() == [60.0, 180.0, 300.0]  # yellow, cyan, magenta


def test_8_bit_and_16_bit_colours_as_vl3d_scales_them():
    eight = np.array([[200.0, 100, 50], [10, 20, 30]])
    np.testing.assert_allclose(hsv_features(eight), hsv_features(eight * 257.0), rtol=1e-12)  # 255 * 257 = 65535
    assert colour_scale(0, 1) == 1.0 and colour_scale(0, 255) == 255.0 and colour_scale(0, 256) == 65535.0
    # VL3D decides by the whole cloud: 16-bit colours all at or below 255 are taken for 8-bit ones
    assert hsv_features(np.array([[255.0, 0, 0]]))[0, 2] == 1.0
    assert hsv_features(np.array([[255.0, 0, 0], [65535, 0, 0]]))[0, 2] == pytest.approx(255 / 65535)
    with pytest.raises(DataError, match="expected them within"):
        hsv_features(np.array([[70000.0, 0, 0]]))
    with pytest.raises(DataError, match="expected them within"):
        colour_scale(-1, 200)
    with pytest.raises(ValueError, match="hue unit"):
        hsv_features(eight, hue_unit="turns")


def test_recipe_names_inputs_and_point_wise_reach():
    default = MinedFeatures.from_step({"miner": "HSVFromRGB", "hue_unit": "degrees"})
    assert default.names == ("HSV_H", "HSV_S", "HSV_V") and default.inputs == ("red", "green", "blue")
    assert default.reach == 0.0 and MinedFeatures.from_config(default.to_config()) == default
    recipe = MinedFeatures.from_step(HSV)
    assert smoothing_inputs(["HSV_S", "intensity"], [recipe]) == ["red", "green", "blue"]
    rgb = {"red": np.array([0.0, 65535]), "green": np.array([65535.0, 0]), "blue": np.array([0.0, 0])}
    values, reach = compute_mined(recipe, np.zeros((2, 3)), names=["HSV_V", "HSV_Hrad"], inputs=rgb)
    np.testing.assert_allclose(values, [[1.0, 2 * np.pi / 3], [1.0, 0.0]])
    assert reach.tolist() == [0.0, 0.0]
    with pytest.raises(DataError, match="no values of"):
        compute_mined(recipe, np.zeros((2, 3)), names=["HSV_S"], inputs={"red": rgb["red"]})


def _coloured(seed: int, *, dark_half: bool = False) -> laspy.LasData:
    """A synthetic scene in point format 7, its 16-bit colours by class (trees green, roofs red,
    the rest grey), with noise; ``dark_half``: every colour of the western half at or below 255."""
    las = laspy.convert(generate_urban_scene(seed=seed, size_m=40.0), point_format_id=7)
    rng = np.random.default_rng(seed)
    codes = np.asarray(las.classification)
    conditions = [np.isin(codes, [3, 4, 5])[:, None], (codes == 6)[:, None]]
    base = np.select(conditions, [np.array([0.2, 0.6, 0.15]), np.array([0.7, 0.2, 0.15])], 0.5)
    rgb = np.clip(base + rng.normal(0, 0.08, base.shape), 0, 1) * 65535
    if dark_half:
        west = np.asarray(las.x) < np.median(np.asarray(las.x))
        rgb[west] = rgb[west] * 255 / 65535
    las.red, las.green, las.blue = np.round(rgb).astype(np.uint16).T
    return las


def test_streamed_tiles_get_the_whole_cloud_values_with_one_scale_per_cloud(tmp_path):
    path = tmp_path / "scene.las"
    _coloured(5, dark_half=True).write(path)
    recipe = MinedFeatures.from_step(HSV)
    names = ["intensity", "HSV_V", "HSV_Hrad", "HSV_S"]
    whole = extract_features(PointCloud.from_las(laspy.read(path), path=path), names, miners=[recipe])
    streamed = streamed_features(path, names, [recipe], side=10.0)
    assert whole[:, 1].max() > 0.9 and np.quantile(whole[:, 1], 0.25) < 0.01  # 16-bit, a dark half
    np.testing.assert_array_equal(streamed, whole)


def test_a_cloud_without_colours_is_a_clear_error(tmp_path):
    generate_urban_scene(seed=2, size_m=20.0).write(tmp_path / "scene.las")  # point format 6: no colours
    issues = validate_spec(miner_spec(["HSV_S"], [HSV]), base_dir=tmp_path)
    assert [(i.path, i.message) for i in issues] == [
        (
            "$.sequential_pipeline[1].miner",
            f"{tmp_path / 'scene.las'} has no red, green, blue (a LAS point format without colours); "
            "HSVFromRGB needs red, green and blue",
        )
    ], issues
    cloud = PointCloud.from_las(laspy.read(tmp_path / "scene.las"), path=tmp_path / "scene.las")
    with pytest.raises(
        DataError,
        match=r"scene.las: 3 unknown features 'red', 'green', 'blue' \(not in the file nor derived; HSVFromRGB reads.*\n",
    ):
        extract_features(cloud, ["HSV_S"], miners=[MinedFeatures.from_step(HSV)])


def test_validation_with_and_without_the_miner(tmp_path):
    _coloured(2).write(tmp_path / "scene.las")
    assert validate_spec(miner_spec(["HSV_S", "HSV_Hrad", "intensity"], [HSV]), base_dir=tmp_path) == []
    assert validate_spec(miner_spec(["HSV_H"], [{"miner": "HSVFromRGB"}]), base_dir=tmp_path) == []
    without = validate_spec(miner_spec(["HSV_S"], []), base_dir=tmp_path)
    assert "'HSV_S' is not a feature" in without[0].message, without
    late = validate_spec(miner_spec(["HSV_S"], [HSV], after=True), base_dir=tmp_path)
    assert "'HSV_S' is not a feature" in late[0].message, late
    cases = [
        (dict(HSV, hue_unit="gradians"), "gradians"),
        (dict(HSV, frenames=["intensity", "s", "v"]), "'intensity' is already a feature"),
    ]
    for miner, expected in cases:
        messages = [i.message for i in validate_spec(miner_spec(["intensity"], [miner]), base_dir=tmp_path)]
        assert any(expected in m for m in messages), (expected, messages)
    vl3d = dict(HSV, chunk_size=0, nthreads=12)  # VL3D's legacy keys: notes
    checked = check_spec(miner_spec(["HSV_S"], [vl3d]), check_files=False)
    assert checked.issues == [] and [n.path for n in checked.notes] == [
        "$.sequential_pipeline[1].chunk_size",
        "$.sequential_pipeline[1].nthreads",
    ]
    assert "KD-tree" not in checked.notes[1].message and "no threads" in checked.notes[1].message


def test_the_hue_unit_is_case_insensitive_as_in_vl3d(tmp_path):
    _coloured(2).write(tmp_path / "scene.las")
    assert validate_spec(miner_spec(["HSV_Hrad"], [dict(HSV, hue_unit="Degrees")]), base_dir=tmp_path) == []
    assert MinedFeatures.from_step(dict(HSV, hue_unit="DEGREES")).params == {"hue_unit": "degrees"}
    typo = validate_spec(miner_spec(["HSV_Hrad"], [dict(HSV, hue_unit="radian")]), base_dir=tmp_path)
    assert [(i.path, i.message) for i in typo] == [
        (
            "$.sequential_pipeline[1].hue_unit",
            "expected a hue unit, one of: 'radians', 'degrees' (in any case); got 'radian'; did you mean 'radians'?",
        )
    ]


@pytest.mark.parametrize(
    ("frenames", "message"),
    [
        (["H", "S"], "expected 3 names (the hue's, the saturation's and the value's); got 2"),
        (["H", "H", "V"], "['H', 'H', 'V'] has non-unique elements"),
    ],
)
def test_invalid_frenames_are_one_issue_without_follow_on_ones(tmp_path, frenames, message):
    _coloured(2).write(tmp_path / "scene.las")
    spec = miner_spec(["HSV_Hrad", "HSV_S", "HSV_V"], [dict(HSV, frenames=frenames)])
    issues = validate_spec(spec, base_dir=tmp_path)
    assert [(i.path, i.message) for i in issues] == [("$.sequential_pipeline[1].frenames", message)]


def test_a_forest_on_hsv_predicts_alike_in_memory_and_streamed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _coloured(8, dark_half=True).write(tmp_path / "scene.las")
    writer = {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*pred.las", "probabilities": True}
    train = {
        "in_pcloud": ["scene.las"],
        "out_pcloud": ["memory/*"],
        "sequential_pipeline": [
            VEGETATION_REDUCER,
            HSV,
            {"train": "RandomForestClassifier", "random_seed": 3, "fnames": ["HSV_Hrad", "HSV_S", "HSV_V"],
             "model_args": {"num_classes": 2, "n_estimators": 4, "max_depth": 6}},
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
            {"predict": "PreviousModel", "chunk_points": None},
            writer,
        ],
    }  # fmt: skip
    (tmp_path / "train.json").write_text(json.dumps(train))
    execute_pipeline(load_spec(tmp_path / "train.json"))
    predict = {
        "in_pcloud": ["scene.las"],
        "out_pcloud": ["streamed/*"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": "memory/model/model.keras", "chunk_points": 3000},
            writer,
        ],
    }
    (tmp_path / "predict.json").write_text(json.dumps(predict))
    execute_pipeline(load_spec(tmp_path / "predict.json"))
    memory, streamed = laspy.read(tmp_path / "memory/pred.las"), laspy.read(tmp_path / "streamed/pred.las")
    probabilities = [n for n in memory.point_format.extra_dimension_names if n.startswith("prob")]
    assert probabilities and len(memory.points) > 2 * 3000
    for name in ["classification", *probabilities]:
        np.testing.assert_array_equal(streamed[name], memory[name])
    truth = np.isin(np.asarray(laspy.read(tmp_path / "scene.las").classification), [3, 4, 5])
    assert np.mean((np.asarray(memory.classification) == 0) == truth) > 0.9  # the colours tell trees apart
