"""Training callbacks: the NaN guard, the history CSV, the best weights, and the callbacks of
``model_handling`` (early stopping, reduce-on-plateau), each written atomically by the chief.

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
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import numpy as np

from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.training.distribution import is_chief

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
    """Writes every epoch's logs as CSV (``epoch`` first), rewritten atomically each epoch.

    The optimizer's learning rate of the epoch is added as ``learning_rate`` when the logs do
    not have it.

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "history.csv"
        >>> writer = HistoryWriter(out)
        >>> writer.on_epoch_end(0, {"loss": 0.5}); out.read_text().split()
        ['epoch,loss', '0,0.5']
    """

    def __init__(self, path: Path, rows: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = [dict(row) for row in rows]

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        row = {"epoch": int(epoch)}
        for key, value in (logs or {}).items():
            row[key] = float(value) if np.ndim(value) == 0 else value
        optimizer = getattr(self._model, "optimizer", None)
        if "learning_rate" not in row and optimizer is not None:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        self.rows = [r for r in self.rows if int(r["epoch"]) < epoch] + [row]
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
        with atomic_output(self.path) as tmp:
            tmp.write_text(buffer.getvalue(), encoding="utf-8")


class BestWeights(keras.callbacks.Callback):
    """Saves the weights of the best epoch on ``monitor`` (lower is better) atomically.

    Args:
        path: a ``.weights.h5`` file.
        network: the model whose weights are saved (the one written later).
        monitor: the log key compared.

    Example:
        >>> BestWeights(Path("best.weights.h5"), network=None, monitor="val_loss").best
        inf
    """

    def __init__(self, path: Path, *, network: Any, monitor: str) -> None:
        super().__init__()
        self.path = Path(path)
        self.network = network
        self.monitor = monitor
        self.best = math.inf

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:  # noqa: D102
        value = (logs or {}).get(self.monitor)
        if value is None or not is_finite_number(value) or float(value) >= self.best:
            return
        self.best = float(value)
        if is_chief():
            with atomic_output(self.path) as tmp:
                self.network.save_weights(str(tmp))
            logger.info("epoch %d: %s improved to %.5g, saved %s", epoch + 1, self.monitor, self.best, self.path)


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
    tensorboard_dir: Path | None = None,
) -> list[keras.callbacks.Callback]:
    """Callbacks of ``model_handling``: history CSV, best weights, early stopping, plateau, TensorBoard.

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
        tensorboard_dir: where TensorBoard logs go (``model_handling.tensorboard_dir``,
            expanded), or None; TensorBoard appends its event files there itself, so they are
            the one output not written atomically.

    Example:
        >>> cbs = build_callbacks(model_handling={"early_stopping": {"monitor": "val_loss", "patience": 2,
        ...                                                      "min_delta": 0.0}},
        ...     has_validation=False, history_csv=Path("h.csv"), checkpoint_path=None,
        ...     schedule_in_use=False)
        >>> [type(cb).__name__ for cb in cbs]
        ['HistoryWriter', 'EarlyStopping']
    """
    callbacks: list[keras.callbacks.Callback] = [HistoryWriter(history_csv, rows=history_rows)]
    if checkpoint_path is not None:
        monitor = _monitor(model_handling["checkpoint_monitor"], has_validation=has_validation)
        best = BestWeights(checkpoint_path, network=network, monitor=monitor)
        callbacks.append(best)
    stopping = model_handling.get("early_stopping")
    if stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=_monitor(stopping["monitor"], has_validation=has_validation),
                patience=int(stopping["patience"]),
                min_delta=float(stopping["min_delta"]),
            )
        )
    plateau = model_handling.get("reduce_lr_on_plateau")
    if plateau and schedule_in_use:
        logger.warning("reduce_lr_on_plateau is not used with a learning-rate schedule")
    elif plateau:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=_monitor(plateau["monitor"], has_validation=has_validation),
                factor=float(plateau["factor"]),
                patience=int(plateau["patience"]),
                min_lr=float(plateau["min_lr"]),
            )
        )
    if tensorboard_dir is not None and is_chief():
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(tensorboard_dir), write_graph=False))
    return callbacks
