"""Names of report files, and the CSV writer of the reports (no plotting library needed).

Example:
    >>> sorted(evaluation_files("out/eval/evaluation.json"))
    ['confusion_svg', 'distribution_csv', 'distribution_svg', 'json', 'text', 'topdown_svg']
    >>> evaluation_files("out/eval/evaluation.json")["topdown_svg"].as_posix()
    'out/eval/evaluation_topdown.svg'
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.io.atomic import atomic_output

logger = logging.getLogger(__name__)


def evaluation_files(report_path: str | os.PathLike[str]) -> dict[str, Path]:
    """The files of one evaluation: the JSON at ``report_path`` and the others beside it."""
    json_path = Path(report_path)
    stem = json_path.with_suffix("")
    return {
        "json": json_path,
        "text": json_path.with_suffix(".txt"),
        "confusion_svg": Path(f"{stem}_confusion.svg"),
        "distribution_csv": Path(f"{stem}_class_distribution.csv"),
        "distribution_svg": Path(f"{stem}_class_distribution.svg"),
        "topdown_svg": Path(f"{stem}_topdown.svg"),
    }


def is_picture(name: str) -> bool:
    """Whether an :func:`evaluation_files` name is a picture's.

    Example:
        >>> [name for name in evaluation_files("e.json") if is_picture(name)]
        ['confusion_svg', 'distribution_svg', 'topdown_svg']
    """
    return name.endswith("_svg")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Writes a CSV file atomically (a header row, then ``rows``).

    Example:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "t.csv"
        >>> write_csv(out, ["a", "b"], [[1, 2]])
        >>> out.read_text().splitlines()
        ['a,b', '1,2']
    """
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    logger.info("wrote %s", path)
