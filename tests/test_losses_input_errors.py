"""A corpus of users' mistakes with the loss: the call, the exception type, the message.

Each mistake gives one message naming the argument, what was expected and what was received,
eagerly and under ``tf.function``, and no XLA wording when no XLA was asked for.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy, LossArgumentError

LOGITS_1_4_3 = np.zeros((1, 4, 3), np.float32)


def _ragged_labels() -> tf.RaggedTensor:
    return tf.ragged.constant([[0, 1, 2], [1]])


# (name, labels factory, predictions, exception type in a graph, fragments of the message)
CORPUS = [
    (
        "float label 1.5",
        lambda: np.array([[0.0, 1.5, 2.0, 1.0]], np.float32),
        LOGITS_1_4_3,
        tf.errors.InvalidArgumentError,
        ["`y_true`", "not integers", "expected class indices in [0, 3)", "1.5"],
    ),
    (
        "labels (1, 3) for predictions (1, 4, 3)",
        lambda: np.array([[0, 1, 2]]),
        LOGITS_1_4_3,
        LossArgumentError,
        [
            "`y_true`",
            "expected sparse labels of shape (1, 4)",
            "or one-hot labels of shape (1, 4, 3)",
            "Received: y_true.shape=(1, 3)",
        ],
    ),
    (
        "one-hot labels with 4 classes for 3",
        lambda: np.eye(4, dtype=np.float32)[None, [0, 1, 2, 3]],
        LOGITS_1_4_3,
        LossArgumentError,
        ["`y_true`", "one entry per class", "expected 3", "Received: 4", "y_true.shape=(1, 4, 4)"],
    ),
    (
        "ragged labels",
        _ragged_labels,
        np.zeros((2, 3, 3), np.float32),
        LossArgumentError,
        ["`y_true`", "must be a dense tensor", "Received: y_true of type tf.RaggedTensor"],
    ),
]


def _loss() -> ClassWeightedFocalCategoricalCrossentropy:
    return ClassWeightedFocalCategoricalCrossentropy(class_weight=[1.0, 2.0, 3.0], from_logits=True)


def _check_message(message: str, fragments: list[str]) -> None:
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    for xla_word in ("XLA", "tf2xla", "_XlaMustCompile", "jit_compile"):
        assert xla_word not in message, (xla_word, message)


@pytest.mark.parametrize("name, labels, logits, graph_error, fragments", CORPUS, ids=[c[0] for c in CORPUS])
def test_eager_call_raises_one_clear_message(name, labels, logits, graph_error, fragments):
    with pytest.raises(LossArgumentError) as info:
        _loss()(labels(), logits)
    _check_message(str(info.value), fragments)


@pytest.mark.parametrize("name, labels, logits, graph_error, fragments", CORPUS, ids=[c[0] for c in CORPUS])
def test_tf_function_call_raises_one_clear_message(name, labels, logits, graph_error, fragments):
    loss = _loss()
    y = labels()
    if not isinstance(y, tf.RaggedTensor):
        y = tf.constant(y)
    with pytest.raises(graph_error) as info:
        tf.function(lambda y_true, y_pred: loss(y_true, y_pred))(y, tf.constant(logits))
    # a graph assertion's message holds the same text (the values after it)
    _check_message(str(info.value).split("[[{{node")[0], fragments)


def test_integer_valued_float_labels_are_accepted_in_both_modes():
    labels, logits = (
        np.array([[0.0, 1.0, 2.0, 1.0]], np.float32),
        np.random.default_rng(0).normal(size=(1, 4, 3)).astype(np.float32),
    )
    eager = float(_loss()(labels, logits))
    graph = float(tf.function(lambda y, z: _loss()(y, z))(tf.constant(labels), tf.constant(logits)))
    assert eager == pytest.approx(float(_loss()(labels.astype(np.int32), logits)), rel=1e-6)
    assert graph == pytest.approx(eager, rel=1e-6)


def test_sparse_labels_of_unknown_class_axis_size_get_a_message_that_says_how_to_trace_them():
    """Under a signature of unknown sizes, labels of the predictions' rank can only be taken as
    one-hot; sparse (B, N, 1) labels then fail with a message naming the fix (not a wrong loss)."""
    signature = [tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None, None, None], tf.float32)]
    loss = _loss()
    traced = tf.function(lambda y_true, y_pred: loss(y_true, y_pred), input_signature=signature)
    labels = np.array([[[0.0], [1.0], [2.0], [1.0]]], np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        traced(labels, LOGITS_1_4_3)
    _check_message(
        str(info.value).split("[[{{node")[0], ["`y_true` does not fit `y_pred`", "tf.TensorSpec([None, None, 1])"]
    )
    fixed = tf.function(
        lambda y_true, y_pred: loss(y_true, y_pred),
        input_signature=[tf.TensorSpec([None, None, 1], tf.float32), signature[1]],
    )
    assert float(fixed(labels, LOGITS_1_4_3)) == pytest.approx(
        float(loss(labels[..., 0].astype(np.int32), LOGITS_1_4_3))
    )
