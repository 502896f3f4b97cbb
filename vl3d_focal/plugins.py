"""Discovery of third-party registry entries through importlib.metadata entry points.

A plugin package declares, in its own metadata::

    [options.entry_points]
    vl3d_focal.losses =
        my_loss = my_package.losses:MY_LOSS_ENTRY

where ``MY_LOSS_ENTRY`` is a :class:`vl3d_focal.registry.RegistryEntry`; the groups are
``vl3d_focal.losses``, ``vl3d_focal.models`` and ``vl3d_focal.steps``. Entry points are
read once per registry; a plugin that fails to load is skipped with a warning naming it.
Setting ``VL3D_FOCAL_DISABLE_PLUGINS=1`` turns discovery off.

Example:
    >>> entries = load_entry_points("vl3d_focal.losses", expected=object)
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

logger = logging.getLogger(__name__)

DISABLE_VARIABLE = "VL3D_FOCAL_DISABLE_PLUGINS"


def plugins_disabled() -> bool:
    """True when the environment turns plugin discovery off."""
    return os.environ.get(DISABLE_VARIABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def _installed(group: str) -> Iterable[EntryPoint]:
    return entry_points(group=group)


def load_entry_points(group: str, *, expected: type, found: Iterable[EntryPoint] | None = None) -> list[Any]:
    """Loads the objects that installed packages declare in ``group``.

    Args:
        group: the entry-point group, e.g. ``"vl3d_focal.losses"``.
        expected: the type every loaded object must have (a registry entry).
        found: entry points to load instead of the installed ones (tests pass fakes).
    """
    if plugins_disabled():
        logger.debug("plugin discovery disabled by %s", DISABLE_VARIABLE)
        return []
    loaded = []
    for point in found if found is not None else _installed(group):
        try:
            entry = point.load()
            if not isinstance(entry, expected):
                raise TypeError(f"expected a {expected.__name__}, got {type(entry).__name__}")
        except Exception as exc:  # a broken plugin must not break the others
            warnings.warn(
                f"vl3d_focal plugin {point.name!r} ({point.value}) in {group!r} failed to load: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        loaded.append(entry)
    return loaded
