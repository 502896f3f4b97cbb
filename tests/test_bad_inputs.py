"""Bad inputs through the command line: a clear message naming the file, exit 2, nothing written.

The corpus (``tests/bad_inputs/make_corpus.py``) is generated once per session: one spec per
case, beside the broken cloud or model file it uses. Every case runs through the command
line's ``main(["run", "<case>.json"])`` (what ``python -m vl3d_focal`` calls) in this process;
a few representative cases also run as real ``python -m vl3d_focal run`` processes (each
pays TensorFlow's import, ~8 s). The table below is the message fragment(s) each must print
on stderr.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

from vl3d_focal.cli import main
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import read_cloud
from vl3d_focal.models.model_file import FORMAT_VERSION, PLAIN_FORMAT_VERSION, check_metadata

CORPUS_SCRIPT = Path(__file__).parent / "bad_inputs" / "make_corpus.py"

# case -> fragments stderr must contain (the file is named in each message)
EXPECTED: dict[str, tuple[str, ...]] = {
    "truncated_laz": ("truncated.laz", "truncated LAZ file (its chunk table should start at byte"),  # validation
    "truncated_las": ("truncated.las", "truncated LAS file", "announces 400 points"),
    "corrupted_laz": ("corrupted.laz", "truncated or corrupted LAS/LAZ data"),
    "not_las": ("not_las.laz", "not a LAS/LAZ file", "b'x,y,'"),
    "empty_cloud": ("empty.las", "contains no points"),
    "too_few_points": ("few_points.las", "8 points, fewer than the 16 points"),
    "nan_coordinates": ("nan_scale.las", "400 of 400 points have NaN or infinite coordinates"),
    "inf_coordinates": ("inf_offset.las", "NaN or infinite coordinates", "inf"),
    "nan_feature": ("nan_feature.las", "NaN or infinite feature values ('reflectance' at 58 points)"),
    "missing_feature": ("good.las", "fnames[1]: 'nir' is not a feature of", "in the file: x, y, z"),
    "unlabelled_training": ("unlabelled.las", "no reference labels", "0: 400 points"),
    "unlabelled_evaluation": ("unlabelled.las", "no reference labels", "0: 400 points"),
    "unmapped_codes": ("unmapped_codes.las", "neither mapped to a class nor ignored (9: 5 points, 17: 3 points)"),
    "foreign_model": ("foreign.keras", "There is no item named 'vl3d_focal.json'"),
    "future_model": ("future_version.keras", "model format 99", f"reads formats 1..{FORMAT_VERSION}"),
    "unsafe_model": ("unsafe_lambda.keras", "unsafe content", "safe mode"),
    "broken_metadata": ("broken_metadata.keras", "metadata 'feature_names' must be a list"),
    "not_a_model": ("not_a_model.keras", "File is not a zip file"),
}


def _corpus_module():
    spec = importlib.util.spec_from_file_location("bad_inputs_make_corpus", CORPUS_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(spec: Path) -> subprocess.CompletedProcess:
    return run_cli("run", spec.name, cwd=spec.parent)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return _corpus_module().build_corpus(tmp_path_factory.mktemp("bad_inputs"))


SUBPROCESS_CASES = ("corrupted_laz", "unsafe_model")


@pytest.fixture(scope="module")
def cli_results(corpus) -> dict[str, subprocess.CompletedProcess]:
    """A few cases as real ``python -m vl3d_focal run`` processes, two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(SUBPROCESS_CASES, pool.map(_run, [corpus[case] for case in SUBPROCESS_CASES])))


def test_the_table_covers_the_whole_corpus():
    assert sorted(EXPECTED) == sorted(_corpus_module().CASES)
    assert set(SUBPROCESS_CASES) <= set(EXPECTED)


def test_corpus_files_are_small(corpus):
    folder = next(iter(corpus.values())).parent
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    assert sizes and max(sizes.values()) < 64 * 1024, sizes


RUN_FILES = ("run.json", "report.json", "report.html")
"""What a failed run leaves in its output prefix: its manifest, its record and its page."""
VALIDATION_CASES = ("missing_feature",)
"""Mistakes validation finds, before any work."""
FAILED_STEPS = {"unlabelled_evaluation": "ClassificationEvaluator"}
"""Cases that fail inside a phase of per-cloud steps, and the step the run's record names (it
named the phase's first step, ModelLoader)."""


def _check_outcome(case: str, *, status: int, stderr: str, spec: Path) -> None:
    assert status == 2, stderr[-3000:]
    assert "Traceback" not in stderr
    error_lines = [
        line
        for line in stderr.splitlines()  # an error of the data, or of the spec at validation
        if line.startswith("vl3d-focal: error: ") or ": $." in line
    ]
    assert len(error_lines) == 1, stderr[-3000:]
    lines = stderr.splitlines()
    after = lines[lines.index(error_lines[0]) + 1 :]  # a validation error lists a cloud's features on indented lines
    error = "\n".join([error_lines[0], *itertools.takewhile(lambda line: line.startswith("  "), after)])
    for fragment in EXPECTED[case]:
        assert fragment in error, error
    out = spec.parent / "out" / case
    written = [p for p in out.rglob("*") if p.is_file() and p.name not in RUN_FILES] if out.exists() else []
    assert written == [], f"{case} left outputs behind: {written}"
    if case in VALIDATION_CASES:  # caught before any work: not even a record
        assert not out.exists()
    if (out / "run.json").exists():  # the run's manifest and record say how it ended, and list no output
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["status"] == "failed" and manifest["files"] == list(RUN_FILES), manifest
        record = json.loads((out / "report.json").read_text())
        assert record["status"] == "failed" and record["error"]["message"] in error_lines[0]
        if case in FAILED_STEPS:
            failed = record["steps"][record["error"]["step"]]
            assert (failed["name"], failed["status"]) == (FAILED_STEPS[case], "failed")
            assert [step["status"] for step in record["steps"]] == ["done", "done", "failed", "pending"]


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(case, corpus, capsys, monkeypatch):
    monkeypatch.chdir(corpus[case].parent)
    status = main(["run", corpus[case].name])
    _check_outcome(case, status=status, stderr=capsys.readouterr().err, spec=corpus[case])


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_bad_input_through_python_dash_m(case, corpus, cli_results):
    result = cli_results[case]
    _check_outcome(case, status=result.returncode, stderr=result.stderr, spec=corpus[case])


# --- the same checks in process (fast, precise) -------------------------------------------


def test_reader_rejects_each_broken_cloud_with_a_data_error(corpus):
    folder = next(iter(corpus.values())).parent
    for name, fragment in [
        ("truncated.laz", "truncated or corrupted LAS/LAZ data"),
        ("truncated.las", "truncated LAS"),
        ("corrupted.laz", "cannot be decoded"),
        ("not_las.laz", "not a LAS/LAZ file"),
        ("empty.las", "contains no points"),
        ("nan_scale.las", "NaN or infinite coordinates"),
        ("inf_offset.las", "NaN or infinite coordinates"),
    ]:
        with pytest.raises(DataError) as info:
            read_cloud(folder / name)
        assert fragment in str(info.value) and name in str(info.value)
    assert read_cloud(folder / "empty.las", allow_empty=True).num_points == 0
    assert read_cloud(folder / "good.laz").num_points == 400


def test_metadata_versions(tmp_path):
    with pytest.raises(DataError, match=f"model format {FORMAT_VERSION + 1} by vl3d_focal 9.9"):
        check_metadata({"format_version": FORMAT_VERSION + 1, "vl3d_focal_version": "9.9"}, path="m.keras")
    with pytest.raises(DataError, match="has no format_version"):
        check_metadata({"feature_names": []}, path="m.keras")
    with pytest.raises(DataError, match="must be an integer >= 1, received '1'"):
        check_metadata({"format_version": "1"}, path="m.keras")
    good = {
        "format_version": FORMAT_VERSION,
        "feature_names": ["i"],
        "class_names": ["a"],
        "field_spec": {},
        "mapping": {},
        "normalizer": None,
    }
    assert check_metadata(good, path="m.keras") is good


def test_model_loader_refuses_unsafe_content_and_loads_a_valid_model(corpus):
    from vl3d_focal.models.model_file import load_bundle

    folder = next(iter(corpus.values())).parent
    with pytest.raises(DataError, match="unsafe content"):
        load_bundle(folder / "unsafe_lambda.keras")
    bundle = load_bundle(folder / "valid.keras")
    assert bundle.class_names == ["ground", "building"] and bundle.feature_names == []
    coordinates = np.zeros((1, 16, 3), "float32")
    assert tuple(bundle.model([coordinates, np.zeros((1, 16, 0), "float32")]).shape) == (1, 16, 2)


def test_model_writer_leaves_no_temporary_file(corpus, tmp_path):
    from vl3d_focal.models.model_file import load_bundle, read_metadata, save_bundle

    folder = next(iter(corpus.values())).parent
    bundle = load_bundle(folder / "valid.keras")
    target = save_bundle(bundle, tmp_path / "m" / "model.keras")
    assert [p.name for p in target.parent.iterdir()] == ["model.keras"]
    assert read_metadata(target)["format_version"] == PLAIN_FORMAT_VERSION  # a model without imputers
    shutil.rmtree(target.parent)
