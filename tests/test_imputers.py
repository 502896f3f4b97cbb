"""VL3D's imputers: UnivariateImputer's fill values against scikit-learn's SimpleImputer, the
points RemovalImputer leaves out, the validation of their steps, and a forest trained and applied
on clouds whose extra dimension holds NaN (the training's fill values at prediction)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import laspy
import numpy as np
import pytest
from sklearn.impute import SimpleImputer

from vl3d_focal.config import check_spec, load_spec, read_spec_file, validate_spec
from vl3d_focal.data.features import model_features
from vl3d_focal.data.imputers import REMOVAL, UNIVARIATE, Imputer, apply_imputers, fit_imputers
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import read_cloud
from vl3d_focal.models.model_file import load_bundle, read_metadata
from vl3d_focal.runner.pipeline import execute_pipeline

CORPUS = Path(__file__).parent / "specs" / "vl3d" / "adapted"
CLASSES = {
    "class_mapping": "LASClassMapping",
    "classes": [{"name": "ground", "codes": [2]}, {"name": "other", "codes": [3, 4, 5, 6, 64, 68]}],
    "ignore_codes": [0, 1, 7],
}


def _data(target: float, seed: int) -> np.ndarray:
    """Three features of 300 points, a fifth of each at ``target``, with ties (most_frequent)."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 6, size=(300, 3)).astype(np.float32) + np.float32(0.25)
    values[rng.random(values.shape) < 0.2] = target
    return values


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent", "constant"])
@pytest.mark.parametrize("target", [np.nan, -1.0])
def test_univariate_fill_values_are_scikit_learn_simple_imputer_s(strategy, target):
    train, test = _data(target, 0), _data(target, 1)
    names = ["a", "b", "c"]
    step = {"imputer": UNIVARIATE, "strategy": strategy, "constant_val": 7.5, "target_val": "NaN"}
    if not np.isnan(target):
        step["target_val"] = target
    fitted = fit_imputers([train[:100], train[100:]], names, [Imputer.from_step(step).for_features(names)])
    reference = SimpleImputer(missing_values=target, strategy=strategy, fill_value=7.5).fit(train)
    np.testing.assert_allclose(fitted[0].fills, np.asarray(reference.statistics_, dtype=float), rtol=1e-6)
    imputed, kept = apply_imputers(test, names, fitted)
    np.testing.assert_allclose(imputed, reference.transform(test), rtol=1e-6)
    assert kept.all() and np.isnan(test).any() == np.isnan(target)  # the input is left as it was


def test_most_frequent_takes_the_smallest_of_equally_frequent_values():
    values = [np.array([[3.0], [1.0], [3.0], [1.0], [np.nan]])]
    assert fit_imputers(values, ["a"], [Imputer(UNIVARIATE, ("a",))])[0].fills == (2.0,)
    mode = Imputer(UNIVARIATE, ("a",), strategy="most_frequent")
    assert fit_imputers(values, ["a"], [mode])[0].fills == (1.0,)


def test_removal_leaves_out_the_points_holding_the_target_in_a_named_feature():
    values = _data(-1.0, 2)
    removal = Imputer(REMOVAL, ("a", "c"), target=-1.0)
    imputed, kept = apply_imputers(values, ["a", "b", "c"], [removal])
    expected = ~((values[:, 0] == -1.0) | (values[:, 2] == -1.0))
    assert np.array_equal(kept, expected) and 0 < expected.sum() < len(values)
    np.testing.assert_array_equal(imputed, values)
    # a univariate imputer after it is fitted on the kept points only
    later = fit_imputers([values], ["a", "b", "c"], [removal, Imputer(UNIVARIATE, ("b",), target=-1.0)])[1]
    b = values[expected, 1]
    assert later.fills == pytest.approx((float(np.mean(b[b != -1.0])),))


def test_a_feature_of_targets_only_and_infinities_are_errors(tmp_path):
    with pytest.raises(DataError, match="every training value of feature 'a' is the target: no value to compute its"):
        fit_imputers([np.full((4, 1), np.nan)], ["a"], [Imputer(UNIVARIATE, ("a",))])
    constant = Imputer(UNIVARIATE, ("a",), strategy="constant", constant=3.0)
    assert fit_imputers([np.full((4, 1), np.nan)], ["a"], [constant])[0].fills == (3.0,)
    cloud = read_cloud(_scene_file(tmp_path, seed=5, fraction=0.2, infinite=True))
    fitted = Imputer(UNIVARIATE, ("score",), fills=(1.0,))
    with pytest.raises(DataError, match=r"NaN or infinite feature values \('score' at 3 points\)"):
        model_features(cloud, ["intensity", "score"], imputers=[fitted])


def _scene_file(
    folder: Path, *, seed: int, fraction: float, infinite: bool = False, shift: float = 0.0, sentinel: float = 0.0
) -> Path:
    """A synthetic tile whose extra dimension ``score`` holds NaN at ``fraction`` of its points
    (and -1 at ``sentinel`` of them)."""
    las = generate_urban_scene(seed=seed, size_m=20.0)
    rng = np.random.default_rng(seed)
    score = (rng.uniform(0.0, 10.0, len(las.points)) + shift).astype(np.float32)
    score[rng.random(len(score)) < fraction] = np.nan
    score[rng.random(len(score)) < sentinel] = -1.0
    if infinite:
        score[:3] = np.inf
    las.add_extra_dim(laspy.ExtraBytesParams(name="score", type=np.float32))
    las.score = score
    path = folder / f"scene_{seed}.las"
    las.write(path)
    return path


def _spec(inputs: list[Path], out: Path, steps: list[dict]) -> dict:
    return {"in_pcloud": [str(p) for p in inputs], "out_pcloud": [f"{out}/*"], "sequential_pipeline": steps}


def _run(folder: Path, name: str, spec: dict):
    path = folder / f"{name}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return execute_pipeline(load_spec(path))


FOREST = {
    "train": "RandomForestClassifier",
    "fnames": ["intensity", "score"],
    "random_seed": 3,
    "model_args": {"n_estimators": 4, "max_depth": 5, "n_jobs": 1},
}


def test_a_forest_trains_on_nan_values_and_predicts_with_the_training_mean(tmp_path, caplog):
    train = _scene_file(tmp_path, seed=1, fraction=0.1)
    test = _scene_file(tmp_path, seed=2, fraction=0.3, shift=50.0)  # another mean: the training's must fill it
    imputer = {"imputer": UNIVARIATE, "fnames": ["AUTO"], "target_val": "NaN", "strategy": "mean", "constant_val": 0}
    writer = {"writer": "PredictiveModelWriter", "out_model": "*model/forest.model"}
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        _run(tmp_path, "train", _spec([train], tmp_path / "out", [CLASSES, imputer, FOREST, writer]))
    score = np.asarray(laspy.read(train).score)
    model = tmp_path / "out" / "model" / "forest.model"
    stored = read_metadata(model)["imputers"]
    assert [entry["fnames"] for entry in stored] == [["intensity", "score"]]
    assert stored[0]["fills"][1] == pytest.approx(float(np.nanmean(score)), rel=1e-6)
    assert f"scene_1.las: UnivariateImputer (mean in place of NaN) filled {int(np.isnan(score).sum())} of 'score'" in (
        caplog.text
    )
    bundle = load_bundle(model)
    new = np.asarray(laspy.read(test).score)
    for chunk_points in (None, 1000):  # in memory, then streamed tile by tile
        caplog.clear()
        loader = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": chunk_points}
        with caplog.at_level(logging.INFO, logger="vl3d_focal"):
            state = _run(tmp_path, "predict", _spec([test], tmp_path / f"pred_{chunk_points}", [loader]))
        fill = bundle.imputers[0].fills[1]
        assert f"filled {int(np.isnan(new).sum())} of 'score' with {fill:.6g}" in caplog.text
        classes = np.concatenate([c for _, _, c, _ in state.clouds[0].result.iter_chunks()])
        raw = np.column_stack(
            [np.asarray(laspy.read(test).intensity, dtype=np.float32), np.where(np.isnan(new), fill, new)]
        )
        expected = np.argmax(bundle.model.predict_proba(bundle.normalizer.transform(raw.astype(np.float32))), axis=1)
        np.testing.assert_array_equal(classes, expected)


def test_a_removal_imputer_leaves_points_out_of_training_and_predicts_them_from_the_nearest_kept(tmp_path, caplog):
    from scipy.spatial import cKDTree

    train = _scene_file(tmp_path, seed=3, fraction=0.1)
    test = _scene_file(tmp_path, seed=4, fraction=0.25)
    removal = {"imputer": REMOVAL, "fnames": ["score"], "target_val": "NaN"}
    writer = {"writer": "PredictiveModelWriter", "out_model": "*model/forest.model"}
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        state = _run(tmp_path, "train", _spec([train], tmp_path / "out", [CLASSES, removal, FOREST, writer]))
    gone = np.isnan(np.asarray(laspy.read(train).score))
    codes = np.asarray(laspy.read(train).classification)
    labelled = ~np.isin(codes, [0, 1, 7])
    assert f"scene_3.las: RemovalImputer (points holding NaN) left out {int(gone.sum())} of {len(gone)} points" in (
        caplog.text
    )
    assert state.facts.trainings[0].validation["points"] == int(np.sum(labelled & ~gone))
    model = tmp_path / "out" / "model" / "forest.model"
    results = []
    for chunk_points in (None, 1000):
        caplog.clear()
        loader = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": chunk_points}
        with caplog.at_level(logging.INFO, logger="vl3d_focal"):
            state = _run(tmp_path, "predict", _spec([test], tmp_path / f"pred_{chunk_points}", [loader]))
        results.append(np.concatenate([c for _, _, c, _ in state.clouds[0].result.iter_chunks()]))
        left = np.isnan(np.asarray(laspy.read(test).score))
        assert f"{left.sum()} points left out by a RemovalImputer" in caplog.text
        assert any(
            r.levelname == "WARNING" and "left out by a RemovalImputer" in r.getMessage() for r in caplog.records
        )
    xyz = read_cloud(test).xyz
    assert len(results[0]) == len(xyz)  # every point written
    nearest = np.flatnonzero(~left)[cKDTree(xyz[~left]).query(xyz[left])[1]]
    np.testing.assert_array_equal(results[0][left], results[0][nearest])
    np.testing.assert_array_equal(results[0], results[1])  # in memory and streamed alike


def test_a_field_model_predicts_the_same_in_memory_and_streamed_with_imputers(tmp_path):
    """An (untrained) PointNet whose points left out are no field points, in memory and tile by tile."""
    import dataclasses

    from helpers import random_bundle

    from vl3d_focal.data.records import CloudRecord
    from vl3d_focal.inference.activations import pointwise_outputs
    from vl3d_focal.inference.prediction import cloud_probabilities
    from vl3d_focal.inference.streaming import predict_streamed

    path = _scene_file(tmp_path, seed=6, fraction=0.2)
    left = np.isnan(np.asarray(laspy.read(path).score))
    for imputer in (Imputer(REMOVAL, ("score",)), Imputer(UNIVARIATE, ("score",), fills=(4.0,))):
        bundle = dataclasses.replace(random_bundle(fnames=["intensity", "score"]), imputers=(imputer,))
        memory = CloudRecord(path=path, cloud=read_cloud(path), prefix=f"{tmp_path}/")
        probabilities, _ = cloud_probabilities(memory, bundle, chunk_points=None)
        streamed = predict_streamed(
            CloudRecord(path=path, prefix=f"{tmp_path}/", num_points=len(left)), bundle, chunk_points=1000
        )
        tiled = np.concatenate([p for *_, p in streamed.iter_chunks()])
        np.testing.assert_allclose(tiled, probabilities, atol=1e-5)
        assert np.isfinite(probabilities).all()
        if imputer.removes:  # the fields are those of the kept points (the view's), none of the whole cloud
            assert memory.fields_cache == {}
        outputs, activations = pointwise_outputs(
            CloudRecord(path=path, cloud=read_cloud(path)), bundle
        )  # DLModelEvaluator
        np.testing.assert_allclose(outputs, probabilities, atol=1e-5)
        assert activations.shape == (len(left), 8) and np.isfinite(activations).all()


def test_dask_workers_impute_as_the_driver_does(tmp_path):
    """A model of a UnivariateImputer (NaN) and a RemovalImputer (-1) applied by a Dask worker."""
    train = _scene_file(tmp_path, seed=8, fraction=0.1, sentinel=0.05)
    test = _scene_file(tmp_path, seed=9, fraction=0.2, sentinel=0.1)
    imputers = [
        {"imputer": UNIVARIATE, "fnames": ["score"], "strategy": "median"},
        {"imputer": REMOVAL, "fnames": ["score"], "target_val": -1},
    ]
    writer = {"writer": "PredictiveModelWriter", "out_model": "*model/forest.model"}
    _run(tmp_path, "train", _spec([train], tmp_path / "out", [CLASSES, *imputers, FOREST, writer]))
    model = str(tmp_path / "out" / "model" / "forest.model")
    steps = [{"predict": "ModelLoader", "model_path": model}, {"writer": "PredictionsWriter", "out_preds": "*p.lbl"}]
    local = _spec([test], tmp_path / "local", steps)
    _run(tmp_path, "local", local)
    _run(tmp_path, "dask", {**_spec([test], tmp_path / "dask", steps), "executor": {"engine": "dask", "workers": 1}})
    expected = np.loadtxt(tmp_path / "local" / "p.lbl", dtype=np.int64)
    assert len(expected) == len(laspy.read(test).points)
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "dask" / "p.lbl", dtype=np.int64), expected)


def test_the_model_file_and_a_predictive_pipeline_keep_the_imputers(tmp_path):
    import dataclasses

    from helpers import random_bundle

    from vl3d_focal.models.model_file import save_bundle
    from vl3d_focal.steps.model_writers import run_pipeline_writer
    from vl3d_focal.steps.state import PipelineState

    imputers = (Imputer(REMOVAL, ("intensity",), target=0.0), Imputer(UNIVARIATE, ("intensity",), fills=(12.5,)))
    bundle = dataclasses.replace(random_bundle(fnames=["intensity"]), imputers=imputers)
    assert load_bundle(save_bundle(bundle, tmp_path / "m.model")).imputers == imputers
    state = PipelineState(clouds=[], model_prefix=f"{tmp_path}/", bundle=bundle)
    for include in (True, False):  # VL3D's include_imputer of a predictive pipeline
        step = {"writer": "PredictivePipelineWriter", "out_pipeline": f"*{include}.pipe", "include_imputer": include}
        run_pipeline_writer({**step, "include_class_transformer": True}, state)
        assert load_bundle(tmp_path / f"{include}.pipe", with_model=False).imputers == (imputers if include else ())


def _validate(steps: list[dict], folder: Path) -> list[str]:
    cloud = _scene_file(folder, seed=7, fraction=0.0)
    return [str(i) for i in validate_spec(_spec([cloud], folder / "out", steps), base_dir=folder)]


def test_imputer_steps_validate_and_bad_keys_are_errors_at_their_path(tmp_path):
    good = [
        {"imputer": UNIVARIATE, "fnames": ["score"], "target_val": -1, "strategy": "median"},
        {"imputer": REMOVAL, "target_val": "nan"},
        FOREST,
    ]
    assert _validate(good, tmp_path) == []
    bad = [
        {"imputer": UNIVARIATE, "fnames": ["scor"], "target_val": "none", "strategy": "average"},
        {"imputer": REMOVAL, "fnames": ["AUTO", "score"], "target_val": [0], "constant_val": 1},
        FOREST,
    ]
    found = _validate(bad, tmp_path)
    assert found[0].startswith("$.sequential_pipeline[0].fnames[0]: 'scor' is not a feature of ")
    assert found[0].splitlines()[0].endswith("did you mean 'score'?")
    assert found[1:] == [
        "$.sequential_pipeline[0].strategy: unknown value 'average'; expected one of: 'mean', 'median', "
        "'most_frequent', 'constant'",
        "$.sequential_pipeline[0].target_val: expected 'NaN' or a number; got 'none'",
        "$.sequential_pipeline[1].constant_val: unknown key 'constant_val'; did you mean 'target_val'?",
        "$.sequential_pipeline[1].fnames[0]: 'AUTO' takes every feature of the model: give it alone",
        "$.sequential_pipeline[1].target_val: expected 'NaN' or a number; got array [0]",
    ]


@pytest.mark.parametrize("name", ["univariate", "removal"])
def test_vl3d_s_own_forest_training_with_an_imputer_validates(name):
    path = CORPUS / f"random_forest_train_imputation_{name}.json"
    checked = check_spec(read_spec_file(path), file=str(path), base_dir=path.parent, check_files=False)
    assert [str(i) for i in checked.issues] == []
    assert checked.pipeline is not None
    steps = checked.pipeline["sequential_pipeline"]
    assert [list(step)[0] for step in steps] == ["imputer", "train", "writer"]
    assert steps[0] == {"imputer": f"{name.capitalize()}Imputer", "target_val": "NaN", **steps[0]}


def test_the_train_form_s_imputer_is_reported_at_its_own_path():
    doc = json.loads((CORPUS / "random_forest_train_imputation_univariate.json").read_text())
    doc["imputer"]["strategy"] = "mode"
    issues = check_spec(doc, check_files=False).issues
    assert [(i.path, i.message.split(";")[0]) for i in issues] == [("$.imputer.strategy", "unknown value 'mode'")]
