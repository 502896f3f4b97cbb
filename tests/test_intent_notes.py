"""Validation notes on valid keys whose intent a run here does not carry out
(:mod:`vl3d_focal.config.intent_notes`): a reduction on plateau of a learning-rate schedule, a
random forest's stratified k-fold outputs with another training type, an imputer of NaN of
GeometricFeatures (0 here where VL3D gives NaN). Each is told for the offending spec, not for a
clean one, and ``--strict`` refuses it."""

from __future__ import annotations

import copy
import json

from vl3d_focal.cli import main
from vl3d_focal.config.loading import check_spec

PNET = {
    "train": "PointNetPwiseClassifier",
    "in_pcloud": "data/tree.laz",
    "out_model": "out/pnet/pnet.model",
    "model_args": {
        "num_classes": 2,
        "class_names": ["wood", "leaf"],
        "pre_processing": {"num_points": 64, "neighborhood": {"type": "sphere", "radius": 0.4}},
        "model_handling": {
            "learning_rate_on_plateau": {
                "monitor": "loss",
                "mode": "min",
                "factor": 0.1,
                "patience": 3,
                "cooldown": 0,
                "min_delta": 0.01,
                "min_lr": 1e-6,
            }
        },
        "compilation_args": {
            "optimizer": {
                "algorithm": "Adam",
                "learning_rate": {
                    "schedule": "exponential_decay",
                    "schedule_args": {"initial_learning_rate": 0.01, "decay_steps": 10, "decay_rate": 0.9},
                },
            },
            "loss": {"function": "categorical_crossentropy"},
        },
    },
}
PLATEAU = (
    "$.model_args.model_handling.learning_rate_on_plateau: warning: learning_rate_on_plateau cannot reduce the "
    "learning-rate schedule of compilation_args.optimizer.learning_rate ('exponential_decay'): the schedule alone "
    "sets the learning rate, which the history records"
)


def _pipeline(*steps: dict) -> dict:
    return {"in_pcloud": "data/tree.laz", "out_pcloud": "out/run/*", "sequential_pipeline": list(steps)}


FOREST = {
    "train": "RandomForestClassifier",
    "fnames": ["linearity_r0.3"],
    "model_args": {"n_estimators": 6, "max_depth": 6},
    "training_type": "autoval",
    "stratkfold_report_path": "*report/kfold.log",
    "stratkfold_plot_path": "*plot/kfold.svg",
}
MINER = {"miner": "GeometricFeatures", "radius": 0.3, "fnames": ["linearity", "planarity"]}
IMPUTER = {"imputer": "UnivariateImputer", "fnames": ["planarity_r0.3"], "target_val": "NaN"}


def _notes(doc: dict) -> list[str]:
    checked = check_spec(doc, check_files=False)
    assert checked.issues == [], checked.issues
    return [f"{note.path}: {note.message}" for note in checked.notes]


def test_a_plateau_reduction_of_a_learning_rate_schedule_is_a_warning():
    assert PLATEAU in _notes(PNET)
    constant = copy.deepcopy(PNET)
    constant["model_args"]["compilation_args"]["optimizer"]["learning_rate"] = 0.001
    no_plateau = copy.deepcopy(PNET)
    no_plateau["model_args"]["model_handling"]["learning_rate_on_plateau"] = None
    assert not any("plateau" in note for note in _notes(constant) + _notes(no_plateau))


def test_stratified_kfold_outputs_with_another_training_type_have_no_effect():
    notes = _notes(_pipeline(MINER, FOREST))
    assert [note for note in notes if "stratkfold" in note] == [
        f"$.sequential_pipeline[1].{key}: accepted, no effect here: only training_type 'stratified_kfold' writes "
        "it (as in VL3D); this step's is 'autoval'"
        for key in ("stratkfold_plot_path", "stratkfold_report_path")
    ]
    kfold = {**FOREST, "training_type": "stratified_kfold"}
    assert not any("stratkfold" in note for note in _notes(_pipeline(MINER, kfold)))


def test_an_imputer_of_nan_of_geometric_features_is_a_warning():
    notes = _notes(_pipeline(MINER, IMPUTER, FOREST))
    assert (
        "$.sequential_pipeline[1]: warning: target_val NaN: the GeometricFeatures of $.sequential_pipeline[0] "
        "(radius 0.3: planarity_r0.3) are 0, not NaN, where a point has no other point within the radius (VL3D "
        "writes NaN there); this imputer finds no NaN there"
    ) in notes
    auto = _notes(_pipeline(MINER, {**IMPUTER, "fnames": ["AUTO"]}, FOREST))
    assert any("(radius 0.3: linearity_r0.3, planarity_r0.3) are 0, not NaN" in note for note in auto)
    two = _notes(_pipeline(MINER, {**MINER, "radius": 0.6}, {**IMPUTER, "fnames": ["AUTO"]}, FOREST))
    assert [note.split(" are 0")[0] for note in two if "target_val" in note] == [
        "$.sequential_pipeline[2]: warning: target_val NaN: the GeometricFeatures of $.sequential_pipeline[0] "
        "(radius 0.3: linearity_r0.3, planarity_r0.3) and of $.sequential_pipeline[1] (radius 0.6: "
        "linearity_r0.6, planarity_r0.6)"
    ]
    clean = [
        _pipeline(MINER, {**IMPUTER, "target_val": -1}, FOREST),  # not NaN
        _pipeline({**MINER, "radius": None, "k": 8}, {**IMPUTER, "fnames": ["planarity_k8"]}, FOREST),  # k
        _pipeline(MINER, {**IMPUTER, "fnames": ["intensity"]}, FOREST),  # not a mined feature
    ]
    clean[1]["sequential_pipeline"][0].pop("radius")
    for doc in clean:
        assert not any("target_val NaN" in note for note in _notes(doc))


def test_a_miner_with_a_null_name_leaves_it_to_the_schema():
    """A null among a miner's ``frenames`` (found by the spec fuzzer) is the schema's to report."""
    from vl3d_focal.config.intent_notes import intent_notes

    miner = {**MINER, "frenames": [None, "planarity_r0.3"]}
    doc = _pipeline(miner, {**IMPUTER, "fnames": ["AUTO"]}, FOREST)
    assert not any("target_val" in message for _, message in intent_notes(doc))  # and no crash
    assert check_spec(doc, check_files=False).issues  # and the schema refuses the null


def test_an_imputer_no_train_step_follows_gets_its_no_effect_note_only():
    notes = [note for note in _notes(_pipeline(MINER, IMPUTER)) if note.startswith("$.sequential_pipeline[1]:")]
    assert len(notes) == 1 and "no train step follows it" in notes[0] and "target_val NaN" not in notes[0]


def test_the_plateau_warning_of_a_schedule_without_a_name_names_none():
    unnamed = copy.deepcopy(PNET)
    del unnamed["model_args"]["compilation_args"]["optimizer"]["learning_rate"]["schedule"]
    notes = [str(note) for note in check_spec(unnamed, check_files=False).notes]
    assert PLATEAU.replace(" ('exponential_decay')", "") in notes


def test_strict_validation_refuses_the_warning(tmp_path, capsys):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(PNET), encoding="utf-8")
    assert main(["validate", "--no-check-files", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{path}: valid (1 warning)"] and err.splitlines() == [f"{path}: {PLATEAU}"]
    assert main(["validate", "--strict", "--no-check-files", str(path)]) == 2
    assert f"{path}: {PLATEAU}" in capsys.readouterr().err.splitlines()
