"""VL3D's ``model_handling.class_weight: "auto"`` counts the classes on the training receptive
fields as fitted (``training_class_distribution`` applied), as VL3D's model handler does; a
strategy of the loss entry still counts the training clouds' points."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from helpers import TWO_CLASS_MAPPING, run_cli, tiny_pointnet_args

from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.errors import DataError
from vl3d_focal.training.targets import plan_loss

FOCAL = "class_weighted_focal_categorical_crossentropy"


def _balanced(counts) -> np.ndarray:
    """VL3D's "auto": m / (n m_i), m the points counted, n the classes, m_i those of class i."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts.sum() / (counts.size * counts)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fields_weights")
    write_demo_scene(root / "data" / "scene.las", seed=3, size_m=20.0, density=4.0)
    args = tiny_pointnet_args(2)
    args["pre_processing"].update(
        training_class_distribution=[10, 10], training_receptive_fields_distribution_report_path="*training/fields.log"
    )
    args["model_handling"].update(class_weight="auto", validation_split=0.2)
    args["compilation_args"]["loss"] = {"function": FOCAL, "gamma": 2.0}
    spec = {
        "in_pcloud": "data/scene.las",
        "out_pcloud": "out/*",
        "sequential_pipeline": [
            copy.deepcopy(TWO_CLASS_MAPPING),
            {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "random_seed": 1, "model_args": args},
        ],
    }
    (root / "spec.json").write_text(json.dumps(spec))
    done = run_cli("run", "spec.json", cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done.stdout + done.stderr


def _fitted_field_counts(report: str) -> list[int]:
    """The reference class counts of the fitted training fields (the distribution report)."""
    rows = [line.split(",") for line in report.splitlines() if line.strip()]
    assert rows[0][0].strip() == "CLASS" and [row[0].strip() for row in rows[1:3]] == ["ground", "other"]
    return [int(row[5]) for row in rows[1:3]]


def test_auto_weights_are_those_of_the_fitted_fields_points(run):
    root, log = run
    saved = json.loads((root / "out" / "training" / "class_weights.json").read_text())
    fields = _fitted_field_counts((root / "out" / "training" / "fields.log").read_text())
    assert "training fields: 16, validation fields: 4" in log  # validation fields are not fitted
    assert 0 < sum(fields) <= 16 * 32  # 16 fields of 32 points, ignored points left out
    weights = list(saved["class_weight"].values())
    np.testing.assert_allclose(weights, _balanced(fields), rtol=1e-12)
    cloud = list(saved["class_counts"].values())
    assert not np.allclose(weights, _balanced(cloud), rtol=1e-2)  # the whole cloud's counts give others
    assert saved["counted_on"] == "training receptive fields"
    assert list(saved["weight_counts"].values()) == fields
    assert saved["class_weight_source"] == "model_handling"
    expected = ", ".join(f"{name}={w:.4g}" for name, w in zip(["ground", "other"], weights))
    assert (
        "class weights (auto, from model_handling, counted on the training receptive fields: "
        f"ground={fields[0]}, other={fields[1]}): {expected}"
    ) in log


def test_the_record_and_the_page_say_what_the_weights_were_counted_on(run):
    root, _ = run
    saved = json.loads((root / "out" / "training" / "class_weights.json").read_text())
    training = json.loads((root / "out" / "report.json").read_text())["trainings"][0]
    assert training["class_weight_counted_on"] == "training receptive fields"
    assert training["class_weight_counts"] == list(saved["weight_counts"].values())
    assert training["class_counts"] == list(saved["class_counts"].values())
    assert training["class_weight_rule"].endswith(
        "n_c: points of class c in the training receptive fields, N: all of them, C: classes."
    )
    page = (root / "out" / "report.html").read_text()
    assert "(from model_handling, counted on the training receptive fields)" in page
    assert "points in the training receptive fields" in page


def _plan(loss: dict, handling: dict, *, counts, field_counts):
    return plan_loss(
        loss_spec={"function": FOCAL, **loss},
        model_handling=handling,
        class_names=["a", "b"],
        counts=np.array(counts),
        field_counts=np.array(field_counts),
        from_logits=True,
    )


def test_a_strategy_of_the_loss_entry_still_counts_the_training_points():
    plan = _plan({"class_weight": "sqrt_inverse_frequency"}, {}, counts=[30, 10], field_counts=[50, 50])
    inverse = np.sqrt(40 / np.array([30.0, 10.0]))
    np.testing.assert_allclose(plan.class_weight, inverse / inverse.sum(), rtol=1e-12)
    assert plan.counted_on == "training points" and plan.weight_counts == [30, 10]
    auto = _plan({"class_weight": "auto"}, {"class_weight": "auto"}, counts=[30, 10], field_counts=[50, 25])
    np.testing.assert_allclose(auto.class_weight, _balanced([30, 10]), rtol=1e-12)  # the loss entry's wins


def test_model_handling_auto_counts_the_fields_and_a_given_list_counts_nothing():
    plan = _plan({}, {"class_weight": "AUTO"}, counts=[30, 10], field_counts=[50, 25])
    np.testing.assert_allclose(plan.class_weight, _balanced([50, 25]), rtol=1e-12)
    assert plan.counted_on == "training receptive fields" and plan.weight_counts == [50, 25]
    given = _plan({}, {"class_weight": [1.0, 2.0]}, counts=[30, 10], field_counts=[50, 25])
    assert given.class_weight == [1.0, 2.0] and given.counted_on is None and given.weight_counts is None


def test_a_class_absent_from_the_fields_is_an_error_or_weight_zero_never_infinity():
    with pytest.raises(DataError, match=r"no point in the training receptive fields of the class \['b'\]"):
        _plan({}, {"class_weight": "auto"}, counts=[30, 10], field_counts=[64, 0])
    plan = _plan(
        {}, {"class_weight": {"strategy": "auto", "on_absent_class": "zero"}}, counts=[30, 10], field_counts=[64, 0]
    )
    assert plan.class_weight == [0.5, 0.0]  # m / (n m_i) with n every class, as VL3D: 64 / (2 * 64)
