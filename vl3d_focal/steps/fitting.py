"""Keras training machinery: optimizer, learning-rate schedule, callbacks, tf.data input.

Example:
    >>> opt = build_optimizer({"algorithm": "SGD", "learning_rate": 0.01})
    >>> type(opt).__name__
    'SGD'
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)

OPTIMIZERS = {"Adam": keras.optimizers.Adam, "SGD": keras.optimizers.SGD}
SCHEDULES = {"exponential_decay": keras.optimizers.schedules.ExponentialDecay}


def build_learning_rate(value: float | Mapping[str, Any]) -> Any:
    """A constant learning rate, or a schedule from ``{"schedule": .., "schedule_args": {..}}``.

    Example:
        >>> lr = build_learning_rate({"schedule": "exponential_decay", "schedule_args":
        ...     {"initial_learning_rate": 0.01, "decay_steps": 10, "decay_rate": 0.5}})
        >>> round(float(lr(10)), 6)
        0.005
    """
    if not isinstance(value, Mapping):
        return float(value)
    schedule = SCHEDULES.get(value.get("schedule"))
    if schedule is None:
        raise DataError(
            f"learning_rate.schedule: expected one of {sorted(SCHEDULES)}, got {value.get('schedule')!r}"
        )
    return schedule(**dict(value["schedule_args"]))


def build_optimizer(spec: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    """The optimizer of ``compilation_args.optimizer``.

    Args:
        spec: ``{"algorithm": "Adam" | "SGD", "learning_rate": number | schedule object}``
            (both present in a normalised spec); a ``schedule``/``schedule_args`` pair at
            this level is accepted too.

    Example:
        >>> round(float(build_optimizer({"algorithm": "Adam", "learning_rate": 0.002}).learning_rate), 6)
        0.002
    """
    algorithm = spec["algorithm"]
    optimizer = OPTIMIZERS.get(algorithm)
    if optimizer is None:
        raise DataError(f"optimizer.algorithm: expected one of {sorted(OPTIMIZERS)}, got {algorithm!r}")
    rate = spec["schedule_args"] if "schedule" in spec else spec["learning_rate"]
    if "schedule" in spec:
        rate = {"schedule": spec["schedule"], "schedule_args": rate}
    return optimizer(learning_rate=build_learning_rate(rate))


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
) -> list[keras.callbacks.Callback]:
    """Callbacks of ``model_handling``: history CSV, best weights, early stopping, plateau.

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

    Example:
        >>> cbs = build_callbacks(model_handling={"early_stopping": {"monitor": "val_loss", "patience": 2,
        ...                                                      "min_delta": 0.0}},
        ...     has_validation=False, history_csv=Path("h.csv"), checkpoint_path=None,
        ...     schedule_in_use=False)
        >>> [type(cb).__name__ for cb in cbs]
        ['HistoryWriter', 'EarlyStopping']
    """
    from vl3d_focal.steps.checkpoints import BestWeights, HistoryWriter

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
    return callbacks


def epoch_dataset(
    inputs: Sequence[np.ndarray],
    *,
    targets: np.ndarray,
    sample_weight: np.ndarray,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
) -> tf.data.Dataset:
    """Training batches of epochs ``first_epoch .. epochs - 1``, one pass over the fields each.

    The order of epoch ``e`` is a stateless shuffle seeded by ``(seed, e)``: it does not
    depend on what ran before, so a run resumed at epoch ``e`` sees the batches an
    uninterrupted run would. Fit it with ``steps_per_epoch=steps_per_epoch(...)``.

    Example:
        >>> ds = epoch_dataset([np.arange(5, dtype="float32")[:, None]], targets=np.zeros(5, "int32"),
        ...                    sample_weight=np.ones(5, "float32"), batch_size=2, seed=3,
        ...                    first_epoch=1, epochs=3)
        >>> [int(b[1].shape[0]) for b in ds]
        [2, 2, 1, 2, 2, 1]
    """
    arrays = tuple(tf.constant(array) for array in inputs)
    labels, weights = tf.constant(targets), tf.constant(sample_weight)
    count = int(len(targets))

    def batches(epoch: tf.Tensor) -> tf.data.Dataset:
        pair = tf.stack([tf.constant(int(seed), tf.int64), epoch])
        order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=pair)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def gather(rows: tf.Tensor) -> Any:
        return tuple(tf.gather(a, rows) for a in arrays), tf.gather(labels, rows), tf.gather(weights, rows)

    dataset = tf.data.Dataset.range(int(first_epoch), int(epochs)).flat_map(batches).map(gather)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(*, count: int, batch_size: int) -> int:
    """Batches per epoch of ``count`` fields.

    Example:
        >>> steps_per_epoch(count=5, batch_size=2)
        3
    """
    return max(1, -(-int(count) // int(batch_size)))


def make_dataset(
    inputs: Sequence[np.ndarray],
    *,
    targets: np.ndarray,
    sample_weight: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
) -> tf.data.Dataset:
    """A batched, prefetched ``(inputs, targets, sample_weight)`` dataset over fields.

    Example:
        >>> ds = make_dataset([np.zeros((5, 4, 3), "float32")], targets=np.zeros((5, 4), "int32"),
        ...                   sample_weight=np.ones((5, 4), "float32"), batch_size=2, shuffle=True, seed=1)
        >>> [int(x[1].shape[0]) for x in ds]
        [2, 2, 1]
    """
    dataset = tf.data.Dataset.from_tensor_slices((tuple(inputs), targets, sample_weight))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)
    if shuffle:
        dataset = dataset.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_verbosity() -> int:
    """Keras' progress bar on a terminal, one line per epoch otherwise.

    Example:
        >>> fit_verbosity() in (1, 2)
        True
    """
    return 1 if sys.stdout.isatty() else 2
