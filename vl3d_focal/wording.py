"""Words of the messages a user reads: a noun in the singular or the plural its count needs, a
long listing of names shortened.

Example:
    >>> counted(1, "tile"), counted(3, "tile"), counted(2, "worker process", "worker processes")
    ('1 tile', '3 tiles', '2 worker processes')
"""

from __future__ import annotations

from collections.abc import Sequence


def noun(count: int, singular: str, plural: str | None = None) -> str:
    """``singular`` for a count of 1, else ``plural`` (``singular`` + "s" when not given).

    Example:
        >>> f"unknown {noun(1, 'feature')} ['x']", f"the {noun(2, 'class', 'classes')} [1, 2]"
        ("unknown feature ['x']", 'the classes [1, 2]')
    """
    if count == 1:
        return singular
    return plural if plural is not None else f"{singular}s"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """The count and its noun (:func:`noun`).

    Example:
        >>> counted(0, "neighbour"), counted(1, "neighbour")
        ('0 neighbours', '1 neighbour')
    """
    return f"{count} {noun(count, singular, plural)}"


def shortened(names: Sequence[str], limit: int, *, separator: str = ", ") -> str:
    """``names`` joined by ``separator``, the first ``limit`` of them, then how many more.

    Example:
        >>> shortened(["a", "b", "c", "d"], 2), shortened(["a", "b"], 2), shortened(["a", "b", "c"], 2, separator="+")
        ('a, b … and 2 more', 'a, b', 'a+b … and 1 more')
    """
    more = f" … and {len(names) - limit} more" if len(names) > limit else ""
    return separator.join(names[:limit]) + more
