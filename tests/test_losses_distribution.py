"""The loss alone (plain Keras, no pipeline) is global under tf.distribute.

A subprocess (this file run as a script) splits the CPU into two logical devices, then runs
the same global batch on one device and on a ``MirroredStrategy`` of two replicas: Keras'
``fit`` (one SGD step) and a custom loop (``strategy.run`` of the loss and its gradients,
``strategy.reduce(SUM)``), eagerly and in ``tf.function``. It prints JSON; the tests compare the
numbers, and the single-device loss with a NumPy float64 reference of seed 000's formula.
``MultiWorkerMirroredStrategy`` runs for real in ``test_losses_distribution_multi_worker.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

CASES = {
    # the issue's case: clouds 0-1 hold only class 2, clouds 2-3 only class 0
    "issue": {
        "class_weight": [0.1, 1.0, 10.0],
        "labels": [[2] * 8, [2] * 8, [0] * 8, [0] * 8],
        "split": [2, 2],
        "ignore_class": None,
        "sample_weight": False,
    },
    # custom loop: 4 / 3 clouds; fit: batches of 4 (2 / 2), then 3 (2 / 1). Keras' fit cannot take
    # an uneven *first* batch under MirroredStrategy, whatever the loss (it averages that batch
    # over the replicas to build the model: keras-team/keras#20585)
    "uneven": {
        "class_weight": [1.0, 6.0, 0.5],
        "labels": [
            [0] * 8,
            [0, 0, 1, 0, 0, 0, 2, 1],
            [2] * 8,
            [0] * 8,
            [1] * 8,
            [1, 1, 1, 2, 2, 1, 1, 0],
            [2, 2, 2, 2, 0, 0, 0, 0],
        ],
        "split": [4, 3],
        "ignore_class": None,
        "sample_weight": True,
        "fit_batch": 4,
    },
    "ignored": {
        "class_weight": [1.0, 6.0, 0.5],
        "labels": [[0, 1, 2, -1, 0, 1, 1, 0], [2, 2, -1, -1, 0, 1, 2, 2], [-1] * 8, [-1] * 8],
        "split": [2, 2],
        "ignore_class": -1,
        "sample_weight": True,
    },
}


def _case_inputs(case: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    labels = np.asarray(case["labels"], np.int32)
    x = np.random.default_rng(len(labels)).normal(size=labels.shape + (3,)).astype(np.float32)
    weights = None
    if case["sample_weight"]:
        weights = np.random.default_rng(1).uniform(0.2, 2.0, size=labels.shape).astype(np.float32)
    return x, labels, weights


def _measure() -> dict:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    from vl3d_focal.losses.exceptions import LossDistributionError

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {"replicas": strategy.num_replicas_in_sync}
    probe = ClassWeightedFocalCategoricalCrossentropy(from_logits=True)
    try:  # XLA-compiled replica functions cannot all-reduce on CPU devices
        compiled = tf.function(lambda: probe(tf.constant([[0, 1]]), tf.zeros((1, 2, 3))), jit_compile=True)
        strategy.run(lambda: compiled())
        out["xla_replica_error"] = None
    except Exception as error:  # noqa: BLE001 - the type is what the test checks
        out["xla_replica_error"] = [type(error).__name__, isinstance(error, LossDistributionError), str(error)]
    batches = tf.data.Dataset.from_tensor_slices((np.zeros((4, 2, 3), "float32"), np.zeros((4, 2), "int64"))).batch(4)
    logits, labels = next(iter(strategy.experimental_distribute_dataset(batches)))
    try:  # the same with per-replica data passed in, as a user's step does
        strategy.run(tf.function(lambda z, y: probe(y, z), jit_compile=True), args=(logits, labels))
        out["xla_replica_error_with_data"] = None
    except Exception as error:  # noqa: BLE001 - the type is what the test checks
        out["xla_replica_error_with_data"] = [
            type(error).__name__,
            isinstance(error, LossDistributionError),
            str(error),
        ]
    for name, case in CASES.items():
        x, y, w = _case_inputs(case)

        def build(case=case, x=x):
            keras.utils.set_random_seed(3)
            inputs = keras.Input(x.shape[1:])
            model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
            loss = ClassWeightedFocalCategoricalCrossentropy(
                class_weight=case["class_weight"], gamma=2.0, from_logits=True, ignore_class=case["ignore_class"]
            )
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=loss)
            return model, loss

        single, loss = build()
        with tf.GradientTape() as tape:
            value = loss(y, single(x), sample_weight=w)
        record = {
            "logits": single(x).numpy().tolist(),
            "single_loss": float(value),
            "single_grads": [g.numpy().ravel().tolist() for g in tape.gradient(value, single.trainable_variables)],
        }
        with strategy.scope():
            mirrored, mirrored_loss = build()
        bounds = np.cumsum([0] + case["split"])

        def replica_step(model=mirrored, loss=mirrored_loss, bounds=bounds, x=x, y=y, w=w):
            rid = tf.distribute.get_replica_context().replica_id_in_sync_group
            start, stop = tf.constant(bounds[:-1])[rid], tf.constant(bounds[1:])[rid]
            xs, ys = tf.constant(x)[start:stop], tf.constant(y)[start:stop]
            ws = None if w is None else tf.constant(w)[start:stop]
            with tf.GradientTape() as tape:
                value = loss(ys, model(xs), sample_weight=ws)
            return value, tape.gradient(value, model.trainable_variables)

        for mode, step in (("eager", replica_step), ("function", tf.function(replica_step))):
            values, grads = strategy.run(step)
            record[f"{mode}_loss"] = float(strategy.reduce("SUM", values, axis=None))
            record[f"{mode}_replica_values"] = [float(v) for v in strategy.experimental_local_results(values)]
            record[f"{mode}_grads"] = [strategy.reduce("SUM", g, axis=None).numpy().ravel().tolist() for g in grads]
        batch = case.get("fit_batch", len(x))
        histories = [
            model.fit(x, y, sample_weight=w, batch_size=batch, epochs=1, shuffle=False, verbose=0)
            for model in (single, mirrored)
        ]
        record["fit_loss"] = [h.history["loss"][0] for h in histories]
        record["fit_weight_gap"] = max(
            float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), mirrored.get_weights())
        )
        record["evaluate_loss"] = [
            float(m.evaluate(x, y, sample_weight=w, batch_size=batch, verbose=0)) for m in (single, mirrored)
        ]
        out[name] = record
    return out


def reference(logits: np.ndarray, labels: np.ndarray, alpha: list[float], gamma: float, weights, ignore) -> float:
    """Seed 000's class-weighted mean in float64 (sample weights and an ignore class added)."""
    z = np.asarray(logits, np.float64)
    log_p = z - z.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    valid = np.ones(labels.shape, bool) if ignore is None else labels != ignore
    safe = np.where(valid, labels, 0)
    log_z = np.take_along_axis(log_p, safe[..., None], -1)[..., 0]
    s = valid * (1.0 if weights is None else weights)
    a = np.asarray(alpha)[safe] * s
    return float((a * (1 - np.exp(log_z)) ** gamma * -log_z).sum() / a.sum())


@pytest.fixture(scope="module")
def measured() -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=400, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_replicas(measured):
    assert measured["replicas"] == 2


@pytest.mark.parametrize("name", list(CASES))
def test_single_device_loss_is_seed_000_in_float64(measured, name):
    case = CASES[name]
    _, labels, weights = _case_inputs(case)
    expected = reference(
        np.asarray(measured[name]["logits"]), labels, case["class_weight"], 2.0, weights, case["ignore_class"]
    )
    assert measured[name]["single_loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("name", list(CASES))
def test_custom_loop_sum_of_replicas_equals_one_device(measured, name, mode):
    record = measured[name]
    assert record[f"{mode}_loss"] == pytest.approx(record["single_loss"], rel=1e-5)
    # every replica reports L / R, so a per-replica mean or sum is never a ratio average
    assert record[f"{mode}_replica_values"] == pytest.approx([record["single_loss"] / 2] * 2, rel=1e-5)
    for single, mirrored in zip(record["single_grads"], record[f"{mode}_grads"]):
        np.testing.assert_allclose(mirrored, single, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_fit_step_equals_one_device(measured, name):
    record = measured[name]
    single, mirrored = record["fit_loss"]
    assert mirrored == pytest.approx(single, rel=1e-5)
    if "fit_batch" not in CASES[name]:  # one step on the whole batch
        assert single == pytest.approx(record["single_loss"], rel=1e-5)
    assert record["fit_weight_gap"] < 1e-5
    assert record["evaluate_loss"][1] == pytest.approx(record["evaluate_loss"][0], rel=1e-5)


def test_the_issue_case_is_far_from_an_average_of_replica_ratios(measured):
    record, case = measured["issue"], CASES["issue"]
    logits, labels = np.asarray(record["logits"]), np.asarray(case["labels"])
    ratios = [reference(logits[i : i + 2], labels[i : i + 2], case["class_weight"], 2.0, None, None) for i in (0, 2)]
    assert abs(np.mean(ratios) - record["single_loss"]) > 0.02 * record["single_loss"]


def test_a_replica_of_only_ignored_points_contributes_nothing_and_no_nan(measured):
    record = measured["ignored"]
    assert np.isfinite(record["function_loss"])
    assert record["function_loss"] == pytest.approx(record["single_loss"], rel=1e-5)


@pytest.mark.parametrize("key", ["xla_replica_error", "xla_replica_error_with_data"])
def test_an_xla_replica_function_on_cpus_gets_a_clear_error(measured, key):
    assert measured[key] is not None
    name, is_ours, message = measured[key]
    # raised while TensorFlow traces the replica function, which wraps it in a StagingError
    assert is_ours or name == "StagingError", name
    assert "LossDistributionError" in message or is_ours
    assert "jit_compile=True" in message and "MirroredStrategy" in message and "Expected" in message


if __name__ == "__main__":
    print(json.dumps(_measure()))
