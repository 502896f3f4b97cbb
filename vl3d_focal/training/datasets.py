"""The tf.data input of training: epochs of seeded shuffles over the receptive fields, augmented.

Example:
    >>> steps_per_epoch(count=5, batch_size=2)
    3
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from vl3d_focal.training.augmentation import augment_coordinates


def epoch_dataset(
    inputs: Sequence[np.ndarray],
    *,
    targets: np.ndarray,
    sample_weight: np.ndarray,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
    shuffle: bool = True,
    transformations: Sequence[Mapping[str, Any]] = (),
) -> tf.data.Dataset:
    """Training batches of epochs ``first_epoch .. epochs - 1``, one pass over the fields each.

    The order of epoch ``e`` is a stateless shuffle seeded by ``(seed, e)`` (the fields' order
    without ``shuffle``) and batch ``b`` of epoch ``e`` is augmented with the seed ``(seed, e, b)``
    (:func:`~vl3d_focal.training.augmentation.augment_coordinates` on the first input): nothing
    depends on what ran before, so a run resumed at epoch ``e`` sees the batches an
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
    base = tf.constant(int(seed), tf.int64)

    # Traced as written (their branches test Python values): autograph would convert them to
    # source files in the temporary folder, which a killed training leaves behind.
    @tf.autograph.experimental.do_not_convert
    def batches(epoch: tf.Tensor) -> tf.data.Dataset:
        pair = tf.stack([base, epoch])
        order = tf.range(count, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=pair)
        numbered = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
        return numbered.map(lambda number, rows: (tf.random.experimental.stateless_fold_in(pair, number), rows))

    @tf.autograph.experimental.do_not_convert
    def gather(key: tf.Tensor, rows: tf.Tensor) -> Any:
        batch = [tf.gather(a, rows) for a in arrays]
        if transformations:
            batch[0] = augment_coordinates(batch[0], transformations=transformations, seed=key)
        return tuple(batch), tf.gather(labels, rows), tf.gather(weights, rows)

    dataset = tf.data.Dataset.range(int(first_epoch), int(epochs)).flat_map(batches).map(gather)
    return dataset.with_options(_options()).prefetch(tf.data.AUTOTUNE)


def _options() -> tf.data.Options:
    """Batches sharded by data under a distribution strategy, and no autotuning model thread: the
    fields are in memory, nothing to tune, and releasing a dataset's iterator waited for that
    thread's sleep to end (0-7 s idle in a scratch fit with validation data, up to 18 s after a
    demo's training; never without it)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.autotune.enabled = False
    return options


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
    dataset = tf.data.Dataset.from_tensor_slices((tuple(inputs), targets, sample_weight)).with_options(_options())
    if shuffle:
        dataset = dataset.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_verbosity(given: int | str | None = None) -> int | str:
    """Keras' verbosity of the fit: ``model_handling.fit_verbose`` when given (VL3D's values 0, 1,
    2 or 'auto' are Keras'), else a progress bar on a terminal and one line per epoch otherwise.

    Example:
        >>> fit_verbosity() in (1, 2), fit_verbosity(0)
        (True, 0)
    """
    if given is not None:
        return given
    return 1 if sys.stdout.isatty() else 2
