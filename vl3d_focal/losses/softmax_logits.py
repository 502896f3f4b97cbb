"""The logits behind a softmax output, where Keras' TensorFlow backend keeps them.

On the TensorFlow backend, Keras' softmax (``keras.activations.softmax``, a layer's
``activation="softmax"``, ``keras.ops.softmax``) stores its input on its output as
``_keras_logits``, and its own cross-entropies read the logits from there: computed from the
logits, the loss is the same number as from the probabilities, without their clipping (more
stable); and ``from_logits=True`` on such an output, a mistake, warns and uses the logits. In
a TensorFlow graph, the output of a ``Softmax`` op (``tf.nn.softmax``) counts too. The losses
of this package do the same, on the TensorFlow backend only, as Keras: JAX arrays cannot carry
the attribute, and on PyTorch Keras sets it but its losses do not read it (nor do these).

Keras' sigmoid marks its output the same way; Keras' categorical cross-entropy then takes the
softmax of those logits, and so do these losses (a sigmoid output is no class distribution).

Example:
    >>> import keras
    >>> out = keras.activations.softmax(keras.ops.convert_to_tensor([[1.0, 2.0]]))
    >>> (marked_logits(out) is not None) == (keras.backend.backend() == "tensorflow")
    True
"""

from __future__ import annotations

import warnings
from typing import Any

import keras


def marked_logits(y_pred: Any) -> Any:
    """The logits of a softmax output on the TensorFlow backend (see the module), or None.

    Example:
        >>> marked_logits([[0.2, 0.8]]) is None
        True
    """
    if keras.backend.backend() != "tensorflow":
        return None
    logits = getattr(y_pred, "_keras_logits", None)
    if logits is not None:
        return logits
    try:
        op = y_pred.op  # a graph tensor's op; eager tensors and others have none
    except AttributeError:
        return None
    if getattr(op, "type", None) == "Softmax" and len(op.inputs) == 1:
        return op.inputs[0]
    return None


def predictions_and_from_logits(y_pred: Any, *, from_logits: bool, loss: Any) -> tuple[Any, bool]:
    """``(y_pred, from_logits)`` as a loss should use them: the logits behind a marked softmax
    output (and True), else the arguments. ``from_logits=True`` on such an output warns, once
    per ``loss`` object (its ``name`` in the message).

    Example:
        >>> predictions_and_from_logits([[0.2, 0.8]], from_logits=False, loss=None)
        ([[0.2, 0.8]], False)
    """
    logits = marked_logits(y_pred)
    if logits is None:
        return y_pred, from_logits
    if from_logits and not getattr(loss, "_warned_softmax_output", False):
        if loss is not None:
            loss._warned_softmax_output = True
        warnings.warn(
            f"{getattr(loss, 'name', 'loss')}: from_logits=True, yet these predictions are a softmax "
            "layer's probabilities; computing from the logits that layer kept instead. Pass "
            "from_logits=False (or drop the softmax) to silence this.",
            UserWarning,
            stacklevel=4,
        )
    return logits, True
