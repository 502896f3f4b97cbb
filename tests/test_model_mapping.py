"""A spec's class mapping against the one its model was trained with, before predicting: the same
classes in another order are taken in the model's order (the order of its outputs); codes of a
model's class given to another class (two classes' codes swapped), or other classes, are refused
with the differences listed, at validation when the model file is there, else when the model is
loaded (they were scored silently wrong, or refused only by the evaluation)."""

from __future__ import annotations

import copy
import json
import logging

import laspy
import pytest
from helpers import DEMO_CLASSES, random_bundle

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.mapping_mismatch import model_mismatch
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud
from vl3d_focal.models.model_file import save_bundle
from vl3d_focal.runner.pipeline import run_pipeline
from vl3d_focal.steps.predict import predict_clouds, run_model_loader
from vl3d_focal.steps.state import PipelineState

MODEL = ClassMapping(names=["ground", "vegetation", "building"], codes=[[2], [3, 4, 5], [6]])
SWAPPED = "ground: model codes [2] vs spec codes [6]; building: model codes [6] vs spec codes [2]"


def test_swapped_codes_are_listed_class_by_class():
    spec = ClassMapping(names=["ground", "vegetation", "building"], codes=[[6], [3, 4, 5], [2]])
    problem = model_mismatch(spec, MODEL)
    assert f"to other classes ({SWAPPED}), so predictions would be scored and written as the wrong class" in problem
    assert "leave out the class_mapping step to use the model's mapping" in problem
    moved = ClassMapping(names=["ground", "vegetation", "building"], codes=[[2], [3, 4], [5, 6]])
    listing = "vegetation: model codes [3, 4, 5] vs spec codes [3, 4]; building: model codes [6] vs spec codes [5, 6]"
    assert f"({listing})" in model_mismatch(moved, MODEL)


@pytest.mark.parametrize(
    "names, codes, ignore",
    [
        (["building", "ground", "vegetation"], [[6], [2], [3, 4, 5]], []),  # another order
        (["ground", "vegetation", "building"], [[2, 9], [3, 4, 5], [6, 17]], []),  # more codes
        (["ground", "vegetation", "building"], [[2], [3, 4], [6]], [5]),  # a code left out of the scores
    ],
    ids=["order", "more_codes", "ignored_code"],
)
def test_the_same_classes_keeping_the_model_s_codes_match(names, codes, ignore):
    assert model_mismatch(ClassMapping(names=names, codes=codes, ignore_codes=ignore), MODEL) is None


def test_other_classes_are_named():
    spec = ClassMapping(names=["ground", "vegetation", "roof"], codes=[[2], [3, 4, 5], [6]])
    assert "(missing: ['building']; not in the model: ['roof'])" in model_mismatch(spec, MODEL)


def test_names_that_differ_only_in_case_are_pointed_out():
    model = ClassMapping(names=["ground", "building"], codes=[[2], [6]])
    problem = model_mismatch(ClassMapping(names=["Ground", "Building"], codes=[[2], [6]]), model)
    assert (
        "(names are case-sensitive: 'Ground' is the model's 'ground', 'Building' is the model's 'building')" in problem
    )


def test_a_model_trained_without_class_names_says_which_names_it_has():
    model = ClassMapping(names=["class_0", "class_1"], codes=[[2], [6]])
    problem = model_mismatch(ClassMapping(names=["ground", "building"], codes=[[2], [6]]), model)
    assert "the model was trained without class names: its classes are class_0, class_1..." in problem
    other = ClassMapping(names=["ground", "water"], codes=[[2], [9]])
    assert "case-sensitive" not in model_mismatch(other, ClassMapping(names=["ground", "roof"], codes=[[2], [6]]))


def test_a_model_of_classification_values_has_no_codes_to_compare():
    values = ClassMapping.from_values(["ground", "vegetation", "building"])  # codes 0, 1, 2: not LAS codes
    assert (
        model_mismatch(ClassMapping(names=["ground", "vegetation", "building"], codes=[[2], [1], [0]]), values) is None
    )


def test_in_order_keeps_each_class_with_its_codes_colour_and_output_code():
    spec = ClassMapping(
        names=["building", "ground"], codes=[[6], [2, 9]], colors=["#ff0000", "#00ff00"], las_codes=[6, 9]
    )
    ordered = spec.in_order(["ground", "building"])
    assert (ordered.names, ordered.codes, ordered.colors, ordered.las_codes) == (
        ["ground", "building"],
        [[2, 9], [6]],
        ["#00ff00", "#ff0000"],
        [9, 6],
    )


def _classes(**changes: dict) -> list[dict]:
    classes = copy.deepcopy(DEMO_CLASSES)
    for item in classes:
        item.update(changes.get(item["name"], {}))
    return classes


SWAPPED_CLASSES = _classes(ground={"codes": [6]}, building={"codes": [2]})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A small tile and an untrained model of the demo classes (ground 2, ..., building 6, ...)."""
    folder = tmp_path_factory.mktemp("model_mapping")
    generate_urban_scene(seed=2, size_m=20.0, density=1.0).write(folder / "tile.las")
    save_bundle(random_bundle(fnames=["intensity"], num_points=16), folder / "model.keras")
    return folder


def _spec(classes: list[dict], *, prefix: str = "out/*") -> dict:
    return {
        "in_pcloud": ["tile.las"],
        "out_pcloud": [prefix],
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": classes, "ignore_codes": [0, 1, 7]},
            {"predict": "ModelLoader", "model_path": "model.keras"},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json", "pictures": False},
        ],
    }


def test_validation_refuses_codes_swapped_with_the_model_s(folder):
    [issue] = validate_spec(_spec(SWAPPED_CLASSES), base_dir=folder)
    assert issue.path == "$.sequential_pipeline[1].model_path"
    assert issue.message.startswith(f"model {folder / 'model.keras'}: the spec's class mapping gives LAS codes")
    assert SWAPPED in issue.message


def test_validation_compares_a_class_mapping_after_training_with_the_trained_one():
    def mapping(classes: list[dict]) -> dict:
        return {"class_mapping": "LASClassMapping", "classes": classes, "ignore_codes": [0, 1, 7]}

    train = {
        "train": "PointNetPwiseClassifier",
        "fnames": ["intensity"],
        "model_args": {
            "num_classes": 5,
            "pre_processing": {"neighborhood": {"radius": 3.0}},
            "compilation_args": {"loss": {"function": "sparse_categorical_crossentropy"}},
        },
    }
    steps = [mapping(DEMO_CLASSES), train, mapping(SWAPPED_CLASSES), {"predict": "PreviousModel"}]
    issues = validate_spec(
        {"in_pcloud": ["a.las"], "out_pcloud": ["o/"], "sequential_pipeline": steps}, check_files=False
    )
    assert [(i.path, i.message.split(" (")[0]) for i in issues] == [
        (
            "$.sequential_pipeline[3].predict",
            "the model trained before: the spec's class mapping gives LAS codes of the model's classes to other classes",
        )
    ]
    assert SWAPPED in issues[0].message


def _state(folder, classes: list[dict]) -> PipelineState:
    path = folder / "tile.las"
    record = CloudRecord(path=path, cloud=PointCloud.from_las(laspy.read(path), path=path), prefix=str(folder / "x_"))
    mapping = ClassMapping.from_spec({"classes": classes, "ignore_codes": [0, 1, 7]})
    return PipelineState(clouds=[record], model_prefix=str(folder / "x_"), mapping=mapping)


def test_the_run_refuses_them_when_the_model_is_loaded_before_predicting(folder):
    """Where validation could not read the model (a file the spec writes itself), or for the model
    trained earlier in the pipeline."""
    state = _state(folder, SWAPPED_CLASSES)
    step = {"predict": "ModelLoader", "model_path": str(folder / "model.keras"), "chunk_points": None, "buffer": None}
    with pytest.raises(DataError, match="predict: model .*model.keras: the spec's class mapping gives") as caught:
        run_model_loader(step, state)
    assert SWAPPED in str(caught.value) and state.clouds[0].result is None
    state = _state(folder, SWAPPED_CLASSES)
    with pytest.raises(DataError, match="predict: the model trained before: .*" + SWAPPED.replace("[", r"\[")):
        predict_clouds({"chunk_points": None, "buffer": None}, state, random_bundle(fnames=["intensity"]))
    assert state.clouds[0].result is None


def _evaluate(folder, classes: list[dict], prefix: str) -> dict:
    spec = folder / f"{prefix}.json"
    spec.write_text(json.dumps(_spec(classes, prefix=f"{prefix}/*")))
    run_pipeline(load_spec(spec))
    return json.loads((folder / prefix / "eval" / "evaluation.json").read_text())


def test_the_same_classes_in_another_order_are_scored_in_the_model_s_order(folder, caplog):
    reordered = list(reversed(DEMO_CLASSES))
    assert validate_spec(_spec(reordered), base_dir=folder) == []
    as_model = _evaluate(folder, DEMO_CLASSES, "as_model")
    with caplog.at_level(logging.INFO, logger="vl3d_focal.steps.class_mapping"):
        other_order = _evaluate(folder, reordered, "reordered")
    assert "lists the classes of model" in caplog.text and "in another order" in caplog.text
    assert other_order["class_names"] == as_model["class_names"] == [c["name"] for c in DEMO_CLASSES]
    assert other_order["confusion_matrix"] == as_model["confusion_matrix"]
    assert sum(map(sum, as_model["confusion_matrix"])) > 0


def test_eval_class_names_in_the_spec_s_order_after_a_reorder_are_refused_not_misreported(folder):
    reordered = list(reversed(DEMO_CLASSES))
    spec = _spec(reordered)
    names = [c["name"] for c in reordered]  # the user's order; the predictions are in the model's
    spec["sequential_pipeline"][2].update(class_names=names, ignore_classes=[names[0]])
    [issue] = validate_spec(spec, base_dir=folder)
    assert issue.path == "$.sequential_pipeline[2].class_names"
    assert issue.message.startswith("class_names names the predictions' classes by position, but lists them in another")
    from vl3d_focal.steps.evaluate import evaluation_classes

    model_order = ClassMapping.from_spec({"classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]})
    state = PipelineState(clouds=[], model_prefix="", mapping=model_order, predicted_names=list(model_order.names))
    with pytest.raises(DataError, match="eval step: class_names names the predictions' classes by position"):
        evaluation_classes({"class_names": names}, state)  # the run refuses them too (a spec not validated first)
    relabelled = ["a", "b", "c", "d", "e"]
    assert evaluation_classes({"class_names": relabelled}, state)[1] == relabelled
