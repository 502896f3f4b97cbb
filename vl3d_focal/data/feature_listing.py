"""How a message lists feature names a cloud lacks and what it offers, the same at validation
(:mod:`vl3d_focal.steps.feature_messages`) and at run time (:func:`vl3d_focal.data.features.raw_features`):
the missing names, each with its close match, and the features offered, by where they come from,
each listing shortened, in lines of at most :data:`WIDTH` characters.

Example:
    >>> print(indented(hinted_names(["intensty", "nir"], ["x", "intensity"]), "  "))
      'intensty' (did you mean 'intensity'?), 'nir'
    >>> for line in offered_groups(["x", "intensity", "ones", "p_k8"], dimensions=["X", "intensity"], mined=["p_k8"]):
    ...     print(line)
    in the file: x, intensity
    mined by the steps before: p_k8
    derived on request: ones = the constant 1 (VL3D)
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection, Sequence

from vl3d_focal.data.feature_names import DERIVED_DEFINITIONS, DERIVED_FEATURE_NAMES, feature_names
from vl3d_focal.errors import closest
from vl3d_focal.wording import shortened

SHOWN_NAMES = 12
"""At most this many missing names in a message (then "… and N more")."""
SHOWN_FEATURES = 40
"""At most this many features of a cloud in its listing (then "… and N more")."""
WIDTH = 100
"""A message's lines are at most this long (the issue's path comes before the first)."""


def name_hint(name: str, choices: Sequence[str]) -> str:
    """A close match among ``choices``, quoted, or ""; no derived feature for a name that extends
    one (``linearity_r0.1``: a mined feature of its own neighbourhood, not one of the 16 neighbours).

    Example:
        >>> name_hint("intensty", ["intensity"]), name_hint("linearity_r0.1", ["linearity", "planarity"])
        ("'intensity'", '')
    """
    mined_like = any(name.startswith(f"{derived}_") for derived in DERIVED_FEATURE_NAMES)
    match = closest(name, [c for c in choices if not (mined_like and c in DERIVED_FEATURE_NAMES)])
    return "" if match is None else repr(match)


def hinted_names(missing: Sequence[str], offered: Sequence[str]) -> str:
    """The ``missing`` names, quoted, each with its close match among ``offered``, the ones past
    :data:`SHOWN_NAMES` counted.

    Example:
        >>> hinted_names(["b", "intensty"], ["intensity"])
        "'b', 'intensty' (did you mean 'intensity'?)"
    """
    hints = [(name, name_hint(name, offered)) for name in missing]
    return shortened([f"{name!r}" + (f" (did you mean {hint}?)" if hint else "") for name, hint in hints], SHOWN_NAMES)


def offered_groups(offered: Sequence[str], *, dimensions: Sequence[str] | None, mined: Collection[str]) -> list[str]:
    """What a cloud offers (``offered``), by where it comes from, one group a line: the features in
    its file (of its point format's ``dimensions``; None when unknown: the ones not ``mined``), the
    ones mined, the derived ones (computed unless the file stores them) with their definitions.

    Example:
        >>> offered_groups(["x", "planarity", "linearity"], dimensions=["X", "planarity"], mined=[])
        ['in the file: x, planarity', 'derived on request: linearity = (l1 - l2) / l1 of the 16-neighbour covariance']
    """
    stored = None
    if dimensions is not None:
        stored = {n for n in feature_names(dimensions) if n not in DERIVED_FEATURE_NAMES or n in dimensions}
    derived = [n for n in offered if n in DERIVED_FEATURE_NAMES and (stored is None or n not in stored)]
    in_file = [n for n in offered if n not in derived and (n in stored if stored is not None else n not in mined)]
    given = [n for n in offered if n not in derived and n not in in_file]
    groups = [
        ("in the file", shortened(in_file, SHOWN_FEATURES)),
        ("mined by the steps before", shortened(given, SHOWN_FEATURES)),
        ("derived on request", "; ".join(f"{n} = {DERIVED_DEFINITIONS[n]}" for n in derived)),
    ]
    return [f"{title}: {text}" for title, text in groups if text]


def indented(text: str, indent: str) -> str:
    """``text`` in lines of at most :data:`WIDTH` characters, the first indented by ``indent``, the
    next ones two more.

    Example:
        >>> print(indented("in the file: " + ", ".join(f"f{i}" for i in range(30)), "  "))
          in the file: f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18,
            f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29
    """
    return textwrap.fill(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_on_hyphens=False,
        break_long_words=False,
    )
