"""Class codes above 31 and clouds in LAS point formats 0-5, whose classification holds 5 bits
(0..31): a spec that would write such codes to such a cloud's classification is refused by
validation, naming the cloud, its point format, the codes and what to do, before any work (the
classified cloud is written in its input's point format, so the run failed at that writing,
after the training and the prediction)."""

from __future__ import annotations

import copy
import json

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, random_bundle, tiny_pointnet_args

from vl3d_focal.cli import main
from vl3d_focal.config import validate_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.models.model_file import save_bundle

MAPPING = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]}
TRAIN = {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "model_args": tiny_pointnet_args(5)}
WRITER = {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.las"}
WRITER_AT = "$.sequential_pipeline[3].writer"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A small synthetic tile in point format 6 and the same tile in point format 3 (LAS 1.2),
    whose codes 64 and 68 became 1."""
    folder = tmp_path_factory.mktemp("formats")
    las = generate_urban_scene(seed=1, size_m=20.0, density=1.0)
    las.write(folder / "format6.las")
    codes = np.asarray(las.classification).copy()
    codes[codes > 31] = 1
    las.classification = codes
    laspy.convert(las, point_format_id=3, file_version="1.2").write(folder / "format3.las")
    return folder


def _spec(cloud: str, *steps: dict, mapping: dict = MAPPING, train: dict = TRAIN) -> dict:
    return {
        "in_pcloud": [cloud],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [mapping, train, {"predict": "PreviousModel"}, *steps],
    }


def _issues(spec: dict, folder) -> list[tuple[str, str]]:
    return [(issue.path, issue.message) for issue in validate_spec(spec, base_dir=folder)]


def test_codes_above_31_for_a_format_3_cloud_are_refused_with_what_to_do(folder):
    [(path, message)] = _issues(_spec("format3.las", WRITER), folder)
    assert path == WRITER_AT
    assert message.startswith(
        f"{folder / 'format3.las'} is in LAS point format 3, whose classification holds codes 0..31"
    )
    assert "output codes 68 (vehicle), 64 (pole) cannot be written there" in message
    for remedy in ("las_code of 31 or less", "prediction_dimension", "point format 6 or higher"):
        assert remedy in message


def _with_las_codes(codes: dict[str, int]) -> dict:
    mapping = copy.deepcopy(MAPPING)
    for item in mapping["classes"]:
        if item["name"] in codes:
            item["las_code"] = codes[item["name"]]
    return mapping


@pytest.mark.parametrize(
    "cloud, writer, mapping",
    [
        ("format6.las", WRITER, MAPPING),  # format 6 holds 0..255
        ("format3.las", {**WRITER, "prediction_dimension": "Prediction"}, MAPPING),  # an extra dimension
        ("format3.las", WRITER, _with_las_codes({"vehicle": 20, "pole": 21})),  # codes that fit
    ],
    ids=["format_6", "prediction_dimension", "las_code"],
)
def test_what_the_message_offers_makes_the_spec_valid(folder, cloud, writer, mapping):
    assert _issues(_spec(cloud, writer, mapping=mapping), folder) == []


def test_the_training_classified_cloud_keeps_its_reference_so_any_code_fits(folder):
    # VL3D's ClassifiedPcloudReport: classification keeps the reference, the prediction goes to Prediction
    train = {**TRAIN, "training_classified_point_cloud_path": "*training/classified.las"}
    assert _issues(_spec("format3.las", mapping=MAPPING, train=train), folder) == []


@pytest.mark.parametrize(
    "names, index, problem",
    [
        (["ground", "Red", "building", "vehicle", "pole"], 1, "'Red' is a standard LAS dimension"),
        (["ground", "Success", "building", "vehicle", "pole"], 1, "'Success' would be written as 'Success'"),
        (["ground", "v" * 40, "building", "v" * 33, "pole"], 3, f"would be written as {'v' * 32!r}"),
    ],
    ids=["las_dimension", "success", "cut_to_the_same_name"],
)
def test_class_names_that_cannot_name_a_probability_dimension_are_refused(folder, names, index, problem):
    mapping = copy.deepcopy(MAPPING)
    for item, name in zip(mapping["classes"], names):
        item["name"] = name
    train = copy.deepcopy(TRAIN)
    train["model_args"]["class_names"] = names
    train["training_classified_point_cloud_path"] = "*training/classified.las"
    dl_eval = {"eval": "DLModelEvaluator", "pointwise_model_output_path": "*outputs.las"}
    issues = _issues(_spec("format6.las", dl_eval, mapping=mapping, train=train), folder)
    assert [path for path, _ in issues] == [
        f"$.sequential_pipeline[1].model_args.class_names[{index}]",
        "$.sequential_pipeline[3].pointwise_model_output_path",
    ]
    assert all(problem in message for _, message in issues), issues


def test_the_classes_a_reducer_writes_are_checked(folder):
    names = [item["name"] for item in DEMO_CLASSES]
    reducer = {
        "class_transformer": "ClassReducer",
        "on_predictions": True,
        "input_class_names": names,
        "output_class_names": ["ground", "other"],
        "class_groups": [["ground", "vehicle", "pole"], ["vegetation", "building"]],
    }
    assert _issues(_spec("format3.las", reducer, WRITER), folder) == []  # output codes 2 and 3
    objects_first = {**reducer, "class_groups": [["pole", "ground"], ["vegetation", "building", "vehicle"]]}
    [(path, message)] = _issues(_spec("format3.las", objects_first, WRITER), folder)
    assert path == "$.sequential_pipeline[4].writer" and "output codes 64 (ground) cannot be written" in message


@pytest.mark.usefixtures("restore_logging")
def test_the_run_stops_before_training(folder, tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(_spec(str(folder / "format3.las"), WRITER)))
    assert main(["run", str(spec)]) == 2
    assert f"{WRITER_AT}: {folder / 'format3.las'} is in LAS point format 3" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_a_model_s_own_codes_are_checked_without_a_class_mapping_step(folder, tmp_path):
    model = save_bundle(random_bundle(fnames=["intensity"], num_points=16), tmp_path / "model.keras")
    spec = {
        "in_pcloud": ["format3.las"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [{"predict": "ModelLoader", "model_path": str(model)}, WRITER],
    }
    [(path, message)] = _issues(spec, folder)
    assert path == "$.sequential_pipeline[1].writer" and "output codes 68 (vehicle), 64 (pole)" in message


def test_keep_codes_keep_those_input_codes_and_write_the_predictions_elsewhere(folder, tmp_path):
    las = laspy.read(folder / "format6.las")
    codes = np.asarray(las.classification).copy()
    codes[::25], codes[1::40] = 7, 1  # noise and unclassified points among the others
    las.classification = codes
    las.write(tmp_path / "noisy.las")
    model = save_bundle(random_bundle(fnames=["intensity"], num_points=16), tmp_path / "model.keras")
    for name, extra in (("plain", {}), ("kept", {"keep_codes": [7, 1]})):
        spec = {
            "in_pcloud": ["noisy.las"],
            "out_pcloud": [f"{name}/*"],
            "sequential_pipeline": [{"predict": "ModelLoader", "model_path": str(model)}, {**WRITER, **extra}],
        }
        (tmp_path / f"{name}.json").write_text(json.dumps(spec))
        assert main(["run", str(tmp_path / f"{name}.json")]) == 0
    plain = np.asarray(laspy.read(tmp_path / "plain/predicted.las").classification)
    kept = np.asarray(laspy.read(tmp_path / "kept/predicted.las").classification)
    held = np.isin(codes, [7, 1])
    assert held.sum() > 20 and np.array_equal(kept[held], codes[held])
    assert np.array_equal(kept[~held], plain[~held]) and not np.isin(plain[held], [7, 1]).all()


def test_keep_codes_with_a_prediction_dimension_are_refused(folder):
    writer = {**WRITER, "keep_codes": [7], "prediction_dimension": "predicted"}
    [(path, message)] = _issues(_spec("format6.las", writer), folder)
    assert path == "$.sequential_pipeline[3].keep_codes"
    assert "prediction_dimension leaves as it is for every point" in message
