"""Exceptions of vl3d_focal: one base class, and spec errors that carry JSON paths (with
:func:`did_you_mean`, the hint of their messages for an unknown name).

Example:
    >>> err = SpecError([SpecIssue("$.sequential_pipeline[0]", "unknown step")])
    >>> str(err)
    '$.sequential_pipeline[0]: unknown step'
"""

from __future__ import annotations

import difflib
import itertools
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
    """A pipeline spec that is not valid; holds every issue found, sorted by location, and the
    notes a valid spec would report that still apply (``notes``)."""

    def __init__(self, issues: Iterable[SpecIssue], notes: Iterable[SpecIssue] = ()):
        self.issues = sorted(issues, key=SpecIssue.sort_key)
        self.notes = list(notes)
        super().__init__("\n".join(str(issue) for issue in self.issues))


_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PARAMETER = re.compile(r"[a-z]{0,3}\d+")


_WORD_GAP = re.compile(r"(?:[^\w.]|_|(?<!\d)\.|\.(?!\d))+")
"""What separates the words of a name: underscores and signs, a dot only outside a number (``r1.5``)."""


def _canonical(text: str) -> str:
    """``text`` in lower case with its numbers written alike (``r3.0`` and ``r3`` both ``r3``)."""

    def number(match: re.Match[str]) -> str:
        written = repr(float(match.group()))
        return written[:-2] if written.endswith(".0") else written

    return _NUMBER.sub(number, text.lower())


def _token_overlap(words: Sequence[str], theirs: Sequence[str]) -> float:
    """How well the words of one name match another's, a Jaccard index of partly equal words: each
    word's best similarity with one of theirs (``k16`` and ``k61`` two thirds) over the weight of
    both names' words less that; a parameter (a short prefix and a number, ``k16``) weighs half
    another word (the feature, ``planarity``)."""

    def weight(word: str) -> float:
        return 0.5 if _PARAMETER.fullmatch(word) else 1.0

    shared = sum(
        weight(word) * max((difflib.SequenceMatcher(None, word, their).ratio() for their in theirs), default=0.0)
        for word in words
    )
    return shared / max(sum(map(weight, words)) + sum(map(weight, theirs)) - shared, 1e-9)


def closest(word: Any, choices: Sequence[Any]) -> Any:
    """The choice closest to ``word`` (case and the writing of numbers ignored), or None when none
    is close. A word's first letter is seldom the mistyped one: the close choices whose words start
    as ``word``'s do (in order) come first (``HSV_Srad`` is ``HSV_S`` with a stray suffix, not
    ``HSV_Hrad`` with a wrong letter), then the ones whose words match best.

    Example:
        >>> closest("HSV_Srad", ["HSV_Hrad", "HSV_S", "HSV_V"])
        'HSV_S'
        >>> closest("planarity_k61", ["planarity", "planarity_k16"]), closest("intensity_k8", ["intensity", "intensity_r8"])
        ('planarity_k16', 'intensity_r8')
        >>> closest("planarity_r15", ["planarity_r1.5", "planarity_r2"])
        'planarity_r1.5'
        >>> closest("planarity_k16", ["linearity_k16", "planarity_k61"])
        'planarity_k61'
        >>> closest("floor_distance_r3_sep0.5", ["floor_distance_r3.0_sep0.5", "height_range_r3.0_sep0.5"])
        'floor_distance_r3.0_sep0.5'
    """
    texts = {_canonical(str(choice)): choice for choice in choices if choice is not None}
    target = _canonical(str(word))
    if target in texts:
        return texts[target]
    close = difflib.get_close_matches(target, list(texts), n=3, cutoff=0.6)
    if not close:
        return None
    words = _WORD_GAP.split(target)

    def score(candidate: str) -> tuple[int, float, float]:
        theirs = _WORD_GAP.split(candidate)
        initials = sum(word[:1] != their[:1] for word, their in itertools.zip_longest(words, theirs, fillvalue=""))
        return -initials, _token_overlap(words, theirs), difflib.SequenceMatcher(None, target, candidate).ratio()

    return texts[max(close, key=score)]


def did_you_mean(word: Any, choices: Sequence[Any]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice (:func:`closest`), else ``""``.

    Example:
        >>> did_you_mean("ADAM", ["Adam", "SGD"])
        "; did you mean 'Adam'?"
    """
    match = closest(word, choices)
    return "" if match is None else f"; did you mean {match!r}?"
