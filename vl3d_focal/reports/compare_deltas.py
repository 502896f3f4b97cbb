"""The differences of ``vl3d-focal compare`` to its reference (a run's to the reference run, a
configuration's mean to the reference configuration's), whether each is a finding
(:func:`~vl3d_focal.reports.compare_groups.is_finding`), and the rare classes' headline made of
them: what the Markdown (:mod:`vl3d_focal.reports.compare_text`) and the page
(:mod:`vl3d_focal.reports.compare_page`) show first.

Example:
    >>> delta(0.75, 0.5), delta(None, 0.5)
    (0.25, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vl3d_focal.reports.compare_groups import PER_CLASS, has_repeats, is_finding

RARE_SCORES = ("R", "IoU", "F1")
"""The per-class scores of the rare classes' headline (keys of a run's ``per_class``)."""
RARE_LABELS = tuple(dict(PER_CLASS)[key] for key in RARE_SCORES)


def delta(value: float | None, base: float | None) -> float | None:
    """``value - base``, or None where either is missing.

    Example:
        >>> delta(0.5, None)
    """
    return None if value is None or base is None else value - base


def reference_run(comparison: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run the differences are to: the comparison's ``reference`` (its first run with scores),
    else its first run; ``{}`` without runs.

    Example:
        >>> reference_run({"runs": [{"name": "a"}, {"name": "b"}], "reference": "b"}), reference_run({"runs": []})
        ({'name': 'b'}, {})
    """
    runs = comparison["runs"]
    return next((run for run in runs if run["name"] == comparison.get("reference")), runs[0] if runs else {})


def reference_configuration(comparison: Mapping[str, Any]) -> Mapping[str, Any]:
    """The configuration the differences between configurations are to: the comparison's
    ``reference_configuration``, else its first.

    Example:
        >>> reference_configuration({"groups": [{"name": "a"}, {"name": "b"}], "reference_configuration": "b"})
        {'name': 'b'}
    """
    groups = comparison["groups"]
    return next((group for group in groups if group["name"] == comparison.get("reference_configuration")), groups[0])


def run_finding(
    comparison: Mapping[str, Any], run: Mapping[str, Any], change: float | None, key: str, name: str | None = None
) -> bool:
    """Whether a run's difference to the reference run is a finding (:func:`~vl3d_focal.reports.compare_groups.is_finding`).

    Example:
        >>> run_finding({"groups": [], "runs": []}, {"configuration": "b"}, 0.02, "mIoU")
        True
    """
    base = reference_run(comparison)
    return is_finding(
        comparison, change, a=str(base.get("configuration")), b=str(run.get("configuration")), key=key, name=name
    )


def run_difference(
    comparison: Mapping[str, Any], run: Mapping[str, Any], key: str, name: str | None = None
) -> tuple[float | None, float | None, bool]:
    """A run's score ``key`` (of class ``name``, else the run's), its difference to the reference
    run's (None for the reference itself) and whether it is a finding (:func:`run_finding`).

    Example:
        >>> runs = [{"name": "a", "mIoU": 0.5, "configuration": "a"}, {"name": "b", "mIoU": 0.53, "configuration": "b"}]
        >>> comparison = {"runs": runs, "reference": "a", "groups": []}
        >>> [(value, None if change is None else round(change, 2), finding)
        ...  for value, change, finding in (run_difference(comparison, run, "mIoU") for run in runs)]
        [(0.5, None, False), (0.53, 0.03, True)]
    """
    base = reference_run(comparison)
    value, old = (side.get(key) if name is None else side["per_class"].get(name, {}).get(key) for side in (run, base))
    change = None if run is base else delta(value, old)
    return value, change, run_finding(comparison, run, change, key, name)


def group_difference(
    comparison: Mapping[str, Any], group: Mapping[str, Any], base: Mapping[str, Any], key: str, name: str | None = None
) -> tuple[Mapping[str, Any] | None, float | None, bool]:
    """A configuration's statistics of score ``key`` (of class ``name``), the difference of its
    mean to the reference configuration ``base``'s (None for ``base`` itself) and whether it is a finding.

    Example:
        >>> g = {"name": "g", "n": 1, "scores": {"OA": {"mean": 0.9, "sd": None, "n": 1}}, "per_class": {}}
        >>> b = {"name": "b", "n": 1, "scores": {"OA": {"mean": 0.8, "sd": None, "n": 1}}, "per_class": {}}
        >>> stat, change, finding = group_difference({"groups": [g, b]}, g, b, "OA")
        >>> round(change, 3), finding
        (0.1, True)
    """
    stat, old = (g["scores"].get(key) if name is None else g["per_class"].get(name, {}).get(key) for g in (group, base))
    change = None if group is base or stat is None or old is None else stat["mean"] - old["mean"]
    return stat, change, is_finding(comparison, change, a=base["name"], b=group["name"], key=key, name=name)


def _sides(comparison: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Mapping[str, Any]], Mapping[str, Any]]:
    """The reference (configuration with seed repeats, else run), the others with scores, and the
    run whose training shares count (the reference run, or the reference configuration's first
    scored run); empty where no run has scores."""
    runs, groups = comparison["runs"], comparison.get("groups") or []
    scored = [run for run in runs if run["mIoU"] is not None]
    if not scored or comparison.get("reference") is None:
        return {}, [], {}
    if has_repeats(groups):
        base = reference_configuration(comparison)
        source = next(run for run in scored if run["name"] in base["runs"])
        return base, [g for g in groups if g is not base and g["n"]], source
    base = reference_run(comparison)
    return base, [run for run in scored if run is not base], base


def rare_names(comparison: Mapping[str, Any]) -> list[str]:
    """The classes rare in the reference (its training points: the run's ``rare``), as the
    per-class tables mark them.

    Example:
        >>> rare_names({"runs": [{"name": "a", "mIoU": 0.5, "rare": ["pole"]}], "reference": "a", "groups": []})
        ['pole']
    """
    return list(_sides(comparison)[2].get("rare") or [])


def rare_headline(comparison: Mapping[str, Any]) -> dict[str, Any] | None:
    """The rare classes' headline: ``reference`` (the reference configuration with seed repeats,
    else the reference run), ``others`` (the other configurations or runs with scores), ``groups``
    (which of them), ``rows``: per class rare in the reference its ``share`` of the training points,
    its ``reference`` :data:`RARE_SCORES` and per other ``(difference, finding)`` of each, by the
    rule of the tables. None where no run has scores, only one run (configuration) has them, or
    the reference recorded no training shares.

    Example:
        >>> runs = [{"name": n, "mIoU": 0.5, "configuration": n, "shares": {"pole": 0.02}, "rare": ["pole"],
        ...          "per_class": {"pole": {"R": r, "IoU": 0.2, "F1": 0.3}}} for n, r in (("ce", 0.4), ("focal", 0.45))]
        >>> head = rare_headline({"runs": runs, "reference": "ce", "groups": []})
        >>> head["others"], head["rows"][0]["share"], [(round(c, 2), f) for c, f in head["rows"][0]["changes"][0]]
        (['focal'], 0.02, [(0.05, True), (0.0, False), (0.0, False)])
        >>> rare_headline({"runs": runs[:1], "reference": "ce", "groups": []}) is None
        True
    """
    base, others, source = _sides(comparison)
    if not others or not source.get("shares"):
        return None
    groups = "scores" in base

    def value(name: str, key: str) -> float | None:
        if groups:
            stat = base["per_class"].get(name, {}).get(key)
            return None if stat is None else stat["mean"]
        return base["per_class"].get(name, {}).get(key)

    def change(other: Mapping[str, Any], name: str, key: str) -> tuple[float | None, bool]:
        if groups:
            return group_difference(comparison, other, base, key, name)[1:]
        return run_difference(comparison, other, key, name)[1:]

    rows = [
        {
            "class": name,
            "share": (source.get("shares") or {}).get(name),
            "reference": [value(name, key) for key in RARE_SCORES],
            "changes": [[change(other, name, key) for key in RARE_SCORES] for other in others],
        }
        for name in source.get("rare") or []
    ]
    return {"reference": base["name"], "others": [o["name"] for o in others], "groups": groups, "rows": rows}
