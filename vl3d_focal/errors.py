"""Exceptions of vl3d_focal: one base class, and spec errors that carry JSON paths (with
:func:`did_you_mean`, the hint of their messages for an unknown name).

Example:
    >>> err = SpecError([SpecIssue("$.sequential_pipeline[0]", "unknown step")])
    >>> str(err)
    '$.sequential_pipeline[0]: unknown step'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class VL3DFocalError(Exception):
    """Base class of every error this package raises on purpose.

    The command line turns these into a message and exit code 2, without a traceback.
    """


class RegistryError(VL3DFocalError, KeyError):
    """An unknown or duplicate name in a registry.

    Subclasses ``KeyError`` so that ``registry.get`` behaves like a mapping lookup.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(VL3DFocalError):
    """A point cloud, model file or other input that cannot be used as it is."""


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in a spec: where it is (a ``$.json.path``) and what is wrong."""

    path: str
    message: str
    file: str = ""

    def sort_key(self) -> tuple[Any, ...]:
        """File, then path with numbers compared as numbers (``[2]`` before ``[10]``), then message.

        Example:
            >>> issues = [SpecIssue("$.s[10]", "m"), SpecIssue("$.s[2]", "m")]
            >>> [i.path for i in sorted(issues, key=SpecIssue.sort_key)]
            ['$.s[2]', '$.s[10]']
        """
        pieces = re.split(r"(\d+)", self.path)
        path = tuple((1, int(p), "") if i % 2 else (0, 0, p) for i, p in enumerate(pieces))
        return (self.file, path, self.message)

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.path}: {self.message}"


class SpecError(VL3DFocalError):
    """A pipeline spec that is not valid; holds every issue found, sorted by location."""

    def __init__(self, issues: Iterable[SpecIssue]):
        self.issues = sorted(issues, key=SpecIssue.sort_key)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def did_you_mean(word: Any, choices: Sequence[Any]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice (case-insensitive), else ``""``.

    Example:
        >>> did_you_mean("ADAM", ["Adam", "SGD"])
        "; did you mean 'Adam'?"
    """
    texts = {str(choice).lower(): choice for choice in choices if choice is not None}
    target = str(word).lower()
    close = difflib.get_close_matches(target, list(texts), n=3, cutoff=0.6)
    if not close:
        return ""
    words = set(re.split(r"[_\W]+", target))

    def score(candidate: str) -> tuple[float, float]:
        theirs = set(re.split(r"[_\W]+", candidate))
        shared = len(words & theirs) / max(len(words | theirs), 1)
        return shared, difflib.SequenceMatcher(None, target, candidate).ratio()

    return f"; did you mean {texts[max(close, key=score)]!r}?"
