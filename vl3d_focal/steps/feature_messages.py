"""Validation's one message for the feature names a cloud lacks: the names (a "did you mean" for
each with a close match) and, the first time a spec's messages name that cloud, what it offers:
the features in its file, the ones mined by the steps before, the ones derived on request.

Example:
    >>> known = {"mined_features": ["planarity_k8"]}
    >>> print(missing_features_issue((), "fnames", [(0, "intensty"), (2, "nir")], "a.las",
    ...       ["x", "intensity", "ones", "planarity_k8"], known, owner="the imputer")[1])
    2 names are not features of a.las nor of a miner step before the imputer:
      'intensty' (did you mean 'intensity'?), 'nir'
      in the file: x, intensity
      mined by the steps before: planarity_k8
      derived on request: ones = the constant 1 (VL3D)
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vl3d_focal.config.checks import Issue
from vl3d_focal.data.feature_names import DERIVED_DEFINITIONS, DERIVED_FEATURE_NAMES, feature_names
from vl3d_focal.errors import closest

LISTED = "features_listed"
"""``known`` key: each cloud whose features a message of this spec already lists -> the features
listed (the ones offered then, and the ones named as mined since by a later message)."""
SHOWN_NAMES = 12
"""At most this many missing names in a message (then "… and N more")."""
SHOWN_FEATURES = 40
"""At most this many features of a cloud in its listing (then "… and N more")."""
WIDTH = 100
"""A message's lines are at most this long (the issue's path comes before the first)."""


def shortened(items: Sequence[str], limit: int) -> str:
    """``items`` joined by commas, the ones past ``limit`` counted.

    Example:
        >>> shortened(["a", "b", "c"], 2), shortened(["a"], 2)
        ('a, b … and 1 more', 'a')
    """
    more = f" … and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _hint(name: str, choices: Sequence[str]) -> str:
    """A close match among ``choices``; no derived feature for a name that extends one
    (``linearity_r0.1``: a mined feature of its own neighbourhood, not one of the 16 neighbours).

    Example:
        >>> _hint("intensty", ["intensity"]), _hint("linearity_r0.1", ["linearity", "planarity"])
        ("'intensity'", '')
    """
    mined_like = any(name.startswith(f"{derived}_") for derived in DERIVED_FEATURE_NAMES)
    match = closest(name, [c for c in choices if not (mined_like and c in DERIVED_FEATURE_NAMES)])
    return "" if match is None else repr(match)


def _stored(cloud: str) -> set[str] | None:
    """The feature names ``cloud``'s file holds (its dimensions; no derived one unless stored),
    None when its header cannot be read."""
    from vl3d_focal.io.las_header import readable_header  # laspy only when a file is read

    header = readable_header(cloud)
    if header is None:
        return None
    dimensions = list(header.point_format.dimension_names)
    return {name for name in feature_names(dimensions) if name not in DERIVED_FEATURE_NAMES or name in dimensions}


def _listing(cloud: str, offered: Sequence[str], mined: Sequence[str]) -> list[str]:
    """What ``cloud`` offers, by where it comes from, one group a line."""
    stored = _stored(cloud)
    derived = [n for n in offered if n in DERIVED_FEATURE_NAMES and (stored is None or n not in stored)]
    in_file = [n for n in offered if n not in derived and (n in stored if stored is not None else n not in mined)]
    given = [n for n in offered if n not in derived and n not in in_file]
    groups = [
        ("in the file", shortened(in_file, SHOWN_FEATURES)),
        ("mined by the steps before", shortened(given, SHOWN_FEATURES)),
        ("derived on request", "; ".join(f"{n} = {DERIVED_DEFINITIONS[n]}" for n in derived)),
    ]
    return [f"{title}: {text}" for title, text in groups if text]


def missing_features_issue(
    at: tuple,
    key: str,
    missing: Sequence[tuple[int, str]],
    cloud: str,
    offered: Sequence[str],
    known: dict[str, Any],
    *,
    owner: str,
) -> Issue:
    """The issue of the ``missing`` entries ``(index, name)`` of a step's list ``key`` that
    ``cloud`` (offering ``offered``) lacks: at the entry for one name, at the list for several;
    ``owner`` names the step ("the imputer"). The first issue of a spec about ``cloud``
    (``known[LISTED]``) lists what it offers; the later ones refer to it, naming the features
    mined since (a miner step between them).

    Example:
        >>> known = {}
        >>> first, again, later = (missing_features_issue((), "fnames", [(1, "b")], "a.las", offered, known,
        ...                        owner="it")[1].splitlines() for offered in (["a"], ["a"], ["a", "m"]))
        >>> first[0]
        "'b' is not a feature of a.las nor of a miner step before it"
        >>> again[1:], later[1:]
        (['  (its features: listed above)'], ['  (its features: listed above)', '  mined since: m'])
    """
    hints = [(name, _hint(name, offered)) for _, name in missing]
    source = f"{cloud} nor of a miner step before {owner}"
    if len(missing) == 1:
        name, hint = hints[0]
        where, lines = at + (key, missing[0][0]), [f"{name!r} is not a feature of {source}"]
        lines[0] += f"; did you mean {hint}?" if hint else ""
    else:
        named = [f"{name!r}" + (f" (did you mean {hint}?)" if hint else "") for name, hint in hints]
        where = at + (key,)
        lines = [f"{len(missing)} names are not features of {source}:", _wrapped(shortened(named, SHOWN_NAMES), "  ")]
    listed = known.setdefault(LISTED, {})
    if cloud in listed:
        since = [name for name in offered if name not in listed[cloud]]
        lines.append("  (its features: listed above)")
        lines += [_wrapped(f"mined since: {shortened(since, SHOWN_FEATURES)}", "  ")] if since else []
        listed[cloud] |= set(since)
    else:
        listed[cloud] = set(offered)
        lines += [_wrapped(line, "  ") for line in _listing(cloud, offered, known.get("mined_features", []))]
    return where, "\n".join(lines)


def missing_by_cloud(
    entries: Iterable[tuple[int, Any]], clouds: Mapping[str, Sequence[str] | None]
) -> dict[str, list[tuple[int, str]]]:
    """The ``(index, name)`` entries of a step's list that a cloud lacks, each under the first cloud
    (of ``clouds``: path -> its features, None where unknown) lacking it: one message a cloud.
    Names of another type are left to the schema.

    Example:
        >>> missing_by_cloud([(0, "a"), (1, "b"), (2, "c"), (3, 4)], {"1.las": ["a", "c"], "2.las": ["b"], "3": None})
        {'2.las': [(0, 'a'), (2, 'c')], '1.las': [(1, 'b')]}
    """
    missing: dict[str, list[tuple[int, str]]] = {}
    for index, name in entries:
        if not isinstance(name, str):
            continue
        absent = [path for path, offered in clouds.items() if offered is not None and name not in offered]
        if absent:
            missing.setdefault(absent[0], []).append((index, name))
    return missing


def _wrapped(text: str, indent: str) -> str:
    """``text`` in lines of at most :data:`WIDTH` characters, the first indented by ``indent``, the
    next ones two more."""
    return textwrap.fill(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_on_hyphens=False,
        break_long_words=False,
    )
