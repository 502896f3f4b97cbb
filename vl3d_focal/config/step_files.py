"""The files steps write besides their output paths: their registry entry's ``outputs``, told
where each step stands in its spec (:class:`StepPlace`). Validation, preflight, the run manifest
and the stale-file cleanup read them through :func:`step_files`.

Example:
    >>> steps = [{"train": "RandomForestClassifier"}, {"train": "RandomForestClassifier"}]
    >>> [(index, files[0]) for index, files in step_files(steps, inputs=["a.las"], prefixes=["o/"])]
    [(0, ('model', '*training/class_weights.json')), (1, ('model', '*training_2/class_weights.json'))]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vl3d_focal.config.schemas import find_step


@dataclass(frozen=True)
class StepPlace:
    """Where a step stands in its spec: ``ordinal``, its number among the spec's steps of its kind
    (from 1: the second train step's is 2); ``inputs``, the run's input clouds; ``prefixes``, the
    ``out_pcloud`` prefixes."""

    ordinal: int
    inputs: tuple[str, ...]
    prefixes: tuple[str, ...]


def step_files(
    steps: Sequence[Any], *, inputs: Sequence[str], prefixes: Sequence[str]
) -> list[tuple[int, list[tuple[str, str]]]]:
    """For each step whose registry entry declares ``outputs``: its index in ``steps`` and those
    files, ``(scope, path as written)`` pairs; a step whose arguments its declaration cannot read
    (the schema reports them) declares none.

    Example:
        >>> step_files([{"eval": "ClassificationEvaluator", "report_path": "*e/r.json", "pictures": False}],
        ...            inputs=["a.las"], prefixes=["o/"])[0][1][0]
        ('cloud', '*e/r.txt')
    """
    kinds: Counter[str] = Counter()
    found: list[tuple[int, list[tuple[str, str]]]] = []
    for index, step in enumerate(steps):
        located = find_step(step) if isinstance(step, Mapping) else None
        if located is None:
            continue
        kinds[located[0]] += 1
        declared = located[1].metadata.get("outputs")
        if declared is None:
            continue
        place = StepPlace(ordinal=kinds[located[0]], inputs=tuple(inputs), prefixes=tuple(prefixes))
        try:
            found.append((index, [(scope, str(path)) for scope, path in declared(step, place)]))
        except (KeyError, TypeError, AttributeError):  # arguments the schema refuses: reported there
            continue
    return found
