"""What makes the runs of ``vl3d-focal compare`` hard to compare, as notes: each configuration ran
once, runs that share a seed (reruns, not repeats), other clouds or classes scored, other training
clouds, train steps that differ in more than the loss, classes that stand for other LAS codes,
scores on a cloud the run trained on, a run given twice. A note lists the runs that differ from
the first, grouped by value.

Example:
    >>> comparison_notes({"runs": [], "groups": []}, setups={}, duplicates=[("a (2)", "a (1)")])["notes"]
    ['a (2) is a (1) given again (the same report.json): it counts once, so their differences are 0 by construction']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vl3d_focal.reports.compare_groups import has_repeats, setup_differences
from vl3d_focal.wording import shortened

SEED_CHANGE = "0.003-0.009 per-class IoU from one seed to another on the demo"
"""How much a single run's scores move with its seed (measured: the demo with seeds 42 and 43)."""
REPEAT = (
    "repeat each with other seeds (a copy of its spec with another random_seed and other output folders, "
    "vl3d-focal run) and compare all the runs: runs that differ only in their seed are grouped, with their "
    "mean and spread"
)


def comparison_notes(
    comparison: Mapping[str, Any], *, setups: Mapping[str, Any], duplicates: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """``notes`` on the runs and groups of a comparison (``setups``: each run's configuration,
    ``duplicates``: ``(name, name of the same run given first)``), and ``averages_compare``:
    whether the scored runs score the same classes (their mIoU and macro-F1 compare).

    Example:
        >>> groups = [{"name": "a", "runs": ["a"], "n": 1}, {"name": "b", "runs": ["b"], "n": 1}]
        >>> comparison_notes({"runs": [], "groups": groups}, setups={}, duplicates=[])["notes"][0][:40]
        'each configuration ran once, so differen'
    """
    runs, groups = comparison["runs"], comparison["groups"]
    scored = [run for run in runs if run.get("evaluated")]
    averages = not any(list(run["per_class"]) != list(scored[0]["per_class"]) for run in scored[1:])
    notes = []
    if sum(1 for group in groups if group["n"]) > 1 and not has_repeats(groups):
        notes.append(
            f"each configuration ran once, so differences the size of seed-to-seed variation ({SEED_CHANGE}) "
            f"are not the loss's; {REPEAT}"
        )
    notes += [
        f"{' and '.join([', '.join(rerun['runs'][:-1]), rerun['runs'][-1]])} share seed {rerun['seed']}: "
        "a rerun, not a seed repeat"
        + (f" (only {rerun['runs'][0]} counts in {group['name']}'s mean and sd)" if group["n"] else "")
        for group in groups
        for rerun in group.get("reruns") or []
    ]
    notes += _scoring_notes(scored, averages=averages) + _training_notes(runs)
    notes += _setup_notes(comparison, setups) + _codes_notes(runs)
    notes += [
        f"{run['name']} was scored on a cloud it trained on ({', '.join(run['scored_on_training'])}): "
        "its scores there overstate how it does on new clouds"
        for run in runs
        if run.get("scored_on_training")
    ]
    notes += [
        f"{name} is {first} given again (the same report.json): it counts once, so their differences are 0 "
        "by construction"
        for name, first in duplicates
    ]
    return {"notes": notes, "averages_compare": averages}


def _scoring_notes(scored: Sequence[Mapping[str, Any]], *, averages: bool) -> list[str]:
    """Notes when the runs that were scored were not scored on the same clouds, or not on the
    same classes (their scores then do not compare; a run without evaluation shows none)."""
    notes = []
    if any(run["evaluated"] != scored[0]["evaluated"] for run in scored[1:]):
        listed = by_value([(run["name"], ", ".join(run["evaluated"])) for run in scored])
        notes.append(f"the runs were not evaluated on the same clouds, so their scores do not compare ({listed})")
    if not averages:
        listed = by_value([(run["name"], ", ".join(run["per_class"])) for run in scored])
        notes.append(
            "the runs do not score the same classes, so their mIoU and other averages over the classes do not "
            f"compare; compare the classes they share ({listed})"
        )
    return notes


def _training_notes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """A note when the runs that trained their model did not train on the same clouds (their
    differences then are not the loss's alone)."""
    known = [run for run in runs if run["training_clouds"] is not None]
    values = [sorted(run["training_clouds"]) for run in known]
    if not any(value != values[0] for value in values[1:]):
        return []
    listed = by_value([(run["name"], ", ".join(value)) for run, value in zip(known, values)])
    return [f"the runs were not trained on the same clouds, so their differences are not the loss's alone ({listed})"]


def _setup_notes(comparison: Mapping[str, Any], setups: Mapping[str, Any]) -> list[str]:
    """A note per configuration whose train step differs from the reference's in more than the
    loss (and the seed): which keys, from the reference's value to its own."""
    groups = {group["name"]: group for group in comparison["groups"]}
    reference = groups.get(comparison.get("reference_configuration") or "")
    base = None if reference is None else setups.get(reference["runs"][0])
    notes = []
    for group in groups.values():
        setup = setups.get(group["runs"][0])
        if group is reference or base is None or setup is None:
            continue
        changed = setup_differences(base, setup)
        if changed:
            notes.append(
                f"{group['name']} differs from {reference['name']} in more than the loss "  # type: ignore[index]
                f"({shortened(changed, 4)}), so their differences are not the loss's alone"
            )
    return notes


def _codes_notes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """A note naming the classes whose LAS codes differ between runs (same name, other points)."""
    mapped = [run for run in runs if run.get("class_codes")]
    names = list(dict.fromkeys(name for run in mapped for name in run["class_codes"]))
    differ = []
    for name in names:
        having = [run for run in mapped if name in run["class_codes"]]
        if any(run["class_codes"][name] != having[0]["class_codes"][name] for run in having[1:]):
            listed = by_value([(run["name"], ", ".join(map(str, run["class_codes"][name]))) for run in having])
            differ.append(f"{name} ({listed})")
    if not differ:
        return []
    return [
        "the same class names stand for other LAS codes in some runs, so these classes' scores do not compare: "
        + "; ".join(differ)
    ]


def by_value(named: Sequence[tuple[str, str]]) -> str:
    """``(run, value)`` pairs grouped by value: the first run's value with how many more share it,
    then each other value with the runs that have it.

    Example:
        >>> by_value([("a", "x"), ("b", "x"), ("c", "y"), ("d", "x"), ("e", "y")])
        'a and 2 more: x; c, e: y'
        >>> by_value([("a", "x"), ("b", "y")])
        'a: x; b: y'
    """
    values = list(dict.fromkeys(value for _, value in named))
    parts = []
    for k, value in enumerate(values):
        names = [name for name, other in named if other == value]
        who = (names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")) if k == 0 else ", ".join(names)
        parts.append(f"{who}: {value}")
    return "; ".join(parts)
