"""SmoothFeatures of features mined by earlier steps (HSV, height, geometric, an earlier smoothing):
a NumPy reference, streamed tiles (margins that add up) equal to the whole cloud, a pipeline in
memory, streamed and on Dask workers, and order errors."""

from __future__ import annotations

import json

import laspy
import numpy as np
import pytest
from helpers import VEGETATION_REDUCER, miner_spec, streamed_features

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.data.features import extract_features
from vl3d_focal.data.mined_chain import chain_reach
from vl3d_focal.data.miners import MinedFeatures, compute_mined, recipes_for, smoothing_inputs
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.inference import tile_features
from vl3d_focal.io.las import PointCloud
from vl3d_focal.models.model_file import load_bundle
from vl3d_focal.runner.pipeline import execute_pipeline

HSV = {"miner": "HSVFromRGB", "hue_unit": "radians", "frenames": ["HSV_Hrad", "HSV_S", "HSV_V"]}
HEIGHT = {
    "miner": "HeightFeatures",
    "fnames": ["floor_distance", "height_range"],
    "neighborhood": {"type": "Rectangular2D", "radius": 5.0, "separation_factor": 0.5},
}
GEOMETRIC = {"miner": "GeometricFeatures", "k": 8, "fnames": ["planarity"]}
FLOOR = "floor_distance_r5.0_sep0.5"


def _smooth(inputs: list[str], radius: float, *, neighborhood: str = "sphere", strategies=("mean",)) -> dict:
    return {
        "miner": "SmoothFeatures",
        "input_fnames": inputs,
        "fnames": list(strategies),
        "neighborhood": {"type": neighborhood, "radius": radius},
        "weighted_mean_omega": 0.0001,
        "gaussian_rbf_omega": 1.0,
        "nan_policy": "propagate",
    }


SMOOTH = _smooth(["intensity", "HSV_Hrad", "HSV_S", FLOOR, "planarity_k8"], 1.5)
SMOOTH_AGAIN = _smooth([f"{FLOOR}_mean_r1.5"], 1.0, neighborhood="cylinder")  # a smoothing of a smoothing
STEPS = [HSV, HEIGHT, GEOMETRIC, SMOOTH, SMOOTH_AGAIN]


def _coloured_scene(seed: int, size_m: float) -> laspy.LasData:
    """A synthetic scene with random 16-bit colours, those of its western half at or below 255
    (the cloud's colour scale is still 65535: a tile of the west alone would take 255)."""
    las = laspy.convert(generate_urban_scene(seed=seed, size_m=size_m), point_format_id=7)
    rgb = np.random.default_rng(seed).uniform(0, 65535, (len(las.points), 3))
    west = np.asarray(las.x) < np.median(np.asarray(las.x))
    rgb[west] *= 255 / 65535
    las.red, las.green, las.blue = np.round(rgb).astype(np.uint16).T
    return las


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("smooth_mined") / "scene.las"
    _coloured_scene(4, 24.0).write(path)
    return path


@pytest.fixture(scope="module")
def recipes():
    return [MinedFeatures.from_step(step) for step in STEPS]


def _ball_means(xyz: np.ndarray, values: np.ndarray, *, radius: float, axes: int) -> np.ndarray:
    """The mean of ``values`` over every point within ``radius`` (float64, blocks of pairwise distances)."""
    out = np.empty_like(values)
    for start in range(0, len(xyz), 500):
        block = xyz[start : start + 500, None, :axes] - xyz[None, :, :axes]
        near = (block**2).sum(axis=2) <= radius * radius
        out[start : start + 500] = near @ values / near.sum(axis=1, keepdims=True)
    return out


def test_smoothed_mined_features_equal_the_mean_of_the_mined_values_within_the_radius(scene, recipes):
    cloud = PointCloud.from_las(laspy.read(scene), path=scene)
    xyz = cloud.xyz
    hsv, height, geometric = recipes[:3]
    colours = {name: np.asarray(cloud.las[name], dtype=np.float64) for name in ("red", "green", "blue")}
    inputs = np.column_stack(
        [
            np.asarray(cloud.las.intensity, dtype=np.float64),
            compute_mined(hsv, xyz, names=["HSV_Hrad", "HSV_S"], inputs=colours)[0],
            compute_mined(height, xyz, names=[FLOOR])[0],
            compute_mined(geometric, xyz, names=["planarity_k8"])[0],
        ]
    )
    smoothed = _ball_means(xyz, inputs, radius=1.5, axes=3)
    again = _ball_means(xyz, smoothed[:, 3:4], radius=1.0, axes=2)
    names = [*recipes[3].names, *recipes[4].names]
    got = extract_features(cloud, names, miners=recipes)  # only smoothed features: their inputs are not asked for
    np.testing.assert_allclose(got, np.column_stack([smoothed, again]), rtol=1e-6, atol=1e-6)
    assert np.all(np.ptp(got, axis=0) > 0.05)
    assert np.abs(got[:, 3] - inputs[:, 3]).max() > 0.5 and np.abs(got[:, 5] - got[:, 3]).max() > 0.1  # smoothed


@pytest.mark.parametrize("side", [3.0, 7.0])
def test_streamed_tiles_equal_the_whole_cloud_at_tile_edges_too(scene, recipes, side):
    cloud = PointCloud.from_las(laspy.read(scene), path=scene)
    names = ["intensity", *recipes[3].names, *recipes[4].names, "HSV_V"]
    whole = extract_features(cloud, names, miners=recipes)
    assert smoothing_inputs(names, recipes) == ["red", "green", "blue"]  # mined inputs are computed, not bucketed
    streamed = streamed_features(scene, names, recipes, side=side)
    offset = (cloud.xyz[:, :2] - cloud.xyz[:, :2].min(axis=0)) % side
    edge = np.minimum(offset, side - offset).min(axis=1) < 1.5  # their smoothing reads the next tile's points
    assert edge.sum() > len(edge) // 3
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(streamed[edge], whole[edge], rtol=1e-5, atol=1e-5)


def test_a_tile_loads_the_margins_of_the_chain_and_no_more(scene, recipes, monkeypatch):
    height, smooth, again = recipes[1], recipes[3], recipes[4]
    cell_reach = 5.0 + 0.5 * 5.0 * 0.5  # the support point's square, from the point's cell centre
    assert chain_reach(smooth, recipes, unknown=2.0) == pytest.approx(1.5 + max(cell_reach, 2.0))
    assert chain_reach(again, recipes, unknown=2.0) == pytest.approx(1.0 + 1.5 + cell_reach)
    assert recipes_for([again.names[0]], recipes) == (height, smooth, again)  # the recipes a model keeps
    margins: list[float] = []
    load = tile_features.load_tile

    def recording(*args, margin, **kwargs):
        margins.append(margin)
        return load(*args, margin=margin, **kwargs)

    monkeypatch.setattr(tile_features, "load_tile", recording)
    chain = [height, MinedFeatures.from_step(_smooth([FLOOR], 1.5)), again]
    streamed_features(scene, [again.names[0]], chain, side=12.0)
    assert margins and margins == pytest.approx([1.0 + 1.5 + cell_reach] * len(margins))  # once per tile


def test_a_pipeline_of_chained_miners_predicts_alike_in_memory_streamed_and_on_dask(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _coloured_scene(8, 32.0).write(tmp_path / "scene.las")
    writer = {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*pred.las", "probabilities": True}
    smoothed = ["intensity_mean_r1.5", "HSV_Hrad_mean_r1.5", f"{FLOOR}_mean_r1.5"]
    train = {
        "in_pcloud": ["scene.las"],
        "out_pcloud": ["memory/*"],
        "sequential_pipeline": [
            VEGETATION_REDUCER,
            HSV,
            HEIGHT,
            _smooth(["intensity", "HSV_Hrad", FLOOR], 1.5),
            {"train": "RandomForestClassifier", "random_seed": 3, "fnames": smoothed,
             "model_args": {"num_classes": 2, "n_estimators": 4, "max_depth": 6}},
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
            {"predict": "PreviousModel", "chunk_points": None},
            writer,
        ],
    }  # fmt: skip
    assert validate_spec(train, base_dir=tmp_path) == []
    (tmp_path / "train.json").write_text(json.dumps(train))
    execute_pipeline(load_spec(tmp_path / "train.json"))
    kept = load_bundle(tmp_path / "memory/model/model.keras", with_model=False).miners
    assert [recipe.miner for recipe in kept] == ["HSVFromRGB", "HeightFeatures", "SmoothFeatures"]  # the chain
    for out, more in [("streamed", {"chunk_points": 3000}), ("dask", {"chunk_points": None})]:
        predict = {
            "in_pcloud": ["scene.las"],
            "out_pcloud": [f"{out}/*"],
            "sequential_pipeline": [
                {"predict": "ModelLoader", "model_path": "memory/model/model.keras", **more},
                writer,
            ],
        }
        if out == "dask":
            predict["executor"] = {"engine": "dask", "workers": 1}
        (tmp_path / f"{out}.json").write_text(json.dumps(predict))
        execute_pipeline(load_spec(tmp_path / f"{out}.json"))
    memory = laspy.read(tmp_path / "memory/pred.las")
    probabilities = [n for n in memory.point_format.extra_dimension_names if n.startswith("prob")]
    assert probabilities and len(memory.points) > 2 * 3000
    for out in ("streamed", "dask"):
        other = laspy.read(tmp_path / f"{out}/pred.las")
        for name in ["classification", *probabilities]:
            np.testing.assert_array_equal(other[name], memory[name], err_msg=out)


def _messages(steps: list[dict], fnames: list[str], folder) -> list[str]:
    return [str(issue) for issue in validate_spec(miner_spec(fnames, steps), base_dir=folder)]


def test_a_smoothing_takes_only_features_mined_by_the_steps_before_it(tmp_path):
    generate_urban_scene(seed=2, size_m=20.0).write(tmp_path / "scene.las")
    smooth = _smooth([FLOOR, "intensity"], 1.0)
    assert _messages([HEIGHT, smooth], [f"{FLOOR}_mean_r1.0"], tmp_path) == []
    later = _messages([smooth, HEIGHT], ["intensity"], tmp_path)
    assert later == [
        f"$.sequential_pipeline[1].input_fnames[0]: '{FLOOR}' is mined by a later step "
        "($.sequential_pipeline[2], HeightFeatures); SmoothFeatures smooths features mined by the steps before it: "
        "move that step before this one"
    ]
    unknown = _messages([HEIGHT, _smooth(["floor_distance_r5.0"], 1.0)], ["intensity"], tmp_path)
    assert len(unknown) == 1 and unknown[0].startswith(
        "$.sequential_pipeline[2].input_fnames[0]: 'floor_distance_r5.0' is not a feature of "
    )
    itself = _messages([_smooth(["intensity", "intensity_mean_r1.0"], 1.0)], ["intensity"], tmp_path)
    assert len(itself) == 1 and "'intensity_mean_r1.0' is not a feature of " in itself[0]
