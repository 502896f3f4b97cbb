"""The registry entries wrapping Keras' own losses build the Keras losses asked for."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from vl3d_focal.losses import LossArgumentError
from vl3d_focal.registry import LOSSES

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(2, 5, 3)).astype(np.float32)
LABELS = RNG.integers(0, 3, size=(2, 5))
ONEHOT = np.eye(3, dtype=np.float32)[LABELS]


def test_categorical_focal_crossentropy_is_keras():
    loss = LOSSES.build(
        {
            "function": "categorical_focal_crossentropy",
            "alpha": [0.2, 0.3, 0.5],
            "gamma": 1.0,
            "reduction": "sum",
            "from_logits": True,
        },
        num_classes=3,
    )
    assert isinstance(loss, keras.losses.CategoricalFocalCrossentropy)
    want = keras.losses.CategoricalFocalCrossentropy(
        alpha=[0.2, 0.3, 0.5], gamma=1.0, from_logits=True, reduction="sum"
    )
    np.testing.assert_allclose(loss(ONEHOT, LOGITS), want(ONEHOT, LOGITS), rtol=1e-6)
    with pytest.raises(LossArgumentError, match="expected 4, received 3"):
        LOSSES.build({"function": "categorical_focal_crossentropy", "alpha": [1, 1, 1]}, num_classes=4)


def test_categorical_crossentropy_is_keras():
    loss = LOSSES.build({"function": "categorical_crossentropy", "label_smoothing": 0.1, "from_logits": True})
    want = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    np.testing.assert_allclose(loss(ONEHOT, LOGITS), want(ONEHOT, LOGITS), rtol=1e-6)


def test_sparse_categorical_crossentropy_supports_ignore_class():
    labels = LABELS.copy()
    labels[0, :3] = -1
    loss = LOSSES.build(
        {"function": "sparse_categorical_crossentropy", "ignore_class": -1, "reduction": None, "from_logits": True}
    )
    got = loss(labels, LOGITS).numpy()
    assert np.all(got[0, :3] == 0.0) and np.all(got[0, 3:] > 0)
    full = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(LABELS, LOGITS)
    np.testing.assert_allclose(got[1], full[1], rtol=1e-6)


def test_keras_wrappers_refuse_bad_arguments_with_our_errors():
    with pytest.raises(LossArgumentError, match="reduction"):
        LOSSES.build({"function": "categorical_crossentropy", "reduction": "class_weighted_mean"})
    with pytest.raises(LossArgumentError, match="from_logits"):
        LOSSES.build({"function": "sparse_categorical_crossentropy", "from_logits": "yes"})
