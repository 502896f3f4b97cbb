"""The outcomes of a phase's tasks as the run takes them, an interruption included: outcomes that
came back before a Ctrl-C or SIGTERM are taken before the run stops, so that its record agrees
with the files their tasks wrote (:class:`~vl3d_focal.runner.cloud_phase.CloudPhases`).

Example:
    >>> outcomes = iter(["tile 1"])
    >>> next_outcome(outcomes, stop=None), next_outcome(outcomes, stop=None)
    ('tile 1', None)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

Outcome = TypeVar("Outcome")


def next_outcome(outcomes: Iterator[Outcome], *, stop: KeyboardInterrupt | None) -> Outcome | None:
    """The executor's next outcome (None after the last); ``stop``: an interruption (Ctrl-C, SIGTERM)
    that came while the run took the previous one, thrown into the executor's generator, which
    yields the outcomes that came back already before it raises it (an executor that has none
    raises it at once), so that the record agrees with the files the finished tasks wrote.

    Example:
        >>> def executor():
        ...     try:
        ...         yield "tile 1"
        ...     except KeyboardInterrupt:
        ...         yield "tile 2, finished meanwhile"
        ...         raise
        >>> outcomes = executor()
        >>> next_outcome(outcomes, stop=None), next_outcome(outcomes, stop=KeyboardInterrupt())
        ('tile 1', 'tile 2, finished meanwhile')
        >>> try:
        ...     next_outcome(outcomes, stop=None)
        ... except KeyboardInterrupt:
        ...     print("then the interruption")
        then the interruption
    """
    throw = getattr(outcomes, "throw", None)
    if stop is not None and throw is None:
        raise stop
    try:
        return next(outcomes) if stop is None else throw(stop)  # type: ignore[misc]
    except StopIteration:
        return None
