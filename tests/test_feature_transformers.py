"""VL3D's feature selectors: their choices against scikit-learn's selectors, their errors, the
validation of their steps, and a forest trained after one (its model, report and run record list
the selected features) whose saved model predicts in memory and streamed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import TWO_CLASS_MAPPING, run_steps, write_with_extra_dims
from sklearn.feature_selection import SelectKBest, SelectPercentile, VarianceThreshold, f_classif, f_regression

from vl3d_focal.config import check_spec, validate_spec
from vl3d_focal.data.feature_selection import EXPLICIT, KBEST, PERCENTILE, VARIANCE, FeatureSelector, select_features
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.models.model_file import load_bundle, read_metadata

pytestmark = pytest.mark.filterwarnings("ignore:Features .* are constant", "ignore:invalid value:RuntimeWarning")
NAMES = ["a", "b", "c", "d", "e", "f"]


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six features of 400 points of three classes: some informative, one constant."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, 400)
    values = rng.normal(size=(400, 6))
    values[:, 1] += labels * 2.0
    values[:, 3] += labels * 0.5
    values[:, 4] = 7.0
    values[:, 5] *= 0.01
    return values, labels


@pytest.mark.parametrize("k", [1, 3, 6])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_kbest_keeps_what_scikit_learn_s_select_k_best_keeps(k, task):
    values, labels = _data()
    selection = select_features(values, labels, NAMES, FeatureSelector(KBEST, k=k, task=task))
    reference = SelectKBest(f_classif if task == "classification" else f_regression, k=k).fit(values, labels)
    assert selection.kept == tuple(np.asarray(NAMES)[reference.get_support()])
    finite = np.isfinite(reference.scores_)
    np.testing.assert_allclose(np.asarray(selection.scores)[finite], reference.scores_[finite])
    assert selection.score_name == "F-VALUE" and len(selection.pvalues) == 6


@pytest.mark.parametrize("percentile", [10, 34, 50, 100])
def test_percentile_keeps_what_scikit_learn_s_select_percentile_keeps(percentile):
    values, labels = _data(1)
    selector = FeatureSelector(PERCENTILE, percentile=percentile)
    reference = SelectPercentile(f_classif, percentile=percentile).fit(values, labels).get_support()
    assert select_features(values, labels, NAMES, selector).kept == tuple(np.asarray(NAMES)[reference])


@pytest.mark.parametrize("threshold", [0.0, 0.001, 0.5])
def test_variance_keeps_what_scikit_learn_s_variance_threshold_keeps(threshold):
    values, _ = _data(2)
    reference = VarianceThreshold(threshold).fit(values).get_support()
    selection = select_features(values, None, NAMES, FeatureSelector(VARIANCE, threshold=threshold))
    assert selection.kept == tuple(np.asarray(NAMES)[reference])


def test_a_selector_chooses_among_its_fnames_and_keeps_the_other_features():
    values, labels = _data()
    selection = select_features(values, labels, NAMES, FeatureSelector(KBEST, ("a", "b", "c"), k=1))
    assert selection.considered == ("a", "b", "c") and selection.kept == ("b", "d", "e", "f")


def test_explicit_selector_keeps_only_or_drops_the_named_features():
    values, _ = _data()
    assert select_features(values, None, NAMES, FeatureSelector(EXPLICIT, ("e", "a"))).kept == ("a", "e")
    dropped = select_features(values, None, NAMES, FeatureSelector(EXPLICIT, ("e", "a"), preserve=False))
    assert dropped.kept == ("b", "c", "d", "f")


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (FeatureSelector(KBEST, k=7), r"k=7 is more than the 6 features it chooses among \(a, b, c, d, e, f\)"),
        (FeatureSelector(VARIANCE, threshold=100.0), r"it would keep no feature of the model \(a, b, c, d, e, f\)"),
        (FeatureSelector(EXPLICIT, NAMES, preserve=False), "it would keep no feature"),
        (FeatureSelector(EXPLICIT, ("a", "z")), r"'z' not among the features of the model trained after it"),
    ],
)
def test_a_selector_s_impossible_choice_is_one_clear_error(selector, message):
    values, labels = _data()
    with pytest.raises(DataError, match=message):
        select_features(values, labels, NAMES, selector)


def test_an_f_test_needs_two_classes():
    values, _ = _data()
    with pytest.raises(DataError, match="needs training points of at least two classes; found 1"):
        select_features(values, np.zeros(400, dtype=int), NAMES, FeatureSelector(KBEST, k=1))


def _validate(steps: list[dict]) -> list[str]:
    doc = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps}
    return [str(issue) for issue in validate_spec(doc, check_files=False)]


FOREST = {
    "train": "RandomForestClassifier",
    "fnames": ["AUTO"],
    "random_seed": 3,
    "model_args": {"n_estimators": 4, "max_depth": 5, "n_jobs": 1},
}


def test_the_steps_are_validated():
    issues = _validate(
        [
            {"feature_transformer": KBEST, "k": 3, "fnames": ["a", "b"]},
            {"feature_transformer": PERCENTILE, "percentile": 0},
            {"feature_transformer": EXPLICIT, "fnames": ["AUTO"]},
            {"feature_transformer": VARIANCE, "fnames": ["AUTO", "a"], "variance_thresold": 1},
            {"feature_transformer": "MinmaxNormalizer", "fnames": ["AUTO"], "target_range": [1, 0], "minmax": [[0, 1]]},
            FOREST,
        ]
    )
    assert issues == [
        "$.sequential_pipeline[0].k: k=3 is more than the 2 features it chooses among (a, b)",
        "$.sequential_pipeline[1].percentile: 0 is less than or equal to the minimum of 0",
        "$.sequential_pipeline[2].fnames[0]: an ExplicitSelector names the features it keeps or drops, not 'AUTO'",
        "$.sequential_pipeline[3].fnames[0]: 'AUTO' takes every feature of the model: give it alone",
        "$.sequential_pipeline[3].variance_thresold: unknown key 'variance_thresold'; did you mean "
        "'variance_threshold'?",
        "$.sequential_pipeline[4].minmax: minmax gives the [min, max] of each feature fnames names, and fnames is "
        "['AUTO']: name the features",
        "$.sequential_pipeline[4].target_range: target_range [1, 0]: expected [a, b] with a < b",
    ]


def test_a_selector_no_train_step_follows_is_a_note():
    doc = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": [{"feature_transformer": VARIANCE}]}
    notes = [str(note) for note in check_spec(doc, check_files=False).notes]
    assert notes == [
        "$.sequential_pipeline[0]: accepted, no effect here: a feature transformer applies to the models trained "
        "after it, and no train step follows it (a model a predict step loads takes the features it was trained with)"
    ]


def _scene_file(folder: Path, *, seed: int) -> Path:
    """A synthetic tile with three extra dimensions: ``useful`` (the height), ``noise`` and a
    constant ``flat``."""
    las = generate_urban_scene(seed=seed, size_m=20.0)
    rng = np.random.default_rng(seed)
    extra = {
        "useful": np.asarray(las.z) - np.asarray(las.z).min(),
        "noise": rng.normal(size=len(las.points)),
        "flat": np.full(len(las.points), 3.0),
    }
    return write_with_extra_dims(las, extra, folder / f"scene_{seed}.las")


def test_a_forest_trains_on_the_selected_features_and_its_saved_model_predicts(tmp_path, caplog):
    train, test = _scene_file(tmp_path, seed=1), _scene_file(tmp_path, seed=2)
    steps = [
        TWO_CLASS_MAPPING,
        {"feature_transformer": VARIANCE, "variance_threshold": 0.001, "report_path": "*variance_selection.log"},
        {"feature_transformer": KBEST, "k": 1, "report_path": "*kbest_selection.log"},
        FOREST,
        {"writer": "PredictiveModelWriter", "out_model": "*model/forest.model"},
    ]
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        state = run_steps(tmp_path, "train", [train], "out", steps)
    assert "KBestSelector (the 1 feature of highest classification F-value): features kept: useful" in caplog.text
    model = tmp_path / "out" / "model" / "forest.model"
    assert read_metadata(model)["feature_names"] == ["useful"]
    assert read_metadata(model)["format_version"] == 1  # nothing new to predict with
    facts = state.facts.trainings[0].feature_transformers
    assert [fact["kept"] for fact in facts] == [["useful", "noise"], ["useful"]]
    record = json.loads((tmp_path / "out" / "report.json").read_text())
    assert record["trainings"][0]["feature_transformers"] == facts
    assert "<h3>Feature transformers</h3>" in (tmp_path / "out" / "report.html").read_text()
    report = (tmp_path / "out" / "variance_selection.log").read_text().splitlines()
    assert report[2] == "FEATURE, VARIANCE" and report[3].startswith("flat, 0")
    assert report[-3:] == ["SELECTED FEATURES", "useful", "noise"]
    kbest = (tmp_path / "out" / "kbest_selection.log").read_text().splitlines()
    assert kbest[2] == "FEATURE, F-VALUE, P-VALUE" and kbest[-1] == "useful"
    bundle = load_bundle(model)
    for chunk_points in (None, 1000):  # in memory, then streamed tile by tile
        loader = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": chunk_points}
        state = run_steps(tmp_path, "predict", [test], f"pred_{chunk_points}", [loader])
        classes = np.concatenate([c for _, _, c, _ in state.clouds[0].result.iter_chunks()])
        useful = np.asarray(laspy.read(test)["useful"], dtype=np.float32)[:, None]
        expected = np.argmax(bundle.model.predict_proba(bundle.normalizer.transform(useful)), axis=1)
        np.testing.assert_array_equal(classes, expected)


def _fill_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "fill values fitted on the training clouds" in r.getMessage()]


@pytest.mark.parametrize(
    ("transformers", "computed"),
    [
        (
            [{"feature_transformer": VARIANCE, "variance_threshold": 0.001}, {"feature_transformer": KBEST, "k": 1}],
            ["useful"],
        ),
        (
            [{"feature_transformer": VARIANCE, "variance_threshold": 0.001}, {"feature_transformer": "PCATransformer"}],
            ["useful", "noise"],
        ),
    ],
)
def test_the_imputers_the_transformers_are_fitted_after_are_fitted_once_and_kept_by_the_model(
    tmp_path, caplog, transformers, computed
):
    train = _scene_file(tmp_path, seed=1)
    imputer = {"imputer": "UnivariateImputer", "fnames": ["AUTO"], "strategy": "mean"}
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        state = run_steps(tmp_path, "train", [train], "out", [TWO_CLASS_MAPPING, imputer, *transformers, FOREST])
    assert len(_fill_lines(caplog)) == 1
    cloud = laspy.read(train)
    (fitted,) = state.bundle.imputers
    assert state.bundle.computed_features == computed and fitted.fnames == tuple(computed)
    means = [float(np.mean(np.asarray(cloud[name], dtype=np.float64))) for name in computed]
    assert fitted.fills == pytest.approx(means, rel=1e-12)  # every training point's, as a fit on the model's features


def test_a_removal_imputer_of_a_dropped_feature_does_not_change_the_model_s_fill_values(tmp_path, caplog):
    train = _scene_file(tmp_path, seed=1)
    cloud = laspy.read(train)
    useful = np.asarray(cloud["useful"], dtype=np.float64)
    target = float(np.asarray(cloud["noise"])[np.argmax(useful)])  # the highest point's noise: it alone holds it
    steps = [
        TWO_CLASS_MAPPING,
        {"imputer": "RemovalImputer", "fnames": ["noise"], "target_val": target},
        {"imputer": "UnivariateImputer", "fnames": ["useful"], "strategy": "mean"},
        {"feature_transformer": EXPLICIT, "fnames": ["noise", "flat"], "preserve": False},
        FOREST,
    ]
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        state = run_steps(tmp_path, "train", [train], "out", steps)
    assert [i.imputer for i in state.bundle.imputers] == ["UnivariateImputer"]  # the model does not compute noise
    assert state.bundle.imputers[0].fills == pytest.approx((float(np.mean(useful)),), rel=1e-12)  # the point counts
    assert len(_fill_lines(caplog)) == 2  # fitted again: the transformer's fit left the point out


def test_a_selector_that_keeps_no_feature_stops_the_run_with_its_reason(tmp_path):
    train = _scene_file(tmp_path, seed=3)
    steps = [TWO_CLASS_MAPPING, {"feature_transformer": VARIANCE, "variance_threshold": 1e9}, FOREST]
    with pytest.raises(DataError, match="it would keep no feature of the model"):
        run_steps(tmp_path, "none", [train], "out", steps)


ADAPTED = Path(__file__).parent / "specs" / "vl3d" / "adapted"


@pytest.mark.parametrize("name", ["kbest", "percentile", "variance"])
def test_vl3d_s_own_mine_transform_and_train_pipelines_validate(name):
    path = ADAPTED / f"mine_transform_and_train_pipeline_{name}.json"
    checked = check_spec(json.loads(path.read_text()), file=str(path), base_dir=path.parent, check_files=False)
    assert [str(i) for i in checked.issues] == []
    writers = [i for i, step in enumerate(json.loads(path.read_text())["sequential_pipeline"]) if "writer" in step]
    imputer = next(i for i, step in enumerate(json.loads(path.read_text())["sequential_pipeline"]) if "imputer" in step)
    assert [note.path for note in checked.notes] == [f"$.sequential_pipeline[{i}]" for i in (imputer, writers[1])]
    assert "this imputer finds no NaN there" in checked.notes[0].message  # GeometricFeatures give 0, not NaN
    assert "it writes the features as computed (VL3D writes them as chosen or projected)" in checked.notes[1].message


def test_vl3d_s_own_kbest_pipeline_runs(tmp_path, restore_logging):
    """Two synthetic 2.4 m "trees" mined at 5 and 10 cm, points with a NaN feature left out, the
    5 best of 14 features kept, a tuned forest trained on them."""
    from helpers import write_vl3d_cloud

    from vl3d_focal.cli import main

    for name, seed in (("leafwood_train", 0), ("leafwood_test_a", 1)):
        write_vl3d_cloud(tmp_path / "data" / f"{name}.laz", classes="leafwood", seed=seed, scale=0.1)
    spec = tmp_path / "kbest.json"
    spec.write_text((ADAPTED / "mine_transform_and_train_pipeline_kbest.json").read_text(), encoding="utf-8")
    assert main(["run", str(spec)]) == 0
    out = tmp_path / "out" / "transform_kbest"
    selected = (out / "QuePet_BR01_kbest_selection.log").read_text().split("SELECTED FEATURES\n")[1].split()
    assert len(selected) == 5 and set(read_metadata(out / "QuePet_BR01_RF.model")["feature_names"]) == set(selected)


def test_the_train_form_s_feature_transformer_is_a_step_after_its_imputer():
    doc = json.loads((ADAPTED / "random_forest_train_imputation_univariate.json").read_text())
    doc["feature_transformer"] = {"feature_transformer": VARIANCE, "variance_threshold": -1}
    issues = check_spec(doc, check_files=False).issues
    assert [(i.path, i.message) for i in issues] == [
        ("$.feature_transformer.variance_threshold", "-1 is less than the minimum of 0")
    ]
    doc["feature_transformer"]["variance_threshold"] = 0.001
    checked = check_spec(doc, check_files=False)
    assert checked.issues == []
    steps = checked.pipeline["sequential_pipeline"]
    assert [list(step)[0] for step in steps] == ["imputer", "feature_transformer", "train", "writer"]


def test_a_named_feature_no_input_cloud_offers_is_reported_at_its_place():
    from vl3d_focal.steps.feature_transformers import check_feature_transformer

    step = {"feature_transformer": KBEST, "k": 1, "fnames": ["intensty"]}
    [(at, message)] = check_feature_transformer(
        step, ("sequential_pipeline", 0), {"cloud_features": {"a.las": ["intensity"]}}
    )
    assert at == ("sequential_pipeline", 0, "fnames", 0)
    assert message.startswith("'intensty' is not a feature of a.las nor of a miner step before the feature transformer")
    assert message.splitlines()[0].endswith("did you mean 'intensity'?")
