"""ClassWeightedFocalCategoricalCrossentropy against a NumPy float64 reference of seed 000,
against Keras (seed 001's printed numbers), and its reductions, errors and serialization."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from vl3d_focal.errors import VL3DFocalError
from vl3d_focal.losses import (
    ClassWeightedFocalCategoricalCrossentropy,
    LossArgumentError,
    MultiCategoryFocalCrossentropy,
    vl3d_class_weighted_focal_categorical_crossentropy,
)

EPS = 1e-7


def reference(
    y, pred, *, alpha, gamma, from_logits, smoothing=0.0, ignore=None, sw=None, reduction="class_weighted_mean"
):
    """Seed 000's L-hat (and the other reductions) in float64; y sparse (B,N) or dense (B,N,C)."""
    pred = np.asarray(pred, np.float64)
    c = pred.shape[-1]
    if from_logits:
        shifted = pred - pred.max(-1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    else:
        p = np.clip(pred / pred.sum(-1, keepdims=True), EPS, 1 - EPS)
        logp = np.log(p)
    p = np.exp(logp)
    y = np.asarray(y)
    if y.ndim == pred.ndim - 1:
        valid = np.ones(y.shape, bool) if ignore is None else y != ignore
        onehot = np.eye(c)[np.where(valid, y, 0)]
    else:
        onehot = y.astype(np.float64)
        valid = np.ones(y.shape[:-1], bool) if ignore is None else (onehot.argmax(-1) != ignore) & (onehot.sum(-1) > 0)
    alpha = np.ones(c) if alpha is None else np.asarray(alpha, np.float64)
    smoothed = onehot * (1 - smoothing) + smoothing / c
    term = (alpha * smoothed * (1 - p) ** gamma * -logp).sum(-1)
    alpha_star = (alpha * onehot).sum(-1)
    s = (
        np.ones(valid.shape)
        if sw is None
        else np.broadcast_to(
            np.asarray(sw, np.float64).reshape(np.shape(sw) + (1,) * (valid.ndim - np.ndim(sw))), valid.shape
        )
    )
    w = s * valid
    if reduction is None:
        return w * term
    if reduction == "sum":
        return (w * term).sum()
    den = {"class_weighted_mean": (w * alpha_star).sum(), "sum_over_batch_size": valid.sum()}[reduction]
    return 0.0 if den == 0 else (w * term).sum() / den


def random_case(rng, c, *, b=3, n=17):
    logits = rng.normal(scale=3.0, size=(b, n, c)).astype(np.float32)
    labels = rng.integers(0, c, size=(b, n))
    alpha = rng.uniform(0.1, 5.0, size=c)
    return logits, labels, alpha


@pytest.mark.parametrize("c", [2, 3, 7, 20])
@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("sparse", [True, False])
def test_matches_numpy_reference_of_seed_000(c, from_logits, sparse):
    rng = np.random.default_rng(c * 10 + from_logits * 2 + sparse)
    logits, labels, alpha = random_case(rng, c)
    pred = logits if from_logits else tf.nn.softmax(logits).numpy()
    ignore = int(labels[0, 0])
    labels[1, :4] = ignore
    sw = rng.uniform(0.0, 2.0, size=labels.shape)
    y = labels if sparse else np.eye(c, dtype=np.float32)[labels]
    for gamma in (0.0, 0.5, 2.0, 3.7):
        for kwargs in ({}, {"ignore": ignore}, {"sw": sw}, {"ignore": ignore, "sw": sw}):
            loss = ClassWeightedFocalCategoricalCrossentropy(
                class_weight=list(alpha), gamma=gamma, from_logits=from_logits, ignore_class=kwargs.get("ignore")
            )
            got = loss(y, pred, sample_weight=kwargs.get("sw")).numpy()
            want = reference(
                labels,
                pred,
                alpha=alpha,
                gamma=gamma,
                from_logits=from_logits,
                ignore=kwargs.get("ignore"),
                sw=kwargs.get("sw"),
            )
            np.testing.assert_allclose(got, want, rtol=2e-5, err_msg=f"gamma={gamma} {list(kwargs)}")


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("from_logits", [True, False])
def test_label_smoothing_and_other_reductions_match_reference(sparse, from_logits):
    rng = np.random.default_rng(5)
    logits, labels, alpha = random_case(rng, 5)
    pred = logits if from_logits else tf.nn.softmax(logits).numpy()
    y = labels if sparse else np.eye(5, dtype=np.float32)[labels]
    for reduction in ("class_weighted_mean", "sum_over_batch_size", "sum", None):
        loss = ClassWeightedFocalCategoricalCrossentropy(
            class_weight=list(alpha),
            gamma=2.0,
            from_logits=from_logits,
            label_smoothing=0.2,
            reduction=reduction,
            ignore_class=1,
        )
        want = reference(
            labels, pred, alpha=alpha, gamma=2.0, from_logits=from_logits, smoothing=0.2, ignore=1, reduction=reduction
        )
        got = loss(y, pred).numpy()
        assert got.shape == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)


def test_seed_001_printed_numbers_with_keras_alpha():
    y_true = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    y_pred = [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]]

    def make(reduction):
        return ClassWeightedFocalCategoricalCrossentropy(class_weight=[0.25] * 3, reduction=reduction)

    np.testing.assert_allclose(make("sum_over_batch_size")(y_true, y_pred), 0.23315276, rtol=1e-7)
    np.testing.assert_allclose(
        make("sum_over_batch_size")(y_true, y_pred, sample_weight=np.array([0.3, 0.7])), 0.1632, atol=5e-5
    )
    np.testing.assert_allclose(make("sum")(y_true, y_pred), 0.46631, atol=5e-6)
    np.testing.assert_allclose(make(None)(y_true, y_pred), [3.2058331e-05, 4.6627346e-01], rtol=1e-6)
    # the same with sparse labels, and exactly Keras' own loss
    keras_loss = keras.losses.CategoricalFocalCrossentropy()
    np.testing.assert_allclose(make("sum_over_batch_size")([1, 2], y_pred), keras_loss(y_true, y_pred), rtol=1e-6)


def test_equals_keras_focal_on_random_probabilities_with_smoothing():
    rng = np.random.default_rng(1)
    probs = tf.nn.softmax(rng.normal(size=(4, 9, 6))).numpy()
    onehot = np.eye(6, dtype=np.float32)[rng.integers(0, 6, (4, 9))]
    for smoothing in (0.0, 0.1):
        ours = ClassWeightedFocalCategoricalCrossentropy(
            class_weight=[0.25] * 6, label_smoothing=smoothing, reduction="sum_over_batch_size"
        )
        theirs = keras.losses.CategoricalFocalCrossentropy(label_smoothing=smoothing)
        np.testing.assert_allclose(ours(onehot, probs), theirs(onehot, probs), rtol=1e-5)


def test_gamma_zero_is_weighted_crossentropy():
    rng = np.random.default_rng(2)
    logits, labels, alpha = random_case(rng, 4)
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha), gamma=0.0, from_logits=True)
    nll = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True).numpy()
    want = (alpha[labels] * nll).sum() / alpha[labels].sum()
    np.testing.assert_allclose(loss(labels, logits), want, rtol=1e-5)


def test_weighted_mean_is_invariant_to_scaling_class_weights():
    rng = np.random.default_rng(3)
    logits, labels, alpha = random_case(rng, 5)
    values = [
        ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha * k), from_logits=True)(
            labels, logits
        ).numpy()
        for k in (1.0, 0.01, 1000.0)
    ]
    np.testing.assert_allclose(values, values[0], rtol=1e-5)
    summed = [
        ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha * k), reduction="sum", from_logits=True)(
            labels, logits
        ).numpy()
        for k in (1.0, 2.0)
    ]
    np.testing.assert_allclose(summed[1], 2 * summed[0], rtol=1e-5)


def test_vl3d_function_follows_seed_000():
    rng = np.random.default_rng(4)
    logits, labels, alpha = random_case(rng, 3, b=1, n=40)
    probs = tf.nn.softmax(logits[0]).numpy()
    onehot = np.eye(3, dtype=np.float32)[labels[0]]
    fn = vl3d_class_weighted_focal_categorical_crossentropy(list(alpha), 2.0)
    z_star = (probs * onehot).sum(-1)
    a_star = alpha[labels[0]]
    want = -(a_star * (1 - z_star) ** 2 * np.log(z_star)).sum() / a_star.sum()
    np.testing.assert_allclose(fn(onehot, probs), want, rtol=1e-5)


def test_all_ignored_or_zero_weight_batch_gives_zero_and_zero_gradient():
    logits = tf.Variable(np.random.default_rng(5).normal(size=(2, 6, 3)).astype(np.float32))
    labels = np.full((2, 6), -1)
    for loss, kwargs in (
        (ClassWeightedFocalCategoricalCrossentropy(from_logits=True, ignore_class=-1), {}),
        (
            ClassWeightedFocalCategoricalCrossentropy(
                from_logits=True, reduction="sum_over_batch_size", ignore_class=-1
            ),
            {},
        ),
        (ClassWeightedFocalCategoricalCrossentropy(from_logits=True), {"sample_weight": np.zeros(2)}),
        (ClassWeightedFocalCategoricalCrossentropy(from_logits=True, class_weight=[0.0, 0.0, 0.0]), {}),
    ):
        y = labels if loss.ignore_class is not None else np.zeros((2, 6), int)
        with tf.GradientTape() as tape:
            value = loss(y, logits, **kwargs)
        grad = tape.gradient(value, logits)
        assert value.numpy() == 0.0
        assert np.all(grad.numpy() == 0.0)


def test_sample_weight_shapes_broadcast_like_keras():
    rng = np.random.default_rng(6)
    logits, labels, alpha = random_case(rng, 4, b=2, n=5)
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha), from_logits=True)
    per_sample = np.array([0.5, 2.0], np.float32)
    full = np.repeat(per_sample[:, None], 5, axis=1)
    a = loss(labels, logits, sample_weight=per_sample).numpy()
    b = loss(labels, logits, sample_weight=full).numpy()
    c = loss(labels, logits, sample_weight=full[..., None]).numpy()
    d = loss(labels[..., None], logits, sample_weight=full).numpy()  # (B, N, 1) labels
    np.testing.assert_allclose([a, b, c, d], a, rtol=1e-6)
    np.testing.assert_allclose(
        a, reference(labels, logits, alpha=alpha, gamma=2.0, from_logits=True, sw=full), rtol=1e-5
    )
    with pytest.raises(LossArgumentError, match="sample_weight"):
        loss(labels, logits, sample_weight=np.ones((2, 5, 4)))


def test_class_axis_other_than_last():
    rng = np.random.default_rng(7)
    logits, labels, alpha = random_case(rng, 3, b=2, n=4)
    last = ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha), from_logits=True, reduction=None)
    first = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=list(alpha), from_logits=True, axis=1, reduction=None
    )
    moved = np.moveaxis(logits, -1, 1)  # (B, C, N)
    np.testing.assert_allclose(first(labels, moved), last(labels, logits), rtol=1e-6)


def test_half_precision_inputs_give_float32():
    rng = np.random.default_rng(8)
    logits, labels, alpha = random_case(rng, 4)
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha), from_logits=True)
    want = loss(labels, logits).numpy()
    for dtype in (tf.float16, tf.bfloat16):
        z = tf.Variable(tf.cast(logits, dtype))
        with tf.GradientTape() as tape:
            value = loss(labels, z)
        assert value.dtype == tf.float32
        assert tape.gradient(value, z).dtype == dtype
        np.testing.assert_allclose(value.numpy(), want, rtol=3e-2)


def test_construction_errors_name_argument_expected_and_received():
    cases = [
        ({"gamma": -1.0}, "gamma"),
        ({"gamma": "2"}, "gamma"),
        ({"from_logits": 1}, "from_logits"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"axis": 1.5}, "axis"),
        ({"ignore_class": True}, "ignore_class"),
        ({"reduction": "mean_of_everything"}, "reduction"),
        ({"class_weight": [1.0, -2.0]}, "class_weight"),
        ({"class_weight": [1.0, float("nan")]}, "class_weight"),
        ({"class_weight": "balanced"}, "class_weight"),
        ({"class_weight": []}, "class_weight"),
    ]
    for kwargs, argument in cases:
        with pytest.raises(LossArgumentError) as info:
            ClassWeightedFocalCategoricalCrossentropy(**kwargs)
        message = str(info.value)
        assert f"`{argument}`" in message and "Received" in message, message
        assert isinstance(info.value, (VL3DFocalError, ValueError))


def test_class_weight_length_checked_at_first_call():
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 2.0, 3.0])
    with pytest.raises(LossArgumentError, match=r"expected 4 .*Received: 3 values"):
        loss([0, 1], np.full((2, 4), 0.25, np.float32))


def test_config_round_trip_every_argument():
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=[1.0, 2.5],
        gamma=1.5,
        from_logits=True,
        label_smoothing=0.1,
        axis=1,
        ignore_class=-1,
        reduction="sum",
        name="my_loss",
    )
    config = loss.get_config()
    assert config == {
        "class_weight": [1.0, 2.5],
        "gamma": 1.5,
        "from_logits": True,
        "label_smoothing": 0.1,
        "axis": 1,
        "ignore_class": -1,
        "reduction": "sum",
        "name": "my_loss",
    }
    again = ClassWeightedFocalCategoricalCrossentropy.from_config(config)
    assert again.get_config() == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, ClassWeightedFocalCategoricalCrossentropy)
    assert restored.get_config() == config


def test_graph_and_xla_match_eager():
    rng = np.random.default_rng(9)
    logits, labels, alpha = random_case(rng, 5)
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha), from_logits=True, ignore_class=0)

    def value_and_grad(z, y):
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = loss(y, z)
        return value, tape.gradient(value, z)

    z = tf.constant(logits)
    eager = value_and_grad(z, labels)
    for jit in (False, True):
        graph = tf.function(value_and_grad, jit_compile=jit)(z, tf.constant(labels))
        np.testing.assert_allclose(graph[0], eager[0], rtol=1e-5)
        np.testing.assert_allclose(graph[1], eager[1], rtol=1e-4, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(
    c=st.integers(2, 6),
    n=st.integers(1, 12),
    gamma=st.floats(0.0, 5.0),
    scale=st.floats(0.01, 60.0),
    seed=st.integers(0, 2**16),
)
def test_properties_finite_non_negative_and_permutation_invariant(c, n, gamma, scale, seed):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(1, n, c)) * scale).astype(np.float32)
    labels = rng.integers(0, c, size=(1, n))
    alpha = list(rng.uniform(0.0, 3.0, size=c))
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=alpha, gamma=gamma, from_logits=True)
    per_point = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=alpha, gamma=gamma, from_logits=True, reduction=None
    )
    value = loss(labels, logits).numpy()
    points = per_point(labels, logits).numpy()
    assert np.isfinite(value) and value >= 0
    assert np.all(np.isfinite(points)) and np.all(points >= 0)
    order = rng.permutation(n)
    np.testing.assert_allclose(loss(labels[:, order], logits[:, order]), value, rtol=1e-5, atol=1e-7)


def test_compute_parts_sums_give_the_reductions_across_batches():
    rng = np.random.default_rng(10)
    logits, labels, alpha = random_case(rng, 4, b=4, n=6)
    labels[0, :3] = -1
    sw = rng.uniform(0.1, 2.0, size=(4,))
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=list(alpha), from_logits=True, ignore_class=-1)
    halves = [loss.compute_parts(labels[i : i + 2], logits[i : i + 2], sw[i : i + 2]) for i in (0, 2)]
    num = sum(float(tf.reduce_sum(p.numerator)) for p in halves)
    den = sum(float(tf.reduce_sum(p.denominator)) for p in halves)
    count = sum(float(tf.reduce_sum(p.count)) for p in halves)
    np.testing.assert_allclose(num / den, loss(labels, logits, sample_weight=sw), rtol=1e-5)
    assert count == 4 * 6 - 3
    mean = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=list(alpha), from_logits=True, ignore_class=-1, reduction="sum_over_batch_size"
    )
    np.testing.assert_allclose(num / count, mean(labels, logits, sample_weight=sw), rtol=1e-5)


def test_sparse_label_outside_the_classes_raises_eagerly_and_in_graphs_and_is_nan_under_xla():
    logits = np.random.default_rng(11).normal(size=(2, 3, 4)).astype(np.float32)
    loss = ClassWeightedFocalCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    bad = np.array([[0, 4, -1], [7, -2, 7]])
    with pytest.raises(LossArgumentError) as info:
        loss(bad, logits)
    message = str(info.value)
    assert isinstance(info.value, VL3DFocalError)
    assert "`y_true`" in message and "4 classes" in message and "[0, 4)" in message, message
    assert "Received label values -2, 4, 7 at 4 points" in message, message
    assert "ignore_class=-1" in message, message
    probabilities = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 2.0, 1.0, 1.0])
    with pytest.raises(LossArgumentError, match=r"Received label value 9 at 1 point$"):
        probabilities(np.array([[0, 9, 1]]), np.full((1, 3, 4), 0.25, np.float32))
    # in a graph, a tf.debugging assertion on the labels' minimum and maximum raises
    graph = tf.function(lambda y, z: loss(y, z))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside the class range.*\[0, 4\)") as info:
        graph(tf.constant([[0, 4, -1], [2, 1, 3]]), tf.constant(logits))
    assert "[0] [4]" in str(info.value)  # the minimum and maximum received
    # a graph traced for any number of classes checks against the class count at run time (it gave NaN)
    unknown = tf.function(
        lambda y, z: loss(y, z),
        input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None, None], tf.float32)],
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside the class range.*\[0, C\)") as info:
        unknown(tf.constant([[0, 4, -1], [2, 1, 3]]), tf.constant(logits))
    assert "[0] [4] [4]" in str(info.value)  # minimum, maximum and the class count
    assert np.isfinite(unknown(tf.constant([[0, 3, -1], [2, 1, 1]]), tf.constant(logits)).numpy())
    # under XLA no assertion can run: the term is NaN, not a silent number
    xla = tf.function(lambda y, z: loss(y, z), jit_compile=True)
    assert np.isnan(xla(tf.constant([[0, 4, -1], [2, 1, 3]]), tf.constant(logits)).numpy())
    per_point = ClassWeightedFocalCategoricalCrossentropy(from_logits=True, reduction=None)
    values = tf.function(lambda y, z: per_point(y, z), jit_compile=True)(
        tf.constant([[0, 4, 1], [2, 1, 3]]), tf.constant(logits)
    )
    assert np.isnan(values.numpy()[0, 1]) and np.isfinite(np.delete(values.numpy().ravel(), 1)).all()
    # labels in range (and the ignored ones) are accepted
    fine = loss(np.array([[0, 3, -1], [2, 1, 1]]), logits).numpy()
    assert np.isfinite(fine) and fine > 0


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["class_weighted_mean", "sum_over_batch_size", "mean_with_sample_weight"])
def test_one_hot_rows_of_an_ignore_class_outside_the_classes_are_ignored_like_sparse_labels(
    from_logits, smoothing, reduction
):
    """``one_hot(-1)`` is a row of zeros: with ``ignore_class=-1`` it counted as class 0 (or as
    a point without a label that still entered the denominator and the smoothing term)."""
    rng = np.random.default_rng(3)
    logits, labels, alpha = random_case(rng, 4)
    labels[:, ::3] = -1
    pred = logits if from_logits else tf.nn.softmax(logits).numpy()
    sw = rng.uniform(0.5, 2.0, size=labels.shape)
    loss = ClassWeightedFocalCategoricalCrossentropy(
        class_weight=alpha,
        gamma=2.0,
        from_logits=from_logits,
        ignore_class=-1,
        label_smoothing=smoothing,
        reduction=reduction,
    )
    sparse = float(loss(labels, pred, sw))
    one_hot = float(loss(tf.one_hot(labels, 4), pred, sw))
    np.testing.assert_allclose(one_hot, sparse, rtol=1e-5)
    if reduction != "mean_with_sample_weight":  # the reference has the other two
        expected = reference(
            labels,
            pred,
            alpha=alpha,
            gamma=2.0,
            from_logits=from_logits,
            smoothing=smoothing,
            ignore=-1,
            sw=sw,
            reduction=reduction,
        )
        np.testing.assert_allclose(sparse, expected, rtol=1e-5)


@pytest.mark.parametrize("loss_class", [ClassWeightedFocalCategoricalCrossentropy, MultiCategoryFocalCrossentropy])
def test_keras_dtype_argument_is_taken_and_the_loss_stays_float32(loss_class):
    y_true, logits = np.array([[0, 2, 1]]), np.array([[[2.0, 0.0, -1.0], [0.5, 0.1, 3.0], [1.0, 1.0, 1.0]]], "float16")
    one_hot = np.eye(3)[y_true]
    plain = loss_class(from_logits=True)
    for dtype in (None, "float32", keras.DTypePolicy("float32")):
        loss = loss_class(from_logits=True, dtype=dtype)
        assert loss.dtype == "float32"
        value = loss(one_hot if loss_class is MultiCategoryFocalCrossentropy else y_true, logits)
        expected = plain(one_hot if loss_class is MultiCategoryFocalCrossentropy else y_true, logits)
        assert value.dtype == "float32" and float(value) == float(expected)
    with pytest.raises(
        LossArgumentError, match="Expected one of \\[None, 'float32'\\].*Received: dtype='mixed_float16'"
    ):
        loss_class(dtype="mixed_float16")
    with pytest.raises(LossArgumentError, match="Received: dtype=<DTypePolicy"):
        loss_class(dtype=keras.DTypePolicy("mixed_float16"))
