"""The loss alone under a real ``MultiWorkerMirroredStrategy``: two worker processes on 127.0.0.1.

Each worker (this file run as a script with a ``TF_CONFIG``) holds its own part of a global batch
of 5 clouds, split 3 / 2 with different class mixtures, and runs a plain Keras custom loop:
``strategy.run`` of the loss and its gradients in ``tf.function``, ``strategy.reduce(SUM)``, one
SGD step applied by the optimizer. A third process computes the same step on one device. The
tests compare the losses, gradients and updated weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TIMEOUT_S = 150
LABELS = np.array([[2] * 6, [2, 2, 2, 1, 2, 2], [2] * 6, [0] * 6, [0, 0, 1, 0, 0, -1]], np.int32)
SPLIT = (3, 2)


def _step(task: int | None) -> dict:
    """One training step: on one device (``task`` None) or as worker ``task`` of two."""
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if task is not None else tf.distribute.get_strategy()
    import keras

    from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy

    x = np.random.default_rng(5).normal(size=LABELS.shape + (3,)).astype(np.float32)
    weights = np.random.default_rng(6).uniform(0.5, 1.5, size=LABELS.shape).astype(np.float32)
    rows = slice(None) if task is None else slice(sum(SPLIT[:task]), sum(SPLIT[: task + 1]))
    with strategy.scope():
        keras.utils.set_random_seed(2)
        inputs = keras.Input(x.shape[1:])
        model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
        optimizer = keras.optimizers.SGD(learning_rate=0.5)
        optimizer.build(model.trainable_variables)
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=[0.1, 1.0, 10.0], gamma=2.0, from_logits=True, ignore_class=-1
    )
    local = (tf.constant(x[rows]), tf.constant(LABELS[rows]), tf.constant(weights[rows]))

    def replica_step():
        xs, ys, ws = local
        with tf.GradientTape() as tape:
            value = loss(ys, model(xs), sample_weight=ws)
        grads = tape.gradient(value, model.trainable_variables)
        return value, grads

    @tf.function
    def train():
        values, grads = strategy.run(replica_step)
        total = strategy.reduce("SUM", values, axis=None)
        summed = [strategy.reduce("SUM", g, axis=None) for g in grads]
        return total, summed

    total, summed = train()
    for variable, grad in zip(model.trainable_variables, summed):
        variable.assign_sub(0.5 * grad)
    return {
        "loss": float(total),
        "grads": [g.numpy().ravel().tolist() for g in summed],
        "weights": [w.ravel().tolist() for w in model.get_weights()],
        "replicas": int(strategy.num_replicas_in_sync),
    }


@pytest.fixture(scope="module")
def runs() -> dict:
    from test_distribution_multi_worker import _free_ports

    try:
        ports = _free_ports(2)
    except OSError as err:
        pytest.skip(f"cannot open local TCP ports on 127.0.0.1 for the gRPC workers ({err})")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = {}
    for name, task in (("worker0", 0), ("worker1", 1), ("single", None)):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1", "KERAS_BACKEND": "tensorflow"}
        env.pop("TF_CONFIG", None)
        if task is not None:
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": task}})
        processes[name] = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(task)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    outputs = {}
    try:
        for name, process in processes.items():
            outputs[name] = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        for process in processes.values():
            process.kill()
        pytest.fail(f"a process did not finish within {TIMEOUT_S} s (hung collective?)")
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed: {outputs[name][1][-3000:]}"
    return {name: json.loads(out.strip().splitlines()[-1]) for name, (out, _) in outputs.items()}


def test_two_workers_are_two_replicas(runs):
    assert runs["worker0"]["replicas"] == runs["worker1"]["replicas"] == 2
    assert runs["single"]["replicas"] == 1


@pytest.mark.parametrize("worker", ["worker0", "worker1"])
def test_loss_gradients_and_step_equal_one_device(runs, worker):
    single, multi = runs["single"], runs[worker]
    assert multi["loss"] == pytest.approx(single["loss"], rel=1e-5)
    for got, expected in zip(multi["grads"], single["grads"]):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    for got, expected in zip(multi["weights"], single["weights"]):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_the_step_moved_the_weights(runs):
    import keras

    keras.utils.set_random_seed(2)
    inputs = keras.Input((6, 3))
    initial = keras.Model(inputs, keras.layers.Dense(3)(inputs)).get_weights()
    moved = max(float(np.abs(np.ravel(w) - np.asarray(s)).max()) for w, s in zip(initial, runs["single"]["weights"]))
    assert moved > 1e-2


if __name__ == "__main__":
    task_arg = sys.argv[1]
    print(json.dumps(_step(None if task_arg == "None" else int(task_arg))))
