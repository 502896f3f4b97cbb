"""The logits behind a softmax or sigmoid output, where Keras' TensorFlow backend keeps them.

On the TensorFlow backend, Keras' softmax and sigmoid (``keras.activations``, a layer's
``activation=``, ``keras.ops``) store their input on their output as ``_keras_logits``, and
Keras' own cross-entropies read the logits from there: computed from the logits, the loss is
the same number as from the probabilities, without their clipping (more stable); and
``from_logits=True`` on such an output, a mistake, warns and uses the logits. In a TensorFlow
graph, the output of a ``Softmax`` op counts too for Keras' categorical cross-entropy (a
``Sigmoid`` op for its binary one). The losses of this package do the same, on the TensorFlow
backend only, as Keras: JAX arrays cannot carry the attribute, and on PyTorch Keras sets it but
its losses do not read it (nor do these).

What the logits give depends on the loss. The class-weighted (categorical) losses follow
Keras' categorical cross-entropy exactly (:func:`predictions_and_from_logits`): a ``Softmax``
op's input, or ``_keras_logits`` whatever the activation, and the softmax of those logits (a
sigmoid output is no class distribution). The one-vs-all loss also reads a ``Sigmoid`` op's
input and scores each class with the activation that made the output
(:func:`activation_of`: a graph tensor's op type; an eager tensor's values, recomputed from
the kept logits).

Example:
    >>> import keras
    >>> out = keras.activations.softmax(keras.ops.convert_to_tensor([[1.0, 2.0]]))
    >>> (marked_logits(out) is not None) == (keras.backend.backend() == "tensorflow")
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from typing import Any

import keras
from keras import ops

ACTIVATION_OPS = {"Softmax": "softmax", "Sigmoid": "sigmoid"}


def marked_logits(y_pred: Any, *, op_types: Collection[str] = ("Softmax",)) -> Any:
    """The logits of a marked output on the TensorFlow backend, or None: ``_keras_logits``
    (whatever the activation), else a graph op's input where the op's type is in ``op_types``
    (Keras' categorical cross-entropy: ``Softmax`` only).

    Example:
        >>> marked_logits([[0.2, 0.8]]) is None
        True
    """
    if keras.backend.backend() != "tensorflow":
        return None
    logits = getattr(y_pred, "_keras_logits", None)
    if logits is not None:
        return logits
    op = getattr(y_pred, "op", None)  # a graph tensor's op; eager tensors and others have none
    if op is not None and getattr(op, "type", None) in op_types and len(op.inputs) == 1:
        return op.inputs[0]
    return None


def activation_of(y_pred: Any, logits: Any) -> str:
    """Which activation made the marked output ``y_pred`` from ``logits``: ``"sigmoid"``,
    ``"softmax"`` or ``"activation"`` (unknown). A graph tensor's op type tells; an eager
    tensor's is recomputed (sigmoid, then softmax) and must give ``y_pred`` exactly.

    Example:
        >>> z = keras.ops.convert_to_tensor([[1.0, 2.0]])
        >>> activation_of(keras.ops.sigmoid(z), z), activation_of(keras.ops.softmax(z), z)
        ('sigmoid', 'softmax')
    """
    op = getattr(y_pred, "op", None)
    if op is not None and getattr(op, "type", None) is not None:
        return ACTIVATION_OPS.get(str(op.type), "activation")
    for name, function in (("sigmoid", ops.sigmoid), ("softmax", ops.softmax)):
        again = function(ops.cast(logits, y_pred.dtype))
        if tuple(again.shape) == tuple(y_pred.shape) and bool(ops.all(ops.equal(again, y_pred))):
            return name
    return "activation"


def warn_from_logits_on_marked(
    loss: Any, y_pred: Any, logits: Any, *, using: str = "the logits that layer kept"
) -> None:
    """The warning of ``from_logits=True`` on the marked output ``y_pred`` (of ``logits``),
    naming its activation, once per ``loss`` object.

    Example:
        >>> import warnings
        >>> z = keras.ops.convert_to_tensor([[1.0, 2.0]])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_from_logits_on_marked(None, keras.ops.sigmoid(z), z)
        >>> "a sigmoid layer's probabilities" in str(caught[0].message)
        True
    """
    if getattr(loss, "_warned_softmax_output", False):
        return
    if loss is not None:
        loss._warned_softmax_output = True
    activation = activation_of(y_pred, logits)
    layer = "an activation layer's" if activation == "activation" else f"a {activation} layer's"
    warnings.warn(
        f"{getattr(loss, 'name', 'loss')}: from_logits=True, yet these predictions are {layer} "
        f"probabilities; computing from {using} instead. Pass from_logits=False (or drop the "
        "activation) to silence this.",
        UserWarning,
        stacklevel=5,
    )


def predictions_and_from_logits(y_pred: Any, *, from_logits: bool, loss: Any) -> tuple[Any, bool]:
    """``(y_pred, from_logits)`` as a categorical loss should use them, by Keras' rule: the
    logits behind a marked output (:func:`marked_logits`, and True; Keras takes their softmax,
    whatever the activation), else the arguments. ``from_logits=True`` on such an output warns,
    once per ``loss`` object (its ``name`` in the message).

    Example:
        >>> predictions_and_from_logits([[0.2, 0.8]], from_logits=False, loss=None)
        ([[0.2, 0.8]], False)
    """
    logits = marked_logits(y_pred)
    if logits is None:
        return y_pred, from_logits
    if from_logits:
        warn_from_logits_on_marked(loss, y_pred, logits)
    return logits, True
