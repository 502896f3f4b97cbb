"""Softmax outputs on the TensorFlow backend: the losses read the logits Keras keeps on them (as
Keras' own cross-entropies do), and ``from_logits=True`` on such an output warns once."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy, MultiCategoryFocalCrossentropy

if keras.backend.backend() != "tensorflow":
    pytest.skip("Keras marks softmax outputs with their logits on the TensorFlow backend only", allow_module_level=True)

import tensorflow as tf

RNG = np.random.default_rng(4)
X = (RNG.normal(size=(2, 6, 3)) * 20).astype(np.float32)  # margins of tens: probabilities clip to 1e-7
LABELS = RNG.integers(0, 4, size=(2, 6))
ONE_HOT = np.eye(4, dtype=np.float32)[LABELS]
LOSSES = {
    "class_weighted_focal": (
        lambda from_logits: ClassWeightedFocalCategoricalCrossentropy(
            class_weight=[0.5, 2.0, 1.0, 4.0], gamma=2.0, from_logits=from_logits
        ),
        LABELS,
    ),
    "one_vs_all": (
        lambda from_logits: MultiCategoryFocalCrossentropy(class_counts=[4, 1, 2, 8], from_logits=from_logits),
        ONE_HOT,
    ),
}


def _models() -> tuple[keras.Model, keras.Model]:
    """A tiny Dense-softmax model, and the model of its logits (the same Dense layer)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 3))
    dense = keras.layers.Dense(4)
    logits = dense(inputs)
    return keras.Model(inputs, keras.layers.Activation("softmax")(logits)), keras.Model(inputs, logits)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_softmax_output_is_read_from_its_logits(name):
    make, y = LOSSES[name]
    model, logits_model = _models()
    reference = float(make(True)(y, logits_model(X)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # from_logits=False on a softmax output: no warning
        assert float(make(False)(y, model(X))) == pytest.approx(reference, rel=1e-6, abs=1e-6)
    clipped = float(make(False)(y, tf.constant(model(X).numpy())))  # the same probabilities, unmarked
    if name == "class_weighted_focal":  # clipped probabilities cap the loss of the most wrong points
        assert clipped < reference - 0.5
    model.compile(optimizer="sgd", loss=make(False))  # in Keras' compiled graph too
    assert model.evaluate(X, y, batch_size=2, verbose=0) == pytest.approx(reference, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_from_logits_true_on_a_softmax_output_warns_once_and_uses_the_logits(name):
    make, y = LOSSES[name]
    model, logits_model = _models()
    reference = float(make(True)(y, logits_model(X)))
    loss = make(True)
    with pytest.warns(UserWarning, match="from_logits=True, yet these predictions are a softmax layer's probabilities"):
        assert float(loss(y, model(X))) == pytest.approx(reference, rel=1e-6, abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(loss(y, model(X))) == pytest.approx(reference, rel=1e-6, abs=1e-6)  # once per loss


def test_a_softmax_op_in_a_graph_counts_as_marked():
    make, y = LOSSES["class_weighted_focal"]
    logits = tf.constant(X @ RNG.normal(size=(3, 4)).astype(np.float32))
    reference = float(make(True)(y, logits))
    loss = make(False)
    graph = tf.function(lambda z: loss(y, tf.nn.softmax(z)))
    assert float(graph(logits)) == pytest.approx(reference, rel=1e-6, abs=1e-6)
