"""Seed repeats in ``vl3d-focal compare``: runs whose train steps are the same but for their
``random_seed`` (and output paths, input files' folders and :data:`OPERATIONAL` keys), scored on
the same clouds with the same classes, are one configuration; each configuration's mean and
spread (sample standard deviation over its ``n`` scored runs of distinct seeds: a run with the
seed of an earlier one is a rerun, not a repeat) per score and per class, and which differences
between configurations are findings.

A difference is a finding (coloured on the page, bold in Markdown) only when it exceeds the seed
spread of the two sides: ``|difference| >= spread(a) + spread(b)`` (their mean ± sd do not
overlap), where a configuration's spread is its own standard deviation with two or more seeds and
otherwise the pooled one of the configurations of this comparison that have repeats (their
variances weighted by ``n - 1``), and never less than :data:`SPREAD_FLOOR` (half of
:data:`SINGLE_RUN_FLOOR`: seeds that happen to agree never make the rule finer than without
repeats). Two runs of one configuration differ by their seed alone: never a finding. Where no
configuration has repeats the spread is unknown and a difference is a finding only from
:data:`SINGLE_RUN_FLOOR` on. Scores that do not compare are never findings: averages over classes
(mIoU, macro-F1) of runs that do not score the same classes, any score of configurations
evaluated on other clouds, and a class's scores where it stands for other LAS codes.

Example:
    >>> spread_stats([0.5, 0.7])
    {'mean': 0.6, 'sd': 0.1414, 'n': 2}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.wording import shortened

SINGLE_RUN_FLOOR = 0.01
"""The smallest difference called a finding where no configuration ran twice: above the
seed-to-seed change of one configuration measured on the demo (0.003-0.009 per-class IoU)."""
SPREAD_FLOOR = SINGLE_RUN_FLOOR / 2
"""The smallest spread a configuration is taken to have: two sides then need at least
:data:`SINGLE_RUN_FLOOR` apart, as without repeats (runs whose seeds happen to agree show no
finer spread)."""
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
    """A train step without what does not make another configuration: its ``random_seed``, its
    output paths (keys ending in ``_path``, ``_dir`` or starting with ``out_``; ``model_path`` is
    an input), its :data:`OPERATIONAL` keys and ``training_pcloud`` (a configuration's key carries
    the training clouds' file names); its other :data:`INPUT_FILES` by their file names (a cloud
    moved to another folder is the same input).

    Example:
        >>> configuration({"train": "X", "random_seed": 4, "model_args": {"model_handling": {
        ...     "checkpoint_path": "*m.keras", "training_epochs": 3, "fit_verbose": 2,
        ...     "training_pcloud": "/d/a.las", "validation_pcloud": ["/d/v.las"]}}})
        {'train': 'X', 'model_args': {'model_handling': {'training_epochs': 3, 'validation_pcloud': ['v.las']}}}
    """
    if step is None:
        return None

    def kept(key: str, value: Any) -> Any:
        if key in INPUT_FILES and value is not None:
            return [Path(str(v)).name for v in value] if isinstance(value, list) else Path(str(value)).name
        if not isinstance(value, Mapping):
            return value
        return {str(k): kept(str(k), item) for k, item in value.items() if not _ignored(str(k))}

    return {str(key): kept(str(key), value) for key, value in step.items() if key != SEED and not _ignored(str(key))}


OPERATIONAL = frozenset(
    {
        "fit_verbose",
        "predict_verbose",
        "predict_batch_size",
        "verbose",
        "architecture_graph_args",
        "distribution",
        "n_jobs",
        "nthreads",
        "autoval_metrics",
        "training_evaluation_metrics",
        "training_class_evaluation_metrics",
        "importance_report_permutation",
        "decision_plot_trees",
        "decision_plot_max_depth",
    }
)
"""Train-step keys (at any depth) that change how a training runs or what it reports, never the
model it makes: the verbosity of the fit, of prediction and of the callbacks, the prediction
batch size, the arguments of the architecture's graph, the devices the training is distributed
over, threads and jobs, the metrics and plots reported. They neither split configurations nor
show in the notes on train steps that differ."""
INPUT_FILES = ("validation_pcloud",)
"""Train-step keys naming input clouds, compared by their file names (a model to start from is
compared by its whole path: every model file a run writes is named alike)."""
TRAINING_PCLOUD = "training_pcloud"
"""The train step's training clouds: left out of its configuration (whose key holds the clouds'
file names as the run's record or spec gives them)."""


def _ignored(key: str) -> bool:
    if key in OPERATIONAL or key == TRAINING_PCLOUD:
        return True
    return key not in INPUT_FILES and (key.endswith(("_path", "_dir", "_paths")) or key.startswith("out_"))


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
    ``runs``, ``seeds`` (distinct), ``reruns`` (runs sharing a seed, see :func:`distinct_seeds`),
    ``n`` (scored runs of distinct seeds), the first run's loss set-up, ``evaluated`` clouds and
    ``class_codes``, the ``scores`` and ``per_class`` values' :func:`spread_stats` over the runs
    of distinct seeds (``support``: points scored, as the mean).

    Example:
        >>> runs = [{"name": n, "seed": s, "loss": "f", "gamma": 2.0, "class_weight": None, "mIoU": v, "OA": v,
        ...          "macro_F1": v, "per_class": {}} for n, s, v in (("a", 1, 0.5), ("b", 2, 0.7), ("c", 3, 0.4),
        ...                                                          ("d", 1, 0.9))]
        >>> [(g["name"], g["n"], g["seeds"], g["scores"]["mIoU"]["mean"]) for g in group_runs(runs, "xyxx")]
        [('a + c + d', 2, [1, 3], 0.45), ('b', 1, [2], 0.7)]
    """
    members: dict[str, list[Mapping[str, Any]]] = {}
    for k, (run, key) in enumerate(zip(runs, keys)):
        members.setdefault(key or f"run {k}", []).append(run)
    groups = []
    for found in members.values():
        counted, reruns = distinct_seeds(found)
        scored = [run for run in counted if run["mIoU"] is not None]
        classes = list(dict.fromkeys(name for run in scored for name in run["per_class"]))
        groups.append(
            {
                "name": shortened([run["name"] for run in found], 3, separator=" + "),
                "runs": [run["name"] for run in found],
                "seeds": [run.get("seed") for run in counted],
                "reruns": reruns,
                "n": len(scored),
                **{
                    key: found[0].get(key)
                    for key in ("model", "loss", "gamma", "class_weight", "evaluated", "class_codes")
                },
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


def distinct_seeds(runs: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[dict[str, Any]]]:
    """The runs of one configuration that count, one per seed (the first scored run of a seed,
    else its first; a run of unknown seed counts), and the ``reruns``: ``{"seed", "runs"}`` of each
    seed several runs share (the one that counts first).

    Example:
        >>> runs = [{"name": "a", "seed": 42, "mIoU": None}, {"name": "b", "seed": 42, "mIoU": 0.5},
        ...         {"name": "c", "seed": None, "mIoU": 0.4}, {"name": "d", "seed": None, "mIoU": 0.6}]
        >>> counted, reruns = distinct_seeds(runs)
        >>> [run["name"] for run in counted], reruns
        (['b', 'c', 'd'], [{'seed': 42, 'runs': ['b', 'a']}])
    """
    by_seed: dict[Any, list[Mapping[str, Any]]] = {}
    for k, run in enumerate(runs):
        seed = run.get("seed")
        by_seed.setdefault(("seed", seed) if seed is not None else ("run", k), []).append(run)
    counted, reruns = [], []
    for alike in by_seed.values():
        first = next((run for run in alike if run["mIoU"] is not None), alike[0])
        counted.append(first)
        if len(alike) > 1:
            names = [first["name"], *(run["name"] for run in alike if run is not first)]
            reruns.append({"seed": first.get("seed"), "runs": names})
    order = {id(run): k for k, run in enumerate(runs)}
    return sorted(counted, key=lambda run: order[id(run)]), reruns


def has_repeats(groups: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a configuration has two or more scored runs of distinct seeds (its ``n``).

    Example:
        >>> has_repeats([{"n": 1}, {"n": 2}]), has_repeats([{"n": 1}])
        (True, False)
    """
    return any(group["n"] > 1 for group in groups)


def _stat(group: Mapping[str, Any], key: str, name: str | None) -> Mapping[str, Any] | None:
    found = group["scores"].get(key) if name is None else group["per_class"].get(name, {}).get(key)
    return found if isinstance(found, Mapping) else None


def _spread(groups: Sequence[Mapping[str, Any]], group: Mapping[str, Any], key: str, name: str | None) -> float | None:
    """The configuration's spread of score ``key`` (of class ``name``): its own sd, else the
    pooled sd of the configurations with one (variances weighted by ``n - 1``); never under
    :data:`SPREAD_FLOOR`; None where no configuration has one."""
    own = _stat(group, key, name)
    if own and own["sd"] is not None:
        return max(float(own["sd"]), SPREAD_FLOOR)
    stats = [s for s in (_stat(g, key, name) for g in groups) if s and s["sd"] is not None]
    if not stats:
        return None
    pooled = sum((s["n"] - 1) * float(s["sd"]) ** 2 for s in stats) / sum(s["n"] - 1 for s in stats)
    return max(math.sqrt(pooled), SPREAD_FLOOR)


def _compares(found: Mapping[str, Mapping[str, Any]], a: str, b: str, name: str | None) -> bool:
    """Whether configurations ``a`` and ``b`` were evaluated on the same clouds and, for class
    ``name``, map it from the same LAS codes (where both say)."""
    sides = [found.get(a) or {}, found.get(b) or {}]
    if sides[0].get("evaluated") != sides[1].get("evaluated"):
        return False
    if name is None:
        return True
    codes = [(side.get("class_codes") or {}).get(name) for side in sides]
    return None in codes or codes[0] == codes[1]


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
        >>> other["evaluated"] = ["train.las (5 points)"]  # scored on another cloud: never a finding
        >>> is_finding(comparison, 0.03, a="g", b="h", key="mIoU")
        False
    """
    if change is None or a == b or (key in AVERAGES and comparison.get("averages_compare") is False):
        return False
    groups = comparison.get("groups") or []
    found = {group["name"]: group for group in groups}
    if not _compares(found, a, b, name):
        return False
    if a not in found or b not in found or not has_repeats(groups):
        return abs(change) >= SINGLE_RUN_FLOOR
    spreads = [_spread(groups, found[side], key, name) for side in (a, b)]
    if any(spread is None for spread in spreads):
        return abs(change) >= SINGLE_RUN_FLOOR
    return abs(change) >= sum(float(s or 0.0) for s in spreads)
