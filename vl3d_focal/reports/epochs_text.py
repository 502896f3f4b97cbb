"""A training's epochs in one sentence (its ``TrainingFacts.epochs``): the epochs planned and run,
whether early stopping ended the training, and which epoch's weights the model keeps; the
training's last log line and its section of the run's page both say it.

Example:
    >>> epochs_sentence({"planned": 10, "run": 10, "early_stopping": None,
    ...                  "kept": {"epoch": 10, "by": "last_epoch"}})
    '10 of 10 epochs run; the model keeps the weights of epoch 10 (the last)'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KEPT_BY = {"checkpoint": "the checkpoint's best", "early_stopping": "early stopping's best (restore_best_weights)"}
"""What chose the kept epoch (``kept.by``), in words."""


def epochs_sentence(facts: Mapping[str, Any]) -> str:
    """The epochs of ``facts`` (:func:`~vl3d_focal.training.kept_epoch.epoch_facts`) in a sentence.

    Example:
        >>> epochs_sentence({"planned": 10, "run": 7,
        ...     "early_stopping": {"monitor": "val_loss", "patience": 2, "stopped": True, "epoch": 7},
        ...     "kept": {"epoch": 5, "by": "checkpoint", "monitor": "val_loss", "value": 0.3125}})
        "7 of 10 epochs run, early stopping (val_loss, patience 2) ended the training after epoch 7; the model keeps the weights of epoch 5 (the checkpoint's best, val_loss 0.3125)"
        >>> epochs_sentence({"planned": 1, "run": 2, "kept": {"epoch": 2, "by": "last_epoch"}})  # resumed, fewer epochs
        '2 epochs run (training_epochs now 1); the model keeps the weights of epoch 2 (the last)'
    """
    run, planned = facts["run"], facts["planned"]
    text = f"{run} of {planned} epochs run" if run <= planned else f"{run} epochs run (training_epochs now {planned})"
    stopping = facts.get("early_stopping")
    if stopping:
        how = f"early stopping ({stopping['monitor']}, patience {stopping['patience']})"
        text += (
            f", {how} ended the training after epoch {stopping['epoch']}"
            if stopping["stopped"]
            else f" ({how} did not end the training)"
        )
    kept = facts["kept"]
    if kept["by"] in KEPT_BY:
        value = "" if kept.get("value") is None else f", {kept['monitor']} {kept['value']:.5g}"
        why = f"{KEPT_BY[kept['by']]}{value}"
    else:
        why = "the last"
    return f"{text}; the model keeps the weights of epoch {kept['epoch']} ({why})"
