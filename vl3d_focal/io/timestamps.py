"""The one clock of the run's records: ``report.json``, ``run.json``, ``survey.json`` and the
prefix lock stamp their times with :func:`now`, so the files of one run read alike.

Example:
    >>> datetime.datetime.fromisoformat(now()).utcoffset()
    datetime.timedelta(0)
"""

from __future__ import annotations

import datetime


def now() -> str:
    """The time now in UTC, ISO 8601 to the second with its explicit offset (``+00:00``).

    Example:
        >>> now().endswith("+00:00"), len(now())
        (True, 25)
    """
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def stamp(seconds: float) -> str:
    """A moment given in seconds since the epoch (``time.time()``, a file's ``st_mtime``) stamped
    as :func:`now` stamps the time now.

    Example:
        >>> stamp(0.0)
        '1970-01-01T00:00:00+00:00'
    """
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat(timespec="seconds")


def readable(stamp: object) -> str:
    """A record's time stamp as a person reads it: UTC stamps as ``YYYY-MM-DD HH:MM:SS UTC``,
    other stamps (local times of older records) with the date and time apart, anything else as given.

    Example:
        >>> readable("2026-12-05T10:01:12+00:00"), readable("2026-01-01T10:00"), readable(None)
        ('2026-12-05 10:01:12 UTC', '2026-01-01 10:00:00', 'None')
    """
    try:
        moment = datetime.datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    text = moment.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    return f"{text} UTC" if moment.utcoffset() == datetime.timedelta(0) else text
