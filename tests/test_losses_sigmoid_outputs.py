"""Sigmoid and softmax outputs under the one-vs-all loss (seed 003): ``model(x)``, ``evaluate``
and ``loss(y, predict)`` agree with a float64 NumPy reference on every path; sample weights of
unknown rank, wording of class-count errors and of the ``from_logits=True`` warning."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy, MultiCategoryFocalCrossentropy
from vl3d_focal.losses.exceptions import LossArgumentError

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = (RNG.random((8, 4)) < 0.4).astype(np.float32)  # multi-label rows


def seed_003(y, p, alpha, gamma=2.0, eps=1e-7):
    """Seed 003's formula in float64, mean over samples."""
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    pt = y * p + (1 - y) * (1 - p)
    return float(np.mean(((1 - pt) ** gamma * -np.log(pt)) @ np.asarray(alpha, np.float64)))


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_evaluate_model_call_and_predict_agree_with_the_reference(activation):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(4, activation=activation)(inputs))
    loss = MultiCategoryFocalCrossentropy(class_weight=[0.25] * 4)
    model.compile("sgd", loss=loss)
    predicted = model.predict(X, verbose=0)
    expected = seed_003(Y, predicted, [0.25] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.evaluate(X, Y, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)
        assert float(loss(Y, predicted)) == pytest.approx(expected, rel=1e-5)
        assert float(loss(Y, model(X))) == pytest.approx(expected, rel=1e-5)


def test_a_sigmoid_logit_margin_of_100_gives_100_and_a_live_gradient():
    loss = MultiCategoryFocalCrossentropy(class_weight=[1.0, 1.0], reduction=None)
    z = keras.ops.convert_to_tensor([[-100.0, 100.0]])
    out = keras.activations.sigmoid(z)
    value = keras.ops.convert_to_numpy(loss([[1.0, 0.0]], out))
    if keras.backend.backend() == "tensorflow":  # read from the kept logits: no clipping
        assert value[0] == pytest.approx(200.0, rel=1e-5)
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(z)
            total = loss([[1.0, 0.0]], keras.activations.sigmoid(z))
        assert np.all(np.abs(tape.gradient(total, z).numpy()) > 0.5)


def test_from_logits_true_on_a_sigmoid_output_names_the_sigmoid():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("Keras marks outputs with their logits on the TensorFlow backend only")
    out = keras.activations.sigmoid(keras.ops.convert_to_tensor(X @ RNG.normal(size=(3, 4)).astype(np.float32)))
    for loss in (
        ClassWeightedFocalCategoricalCrossentropy(from_logits=True),
        MultiCategoryFocalCrossentropy(from_logits=True),
    ):
        with pytest.warns(UserWarning, match="these predictions are a sigmoid layer's probabilities"):
            loss(np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2, 3]], out)


def test_class_counts_of_another_length_say_which_argument_and_how_many():
    loss = MultiCategoryFocalCrossentropy(class_counts=[100, 200, 50])
    with pytest.raises(
        LossArgumentError, match=r"`class_counts` must have one count per class: expected 4 .*Received: 3 values"
    ):
        loss(Y, np.full((8, 4), 0.5, np.float32))


def test_sample_weights_of_unknown_rank_are_refused_clearly():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("unknown ranks exist in TensorFlow graphs only")
    import tensorflow as tf

    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 2.0])
    step = tf.function(
        lambda w: loss(tf.zeros((2, 3), tf.int32), tf.zeros((2, 3, 2)), sample_weight=w),
        input_signature=[tf.TensorSpec(None, tf.float32)],
    )
    with pytest.raises(LossArgumentError, match="`sample_weight` must have a known rank"):
        step(tf.ones((2,)))


def test_fit_retraced_with_sample_weights_of_another_rank_is_refused_clearly():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("unknown ranks exist in TensorFlow graphs only")
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile("sgd", loss=ClassWeightedFocalCategoricalCrossentropy(from_logits=True))
    x, y = RNG.normal(size=(4, 5, 3)).astype(np.float32), RNG.integers(0, 2, size=(4, 5))
    model.fit(x, y, sample_weight=RNG.random((4, 5)), epochs=1, verbose=0)
    with pytest.raises(LossArgumentError, match="`sample_weight` must have a known rank"):  # Keras relaxed the rank
        model.fit(x, y, sample_weight=RNG.random(4), epochs=1, verbose=0)


def test_the_class_weighted_loss_reads_a_sigmoid_op_in_a_graph_as_keras_does():
    """Keras' categorical cross-entropy unwraps a graph ``Softmax`` op only: on a plain
    ``tf.nn.sigmoid`` output it scores the (renormalised) probabilities, in a graph as eagerly."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("graph ops exist on the TensorFlow backend only")
    import tensorflow as tf

    logits = tf.constant(X @ RNG.normal(size=(3, 4)).astype(np.float32))
    y = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 2, 3]]
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0] * 4, gamma=0.0)
    keras_loss = keras.losses.CategoricalCrossentropy()
    graph = tf.function(lambda z: (loss(y, tf.nn.sigmoid(z)), keras_loss(y, tf.nn.sigmoid(z))))
    value, keras_value = (float(v) for v in graph(logits))
    assert value == pytest.approx(keras_value, rel=1e-5)
    assert value == pytest.approx(float(loss(y, tf.nn.sigmoid(logits))), rel=1e-5)  # eagerly: unmarked


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_gamma_below_1_at_saturation_gives_a_finite_loss_and_gradient(activation):
    """A logit margin of 200 read from the marked logits: ``1 - pt`` is 0 in float32, and
    ``(1 - pt)^0.5`` would give an infinite slope (a NaN gradient); in log space it is 0."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("Keras marks outputs with their logits on the TensorFlow backend only")
    import tensorflow as tf

    z = tf.constant([[200.0, 0.0, -200.0], [-200.0, 200.0, 0.0]])
    y = np.eye(3, dtype=np.float32)[[0, 1]]
    loss = MultiCategoryFocalCrossentropy(class_weight=[1.0, 1.0, 1.0], gamma=0.5)
    function = getattr(keras.activations, activation)
    for step in (lambda logits: loss(y, function(logits)), tf.function(lambda logits: loss(y, function(logits)))):
        with tf.GradientTape() as tape:
            tape.watch(z)
            value = step(z)
        assert np.isfinite(float(value))
        assert np.all(np.isfinite(tape.gradient(value, z).numpy()))
