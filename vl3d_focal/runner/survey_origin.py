"""Which run wrote a survey's record: a run whose survey phase did not start (refused, failed
before it) finds an earlier run's ``survey.json`` at its prefix, and its report must say so.

Example:
    >>> import tempfile
    >>> survey = Path(tempfile.mkdtemp()) / "survey.json"
    >>> _ = survey.write_text('{"started": "2026-01-02T03:00:00+00:00"}')
    >>> earlier_survey(str(survey), started="2026-01-02T03:00:00+00:00") is None  # this run's
    True
"""

from __future__ import annotations

import contextlib
import datetime
import json
from pathlib import Path

from vl3d_focal.io.timestamps import stamp


def earlier_survey(path: str, *, started: str) -> str | None:
    """When the survey record at ``path`` was last written by an earlier run (its ``updated``
    time, or its file's), None when this run, started at ``started`` (a :func:`now` stamp), wrote
    it. The record's own ``started``, stamped by the driver's clock as ``started`` is, tells the
    run apart; only a record without it is judged by its file's time, which a network file
    system's clock may stamp.

    Example:
        >>> import tempfile
        >>> survey = Path(tempfile.mkdtemp()) / "survey.json"
        >>> _ = survey.write_text('{"started": "2026-01-02T03:00:00+00:00", "updated": "2026-01-02T03:04:05+00:00"}')
        >>> earlier_survey(str(survey), started="2026-01-03T00:00:00+00:00")
        '2026-01-02T03:04:05+00:00'
        >>> earlier_survey(str(survey), started="2026-01-02T03:00:00+00:00") is None
        True
    """
    begun = datetime.datetime.fromisoformat(started)
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    record = record if isinstance(record, dict) else {}
    with contextlib.suppress(KeyError, TypeError, ValueError):  # no comparable "started": the file's time
        return (
            None
            if datetime.datetime.fromisoformat(record["started"]) >= begun
            else str(record.get("updated", record["started"]))
        )
    written = Path(path).stat().st_mtime if Path(path).is_file() else begun.timestamp()
    if written >= begun.timestamp():
        return None
    return str(record["updated"]) if "updated" in record else stamp(written)
