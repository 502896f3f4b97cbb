"""Fault-tolerant training: resumable checkpoints, atomic history and best weights, NaN guard.

Every epoch that ends with a finite loss writes ``training/resume/checkpoint.npz`` (one file,
renamed into place, so a kill never leaves half of it): the model weights, the optimizer
variables (moments, step count, learning rate), early stopping's best weights (with
``restore_best_weights``) and a JSON state with the epoch, the data-order seed, the history rows
and the state of the early-stopping, reduce-on-plateau and best-weights callbacks.
``vl3d-focal run SPEC --resume`` reloads it and continues with the next epoch; the data order of
an epoch only depends on the seed and the epoch number, so a resumed run sees the same batches as
an uninterrupted one. A finished training resumed is not fitted again: its model is the one the
training kept (early stopping's best epoch, restored as at the end of its fit).

Which training a checkpoint belongs to: its fingerprint (:mod:`vl3d_focal.training.checkpoint_match`).

A NaN or infinite training loss stops the fit at once (no checkpoint of the bad epoch) and
:func:`raise_if_diverged` reports it as :class:`TrainingDivergedError`.

Example:
    >>> CALLBACK_STATE["EarlyStopping"]
    ('wait', 'best', 'stopped_epoch', 'best_epoch')
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from vl3d_focal.errors import DataError, VL3DFocalError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.training.callbacks import HistoryWriter, NonFiniteGuard, is_finite_number
from vl3d_focal.training.distribution import is_chief

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
STATE_MEMBER = "state_json"
"""Callback attributes saved and restored, per callback class name."""
CALLBACK_STATE: dict[str, tuple[str, ...]] = {
    "EarlyStopping": ("wait", "best", "stopped_epoch", "best_epoch"),
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
    "BestWeights": ("best",),
}


class TrainingDivergedError(VL3DFocalError):
    """The training loss became NaN or infinite."""


class ResumeCheckpoint(keras.callbacks.Callback):
    """Writes a resumable checkpoint after every epoch with a finite loss.

    Args:
        path: the ``.npz`` checkpoint file.
        fingerprint: identifies the train step and data the checkpoint belongs to.
        data_seed: the seed of the data order.
        guard: the :class:`NonFiniteGuard` (no checkpoint once it tripped).
        history: the :class:`HistoryWriter` whose rows are saved.
        stateful: callbacks whose :data:`CALLBACK_STATE` attributes are saved and restored.
        restore: a loaded checkpoint state to restore at the start of training, or None.
        epochs: the number of epochs of the training (a checkpoint of the last is "finished").

    The state saved holds ``fit_seconds``: the seconds spent fitting up to that epoch, over every
    run that trained the model (the restored checkpoint's, plus this run's); the whole fit's once
    it finished (:meth:`keep_fit_seconds`).

    Example:
        >>> cb = ResumeCheckpoint(Path("c.npz"), fingerprint="f", data_seed=1, guard=NonFiniteGuard(),
        ...                       history=HistoryWriter(Path("h.csv")), stateful=[], restore=None)
        >>> cb.last_epoch
        -1
    """

    def __init__(
        self,
        path: Path,
        *,
        fingerprint: str,
        data_seed: int,
        guard: NonFiniteGuard,
        history: HistoryWriter,
        stateful: Sequence[keras.callbacks.Callback],
        restore: Mapping[str, Any] | None,
        epochs: int | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.data_seed = int(data_seed)
        self.guard = guard
        self.history = history
        self.stateful = list(stateful)
        self.restore = restore
        self.last_epoch = -1 if restore is None else int(restore["epoch"])
        self.epochs = epochs
        self.fit_start = time.perf_counter()
        """When this run's fitting began (``time.perf_counter()``; the trainer sets it as it starts)."""
        self.fit_end: float | None = None
        """When Keras ended the training (None before), before its data iterators are released (seconds idle)."""

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        self.fit_end = time.perf_counter()

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        if self.restore is None:
            return
        saved = self.restore.get("callbacks", {})
        for callback in self.stateful:
            for name, value in saved.get(type(callback).__name__, {}).items():
                setattr(callback, name, math.inf if value == "inf" else (-math.inf if value == "-inf" else value))
        stop = _restoring_stop(self.stateful)
        if stop is not None:
            stop.best_weights = read_best_weights(self.path)

    def keep_finished(self, model: keras.Model) -> None:
        """For a finished training resumed without fitting: restores the callbacks' state and
        ``model`` keeps the weights the training kept (early stopping's best epoch, with
        ``restore_best_weights``, as at the end of its fit; else the checkpoint's last epoch).

        Example:
            >>> ResumeCheckpoint(Path("c.npz"), fingerprint="f", data_seed=1, guard=NonFiniteGuard(),
            ...                  history=HistoryWriter(Path("h.csv")), stateful=[], restore=None).keep_finished(None)
        """
        self.on_train_begin()
        stop = _restoring_stop(self.stateful)
        if stop is None:
            return
        if stop.best_weights is None:
            logger.warning(
                "--resume: the checkpoint %s holds no best weights of early stopping (none yet, or "
                "written by an older version): the model keeps the weights of its last epoch",
                self.path,
            )
            return
        stop.set_model(model)
        stop.on_train_end()

    def keep_fit_seconds(self, seconds: float) -> None:
        """After a fit that finished the training: its checkpoint (written at the end of the last
        epoch) keeps the whole fit time ``seconds``, end-of-training work included, so a resume
        of the finished training records the fit time of the run that fitted it.

        Example:
            >>> ResumeCheckpoint(Path("c.npz"), fingerprint="f", data_seed=1, guard=NonFiniteGuard(),
            ...                  history=HistoryWriter(Path("h.csv")), stateful=[], restore=None).keep_fit_seconds(2.5)
        """
        state = read_checkpoint_state(self.path) if is_chief() and self.last_epoch >= 0 else None
        if state is None or not state.get("finished") or int(state["epoch"]) != self.last_epoch:
            return
        with np.load(self.path) as archive:
            arrays = {name: archive[name] for name in archive.files if name != STATE_MEMBER}
        _write_checkpoint(self.path, arrays, {**state, "fit_seconds": float(seconds)})

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        if self.guard.tripped or not all(is_finite_number(v) for k, v in (logs or {}).items() if k.endswith("loss")):
            return
        weights = self.model.get_weights()
        if not all(np.all(np.isfinite(w)) for w in weights):
            logger.warning("epoch %d: the weights are not finite, no checkpoint written", epoch + 1)
            return
        self.last_epoch = epoch
        if not is_chief():
            return
        state = {
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "epoch": int(epoch),
            "finished": bool(self.model.stop_training) or (self.epochs is not None and epoch + 1 >= self.epochs),
            "data_seed": self.data_seed,
            "history": self.history.rows,
            "fit_seconds": earlier_fit_seconds(self.restore) + time.perf_counter() - self.fit_start,
            "callbacks": {
                type(cb).__name__: {
                    name: _jsonable(getattr(cb, name, None)) for name in CALLBACK_STATE.get(type(cb).__name__, ())
                }
                for cb in self.stateful
            },
        }
        stop = _restoring_stop(self.stateful)
        save_checkpoint(
            self.path, model=self.model, state=state, best_weights=None if stop is None else stop.best_weights
        )


def _restoring_stop(callbacks: Sequence[keras.callbacks.Callback]) -> keras.callbacks.EarlyStopping | None:
    """The early stopping of ``callbacks`` that restores its best weights at the end, or None."""
    return next(
        (cb for cb in callbacks if isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights), None
    )


def earlier_fit_seconds(restore: Mapping[str, Any] | None) -> float:
    """The seconds a restored checkpoint's training spent fitting (0 without one, or from a checkpoint
    written before they were kept).

    Example:
        >>> earlier_fit_seconds({"epoch": 9, "fit_seconds": 20.5}), earlier_fit_seconds(None)
        (20.5, 0.0)
    """
    return float((restore or {}).get("fit_seconds") or 0.0)


def not_fitting_reason(restore: Mapping[str, Any] | None, *, epochs: int, path: Path) -> str | None:
    """Why a training resumed from the checkpoint state ``restore`` (at ``path``) fits no epoch,
    or None when it fits (no checkpoint, or epochs left): its training finished (its last epoch,
    or early stopping; a finished training resumed with more ``training_epochs`` fits the extra
    ones), or it holds ``epochs`` epochs or more (``training_epochs`` lowered).

    Example:
        >>> not_fitting_reason({"epoch": 0, "finished": True}, epochs=2, path=Path("c.npz")) is None
        True
        >>> not_fitting_reason({"epoch": 2, "finished": True}, epochs=2, path=Path("c.npz"))
        'the checkpoint c.npz holds 3 epochs, more than training_epochs (2): not fitting again'
        >>> stopped = {"EarlyStopping": {"stopped_epoch": 1}}
        >>> not_fitting_reason({"epoch": 1, "finished": True, "callbacks": stopped}, epochs=4, path=Path("c.npz"))
        'the checkpoint c.npz is of a finished training: not fitting again'
    """
    if restore is None:
        return None
    done = int(restore["epoch"]) + 1
    stopped = bool(((restore.get("callbacks") or {}).get("EarlyStopping") or {}).get("stopped_epoch"))
    if restore.get("finished") and (done == epochs or stopped):
        return f"the checkpoint {path} is of a finished training: not fitting again"
    if done >= epochs:
        return f"the checkpoint {path} holds {done} epochs, more than training_epochs ({epochs}): not fitting again"
    return None


def restored_history(restore: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The history rows of a restored checkpoint, epochs counted from 1 (a checkpoint written when
    the history counted from 0, whose last row is its 0-based ``epoch``, is renumbered).

    Example:
        >>> restored_history({"epoch": 1, "history": [{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}]})
        [{'epoch': 1, 'loss': 1.0}, {'epoch': 2, 'loss': 0.5}]
        >>> restored_history({"epoch": 0, "history": [{"epoch": 1, "loss": 1.0}]}), restored_history(None)
        ([{'epoch': 1, 'loss': 1.0}], [])
    """
    if restore is None:
        return []
    rows = [dict(row) for row in restore.get("history") or []]
    if rows and int(rows[-1]["epoch"]) == int(restore["epoch"]):
        return [{**row, "epoch": int(row["epoch"]) + 1} for row in rows]
    return rows


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    value = float(value) if np.ndim(value) == 0 else value
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def save_checkpoint(
    path: Path, *, model: keras.Model, state: Mapping[str, Any], best_weights: Sequence[np.ndarray] | None = None
) -> Path:
    """Writes weights, optimizer variables, early stopping's ``best_weights`` (if any) and
    ``state`` into one ``.npz`` file, atomically.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]); model.compile(optimizer="sgd", loss="mse")
        >>> read_checkpoint_state(save_checkpoint(out / "c.npz", model=model, state={"epoch": 0}))
        {'epoch': 0}
    """
    arrays = {f"w{i}": np.asarray(value) for i, value in enumerate(model.get_weights())}
    arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)})
    arrays.update({f"b{i}": np.asarray(value) for i, value in enumerate(best_weights or ())})
    return _write_checkpoint(path, arrays, state)


def _write_checkpoint(path: Path, arrays: dict[str, np.ndarray], state: Mapping[str, Any]) -> Path:
    """Writes the checkpoint's ``arrays`` and JSON ``state`` into ``path``, atomically."""
    arrays = {**arrays, STATE_MEMBER: np.frombuffer(json.dumps(dict(state)).encode("utf-8"), dtype=np.uint8)}
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub: a key could be allow_pickle
    logger.debug("wrote checkpoint %s (epoch %d)", path, int(state.get("epoch", -1)) + 1)
    return path


def read_checkpoint_state(path: Path) -> dict[str, Any] | None:
    """The JSON state of a checkpoint, or None when there is none.

    Raises:
        DataError: when the file exists but cannot be read.

    Example:
        >>> read_checkpoint_state(Path("no/such/checkpoint.npz")) is None
        True
    """
    if not Path(path).is_file():
        return None
    try:
        with np.load(path) as archive:
            return json.loads(archive[STATE_MEMBER].tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError) as err:
        raise DataError(
            f"resume checkpoint {path}: expected a checkpoint written by vl3d-focal, "
            f"got an unreadable file ({err}); delete it to start afresh"
        ) from err


def read_best_weights(path: Path) -> list[np.ndarray] | None:
    """Early stopping's best weights saved in the checkpoint ``path``, or None (none saved).

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]); model.compile(optimizer="sgd", loss="mse")
        >>> path = save_checkpoint(out / "c.npz", model=model, state={}, best_weights=[np.ones((2, 1)), np.zeros(1)])
        >>> [w.shape for w in read_best_weights(path)], read_best_weights(save_checkpoint(path, model=model, state={}))
        ([(2, 1), (1,)], None)
    """
    with np.load(path) as archive:
        weights = [archive[f"b{i}"] for i in range(sum(1 for k in archive.files if k.startswith("b")))]
    return weights or None


def resume_state(path: Path, *, expected: str, earlier: Collection[str] = ()) -> dict[str, Any] | None:
    """The state of the checkpoint ``path`` that ``--resume`` continues from, or None (with a
    warning) when there is none, so the training starts from the first epoch.

    Raises:
        DataError: the checkpoint's fingerprint is neither ``expected`` nor one of ``earlier``
            (:mod:`~vl3d_focal.training.checkpoint_match`): another train step's, other data's,
            or written by a version too old to tell.

    Example:
        >>> resume_state(Path("no/such/checkpoint.npz"), expected="abc") is None
        True
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]); model.compile(optimizer="sgd", loss="mse")
        >>> resume_state(save_checkpoint(out / "c.npz", model=model, state={"fingerprint": "abc"}), expected="abd")
        Traceback (most recent call last):
        vl3d_focal.errors.DataError: --resume: the checkpoint .../c.npz belongs to another train step or other data ...
    """
    saved = read_checkpoint_state(path)
    if saved is None:
        logger.warning("--resume: no checkpoint at %s; training from the first epoch", path)
        return None
    if saved.get("fingerprint") != expected and saved.get("fingerprint") not in earlier:
        raise DataError(
            f"--resume: the checkpoint {path} belongs to another train step or other data "
            f"(fingerprint {saved.get('fingerprint')}, expected {expected}), or an older vl3d_focal wrote it; "
            "run without --resume to start afresh (or with the version that wrote it to finish that training)"
        )
    return saved


def restore_checkpoint(path: Path, *, model: keras.Model) -> None:
    """Loads a checkpoint's weights and optimizer variables into a compiled model.

    Call it under the strategy's scope: the optimizer is built there first.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]); model.compile(optimizer="sgd", loss="mse")
        >>> path = save_checkpoint(out / "c.npz", model=model, state={"epoch": 0})
        >>> model.set_weights([np.zeros((2, 1)), np.zeros(1)]); restore_checkpoint(path, model=model)
        >>> bool(np.any(model.get_weights()[0] != 0))  # the saved random kernel is back
        True
    """
    with np.load(path) as archive:
        weights = [archive[f"w{i}"] for i in range(sum(1 for k in archive.files if k.startswith("w")))]
        slots = [archive[f"o{i}"] for i in range(sum(1 for k in archive.files if k.startswith("o")))]
    model.set_weights(weights)
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    if len(slots) != len(optimizer.variables):
        raise DataError(
            f"resume checkpoint {path}: expected {len(optimizer.variables)} optimizer "
            f"variables, got {len(slots)}; delete it to start afresh"
        )
    for variable, value in zip(optimizer.variables, slots):
        variable.assign(value)


def raise_if_diverged(guard: NonFiniteGuard, *, checkpoint: Path, last_epoch: int) -> None:
    """Raises :class:`TrainingDivergedError` when the guard saw a NaN or infinite loss.

    Example:
        >>> raise_if_diverged(NonFiniteGuard(), checkpoint=Path("c.npz"), last_epoch=-1)
    """
    if not guard.tripped:
        return
    kept = (
        f"the last good checkpoint (epoch {last_epoch + 1}) is kept in {checkpoint}"
        if last_epoch >= 0 and checkpoint.is_file()
        else "no epoch finished, so no checkpoint was kept"
    )
    raise TrainingDivergedError(
        f"training stopped: the loss became {guard.value} at epoch {guard.epoch + 1}, batch {guard.batch + 1}; "
        f"expected a finite loss (check the features for NaN or infinite values, or lower the "
        f"learning rate); {kept}"
    )
