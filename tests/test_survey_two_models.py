"""A survey that scores two models per tile (each tile predicted and evaluated with one model,
then with the other): survey.json keeps both models' scores of every tile and sums them per
model, as the run report does; survey.geojson and the report's map name the model each score is
of and link to its evaluation; ``--resume`` keeps both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import random_bundle, split_scene

from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.io.las import PointCloud
from vl3d_focal.models.model_file import save_bundle
from vl3d_focal.reports.run_summary import model_evaluations

FNAMES = ["intensity", "gps_time"]
LABELS = {"a": "PointNetPwiseClassifier (loaded a.keras)", "b": "PointNetPwiseClassifier (loaded b.keras)"}

pytestmark = pytest.mark.usefixtures("restore_logging")


def _main(folder: Path, spec: dict, capsys, *args: str) -> tuple[int, str]:
    """``vl3d-focal run`` in this process: exit status and stderr."""
    from vl3d_focal.cli import main

    (folder / "spec.json").write_text(json.dumps(spec))
    capsys.readouterr()
    status = main(["run", str(folder / "spec.json"), *args])
    return status, capsys.readouterr().err


def _scores(matrix) -> tuple[float, float]:
    """OA and mIoU of a confusion matrix (rows: reference), mIoU over the classes with reference points."""
    counts = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(counts)
    union = counts.sum(axis=0) + counts.sum(axis=1) - tp
    present = counts.sum(axis=1) > 0
    return float(tp.sum() / counts.sum()), float(np.mean(tp[present] / union[present]))


@pytest.fixture(scope="module")
def two_model_survey(tmp_path_factory):
    """4 tiles, two untrained models (different seeds), and the spec scoring both on every tile."""
    root = tmp_path_factory.mktemp("survey_two_models")
    las = generate_urban_scene(seed=12, size_m=24.0)
    split_scene(las, root / "tiles")
    for name, seed in (("a", 5), ("b", 6)):
        bundle = random_bundle(fnames=FNAMES, radius=2.5, num_points=32, seed=seed, fit_on=PointCloud.from_las(las))
        save_bundle(bundle, root / f"{name}.keras")
    steps = []
    for name in ("a", "b"):
        steps += [
            {"predict": "ModelLoader", "model_path": str(root / f"{name}.keras")},
            {
                "eval": "ClassificationEvaluator",
                "report_path": f"*eval{name.upper()}/evaluation.json",
                "pictures": False,
            },
        ]
    spec = {"in_pcloud": str(root / "tiles"), "out_pcloud": f"{root / 'out'}/*", "sequential_pipeline": steps}
    return root, spec


def _check_survey(out: Path, root: Path) -> dict:
    """Asserts survey.json's per-tile scores and per-model sums; returns it."""
    doc = json.loads((out / "survey.json").read_text())
    assert doc["tiles_scored"] == 4 and doc["warnings"] == []
    assert doc["metrics"] is None and doc["tiles_summed"] == 0  # two models: each one's sums in models
    matrices = {"a": [], "b": []}
    for tile in doc["tiles"]:
        evaluations = [tile, *tile["further_evaluations"]]
        assert len(evaluations) == 2
        for name, evaluation in zip("ab", evaluations):
            assert evaluation["model"] == {"model": "PointNetPwiseClassifier", "file": str(root / f"{name}.keras")}
            written = Path(evaluation["evaluation"])
            assert written == Path(tile["prefix"]) / f"eval{name.upper()}" / "evaluation.json"
            report = json.loads(written.read_text())
            assert evaluation["metrics"]["confusion_matrix"] == report["confusion_matrix"]
            assert evaluation["metrics"]["mIoU"] == pytest.approx(_scores(report["confusion_matrix"])[1])
            matrices[name].append(np.asarray(report["confusion_matrix"]))
    assert [m["label"] for m in doc["models"]] == [LABELS["a"], LABELS["b"]]
    for name, model in zip("ab", doc["models"]):
        summed = np.sum(matrices[name], axis=0)
        assert model["tiles_summed"] == 4 and model["metrics"]["confusion_matrix"] == summed.tolist()
        assert (model["metrics"]["OA"], model["metrics"]["mIoU"]) == pytest.approx(_scores(summed))
    assert not np.array_equal(np.sum(matrices["a"], axis=0), np.sum(matrices["b"], axis=0))  # two models indeed
    return doc


def test_a_survey_of_two_models_keeps_and_sums_each_models_scores(two_model_survey, capsys):
    root, spec = two_model_survey
    out = root / "out"
    status, _ = _main(root, spec, capsys)
    assert status == 0
    doc = _check_survey(out, root)
    report = json.loads((out / "report.json").read_text())  # the run report says the same per model
    groups = model_evaluations(report)
    assert [g["metrics"]["confusion_matrix"] for g in groups] == [
        m["metrics"]["confusion_matrix"] for m in doc["models"]
    ]

    geo = json.loads((out / "survey.geojson").read_text())
    for feature, tile in zip(geo["features"], doc["tiles"]):
        props = feature["properties"]
        assert (props["model"], props["model_2"]) == (LABELS["a"], LABELS["b"])
        assert (props["mIoU"], props["mIoU_2"]) == (
            tile["metrics"]["mIoU"],
            tile["further_evaluations"][0]["metrics"]["mIoU"],
        )
        assert (props["evaluation"], props["evaluation_2"]) == (
            tile["evaluation"],
            tile["further_evaluations"][0]["evaluation"],
        )

    page = (out / "report.html").read_text()
    assert f"mIoU of {LABELS['a']} from red 0" in page and f"links to the evaluation of {LABELS['a']})" in page
    first = doc["tiles"][0]
    name = Path(first["path"]).stem
    title = (
        f"{name}: done, mIoU {first['metrics']['mIoU']:.3f} ({LABELS['a']}), "
        f"mIoU {first['further_evaluations'][0]['metrics']['mIoU']:.3f} ({LABELS['b']})"
    )
    assert title in page
    assert f'href="{name}/evalA/evaluation.json"' in page and f'href="{name}/evalB/evaluation.json"' in page
    assert "Scores of the tiles together, per model" in page

    status, err = _main(root, spec, capsys, "--resume")  # every tile skipped: both models' scores kept
    assert status == 0 and "4 skipped" in err
    assert "classes absent from the reference" not in err  # nothing scored anew
    resumed = _check_survey(out, root)
    assert [t["status"] for t in resumed["tiles"]] == ["skipped"] * 4
    assert resumed["models"] == doc["models"]
    assert [(t["metrics"], t["further_evaluations"]) for t in resumed["tiles"]] == [
        (t["metrics"], t["further_evaluations"]) for t in doc["tiles"]
    ]
    again = model_evaluations(json.loads((out / "report.json").read_text()))
    assert [(g["model"], g["metrics"]["confusion_matrix"]) for g in again] == [
        (g["model"], g["metrics"]["confusion_matrix"]) for g in groups
    ]

    save_bundle(random_bundle(fnames=FNAMES, radius=2.5, num_points=32, seed=7), root / "b.keras")  # b changed
    status, err = _main(root, spec, capsys, "--resume")  # a's phase skipped, b's done again
    assert status == 0 and "4 tiles already done" in err
    changed = _check_survey(out, root)
    assert changed["models"][0] == doc["models"][0] and changed["models"][1] != doc["models"][1]
    assert [t["metrics"] for t in changed["tiles"]] == [t["metrics"] for t in doc["tiles"]]
    groups = model_evaluations(json.loads((out / "report.json").read_text()))  # each tile once per model
    assert [len(g["evaluations"]) for g in groups] == [4, 4]
    assert [g["metrics"]["confusion_matrix"] for g in groups] == [
        m["metrics"]["confusion_matrix"] for m in changed["models"]
    ]
