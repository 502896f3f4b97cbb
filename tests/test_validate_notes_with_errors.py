"""``vl3d-focal validate`` of a spec with errors prints its notes too, after the errors, under a
line that counts them: a user fixing a spec sees everything at once. A note about a value an
error is about is left out (it is moot), and ``--strict`` repeats none of its errors as notes."""

from __future__ import annotations

import json

import pytest

from vl3d_focal.cli import main
from vl3d_focal.config import read_spec
from vl3d_focal.errors import SpecError

pytestmark = pytest.mark.usefixtures("restore_logging")

TRAIN = {
    "train": "PointNetPwiseClassifier",
    "in_pcloud": "data/tree.laz",
    "out_model": "out/pnet/pnet.model",
    "model_args": {
        "num_classes": "two",  # an error
        "class_names": ["wood", "leaf"],
        "pre_processing": {
            "num_points": 64,
            "neighborhood": {"type": "sphere", "radius": 0.4},
            "nthreads": 12,  # a note
            "fast": "no",  # an error where a boolean would be a note
        },
        "compilation_args": {"loss": {"function": "categorical_crossentropy"}},
    },
}
NTHREADS = (
    "$.model_args.pre_processing.nthreads: accepted, no effect here: receptive fields are computed on every CPU core"
)


def test_validate_prints_the_notes_after_the_errors(tmp_path, capsys):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(TRAIN), encoding="utf-8")
    assert main(["validate", "--no-check-files", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f'{path}: $.model_args.num_classes: expected integer; got string "two"',
        f'{path}: $.model_args.pre_processing.fast: expected boolean; got string "no"',
        f"{path}: besides the errors, noted (1 key accepted without effect):",
        f"{path}: {NTHREADS}",
    ]
    with pytest.raises(SpecError) as raised:
        read_spec(path, check_files=False)
    assert [str(note) for note in raised.value.notes] == [f"{path}: {NTHREADS}"]


def test_strict_validation_repeats_no_error_as_a_note(tmp_path, capsys):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(TRAIN), encoding="utf-8")
    assert main(["validate", "--strict", "--no-check-files", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert f"{path}: {NTHREADS}" in err and len(err) == len(set(err)) == 4
    assert not any("besides the errors" in line for line in err)


def test_one_error_is_named_in_the_singular(tmp_path, capsys):
    path = tmp_path / "train.json"
    pre_processing = {key: value for key, value in TRAIN["model_args"]["pre_processing"].items() if key != "fast"}
    spec = {**TRAIN, "model_args": {**TRAIN["model_args"], "pre_processing": pre_processing}}
    path.write_text(json.dumps(spec), encoding="utf-8")
    assert main(["validate", "--no-check-files", str(path)]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == [
        f"{path}: besides the error, noted (1 key accepted without effect):",
        f"{path}: {NTHREADS}",
    ]
