"""The loss benchmark's peers compute the same loss (numbers, not timings)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

# benchmarks/ is a top-level folder of the repository, not part of the installed package. The
# root goes at the END of sys.path so that vl3d_focal still comes from the installed package.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks import loss_limits, loss_speed  # noqa: E402
from benchmarks.naive_vl3d_loss import naive_vl3d_focal_loss  # noqa: E402

SHAPE = (2, 16, 4)


def _numpy_reference(*, labels: np.ndarray, logits: np.ndarray, alpha: list[float], gamma: float) -> float:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    z_star = np.take_along_axis(p, labels[..., None], axis=-1)[..., 0].astype(np.float64)
    a_star = np.asarray(alpha, np.float64)[labels]
    return float(-(a_star * (1.0 - z_star) ** gamma * np.log(z_star)).sum() / a_star.sum())


def _run(peer: str, mode: str, inputs: dict[str, tf.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    step = loss_speed.make_step(loss=loss_speed.make_loss(peer=peer, num_classes=SHAPE[-1]), mode=mode)
    value, grad = step(inputs[peer.split("/")[1]], inputs["logits"])
    return value.numpy(), grad.numpy()


@pytest.fixture(scope="module")
def inputs() -> dict[str, tf.Tensor]:
    return loss_speed.make_inputs(shape=SHAPE, seed=3)


def test_naive_peer_matches_numpy_seed_formula(inputs):
    alpha = loss_speed.class_weights(num_classes=SHAPE[-1])
    expected = _numpy_reference(
        labels=inputs["sparse"].numpy(), logits=inputs["logits"].numpy(), alpha=alpha, gamma=loss_speed.GAMMA
    )
    value = naive_vl3d_focal_loss(
        y_true=inputs["one-hot"], logits=inputs["logits"], class_weight=alpha, gamma=loss_speed.GAMMA
    )
    assert float(value) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("mode", loss_speed.MODES)
@pytest.mark.parametrize("peer", ["ours/sparse", "ours/one-hot"])
def test_ours_matches_naive_value_and_gradient(inputs, peer, mode):
    value, grad = _run(peer, mode, inputs)
    naive_value, naive_grad = _run("naive/one-hot", "eager", inputs)
    assert value == pytest.approx(naive_value, rel=1e-5)
    np.testing.assert_allclose(grad, naive_grad, rtol=1e-4, atol=1e-7)


def test_keras_peer_differs_only_by_the_normaliser(inputs):
    # Keras divides by the number of points, ours by sum_i alpha*_i (VL3D's class-weighted mean).
    keras_value, keras_grad = _run("keras/one-hot", "tf.function", inputs)
    ours_value, ours_grad = _run("ours/sparse", "tf.function", inputs)
    alpha = np.asarray(loss_speed.class_weights(num_classes=SHAPE[-1]))
    alpha_sum = alpha[inputs["sparse"].numpy()].sum()
    points = SHAPE[0] * SHAPE[1]
    assert keras_value * points / alpha_sum == pytest.approx(ours_value, rel=1e-5)
    np.testing.assert_allclose(keras_grad * points / alpha_sum, ours_grad, rtol=1e-4, atol=1e-7)


def test_minimal_work_counts_bytes_and_transcendentals():
    # (16, 4096, 8): logits 2 MiB + gradient 2 MiB + labels 256 KiB (int32) or 2 MiB (one-hot)
    assert loss_limits.minimal_work(shape=(16, 4096, 8), sparse=True) == {
        "bytes": 2 * 2097152 + 262144,
        "transcendentals": 65536 * 9,
    }
    assert loss_limits.minimal_work(shape=(16, 4096, 8), sparse=False)["bytes"] == 3 * 2097152


def test_ratios_divide_peer_time_by_ours():
    rows = [
        {"shape": [1, 2, 3], "peer": p, "mode": m, "median_ms": t}
        for m in loss_speed.MODES
        for p, t in (
            ("ours/sparse", 1.0),
            ("ours/one-hot", 2.0),
            ("keras/one-hot", 4.0),
            ("naive/one-hot", 3.0),
            ("floor/sparse", 0.5),
            ("tf-ce/sparse", 0.8),
        )
    ]
    found = loss_speed.ratios(rows=rows)
    out = {(r["mode"], r["ours"]): (r["vs_keras"], r["vs_naive"]) for r in found}
    assert out[("xla", "ours/sparse")] == (4.0, 3.0)
    assert out[("eager", "ours/one-hot")] == (2.0, 1.5)
    floor = {(r["mode"], r["ours"]): (r["keras_ceiling"], r["vs_keras_above_floor"]) for r in found}
    assert floor[("xla", "ours/sparse")] == (8.0, 7.0)  # 4 / 0.5; (4 - 0.5) / (1 - 0.5)
    assert floor[("eager", "ours/one-hot")] == (8.0, pytest.approx(3.5 / 1.5))
    plain = {(r["mode"], r["ours"]): (r["tf_ce_vs_keras"], r["vs_tf_ce"]) for r in found}
    assert plain[("xla", "ours/one-hot")] == (5.0, 0.4)  # 4 / 0.8; 0.8 / 2


def test_the_floor_peer_is_the_mean_of_squared_logits():
    loss = loss_speed.make_loss(peer="floor/sparse", num_classes=3)
    logits = tf.constant([[1.0, -2.0, 0.0], [3.0, 0.0, 1.0]])
    assert float(loss(tf.constant([0, 1]), logits)) == pytest.approx(15.0 / 6.0)


def test_the_tf_ce_peer_is_the_mean_softmax_cross_entropy():
    loss = loss_speed.make_loss(peer="tf-ce/sparse", num_classes=3)
    logits = np.array([[1.0, -2.0, 0.0], [3.0, 0.0, 1.0]])
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(log_softmax[0, 0] + log_softmax[1, 1]) / 2
    assert float(loss(tf.constant([0, 1]), tf.constant(logits, tf.float32))) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "name", sorted(path.stem for path in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))
)
def test_every_benchmark_module_imports(name):
    """A benchmark whose imports broke (a name moved to another module) fails here, not when run."""
    if name == "loss_speed_jax":
        pytest.importorskip("jax", reason="loss_speed_jax runs on Keras' JAX backend; jax is not installed")
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.__doc__, f"benchmarks/{name}.py has no docstring saying what it measures"
