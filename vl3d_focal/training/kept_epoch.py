"""How many epochs a network trained, whether early stopping ended the training, and which epoch's
weights the model keeps, read from the trainer's callbacks and its history.

The kept epoch follows what the trainer does: the checkpoint's best epoch on
``checkpoint_monitor`` where its weights were written (they are restored last), else early
stopping's best epoch where it restored them (``restore_best_weights``), else the last epoch.

Example:
    >>> rows = [{"epoch": 1, "val_loss": 0.5}, {"epoch": 2, "val_loss": 0.75}]
    >>> epoch_facts(model_handling={"training_epochs": 5}, callbacks=[], rows=rows)
    {'planned': 5, 'run': 2, 'early_stopping': None, 'kept': {'epoch': 2, 'by': 'last_epoch'}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from vl3d_focal.training.callbacks import BestWeights, is_finite_number

CHECKPOINT, EARLY_STOPPING, LAST_EPOCH = "checkpoint", "early_stopping", "last_epoch"
"""What chose the kept epoch (``kept.by``)."""


def epoch_facts(
    *,
    model_handling: Mapping[str, Any],
    callbacks: Sequence[keras.callbacks.Callback],
    rows: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The epochs of a fitted network: ``planned`` (``training_epochs``), ``run`` (the last epoch
    of the history, counted from 1, a resumed training's earlier epochs included),
    ``early_stopping`` (None without it, else its ``monitor``, ``patience`` and whether it
    ``stopped`` the training, and after which ``epoch``) and ``kept``: the ``epoch`` whose
    weights the model keeps and what chose it (``by``: ``checkpoint``, ``early_stopping`` or
    ``last_epoch``), with the ``monitor`` and its ``value`` at that epoch for the first two.

    Args:
        model_handling: the normalised ``model_handling`` of the training.
        callbacks: the trainer's callbacks, after fitting.
        rows: the history rows (``HistoryWriter.rows``).

    Example:
        >>> from pathlib import Path
        >>> stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=0)
        >>> stop.best_epoch, stop.best = 0, 0.5
        >>> facts = epoch_facts(model_handling={"training_epochs": 5}, callbacks=[stop],
        ...                     rows=[{"epoch": 1, "val_loss": 0.5}, {"epoch": 2, "val_loss": 0.75}])
        >>> facts["early_stopping"], facts["kept"]["by"]
        ({'monitor': 'val_loss', 'patience': 0, 'stopped': True, 'epoch': 2}, 'last_epoch')
    """
    planned = int(model_handling["training_epochs"])
    run = int(rows[-1]["epoch"]) if rows else 0
    best = next((cb for cb in callbacks if isinstance(cb, BestWeights)), None)
    stop = next((cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping)), None)
    stopping = None
    if stop is not None:  # nothing else stops a training that did not fail before its last epoch
        stopped = 0 < run < planned
        stopping = {"monitor": stop.monitor, "patience": int(stop.patience), "stopped": stopped}
        stopping["epoch"] = run if stopped else None
    kept: dict[str, Any] = {"epoch": run, "by": LAST_EPOCH}
    if best is not None and best.path is not None and best.path.is_file():  # restored after the fit
        epoch, value = _best_row(rows, monitor=best.monitor, sign=best.sign)
        if epoch is not None:
            kept = {"epoch": epoch, "by": CHECKPOINT, "monitor": best.monitor, "value": value}
    elif stop is not None and stop.restore_best_weights and stop.best_weights is not None:
        value = None if stop.best is None else float(stop.best)
        kept = {"epoch": int(stop.best_epoch) + 1, "by": EARLY_STOPPING, "monitor": stop.monitor, "value": value}
    return {"planned": planned, "run": run, "early_stopping": stopping, "kept": kept}


def _best_row(rows: Sequence[Mapping[str, Any]], *, monitor: str, sign: float) -> tuple[int | None, float | None]:
    """The first epoch with the best finite ``monitor`` value (lowest of ``sign`` times it), as
    :class:`~vl3d_focal.training.callbacks.BestWeights` keeps it, and that value."""
    epoch, best = None, None
    for row in rows:
        value = row.get(monitor)
        if value is None or not is_finite_number(value):
            continue
        if best is None or sign * float(value) < sign * best:
            epoch, best = int(row["epoch"]), float(value)
    return epoch, best
