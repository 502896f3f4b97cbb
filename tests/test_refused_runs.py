"""A refused spec leaves no trace, and notes have the weight of what they tell: a run refused
before its steps leaves no folder it made, a key accepted without effect is told once at INFO
(never as a WARNING), and two clouds of one name whose files a step writes are refused at validation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from helpers import write_point_cloud

from vl3d_focal import cli

pytestmark = pytest.mark.usefixtures("restore_logging")

NTHREADS_NOTE = "$.sequential_pipeline[0].nthreads: accepted, no effect here"


def _write_spec(folder: Path, *, out_pcloud: str, writer_out: str, miner: dict | None = None) -> Path:
    write_point_cloud(folder / "data" / "scene.las", points=20)
    steps = [miner] if miner else []
    spec = {
        "in_pcloud": ["data/scene.las"],
        "out_pcloud": [out_pcloud],
        "sequential_pipeline": [*steps, {"writer": "Writer", "out_pcloud": writer_out}],
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize("existing", ["", "out"])
def test_a_run_refused_by_its_prefix_claim_leaves_no_folder_it_made(tmp_path: Path, capsys, existing: str):
    # a file outside the output folder that another run wrote: the claim refuses the run, after
    # the prefix's lock made out/run1/
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "copy.las").write_text("someone else's")
    if existing:
        (tmp_path / existing).mkdir()  # the user's own folder stays
    spec = _write_spec(tmp_path, out_pcloud="out/run1/*", writer_out="elsewhere/copy.las")
    before = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*"))
    assert cli.main(["run", str(spec)]) == 2
    assert "exists outside this run's output folders" in capsys.readouterr().err
    after = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*"))
    assert after == before
    assert (tmp_path / "elsewhere" / "copy.las").read_text() == "someone else's"


def test_a_key_without_effect_is_told_once_at_info_in_a_run(tmp_path: Path, caplog, capsys):
    miner = {"miner": "GeometricFeatures", "radius": 1.0, "fnames": ["linearity"], "nthreads": 4}
    spec = _write_spec(tmp_path, out_pcloud="out/*", writer_out="*mined.laz", miner=miner)
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        assert cli.main(["run", str(spec)]) == 0
    assert (tmp_path / "out" / "mined.laz").is_file()
    told = [record for record in caplog.records if NTHREADS_NOTE in record.getMessage()]
    assert [record.levelno for record in told] == [logging.INFO]
    assert not [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


def _training_spec(folder: Path, *, training_pcloud: str | list[str]) -> Path:
    write_point_cloud(folder / "tiles" / "a.las", points=5)
    spec = {
        "in_pcloud": "tiles/a.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            {
                "class_mapping": "LASClassMapping",
                "classes": [{"name": "ground", "codes": [2]}, {"name": "other", "codes": [1, 3, 4, 5, 6]}],
            },
            {
                "train": "RandomForestClassifier",
                "fnames": ["intensity"],
                "training_classified_point_cloud_path": "*classified.laz",
                "model_args": {"num_classes": 2, "model_handling": {"training_pcloud": training_pcloud}},
            },
        ],
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.mark.parametrize("training_pcloud", ["train/*/a.las", ["train/x/a.las", "train/y/a.las"], "train/"])
def test_training_clouds_of_one_name_are_refused_as_a_glob_as_well_as_a_list(
    tmp_path: Path, capsys, training_pcloud: str | list[str]
):
    for name in ("x", "y"):
        write_point_cloud(tmp_path / "train" / name / "a.las", points=5)
    write_point_cloud(tmp_path / "train" / "b.las", points=5)  # "train/": one cloud of that folder
    spec = _training_spec(tmp_path, training_pcloud=training_pcloud)
    status = cli.main(["validate", str(spec)])
    err = capsys.readouterr().err
    if training_pcloud == "train/":
        assert status == 0 and err == ""
        return
    assert status == 2
    assert err.splitlines() == [
        f"{spec}: $.sequential_pipeline[1]: {tmp_path / 'out' / 'classified_a.laz'} would be written twice by "
        "this step, the second replacing the first: two of the clouds it writes files for have the same name; "
        "rename one of them"
    ]


def test_without_file_checks_a_pattern_that_matches_nothing_is_not_refused(tmp_path: Path, capsys):
    spec = _training_spec(tmp_path, training_pcloud="absent/*/a.las")
    assert cli.main(["validate", "--no-check-files", str(spec)]) == 0
    assert capsys.readouterr().out.strip() == f"{spec}: valid"
    assert cli.main(["validate", str(spec)]) == 2
    assert "matches no file" in capsys.readouterr().err
