"""What identifies a spec's run (its fingerprint, :mod:`vl3d_focal.runner.manifest`), whether two
specs are the same run (:func:`same_spec`: a key whose value is null counts as absent), and where
two specs differ, in a few words: what a refused run's message says changed, and whether they
differ only in the train steps' ``training_epochs`` (:func:`epochs_only_changes`: ``--resume``
continues such a run).

Example:
    >>> spec_changes({"epochs": 300}, {"epochs": 140})
    ['$.epochs: 300 -> 140']
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from vl3d_focal.io.json_identity import without_nulls

HOW_IT_RUNS = ("executor",)
"""Top-level keys that choose how a run is executed, not what it computes: not in the fingerprint."""


def spec_fingerprint(spec: Mapping[str, Any]) -> str:
    """A short hash of a normalised spec (paths absolute, defaults filled): the run's identity.
    How the run is executed (:data:`HOW_IT_RUNS`: workers, scheduler) is not part of it.

    Example:
        >>> spec = {"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": []}
        >>> spec_fingerprint(spec) == spec_fingerprint({**spec, "executor": {"workers": 2}})
        True
    """
    text = json.dumps(spec_identity(spec), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def spec_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What a spec computes, as plain JSON: the spec without :data:`HOW_IT_RUNS` (its fingerprint's text).

    Example:
        >>> spec_identity({"out_pcloud": ["o/"], "executor": {"workers": 2}})
        {'out_pcloud': ['o/']}
    """
    return json.loads(json.dumps({key: value for key, value in spec.items() if key not in HOW_IT_RUNS}, default=str))


def same_spec(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether two spec identities (:func:`spec_identity`; ``old`` None: not recorded) are the same
    run: equal once their null-valued keys are dropped (:func:`~vl3d_focal.io.json_identity.without_nulls`),
    so an optional key that the package added since, with a null default, changes nothing.

    Example:
        >>> same_spec({"pre_processing": {"cell": 2}}, {"pre_processing": {"cell": 2, "fields_dir": None}})
        True
        >>> same_spec({"pre_processing": {"cell": 2}}, {"pre_processing": {"cell": 3}}), same_spec(None, {})
        (False, False)
    """
    return old is not None and without_nulls(old) == without_nulls(new)


def spec_changes(old: Any, new: Any, *, at: str = "$", limit: int = 3) -> list[str]:
    """The first ``limit`` places where two specs differ, with both values.

    Example:
        >>> spec_changes({"a": [{"epochs": 300}], "b": 1}, {"a": [{"epochs": 140}], "b": 1})
        ['$.a[0].epochs: 300 -> 140']
    """
    if isinstance(old, list) and isinstance(new, list) and len(old) != len(new):
        return [f"{at}: {len(old)} entries -> {len(new)}"]
    if isinstance(old, dict) and isinstance(new, dict):
        pairs = [(f"{at}.{key}", old.get(key), new.get(key)) for key in sorted(set(old) | set(new), key=str)]
    elif isinstance(old, list) and isinstance(new, list):
        pairs = [(f"{at}[{index}]", a, b) for index, (a, b) in enumerate(zip(old, new))]
    else:
        pairs = []
    found: list[str] = []
    for place, a, b in pairs:
        found += spec_changes(a, b, at=place, limit=limit - len(found))
        if len(found) >= limit:
            return found[:limit]
    return found if pairs or old == new else [f"{at}: {shortened_json(old)} -> {shortened_json(new)}"]


def epochs_only_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """How two spec identities (:func:`spec_identity`) differ when they differ only in the
    ``model_args.model_handling.training_epochs`` of train steps (a longer or shorter training,
    which ``--resume`` continues from its checkpoint), else [] (the same, or other differences).

    Example:
        >>> def spec(epochs, gamma=2.0):
        ...     handling = {"training_epochs": epochs}
        ...     return {"sequential_pipeline": [{"train": "M", "model_args": {"model_handling": handling}, "gamma": gamma}]}
        >>> epochs_only_changes(spec(4), spec(5))
        ['$.sequential_pipeline[0].model_args.model_handling.training_epochs: 4 -> 5']
        >>> epochs_only_changes(spec(4), spec(5, gamma=1.0)), epochs_only_changes(spec(4), spec(4))
        ([], [])
    """
    if same_spec(old, new) or not same_spec(_without_training_epochs(old), _without_training_epochs(new)):
        return []
    return spec_changes(old, new, limit=len(new.get("sequential_pipeline") or []))


def _without_training_epochs(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a spec identity without its train steps' ``training_epochs``."""
    copied = copy.deepcopy(dict(spec))
    for step in copied.get("sequential_pipeline") or []:
        if "train" in step:
            step.get("model_args", {}).get("model_handling", {}).pop("training_epochs", None)
    return copied


def shortened_json(value: Any, *, width: int = 60) -> str:
    """``value`` as JSON in at most about ``width`` characters: a long string keeps its quotes,
    its start and its end around "..." (a file's name stays readable), anything else is cut.

    Example:
        >>> shortened_json("/work/shared/data/ign/a_very_long_folder_name/test_data_77060_627760_LA93_IGN69.laz")
        '"/work/shared/data/ign/..._data_77060_627760_LA93_IGN69.laz"'
        >>> shortened_json([1, 2]), shortened_json(list(range(40)), width=12)
        ('[1, 2]', '[0, 1, 2,...')
    """
    text = json.dumps(value)
    if len(text) <= width:
        return text
    if isinstance(value, str):
        inner, keep = text[1:-1], width - 5  # two quotes and "..."
        return f'"{inner[: keep * 2 // 5]}...{inner[len(inner) - (keep - keep * 2 // 5) :]}"'
    return text[: width - 3] + "..."
