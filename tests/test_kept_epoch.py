"""A training's record, page and last log line say how many epochs were planned and run, whether
early stopping ended the training (after which epoch, on what, with what patience) and which
epoch's weights the model keeps; the record and the page also say what the trained model applies
to its features (as a loaded model's do)."""

from __future__ import annotations

import copy
import csv
import json
import logging
import math

import keras
import pytest
from helpers import TWO_CLASS_MAPPING, run_steps, tiny_pointnet_args

from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.reports.epochs_text import epochs_sentence
from vl3d_focal.training.callbacks import BestWeights
from vl3d_focal.training.kept_epoch import epoch_facts

LOSSES = [0.9, 0.7, 0.6, 0.65, 0.5, 0.55, 0.58]
"""val_loss of the user's training: 10 epochs planned, the best at epoch 5, stopped after epoch 7."""
ROWS = [{"epoch": k + 1, "loss": 1.0 - 0.1 * k, "val_loss": value} for k, value in enumerate(LOSSES)]


def _stopping(*, restore: bool = False) -> keras.callbacks.EarlyStopping:
    """Early stopping on val_loss, patience 2, in the state it ends the user's training with."""
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=restore)
    stop.best, stop.best_epoch, stop.stopped_epoch = 0.5, 4, 6
    stop.best_weights = [0.0] if restore else None
    return stop


def test_the_checkpoint_s_best_epoch_is_kept_after_early_stopping(tmp_path):
    path = tmp_path / "best.weights.h5"
    path.write_bytes(b"weights")  # written at each improvement, restored after the fit
    best = BestWeights(path, network=None, monitor="val_loss")
    facts = epoch_facts(model_handling={"training_epochs": 10}, callbacks=[best, _stopping(restore=True)], rows=ROWS)
    assert facts == {
        "planned": 10,
        "run": 7,
        "early_stopping": {"monitor": "val_loss", "patience": 2, "stopped": True, "epoch": 7},
        "kept": {"epoch": 5, "by": "checkpoint", "monitor": "val_loss", "value": 0.5},
    }  # the checkpoint is restored last: it wins over early stopping's restore
    assert epochs_sentence(facts) == (
        "7 of 10 epochs run, early stopping (val_loss, patience 2) ended the training after epoch 7; "
        "the model keeps the weights of epoch 5 (the checkpoint's best, val_loss 0.5)"
    )


@pytest.mark.parametrize(
    ("restore", "kept"),
    [
        (True, {"epoch": 5, "by": "early_stopping", "monitor": "val_loss", "value": 0.5}),
        (False, {"epoch": 7, "by": "last_epoch"}),
    ],
)
def test_without_a_checkpoint_early_stopping_s_best_or_the_last_epoch_is_kept(tmp_path, restore, kept):
    never = BestWeights(tmp_path / "none.weights.h5", network=None, monitor="val_loss")  # no epoch improved
    facts = epoch_facts(
        model_handling={"training_epochs": 10}, callbacks=[never, _stopping(restore=restore)], rows=ROWS
    )
    assert facts["kept"] == kept and facts["early_stopping"]["stopped"]


def test_a_training_that_ran_every_epoch_was_not_stopped():
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2)
    facts = epoch_facts(model_handling={"training_epochs": 7}, callbacks=[stop], rows=ROWS)
    assert facts["early_stopping"] == {"monitor": "val_loss", "patience": 2, "stopped": False, "epoch": None}
    assert epochs_sentence(facts) == (
        "7 of 7 epochs run (early stopping (val_loss, patience 2) did not end the training); "
        "the model keeps the weights of epoch 7 (the last)"
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("kept_epoch")
    write_demo_scene(root / "scene.las", seed=3, size_m=20.0, density=4.0)
    return root


@pytest.mark.parametrize("checkpoint", [True, False])
def test_a_training_early_stopping_cannot_improve_stops_after_its_second_epoch(scene, tmp_path, caplog, checkpoint):
    """min_delta is out of reach: the first epoch is early stopping's best, the second stops it."""
    args = tiny_pointnet_args(2)
    args["model_handling"].update(
        training_epochs=3,
        checkpoint=checkpoint,
        checkpoint_monitor="loss",
        early_stopping={"monitor": "loss", "patience": 0, "min_delta": 1e6, "restore_best_weights": True},
    )
    train = {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "random_seed": 1, "model_args": args}
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        run_steps(tmp_path, "train", [scene / "scene.las"], "out", [copy.deepcopy(TWO_CLASS_MAPPING), train])
    with (tmp_path / "out" / "training" / "history.csv").open() as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    assert len(losses) == 2
    training = json.loads((tmp_path / "out" / "report.json").read_text())["trainings"][0]
    best = min(range(2), key=lambda k: losses[k])  # the checkpoint's: the lower loss of the two
    kept = (
        {"epoch": best + 1, "by": "checkpoint", "monitor": "loss", "value": losses[best]}
        if checkpoint
        else {"epoch": 1, "by": "early_stopping", "monitor": "loss", "value": losses[0]}
    )
    assert training["epochs"]["kept"] == pytest.approx(kept)
    assert training["epochs"]["early_stopping"] == {"monitor": "loss", "patience": 0, "stopped": True, "epoch": 2}
    assert (training["epochs"]["planned"], training["epochs"]["run"]) == (3, 2)
    sentence = epochs_sentence(training["epochs"])
    assert sentence in caplog.text and sentence.startswith("2 of 3 epochs run, early stopping (loss, patience 0)")
    page = (tmp_path / "out" / "report.html").read_text()
    assert sentence.replace("'", "&#x27;") in page
    assert "<span>epoch kept</span>" in page
    # what the model applies to its features: its standardisation of the intensity
    applied = {fact["transformer"]: fact for fact in training["model_transformers"]}
    standard = applied["robust standardization"]["values"]["intensity"]
    assert set(standard) == {"center", "scale"} and math.isfinite(standard["center"]) and standard["scale"] > 0
    assert "<h3>Applied by the model</h3>" in page and "robust standardization" in page
