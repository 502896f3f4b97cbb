"""What a task on a Dask worker logs, told once by the run that started it.

A Dask worker process has no handler of its own for the package's loggers: its warnings would
go to Python's last-resort handler, bare lines on the terminal without time, level or logger,
beside the run's own log. :func:`captured_messages` keeps, while a task runs, what the package
logs at WARNING and above (and nothing reaches that last-resort handler); the task returns them
with its outcome, and the run logs each once (:func:`relay_messages`): at its level, on its
logger, naming the tile. A worker runs one task at a time (one Dask thread per worker), so what
the process logs meanwhile is the task's.

Example:
    >>> with captured_messages() as messages:
    ...     logging.getLogger("vl3d_focal.inference.buffered").warning("buffer: neighbour b.laz left out")
    >>> messages
    [(30, 'vl3d_focal.inference.buffered', 'buffer: neighbour b.laz left out')]
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

PACKAGE_LOGGER = "vl3d_focal"
"""The logger whose records (and its children's) a task's capture keeps."""

TaskMessage = tuple[int, str, str]
"""A captured message: its level, its logger's name, its text."""


class _Collector(logging.Handler):
    def __init__(self, messages: list[TaskMessage]) -> None:
        super().__init__(level=logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append((record.levelno, record.name, record.getMessage()))
        except Exception:  # noqa: BLE001  (a malformed message must not fail the tile)
            self.handleError(record)


@contextlib.contextmanager
def captured_messages() -> Iterator[list[TaskMessage]]:
    """Keeps what the package logs at WARNING and above while the block runs (see the module
    docstring); yields the list they are added to.

    Example:
        >>> with captured_messages() as messages:
        ...     logging.getLogger("vl3d_focal.x").info("not kept")
        >>> messages
        []
    """
    messages: list[TaskMessage] = []
    handler = _Collector(messages)
    package = logging.getLogger(PACKAGE_LOGGER)
    package.addHandler(handler)
    try:
        yield messages
    finally:
        package.removeHandler(handler)


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
