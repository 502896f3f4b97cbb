r"""Progress of long loops: a bar with an ETA on a terminal, INFO log lines every few seconds otherwise.

Work that ends within ``quiet_s`` seconds shows nothing. Progress is shown only while the
``vl3d_focal.progress`` logger is enabled for INFO (``vl3d-focal run`` enables it; a library
user sees nothing unless they log at INFO). The bar goes to ``sys.stderr`` when it is a
terminal and is erased when the work ends; elsewhere (files, CI, pipes) a log line is written
every ``log_every_s`` seconds. The clock can be injected, so tests need no sleep.

Example:
    >>> import io
    >>> logger.setLevel(logging.INFO)
    >>> ticks = iter([0.0, 5.0])
    >>> screen = io.StringIO()
    >>> with Progress("fields", total=4, unit="fields", clock=lambda: next(ticks), terminal=screen) as bar:
    ...     bar.advance(2)
    >>> screen.getvalue().split("\r")[1]
    'fields [############............]  50% 2/4 fields, 5 s, ETA 5 s\x1b[K'
    >>> logger.setLevel(logging.NOTSET)
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

logger = logging.getLogger(__name__)

BAR_WIDTH = 24
"""Characters of the bar."""


def format_seconds(seconds: float) -> str:
    """A duration for people: ``42 s``, ``3 min 05 s``, ``1 h 02 min``.

    Example:
        >>> format_seconds(42.4), format_seconds(185), format_seconds(3725)
        ('42 s', '3 min 05 s', '1 h 02 min')
    """
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Progress of one loop over ``total`` units of work (see the module docstring).

    Args:
        what: what is being done, shown first (``"demo_test.las: prediction"``).
        total: units of work in all.
        unit: the unit's name (``"points"``, ``"fields"``).
        clock: seconds, monotonic (default :func:`time.monotonic`).
        terminal: where the bar is drawn; default ``sys.stderr`` when it is a terminal, else no
            bar (log lines instead).
        quiet_s: nothing is shown before this many seconds.
        log_every_s: seconds between two log lines (no terminal).
        redraw_s: seconds between two redraws of the bar.

    Attributes:
        note: a few words shown after the numbers (e.g. ``"3/8 tiles, 0 failed"``), set by the caller.

    Example:
        >>> ticks = iter([0.0, 1.0])
        >>> with Progress("quick", total=1, clock=lambda: next(ticks), terminal=None) as p:
        ...     p.advance()
        >>> p.shown
        False
    """

    def __init__(
        self,
        what: str,
        *,
        total: float,
        unit: str = "",
        clock: Callable[[], float] = time.monotonic,
        terminal: TextIO | None | str = "auto",
        quiet_s: float = 3.0,
        log_every_s: float = 10.0,
        redraw_s: float = 0.2,
    ) -> None:
        self.what, self.total, self.unit, self.clock = what, max(float(total), 0.0), unit, clock
        if terminal == "auto":
            terminal = sys.stderr if sys.stderr is not None and sys.stderr.isatty() else None
        self.terminal: TextIO | None = terminal  # type: ignore[assignment]
        self.quiet_s, self.log_every_s, self.redraw_s = quiet_s, log_every_s, redraw_s
        self.done = 0.0
        self.note = ""
        self.start = clock()
        self.shown = False
        self._last = -float("inf")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, amount: float = 1, *, failed: bool = False) -> None:
        """Counts ``amount`` more units done and shows the progress when it is time; ``failed``:
        the units were not done (a survey's failed tile), and are taken off the total instead, so
        that the count says the units done only and still reaches the total as the work ends.

        Example:
            >>> ticks = iter([0.0, 5.0, 6.0])
            >>> bar = Progress("survey", total=10, unit="points", clock=lambda: next(ticks), terminal=None)
            >>> bar.advance(4); bar.advance(6, failed=True)
            >>> bar._line(6.0)
            'survey: 100% (4/4 points), 6 s elapsed, ETA 0 s'
        """
        if failed:
            self.total = max(self.total - float(amount), 0.0)
        self.update(self.done + (0 if failed else amount))

    def update(self, done: float) -> None:
        """Sets the units done so far and shows the progress when it is time."""
        self.done = min(float(done), self.total) if self.total else float(done)
        if not logger.isEnabledFor(logging.INFO):
            return
        now = self.clock()
        elapsed = now - self.start
        interval = self.redraw_s if self.terminal is not None else self.log_every_s
        if elapsed < self.quiet_s or now - self._last < interval:
            return
        self._last = now
        self.shown = True
        if self.terminal is not None:
            self.terminal.write(f"\r{self._bar(elapsed)}\x1b[K")
            self.terminal.flush()
        else:
            logger.info("%s", self._line(elapsed))

    def _numbers(self, elapsed: float) -> tuple[str, str, str]:
        share = self.done / self.total if self.total else 0.0
        count = f"{self.done:,.0f}/{self.total:,.0f}" + (f" {self.unit}" if self.unit else "")
        eta = format_seconds(elapsed * (self.total - self.done) / self.done) if self.done > 0 else "?"
        return f"{100 * share:3.0f}%", count, eta

    def _bar(self, elapsed: float) -> str:
        percent, count, eta = self._numbers(elapsed)
        filled = int(BAR_WIDTH * self.done / self.total) if self.total else 0
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"{self.what} [{bar}] {percent} {count}, {format_seconds(elapsed)}, ETA {eta}{self._note()}"

    def _line(self, elapsed: float) -> str:
        percent, count, eta = self._numbers(elapsed)
        return f"{self.what}: {percent.strip()} ({count}), {format_seconds(elapsed)} elapsed, ETA {eta}{self._note()}"

    def _note(self) -> str:
        return f" ({self.note})" if self.note else ""

    def clear(self) -> None:
        """Erases the bar before the caller logs a line on the terminal (which would otherwise
        follow the bar on its line); the next :meth:`update` draws it again.

        Example:
            >>> import io
            >>> logger.setLevel(logging.INFO)
            >>> ticks, screen = iter([0.0, 5.0, 6.0]), io.StringIO()
            >>> bar = Progress("tiles", total=2, clock=lambda: next(ticks), terminal=screen)
            >>> bar.advance(); bar.clear(); bar.advance()
            >>> screen.getvalue().count("tiles ["), screen.getvalue().split("\\r")[2]
            (2, '\\x1b[K')
            >>> logger.setLevel(logging.NOTSET)
        """
        self.close()
        self._last = -float("inf")

    def close(self) -> None:
        """Erases the bar (the caller logs what was done)."""
        if self.shown and self.terminal is not None:
            self.terminal.write("\r\x1b[K")
            self.terminal.flush()
