"""Mistakes validation catches before any work: a model path that is no model file, input clouds
that cannot be read (from their headers and sizes), loss values that make training pointless, and
output prefixes that look like slips; laspy's own error lines are not printed before ours."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, tiny_pointnet_args, write_point_cloud

from vl3d_focal.config import check_spec, validate_spec
from vl3d_focal.errors import DataError
from vl3d_focal.io.chunks import iter_chunks
from vl3d_focal.io.las import check_file, read_cloud
from vl3d_focal.io.laspy_log import laspy_errors_held
from vl3d_focal.steps.loss_value_checks import MAX_GAMMA, SMALLEST_FLOAT32, gamma_problem

MAPPING = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES}
TRAIN_AT = "$.sequential_pipeline[1]"
LOSS_AT = f"{TRAIN_AT}.model_args.compilation_args.loss"


def _issues(doc: dict, folder: Path) -> dict[str, str]:
    return {issue.path: issue.message for issue in validate_spec(doc, base_dir=folder)}


def _predict(folder: Path, model_path: str) -> dict:
    write_point_cloud(folder / "tile.las")
    return {
        "in_pcloud": "tile.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [MAPPING, {"predict": "ModelLoader", "model_path": model_path}],
    }


def _train(folder: Path, **loss) -> dict:
    write_point_cloud(folder / "tile.las", points=4)
    args = tiny_pointnet_args(5)
    args["compilation_args"]["loss"] = {"function": "class_weighted_focal_categorical_crossentropy", **loss}
    return {
        "in_pcloud": "tile.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [MAPPING, {"train": "PointNetPwiseClassifier", "model_args": args}],
    }


def _cloud(path: Path, *, points: int = 400) -> Path:
    las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
    rng = np.random.default_rng(0)
    las.x, las.y, las.z = (rng.uniform(0, 50, points) for _ in range(3))
    las.classification = np.full(points, 2, dtype=np.uint8)
    las.write(path)
    return path


def _truncated(path: Path) -> Path:
    data = _cloud(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# --- model files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "looks"),
    [("train.las", None, "it is a LAS/LAZ point cloud"), ("notes.json", b'{"a": 1}\n', "it is a text file")],
)
def test_a_model_path_that_is_no_model_file_is_an_error(tmp_path, name, content, looks):
    path = tmp_path / name
    write_point_cloud(path) if content is None else path.write_bytes(content)
    message = _issues(_predict(tmp_path, name), tmp_path)["$.sequential_pipeline[1].model_path"]
    assert message == (
        f"{path} is not a model file written by PredictiveModelWriter or PredictivePipelineWriter "
        f"({looks}; File is not a zip file)"
    )


def test_a_model_path_that_is_a_folder_says_so_and_what_it_holds(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.keras").write_bytes(b"")
    issues = _issues(_predict(tmp_path, "model"), tmp_path)
    assert issues == {
        "$.sequential_pipeline[1].model_path": (
            f"{tmp_path / 'model'} is a folder, not a model file; give a file's path (it holds model.keras)"
        )
    }


def test_a_pretrained_model_that_is_no_model_file_is_an_error(tmp_path):
    doc = _train(tmp_path)
    doc["sequential_pipeline"][1]["pretrained_model"] = "tile.las"
    message = _issues(doc, tmp_path)[f"{TRAIN_AT}.pretrained_model"]
    assert message.startswith(f"{tmp_path / 'tile.las'} is not a model file written by PredictiveModelWriter")


# --- input clouds ----------------------------------------------------------------------------


def _bad_clouds(folder: Path) -> dict[str, str]:
    """Broken clouds in ``folder``, by name, with the message fragment validation gives each."""
    (folder / "text.las").write_text("x y z\n1 2 3\n")
    write_point_cloud(folder / "empty.las", points=0)
    _truncated(folder / "truncated.las")
    _truncated(folder / "cut.laz")
    return {
        "text.las": "not a LAS/LAZ file (expected the signature b'LASF' at its start, received b'x y '",
        "empty.las": "contains no points (expected at least 1)",
        "truncated.las": "truncated LAS file (the header announces 400 points of 30 bytes",
        "cut.laz": "truncated LAZ file (its chunk table should start at byte",
    }


def test_unreadable_input_and_training_clouds_are_validation_errors(tmp_path):
    for name, fragment in _bad_clouds(tmp_path).items():
        doc = _train(tmp_path)
        doc["in_pcloud"] = name
        doc["sequential_pipeline"][1]["model_args"]["model_handling"]["training_pcloud"] = [name]
        issues = _issues(doc, tmp_path)
        at = f"{TRAIN_AT}.model_args.model_handling.training_pcloud[0]"
        assert set(issues) == {"$.in_pcloud", at}, issues
        assert issues[at] == issues["$.in_pcloud"]
        assert issues[at].startswith(f"point cloud {tmp_path / name}: {fragment}"), issues[at]


def test_a_surveys_unreadable_tiles_are_left_to_the_run(tmp_path):
    bad = list(_bad_clouds(tmp_path))
    write_point_cloud(tmp_path / "good.las")
    doc = _predict(tmp_path, "gone.keras")  # no such model: the one issue
    doc["in_pcloud"] = ["good.las", *bad]
    assert list(_issues(doc, tmp_path)) == ["$.sequential_pipeline[1].model_path"]


def test_a_complete_laz_passes_and_a_streamed_one_is_not_refused(tmp_path):
    path = _cloud(tmp_path / "full.laz")
    assert check_file(path, chunk_table=True) == 400
    data = bytearray(path.read_bytes())
    offset = laspy.read(path).header.offset_to_point_data
    data[offset : offset + 8] = (-1).to_bytes(8, "little", signed=True)  # a writer that kept no chunk table
    (tmp_path / "streamed.laz").write_bytes(bytes(data))
    assert check_file(tmp_path / "streamed.laz", chunk_table=True) == 400


def test_laspys_own_error_lines_are_not_printed_before_our_error(tmp_path, caplog):
    path = _truncated(tmp_path / "truncated.laz")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(DataError, match="truncated or corrupted"):
            list(iter_chunks(path, chunk_points=100))
        with pytest.raises(DataError, match="truncated or corrupted LAS/LAZ data"):
            read_cloud(path)
    assert [r for r in caplog.records if r.name.startswith("laspy")] == []
    with caplog.at_level(logging.DEBUG):  # a read that succeeds lets laspy's records through
        with laspy_errors_held():
            logging.getLogger("laspy.lasreader").error("kept")
    assert [(r.name, r.getMessage()) for r in caplog.records if r.name.startswith("laspy")] == [
        ("laspy.lasreader", "kept")
    ]


# --- loss values -----------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [[0, 0, 0, 0, 0], [0.0] * 5, {c["name"]: 0 for c in DEMO_CLASSES}])
def test_all_zero_class_weights_are_an_error(tmp_path, weights):
    assert _issues(_train(tmp_path, class_weight=weights), tmp_path) == {
        f"{LOSS_AT}.class_weight": (
            "every class weight is 0: every point weighs 0 in the loss, which is then 0, and nothing trains; "
            "give at least one class a positive weight"
        )
    }
    assert _issues(_train(tmp_path, class_weight=[0, 0, 0, 0, 1]), tmp_path) == {}


def test_a_huge_gamma_is_an_error_with_its_reason(tmp_path):
    assert _issues(_train(tmp_path, gamma=MAX_GAMMA), tmp_path) == {}
    message = _issues(_train(tmp_path, gamma=1e9), tmp_path)[f"{LOSS_AT}.gamma"]
    assert message.startswith("gamma 1e+09: the focal factor (1 - p)^gamma is exactly 0 in float32 for every point")
    assert "above 1e-07," in message and message.endswith("give at most 100")
    # the bound in the message: (1 - p)^gamma falls below the smallest float32 there
    above = float(gamma_problem(1e4).split("is above ")[1].split(",")[0])
    assert (1 - above) ** 1e4 == pytest.approx(SMALLEST_FLOAT32, rel=0.2)
    assert math.isclose(np.float32(1 - 2 * above) ** np.float32(1e4), 0.0)


def test_an_ignore_class_of_a_mapped_class_is_a_warning_not_an_error(tmp_path):
    doc = _train(tmp_path, ignore_class=0)
    checked = check_spec(doc, base_dir=tmp_path)
    assert checked.issues == []
    [note] = [n for n in checked.notes if n.path == f"{LOSS_AT}.ignore_class"]
    assert note.message.startswith(
        "warning: ignore_class 0 is the class 'ground' of the mapping: its points are left out of the loss"
    )
    assert "ignore_codes (VL3D has no ignore_class)" in note.message
    assert [i.path for i in validate_spec(doc, base_dir=tmp_path, strict=True)] == [f"{LOSS_AT}.ignore_class"]
    assert [
        n for n in check_spec(_train(tmp_path, ignore_class=-1), base_dir=tmp_path).notes if "warning" in n.message
    ] == []


# --- output prefixes -------------------------------------------------------------------------


def test_an_out_pcloud_naming_a_cloud_file_is_a_note_naming_the_final_cloud_and_the_prefix(tmp_path):
    doc = _predict(tmp_path, "gone.keras")
    doc["out_pcloud"] = "x/result.las"
    checked = check_spec(doc, base_dir=tmp_path, check_files=False)
    assert checked.issues == []
    assert [(n.path, n.message) for n in checked.notes] == [
        (
            "$.out_pcloud",
            "note: out_pcloud 'x/result.las' names the final cloud (as in VL3D); the run's other outputs go "
            "under 'x/result/'",
        )
    ]
    assert validate_spec(doc, base_dir=tmp_path, check_files=False, strict=True) == []  # a note, not a slip


@pytest.mark.parametrize(
    ("where", "value", "at"),
    [
        ("prefix", "sortie/ünï */*", "$.out_pcloud"),
        ("prefix", "x/a*b/", "$.out_pcloud"),
        ("writer", "*eval/*.laz", "$.sequential_pipeline[2].out_pcloud"),
        ("writer", "x/p*.laz", "$.sequential_pipeline[2].out_pcloud"),
    ],
)
def test_a_star_that_marks_no_prefix_is_an_error(tmp_path, where, value, at):
    doc = _predict(tmp_path, "gone.keras")
    doc["sequential_pipeline"].append({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*p.laz"})
    if where == "prefix":
        doc["out_pcloud"] = value
    else:
        doc["sequential_pipeline"][2]["out_pcloud"] = value
    message = _issues(doc, tmp_path)[at]
    assert message.startswith(f"{value!r}: a '*' stands only at the")
    assert "elsewhere it would be part of a folder's or file's name; remove it" in message


@pytest.mark.parametrize("prefix", ["out/*", "out/", "out/run_", "out/tile.las/", "out/tile.las*"])
def test_usual_prefixes_are_accepted(tmp_path, prefix):
    doc = _predict(tmp_path, "gone.keras")
    doc["out_pcloud"] = prefix
    assert list(_issues(doc, tmp_path)) == ["$.sequential_pipeline[1].model_path"]
