"""laspy's own log records while this package reads a file.

laspy logs an error (``ERROR laspy.lasreader: IoError: failed to fill whole buffer``, once per
LAZ backend it tries) before it raises it; the reader then reports the file once, as a clear
:class:`~vl3d_focal.errors.DataError`. :func:`laspy_errors_held` holds those records back for the
time of a read and lets them through only when the read succeeds.

Example:
    >>> with laspy_errors_held():
    ...     logging.getLogger("laspy.lasreader").error("dropped: the read raises")
    ...     raise KeyError("x")
    Traceback (most recent call last):
    KeyError: 'x'
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def laspy_errors_held() -> Iterator[None]:
    """Holds back laspy's own ERROR log records while a file is read: laspy logs an error before
    raising it, which the caller then reports once as a clear DataError. A read that succeeds
    lets the held records through; warnings always pass.

    Example:
        >>> with logged("laspy"), laspy_errors_held():
        ...     logging.getLogger("laspy.lasreader").error("held until the read succeeds")
        ...     print("read")
        read
        ERROR: held until the read succeeds
    """
    held: list[logging.LogRecord] = []

    def hold(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            held.append(record)
            return False
        return True

    names = ["laspy", *(name for name in list(logging.Logger.manager.loggerDict) if name.startswith("laspy."))]
    loggers = [logging.getLogger(name) for name in names]
    for each in loggers:
        each.addFilter(hold)
    try:
        yield
    finally:
        for each in loggers:
            each.removeFilter(hold)
    for record in held:
        logging.getLogger(record.name).handle(record)
