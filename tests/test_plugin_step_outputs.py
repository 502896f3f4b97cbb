"""A third-party step's ``outputs`` callable: the one-argument form of older plugins,
``outputs(step)``, is wrapped once at registration (with a FutureWarning) and its files
are declared; a callable that takes neither form is refused when it registers."""

from __future__ import annotations

import sys
import types
import warnings
from importlib.metadata import EntryPoint

import pytest

from vl3d_focal import plugins
from vl3d_focal.config.loading import validate_spec
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.errors import RegistryError
from vl3d_focal.registry import STEPS, Registry, placed_outputs
from vl3d_focal.runner.outputs import declared_outputs
from vl3d_focal.steps.definition import step_entry

NOTES = "*notes/plugin.txt"


def _entry(name: str, outputs) -> object:
    return step_entry(
        kind="writer",
        name=name,
        handler="builtins:print",
        schema=closed_object(
            {"writer": {"const": name, "description": "A plugin's writer."}},
            required=["writer"],
            description="Writes the plugin's notes.",
        ),
        outputs=outputs,
    )


def _old_outputs(step):  # the plugin API before StepPlace
    return [("model", NOTES)]


@pytest.fixture
def steps(monkeypatch):
    """``STEPS`` with the built-ins loaded; what a test registers is dropped after it."""
    STEPS.names()
    monkeypatch.setattr(STEPS, "_entries", dict(STEPS._entries))
    return STEPS


def _spec(*steps: dict) -> dict:
    return {"in_pcloud": ["a.las"], "out_pcloud": ["o/"], "sequential_pipeline": list(steps)}


def test_an_old_style_step_is_wrapped_once_and_its_files_are_declared(steps):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        steps.register(_entry("OldNotesWriter", _old_outputs))
        spec = _spec({"writer": "OldNotesWriter"})
        assert validate_spec(spec, check_files=False) == []
        assert [(scope, path) for scope, path, _ in declared_outputs(spec)] == [("model", NOTES)]
        assert [(scope, path) for scope, path, _ in declared_outputs(spec)] == [("model", NOTES)]
    deprecated = [w for w in caught if issubclass(w.category, FutureWarning)]
    assert len(deprecated) == 1  # at registration, not at each call
    assert "'OldNotesWriter'" in str(deprecated[0].message) and "accept (step, place)" in str(deprecated[0].message)
    assert deprecated[0].filename == __file__  # points at the registering line
    # declared: a later step writing the same file clashes with it
    clash = _spec({"writer": "OldNotesWriter"}, {"writer": "OldNotesWriter"})
    issues = validate_spec(clash, check_files=False)
    assert [issue.path for issue in issues] == ["$.sequential_pipeline[1]"]
    assert "o/notes/plugin.txt is also written by" in issues[0].message


def test_a_two_argument_or_defaulted_callable_registers_unchanged_and_silently(steps):
    def placed(step, place):
        return [("cloud", f"*notes/{place.ordinal}.txt")]

    def defaulted(step, place=None, *, extra=0):
        return []

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, outputs in (("PlacedWriter", placed), ("DefaultedWriter", defaulted)):
            assert steps.register(_entry(name, outputs)).metadata["outputs"] is outputs


@pytest.mark.parametrize(
    ("outputs", "takes"),
    [(lambda: [], "()"), (lambda step, place, more: [], "(step, place, more)"), ("*notes.txt", None)],
)
def test_a_callable_of_neither_form_is_refused_in_one_line(steps, outputs, takes):
    with pytest.raises(RegistryError) as refused:
        steps.register(_entry("BadWriter", outputs))
    message = str(refused.value)
    assert "\n" not in message and message.startswith("step 'BadWriter' (")
    assert "(step, place)" in message
    if takes is not None:
        assert message.endswith(f"it takes {takes}")
    assert STEPS.find("BadWriter") is None


def test_plugins_from_entry_points_are_adapted_and_bad_ones_skipped_by_name(monkeypatch):
    module = types.ModuleType("fake_vl3d_step_plugin")
    module.OLD = _entry("OldPluginWriter", _old_outputs)
    module.BAD = _entry("BadPluginWriter", lambda: [])
    monkeypatch.setitem(sys.modules, "fake_vl3d_step_plugin", module)
    points = [
        EntryPoint(name=name, value=f"fake_vl3d_step_plugin:{name.upper()}", group="vl3d_focal.steps")
        for name in ("old", "bad")
    ]
    monkeypatch.setattr(plugins, "_installed", lambda group: points)
    monkeypatch.delenv(plugins.DISABLE_VARIABLE, raising=False)
    registry = Registry(kind="step", key=None, entry_point_group="vl3d_focal.steps", adapt=placed_outputs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert registry.names() == ["OldPluginWriter"]
    skipped = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(skipped) == 1 and "plugin skipped: step 'BadPluginWriter'" in skipped[0]
    assert sum(issubclass(w.category, FutureWarning) for w in caught) == 1
    assert registry.get("OldPluginWriter").metadata["outputs"]({"writer": "OldPluginWriter"}, None) == [
        ("model", NOTES)
    ]
