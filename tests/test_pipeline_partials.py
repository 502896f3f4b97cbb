"""A run starts by deleting the temporary files an interrupted run left in any of its output folders."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from test_resume import small_spec

from vl3d_focal.cli import main
from vl3d_focal.config import load_spec
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.runner.outputs import output_files
from vl3d_focal.runner.pipeline import remove_stale_outputs

STALE = [
    "training/.history.k2j4h_9a.partial.csv",  # atomic_output (history, class weights, reports)
    "training/.best.0a1b2c3d.partial.weights.h5",  # best weights
    "training/resume/.checkpoint.zz99yy88.partial.npz",  # resumable checkpoint
    "eval/.evaluation.abcdefgh.partial.json",  # reports
    "eval/.evaluation_confusion.q1w2e3r4.partial.svg",
    "model/.model.m0d3l_01.partial.keras",  # the model writer's temporary archive
    ".survey_model.s0rv3y_1.partial.keras",  # the model a survey ships to its Dask workers
    ".predicted.p9r8e7d6.partial.laz",  # the cloud writers' temporary cloud
]
"""Temporary files of ours (io.atomic's names), under the output prefix ``out/``."""

KEPT = [
    "training/history.csv",
    "training/notes.partial.csv",  # not hidden, no random part
    "training/.history.short.partial.csv",  # random part is not 8 characters
    "eval/.evaluation.json",
    "model/.model.keras",
    "model/.model.m0d3l_01.keras",  # no .partial mark: not a name io.atomic makes
    ".predicted.p9r8e7d6.las",
    "predicted.laz",
    "other/.x.abcdefgh.partial.csv",  # not an output folder of the spec
    ".b_predicted.p9r8e7d6.partial.laz",  # another prefix's (out/b_) in the shared folder: maybe a live run's
    "training/.history_b.k2j4h_9a.partial.csv",  # not the temporary file of an output of the spec
    "mine.txt",
]
"""Files that are not ours (or not in an output folder): never touched."""


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def project(tmp_path):
    write_demo_scene(tmp_path / "data" / "scene.las", seed=2, size_m=10.0, density=2.0)
    out = tmp_path / "out"
    for relative in [*STALE, *KEPT]:
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(relative)
    (out / "eval" / ".y.abcdefgh.partial.json").mkdir()  # a folder with a partial-like name
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(small_spec(epochs=1)))
    return tmp_path, spec_path


def test_every_output_folder_is_cleaned_of_our_temporary_files_only(project, caplog):
    root, spec_path = project
    spec = load_spec(spec_path)
    folders = {path.parent.relative_to(root / "out").as_posix() for path in output_files(spec)}
    assert folders == {".", "training", "training/resume", "model", "eval"}
    caplog.set_level(logging.INFO, logger="vl3d_focal.runner.pipeline")

    removed = remove_stale_outputs(spec)

    assert sorted(p.relative_to(root / "out").as_posix() for p in removed) == sorted(STALE)
    assert _tree(root / "out") == {relative: relative for relative in KEPT}
    assert (root / "out" / "eval" / ".y.abcdefgh.partial.json").is_dir()
    logged = [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.INFO and "interrupted run" in record.getMessage()
    ]
    assert sorted(logged) == sorted(f"removed {p}, a temporary file left by an interrupted run" for p in removed)
    assert remove_stale_outputs(spec) == []


def test_a_run_cleans_before_its_first_step(project, capsys):
    """The cleaning happens before any step: here the train step fails at once (unmapped code)."""
    root, spec_path = project
    spec = small_spec(epochs=1)
    spec["sequential_pipeline"][0]["classes"][0]["codes"] = [99]  # ground (code 2) no longer mapped
    spec_path.write_text(json.dumps(spec))

    assert main(["-v", "run", str(spec_path)]) == 2

    err = capsys.readouterr().err
    assert "LAS codes neither mapped to a class nor ignored (2: " in err
    assert err.index("interrupted run") < err.index("step 1/6: class_mapping")
    record = json.loads((root / "out" / "run.json").read_text())
    assert record["status"] == "failed" and record["files"] == ["run.json", "report.json", "report.html"]
    assert json.loads((root / "out" / "report.json").read_text())["status"] == "failed"
    for name in ("run.json", "report.json", "report.html"):
        (root / "out" / name).unlink()
    assert _tree(root / "out") == {relative: relative for relative in KEPT}
    for relative in STALE:
        assert f"removed {root / 'out' / relative}, a temporary file left by an interrupted run" in err
