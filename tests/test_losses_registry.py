"""The built-in loss registry entries (schemas, metadata, builds), registry errors, and
plugin discovery through fake entry points."""

from __future__ import annotations

import sys
import types
from importlib.metadata import EntryPoint

import jsonschema
import keras
import numpy as np
import pytest
from referencing import Registry as SchemaRegistry
from referencing import Resource

import vl3d_focal.losses  # noqa: F401  (registers the built-ins)
from vl3d_focal import plugins
from vl3d_focal.errors import RegistryError
from vl3d_focal.losses import (
    ClassWeightedFocalCategoricalCrossentropy,
    LossArgumentError,
    MultiCategoryFocalCrossentropy,
)
from vl3d_focal.registry import LOSSES, Registry, RegistryEntry

BUILT_INS = {
    "class_weighted_focal_categorical_crossentropy": ("sparse", True),
    "class_weighted_categorical_crossentropy": ("sparse", True),
    "categorical_focal_crossentropy": ("one_hot", False),
    "categorical_crossentropy": ("one_hot", False),
    "sparse_categorical_crossentropy": ("sparse", False),
    "multi_category_focal_crossentropy": ("one_hot", True),
}
# stand-in for the SPEC helper's shared definition, so $ref resolves here
CLASS_WEIGHT_STANDIN = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "class_weight.schema.json",
    "anyOf": [{"type": "null"}, {"type": "string"}, {"type": "array", "items": {"type": "number"}}, {"type": "object"}],
}


def _validator(schema):
    resources = SchemaRegistry().with_resource("class_weight.schema.json", Resource.from_contents(CLASS_WEIGHT_STANDIN))
    return jsonschema.Draft202012Validator(schema, registry=resources)


def test_every_built_in_is_registered_with_metadata_and_schema():
    assert set(BUILT_INS) <= set(LOSSES.names())
    for name, (label_format, takes_class_weight) in BUILT_INS.items():
        entry = LOSSES.get(name)
        assert entry.metadata == {"label_format": label_format, "takes_class_weight": takes_class_weight}
        schema = entry.schema
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["additionalProperties"] is False and schema["required"] == ["function"]
        assert schema["properties"]["function"] == {
            "const": name,
            "description": schema["properties"]["function"]["description"],
        }
        assert "reduction" in schema["properties"]
        for prop, body in schema["properties"].items():
            assert body.get("description"), (name, prop)
            if prop not in ("function", "from_logits"):  # from_logits: the model's output decides
                assert "default" in body, (name, prop)
        assert ("class_weight" in schema["properties"]) == takes_class_weight
        if takes_class_weight:
            assert schema["properties"]["class_weight"]["$ref"] == "class_weight.schema.json"
        assert entry.description


def test_schemas_accept_good_and_refuse_typos():
    validator = _validator(LOSSES.get("class_weighted_focal_categorical_crossentropy").schema)
    good = {
        "function": "class_weighted_focal_categorical_crossentropy",
        "gamma": 2.0,
        "class_weight": "balanced",
        "reduction": None,
        "ignore_class": -1,
    }
    assert not list(validator.iter_errors(good))
    errors = [e.message for e in validator.iter_errors({**good, "gama": 2.0, "gamma": -1})]
    assert any("gama" in m for m in errors) and any("-1" in m for m in errors)


def test_building_each_built_in_from_a_spec_dict():
    built = {name: LOSSES.build({"function": name, "reduction": "sum"}, num_classes=3) for name in BUILT_INS}
    for name, loss in built.items():
        assert isinstance(loss, keras.losses.Loss), name
        assert loss.reduction == "sum"
    focal = LOSSES.build(
        {
            "function": "class_weighted_focal_categorical_crossentropy",
            "gamma": 2.0,
            "class_weight": [1.0, 2.0, 3.0],
            "_note": "comment",
        },
        num_classes=3,
        ignore_class=-1,
    )
    assert isinstance(focal, ClassWeightedFocalCategoricalCrossentropy)
    assert focal.class_weight == (1.0, 2.0, 3.0) and focal.ignore_class == -1
    assert focal.from_logits is False  # the loss class's default: LOSSES.build adds none
    ce = LOSSES.build({"function": "class_weighted_categorical_crossentropy"}, class_weight=[1, 2])
    assert ce.gamma == 0.0 and ce.class_weight == (1.0, 2.0)
    # default args the builder does not take are not passed
    LOSSES.build({"function": "categorical_crossentropy"}, class_weight=[1.0, 2.0])
    with pytest.raises(LossArgumentError, match=r"expected 4 values .*received 3"):
        LOSSES.build(
            {"function": "class_weighted_focal_categorical_crossentropy", "class_weight": [1, 2, 3]}, num_classes=4
        )


def test_registry_builds_equal_the_loss_classes_with_their_defaults():
    labels = np.array([[0, 2, 1]])
    probabilities = np.array([[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]]], dtype="float32")
    weights = [1.0, 2.0, 3.0]
    focal = LOSSES.build(
        {"function": "class_weighted_focal_categorical_crossentropy", "class_weight": weights}, num_classes=3
    )
    np.testing.assert_allclose(
        float(focal(labels, probabilities)),
        float(ClassWeightedFocalCategoricalCrossentropy(class_weight=weights)(labels, probabilities)),
        rtol=1e-6,
    )
    one_vs_all = LOSSES.build({"function": "multi_category_focal_crossentropy", "class_weight": weights}, num_classes=3)
    one_hot = np.eye(3, dtype="float32")[labels]
    np.testing.assert_allclose(
        float(one_vs_all(one_hot, probabilities)),
        float(MultiCategoryFocalCrossentropy(class_weight=weights)(one_hot, probabilities)),
        rtol=1e-6,
    )


def test_unknown_name_lists_known_names_and_closest_match():
    with pytest.raises(RegistryError) as info:
        LOSSES.build({"function": "class_weighted_focal_categorical_crossentropi"})
    message = str(info.value)
    assert "did you mean 'class_weighted_focal_categorical_crossentropy'" in message
    for name in BUILT_INS:
        assert name in message


def _entry(name, origin="tests.fake"):
    return RegistryEntry(
        name=name,
        builder=lambda: None,
        schema={"type": "object"},
        metadata={"label_format": "sparse", "takes_class_weight": False},
        origin=origin,
    )


def test_duplicate_refused_naming_existing_origin_unless_forced():
    with pytest.raises(RegistryError, match="class_weighted_entries"):
        LOSSES.register(_entry("class_weighted_focal_categorical_crossentropy"))
    registry = Registry(kind="loss", key="function")
    registry.register(_entry("x", origin="first.place"))
    with pytest.raises(RegistryError, match="first.place"):
        registry.register(_entry("x", origin="second.place"))
    registry.register(_entry("x", origin="second.place"), force=True)
    assert registry.get("x").origin == "second.place"


@pytest.fixture
def fake_plugins(monkeypatch):
    module = types.ModuleType("fake_vl3d_plugin")
    module.GOOD = _entry("plugin_loss", origin="fake_vl3d_plugin.GOOD")
    module.NOT_AN_ENTRY = object()
    monkeypatch.setitem(sys.modules, "fake_vl3d_plugin", module)
    points = [
        EntryPoint(name="broken", value="fake_vl3d_plugin:MISSING", group="vl3d_focal.losses"),
        EntryPoint(name="wrong_type", value="fake_vl3d_plugin:NOT_AN_ENTRY", group="vl3d_focal.losses"),
        EntryPoint(name="good", value="fake_vl3d_plugin:GOOD", group="vl3d_focal.losses"),
    ]
    monkeypatch.setattr(plugins, "_installed", lambda group: points)
    monkeypatch.delenv(plugins.DISABLE_VARIABLE, raising=False)
    return points


def test_plugins_register_and_broken_ones_warn_by_name(fake_plugins):
    registry = Registry(kind="loss", key="function", entry_point_group="vl3d_focal.losses")
    with pytest.warns(RuntimeWarning) as caught:
        names = registry.names()
    assert "plugin_loss" in names
    messages = " ".join(str(w.message) for w in caught)
    assert "'broken'" in messages and "'wrong_type'" in messages
    assert registry.get("plugin_loss").origin == "fake_vl3d_plugin.GOOD"


def test_plugins_can_be_disabled(fake_plugins, monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_VARIABLE, "1")
    registry = Registry(kind="loss", key="function", entry_point_group="vl3d_focal.losses")
    assert registry.names() == []
    with pytest.raises(RegistryError, match="unknown loss 'plugin_loss'"):
        registry.get("plugin_loss")
