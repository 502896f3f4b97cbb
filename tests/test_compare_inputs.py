"""``vl3d-focal compare`` given a bad output path or a malformed run record: one line, nothing else."""

from __future__ import annotations

import json

import pytest
from test_compare import runs  # noqa: F401  (fixture)

from vl3d_focal.cli import main
from vl3d_focal.errors import DataError
from vl3d_focal.reports.run_summary import malformed, read_record


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("focal/report.html", "exists and is not a page written by vl3d-focal compare"),
        ("x.txt", "give -o a name ending in .html"),
        ("folder.html", "folder.html: is a folder; give -o a page to write, e.g. "),
    ],
)
def test_a_bad_output_path_prints_its_error_alone(runs, capsys, target, message):  # noqa: F811
    root, _, _ = runs
    (root / "focal" / "report.html").write_text("<!DOCTYPE html><title>the run's page</title>")
    (root / "folder.html").mkdir()
    assert main(["compare", str(root / "focal"), str(root / "ce"), "-o", str(root / target)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no table before the error
    assert len(err.strip().splitlines()) == 1 and message in err
    assert (root / "focal" / "report.html").read_text() == "<!DOCTYPE html><title>the run's page</title>"


def test_a_good_output_path_writes_the_page_and_prints_the_tables(runs, capsys):  # noqa: F811
    root, _, _ = runs
    assert main(["compare", str(root / "focal"), str(root / "ce"), "-o", str(root / "c.html")]) == 0
    out, err = capsys.readouterr()
    assert "| run | status |" in out and err.strip() == f"wrote {root / 'c.html'}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"evaluations": "oops"}, '"evaluations" is not a list of objects'),
        (
            {"evaluations": [{"metrics": {"OA": "x"}}]},
            'evaluation 1: "metrics" holds no "class_names" (a list of names) with their "confusion_matrix"',
        ),
        (
            {"evaluations": [{"metrics": {"class_names": ["a", "b"], "confusion_matrix": [[1, 2], [3]]}}]},
            'evaluation 1: "metrics" holds no "class_names"',
        ),
        ({"trainings": [{"class_counts": "many"}]}, 'training 1: "class_counts" is not a list of numbers'),
        ({"loaded_models": [{"loss": "focal"}]}, 'loaded model 1: "loss" is not an object'),
        ({"steps": [1, 2]}, '"steps" is not a list of objects'),
    ],
)
def test_a_malformed_record_is_a_one_line_error_naming_the_file(runs, capsys, change, message):  # noqa: F811
    root, focal, _ = runs
    path = root / "focal" / "report.json"
    path.write_text(json.dumps({**focal, **change}))
    with pytest.raises(DataError, match="^run record .*focal/report.json: ") as raised:
        read_record(path)
    assert message in str(raised.value)
    assert main(["compare", str(root / "focal"), str(root / "ce")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_records_as_runs_write_them_are_well_formed(runs):  # noqa: F811
    _, focal, ce = runs
    assert malformed(focal) is None and malformed(ce) is None
    assert malformed({**focal, "evaluations": None, "trainings": [{"class_weight": None}]}) is None
