"""The initializer names validation accepts (:data:`vl3d_focal.models.initializer_names.KERAS_INITIALIZERS`,
kept without Keras) are those the installed Keras's ``keras.initializers.get`` accepts: a Keras
upgrade that adds, renames or removes one fails here rather than a user's build after validation."""

from __future__ import annotations

import keras
import pytest
from keras.src.initializers import ALL_OBJECTS_DICT  # every name keras.initializers.get looks up

from vl3d_focal.models.initializer_names import KERAS_INITIALIZERS

REFUSED_AT_THE_BUILD = {"Initializer", "initializer"}
"""Names ``keras.initializers.get`` takes whose initializer fails when the build calls it (the
abstract base class): validation refuses them."""


def _accepted(name: str) -> bool:
    try:
        keras.initializers.get(name)
    except Exception:  # Constant: KeyError 'value' (it needs a value); an unknown name: ValueError
        return False
    return True


def test_the_static_names_are_those_keras_initializers_get_accepts():
    public = {name for name in dir(keras.initializers) if not name.startswith("_")} - {
        "deserialize",
        "get",
        "serialize",
    }
    known = set(ALL_OBJECTS_DICT) | public
    assert len(KERAS_INITIALIZERS) == len(set(KERAS_INITIALIZERS))
    assert set(KERAS_INITIALIZERS) == {name for name in known if _accepted(name)} - REFUSED_AT_THE_BUILD
    assert not _accepted("constant") and not _accepted("glorot_unifrom") and not _accepted("GLOROT_UNIFORM")


@pytest.mark.parametrize("name", sorted(REFUSED_AT_THE_BUILD))
def test_the_names_left_out_fail_when_the_build_calls_them(name):
    with pytest.raises(NotImplementedError):
        keras.initializers.get(name)((3, 4))


@pytest.mark.parametrize("name", KERAS_INITIALIZERS)
def test_each_name_gives_a_keras_initializer(name):
    assert isinstance(keras.initializers.get(name), keras.initializers.Initializer)
