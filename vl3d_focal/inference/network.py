"""The network's part of prediction: fields through the model, a batch at a time.

Fields are fed to the model ``batch_size`` at a time (big clouds never hold every field's
activations at once) through one traced TensorFlow graph per model (:func:`inference_function`:
the same operations as calling the model eagerly, without their per-operation Python
dispatch) and turned into probabilities with a softmax. :func:`field_probabilities` applies a
bundle's model the way its prediction asks (batch size, inputs, test-time rotations).

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 3)), keras.layers.Dense(2)])
    >>> probs = predict_fields(model, (np.ones((5, 4, 3), "float32"),), batch_size=2)
    >>> probs.shape
    (5, 4, 2)
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vl3d_focal.data.parallel import cpu_threads
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.progress import Progress

logger = logging.getLogger(__name__)

_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""The traced inference function of each model (:func:`inference_function`)."""
_TRACING = threading.Lock()


def inference_function(model: Any, *, softmax: bool = True) -> Callable[..., Any]:
    """The model's softmax probabilities (its raw outputs without ``softmax``) as a traced
    ``tf.function`` (one graph, any batch size), built once per model; the same numbers as an
    eager call.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((2, 1)), keras.layers.Dense(3)])
        >>> inference_function(model) is inference_function(model)
        True
    """
    with _TRACING:  # one function per model even when a warm-up thread asks at the same time
        functions = _TRACED.setdefault(model, {})
        traced = functions.get(softmax)
        if traced is None:
            import tensorflow as tf

            signature = [tf.TensorSpec((None,) + tuple(tensor.shape[1:]), tensor.dtype) for tensor in model.inputs]

            @tf.function(input_signature=signature, autograph=False)  # no converted source left in /tmp
            def traced(*arrays: Any) -> Any:
                outputs = model(list(arrays) if len(arrays) > 1 else arrays[0], training=False)
                return tf.nn.softmax(outputs, axis=-1) if softmax else outputs

            functions[softmax] = traced
    return traced


def _trace(traced: Callable[..., Any], inputs: Sequence[Any]) -> None:
    try:
        traced(*[np.zeros((1,) + tuple(tensor.shape[1:]), dtype=tensor.dtype) for tensor in inputs])
    except Exception:  # the prediction itself will meet the problem and report it
        logger.debug("tracing the model ahead of its first batch failed", exc_info=True)


def warm_up(bundle: ModelBundle) -> threading.Thread | None:
    """Traces the inference function of a model of fields on a background thread and runs it once
    on one field of zeros, so that the tracing (about 0.2 s here for the IGN example's PointNet)
    and the graph's first run (another 0.15 s) overlap the features and fields the caller builds
    meanwhile instead of preceding the first batch. Nothing for a model that does not predict
    fields, nor for one whose function exists already, nor in a process given one thread
    (:func:`~vl3d_focal.data.parallel.cpu_threads`: a Dask worker of ``threads_per_worker`` 1,
    whose core is busy with the features; a second busy thread would take another worker's core).

    Returns:
        The thread, or None when there is nothing to do.

    Example:
        >>> _ = warm_up(state.bundle)
        >>> warm_up(state.bundle) is None  # the model's function exists: traced once per model
        True
    """
    model = bundle.model
    if bundle.field_spec is None or not hasattr(model, "inputs") or cpu_threads() < 2:
        return None
    if any(None in tuple(tensor.shape[1:]) for tensor in model.inputs):
        return None
    with _TRACING:
        if True in _TRACED.get(model, {}):
            return None
    traced = inference_function(model)  # made here (cheap): a second call finds it; the thread traces it
    # Not a daemon: the process waits for the trace at exit (a step that fails early, a user's
    # mistake, ends the process at once; a thread killed inside TensorFlow's tracing aborts it).
    thread = threading.Thread(target=_trace, args=(traced, model.inputs), name="vl3d-focal-trace")
    thread.start()
    return thread


def predict_fields(
    model: Any,
    inputs: Sequence[np.ndarray],
    *,
    batch_size: int,
    make_inputs: Callable[[np.ndarray, np.ndarray], list[np.ndarray]] | None = None,
    turns: int = 1,
    softmax: bool = True,
    verbose: int | str | None = None,
) -> np.ndarray:
    """Softmax probabilities of every field (the raw outputs without ``softmax``), computed
    ``batch_size`` fields at a time.

    Args:
        model: a Keras model emitting logits ``(B, P, C)``.
        inputs: the model's inputs, each with the fields on the first axis.
        batch_size: fields per chunk (>= 1).
        make_inputs: turns a chunk's ``(coordinates, features)`` into the model's inputs (a
            bundle's :meth:`~vl3d_focal.models.bundle.ModelBundle.model_inputs`: a hierarchy's
            index arrays are then built for one chunk at a time); None: ``inputs`` as they are.
        turns: N > 1 averages the outputs of every chunk turned by 360 / N degrees about the
            vertical axis (:func:`turned_coordinates` of the first input, the coordinates; the
            other inputs, a hierarchy's index arrays among them, built once: a turn about the
            vertical axis keeps every distance).
        softmax: apply a softmax over the last axis.
        verbose: ``model_handling.predict_verbose``: None shows the progress of predictions
            longer than a few seconds (:class:`~vl3d_focal.progress.Progress`), 0 none, any
            other value from the start.

    Returns:
        ``(M, P, C)`` float32 probabilities, equal to one call over all fields.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((2, 1)), keras.layers.Dense(3)])
        >>> predict_fields(model, (np.zeros((3, 2, 1), "float32"),), batch_size=1).sum(-1).round(5).tolist()
        [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    """
    total = int(inputs[0].shape[0])
    batch_size, turns = max(int(batch_size), 1), max(int(turns), 1)
    probabilities = inference_function(model, softmax=softmax)
    chunks = []
    quiet: dict[int | str | None, float] = {None: 3.0, 0: math.inf}
    quiet_s = quiet.get(verbose, 0.0)  # predict_verbose 1, 2 or 'auto': shown at once
    with Progress("prediction", total=total, unit="fields", quiet_s=quiet_s) as progress:
        for start in range(0, total, batch_size):
            chunk = [np.asarray(array[start : start + batch_size]) for array in inputs]
            if make_inputs is not None:
                chunk = make_inputs(*chunk)
            chunk = [np.asarray(array, dtype=tensor.dtype) for array, tensor in zip(chunk, model.inputs)]
            chunks.append(_mean_over_turns(probabilities, chunk, turns=turns))
            progress.update(min(start + batch_size, total))
    if not chunks:
        return np.zeros((0,) + tuple(int(d) for d in model.output.shape[1:]), dtype=np.float32)
    return np.concatenate(chunks, axis=0)


def turned_coordinates(coordinates: np.ndarray, *, turn: int, turns: int) -> np.ndarray:
    """Field coordinates ``(M, P, 3)`` turned about the vertical axis by ``turn * 360 / turns``
    degrees (around each field's centre, their origin); quarter turns are exact.

    Example:
        >>> turned_coordinates(np.array([[[1.0, 2.0, 3.0]]], "float32"), turn=1, turns=4).tolist()
        [[[-2.0, 1.0, 3.0]]]
    """
    if turn % turns == 0:
        return coordinates
    out = np.array(coordinates, dtype=np.float32, copy=True)
    x, y = coordinates[..., 0], coordinates[..., 1]
    quarters, remainder = divmod(4 * turn, turns)
    if remainder == 0:  # a multiple of 90 degrees: swaps and signs, no rounding
        out[..., 0], out[..., 1] = [(x, y), (-y, x), (-x, -y), (y, -x)][quarters % 4]
        return out
    angle = 2.0 * math.pi * turn / turns
    cos, sin = math.cos(angle), math.sin(angle)
    out[..., 0] = cos * x.astype(np.float64) - sin * y
    out[..., 1] = sin * x.astype(np.float64) + cos * y
    return out


def field_probabilities(
    bundle: ModelBundle, coordinates: np.ndarray, features: np.ndarray, *, outputs: Any = None
) -> np.ndarray:
    """``(M, P, C)`` probabilities of fields under a bundle's model, with its prediction settings:
    batch size, the model's inputs and, with ``predict_rotations`` N > 1, the mean of the N
    predictions of the fields turned by 360 / N degrees about the vertical axis (test-time
    augmentation: the same fields, features and hierarchy, the network run N times).
    ``outputs``: another model of the same inputs whose outputs are taken as they are, with the
    same settings, instead (:mod:`~vl3d_focal.inference.activations`).

    Example:
        >>> fields = np.zeros((2, 48, 3), "float32"), np.zeros((2, 48, 1), "float32")
        >>> field_probabilities(bundle, *fields).shape
        (2, 48, 5)
    """
    return predict_fields(
        bundle.model if outputs is None else outputs,
        (coordinates, features),
        batch_size=bundle.predict_batch_size,
        make_inputs=bundle.model_inputs,
        turns=bundle.predict_rotations,
        softmax=outputs is None,
        verbose=bundle.predict_verbose,
    )


def _mean_over_turns(outputs: Callable[..., Any], inputs: list[np.ndarray], *, turns: int) -> np.ndarray:
    """The mean of ``outputs`` over ``turns`` turns of ``inputs[0]`` (the coordinates) about the
    vertical axis, the other inputs as they are."""
    total = np.array(outputs(*inputs), dtype=np.float32)  # a copy of its own: the turns are added to it
    for turn in range(1, turns):
        total += np.asarray(outputs(turned_coordinates(inputs[0], turn=turn, turns=turns), *inputs[1:]), np.float32)
    return total / np.float32(turns) if turns > 1 else total
