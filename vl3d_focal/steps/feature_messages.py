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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vl3d_focal.config.checks import Issue
from vl3d_focal.data.feature_listing import SHOWN_FEATURES, hinted_names, indented, name_hint, offered_groups
from vl3d_focal.wording import shortened

LISTED = "features_listed"
"""``known`` key: each cloud whose features a message of this spec already lists -> the features
listed (the ones offered then, and the ones named as mined since by a later message)."""


def _dimensions(cloud: str) -> list[str] | None:
    """The dimension names of ``cloud``'s point format, None when its header cannot be read."""
    from vl3d_focal.io.las_header import readable_header  # laspy only when a file is read

    header = readable_header(cloud)
    return None if header is None else list(header.point_format.dimension_names)


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
    source = f"{cloud} nor of a miner step before {owner}"
    if len(missing) == 1:
        index, name = missing[0]
        hint = name_hint(name, offered)
        where, lines = at + (key, index), [f"{name!r} is not a feature of {source}"]
        lines[0] += f"; did you mean {hint}?" if hint else ""
    else:
        where = at + (key,)
        named = hinted_names([name for _, name in missing], offered)
        lines = [f"{len(missing)} names are not features of {source}:", indented(named, "  ")]
    listed = known.setdefault(LISTED, {})
    if cloud in listed:
        since = [name for name in offered if name not in listed[cloud]]
        lines.append("  (its features: listed above)")
        lines += [indented(f"mined since: {shortened(since, SHOWN_FEATURES)}", "  ")] if since else []
        listed[cloud] |= set(since)
    else:
        listed[cloud] = set(offered)
        groups = offered_groups(offered, dimensions=_dimensions(cloud), mined=known.get("mined_features", []))
        lines += [indented(line, "  ") for line in groups]
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
