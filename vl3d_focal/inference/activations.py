"""Point-wise outputs and hidden activations of a model on a cloud (VL3D's ``DLModelEvaluator``).

The outputs are the softmax probabilities; the activations are the input of the model's last
layer (for PointNet, the ``num_pwise_feats`` features of each point before the logits). Both
are computed on the cloud's receptive fields and averaged onto every point like the
predictions (:mod:`vl3d_focal.data.propagation`). The cloud is held in memory (its fields
and one ``(N, K)`` array of activations), as VL3D's evaluator does.

:func:`anova` scores each activation against the reference classes with a one-way ANOVA
(the F statistic of the classes' means and its p-value), as VL3D's ``_ANOVA.csv`` report.

Example:
    >>> f, p = anova(np.array([[0.0], [0.1], [5.0], [5.1]]), np.array([0, 0, 1, 1]))
    >>> round(float(f[0])), bool(p[0] < 1e-3)
    (5000, True)
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
from scipy import stats

from vl3d_focal.data.model_view import ModelView
from vl3d_focal.data.propagation import propagate
from vl3d_focal.inference.network import field_probabilities
from vl3d_focal.inference.prediction import bundle_view, model_field_inputs
from vl3d_focal.models.bundle import ModelBundle

logger = logging.getLogger(__name__)


def _probabilities_and_activations(model: Any) -> Any:
    """The model's softmax probabilities and its last layer's input, side by side on the last axis."""
    last = model.layers[-1].input
    hidden = last[0] if isinstance(last, (list, tuple)) else last
    probabilities = keras.layers.Softmax(axis=-1)(model.outputs[0])
    both = keras.layers.Concatenate(axis=-1)([probabilities, hidden])
    return keras.Model(inputs=model.inputs, outputs=both, name="probabilities_and_activations")


def pointwise_outputs(record: Any, bundle: ModelBundle) -> tuple[np.ndarray, np.ndarray]:
    """``(N, C)`` softmax probabilities and ``(N, K)`` activations (the input of the model's last
    layer) of every point of a cloud, averaged over the fields holding it (points in no field:
    their nearest covered point's). The fields, features (mined ones included, imputed) and prediction
    settings are the model's own: the probabilities are those a predict step of the model gives
    a cloud held in memory.

    Example:
        >>> probabilities, activations = pointwise_outputs(record, bundle)
        >>> probabilities.shape, activations.shape
        ((1531, 5), (1531, 8))
    """
    view = bundle_view(record, bundle)
    inputs = model_field_inputs(view, bundle)
    outputs = field_probabilities(bundle, *inputs.as_inputs(), outputs=_probabilities_and_activations(bundle.model))
    values = propagate(outputs, inputs.fields, view.num_points, xyz=view.cloud.xyz)
    if view is not record and isinstance(view, ModelView):  # imputers: left-out points take the nearest kept one's
        values = view.all_points(values)
    probabilities, hidden = np.split(values, [bundle.num_classes], axis=1)
    logger.info(
        "%s: outputs (%d classes) and %d activations of %d points",
        record.path.name,
        probabilities.shape[1],
        hidden.shape[1],
        record.num_points,
    )
    return probabilities, hidden


def anova(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-way ANOVA of each column of ``values`` between the classes of ``labels`` (>= 0 only).

    Returns:
        ``(F, p)`` per column; NaN where undefined (one class, or no spread within classes).

    Example:
        >>> anova(np.ones((4, 1)), np.array([0, 0, 1, 1]))[0].tolist()
        [nan]
    """
    keep = np.asarray(labels) >= 0
    x, y = np.asarray(values, dtype=np.float64)[keep], np.asarray(labels)[keep]
    classes = np.unique(y)
    n, k = len(y), len(classes)
    if k < 2 or n <= k:
        return np.full(x.shape[1], np.nan), np.full(x.shape[1], np.nan)
    mean = x.mean(axis=0)
    between = np.zeros(x.shape[1])
    within = np.zeros(x.shape[1])
    for c in classes:
        part = x[y == c]
        between += len(part) * (part.mean(axis=0) - mean) ** 2
        within += ((part - part.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(within > 0, (between / (k - 1)) / (within / (n - k)), np.nan)
    return f, stats.f.sf(f, k - 1, n - k)
