"""Training callbacks: the NaN guard, the history CSV, the best epoch (weights, and the model at
``checkpoint_path``), and the callbacks of ``model_handling`` (Keras' early stopping and
learning-rate reduction on plateau with VL3D's keys), each written atomically by the chief.

Example:
    >>> guard = NonFiniteGuard()
    >>> guard.on_train_batch_end(0, {"loss": 0.5}); guard.tripped
    False
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from vl3d_focal.io.atomic import atomic_output, write_text
from vl3d_focal.training.distribution import is_chief
from vl3d_focal.training.plateau import plateau_settings
from vl3d_focal.wording import counted

logger = logging.getLogger(__name__)


def is_finite_number(value: Any) -> bool:
    """Whether a logged value is a finite number (non-numbers count as finite).

    Example:
        >>> is_finite_number(0.5), is_finite_number(float("inf")), is_finite_number("n/a")
        (True, False, True)
    """
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite and remembers where.

    Example:
        >>> guard = NonFiniteGuard()
        >>> guard.on_train_batch_end(0, {"loss": 0.5}); guard.tripped
        False
    """

    def __init__(self) -> None:
        super().__init__()
        self.tripped = False
        self.epoch = -1
        self.batch = -1
        self.value: float | None = None

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        loss = (logs or {}).get("loss")
        if loss is not None and not is_finite_number(loss):
            self.tripped, self.batch, self.value = True, batch, float(loss)
            self.model.stop_training = True


class HistoryWriter(keras.callbacks.Callback):
    """Writes every epoch's logs as CSV (``epoch`` first, counted from 1 as the logs and VL3D's
    ``training_history.csv`` count them), rewritten atomically each epoch.

    The optimizer's learning rate of the epoch is added as ``learning_rate`` when the logs do
    not have it.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "history.csv"
        >>> writer = HistoryWriter(out)
        >>> writer.on_epoch_end(0, {"loss": 0.5}); out.read_text().split()
        ['epoch,loss', '1,0.5']
    """

    def __init__(self, path: Path, rows: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = [dict(row) for row in rows]

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        row: dict[str, Any] = {"epoch": int(epoch) + 1}  # Keras counts from 0
        for key, value in (logs or {}).items():
            row[key] = float(value) if np.ndim(value) == 0 else value
        optimizer = getattr(self._model, "optimizer", None)
        if "learning_rate" not in row and optimizer is not None:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        self.rows = [r for r in self.rows if int(r["epoch"]) < row["epoch"]] + [row]
        if is_chief():
            self.write()

    def write(self) -> None:
        """Writes the rows (atomically)."""
        keys: list[str] = []
        for row in self.rows:
            keys += [key for key in row if key not in keys]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buffer.getvalue(), log=False)


class LearningRateLog(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to every epoch's logs (as ``learning_rate``).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.25), loss="mse")
        >>> log, logs = LearningRateLog(), {}
        >>> log.set_model(model); log.on_epoch_end(0, logs); logs
        {'learning_rate': 0.25}
    """

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:  # noqa: D102
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class TrainingProgress(keras.callbacks.Callback):
    """Logs after each epoch the time the training has taken and an estimate of the time left:
    the epochs left times the mean epoch time of this run (``clock``: seconds, monotonic);
    with ``early_stopping``, the line says it may end sooner.

    Example:
        >>> ticks = iter([0.0, 10.0, 30.0])
        >>> progress = TrainingProgress(epochs=4, early_stopping=False, clock=lambda: next(ticks))
        >>> progress.on_train_begin(); progress.line(0)
        'epoch 1/4: 10 s elapsed; about 30 s left (an estimate: 3 epochs x 10 s, the mean epoch time)'
        >>> progress.line(1)
        'epoch 2/4: 30 s elapsed; about 30 s left (an estimate: 2 epochs x 15 s, the mean epoch time)'
    """

    def __init__(self, *, epochs: int, early_stopping: bool, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.epochs, self.early_stopping, self.clock = epochs, early_stopping, clock
        self.start: float = 0.0
        self.first: int | None = None  # the first epoch of this run (a resumed one starts later)

    @classmethod
    def of(cls, model_handling: Mapping[str, Any]) -> TrainingProgress:
        """The progress of a normalised ``model_handling``'s training (its epochs, its early stopping).

        Example:
            >>> TrainingProgress.of({"training_epochs": 30}).epochs
            30
        """
        return cls(
            epochs=int(model_handling["training_epochs"]), early_stopping=bool(model_handling.get("early_stopping"))
        )

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        self.start = self.clock()
        self.first = None

    def line(self, epoch: int) -> str:
        """The progress line after ``epoch`` (counted from 0, as Keras counts)."""
        if self.first is None:
            self.first = epoch
        elapsed, done, left = self.clock() - self.start, epoch + 1 - self.first, self.epochs - epoch - 1
        text = f"epoch {epoch + 1}/{self.epochs}: {elapsed:.0f} s elapsed"
        if left <= 0:
            return text
        mean = elapsed / done
        sooner = "; early stopping may end it sooner" if self.early_stopping else ""
        return f"{text}; about {left * mean:.0f} s left (an estimate: {counted(left, 'epoch')} x {mean:.0f} s, the mean epoch time{sooner})"

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        if is_chief():
            logger.info("%s", self.line(epoch))


def monitor_mode(monitor: str, mode: str) -> str:
    """``"min"`` or ``"max"``: the given mode, or for ``"auto"`` the direction of the quantity's
    name (accuracies, precision, recall, F1, IoU, AUC increase; losses and the rest decrease).

    Example:
        >>> monitor_mode("val_categorical_accuracy", "auto"), monitor_mode("loss", "auto"), monitor_mode("loss", "max")
        ('max', 'min', 'max')
    """
    if mode in ("min", "max"):
        return mode
    name = monitor.removeprefix("val_").lower()
    return "max" if any(part in name for part in ("acc", "precision", "recall", "f1", "iou", "auc")) else "min"


class BestWeights(keras.callbacks.Callback):
    """Saves the best epoch on ``monitor``, atomically: its weights and, optionally, a model file.

    Args:
        path: a ``.weights.h5`` file receiving the weights, or None.
        network: the model whose weights are saved (the one written later).
        monitor: the log key compared.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (see :func:`monitor_mode`).
        also: called at each improvement (on the chief) after the weights are saved, e.g. to
            write ``model_handling.checkpoint_path``.

    Example:
        >>> BestWeights(Path("best.weights.h5"), network=None, monitor="val_accuracy").best
        -inf
    """

    def __init__(
        self,
        path: Path | None,
        *,
        network: Any,
        monitor: str,
        mode: str = "auto",
        also: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.path = None if path is None else Path(path)
        self.network = network
        self.monitor = monitor
        self.sign = 1.0 if monitor_mode(monitor, mode) == "min" else -1.0
        self.best = self.sign * math.inf
        self.also = also

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        value = (logs or {}).get(self.monitor)
        if value is None or not is_finite_number(value) or self.sign * float(value) >= self.sign * self.best:
            return
        self.best = float(value)
        if not is_chief():
            return
        if self.path is not None:
            with atomic_output(self.path) as tmp:
                self.network.save_weights(str(tmp))
        if self.also is not None:
            self.also()
        logger.info("epoch %d: %s improved to %.5g, best epoch kept", epoch + 1, self.monitor, self.best)


def checkpoint_writer(path: Path, *, bundle: Callable[[], Any]) -> Callable[[], None]:
    """What :class:`BestWeights` calls to write ``model_handling.checkpoint_path``: the weights for a
    ``.weights.h5`` path, else the model file of ``bundle()``, a ``.keras`` archive whatever the
    name (VL3D's ``checkpoint.model`` too), which ModelLoader loads by that name.

    Example:
        >>> write = checkpoint_writer(out / "best.weights.h5", bundle=lambda: bundle)
        >>> write(); (out / "best.weights.h5").is_file()
        True
    """
    from vl3d_focal.models.model_file import save_bundle

    path = Path(path)
    if path.name.endswith(".weights.h5"):

        def write() -> None:
            with atomic_output(path) as tmp:
                bundle().model.save_weights(str(tmp))

        return write

    def save() -> None:
        save_bundle(bundle(), path)

    return save


def _monitor(name: str, *, has_validation: bool) -> str:
    if name.startswith("val_") and not has_validation:
        logger.warning("no validation data: monitoring %r instead of %r", name[4:], name)
        return name[4:]
    return name


def build_callbacks(
    *,
    model_handling: Mapping[str, Any],
    has_validation: bool,
    history_csv: Path,
    checkpoint_path: Path | None,
    schedule_in_use: bool,
    network: Any = None,
    history_rows: Sequence[Mapping[str, Any]] = (),
    on_best: Callable[[], None] | None = None,
    tensorboard_dir: Path | None = None,
) -> list[keras.callbacks.Callback]:
    """Callbacks of ``model_handling``: best epoch, early stopping, plateau, TensorBoard, then the
    history CSV (last, so that it records the learning rate the plateau callback logs, as VL3D's
    history does).

    The history and the best weights are written atomically (temporary file, then rename).

    Args:
        model_handling: ``model_args.model_handling`` of a normalised train step (the schema
            defaults of ``checkpoint_monitor`` and of the two callback objects filled in).
        has_validation: whether validation data exists (``val_*`` monitors fall back
            to the training metric otherwise).
        history_csv: where the per-epoch history is logged.
        checkpoint_path: where the best weights are saved (``.weights.h5``), or None.
        schedule_in_use: a learning-rate schedule cannot be reduced on plateau.
        network: the model whose best weights are saved (default: the fitted model).
        history_rows: the rows of the epochs already done (when resuming).
        on_best: called at each improvement of the best epoch (``model_handling.checkpoint_path``);
            the best epoch is tracked when it or ``checkpoint_path`` is given.
        tensorboard_dir: where TensorBoard logs go (``model_handling.tensorboard_dir``,
            expanded), or None; TensorBoard appends its event files there itself, so they are
            the one output not written atomically.

    Example:
        >>> cbs = build_callbacks(model_handling={"early_stopping": {"monitor": "val_loss", "patience": 2,
        ...     "min_delta": 0.0, "mode": "auto", "baseline": None, "restore_best_weights": False,
        ...     "start_from_epoch": 0}}, has_validation=False, history_csv=Path("h.csv"),
        ...     checkpoint_path=None, schedule_in_use=False)
        >>> [type(cb).__name__ for cb in cbs]
        ['EarlyStopping', 'HistoryWriter']
    """
    callbacks: list[keras.callbacks.Callback] = []
    if checkpoint_path is not None or on_best is not None:
        monitor = _monitor(model_handling["checkpoint_monitor"], has_validation=has_validation)
        callbacks.append(BestWeights(checkpoint_path, network=network, monitor=monitor, also=on_best))
    stopping = model_handling.get("early_stopping")
    if stopping:
        monitor = _monitor(stopping["monitor"], has_validation=has_validation)
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=monitor_mode(monitor, stopping["mode"]),
                patience=int(stopping["patience"]),
                min_delta=float(stopping["min_delta"]),
                baseline=stopping["baseline"],
                restore_best_weights=bool(stopping["restore_best_weights"]),
                start_from_epoch=int(stopping["start_from_epoch"]),
            )
        )
    plateau = plateau_settings(model_handling)
    if plateau and schedule_in_use:  # as in VL3D, the learning rate is still traced in the history
        logger.warning(
            "learning_rate_on_plateau cannot reduce a learning-rate schedule; the learning rate is "
            "only recorded in the history"
        )
        callbacks.append(LearningRateLog())
    elif plateau:
        monitor = _monitor(plateau["monitor"], has_validation=has_validation)
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                mode=monitor_mode(monitor, plateau["mode"]),
                factor=float(plateau["factor"]),
                patience=int(plateau["patience"]),
                cooldown=int(plateau["cooldown"]),
                min_delta=float(plateau["min_delta"]),
                min_lr=float(plateau["min_lr"]),
            )
        )
    if tensorboard_dir is not None and is_chief():
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir), write_graph=False))
    return callbacks + [HistoryWriter(history_csv, rows=history_rows)]
