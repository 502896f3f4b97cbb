"""The counts a survey shows while and after it runs, one way everywhere: every input cloud is
a tile (those whose header failed to read and the empty ones too), so that the progress, the
final line, the error and ``survey.json`` say the same numbers.

Example:
    >>> progress_note(tiles=5, tasks=4, done=0, failed=0, failed_before=1, rate=0.0)
    '1/5 tiles, 1 failed, 0 points/s'
"""

from __future__ import annotations

from collections.abc import Mapping

from vl3d_focal.wording import counted

EMPTY_REASON = "empty (0 points)"
"""Why a survey's tile of no point is skipped (its record's ``reason``)."""


def progress_note(*, tiles: int, tasks: int, done: int, failed: int, failed_before: int, rate: float) -> str:
    """The progress's note during a phase: tiles finished of all, failed (before the phase too),
    skipped (``tiles - tasks - failed_before``: done by an earlier run, or empty), the rate.

    Args:
        tiles: the survey's tiles (every input cloud).
        tasks: the tiles the phase processes.
        done: those of them done so far.
        failed: those of them failed so far.
        failed_before: tiles failed before the phase (unreadable header, an earlier phase).
        rate: points per second.

    Example:
        >>> progress_note(tiles=5, tasks=2, done=1, failed=1, failed_before=1, rate=1234.5)
        '5/5 tiles, 2 failed, 2 skipped, 1,234 points/s'
    """
    skipped = tiles - tasks - failed_before
    return (
        f"{tiles - tasks + done + failed}/{tiles} tiles, {failed_before + failed} failed"
        + (f", {skipped} skipped" if skipped else "")
        + f", {rate:,.0f} points/s"
    )


def tally_line(counts: Mapping[str, int], *, points: int, seconds: float) -> str:
    """The survey's last log line: tiles per status, the points of the tiles done and the rate.

    Example:
        >>> tally_line({"done": 3, "skipped": 1, "failed": 1, "pending": 0}, points=4500, seconds=2.0)
        'survey: 3 tiles done, 1 skipped, 1 failed, 4,500 points in 2.0 s (2,250 points/s)'
        >>> tally_line({"done": 1}, points=10, seconds=1.0)
        'survey: 1 tile done, 0 skipped, 0 failed, 10 points in 1.0 s (10 points/s)'
    """
    pending = counts.get("pending", 0)
    return (
        f"survey: {counted(counts.get('done', 0), 'tile')} done, {counts.get('skipped', 0)} skipped, "
        f"{counts.get('failed', 0)} failed"
        + (f", {pending} pending" if pending else "")
        + f", {points:,} points in {seconds:.1f} s ({points / max(seconds, 1e-9):,.0f} points/s)"
    )
