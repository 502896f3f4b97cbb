"""Two VL3D habits in the pipeline form: a step whose kind key is a comment is skipped, and a
step's ``out_pcloud`` writes the cloud after it."""

from __future__ import annotations

import json

import laspy
import pytest

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.config.loading import check_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.runner.pipeline import execute_pipeline


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    generate_urban_scene(seed=8, size_m=30.0).write(tmp_path / "scene.laz")
    return tmp_path


MINER = {"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity", "verticality"]}


def test_a_step_whose_kind_key_is_a_comment_is_skipped_with_a_note_and_later_issues_keep_their_place(folder):
    spec = {
        "in_pcloud": ["scene.laz"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {"_feature_transformer": "Standardizer", "fnames": ["AUTO"], "center": True},
            MINER,
            {"train": "RandomForestClassifier", "fnames": ["AUTO"], "model_args": {"n_estimators": 0}},
        ],
    }
    checked = check_spec(spec, base_dir=folder)
    assert [str(note) for note in checked.notes] == [
        "$.sequential_pipeline[0]: accepted, no effect here: its kind key '_feature_transformer' is a comment: the "
        "step is skipped, as VL3D skips it"
    ]
    assert [i.path for i in checked.issues] == ["$.sequential_pipeline[2].model_args.n_estimators"]
    assert [next(iter(step)) for step in checked.pipeline["sequential_pipeline"]] == ["miner", "train"]
    spec["sequential_pipeline"][2]["model_args"]["n_estimators"] = 2
    (folder / "skip.json").write_text(json.dumps(spec))
    assert len(load_spec(folder / "skip.json")["sequential_pipeline"]) == 2
    typo = {"in_pcloud": ["scene.laz"], "out_pcloud": ["o/*"], "sequential_pipeline": [{"trian": "M"}, MINER]}
    assert "got 'trian'; did you mean 'train'?" in str(
        validate_spec(typo, base_dir=folder)[0]
    )  # not a comment: an error


def test_a_steps_out_pcloud_writes_the_cloud_after_it_and_its_issues_point_at_that_key(folder):
    spec = {
        "in_pcloud": ["scene.laz"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [{**MINER, "out_pcloud": "*mined.laz"}],
    }
    (folder / "mine.json").write_text(json.dumps(spec))
    loaded = load_spec(folder / "mine.json")
    assert loaded["sequential_pipeline"][1] == {"writer": "Writer", "out_pcloud": "*mined.laz"}
    assert "out_pcloud" not in loaded["sequential_pipeline"][0]
    execute_pipeline(loaded)
    written = laspy.read(folder / "out/mined.laz")
    assert list(written.point_format.extra_dimension_names) == ["planarity_k16", "verticality_k16"]
    assert "mined.laz" in json.loads((folder / "out/run.json").read_text())["files"]
    spec["sequential_pipeline"] = [{**MINER, "out_pcloud": "*mined.txt"}, {"eval": "ClassificationEvaluator"}]
    found = [str(i) for i in validate_spec(spec, base_dir=folder)]
    assert any(
        i.startswith("$.sequential_pipeline[0].out_pcloud: expected a path ending in .las or .laz") for i in found
    )
    assert any(i.startswith("$.sequential_pipeline[1].eval: ") and "needs a predict" in i for i in found), found


@pytest.mark.usefixtures("restore_logging")
def test_the_log_and_the_report_name_the_spec_step_of_each_rewritten_step(folder, capsys):
    """A skipped step and a step's out_pcloud renumber the steps: the log and report say whose they are."""
    from vl3d_focal.cli import main

    spec = {
        "in_pcloud": ["scene.laz"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {"_feature_transformer": "Standardizer", "fnames": ["AUTO"]},
            {**MINER, "out_pcloud": "*mined.laz"},
            {"writer": "Writer", "out_pcloud": "*again.laz"},
        ],
    }
    (folder / "renumbered.json").write_text(json.dumps(spec))
    assert main(["run", "renumbered.json"]) == 0
    log = capsys.readouterr().err
    assert "step 1/3 (spec step 2): miner GeometricFeatures\n" in log
    assert "step 2-3/3 (spec step 2's out_pcloud, spec step 3): writer Writer, writer Writer (per cloud)" in log
    record = json.loads((folder / "out/report.json").read_text())
    assert [step["origin"] for step in record["steps"]] == ["spec step 2", "spec step 2's out_pcloud", "spec step 3"]
    assert "1. miner (spec step 2)" in (folder / "out/report.html").read_text()
    as_written = {**spec, "out_pcloud": ["plain/*"], "sequential_pipeline": spec["sequential_pipeline"][2:]}
    (folder / "as_written.json").write_text(json.dumps(as_written))
    assert main(["run", "as_written.json"]) == 0
    assert "step 1/1: writer Writer (per cloud)\n" in capsys.readouterr().err  # its numbers are the file's
    assert json.loads((folder / "plain/report.json").read_text())["steps"][0]["origin"] is None
