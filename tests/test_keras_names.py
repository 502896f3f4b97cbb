"""The regularizer, constraint and activation names validation accepts
(:mod:`vl3d_focal.models.keras_names`, kept without Keras) are those the installed Keras's
``keras.<kind>.get`` accepts and its layers can use: a Keras upgrade that adds, renames or removes
one fails here rather than a user's build after validation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.src.activations import ALL_OBJECTS_DICT as ACTIVATIONS
from keras.src.constraints import ALL_OBJECTS_DICT as CONSTRAINTS
from keras.src.regularizers import ALL_OBJECTS_DICT as REGULARIZERS

from vl3d_focal.models.keras_names import KERAS_ACTIVATIONS, KERAS_CONSTRAINTS, KERAS_REGULARIZERS

WEIGHTS = np.arange(12, dtype="float32").reshape(3, 4) / 10.0


def _works(get, name: str) -> bool:
    """Whether ``get(name)`` gives an object that takes a weight matrix alone (as a layer calls it)."""
    try:
        get(name)(keras.ops.convert_to_tensor(WEIGHTS))
    except Exception:  # an unknown name: ValueError; threshold: TypeError (it needs two more arguments)
        return False
    return True


def _known(module, table) -> set[str]:
    public = {name for name in dir(module) if not name.startswith("_")} - {"deserialize", "get", "serialize"}
    return set(table) | public


@pytest.mark.parametrize(
    ("static", "module", "table"),
    [
        (KERAS_REGULARIZERS, keras.regularizers, REGULARIZERS),
        (KERAS_CONSTRAINTS, keras.constraints, CONSTRAINTS),
        (KERAS_ACTIVATIONS, keras.activations, ACTIVATIONS),
    ],
)
def test_the_static_names_are_those_keras_accepts_and_can_use(static, module, table):
    assert len(static) == len(set(static))
    assert set(static) == {name for name in _known(module, table) if _works(module.get, name)}


def test_the_names_left_out_are_refused_by_keras_or_fail_when_called():
    with pytest.raises(ValueError):
        keras.regularizers.get("l1_l2")
    with pytest.raises(TypeError):
        keras.activations.get("threshold")(keras.ops.convert_to_tensor(WEIGHTS))
    assert not _works(keras.activations.get, "ReLU") and not _works(keras.constraints.get, "nonneg")
