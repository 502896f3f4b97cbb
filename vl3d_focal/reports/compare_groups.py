"""Seed repeats in ``vl3d-focal compare``: runs whose train steps are the same but for their
``random_seed`` (and output paths), scored on the same clouds with the same classes, are one
configuration; each configuration's mean and spread (sample standard deviation over its ``n``
scored runs) per score and per class, and which differences between configurations are findings.

A difference is a finding (coloured on the page, bold in Markdown) only when it exceeds the seed
spread of the two sides: ``|difference| > spread(a) + spread(b)`` (their mean ± sd do not
overlap), where a configuration's spread is its own standard deviation with two or more runs and
otherwise the pooled one (root mean variance) of the configurations of this comparison that have
repeats, and never less than :data:`RESOLUTION` (seeds that agree to the tables' last digit show
no finer spread). Two runs of one configuration differ by their seed alone: never a finding. Where no
configuration has repeats the spread is unknown and a difference is a finding only from
:data:`SINGLE_RUN_FLOOR` on. Averages over classes (mIoU, macro-F1) of runs that do not score the
same classes are never findings.

Example:
    >>> spread_stats([0.5, 0.7])
    {'mean': 0.6, 'sd': 0.1414, 'n': 2}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from vl3d_focal.wording import shortened

SINGLE_RUN_FLOOR = 0.01
"""The smallest difference called a finding where no configuration ran twice: above the
seed-to-seed change of one configuration measured on the demo (0.003-0.009 per-class IoU)."""
RESOLUTION = 0.001
"""The tables' last digit: the smallest spread a configuration is taken to have."""
AVERAGES = ("mIoU", "macro_F1")
"""The scores that average over the classes (they do not compare across class sets)."""
VALUE_CHARS = 32
"""The longest value a note on differing train steps shows."""
SEED = "random_seed"
LOSS = "loss"
SCORES = (("mIoU", "mIoU"), ("OA", "OA"), ("macro_F1", "macro F1"))
"""The scores compared: (key in a run's summary, label)."""
PER_CLASS = (("IoU", "IoU"), ("R", "recall"), ("F1", "F1"), ("P", "precision"))
"""The per-class scores compared: (key in a run's ``per_class``, label)."""


def spread_stats(values: Sequence[float | None]) -> dict[str, Any] | None:
    """``mean``, ``sd`` (sample standard deviation; None for one value) and ``n`` of the values
    that are not None, rounded to 4 digits; None where there is none.

    Example:
        >>> spread_stats([0.25, None]), spread_stats([None])
        ({'mean': 0.25, 'sd': None, 'n': 1}, None)
    """
    known = [float(v) for v in values if v is not None]
    if not known:
        return None
    mean = sum(known) / len(known)
    sd = math.sqrt(sum((v - mean) ** 2 for v in known) / (len(known) - 1)) if len(known) > 1 else None
    return {"mean": round(mean, 4), "sd": None if sd is None else round(sd, 4), "n": len(known)}


def configuration(step: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A train step without what does not make another configuration: its ``random_seed`` and its
    output paths (keys ending in ``_path``, ``_dir`` or starting with ``out_``; ``model_path`` is an input).

    Example:
        >>> configuration({"train": "X", "random_seed": 4, "model_args": {"model_handling": {
        ...     "checkpoint_path": "*m.keras", "training_epochs": 3}}})
        {'train': 'X', 'model_args': {'model_handling': {'training_epochs': 3}}}
    """
    if step is None:
        return None

    def kept(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {key: kept(item) for key, item in value.items() if not _is_output(str(key))}

    return {key: kept(value) for key, value in step.items() if key != SEED and not _is_output(str(key))}


def _is_output(key: str) -> bool:
    return key != "model_path" and (key.endswith(("_path", "_dir", "_paths")) or key.startswith("out_"))


def _leaves(value: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(value, Mapping) and value:
        return {key: item for name, sub in value.items() for key, item in _leaves(sub, (*path, str(name))).items()}
    return {path: value}


def setup_differences(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[str]:
    """The train-step keys besides the loss in which configuration ``b`` differs from ``a``:
    ``key old -> new`` (``-`` where a side lacks it).

    Example:
        >>> setup_differences({"lr": 0.003, "loss": {"function": "ce"}, "h": {"epochs": 30}},
        ...                   {"lr": 0.01, "loss": {"function": "focal"}, "h": {"epochs": 5}})
        ['lr 0.003 -> 0.01', 'epochs 30 -> 5']
        >>> setup_differences({"class_names": ["a", "b", "c"]}, {"class_names": ["a", "bc"]})
        ['class_names -b -c +bc']
    """
    old, new = _leaves(a or {}), _leaves(b or {})
    keys = [key for key in [*old, *(k for k in new if k not in old)] if LOSS not in key]
    changed = [key for key in keys if old.get(key) != new.get(key)]
    leaves = [key[-1] for key in changed]

    def value(side: Mapping[tuple[str, ...], Any], key: tuple[str, ...]) -> str:
        if key not in side:
            return "-"
        text = f"{side[key]:g}" if isinstance(side[key], (int, float)) else json.dumps(side[key])
        return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"

    def change(key: tuple[str, ...]) -> str:
        before, after = old.get(key), new.get(key)
        if isinstance(before, list) and isinstance(after, list):  # what left and what came
            moved = [f"-{v}" for v in before if v not in after] + [f"+{v}" for v in after if v not in before]
            return " ".join(moved) if moved else f"{value(old, key)} -> {value(new, key)}"
        return f"{value(old, key)} -> {value(new, key)}"

    return [f"{key[-1] if leaves.count(key[-1]) == 1 else '.'.join(key)} {change(key)}" for key in changed]


def group_runs(runs: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """The configurations of ``runs`` (``keys``: each run's configuration, as text; a run of its
    own where empty), in the order of their first run: ``name`` (its runs joined by ``+``),
    ``runs``, ``seeds``, ``n`` (scored runs), the first run's loss set-up, the ``scores`` and
    ``per_class`` values' :func:`spread_stats` (``support``: points scored, as the mean).

    Example:
        >>> runs = [{"name": n, "seed": s, "loss": "f", "gamma": 2.0, "class_weight": None, "mIoU": v, "OA": v,
        ...          "macro_F1": v, "per_class": {}} for n, s, v in (("a", 1, 0.5), ("b", 2, 0.7), ("c", 1, 0.4))]
        >>> [(g["name"], g["n"], g["scores"]["mIoU"]["mean"]) for g in group_runs(runs, ["x", "y", "x"])]
        [('a + c', 2, 0.45), ('b', 1, 0.7)]
    """
    members: dict[str, list[Mapping[str, Any]]] = {}
    for k, (run, key) in enumerate(zip(runs, keys)):
        members.setdefault(key or f"run {k}", []).append(run)
    groups = []
    for found in members.values():
        scored = [run for run in found if run["mIoU"] is not None]
        classes = list(dict.fromkeys(name for run in scored for name in run["per_class"]))
        groups.append(
            {
                "name": shortened([run["name"] for run in found], 3, separator=" + "),
                "runs": [run["name"] for run in found],
                "seeds": [run.get("seed") for run in found],
                "n": len(scored),
                **{key: found[0].get(key) for key in ("model", "loss", "gamma", "class_weight")},
                "scores": {key: spread_stats([run[key] for run in scored]) for key, _ in SCORES},
                "per_class": {
                    name: {
                        **{
                            key: spread_stats([run["per_class"].get(name, {}).get(key) for run in scored])
                            for key, _ in PER_CLASS
                        },
                        "support": (
                            spread_stats([run["per_class"].get(name, {}).get("support") for run in scored]) or {}
                        ).get("mean"),
                    }
                    for name in classes
                },
            }
        )
    return groups


def has_repeats(groups: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a configuration has two or more scored runs.

    Example:
        >>> has_repeats([{"n": 1}, {"n": 2}]), has_repeats([{"n": 1}])
        (True, False)
    """
    return any(group["n"] > 1 for group in groups)


def _stat(group: Mapping[str, Any], key: str, name: str | None) -> Mapping[str, Any] | None:
    found = group["scores"].get(key) if name is None else group["per_class"].get(name, {}).get(key)
    return found if isinstance(found, Mapping) else None


def _spread(groups: Sequence[Mapping[str, Any]], group: Mapping[str, Any], key: str, name: str | None) -> float | None:
    own = _stat(group, key, name)
    if own and own["sd"] is not None:
        return float(own["sd"])
    variances = [float(s["sd"]) ** 2 for s in (_stat(g, key, name) for g in groups) if s and s["sd"] is not None]
    return math.sqrt(sum(variances) / len(variances)) if variances else None


def is_finding(
    comparison: Mapping[str, Any], change: float | None, *, a: str, b: str, key: str, name: str | None = None
) -> bool:
    """Whether ``change`` (``b`` minus ``a``, configurations named so, of score ``key``, of class
    ``name`` or the run's) is a finding: see the module's rule.

    Example:
        >>> group = {"name": "g", "n": 2, "scores": {"mIoU": {"mean": 0.5, "sd": 0.01, "n": 2}}, "per_class": {}}
        >>> other = {"name": "h", "n": 1, "scores": {"mIoU": {"mean": 0.53, "sd": None, "n": 1}}, "per_class": {}}
        >>> comparison = {"groups": [group, other]}
        >>> is_finding(comparison, 0.03, a="g", b="h", key="mIoU"), is_finding(comparison, 0.015, a="g", b="h", key="mIoU")
        (True, False)
        >>> is_finding({"groups": []}, 0.009, a="x", b="y", key="IoU", name="pole")
        False
    """
    if change is None or a == b or (key in AVERAGES and comparison.get("averages_compare") is False):
        return False
    groups = comparison.get("groups") or []
    found = {group["name"]: group for group in groups}
    if a not in found or b not in found or not has_repeats(groups):
        return abs(change) >= SINGLE_RUN_FLOOR
    spreads = [_spread(groups, found[side], key, name) for side in (a, b)]
    if any(spread is None for spread in spreads):
        return abs(change) >= SINGLE_RUN_FLOOR
    return abs(change) > sum(max(float(s or 0.0), RESOLUTION) for s in spreads)
