"""VL3D's ClassReducer: the reduced mapping, reduced predictions, class counts, the step's checks."""

from __future__ import annotations

from pathlib import Path

import laspy
import numpy as np
import pytest

from vl3d_focal.config import validate_spec
from vl3d_focal.data.class_reduction import ReducedPredictions, count_classes, group_table, reduce_mapping
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.records import CloudRecord, InMemoryPredictions
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import read_cloud

INPUTS = ["noclass", "ground", "vegetation", "cars", "trucks", "poles"]
REDUCER = {
    "class_transformer": "ClassReducer",
    "input_class_names": INPUTS,
    "output_class_names": ["ground", "vegetation", "objects"],
    "class_groups": [["ground"], ["vegetation"], ["cars", "trucks", "poles"]],
}


def _cloud(path: Path, codes: list[int]) -> Path:
    las = laspy.create(point_format=6, file_version="1.4")
    las.x, las.y, las.z = np.arange(len(codes), dtype=float), np.zeros(len(codes)), np.zeros(len(codes))
    las.classification = np.array(codes, dtype=np.uint8)
    las.write(path)
    return path


def test_a_reduction_of_classification_values():
    reduced = reduce_mapping(
        ClassMapping.from_values(INPUTS), groups=[[1], [2], [3, 4, 5]], names=["ground", "vegetation", "objects"]
    )
    assert reduced.map(np.array([0, 1, 2, 3, 4, 5, 1])).tolist() == [-1, 0, 1, 2, 2, 2, 0]
    assert reduced.las_codes == [0, 1, 2] and reduced.vl3d_values and reduced.ignore_codes == [0]
    with pytest.raises(DataError, match=r"classification values outside 0\.\.2 \(7: 1 points\)"):
        reduced.map(np.array([7]), source="tile.laz")


def test_a_reduction_of_named_las_codes_keeps_their_codes():
    mapping = ClassMapping(names=["ground", "low", "high", "building"], codes=[[2], [3], [4, 5], [6]], ignore_codes=[7])
    reduced = reduce_mapping(mapping, groups=[[0], [1, 2]], names=["ground", "vegetation"])
    assert reduced.codes == [[2], [3, 4, 5]] and reduced.las_codes == [2, 3]
    assert reduced.ignore_codes == [6, 7]  # the building's code is in no group
    assert reduced.map(np.array([2, 5, 6, 7])).tolist() == [0, 1, -1, -1]


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([[0], []], "group 1 .* is empty"),
        ([[0, 1], [1]], "class 'ground' is in groups 0 and 1"),
        ([[0], [9]], "class index 9 is not one of the 6 classes"),
    ],
)
def test_bad_groups(groups, message):
    with pytest.raises(DataError, match=message):
        reduce_mapping(ClassMapping.from_values(INPUTS), groups=groups, names=["a", "b"])


def test_reduced_predictions_sum_the_probabilities_of_a_group(tmp_path):
    cloud = read_cloud(_cloud(tmp_path / "c.las", [0, 1, 2]))
    probabilities = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.4, 0.35, 0.25]], dtype=np.float32)
    reduced = ReducedPredictions(InMemoryPredictions(cloud, probabilities), groups=[[1], [0, 2]])
    [(start, points, classes, summed)] = list(reduced.iter_chunks())
    assert start == 0 and len(points) == 3 and reduced.num_classes == 2
    assert classes.tolist() == [1, 1, 1]  # argmax 0, 2, 0 -> group 1 (VL3D reduces the predicted labels)
    np.testing.assert_allclose(summed, [[0.3, 0.7], [0.2, 0.8], [0.35, 0.65]], rtol=1e-6)
    assert group_table([[1], [0, 2]], num_classes=3).tolist() == [1, 0, 1]
    with pytest.raises(DataError, match=r"classes \[2\] are in no group"):
        ReducedPredictions(InMemoryPredictions(cloud, probabilities), groups=[[1], [0]])


def test_class_counts_in_memory_and_streamed(tmp_path):
    path = _cloud(tmp_path / "c.las", [0, 1, 1, 3, 4, 5, 5, 5])
    before = ClassMapping.from_values(INPUTS)
    after = reduce_mapping(before, groups=[[1], [2], [3, 4, 5]], names=["g", "v", "o"])
    streamed = CloudRecord(path=path, prefix="", num_points=8)
    loaded = CloudRecord(path=path, cloud=read_cloud(path), prefix="")
    for record in (streamed, loaded):
        counts = count_classes(record, mappings=[before, after])
        assert [c.tolist() for c in counts] == [[1, 2, 0, 1, 1, 3], [2, 0, 5]]
    assert not streamed.loaded  # counted chunk by chunk


def _pipeline(*steps: dict) -> dict:
    return {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": list(steps)}


def test_the_reducer_is_checked_before_any_work():
    bad = {
        **REDUCER,
        "class_groups": [["ground"], ["vegetaton"], ["cars", "ground"]],
        "output_class_names": ["ground", "vegetation"],
        "plot_path": "*r.jpg",
    }
    assert [(i.path, i.message) for i in validate_spec(_pipeline(bad), check_files=False)] == [
        (
            "$.sequential_pipeline[0].class_groups[1][0]",
            f"unknown input class 'vegetaton'; input_class_names: {INPUTS}; did you mean 'vegetation'?",
        ),
        ("$.sequential_pipeline[0].class_groups[2][1]", "class 'ground' is already in class_groups[0]"),
        ("$.sequential_pipeline[0].output_class_names", "expected one name per group (3); got 2"),
        ("$.sequential_pipeline[0].plot_path", "expected a path ending in .svg, .png or .pdf; got '*r.jpg'"),
    ]


def test_output_class_names_of_another_type_are_a_schema_issue_not_a_crash():
    issues = validate_spec(_pipeline({**REDUCER, "output_class_names": 5}), check_files=False)
    assert [i.path for i in issues] == ["$.sequential_pipeline[0].output_class_names"]


def test_on_predictions_needs_predictions_and_every_class_in_a_group():
    step = {**REDUCER, "on_predictions": True}
    assert [(i.path, i.message) for i in validate_spec(_pipeline(step), check_files=False)] == [
        (
            "$.sequential_pipeline[0].class_groups",
            "on_predictions needs every input class in a group (a predicted class needs a reduced class); "
            "'noclass' is in none",
        ),
        ("$.sequential_pipeline[0].on_predictions", "reducing predictions needs a predict step before this one"),
    ]
    loader = {"predict": "ModelLoader", "model_path": "m.model"}
    covered = {**step, "class_groups": [["noclass", "ground"], ["vegetation"], ["cars", "trucks", "poles"]]}
    assert validate_spec(_pipeline(loader, covered), check_files=False) == []


def test_classes_flow_from_one_class_step_to_the_next_and_to_the_train_step():
    mapping = {
        "class_mapping": "LASClassMapping",
        "classes": [{"name": n, "codes": [i + 1]} for i, n in enumerate(INPUTS)],
    }
    second = {
        **REDUCER,
        "input_class_names": ["ground", "vegetation", "objects"],
        "output_class_names": ["g", "rest"],
        "class_groups": [["ground"], ["vegetation", "objects"]],
    }
    train = {
        "train": "PointNetPwiseClassifier",
        "model_args": {
            "num_classes": 3,
            "class_names": ["ground", "vegetation", "objects"],
            "pre_processing": {"neighborhood": {"radius": 1.0}},
            "compilation_args": {"loss": {"function": "categorical_crossentropy"}},
        },
    }
    assert validate_spec(_pipeline(mapping, REDUCER, train), check_files=False) == []
    issues = validate_spec(_pipeline(mapping, REDUCER, second, train), check_files=False)
    assert [(i.path, i.message) for i in issues] == [
        (
            "$.sequential_pipeline[3].model_args.class_names",
            "expected the class step's names in its order ['g', 'rest']; got ['ground', 'vegetation', 'objects']",
        ),
        (
            "$.sequential_pipeline[3].model_args.num_classes",
            "the class step before it defines 2 classes ['g', 'rest']; got num_classes 3",
        ),
    ]
    wrong_inputs = {**REDUCER, "input_class_names": INPUTS[::-1]}
    assert validate_spec(_pipeline(mapping, wrong_inputs), check_files=False)[0].message.startswith(
        "expected the classes of the class step before it, in its order"
    )
