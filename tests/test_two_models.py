"""A run that evaluates two models (one it trains, one it loads) records which model each
evaluation scored; its report and ``vl3d-focal compare`` show one score per model, never the
two models' confusion matrices summed (two train steps' training folders:
``test_training_folders.py``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import DEMO_CLASSES, run_steps

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.io.prefix_lock import INTERRUPTED_SILENTLY
from vl3d_focal.reports.compare import compare_runs
from vl3d_focal.reports.html_report import render_report
from vl3d_focal.reports.metrics import classification_metrics
from vl3d_focal.reports.run_summary import model_evaluations, summed_metrics

MAPPING = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}
FNAMES = ["intensity", "height_above_ground"]


def _forest(depth: int, seed: int, *, training: list[str] | None = None) -> dict:
    handling = {"model_handling": {"training_pcloud": training}} if training else {}
    return {
        "train": "RandomForestClassifier",
        "fnames": FNAMES,
        "random_seed": seed,
        "model_args": {"n_estimators": 3, "max_depth": depth, "n_jobs": 1, **handling},
    }


def _miou(matrix) -> float:
    """mIoU of a confusion matrix (rows: reference), over the classes with reference points."""
    counts = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(counts)
    union = counts.sum(axis=0) + counts.sum(axis=1) - tp
    present = counts.sum(axis=1) > 0
    return float(np.mean(tp[present] / union[present]))


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """Run ``first`` trains a shallow forest and writes it; run ``both`` trains a deeper forest,
    evaluates it, then loads the shallow one and evaluates it on the same cloud."""
    folder = tmp_path_factory.mktemp("two_models")
    train, test = folder / "train.las", folder / "test.las"
    generate_urban_scene(seed=3, size_m=24.0).write(train)
    generate_urban_scene(seed=4, size_m=24.0).write(test)
    shallow = [
        MAPPING,
        _forest(2, 1, training=[str(train)]),
        {"writer": "PredictiveModelWriter", "out_model": "*model/rf.model"},
    ]
    run_steps(folder, "first", [test], "first", shallow)
    both = [
        MAPPING,
        _forest(10, 2, training=[str(train)]),
        {"predict": "PreviousModel"},
        {"eval": "ClassificationEvaluator", "report_path": "*eval_deep/evaluation.json", "pictures": False},
        {"predict": "ModelLoader", "model_path": str(folder / "first" / "model" / "rf.model")},
        {"eval": "ClassificationEvaluator", "report_path": "*eval_shallow/evaluation.json", "pictures": False},
    ]
    run_steps(folder, "both", [test], "both", both)
    record = json.loads((folder / "both" / "report.json").read_text())
    return folder, record


def test_each_evaluation_names_its_model_and_scores_are_per_model(two_models):
    folder, record = two_models
    deep, shallow = record["evaluations"]
    assert deep["model"] == {"model": "RandomForestClassifier", "training": 0}
    assert shallow["model"] == {"model": "RandomForestClassifier", "file": str(folder / "first" / "model" / "rf.model")}
    assert summed_metrics(record) is None  # two models: never summed
    groups = model_evaluations(record)
    assert [g["label"] for g in groups] == [
        "RandomForestClassifier (step 2)",
        "RandomForestClassifier (loaded rf.model)",
    ]
    for group, evaluation in zip(groups, (deep, shallow)):
        assert group["evaluations"] == [evaluation]
        assert group["metrics"]["mIoU"] == pytest.approx(_miou(evaluation["metrics"]["confusion_matrix"]), abs=1e-12)
    assert groups[0]["metrics"]["mIoU"] != pytest.approx(groups[1]["metrics"]["mIoU"])  # two distinct models


def test_compare_shows_one_row_per_model_with_its_own_scores_and_clouds(two_models):
    folder, record = two_models
    comparison = compare_runs([folder / "both"])
    rows = comparison["runs"]
    assert [row["name"] for row in rows[:2]] == [
        "both: RandomForestClassifier (step 2)",
        "both: RandomForestClassifier (loaded rf.model)",
    ]
    for row, evaluation in zip(rows, record["evaluations"]):
        matrix = evaluation["metrics"]["confusion_matrix"]
        assert row["mIoU"] == pytest.approx(_miou(matrix), abs=1e-12)
        counts = np.asarray(matrix, dtype=np.float64)
        assert row["OA"] == pytest.approx(np.trace(counts) / counts.sum(), abs=1e-12)
        assert row["evaluated"] == [f"test.las ({int(counts.sum()):,} points)"]  # the cloud once per model
    assert rows[0]["seed"] == 2 and rows[0]["model"] == "RandomForestClassifier (trained)"
    assert rows[1]["model"] == "RandomForestClassifier (loaded rf.model)"
    assert len(comparison["notes"]) == 1  # each model evaluated the same cloud, once; each ran once:
    assert comparison["notes"][0].startswith("each configuration ran once, so differences the size of seed")


def test_report_shows_one_score_line_per_model_and_names_the_model_in_results(two_models):
    folder, record = two_models
    html = render_report(record, folder=folder / "both")
    groups = model_evaluations(record)
    for group in groups:
        assert f"<b>{group['label']}</b>: mIoU {group['metrics']['mIoU']:.3f}" in html
    assert "Results: test.las \u2014 RandomForestClassifier (step 2)" in html
    assert "Results: test.las \u2014 RandomForestClassifier (loaded rf.model)" in html
    assert "confusion matrices summed" not in html


def test_compare_shows_a_running_record_whose_process_is_gone_as_interrupted(two_models, tmp_path):
    _, record = two_models
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "report.json").write_text(json.dumps({**record, "status": "running"}))
    rows = compare_runs([tmp_path / "killed"])["runs"]
    assert [row["status"] for row in rows] == [INTERRUPTED_SILENTLY] * 2  # no lock: no process holds the prefix


def test_one_model_over_several_clouds_is_summed_another_model_never():
    rng = np.random.default_rng(0)
    matrices = [rng.integers(0, 50, size=(3, 3)) for _ in range(3)]
    ae = {"model": "ConvolutionalAutoencoderPwiseClassifier", "training": 0}
    rf = {"model": "RandomForestClassifier", "training": 1}
    evaluations = [
        {"cloud": f"c{k}.laz", "model": model, "metrics": classification_metrics(m, class_names=["a", "b", "c"])}
        for k, (model, m) in enumerate(zip([ae, rf, ae], matrices))
    ]
    steps = [{"kind": "train"}, {"kind": "eval"}, {"kind": "train"}, {"kind": "eval"}]
    groups = model_evaluations({"steps": steps, "evaluations": evaluations})
    assert [g["label"] for g in groups] == [
        "ConvolutionalAutoencoderPwiseClassifier (step 1)",
        "RandomForestClassifier (step 3)",
    ]
    assert groups[0]["metrics"]["mIoU"] == pytest.approx(_miou(matrices[0] + matrices[2]), abs=1e-12)
    assert groups[1]["metrics"]["mIoU"] == pytest.approx(_miou(matrices[1]), abs=1e-12)
    np.testing.assert_array_equal(groups[0]["metrics"]["confusion_matrix"], matrices[0] + matrices[2])
