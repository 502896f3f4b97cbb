"""A survey's summed scores: survey.json and the run report sum the tiles' confusion matrices with
one function, and say so when they leave tiles out (tiles of several class sets or models)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from vl3d_focal.io.footprints import TileIndex
from vl3d_focal.reports.html_report import render_report
from vl3d_focal.reports.metrics import classification_metrics
from vl3d_focal.reports.run_summary import summed_metrics
from vl3d_focal.runner.cloud_task import CloudOutcome
from vl3d_focal.runner.survey import SurveyRecord
from vl3d_focal.steps.facts import EvaluationFacts, RunFacts

MODEL = {"model": "RandomForestClassifier", "training": 0}


def _survey(tmp_path: Path, tiles: dict[str, tuple[list[str], list[list[int]]]]) -> tuple[dict, dict]:
    """survey.json of a finished survey whose tiles were evaluated as given (class names, confusion
    matrix), and the run record's evaluations of the same run."""
    record = SurveyRecord.start(
        inputs=list(tiles),
        prefixes=[f"{tmp_path}/{name}/" for name in tiles],
        failures={},
        model_prefix=f"{tmp_path}/",
        index=TileIndex(footprints=()),
        resume=False,
    )
    phase = record.begin_phase(kinds=["predict", "eval"], model_fingerprint="m", fingerprint="f")
    evaluations = []
    for number, (name, (names, matrix)) in enumerate(tiles.items()):
        facts = EvaluationFacts(
            cloud=name, report_path="", metrics=classification_metrics(matrix, class_names=names), model=MODEL
        )
        evaluations.append(dataclasses.asdict(facts))
        outcome = CloudOutcome(number=number, path=name, status="done", facts=RunFacts(evaluations=[facts]))
        record.record(outcome, phase=phase, outputs=[])
    record.end(error=None)
    return json.loads(record.json_path.read_text(encoding="utf-8")), {"evaluations": evaluations}


def test_a_normal_survey_sums_every_tile_as_the_report_does(tmp_path):
    matrices = {"a.laz": [[3, 1, 0], [0, 4, 1], [0, 0, 2]], "b.laz": [[5, 0, 1], [2, 1, 0], [0, 1, 0]]}
    doc, run = _survey(tmp_path, {name: (["x", "y", "z"], matrix) for name, matrix in matrices.items()})
    summed = np.sum([np.asarray(m) for m in matrices.values()], axis=0)
    assert doc["metrics"]["confusion_matrix"] == summed.tolist()
    assert doc["metrics"]["OA"] == pytest.approx(np.trace(summed) / summed.sum())  # 15 of 21 points
    iou = np.diag(summed) / (summed.sum(axis=0) + summed.sum(axis=1) - np.diag(summed))
    assert doc["metrics"]["mIoU"] == pytest.approx(iou.mean())
    assert doc["metrics"] == summed_metrics(run)  # survey.json and the run report say the same
    assert (doc["tiles_scored"], doc["tiles_summed"], doc["warnings"]) == (2, 2, [])
    assert [tile["model"] for tile in doc["tiles"]] == [MODEL, MODEL]  # which model each tile's scores are of
    assert doc["started"].endswith("+00:00") and doc["updated"].endswith("+00:00")  # UTC, as the run's records


def test_tiles_of_two_class_sets_are_summed_by_neither_and_both_say_so(tmp_path, caplog):
    tiles = {"a.laz": (["x", "y"], [[3, 1], [0, 4]]), "b.laz": (["x", "y", "z"], [[1, 0, 0], [0, 1, 0], [0, 1, 1]])}
    with caplog.at_level(logging.WARNING, logger="vl3d_focal"):
        doc, run = _survey(tmp_path, tiles)
    assert doc["metrics"] is None and summed_metrics(run) is None  # the same answer in both
    assert (doc["tiles_scored"], doc["tiles_summed"]) == (2, 0)
    note = "the 2 evaluated clouds score 2 different models or class sets"
    assert [m for m in caplog.messages if note in m] and note in doc["warnings"][0]
    page = render_report(run, folder=tmp_path)  # a line per class set, each with its own cloud
    assert "RandomForestClassifier (2 classes)" not in page and page.count("(1 evaluated cloud)") == 2
    assert "RandomForestClassifier, 2 classes" in page and "RandomForestClassifier, 3 classes" in page
