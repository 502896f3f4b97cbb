"""VL3D's MinmaxNormalizer: its fit against a NumPy float64 reference of the min-max map (target
ranges, clip, constant features, explicit minmax), its clip bounds kept with the model and applied
at prediction (in memory, streamed, on Dask) and before a projection, its report, and validation."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace

import laspy
import numpy as np
import pytest
from helpers import (
    TWO_CLASS_MAPPING,
    assert_loaded_model_predicts,
    run_steps,
    tiny_pointnet_args,
    write_with_extra_dims,
)
from sklearn.decomposition import PCA

from vl3d_focal.config import check_spec, load_spec
from vl3d_focal.data.feature_standardization import Standardizer
from vl3d_focal.data.minmax_normalization import MinmaxNormalizer
from vl3d_focal.data.normalization import FeatureNormalizer
from vl3d_focal.data.pca_projection import PCATransformer
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError, SpecError
from vl3d_focal.models.model_file import (
    FORMAT_VERSION,
    METADATA_MEMBER,
    PLAIN_FORMAT_VERSION,
    load_bundle,
    read_metadata,
)
from vl3d_focal.runner.pipeline import execute_pipeline
from vl3d_focal.training.transformation import _fitted_scaled

NAMES = ["a", "b", "flat"]
LABELLED_CODES = [2, 3, 4, 5, 6, 64, 68]


def _data(seed: int = 0, n: int = 100) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) * np.array([10.0, 0.5, 0.0]) + np.array([4.0, -1.0, 7.0])


def _reference(x: np.ndarray, low: np.ndarray, high: np.ndarray, a: float, b: float, clip: bool) -> np.ndarray:
    """VL3D's min-max map (scikit-learn's MinMaxScaler: a range of 0 taken as 1), in float64."""
    spread = np.where(high - low > 0, high - low, 1.0)
    out = a + (x - low) * (b - a) / spread
    return np.clip(out, a, b) if clip else out


@pytest.mark.parametrize(("target_range", "clip"), [((0.0, 1.0), True), ((-1.0, 3.0), True), ((-1.0, 1.0), False)])
def test_the_fit_and_the_held_out_values_follow_the_min_max_map(target_range, clip):
    train, held_out = _data(0), _data(1) * 1.5  # held-out values beyond the training range
    normalizer = MinmaxNormalizer(target_range=target_range, clip=clip)
    out, fitted = normalizer.fit(train, NAMES)
    low, high = train.min(axis=0), train.max(axis=0)
    np.testing.assert_allclose(out, _reference(train, low, high, *target_range, clip), rtol=1e-12, atol=1e-12)
    assert out[:, 2].tolist() == [target_range[0]] * len(train)  # a constant feature goes to a
    standardization = fitted.standardization
    offsets = np.array([standardization.offsets[name] for name in NAMES])
    scales = np.array([standardization.scales[name] for name in NAMES])
    bounds = fitted.bounds
    kept = held_out if not clip else np.clip(held_out, *np.array([bounds[name] for name in NAMES]).T)
    np.testing.assert_allclose(
        (kept - offsets) / scales, _reference(held_out, low, high, *target_range, clip), rtol=1e-12, atol=1e-12
    )
    assert bool(bounds) == clip


def test_only_its_fnames_change_and_explicit_minmax_pairs_follow_fnames_order():
    values = _data()
    out, fitted = MinmaxNormalizer(("b", "a"), minmax=((0.0, 2.0), (-10.0, 10.0))).fit(values, NAMES)
    assert fitted.mins == {"a": -10.0, "b": 0.0} and fitted.maxs == {"a": 10.0, "b": 2.0}
    np.testing.assert_array_equal(out[:, 2], values[:, 2])
    expected = _reference(values[:, :2], np.array([-10.0, 0.0]), np.array([10.0, 2.0]), 0.0, 1.0, True)
    np.testing.assert_allclose(out[:, :2], expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(DataError, match=r"minmax gives 1 \(min, max\) pairs for fnames \['a', 'b'\]"):
        MinmaxNormalizer(("a", "b"), minmax=((0.0, 1.0),)).fit(values, NAMES)


def test_a_standardizer_before_it_changes_nothing_and_the_maps_compose():
    values = _data()
    standardised, first = Standardizer().fit(values, NAMES)
    twice, second = MinmaxNormalizer().fit(standardised, NAMES)
    once, _ = MinmaxNormalizer().fit(values, NAMES)
    np.testing.assert_allclose(twice, once, rtol=1e-12, atol=1e-12)
    both = first.then(second.standardization)
    for column, name in enumerate(NAMES[:2]):
        np.testing.assert_allclose(
            (values[:, column] - both.offsets[name]) / both.scales[name], once[:, column], rtol=1e-9, atol=1e-12
        )


def test_the_model_normaliser_and_the_projection_clip_and_keep_their_bounds():
    normalizer = FeatureNormalizer(fnames=["a", "b"], clip={"b": (0.0, 1.0)}).fit(np.array([[1.0, 0.5], [3.0, 0.2]]))
    restored = FeatureNormalizer.from_config(json.loads(json.dumps(normalizer.to_config())))
    wild = np.array([[9.0, 5.0], [-9.0, -5.0]])
    np.testing.assert_array_equal(restored.transform(wild), normalizer.transform(np.array([[9.0, 1.0], [-9.0, 0.0]])))
    assert "clip" not in FeatureNormalizer(fnames=["a"]).fit(np.ones((2, 1))).to_config()  # only where used
    pca = PCATransformer(inputs=("a",), mean=(1.0,), components=((1.0,),), variances=(1.0,), clip=(("a", 0.0, 2.0),))
    assert PCATransformer.from_config(json.loads(json.dumps(pca.to_config()))) == pca
    assert pca.project(np.array([[5.0], [-5.0]])).ravel().tolist() == [1.0, -1.0]
    assert "clip" not in replace(pca, clip=()).to_config()


def _scene(folder, *, seed: int, stretch: float = 1.0):
    las = generate_urban_scene(seed=seed, size_m=20.0)
    rng = np.random.default_rng(seed)
    height = (np.asarray(las.z) - np.asarray(las.z).min()) * stretch
    extra = {"height": height, "twin": height + rng.normal(scale=0.3, size=len(height))}
    extra["noise"] = rng.normal(size=len(height)) * stretch
    return write_with_extra_dims(las, extra, folder / f"scene_{seed}.las")


def _raw(path, names):
    cloud = laspy.read(path)
    raw = np.column_stack([np.asarray(cloud[name], dtype=np.float64) for name in names])
    return raw, np.isin(np.asarray(cloud.classification), LABELLED_CODES)


def test_a_forest_after_it_keeps_no_fitted_bounds_and_predicts_as_if_clipped_in_memory_streamed_and_on_dask(tmp_path):
    (tmp_path / "test").mkdir()
    train, test = _scene(tmp_path, seed=1), _scene(tmp_path / "test", seed=2, stretch=2.0)
    fnames = ["height", "twin", "noise"]
    minmax = {
        "feature_transformer": "MinmaxNormalizer",
        "fnames": ["height", "noise"],
        "target_range": [0, 1],
        "clip": True,
        "report_path": "*minmax_normalization.log",
    }
    forest = {"train": "RandomForestClassifier", "fnames": fnames, "random_seed": 3, "model_args": {"n_estimators": 4}}
    steps = [TWO_CLASS_MAPPING, minmax, forest, {"writer": "PredictiveModelWriter", "out_model": "*model/f.model"}]
    state = run_steps(tmp_path, "train", [train], "out", steps)
    model = tmp_path / "out" / "model" / "f.model"
    raw, labelled = _raw(train, fnames)
    low, high = raw[labelled].min(axis=0), raw[labelled].max(axis=0)
    assert read_metadata(model)["format_version"] == PLAIN_FORMAT_VERSION  # clipping changes no split: no bounds
    assert "clip" not in read_metadata(model)["normalizer"]
    assert state.facts.trainings[0].feature_transformers[0]["transformer"] == "MinmaxNormalizer (to [0, 1], clipped)"
    report = (tmp_path / "out" / "minmax_normalization.log").read_text().splitlines()
    assert report[:3] == ["Min-max normalization of 2 features to [0, 1], clipped", "", "FEATURE, MIN, MAX, RANGE"]
    assert [float(v) for v in report[3].split(", ")[1:]] == pytest.approx([low[0], high[0], high[0] - low[0]])
    bundle = load_bundle(model)
    test_raw, _ = _raw(test, fnames)
    assert (test_raw[:, 0] > high[0]).any()  # the test cloud goes beyond the training range
    clipped = test_raw.copy()
    clipped[:, [0, 2]] = np.clip(test_raw[:, [0, 2]], low[[0, 2]], high[[0, 2]])
    expected = np.argmax(bundle.model.predict_proba(bundle.normalizer.transform(clipped)), axis=1)
    as_computed = np.argmax(bundle.model.predict_proba(bundle.normalizer.transform(test_raw)), axis=1)
    np.testing.assert_array_equal(as_computed, expected)  # the forest predicts the same without clipping
    assert_loaded_model_predicts(tmp_path, model, test, expected)


def test_a_forest_keeps_the_bounds_of_an_explicit_minmax_which_clip_its_training_values(tmp_path):
    minmax = {"feature_transformer": "MinmaxNormalizer", "fnames": ["noise", "height"], "minmax": [[-1, 1], [0, 2]]}
    forest = {"train": "RandomForestClassifier", "fnames": ["height", "noise"], "model_args": {"n_estimators": 2}}
    state = run_steps(tmp_path, "train", [_scene(tmp_path, seed=1)], "out", [TWO_CLASS_MAPPING, minmax, forest])
    assert state.bundle.normalizer.clip == {"height": (0.0, 2.0), "noise": (-1.0, 1.0)}
    scaled = {**forest, "cloud_normalization": {"height": {"method": "robust"}}}  # the model clips scaled heights
    with pytest.raises(SpecError, match=r"\[1\]\.minmax\[1\]: minmax gives the range of 'height' as computed, but"):
        run_steps(tmp_path, "scaled", [_scene(tmp_path, seed=1)], "out2", [TWO_CLASS_MAPPING, minmax, scaled])
    with pytest.raises(DataError, match=r"minmax gives the range of 'height' as computed, but the train step's cloud"):
        _fitted_scaled([MinmaxNormalizer.from_step(minmax)], ["height", "noise"], scaled["cloud_normalization"])


def test_a_projection_after_it_is_of_the_normalised_features_and_clips_its_inputs(tmp_path):
    train = _scene(tmp_path, seed=1)
    fnames = ["height", "twin", "noise"]
    steps = [
        TWO_CLASS_MAPPING,
        {"feature_transformer": "Standardizer", "fnames": ["AUTO"]},
        {"feature_transformer": "MinmaxNormalizer", "fnames": ["AUTO"], "target_range": [-1, 1]},
        {"feature_transformer": "PCATransformer", "fnames": ["AUTO"], "out_dim": 1.0},
        {"train": "RandomForestClassifier", "fnames": fnames, "random_seed": 3, "model_args": {"n_estimators": 2}},
    ]
    state = run_steps(tmp_path, "train", [train], "out", steps)
    projection = state.bundle.projection
    assert state.bundle.normalizer.clip == {}  # the model's features are projections
    raw, labelled = _raw(train, fnames)
    low, high = raw[labelled].min(axis=0), raw[labelled].max(axis=0)
    assert [name for name, _, _ in projection.clip] == fnames
    np.testing.assert_allclose([bounds[1:] for bounds in projection.clip], np.column_stack([low, high]), rtol=1e-9)
    normalised = -1.0 + 2.0 * (raw[labelled] - low) / (high - low)
    reference = PCA().fit(normalised)
    projected = projection.project(raw[labelled]).astype(np.float64)
    expected = reference.transform(normalised)
    signs = np.sign(np.sum(projected * expected, axis=0))  # each axis is defined up to its sign
    np.testing.assert_allclose(projected, expected * signs, rtol=1e-3, atol=1e-3)
    wild = raw[:5] * 10.0
    np.testing.assert_array_equal(projection.project(wild), projection.project(np.clip(wild, low, high)))


def _issues_and_notes(steps: list[dict]) -> tuple[list[str], list[str]]:
    checked = check_spec({"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps}, check_files=False)
    return [str(issue) for issue in checked.issues], [str(note) for note in checked.notes]


FEATURES = ["Reflectance", "HSV_S", "HSV_V"]
FOREST = {"train": "RandomForestClassifier", "fnames": FEATURES, "model_args": {}}


def test_vl3d_s_hessigheim_transformers_validate_and_the_standardizer_before_it_is_a_note():
    standardizer = {"feature_transformer": "Standardizer", "fnames": FEATURES, "center": True, "scale": True}
    minmax = {
        "feature_transformer": "MinmaxNormalizer",
        "fnames": FEATURES,
        "target_range": [0, 1],
        "clip": True,
        "report_path": "*minmax_normalization.log",
    }
    issues, notes = _issues_and_notes(
        [{"imputer": "UnivariateImputer", "fnames": ["AUTO"]}, standardizer, minmax, FOREST]
    )
    assert issues == []
    assert notes == [
        "$.sequential_pipeline[1]: accepted, no effect here: a model standardises its features itself, and the "
        "MinmaxNormalizer of $.sequential_pipeline[2] gives the same values without it",
        "$.sequential_pipeline[2]: accepted, no effect here: a model standardises its features itself, and no "
        "feature transformer after it uses its values; its clip changes no prediction of the RandomForestClassifier "
        "of $.sequential_pipeline[3]: its splits lie between training values, so a value beyond the training range "
        "goes where the range's end goes",
    ]
    _, notes = _issues_and_notes([{**minmax, "clip": False}, FOREST])
    assert notes == [
        "$.sequential_pipeline[0]: accepted, no effect here: a model standardises its features itself, and no "
        "feature transformer after it uses its values"
    ]
    pointnet = {"train": "PointNetPwiseClassifier", "fnames": FEATURES, "model_args": tiny_pointnet_args(2)}
    for clipping, model in (({**minmax, "minmax": [[0, 1]] * 3}, FOREST), (minmax, pointnet)):  # its clip matters
        assert _issues_and_notes([clipping, model]) == ([], [])
    issues, _ = _issues_and_notes([{**minmax, "fnames": ["Reflectance", "HSV_H"], "minmax": [[0, 1], [2, 1]]}, FOREST])
    assert issues == [
        "$.sequential_pipeline[0].fnames[1]: 'HSV_H' is not among the features of the model trained by "
        "$.sequential_pipeline[1] (Reflectance, HSV_S, HSV_V); did you mean 'HSV_V'?",
        "$.sequential_pipeline[0].minmax[1]: [2, 1]: a [min, max] pair with min > max",
    ]


def test_with_cloud_normalization_it_clips_the_per_cloud_scaled_values_so_another_sensor_predicts_alike(tmp_path):
    (tmp_path / "test").mkdir()
    train, test = _scene(tmp_path, seed=1), _scene(tmp_path / "test", seed=2)
    brighter = laspy.read(test)
    brighter.intensity = np.asarray(brighter.intensity) * 16  # another sensor: 16 times the intensities
    brighter.write(tmp_path / "test" / "brighter.las")
    minmax = {"feature_transformer": "MinmaxNormalizer", "fnames": ["intensity"], "clip": True}
    pointnet = {
        "train": "PointNetPwiseClassifier",
        "fnames": ["intensity", "height"],
        "random_seed": 3,
        "cloud_normalization": {"intensity": {"method": "percentile", "percentile": 99}},
        "model_args": tiny_pointnet_args(2),
    }
    steps = [TWO_CLASS_MAPPING, minmax, pointnet, {"writer": "PredictiveModelWriter", "out_model": "*model/p.model"}]
    run_steps(tmp_path, "train", [train], "out", steps)
    model = tmp_path / "out" / "model" / "p.model"
    raw, labelled = _raw(train, ["intensity"])
    scaled = raw[labelled, 0] / np.percentile(raw[:, 0], 99)  # the values the model sees
    assert read_metadata(model)["format_version"] == FORMAT_VERSION == 4  # an older vl3d_focal refuses it
    np.testing.assert_allclose(
        read_metadata(model)["normalizer"]["clip"]["intensity"], [scaled.min(), scaled.max()], rtol=1e-12
    )
    clouds = [test, tmp_path / "test" / "brighter.las"]
    for chunk_points in (None, 1000):  # in memory, then streamed tile by tile
        loader = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": chunk_points}
        same, bright = (
            np.concatenate([c for _, _, c, _ in state.clouds[0].result.iter_chunks()])
            for state in (
                run_steps(tmp_path, f"p{i}", [cloud], f"p{i}_{chunk_points}", [loader])
                for i, cloud in enumerate(clouds)
            )
        )
        np.testing.assert_array_equal(bright, same)
        assert 0.1 < same.mean() < 0.9  # both classes predicted
    steps = [
        {"predict": "ModelLoader", "model_path": str(model)},
        {"writer": "PredictionsWriter", "out_preds": "*p.lbl"},
    ]
    spec = {
        "in_pcloud": [str(cloud) for cloud in clouds],
        "out_pcloud": [f"{tmp_path / 'dask'}/a/*", f"{tmp_path / 'dask'}/b/*"],
    }
    (tmp_path / "dask.json").write_text(
        json.dumps({**spec, "sequential_pipeline": steps, "executor": {"engine": "dask", "workers": 1}})
    )
    execute_pipeline(load_spec(tmp_path / "dask.json"))
    np.testing.assert_array_equal(
        np.loadtxt(tmp_path / "dask" / "b" / "p.lbl", dtype=np.int64), np.loadtxt(tmp_path / "dask" / "a" / "p.lbl")
    )
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "dask" / "a" / "p.lbl", dtype=np.int64), same)


@pytest.mark.parametrize(
    ("where", "clip", "message"),
    [
        ("normalizer", "yes", "'normalizer.clip' must be an object {feature: [low, high]}, received 'yes'"),
        (
            "normalizer",
            {"intensity": [64.0]},
            "'normalizer.clip' 'intensity': expected [low, high], two finite numbers, received [64.0]",
        ),
        (
            "normalizer",
            {"ghost": [0, 1]},
            "'normalizer.clip' names 'ghost', not a feature it clips (intensity, height)",
        ),
        ("normalizer", {"intensity": [2562.0, 64.0]}, "'normalizer.clip' 'intensity': [2562.0, 64.0] has low > high"),
        (
            "projection",
            [["height", 1]],
            "'projection.clip' must be a list of [feature, low, high], received [['height', 1]]",
        ),
        ("projection", [["intensity", 0, 1]], "'projection.clip' names 'intensity', not a feature it clips (height)"),
    ],
)
def test_a_model_file_s_malformed_clip_bounds_are_refused_naming_the_file(tmp_path, where, clip, message):
    normalizer = {"fnames": ["intensity", "height"], "center": [0.0, 0.0], "scale": [1.0, 1.0]}
    projection = {"inputs": ["height"], "mean": [0.0], "components": [[1.0]], "variances": [1.0]}
    meta = {
        "format_version": FORMAT_VERSION,
        "feature_names": ["intensity", "height"],
        "class_names": ["a", "b"],
        "field_spec": None,
        "mapping": {},
        "normalizer": {**normalizer, "clip": {"intensity": [64.0, 2562.0]}},
        "projection": {**projection, "clip": [["height", 0.0, 2.0]]},
    }
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:  # the metadata as written, then with its clip changed
        archive.writestr(METADATA_MEMBER, json.dumps(meta))
    assert read_metadata(path)["normalizer"]["clip"] == {"intensity": [64.0, 2562.0]}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METADATA_MEMBER, json.dumps({**meta, where: {**meta[where], "clip": clip}}))
    with pytest.raises(DataError) as info:
        read_metadata(path)
    assert str(info.value) == f"model_path {path}: metadata {message}, not as vl3d_focal writes it; re-train the model"


def test_a_projection_s_inputs_are_clipped_as_computed_and_a_feature_it_leaves_as_the_model_sees_it(tmp_path):
    steps = [
        TWO_CLASS_MAPPING,
        {"feature_transformer": "MinmaxNormalizer", "fnames": ["AUTO"]},
        {"feature_transformer": "PCATransformer", "fnames": ["height", "intensity"], "out_dim": 1},
        {
            "train": "PointNetPwiseClassifier",
            "fnames": ["intensity", "height", "noise"],
            "cloud_normalization": {"intensity": {"method": "percentile"}, "noise": {"method": "robust"}},
            "model_args": tiny_pointnet_args(2),
        },
    ]
    train = _scene(tmp_path, seed=1)
    state = run_steps(tmp_path, "train", [train], "out", steps)
    raw, labelled = _raw(train, ["height", "intensity", "noise"])
    low, high = raw[labelled].min(axis=0), raw[labelled].max(axis=0)  # intensity projected: not scaled per cloud
    assert [name for name, _, _ in state.bundle.projection.clip] == ["intensity", "height"]  # the model's order
    np.testing.assert_allclose([b[1:] for b in state.bundle.projection.clip], np.column_stack([low, high])[[1, 0]])
    q25, q50, q75 = np.percentile(raw[:, 2], [25, 50, 75])
    scaled = (raw[labelled, 2] - q50) / (q75 - q25)  # noise as the model sees it
    assert list(state.bundle.normalizer.clip) == ["noise"]
    np.testing.assert_allclose(state.bundle.normalizer.clip["noise"], [scaled.min(), scaled.max()], rtol=1e-12)


def test_a_cloud_far_beyond_the_clip_bounds_is_still_reported_with_its_factor(tmp_path):
    (tmp_path / "test").mkdir()
    train = _scene(tmp_path, seed=1)
    brighter = laspy.read(train)
    brighter.intensity = np.asarray(brighter.intensity) * 16  # another sensor: 16 times the intensities
    brighter.write(tmp_path / "test" / "brighter.las")
    minmax = {"feature_transformer": "MinmaxNormalizer", "fnames": ["intensity"], "minmax": [[0, 3000]]}
    forest = {"train": "RandomForestClassifier", "fnames": ["intensity", "height"], "model_args": {"n_estimators": 2}}
    steps = [TWO_CLASS_MAPPING, minmax, forest, {"writer": "PredictiveModelWriter", "out_model": "*model/f.model"}]
    run_steps(tmp_path, "train", [train], "out", steps)
    model = tmp_path / "out" / "model" / "f.model"
    assert load_bundle(model).normalizer.clip == {"intensity": (0.0, 3000.0)}
    raw, labelled = _raw(train, ["intensity"])
    low, high = np.percentile(raw[labelled, 0], [1.0, 99.0])  # the training values, before the clip
    c_low, c_high = np.percentile(16.0 * raw[:, 0], [1.0, 99.0])  # the whole cloud, all beyond 3000
    assert c_low > 3000.0
    factor = f"its 1st-99th percentile range is {(c_high - c_low) / (high - low):.1f}x the training range"
    for chunk_points in (None, 1000):  # in memory, then streamed tile by tile
        loader = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": chunk_points}
        state = run_steps(tmp_path, "p", [tmp_path / "test" / "brighter.las"], f"p_{chunk_points}", [loader])
        [warning] = state.clouds[0].feature_warnings
        assert "feature 'intensity' lies far outside" in warning and factor in warning, warning


def test_an_explicit_minmax_of_a_feature_scaled_per_cloud_is_a_validation_error_at_its_pair():
    minmax = {"feature_transformer": "MinmaxNormalizer", "fnames": ["noise", "height"], "minmax": [[-1, 1], [0, 2]]}
    forest = {"train": "RandomForestClassifier", "fnames": ["height", "noise"], "model_args": {"n_estimators": 2}}
    scaled = {**forest, "cloud_normalization": {"height": {"method": "robust"}}}
    issues, _ = _issues_and_notes([minmax, scaled])
    assert issues == [
        "$.sequential_pipeline[0].minmax[1]: minmax gives the range of 'height' as computed, but the train step's "
        "cloud_normalization scales it per cloud and the model clips the scaled values: leave out minmax (the range "
        "is then fitted on the scaled training values) or that cloud_normalization"
    ]
    assert _issues_and_notes([minmax, forest])[0] == []  # not scaled per cloud
    assert _issues_and_notes([{k: v for k, v in minmax.items() if k != "minmax"}, scaled])[0] == []  # fitted range
    projected = {"feature_transformer": "PCATransformer", "fnames": ["AUTO"], "out_dim": 1.0}
    assert _issues_and_notes([minmax, projected, scaled])[0] == []  # the projection takes the values as computed
