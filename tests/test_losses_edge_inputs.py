"""The loss where a user's inputs are at the edge: float labels that are not integers under XLA,
ignored points whose logits are not finite, class weights checked against a class axis known only
when the step runs, sample weights of the wrong shape and tensors of unknown rank.

Each case holds eagerly, under ``tf.function`` and with ``jit_compile=True`` (where no assertion
runs and a mistake must give NaN, never a silent finite value).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy, LossArgumentError

RNG = np.random.default_rng(3)
LOGITS = RNG.normal(size=(2, 5, 3)).astype(np.float32)
LABELS = RNG.integers(0, 3, size=(2, 5))


def _loss(**kwargs) -> ClassWeightedFocalCategoricalCrossentropy:
    return ClassWeightedFocalCategoricalCrossentropy(class_weight=[0.5, 1.0, 4.0], from_logits=True, **kwargs)


@pytest.mark.parametrize("bad", [-0.5, 0.5, 2.5, 2.9999, float("nan")])
def test_a_float_label_that_is_no_integer_gives_nan_under_xla_not_a_truncated_class(bad):
    labels = LABELS.astype(np.float32)
    labels[0, 1] = bad
    loss = _loss()
    with pytest.raises(LossArgumentError, match="not integers"):  # eagerly it is an error
        loss(labels, LOGITS)
    compiled = tf.function(lambda y, z: loss(y, z), jit_compile=True)
    assert np.isnan(float(compiled(tf.constant(labels), tf.constant(LOGITS))))
    labels[0, 1] = 1.0  # the same batch with an integer label is finite and equals the integer labels' loss
    assert float(compiled(tf.constant(labels), tf.constant(LOGITS))) == pytest.approx(
        float(loss(labels.astype(np.int64), LOGITS)), rel=1e-6
    )


@pytest.mark.parametrize("poison", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("mode", ["eager", "tf.function", "xla"])
def test_an_ignored_point_s_logits_count_for_nothing_even_when_not_finite(poison, mode):
    labels = LABELS.copy()
    labels[1, 2] = -1
    poisoned = LOGITS.copy()
    poisoned[1, 2, :] = poison
    loss = _loss(ignore_class=-1)

    def value_and_grad(logits):
        logits = tf.convert_to_tensor(logits)
        with tf.GradientTape() as tape:
            tape.watch(logits)
            value = loss(tf.constant(labels), logits)
        return value, tape.gradient(value, logits)

    run = {"eager": value_and_grad, "tf.function": tf.function(value_and_grad)}.get(mode) or tf.function(
        value_and_grad, jit_compile=True
    )
    value, grad = run(poisoned)
    expected_value, expected_grad = value_and_grad(LOGITS)  # the same batch with finite logits there
    assert float(value) == pytest.approx(float(expected_value), rel=1e-6)
    np.testing.assert_allclose(grad.numpy(), expected_grad.numpy(), rtol=1e-5, atol=1e-7)
    assert np.all(grad.numpy()[1, 2] == 0.0)


@pytest.mark.parametrize("weights", [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]])
def test_class_weights_against_a_class_axis_known_only_when_the_step_runs(weights):
    signature = [tf.TensorSpec([None, None], tf.int64), tf.TensorSpec([None, None, None], tf.float32)]
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=weights, from_logits=True)
    graph = tf.function(lambda y, z: loss(y, z), input_signature=signature)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=f"one weight per class of `y_pred`: received {len(weights)}"
    ):
        graph(LABELS, LOGITS)
    xla = tf.function(lambda y, z: loss(y, z), input_signature=signature, jit_compile=True)
    assert np.isnan(float(xla(LABELS, LOGITS)))  # not the loss of the first three weights
    right = _loss()
    for jit in (False, True):
        traced = tf.function(lambda y, z: right(y, z), input_signature=signature, jit_compile=jit)
        assert float(traced(LABELS, LOGITS)) == pytest.approx(float(right(LABELS, LOGITS)), rel=1e-6)


@pytest.mark.parametrize("shape", [(3,), (5,), (2, 4)])
def test_sample_weights_that_do_not_fit_the_points_are_one_clear_message(shape):
    with pytest.raises(LossArgumentError, match=r"`sample_weight` does not fit the points of `y_pred` \(2, 5\)"):
        _loss()(LABELS, LOGITS, sample_weight=np.ones(shape, np.float32))
    for fitting in [(2,), (2, 5), (2, 5, 1), (1,), (2, 1)]:  # per sample, per point, and broadcast
        assert np.isfinite(float(_loss()(LABELS, LOGITS, sample_weight=np.ones(fitting, np.float32))))


def test_a_tensor_of_unknown_rank_is_one_clear_message():
    traced = tf.function(
        lambda y, z: _loss()(y, z), input_signature=[tf.TensorSpec(None, tf.int64), tf.TensorSpec(None)]
    )
    with pytest.raises(
        LossArgumentError, match=r"`y_true` must have a known rank .*tf.TensorSpec\(\[None, None, C\]\)"
    ):
        traced(LABELS, LOGITS)


def test_an_ignored_point_s_probabilities_count_for_nothing_even_when_not_finite():
    labels = LABELS.copy()
    labels[0, 3] = -1
    probabilities = tf.nn.softmax(LOGITS).numpy()
    loss = ClassWeightedFocalCategoricalCrossentropy(class_weight=[0.5, 1.0, 4.0], ignore_class=-1)
    expected = float(loss(labels, probabilities))
    probabilities[0, 3] = np.nan
    assert float(loss(labels, probabilities)) == pytest.approx(expected, rel=1e-6)
