"""Numerics of the per-point focal terms: closed-form gradients against float64 finite
differences, huge logit margins (vs Keras' capped loss), probabilities of exactly 0 and 1."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
from vl3d_focal.losses.focal_terms import dense_logit_terms, focal_and_slope, sparse_logit_terms


def reference_loss(logits, target, alpha, gamma, sw):
    """float64 class-weighted mean from logits with dense (possibly smoothed) targets."""
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    term = (alpha * target * (1 - np.exp(logp)) ** gamma * -logp).sum(-1)
    return (sw * term).sum()


def finite_difference(fn, x, h=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (fn(up) - fn(down)) / (2 * h)
    return grad


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 4.5])
@pytest.mark.parametrize("mode", ["sparse", "dense_soft", "sparse_smoothed"])
def test_gradient_matches_float64_finite_differences(gamma, mode):
    rng = np.random.default_rng(int(gamma * 10) + len(mode))
    c = 4
    logits = rng.normal(scale=2.0, size=(2, 3, c))
    labels = rng.integers(0, c, size=(2, 3))
    alpha = rng.uniform(0.2, 3.0, size=c)
    sw = rng.uniform(0.5, 1.5, size=(2, 3))
    smoothing = 0.15 if mode == "sparse_smoothed" else 0.0
    if mode == "dense_soft":
        y = rng.dirichlet(np.ones(c), size=(2, 3))
        target = y
    else:
        y = labels
        target = np.eye(c)[labels] * (1 - smoothing) + smoothing / c
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=list(alpha), gamma=gamma, from_logits=True, label_smoothing=smoothing,
        reduction="sum")
    z = tf.Variable(logits.astype(np.float32))
    with tf.GradientTape() as tape:
        value = loss(y.astype(np.float32) if mode == "dense_soft" else y, z, sample_weight=sw)
    got = tape.gradient(value, z).numpy()
    want = finite_difference(lambda x: reference_loss(x, target, alpha, gamma, sw),
                             logits.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(value.numpy(), reference_loss(logits.astype(np.float32), target,
                                                             alpha, gamma, sw), rtol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_probability_input_gradient_matches_finite_differences():
    rng = np.random.default_rng(11)
    probs = rng.dirichlet(np.ones(3), size=(4,))
    labels = rng.integers(0, 3, size=4)
    alpha = np.array([1.0, 2.0, 0.5])
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha), reduction="sum")

    def ref(p):
        q = p / p.sum(-1, keepdims=True)
        pick = q[np.arange(4), labels]
        return (alpha[labels] * (1 - pick) ** 2 * -np.log(pick)).sum()

    p = tf.Variable(probs.astype(np.float32))
    with tf.GradientTape() as tape:
        value = loss(labels, p)
    np.testing.assert_allclose(tape.gradient(value, p).numpy(),
                               finite_difference(ref, probs.astype(np.float32).astype(np.float64)),
                               rtol=1e-3, atol=1e-4)


def test_margin_100_keeps_loss_and_gradient_while_keras_is_capped_and_dead():
    logits = np.array([[0.0, 100.0, 0.0]], np.float32)  # true class 0, wrong by a margin of 100
    onehot = np.array([[1.0, 0.0, 0.0]], np.float32)
    z = tf.Variable(logits)
    ours = ClassWeightedFocalCategoricalCrossentropy(gamma=2.0, from_logits=True)
    with tf.GradientTape() as tape:
        value = ours([0], z)
    grad = tape.gradient(value, z).numpy()
    np.testing.assert_allclose(value.numpy(), 100.0, rtol=1e-5)  # -ln p = 100 + ln(1 + 2e-44)
    np.testing.assert_allclose(grad, [[-1.0, 1.0, 0.0]], atol=1e-5)  # -(onehot - softmax)

    theirs = keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=2.0, from_logits=True)
    with tf.GradientTape() as tape:
        capped = theirs(onehot, z)
    dead = tape.gradient(capped, z).numpy()
    np.testing.assert_allclose(capped.numpy(), -np.log(keras.config.epsilon()), rtol=1e-3)
    assert np.all(dead == 0.0)


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.0])
def test_certain_points_are_finite_for_every_gamma(gamma):
    # p == 1 exactly (margin 200) and p == 0 exactly (margin -200), from logits
    logits = tf.Variable(np.array([[200.0, 0.0], [0.0, 200.0]], np.float32))
    loss = ClassWeightedFocalCategoricalCrossentropy(gamma=gamma, from_logits=True, reduction="sum")
    with tf.GradientTape() as tape:
        value = loss([0, 0], logits)
    grad = tape.gradient(value, logits).numpy()
    assert np.isfinite(value.numpy()) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value.numpy(), 200.0, rtol=1e-5)
    np.testing.assert_allclose(grad[0], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(grad[1], [-1.0, 1.0], atol=1e-5)


def test_probabilities_of_exactly_zero_and_one_are_finite():
    probs = tf.Variable(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32))
    for labels in ([0, 0], np.array([[1, 0, 0], [1, 0, 0]], np.float32)):
        loss = ClassWeightedFocalCategoricalCrossentropy(gamma=0.5, label_smoothing=0.1)
        with tf.GradientTape() as tape:
            value = loss(labels, probs)
        grad = tape.gradient(value, probs).numpy()
        assert np.isfinite(value.numpy()) and np.all(np.isfinite(grad))
        assert value.numpy() > 0


def test_slope_is_derivative_of_focal_term():
    log_p = np.linspace(-30.0, -1e-6, 50)
    for gamma in (0.0, 0.25, 1.0, 2.0, 3.5):
        f, slope = focal_and_slope(tf.constant(log_p, tf.float64), gamma=gamma)

        def ref(u):
            return (1 - np.exp(u)) ** gamma * -u
        h = np.abs(log_p) * 1e-5
        numeric = (ref(log_p + h) - ref(log_p - h)) / (2 * h)
        np.testing.assert_allclose(f.numpy(), ref(log_p), rtol=1e-10)
        np.testing.assert_allclose(slope.numpy(), numeric, rtol=1e-5, atol=1e-6)
    _, slope = focal_and_slope(tf.constant([0.0]), gamma=0.5)
    assert slope.numpy()[0] == pytest.approx(-0.0)  # limit at p = 1, no NaN


def test_sparse_and_dense_logit_terms_agree_on_hard_labels():
    rng = np.random.default_rng(12)
    z = tf.constant(rng.normal(size=(6, 5)).astype(np.float32))
    labels = rng.integers(0, 5, size=6)
    alpha = rng.uniform(0.5, 2.0, size=5).astype(np.float32)
    sparse = sparse_logit_terms(z, labels=tf.constant(labels), label_weight=alpha[labels], gamma=2.0)
    dense = dense_logit_terms(z, weights=np.eye(5, dtype=np.float32)[labels] * alpha, gamma=2.0)
    np.testing.assert_allclose(sparse, dense, rtol=1e-6)
