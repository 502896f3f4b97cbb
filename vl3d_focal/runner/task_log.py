"""What a task on a Dask worker logs, told once by the run that started it.

A Dask worker process has no handler for the loggers of the package or of most libraries it
calls (laspy, NumPy...): their warnings would go to Python's last-resort handler, bare lines on
the terminal without time, level or logger, beside the run's own log, and what ``warnings.warn``
shows would be bare lines too. :func:`captured_messages` keeps, while a task runs, every log
record at WARNING and above (but those the worker prints itself: Dask's own,
:data:`WORKER_LOGGERS`, and another library's logger with a handler of its own, such as
TensorFlow's; nothing reaches that last-resort handler) and every warning shown (with the
warning filters in force, so each of them once per task and place), in the order they came; the
task returns them with its outcome, and the run logs each once (:func:`relay_messages`): at its level, on its logger (``py.warnings`` for a
warning, as :func:`logging.captureWarnings` names it), naming the tile. A worker runs one task
at a time (one Dask thread per worker), so what the process logs meanwhile is the task's.

Example:
    >>> with captured_messages() as messages:
    ...     logging.getLogger("vl3d_focal.inference.buffered").warning("buffer: neighbour b.laz left out")
    ...     logging.getLogger("laspy").warning("header: point count mismatch")
    >>> messages
    [(30, 'vl3d_focal.inference.buffered', 'buffer: neighbour b.laz left out'), (30, 'laspy', 'header: point count mismatch')]
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

PACKAGE_LOGGER = "vl3d_focal"
"""The package's logger: its records (and its children's) are always kept."""
WORKER_LOGGERS = ("distributed", "tornado", "bokeh")
"""Loggers (with their children) of the Dask worker itself, which it prints with its own handlers."""
WARNINGS_LOGGER = "py.warnings"
"""The logger a warning shown by ``warnings.warn`` is relayed on."""

TaskMessage = tuple[int, str, str]
"""A captured message: its level, its logger's name, its text."""


def _printed_elsewhere(name: str) -> bool:
    """Whether a record of logger ``name`` is printed without the run: a Dask logger, or another
    library's that has a handler of its own (TensorFlow's, absl's) below the root."""
    if any(name == worker or name.startswith(f"{worker}.") for worker in WORKER_LOGGERS):
        return True
    if name == PACKAGE_LOGGER or name.startswith(f"{PACKAGE_LOGGER}."):
        return False
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None and logger is not logging.root:
        if any(not isinstance(handler, logging.NullHandler) for handler in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


class _Collector(logging.Handler):
    def __init__(self, messages: list[TaskMessage]) -> None:
        super().__init__(level=logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        if _printed_elsewhere(record.name):
            return
        try:
            self.messages.append((record.levelno, record.name, record.getMessage()))
        except Exception:  # noqa: BLE001  (a malformed message must not fail the tile)
            self.handleError(record)


@contextlib.contextmanager
def captured_messages() -> Iterator[list[TaskMessage]]:
    """Keeps the log records at WARNING and above and the warnings shown while the block runs
    (see the module docstring); yields the list they are added to.

    Example:
        >>> with captured_messages() as messages:
        ...     logging.getLogger("vl3d_focal.x").info("not kept")
        ...     for _ in range(3):
        ...         warnings.warn("scale factors differ", UserWarning)  # one place: shown once
        >>> [(level, name, text.split(": ", 1)[1]) for level, name, text in messages]
        [(30, 'py.warnings', 'UserWarning: scale factors differ')]
    """
    messages: list[TaskMessage] = []

    def keep_warning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:  # warnings.showwarning's signature
        text = f"{Path(filename).name}:{lineno}: {category.__name__}: {message}"
        messages.append((logging.WARNING, WARNINGS_LOGGER, text))

    handler = _Collector(messages)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():  # the filters' once-per-place registries start again here
            warnings.showwarning = keep_warning
            yield messages
    finally:
        root.removeHandler(handler)


def relay_messages(messages: Sequence[TaskMessage], *, tile: str) -> None:
    """Logs in this process the messages a task captured on a worker, each at its level on its
    logger, prefixed with the tile's file name unless the message names it already.

    Example:
        >>> import io
        >>> screen, handler = io.StringIO(), None
        >>> handler = logging.StreamHandler(screen)
        >>> logging.getLogger("vl3d_focal.t").addHandler(handler)
        >>> relay_messages([(30, "vl3d_focal.t", "buffer: b.laz left out"), (40, "vl3d_focal.t", "a.laz: oops")],
        ...                tile="/d/a.laz")
        >>> logging.getLogger("vl3d_focal.t").removeHandler(handler)
        >>> screen.getvalue().splitlines()
        ['a.laz: buffer: b.laz left out', 'a.laz: oops']
    """
    name = Path(tile).name
    for level, logger_name, message in messages:
        named = message if name in message else f"{name}: {message}"
        logging.getLogger(logger_name).log(level, "%s", named)
