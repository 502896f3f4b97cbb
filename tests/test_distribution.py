"""The class-weighted mean stays global under tf.distribute (CPU split into 2 logical devices).

TensorFlow's devices are fixed once it initialises, so the measurements run in a subprocess
(this file run as a script) that splits the CPU into two logical devices first, then prints
JSON; the tests compare its numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vl3d_focal.errors import DataError
from vl3d_focal.training.distribution_settings import DistributionSettings, step_distribution

CLASS_WEIGHT = [1.0, 6.0, 0.5]


def _measure() -> dict:
    """Runs in the subprocess: single-device vs mirrored loss, gradients and one fit step."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    from vl3d_focal.training.datasets import make_dataset
    from vl3d_focal.training.distribution import build_strategy, training_model

    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 8, 3)).astype("float32")
    # replica 0 gets fields 0-1 (mostly class 0, weight 1), replica 1 fields 2-3 (class 1, weight 6)
    y = np.array([[0] * 8, [0, 0, 0, 0, 0, 0, 2, 1], [1] * 8, [1, 1, 1, 2, 2, 1, 1, 0]], dtype="int32")
    w = np.ones((4, 8), "float32")
    w[1, 3] = 0.0  # an ignored point

    def build():
        keras.utils.set_random_seed(3)
        inputs = keras.Input((8, 3))
        hidden = keras.layers.Dense(6, activation="tanh")(inputs)
        net = keras.Model(inputs, keras.layers.Dense(3)(hidden))
        model = training_model(net)
        loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=CLASS_WEIGHT, gamma=2.0, from_logits=True)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=loss)
        return net, model, loss

    out = {}
    net1, model1, loss1 = build()
    with tf.GradientTape() as tape:
        value = model1.compute_loss(x=x, y=y, y_pred=model1(x), sample_weight=w)
    out["single_loss"] = float(value)
    out["single_grads"] = [g.numpy().ravel().tolist() for g in tape.gradient(value, model1.trainable_variables)]
    out["reference_loss"] = float(loss1(y, net1(x), sample_weight=w))
    out["replica_ratios"] = [
        float(loss1(y[i : i + 2], net1(x[i : i + 2]), sample_weight=w[i : i + 2])) * 1.0 for i in (0, 2)
    ]

    strategy = build_strategy(
        DistributionSettings.from_config({"strategy": "mirrored", "devices": ["/cpu:0", "/cpu:1"]})
    )
    out["replicas"] = strategy.num_replicas_in_sync
    with strategy.scope():
        net2, model2, _ = build()

    def replica_step():
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        rows = tf.range(2) + 2 * rid
        xs, ys, ws = tf.gather(x, rows), tf.gather(y, rows), tf.gather(w, rows)
        with tf.GradientTape() as tape:
            value = model2.compute_loss(x=xs, y=ys, y_pred=model2(xs), sample_weight=ws)
        return value, tape.gradient(value, model2.trainable_variables)

    values, grads = strategy.run(tf.function(replica_step))
    out["mirrored_loss"] = float(strategy.reduce("SUM", values, axis=None))
    out["mirrored_grads"] = [strategy.reduce("SUM", g, axis=None).numpy().ravel().tolist() for g in grads]

    # one real fit step on the global batch: the same weights as on one device
    for model in (model1, model2):
        model.fit(
            make_dataset([x], targets=y, sample_weight=w, batch_size=4, shuffle=False, seed=None), epochs=1, verbose=0
        )
    out["weights_after_fit"] = [float(np.abs(a - b).max()) for a, b in zip(net1.get_weights(), net2.get_weights())]
    out["fit_loss_single"] = float(model1.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0))
    out["fit_loss_mirrored"] = float(model2.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0))
    out.update(_measure_pointnet(strategy))
    return out


def _measure_pointnet(strategy) -> dict:
    """PointNet with a feature T-Net far from orthogonal (its penalty counts), 5 fields split 3 / 2."""
    import keras
    import tensorflow as tf

    from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier
    from vl3d_focal.training.distribution import training_model

    rng = np.random.default_rng(11)
    coords = rng.normal(size=(5, 16, 3)).astype("float32")
    feats = rng.normal(size=(5, 16, 2)).astype("float32")
    labels = rng.integers(0, 3, size=(5, 16)).astype("int32")
    labels[:3] = np.where(labels[:3] == 1, 0, labels[:3])  # replica 0: no class 1 (weight 6)
    weights = np.ones((5, 16), "float32")
    tnet_kernel = None

    def build(synchronized):
        nonlocal tnet_kernel
        net = build_pointnet_pwise_classifier(
            num_points=16,
            num_features=2,
            num_classes=3,
            num_pwise_feats=8,
            pretransf_feats_spec=[{"filters": 8}],
            postransf_feats_spec=[{"filters": 8}],
            tnet_pre_filters_spec=[8],
            tnet_post_filters_spec=[8],
            random_seed=5,
            synchronized_batch_norm=synchronized,
        )
        matrix = net.get_layer("feature_tnet_matrix")
        if tnet_kernel is None:
            tnet_kernel = rng.normal(scale=0.5, size=matrix.kernel.shape).astype("float32")
        matrix.kernel.assign(tnet_kernel)
        model = training_model(net)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1),
            loss=ClassWeightedFocalCategoricalCrossentropy(class_weight=CLASS_WEIGHT, gamma=2.0, from_logits=True),
        )
        return model

    out = {}
    single = build(False)
    with tf.GradientTape() as tape:
        predicted = single([coords, feats], training=True)
        penalty = float(tf.add_n(single.losses))
        value = single.compute_loss(x=[coords, feats], y=labels, y_pred=predicted, sample_weight=weights)
    out["pn_single_loss"], out["pn_single_penalty"] = float(value), penalty
    out["pn_single_grads"] = [g.numpy().ravel().tolist() for g in tape.gradient(value, single.trainable_variables)]
    out["pn_single_names"] = [v.path for v in single.trainable_variables]

    with strategy.scope():
        mirrored = build(True)

    def replica_step():
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        start, stop = tf.constant([0, 3])[rid], tf.constant([3, 5])[rid]
        xs = [tf.constant(coords)[start:stop], tf.constant(feats)[start:stop]]
        with tf.GradientTape() as tape:
            predicted = mirrored(xs, training=True)
            value = mirrored.compute_loss(
                x=xs,
                y=tf.constant(labels)[start:stop],
                y_pred=predicted,
                sample_weight=tf.constant(weights)[start:stop],
            )
        return value, tape.gradient(value, mirrored.trainable_variables), stop - start

    values, grads, rows = strategy.run(tf.function(replica_step))
    out["pn_rows"] = [int(r) for r in strategy.experimental_local_results(rows)]
    out["pn_mirrored_loss"] = float(strategy.reduce("SUM", values, axis=None))
    out["pn_mirrored_grads"] = [strategy.reduce("SUM", g, axis=None).numpy().ravel().tolist() for g in grads]
    return out


@pytest.fixture(scope="module")
def measured():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_logical_devices_give_two_replicas(measured):
    assert measured["replicas"] == 2


def test_model_loss_is_the_loss_objects_class_weighted_mean(measured):
    assert measured["single_loss"] == pytest.approx(measured["reference_loss"], rel=1e-6)


def test_mirrored_loss_equals_the_single_device_loss_of_the_global_batch(measured):
    assert measured["mirrored_loss"] == pytest.approx(measured["single_loss"], rel=1e-5)


def test_a_per_replica_average_would_differ(measured):
    average = float(np.mean(measured["replica_ratios"]))
    # far beyond float32 tolerance: averaging per-replica ratios is a different loss
    assert abs(average - measured["single_loss"]) > 1e-2 * measured["single_loss"]


def test_mirrored_gradients_equal_the_single_device_gradients(measured):
    for single, mirrored in zip(measured["single_grads"], measured["mirrored_grads"]):
        np.testing.assert_allclose(mirrored, single, rtol=1e-4, atol=1e-6)


def test_a_mirrored_fit_step_updates_the_weights_like_one_device(measured):
    assert max(measured["weights_after_fit"]) < 1e-5
    assert measured["fit_loss_mirrored"] == pytest.approx(measured["fit_loss_single"], rel=1e-5)


def test_pointnet_with_its_tnet_penalty_is_global_under_an_uneven_split(measured):
    """Loss and gradients, orthogonality penalty and synchronised batch normalisation included."""
    assert measured["pn_rows"] == [3, 2]
    # the penalty is large enough that weighting it wrongly would show far beyond the tolerance
    assert measured["pn_single_penalty"] > 1e-2 * measured["pn_single_loss"]
    assert measured["pn_mirrored_loss"] == pytest.approx(measured["pn_single_loss"], rel=1e-5)
    tnet_gradients = 0
    for name, single, mirrored in zip(
        measured["pn_single_names"], measured["pn_single_grads"], measured["pn_mirrored_grads"]
    ):
        # float32 sums taken in another order (per replica, then over the replicas), carried back
        # through several batch normalisations: observed differences reach 1e-5 of the largest
        # gradient of an array (a few 1e-6 where the gradient is itself round-off);
        # wrongly weighted penalties or per-replica statistics give 1e-2
        scale = float(np.abs(single).max())
        assert float(np.abs(np.subtract(mirrored, single)).max()) <= 1e-4 * scale + 1e-5, name
        tnet_gradients += "feature_tnet" in name and np.abs(single).max() > 1e-3
    assert tnet_gradients >= 2


def test_settings_are_read_from_the_train_step_and_checked():
    step = {"distribution": {"strategy": "mirrored", "devices": ["/gpu:0", "/gpu:1"]}, "model_args": {}}
    assert step_distribution(step) == DistributionSettings(strategy="mirrored", devices=("/gpu:0", "/gpu:1"))
    assert step_distribution({"model_args": {}}).strategy == "one_device"
    with pytest.raises(DataError, match=r"distribution.strategy: expected one of .*got 'horovod'"):
        DistributionSettings.from_config({"strategy": "horovod"})
    with pytest.raises(DataError, match=r"one device with 'one_device'"):
        DistributionSettings.from_config({"strategy": "one_device", "devices": ["/cpu:0", "/cpu:1"]})


if __name__ == "__main__":
    print(json.dumps(_measure()))
