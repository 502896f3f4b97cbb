"""Chunked prediction over receptive fields and the ``predict`` step.

Fields are fed to the model ``batch_size`` at a time (big clouds never hold every field's
activations at once), turned into probabilities with a softmax, and propagated back to every
original point (averaged over the fields containing it; points in no field take their nearest
neighbour's).

Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 3)), keras.layers.Dense(2)])
    >>> probs = predict_fields(model, (np.ones((5, 4, 3), "float32"),), batch_size=2)
    >>> probs.shape
    (5, 4, 2)
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np

from vl3d_focal.steps.fields import field_inputs
from vl3d_focal.steps.state import ModelBundle, PipelineState

logger = logging.getLogger(__name__)


def predict_fields(model: Any, inputs: Sequence[np.ndarray], *, batch_size: int) -> np.ndarray:
    """Softmax probabilities of every field, computed ``batch_size`` fields at a time.

    Args:
        model: a Keras model emitting logits ``(B, P, C)``.
        inputs: the model's inputs, each with the fields on the first axis.
        batch_size: fields per chunk (>= 1).

    Returns:
        ``(M, P, C)`` float32 probabilities, equal to one call over all fields.

    Example:
        >>> model = keras.Sequential([keras.Input((2, 1)), keras.layers.Dense(3)])
        >>> predict_fields(model, (np.zeros((3, 2, 1), "float32"),), batch_size=1).sum(-1).round(5).tolist()
        [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]
    """
    total = int(inputs[0].shape[0])
    batch_size = max(int(batch_size), 1)
    chunks = []
    step_log = max(total // 10, 1)
    next_log = step_log
    for start in range(0, total, batch_size):
        chunk = [np.asarray(array[start:start + batch_size]) for array in inputs]
        logits = model(chunk if len(chunk) > 1 else chunk[0], training=False)
        chunks.append(keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1)).astype(np.float32))
        done = min(start + batch_size, total)
        if done >= next_log or done == total:
            logger.debug("predicted %d/%d fields", done, total)
            next_log = done + step_log
    if not chunks:
        return np.zeros((0,) + tuple(int(d) for d in model.output.shape[1:]), dtype=np.float32)
    return np.concatenate(chunks, axis=0)


def _previous_model(step: Mapping[str, Any], state: PipelineState) -> ModelBundle:
    return state.require_bundle(step="predict")


def _model_loader(step: Mapping[str, Any], state: PipelineState) -> ModelBundle:
    from vl3d_focal.steps.model_file import load_bundle

    return load_bundle(step["model_path"])


MODEL_SOURCES: dict[str, Callable[[Mapping[str, Any], PipelineState], ModelBundle]] = {
    "PreviousModel": _previous_model,
    "ModelLoader": _model_loader,
}
"""Where a ``predict`` step takes its model from, by the step's ``predict`` value."""


def predict_cloud(record: Any, bundle: ModelBundle) -> None:
    """Predicts class probabilities and classes of every point of one cloud.

    Sets ``record.probabilities`` ``(N, C)`` and ``record.predictions`` ``(N,)``.

    Example:
        >>> predict_cloud(state.clouds[0], state.bundle)       # doctest: +SKIP
    """
    from vl3d_focal.data.propagation import propagate

    start = time.perf_counter()
    inputs = field_inputs(record, field_spec=bundle.field_spec, seed=bundle.random_seed,
                          feature_names=bundle.feature_names, normalizer=bundle.normalizer)
    probabilities = predict_fields(bundle.model, inputs.as_inputs(), batch_size=bundle.predict_batch_size)
    record.probabilities = np.asarray(propagate(probabilities, inputs.fields, record.num_points, xyz=record.cloud.xyz), dtype=np.float32)
    record.predictions = np.argmax(record.probabilities, axis=1).astype(np.int64)
    logger.info("%s: predicted %d points from %d fields (%.1f s)", record.path.name,
                record.num_points, len(inputs.coordinates), time.perf_counter() - start)


def run_predict(step: Mapping[str, Any], state: PipelineState) -> None:
    """The ``predict`` step: applies the previous or a loaded model to every input cloud.

    Example:
        >>> run_predict({"predict": "ModelLoader", "model_path": "out/model.keras"}, state)  # doctest: +SKIP
    """
    state.bundle = MODEL_SOURCES[step["predict"]](step, state)
    for record in state.clouds:
        predict_cloud(record, state.bundle)
