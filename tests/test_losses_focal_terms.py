"""Numerics of the per-point focal terms: closed-form gradients against float64 finite
differences, huge logit margins (vs Keras' capped loss), probabilities of exactly 0 and 1, and
float one-hot labels (the sparse shortcut) against sparse labels and soft labels (the dense
formula) in eager, tf.function and XLA modes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_losses_any_backend import finite_difference

from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
from vl3d_focal.losses.focal_ops import focal_parts, gamma_case
from vl3d_focal.losses.focal_terms import categorical_logit_terms, dense_logit_terms, sparse_logit_terms


def reference_loss(logits, target, alpha, gamma, sw):
    """float64 class-weighted mean from logits with dense (possibly smoothed) targets."""
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    term = (alpha * target * (1 - np.exp(logp)) ** gamma * -logp).sum(-1)
    return (sw * term).sum()


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 4.5])
@pytest.mark.parametrize("mode", ["sparse", "dense_soft", "sparse_smoothed", "one_hot_smoothed"])
def test_gradient_matches_float64_finite_differences(gamma, mode):
    rng = np.random.default_rng(int(gamma * 10) + len(mode))
    c = 4
    logits = rng.normal(scale=2.0, size=(2, 3, c))
    labels = rng.integers(0, c, size=(2, 3))
    alpha = rng.uniform(0.2, 3.0, size=c)
    sw = rng.uniform(0.5, 1.5, size=(2, 3))
    smoothing = 0.15 if mode.endswith("smoothed") else 0.0
    if mode == "dense_soft":
        y = rng.dirichlet(np.ones(c), size=(2, 3))
        target = y
    else:
        y = labels
        target = np.eye(c)[labels] * (1 - smoothing) + smoothing / c
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=list(alpha), gamma=gamma, from_logits=True, label_smoothing=smoothing, reduction="sum"
    )
    z = tf.Variable(logits.astype(np.float32))
    with tf.GradientTape() as tape:
        labels_in = y.astype(np.float32) if mode == "dense_soft" else y
        if mode == "one_hot_smoothed":
            labels_in = np.eye(c, dtype=np.float32)[labels]
        value = loss(labels_in, z, sample_weight=sw)
    got = tape.gradient(value, z).numpy()
    want = finite_difference(
        lambda x: reference_loss(x, target, alpha, gamma, sw), logits.astype(np.float32).astype(np.float64)
    )
    np.testing.assert_allclose(
        value.numpy(), reference_loss(logits.astype(np.float32), target, alpha, gamma, sw), rtol=1e-5
    )
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
    np.testing.assert_allclose(
        tape.gradient(value, p).numpy(),
        finite_difference(ref, probs.astype(np.float32).astype(np.float64)),
        rtol=1e-3,
        atol=1e-4,
    )


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


def _focal_parts(log_p, *, gamma):
    """``focal_parts`` (the kernels' ``f`` and slope) at ``ln p`` = ``log_p``, with ``gamma``'s case."""
    log_p = tf.constant(log_p, tf.float64)
    return focal_parts(
        log_p=log_p, p=tf.exp(log_p), one_minus_p=-tf.math.expm1(log_p), gamma=gamma, case=gamma_case(gamma)
    )


def test_slope_is_derivative_of_focal_term():
    log_p = np.linspace(-30.0, -1e-6, 50)
    for gamma in (0.0, 0.25, 1.0, 2.0, 3.5):
        f, slope = _focal_parts(log_p, gamma=gamma)

        def ref(u, gamma=gamma):
            return (1 - np.exp(u)) ** gamma * -u

        h = np.abs(log_p) * 1e-5
        numeric = (ref(log_p + h) - ref(log_p - h)) / (2 * h)
        np.testing.assert_allclose(f.numpy(), ref(log_p), rtol=1e-10)
        np.testing.assert_allclose(slope.numpy(), numeric, rtol=1e-5, atol=1e-6)
    _, slope = _focal_parts([0.0], gamma=0.5)
    assert slope.numpy()[0] == pytest.approx(-0.0)  # limit at p = 1, no NaN


def test_sparse_and_dense_logit_terms_agree_on_hard_labels():
    rng = np.random.default_rng(12)
    z = tf.constant(rng.normal(size=(6, 5)).astype(np.float32))
    labels = rng.integers(0, 5, size=6)
    alpha = rng.uniform(0.5, 2.0, size=5).astype(np.float32)
    sparse = sparse_logit_terms(z, labels=tf.constant(labels), label_weight=alpha[labels], gamma=2.0)
    dense = dense_logit_terms(z, weights=np.eye(5, dtype=np.float32)[labels] * alpha, gamma=2.0)
    np.testing.assert_allclose(sparse, dense, rtol=1e-6)


# ---------------------------------------------------------------- one-hot / soft float labels
MODES = ("eager", "tf.function", "xla")


def tf_reference(y, logits, *, alpha, gamma, smoothing=0.0, ignore=None, sw=None):
    """Plain-TF float64 class-weighted mean of dense targets (its autodiff is the gradient reference)."""
    z = tf.cast(logits, tf.float64)
    y = tf.constant(y, tf.float64)
    c = y.shape[-1]
    alpha = tf.ones(c, tf.float64) if alpha is None else tf.constant(alpha, tf.float64)
    log_p = tf.nn.log_softmax(z)
    smoothed = y * (1.0 - smoothing) + smoothing / c
    term = tf.reduce_sum(alpha * smoothed * (1.0 - tf.exp(log_p)) ** gamma * -log_p, axis=-1)
    weight = tf.ones_like(term) if sw is None else tf.broadcast_to(tf.constant(sw, tf.float64), term.shape)
    if ignore is not None:
        weight *= tf.cast(tf.argmax(y, axis=-1) != ignore, tf.float64)
    return tf.reduce_sum(weight * term) / tf.reduce_sum(weight * tf.reduce_sum(alpha * y, axis=-1))


def reference_value_and_grad(y, logits, **kwargs):
    z = tf.constant(logits, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        value = tf_reference(y, z, **kwargs)
    return value.numpy(), tape.gradient(value, z).numpy()


def loss_value_and_grad(loss, y, logits, sw, mode):
    def step(labels, z, weights):
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = loss(labels, z, sample_weight=weights)
        return value, tape.gradient(value, z)

    if mode != "eager":
        step = tf.function(step, jit_compile=mode == "xla")
    value, grad = step(tf.constant(y), tf.constant(logits), None if sw is None else tf.constant(sw))
    return value.numpy(), grad.numpy()


def labelled_case(seed, *, c=4, b=2, n=9):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.5, size=(b, n, c)).astype(np.float32)
    labels = rng.integers(0, c, size=(b, n))
    return rng, logits, labels


CASES = {
    "class weights": dict(alpha=True, gamma=2.0, smoothing=0.0, ignore=None, sw=False),
    "smoothing+ignore+sample weights": dict(alpha=False, gamma=2.0, smoothing=0.1, ignore=1, sw=True),
    "all of them, gamma 0.5": dict(alpha=True, gamma=0.5, smoothing=0.2, ignore=2, sw=True),
    "cross-entropy": dict(alpha=True, gamma=0.0, smoothing=0.0, ignore=None, sw=True),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(CASES))
def test_one_hot_labels_equal_sparse_labels_and_the_reference(case, mode):
    spec = CASES[case]
    rng, logits, labels = labelled_case(20 + len(case))
    alpha = list(rng.uniform(0.2, 3.0, size=4)) if spec["alpha"] else None
    sw = rng.uniform(0.5, 1.5, size=labels.shape).astype(np.float32) if spec["sw"] else None
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=alpha,
        gamma=spec["gamma"],
        from_logits=True,
        label_smoothing=spec["smoothing"],
        ignore_class=spec["ignore"],
    )
    one_hot = np.eye(4, dtype=np.float32)[labels]
    value, grad = loss_value_and_grad(loss, one_hot, logits, sw, mode)
    sparse_value, sparse_grad = loss_value_and_grad(loss, labels.astype(np.int32), logits, sw, mode)
    want, want_grad = reference_value_and_grad(
        one_hot, logits, alpha=alpha, gamma=spec["gamma"], smoothing=spec["smoothing"], ignore=spec["ignore"], sw=sw
    )
    np.testing.assert_allclose(value, sparse_value, rtol=1e-6)
    np.testing.assert_allclose(grad, sparse_grad, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-6)
    assert np.abs(grad).max() > 1e-3  # a live gradient, not an all-zero one


@pytest.mark.parametrize("mode", MODES)
def test_soft_row_among_hard_rows_uses_the_dense_formula(mode):
    rng, logits, labels = labelled_case(31)
    alpha = list(rng.uniform(0.2, 3.0, size=4))
    y = np.eye(4, dtype=np.float32)[labels]
    y[1, 4] = [0.2, 0.5, 0.3, 0.0]  # argmax 1
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=alpha, gamma=2.0, from_logits=True)
    value, grad = loss_value_and_grad(loss, y, logits, None, mode)
    want, want_grad = reference_value_and_grad(y, logits, alpha=alpha, gamma=2.0)
    np.testing.assert_allclose(value, want, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-4, atol=1e-6)
    shortcut = reference_loss(logits, np.eye(4)[y.argmax(-1)], np.asarray(alpha), 2.0, 1.0) / (
        np.asarray(alpha)[y.argmax(-1)].sum()
    )  # what treating the row as its argmax would give
    assert abs(shortcut - want) > 1e-3 * want


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "row",
    [[1.0, 1.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.01, 0.0], [0.0, 1.0, -0.5, 0.0]],
    ids=["two ones", "scaled", "small extra", "negative"],
)
def test_a_single_row_that_is_not_one_hot_disables_the_sparse_shortcut(row, mode):
    rng, logits, labels = labelled_case(47)
    logits[0, 7] = 0.0  # p = 1/4 for every class of the odd row: every class weight counts
    alpha = rng.uniform(0.2, 3.0, size=4)
    y = np.eye(4, dtype=np.float32)[labels]
    y[0, 7] = row
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=list(alpha), gamma=2.0, from_logits=True, reduction=None
    )
    values, grad = loss_value_and_grad(loss, y, logits, None, mode)  # grad of the sum of the terms
    z = tf.constant(logits, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        want = tf.reduce_sum(
            tf.constant(y, tf.float64) * alpha * (1.0 - tf.nn.softmax(z)) ** 2 * -tf.nn.log_softmax(z), axis=-1
        )  # the dense formula, every row
    np.testing.assert_allclose(values, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad, tape.gradient(want, z).numpy(), rtol=1e-4, atol=1e-6)
    shortcut = alpha[np.argmax(row)] * 0.75**2 * np.log(4.0)  # the row read as its argmax class
    assert abs(values[0, 7] - shortcut) > 1e-3 * shortcut


def test_rows_of_zeros_take_the_shortcut_with_zero_weight():
    rng, logits, labels = labelled_case(53)
    alpha = rng.uniform(0.2, 3.0, size=4).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[labels]
    y[0, :3] = 0.0  # e.g. tf.one_hot(-1, C): no class
    z = tf.constant(logits.reshape(-1, 4))
    flat = y.reshape(-1, 4)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        out = categorical_logit_terms(z, targets=flat, class_weight=alpha, gamma=2.0)
        dense = dense_logit_terms(z, weights=flat * alpha, gamma=2.0)
        upstream = tf.range(1.0, z.shape[0] + 1.0)
        mine, theirs = tf.reduce_sum(out.terms * upstream), tf.reduce_sum(dense * upstream)
    np.testing.assert_array_equal(out.labels, flat.argmax(-1))
    np.testing.assert_allclose(out.alpha_star, (flat * alpha).sum(-1), rtol=1e-6)
    np.testing.assert_array_equal(out.terms.numpy()[:3], 0.0)
    np.testing.assert_allclose(out.terms, dense, rtol=1e-5, atol=1e-7)
    grad = tape.gradient(mine, z).numpy()
    np.testing.assert_array_equal(grad[:3], 0.0)
    np.testing.assert_allclose(grad, tape.gradient(theirs, z), rtol=1e-5, atol=1e-6)
    sparse = sparse_logit_terms(z, labels=flat.argmax(-1), label_weight=(flat * alpha).sum(-1), gamma=2.0)
    np.testing.assert_array_equal(out.terms, sparse)  # the very same kernel maths


def test_categorical_terms_on_soft_targets_scale_and_report_argmax():
    rng = np.random.default_rng(59)
    z = tf.constant(rng.normal(size=(7, 5)).astype(np.float32))
    y = rng.dirichlet(np.ones(5), size=7).astype(np.float32)
    alpha = rng.uniform(0.5, 2.0, size=5).astype(np.float32)
    out = categorical_logit_terms(z, targets=y, class_weight=alpha, gamma=1.5, label_scale=0.8)
    np.testing.assert_allclose(out.terms, 0.8 * dense_logit_terms(z, weights=y * alpha, gamma=1.5), rtol=1e-6)
    np.testing.assert_allclose(out.alpha_star, (y * alpha).sum(-1), rtol=1e-6)
    np.testing.assert_array_equal(out.labels, y.argmax(-1))
    unweighted = categorical_logit_terms(z, targets=y, class_weight=None, gamma=1.5)
    np.testing.assert_allclose(unweighted.alpha_star, y.sum(-1), rtol=1e-6)
    broken = y.copy()
    broken[3, 2] = np.nan  # not 0 or 1: the dense formula runs and the NaN shows
    terms = categorical_logit_terms(z, targets=broken, class_weight=alpha, gamma=1.5).terms.numpy()
    assert np.isnan(terms[3]) and np.isfinite(np.delete(terms, 3)).all()
