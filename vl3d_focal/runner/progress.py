"""Progress of a survey: tiles done of the total, points per second, time left.

:class:`Progress` logs a line at most every :data:`LOG_INTERVAL_S` seconds (and when the last
tile is done) and hands every update to the listeners of :data:`LISTENERS` (the command line
adds a progress bar there when its standard error is a terminal).

Example:
    >>> progress = Progress(tiles=2, points=100, listeners=[])
    >>> progress.update(points=40, failed=False, skipped=False).tiles_done
    1
    >>> format_eta(3725.0)
    '1:02:05'
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Sequence

logger = logging.getLogger(__name__)

LOG_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Snapshot:
    """Where a survey stands.

    Attributes:
        tiles_done: tiles finished (done, failed or skipped).
        tiles: tiles in all.
        failed: tiles failed.
        skipped: tiles skipped (resumed).
        points_done: points of the tiles processed in this run.
        points_per_s: their rate since the start.
        eta_s: seconds left at that rate (None before the first processed tile).
    """

    tiles_done: int
    tiles: int
    failed: int
    skipped: int
    points_done: int
    points_per_s: float
    eta_s: float | None


LISTENERS: list[Callable[[Snapshot], None]] = []
"""Called with every update of every survey of this process (the CLI's progress bar)."""


def format_eta(seconds: float | None) -> str:
    """``h:mm:ss`` (or ``?`` when unknown).

    Example:
        >>> format_eta(None), format_eta(59.4)
        ('?', '0:00:59')
    """
    if seconds is None:
        return "?"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class Progress:
    """Counts finished tiles and reports (see the module docstring).

    Args:
        tiles: tiles to process in all.
        points: their points (header counts), for the time left.
        listeners: called with each snapshot; default :data:`LISTENERS`.
    """

    def __init__(self, *, tiles: int, points: int, listeners: Sequence[Callable[[Snapshot], None]] | None = None) -> None:
        self.tiles, self.points = int(tiles), int(points)
        self.listeners = LISTENERS if listeners is None else list(listeners)
        self.done = self.failed = self.skipped = 0
        self.points_done = self.points_skipped = 0
        self.start = self._logged = time.monotonic()

    def update(self, *, points: int, failed: bool, skipped: bool) -> Snapshot:
        """Counts one finished tile of ``points`` points; logs and tells the listeners.

        Example:
            >>> Progress(tiles=1, points=5, listeners=[]).update(points=5, failed=True, skipped=False).failed
            1
        """
        self.done += 1
        self.failed += int(failed)
        self.skipped += int(skipped)
        if skipped:
            self.points_skipped += points
        else:
            self.points_done += points
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.points_done / elapsed
        left = max(self.points - self.points_done - self.points_skipped, 0)
        snapshot = Snapshot(tiles_done=self.done, tiles=self.tiles, failed=self.failed, skipped=self.skipped,
                            points_done=self.points_done, points_per_s=rate,
                            eta_s=left / rate if rate > 0 else None)
        now = time.monotonic()
        if now - self._logged >= LOG_INTERVAL_S or self.done == self.tiles:
            self._logged = now
            logger.info("survey: %d/%d tiles (%d failed, %d skipped), %.0f points/s, %s left",
                        self.done, self.tiles, self.failed, self.skipped, rate, format_eta(snapshot.eta_s))
        for listener in self.listeners:
            listener(snapshot)
        return snapshot
