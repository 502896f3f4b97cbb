"""The loss's reduction over every replica of a ``tf.distribute`` strategy, inside the loss.

A ratio such as the class-weighted mean ``sum(s a* term) / sum(s a*)`` taken on each replica and
then averaged is the *average of per-replica ratios*: wrong whenever the replicas hold different
class mixtures or uneven shares of the batch. :func:`global_ratio` all-reduces (SUM) this
replica's numerator and denominator and returns a value that is

- equal to ``L / R`` on every replica (``L = sum_r numerator_r / sum_r denominator_r``, ``R`` the
  replicas in sync), so ``strategy.reduce(SUM, ...)`` of a custom loop gives ``L``, and Keras'
  ``fit`` (which records ``R * value`` per replica, weighted by the replica's batch size) reports
  ``L``;
- differentiated as ``numerator_r / sum_r denominator_r``, so the replicas' gradients summed (by
  Keras' optimizer, or ``strategy.reduce(SUM, ...)``) are the gradients of ``L``.

That is the single-device loss and gradient of the same global batch, whatever the split.

Where it applies: a replica context of a strategy with more than one replica (``MirroredStrategy``,
``MultiWorkerMirroredStrategy``), eagerly or in ``tf.function``. TensorFlow cannot all-reduce
inside a replica function compiled with ``jit_compile=True`` on CPUs (its collectives need
``merge_call`` there; on GPUs they compile): :class:`LossDistributionError` then says so.
Keras' ``fit`` turns XLA off under ``tf.distribute`` by default. Elsewhere (one replica, a
cross-replica context, the JAX and PyTorch backends) the ratio is computed as it is: JAX's
``keras.distribution`` data parallelism computes the loss on the global, sharded batch, so its
sums are already global.

Example:
    >>> from keras import ops
    >>> float(global_ratio(ops.convert_to_tensor(3.0), ops.convert_to_tensor(4.0)))
    0.75
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from vl3d_focal.losses.exceptions import LossDistributionError

Tensor = Any  # a backend tensor


def _replica_context() -> Any:
    """The TensorFlow replica context of a multi-replica step, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return None
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def _compiled_on_cpus() -> bool:
    """Whether this replica function is being compiled with XLA (``jit_compile=True``) for
    replicas that are not all GPUs or TPUs, where TensorFlow's collectives cannot run: the
    all-reduce would fail only when the step runs, with an error about resource variables on
    another device."""
    import tensorflow as tf

    try:  # TensorFlow's own test of an XLA-compiled trace (no public equivalent)
        from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext
    except ImportError:  # another TensorFlow layout: the all-reduce reports it as it can
        return False
    if not GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return False
    devices = tf.distribute.get_strategy().extended.worker_devices
    return not all(any(kind in device.upper() for kind in ("GPU", "TPU")) for device in devices)


def global_ratio(numerator: Tensor, denominator: Tensor | None) -> Tensor:
    """``numerator / denominator`` summed over the replicas, as this replica's share.

    Args:
        numerator: this replica's scalar numerator (differentiable).
        denominator: this replica's scalar denominator (no gradient is taken through it), or
            None for a plain sum.

    Returns:
        The scalar loss: outside a multi-replica step ``numerator / denominator`` (0 when the
        denominator is 0); inside one, see the module docstring.

    Raises:
        LossDistributionError: when TensorFlow cannot all-reduce here (XLA on CPU replicas).

    Example:
        >>> float(global_ratio(ops.convert_to_tensor(3.0), None))
        3.0
    """
    context = _replica_context()
    if context is None:
        return numerator if denominator is None else ops.divide_no_nan(numerator, denominator)
    import tensorflow as tf

    local = tf.stack([tf.stop_gradient(numerator), tf.ones_like(numerator) if denominator is None else denominator])
    try:
        if _compiled_on_cpus():
            raise RuntimeError("an XLA-compiled replica function on devices that are not all GPUs or TPUs")
        totals = tf.stop_gradient(context.all_reduce(tf.distribute.ReduceOp.SUM, local))
    except RuntimeError as error:
        strategy = type(tf.distribute.get_strategy()).__name__
        raise LossDistributionError(
            "The loss must sum its denominator over the replicas, and TensorFlow cannot "
            f"all-reduce here ({strategy} with {context.num_replicas_in_sync} replicas, a replica "
            "function compiled with jit_compile=True on devices that are not all GPUs). Expected "
            "a replica step without jit_compile (Keras' fit leaves XLA off under tf.distribute "
            "unless jit_compile=True is passed to compile) or GPU replicas. "
            f"Received: {error}"
        ) from error
    replicas = float(context.num_replicas_in_sync)
    if denominator is None:
        share, value = numerator, totals[0] / replicas
    else:
        share = tf.math.divide_no_nan(numerator, totals[1])
        value = tf.math.divide_no_nan(totals[0], totals[1]) / replicas
    return share + tf.stop_gradient(value - share)
