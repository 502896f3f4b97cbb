"""VL3D's random-forest keys: held-out validation (autoval, stratified k-fold), importances, trees."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.reports.metrics import confusion_matrix
from vl3d_focal.reports.vl3d_metrics import global_metrics
from vl3d_focal.runner.pipeline import execute_pipeline
from vl3d_focal.training.forest_reports import importance_table, kfold_table, most_trees, permutation_importances
from vl3d_focal.training.forest_tuning import tune_forest
from vl3d_focal.training.forest_validation import HeldOutValidation


def _points(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 1.2)  # class 2 and 3 rarer
    return x, y


def _new_forest():
    return RandomForestClassifier(n_estimators=8, random_state=0)


def test_autoval_holds_out_a_stratified_share_and_scores_the_forest_fitted_on_the_rest():
    x, y = _points()
    check = HeldOutValidation(training_type="autoval", metrics=("OA", "MCC"), size=0.25, seed=3)
    forest, fitted = check.fit(_new_forest, x, y, num_classes=4)
    assert fitted == 450 and forest.n_features_in_ == 3
    train, held = train_test_split(np.arange(600), test_size=0.25, stratify=y, random_state=3)
    reference = _new_forest().fit(x[train], y[train])  # the same rows: the same trees, no held-out point seen
    np.testing.assert_array_equal(forest.predict(x), reference.predict(x))
    expected = global_metrics(confusion_matrix(y[held], reference.predict(x[held]), num_classes=4), names=("OA", "MCC"))
    assert check.scores == [expected] and expected["OA"] > 0.8
    share = np.bincount(y[held], minlength=4) / np.bincount(y, minlength=4)
    np.testing.assert_allclose(share, 0.25, atol=0.02)  # stratified by class


def test_stratified_kfold_scores_every_fold_reports_their_summary_and_fits_every_point(tmp_path, caplog):
    x, y = _points()
    check = HeldOutValidation(
        training_type="stratified_kfold",
        metrics=("OA", "F1"),
        folds=4,
        seed=1,
        report_path=tmp_path / "kfold.log",
        plot_path=tmp_path / "kfold.svg",
    )
    forest, fitted = check.fit(_new_forest, x, y, num_classes=4)
    assert fitted == 600 and len(check.scores) == 4
    np.testing.assert_array_equal(forest.predict(x), _new_forest().fit(x, y).predict(x))
    table = np.array([[s["OA"], s["F1"]] for s in check.scores])
    lines = (tmp_path / "kfold.log").read_text().splitlines()
    assert lines[0] == "k-fold report on RandomForestClassifier over 2 metrics (4 folds):"
    for line, values in zip(
        lines[2:], (table.mean(0), table.std(0), np.quantile(table, 0.25, 0), np.quantile(table, 0.75, 0))
    ):
        np.testing.assert_allclose([float(v) for v in line.split()[1:]], 100 * values, atol=5e-4)
    assert (tmp_path / "kfold.svg").read_text().lstrip().startswith("<?xml")
    rare = y.copy()
    rare[:2] = 5  # a class of two points is missing from two of the four folds
    with caplog.at_level(logging.WARNING, logger="vl3d_focal"):
        HeldOutValidation(training_type="stratified_kfold", folds=4).fit(_new_forest, x, rare, num_classes=6)
    assert "only 2 members, which is less than n_splits=4. That class is missing from some folds." in caplog.text
    with pytest.raises(DataError, match="cannot split the 6 labelled points into num_folds 4 folds"):
        HeldOutValidation(training_type="stratified_kfold", folds=4).fit(
            _new_forest, x[:6], np.array([0, 0, 1, 1, 2, 2]), num_classes=3
        )


def test_importances_rank_the_informative_feature_first_and_the_table_lists_least_important_first():
    x, y = _points()
    forest = _new_forest().fit(x, y)
    mean, std = permutation_importances(forest, x, y, seed=0)
    assert mean[0] > mean[2] and mean[1] > mean[2] and np.all(std >= 0)
    lines = importance_table(["a", "b", "noise"], forest.feature_importances_, (mean, std)).splitlines()
    assert [part.strip() for part in lines[0].split(",")[2:]] == ["PERM. IMP. MEAN", "PERM. IMP. STDEV"]
    assert lines[1].startswith("noise")
    assert float(lines[1].split(",")[1]) == pytest.approx(forest.feature_importances_[2], abs=1e-6)
    assert kfold_table(np.array([[0.5], [np.nan], [0.7]]), names=["IoU"]).splitlines()[2].split()[1] == "60.000"


def _scene(tmp_path):
    las = generate_urban_scene(seed=8, size_m=30.0)
    las.write(tmp_path / "scene.laz")


def _forest_step(**keys):
    return {
        "train": "RandomForestClassifier",
        "fnames": ["AUTO"],
        "random_seed": 4,
        "model_args": {"n_estimators": 6, "max_depth": 6, "class_weight": "balanced_subsample", "n_jobs": 1},
        **keys,
    }


def test_a_vl3d_forest_spec_with_its_reports_and_held_out_validation_runs(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    _scene(tmp_path)
    step = _forest_step(
        training_type="stratified_kfold",
        num_folds=3,
        shuffle_points=True,
        autoval_metrics=["OA", "IoU"],
        stratkfold_report_path="*report/kfold.log",
        stratkfold_plot_path="*plot/kfold.svg",
        importance_report_path="*report/importance.log",
        importance_report_permutation=True,
        decision_plot_path="*plot/tree.svg",
        decision_plot_trees=2,
        decision_plot_max_depth=3,
        hyperparameter_tuning={
            "tuner": "GridSearch",
            "hyperparameters": ["max_depth"],
            "num_folds": 3,
            "nthreads": 1,
            "grid": {"max_depth": [1, 6]},
            "report_path": "*report/search.log",
        },
    )
    spec = {
        "in_pcloud": ["scene.laz"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [{"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity", "verticality"]}, step],
    }
    assert validate_spec(spec, base_dir=tmp_path) == []
    (tmp_path / "forest.json").write_text(json.dumps(spec))
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        execute_pipeline(load_spec(tmp_path / "forest.json"))
    assert "balanced within each tree's bootstrap sample" in caplog.text
    assert "hyperparameter_tuning: max_depth 6 -> 6" in caplog.text  # depth 1 cannot tell four classes apart
    weights = json.loads((tmp_path / "out/report.json").read_text())["trainings"][0]
    validation = weights["validation"]
    assert validation["tuned"] == {"max_depth": 6} and validation["training_type"] == "stratified_kfold"
    assert [sorted(part) for part in validation["scores"]] == [["IoU", "OA"]] * 3
    page = (tmp_path / "out/report.html").read_text()
    assert "Scores on held-out training points (<code>stratified_kfold</code>" in page and "fold 3" in page
    assert weights["class_weight_rule"].startswith("balanced_subsample (scikit-learn): balanced within each tree's")
    counts = np.asarray(weights["class_counts"], dtype=float)
    np.testing.assert_allclose(weights["class_weight"], counts.sum() / (len(counts) * counts))
    search = (tmp_path / "out/report/search.log").read_text().splitlines()
    assert [line.split(",")[0].strip() for line in search] == ["max_depth", "1", "6"]  # best last
    assert sum("fold " in r.getMessage() and "held-out points: OA=" in r.getMessage() for r in caplog.records) == 3
    importance = (tmp_path / "out/report/importance.log").read_text().splitlines()
    assert len(importance) == 3 and {line.split()[0] for line in importance[1:]} == {"planarity_k16", "verticality_k16"}
    assert len(importance[1].split(",")) == 4  # with the permutation importances
    kfold = (tmp_path / "out/report/kfold.log").read_text().splitlines()
    assert kfold[1].split() == ["OA", "IoU"]
    pictures = sorted(p.name for p in (tmp_path / "out/plot").iterdir())
    assert pictures == ["kfold.svg", "tree_1.svg", "tree_2.svg"]
    listed = json.loads((tmp_path / "out/run.json").read_text())["files"]
    assert {"plot/tree_1.svg", "plot/tree_2.svg", "report/importance.log", "report/kfold.log"} <= set(listed)


def test_the_forest_keys_are_refused_for_a_deep_model_and_autoval_metrics_without_a_held_out_type_are_a_note(tmp_path):
    _scene(tmp_path)
    pointnet = {
        "train": "PointNetPwiseClassifier",
        "fnames": ["intensity"],
        "training_type": "autoval",
        "num_folds": 3,
        "model_args": {"num_classes": 2},
    }
    spec = {"in_pcloud": ["scene.laz"], "out_pcloud": ["out/*"], "sequential_pipeline": [pointnet]}
    found = [str(issue) for issue in validate_spec(spec, base_dir=tmp_path)]
    assert any(
        "$.sequential_pipeline[0].training_type: 'autoval' is VL3D's random forest's (RandomForestClassifier)" in i
        for i in found
    ), found
    assert any("$.sequential_pipeline[0].num_folds: num_folds is VL3D's random forest's" in i for i in found), found
    spec["sequential_pipeline"] = [_forest_step(autoval_metrics=["OA"])]  # VL3D's 'base' ignores them: a note
    assert validate_spec(spec, base_dir=tmp_path) == []
    found = [str(issue) for issue in validate_spec(spec, base_dir=tmp_path, strict=True)]
    assert found == [
        "$.sequential_pipeline[0].autoval_metrics: accepted, no effect here: training_type 'base' fits the "
        "RandomForestClassifier on every point and scores no held-out point (training_type 'autoval' or "
        "'stratified_kfold' does), as in VL3D, whose 'base' training never reads these metrics"
    ], found
    spec["sequential_pipeline"] = [
        _forest_step(
            autoval_metrics=["OA"], training_type="autoval", decision_plot_path="*tree.svg", decision_plot_trees=1
        )
    ]
    assert validate_spec(spec, base_dir=tmp_path) == []  # one picture: decision_plot_path itself
    tuning = {"tuner": "RandomSearch", "hyperparameters": ["max_depth"], "grid": {"depth": [2]}}
    spec["sequential_pipeline"] = [_forest_step(hyperparameter_tuning=tuning)]
    found = [str(issue) for issue in validate_spec(spec, base_dir=tmp_path)]
    assert found == [
        "$.sequential_pipeline[0].hyperparameter_tuning: a RandomSearch needs 'distributions': the values to try "
        "per model_args key"
    ], found
    tuning["tuner"] = "gridsearch"
    found = [str(issue) for issue in validate_spec(spec, base_dir=tmp_path)]
    assert any(".hyperparameter_tuning.grid.depth: 'depth' is not an argument of the forest" in i for i in found)
    assert any(
        ".hyperparameter_tuning.hyperparameters: expected the keys of grid (depth); got max_depth" in i for i in found
    )
    del tuning["hyperparameters"], tuning["grid"]
    tuning.update(
        tuner="RandomSearch",
        distributions={"n_estimators": [0, 3], "max_depth": {"distribution": "randint", "start": 5, "end": 2}},
    )
    found = [str(issue) for issue in validate_spec(spec, base_dir=tmp_path)]
    assert any(
        ".distributions.n_estimators: cannot be given to the forest: 0: 0 is less than the minimum of 1" in i
        for i in found
    ), found
    assert any(
        ".distributions.max_depth: cannot be given to the forest: randint draws from [start, end)" in i for i in found
    )


@pytest.mark.parametrize(
    ("size", "issue"),
    [
        (0.25, None),
        (1, None),  # a count of one point
        (40, None),
        (
            1.0,  # before, valid (an integer to JSON Schema); the run then failed (a fraction to scikit-learn)
            "autoval_size=1.0: a count of held-out points is written as an integer (1); a fraction of the labelled "
            "points is below 1",
        ),
        (
            3.0,
            "autoval_size=3.0: a count of held-out points is written as an integer (3); a fraction of the labelled "
            "points is below 1",
        ),
        (1.5, "1.5 is greater than or equal to the maximum of 1"),
        (0, "expected a fraction of the labelled points in (0, 1); a count of them (integer >= 1); got integer 0"),
        (-2, "expected a fraction of the labelled points in (0, 1); a count of them (integer >= 1); got integer -2"),
        (-0.5, "-0.5 is less than or equal to the minimum of 0"),
    ],
)
def test_an_autoval_size_that_cannot_hold_out_points_is_a_validation_error(tmp_path, size, issue):
    _scene(tmp_path)
    step = _forest_step(training_type="autoval", autoval_size=size)
    spec = {"in_pcloud": ["scene.laz"], "out_pcloud": ["out/*"], "sequential_pipeline": [step]}
    found = [str(found_issue) for found_issue in validate_spec(spec, base_dir=tmp_path)]
    assert found == ([f"$.sequential_pipeline[0].autoval_size: {issue}"] if issue else [])


def test_a_float_autoval_size_of_one_or_more_is_what_scikit_learn_refuses():
    x, y = _points()
    for size in (1.0, 3.0):
        with pytest.raises(DataError, match=f"cannot hold out autoval_size {size}"):
            HeldOutValidation(training_type="autoval", size=size, seed=0).fit(_new_forest, x, y, num_classes=4)
    _, fitted = HeldOutValidation(training_type="autoval", size=40, seed=0).fit(_new_forest, x, y, num_classes=4)
    assert fitted == 560


def test_a_random_search_draws_its_candidates_from_the_distributions_seeded():
    x, y = _points()
    settings = {
        "tuner": "RandomSearch",
        "iterations": 4,
        "num_folds": 3,
        "nthreads": 1,
        "pre_dispatch": 2,
        "distributions": {
            "max_depth": {"distribution": "randint", "start": 2, "end": 9},
            "min_impurity_decrease": {"distribution": "uniform", "start": 0.0, "offset": 0.01},
        },
    }
    first = tune_forest(_new_forest(), x, y, settings=settings, seed=5, report_path=None)
    assert first == tune_forest(_new_forest(), x, y, settings=settings, seed=5, report_path=None)
    assert 2 <= first["max_depth"] < 9 and 0.0 <= first["min_impurity_decrease"] <= 0.01
    assert isinstance(first["max_depth"], int)  # plain Python values, as model_args


def test_a_failing_candidate_is_left_out_of_the_search_with_one_warning(tmp_path, caplog):
    x, y = _points()
    settings = {
        "tuner": "GridSearch",
        "grid": {"bootstrap": [False, True], "max_samples": [0.5]},  # no max_samples without bootstrap
        "num_folds": 3,
        "nthreads": 1,
        "pre_dispatch": 2,
        "iterations": 32,
    }
    with caplog.at_level(logging.WARNING, logger="vl3d_focal"):
        best = tune_forest(_new_forest(), x, y, settings=settings, seed=0, report_path=tmp_path / "search.log")
    assert best == {"bootstrap": True, "max_samples": 0.5}
    assert "1 of 2 candidates failed and are left out" in caplog.text
    assert (tmp_path / "search.log").read_text().splitlines()[1].startswith("False")  # failed: first, best last
    grid = {"n_estimators": []}
    assert (
        most_trees(
            {"decision_plot_trees": 2, "model_args": {"n_estimators": 4}, "hyperparameter_tuning": {"grid": grid}}
        )
        == 2
    )
    _scene(tmp_path)
    step = _forest_step(
        decision_plot_path="*t.svg", decision_plot_trees=2, hyperparameter_tuning={"tuner": "GridSearch", "grid": grid}
    )
    spec = {"in_pcloud": ["scene.laz"], "out_pcloud": ["out/*"], "sequential_pipeline": [step]}
    found = [str(i) for i in validate_spec(spec, base_dir=tmp_path)]
    assert any("grid.n_estimators: [] should be non-empty" in i for i in found), found


@pytest.mark.parametrize(
    ("size", "shuffle", "message"),
    [
        (
            2,  # before: scikit-learn's "The test_size = 2 should be greater or equal to the number of classes = 4"
            True,
            "training_type 'autoval': autoval_size 2 holds out 2 of the 600 labelled points, fewer than their 4 "
            "classes (a split stratified by class, shuffle_points true, needs a point of each); give an autoval_size "
            "of at least 4 points or a larger fraction, or shuffle_points false (the last points are held out, not "
            "stratified)",
        ),
        (
            0.004,  # ceil(2.4) = 3 points
            True,
            "training_type 'autoval': autoval_size 0.004 holds out 3 of the 600 labelled points, fewer than their 4 "
            "classes",
        ),
        (
            598,
            True,
            "training_type 'autoval': autoval_size 598 holds out 598 of the 600 labelled points and leaves 2 to learn "
            "from, fewer than their 4 classes (a split stratified by class, shuffle_points true, needs a point of "
            "each); give an autoval_size of at most 596 points or a smaller fraction",
        ),
        (
            700,
            False,
            "training_type 'autoval': autoval_size 700 holds out 700 of the 600 labelled points and leaves 0 to learn "
            "from, fewer than the one point a forest needs; give an autoval_size of at most 599 points",
        ),
    ],
)
def test_an_autoval_size_the_classes_cannot_be_split_by_says_what_to_give(size, shuffle, message):
    """It depends on the classes of the training points: known at run time, not at validation."""
    x, y = _points()
    assert len(np.unique(y)) == 4
    with pytest.raises(DataError) as raised:
        HeldOutValidation(training_type="autoval", size=size, shuffle=shuffle, seed=0).fit(
            _new_forest, x, y, num_classes=4
        )
    assert str(raised.value).startswith(message)
    for size, shuffle, fitted in ((4, True, 596), (596, True, 4), (1, False, 599)):
        _, learnt = HeldOutValidation(training_type="autoval", size=size, shuffle=shuffle, seed=0).fit(
            _new_forest, x, y, num_classes=4
        )
        assert learnt == fitted
