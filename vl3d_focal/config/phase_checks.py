"""Checks of the order of a spec's steps against the runner's phases: what only per-cloud steps
give (predictions) lives only in its run of consecutive per-cloud steps, which the runner
processes cloud by cloud (:mod:`vl3d_focal.runner.cloud_phase`), so

- a per-cloud step needing it must be in the same run as the step giving it;
- a per-cloud step using it when it is there (its entry's ``uses``: ``Writer`` writes the
  predictions) after a step of another kind that follows the step giving it would silently go
  without it, and is refused too;
- the final clouds (``out_pcloud`` entries naming cloud files, written after the last step,
  :mod:`vl3d_focal.runner.final_clouds`) hold it only when the pipeline ends with that run: after
  a step of another kind (a miner, a train step, a model writer), which runs once in the main
  process, the clouds no longer hold the predictions their tasks made.

Example:
    >>> from vl3d_focal.config.schemas import find_step
    >>> steps = [{"predict": "ModelLoader", "model_path": "m.keras"}, {"miner": "HeightFeatures"}]
    >>> [message[:29] for _, message in phase_issues([find_step(s) for s in steps], steps, final_clouds=True)]
    ['runs after the predictions of']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vl3d_focal.config.messages import json_path
from vl3d_focal.config.path_checks import Issue
from vl3d_focal.config.schemas import steps_by_kind
from vl3d_focal.registry import RegistryEntry


def runs_per_cloud(entry: RegistryEntry, step: Mapping[str, Any]) -> bool:
    """Whether the step runs cloud by cloud (its entry's ``per_cloud``, for these arguments).

    Example:
        >>> entry = RegistryEntry(name="Noop", builder=print, schema={}, description="",
        ...                       metadata={"per_cloud": lambda step: step["each"]})
        >>> runs_per_cloud(entry, {"each": True}), runs_per_cloud(entry, {"each": False})
        (True, False)
    """
    per_cloud = entry.metadata.get("per_cloud")
    return bool(per_cloud(step) if callable(per_cloud) else per_cloud)


def _per_cloud_products() -> set[str]:
    """What only per-cloud steps give (e.g. predictions)."""
    givers: dict[str, list[bool]] = {}
    for entries in steps_by_kind().values():
        for entry in entries:
            for product in entry.metadata.get("gives", ()):
                givers.setdefault(product, []).append(bool(entry.metadata.get("per_cloud")))  # callable: may be
    return {product for product, flags in givers.items() if all(flags)}


def phase_issues(
    steps: list[tuple[str, RegistryEntry]], arguments: Sequence[Mapping[str, Any]], *, final_clouds: bool
) -> Iterator[Issue]:
    """Per-cloud steps needing or using (their entry's ``uses``) what a per-cloud step gave before a step of
    another kind, and (``final_clouds``: the spec names final clouds) the first step of another kind
    after the last per-cloud step that gave such a product (see the module docstring).

    Example:
        >>> from vl3d_focal.config.schemas import find_step
        >>> steps = [{"miner": "HeightFeatures"}, {"predict": "ModelLoader", "model_path": "m.keras"}]
        >>> list(phase_issues([find_step(s) for s in steps], steps, final_clouds=True))
        []
    """
    products, current, ever = _per_cloud_products(), set[str](), set[str]()
    given_at: dict[str, int] = {}  # where a per-cloud step last gave each product
    after: tuple[int, str] | None = None  # the first step of another kind after the last of them
    for i, (found, step) in enumerate(zip(steps, arguments)):
        kind, entry = found
        ever.update(entry.metadata.get("gives", ()))
        if not runs_per_cloud(entry, step):
            current = set()
            after = after or (i, kind)
            continue
        for need in entry.metadata.get("needs", ()):
            if need in products and need in ever and need not in current:
                yield (
                    ("sequential_pipeline", i, kind),
                    (
                        f"{entry.name!r} needs the {need} of a per-cloud step in the same run of consecutive "
                        f"per-cloud steps (they are processed cloud by cloud); move the steps of other kinds "
                        "between them before that run"
                    ),
                )
        for use in entry.metadata.get("uses", ()):
            if use in given_at and use not in current:
                yield ("sequential_pipeline", i, kind), _unused_issue(steps, arguments, use, at=i, giver=given_at[use])
        current.update(entry.metadata.get("gives", ()))
        for product in products & set(entry.metadata.get("gives", ())):
            given_at[product], after = i, None
    lost = sorted(product for product in given_at if product not in current)
    if final_clouds and lost and after is not None:
        giver = ("sequential_pipeline", given_at[lost[0]])
        yield (
            ("sequential_pipeline", *after),
            (
                f"runs after the {lost[0]} of {json_path(giver)} ({steps[given_at[lost[0]]][1].name}) and outside "
                "its run of per-cloud steps (processed cloud by cloud), so the final clouds that out_pcloud names, "
                f"written after the last step, would lack them; move this step before {json_path(giver)}, or give "
                f"out_pcloud a folder (e.g. 'out/*') and add a Writer step right after {json_path(giver)}"
            ),
        )


def _unused_issue(
    steps: list[tuple[str, RegistryEntry]], arguments: Sequence[Mapping[str, Any]], use: str, *, at: int, giver: int
) -> str:
    """Why the step at ``at`` would lack the ``use`` that the per-cloud step at ``giver`` gave: the
    first step of another kind between them."""
    between = next(j for j in range(giver + 1, at) if not runs_per_cloud(steps[j][1], arguments[j]))
    given, broken = json_path(("sequential_pipeline", giver)), json_path(("sequential_pipeline", between))
    return (
        f"{steps[at][1].name!r} writes the {use} of {given} ({steps[giver][1].name}) that its clouds hold, but runs "
        f"after {broken} ({steps[between][1].name}), which runs once in the main process, outside the run of "
        f"per-cloud steps of {given} (processed cloud by cloud), so the clouds it writes would lack them; move "
        f"{broken} before {given}, or put this step right after {given}"
    )
