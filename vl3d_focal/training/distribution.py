"""Training on TensorFlow's own distribution engine, with a loss that stays global.

The train step's ``distribution`` object picks a :class:`tf.distribute.Strategy`
(``one_device``, ``mirrored``, ``multi_worker_mirrored``); the model, optimizer and loss are
created under its scope and Keras' ``fit`` hands the ``tf.data`` input to
``strategy.experimental_distribute_dataset``, which splits every global batch between the
replicas.

Keras reduces a loss on each replica, divides it by the number of replicas and sums the
gradients, so a ratio such as a mean over an unevenly split batch would become the *average of
per-replica ratios*. The class-weighted focal loss takes its global reduction itself
(:mod:`vl3d_focal.losses.replicas`: it declares ``reduces_across_replicas``).
:class:`GlobalLossModel` overrides ``compute_loss`` for what the loss cannot do itself: for the
other losses, each replica computes its numerator and denominator (Keras' unreduced values), the
denominators are all-reduced (SUM) across replicas, and the replica's share
``numerator_r / denominator_global`` is what it differentiates. Additional losses
(``model.losses``) are weighted by the replica's share of the global batch, and the train step
builds models with synchronised batch normalisation when there are several replicas, so the
whole training step is that of one device (``tests/test_distribution.py``,
``tests/test_distribution_multi_worker.py``).

:class:`GlobalLossModel` also works around two failures of Keras 3's ``fit`` across workers
(keras-team/keras#20585): the first batch, used to build the model, is averaged over the
replicas with ``strategy.reduce`` (which cannot take it), and each step's scalar logs are
reduced along an axis they lack.

Example:
    >>> settings = DistributionSettings.from_config({"strategy": "one_device"})
    >>> settings.strategy
    'one_device'
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf
from keras import tree

from vl3d_focal.errors import DataError
from vl3d_focal.training.distribution_settings import DistributionSettings

logger = logging.getLogger(__name__)

_MULTI_WORKER: dict[str, tf.distribute.Strategy] = {}
"""``MultiWorkerMirroredStrategy`` can be created once per process: it is kept here."""


def build_strategy(settings: DistributionSettings) -> tf.distribute.Strategy:
    """The :class:`tf.distribute.Strategy` of some settings.

    ``multi_worker_mirrored`` reads the cluster from the ``TF_CONFIG`` environment variable
    (one worker when it is unset) and is created once per process; call this before any
    other TensorFlow work (the pipeline does, before its first step).

    Example:
        >>> build_strategy(DistributionSettings()).num_replicas_in_sync
        1
    """
    if settings.strategy == "one_device":
        if settings.devices:
            return tf.distribute.OneDeviceStrategy(settings.devices[0])
        return tf.distribute.get_strategy()
    if settings.strategy == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices=list(settings.devices) if settings.devices else None)
    else:
        key = settings.communication
        if key not in _MULTI_WORKER:
            implementation = {
                "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
                "ring": tf.distribute.experimental.CommunicationImplementation.RING,
                "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
            }[key]
            options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
            _MULTI_WORKER[key] = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        strategy = _MULTI_WORKER[key]
    logger.info("distribution: %s with %d replicas", settings.strategy, strategy.num_replicas_in_sync)
    return strategy


def is_chief() -> bool:
    """Whether this process writes the outputs (always, except non-chief multi-worker workers).

    The chief is the ``chief`` task of the ``TF_CONFIG`` cluster, else worker 0. It is read
    from the ``multi_worker_mirrored`` strategy this process created (:func:`build_strategy`),
    not from the strategy in scope: callbacks and the steps after training run outside it.

    Example:
        >>> is_chief()
        True
    """
    for strategy in _MULTI_WORKER.values():
        if in_multi_worker_mode(strategy):
            resolver = strategy.cluster_resolver
            if resolver.task_type == "chief":
                return True
            has_chief = "chief" in resolver.cluster_spec().as_dict()
            return resolver.task_type == "worker" and int(resolver.task_id) == 0 and not has_chief
    return True


def global_sum(value: tf.Tensor) -> tf.Tensor:
    """``value`` summed over every replica (itself outside a multi-replica step).

    Example:
        >>> float(global_sum(tf.constant(2.0)))
        2.0
    """
    if tf.distribute.get_strategy().num_replicas_in_sync <= 1:
        return value
    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context: already global
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def loss_sums(loss: Any, y_true: Any, y_pred: Any, sample_weight: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """This replica's ``(numerator, denominator)`` of a Keras loss, to be summed over replicas.

    The loss's unreduced values weighted by the sample weights, over the number of values
    (``sum_over_batch_size``), the sum of the sample weights (``mean_with_sample_weight``) or
    1 (``sum``).

    Example:
        >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        >>> n, d = loss_sums(loss, tf.constant([[1, 0]]), tf.constant([[[0.0, 2.0], [1.0, 0.0]]]), None)
        >>> float(d)
        2.0
    """
    reduction = getattr(loss, "reduction", "sum_over_batch_size")
    if reduction in (None, "none"):
        raise DataError(f"loss reduction: expected a reducing one to train with, got {reduction!r}")
    values = tf.cast(loss.call(y_true, y_pred), tf.float32)
    weights = tf.ones_like(values)
    if sample_weight is not None:
        weights = tf.cast(tf.convert_to_tensor(sample_weight), tf.float32)
        while weights.shape.rank < values.shape.rank:
            weights = weights[..., None]
        weights = tf.broadcast_to(weights, tf.shape(values))
    total = tf.reduce_sum(values * weights)
    if reduction == "sum":
        return total, tf.ones_like(total)
    if reduction == "mean_with_sample_weight":
        return total, tf.reduce_sum(weights)
    return total, tf.cast(tf.size(values), tf.float32)


@keras.saving.register_keras_serializable(package="vl3d_focal")
class GlobalLossModel(keras.Model):
    """A functional model whose loss is reduced over the global batch, not per replica.

    Build it from another functional model's graph (the layers, hence the weights, are
    shared): ``GlobalLossModel(inputs=model.inputs, outputs=model.outputs)``. Save the
    original model: it is a plain functional model that loads without custom objects.

    ``compute_loss`` returns, on replica ``r`` of ``R``, a value equal to ``L / R`` whose
    gradient is that of ``numerator_r / D`` (``D`` the all-reduced denominator, ``L`` the
    global loss), so Keras' summed gradients and its reported loss are those of the
    single-device loss of the same global batch. Additional losses (``model.losses``) are
    weighted by the replica's share ``n_r / N`` of the global batch: exact for means over the
    batch (the PointNet orthogonality penalty) and for constants (weight regularisers).

    Example:
        >>> inputs = keras.Input((4, 3))
        >>> net = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        >>> GlobalLossModel(inputs=net.inputs, outputs=net.outputs).count_params()
        8
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):  # noqa: D102
        del training
        if self.loss is None:
            raise DataError("GlobalLossModel: expected a model compiled with a loss, got none")
        replicas = float(tf.distribute.get_strategy().num_replicas_in_sync)
        extras = self.losses  # read before any cross-replica sync
        if replicas > 1:
            extras = replica_losses(extras, like=tf.nest.flatten(y_pred)[0])
        if getattr(self.loss, "reduces_across_replicas", False):  # global by itself
            share = tf.cast(self.loss(y, y_pred, sample_weight), tf.float32)
        else:
            numerator, denominator = loss_sums(self.loss, y, y_pred, sample_weight)
            share = tf.math.divide_no_nan(numerator, tf.stop_gradient(global_sum(tf.cast(denominator, tf.float32))))
        if extras:
            batch = tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], tf.float32)
            fraction = tf.math.divide_no_nan(batch, tf.stop_gradient(global_sum(batch)))
            share = share + fraction * tf.add_n([tf.reduce_sum(tf.cast(extra, tf.float32)) for extra in extras])
        if replicas <= 1:
            return share
        total = tf.stop_gradient(global_sum(share))
        return share + tf.stop_gradient(total / replicas - share)

    def train_step(self, data):  # noqa: D102
        return _reducible_logs(self.distribute_strategy, super().train_step(data))

    def test_step(self, data):  # noqa: D102
        return _reducible_logs(self.distribute_strategy, super().test_step(data))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds the model from a first batch that it averages over the replicas with
        # ``strategy.reduce``, which fails across workers (keras-team/keras#20585): only the
        # shapes matter, so this replica's local part of the batch is used instead.
        strategy = self._distribute_strategy
        if strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(lambda value: _local_part(strategy, value), next(batches))
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)


def replica_losses(losses: Sequence[Any], *, like: Any) -> list[Any]:
    """The additional losses (``model.losses``) computed by this replica.

    Keras keeps ``add_loss`` values in lists on the layers, shared by the replica threads of a
    ``MirroredStrategy``: a replica can find another replica's values there. Each replica's
    ops are placed on its own device, so the values on the device of ``like`` (this
    replica's prediction) are this replica's.

    Example:
        >>> [float(v) for v in replica_losses([tf.constant(2.0)], like=tf.constant(1.0))]
        [2.0]
    """
    device = getattr(like, "device", None)
    return [loss for loss in losses if getattr(loss, "device", device) == device]


def in_multi_worker_mode(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` is a ``MultiWorkerMirroredStrategy`` over several workers.

    Example:
        >>> in_multi_worker_mode(tf.distribute.get_strategy())
        False
    """
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        strategy.extended._in_multi_worker_mode()
    )


def _reducible_logs(strategy: tf.distribute.Strategy, logs: Any) -> Any:
    """Step logs that Keras can reduce across workers.

    Keras reduces each step's logs with ``strategy.reduce("MEAN", value, axis=0)`` across
    workers, which fails on scalars: each value gets a leading axis of length 1 there.
    """
    if not in_multi_worker_mode(strategy):
        return logs
    return tree.map_structure(lambda value: tf.expand_dims(value, 0), logs)


def _local_part(strategy: tf.distribute.Strategy, value: Any) -> Any:
    """The first local replica's part of a distributed value (the value itself otherwise)."""
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def training_model(model: keras.Model) -> keras.Model:
    """A :class:`GlobalLossModel` sharing the layers of a functional ``model``.

    Example:
        >>> inputs = keras.Input((3,))
        >>> type(training_model(keras.Model(inputs, keras.layers.Dense(2)(inputs)))).__name__
        'GlobalLossModel'
    """
    return GlobalLossModel(inputs=model.inputs, outputs=model.outputs, name=f"{model.name}_training")
