"""Registries that turn a spec entry such as ``{"function": "name", ...}`` into an object.

Example:
    >>> from vl3d_focal.registry import LOSSES
    >>> loss = LOSSES.build({"function": "class_weighted_focal_categorical_crossentropy",
    ...                      "gamma": 2.0, "class_weight": [1.0, 2.0, 3.0]}, num_classes=3)
    >>> LOSSES.names()[:2]
    ['categorical_crossentropy', 'categorical_focal_crossentropy']
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from vl3d_focal.errors import RegistryError


@dataclass(frozen=True)
class RegistryEntry:
    """A registered builder with what other components need to know about it.

    Attributes:
        name: the name used in specs.
        builder: a callable taking keyword arguments that returns the component.
        schema: JSON Schema of the spec entry (the key naming the builder included).
        description: one line shown by ``vl3d-focal list``.
        metadata: facts other components read instead of comparing names, e.g. a
            loss's ``{"label_format": "sparse", "takes_class_weight": True}``.
        origin: where the builder is defined, for duplicate-name errors.
    """

    name: str
    builder: Callable[..., Any]
    schema: Mapping[str, Any]
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""


def _origin_of(builder: Callable[..., Any]) -> str:
    module = getattr(builder, "__module__", "?")
    return f"{module}.{getattr(builder, '__qualname__', repr(builder))}"


def _first_doc_line(builder: Callable[..., Any]) -> str:
    doc = inspect.getdoc(builder) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Names mapped to builders, with metadata; plugins are discovered on first lookup.

    Args:
        kind: what is registered ("loss", "model"), used in messages.
        key: the spec key that names the builder (``"function"`` for losses).
        entry_point_group: the importlib.metadata group third-party entries come from.
    """

    def __init__(self, *, kind: str, key: str, entry_point_group: str | None = None):
        self.kind = kind
        self.key = key
        self.entry_point_group = entry_point_group
        self._entries: dict[str, RegistryEntry] = {}
        self._plugins_loaded = entry_point_group is None

    def register(self, entry: RegistryEntry, *, force: bool = False) -> RegistryEntry:
        """Adds ``entry``; a taken name is refused unless ``force`` is true."""
        existing = self._entries.get(entry.name)
        if existing is not None and not force:
            raise RegistryError(
                f"{self.kind} {entry.name!r} is already registered by {existing.origin}; "
                "pass force=True to replace it"
            )
        self._entries[entry.name] = entry
        return entry

    def register_module(
        self,
        name: str | None = None,
        *,
        schema: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        description: str | None = None,
        force: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering a builder under ``name`` (default: its ``__name__``)."""

        def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
            self.register(
                RegistryEntry(
                    name=name or builder.__name__,
                    builder=builder,
                    schema=schema,
                    description=description or _first_doc_line(builder),
                    metadata=dict(metadata or {}),
                    origin=_origin_of(builder),
                ),
                force=force,
            )
            return builder

        return decorate

    def _ensure_plugins(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            from vl3d_focal.plugins import load_entry_points

            for entry in load_entry_points(self.entry_point_group):
                try:
                    self.register(entry)
                except RegistryError as exc:
                    warnings.warn(f"vl3d_focal plugin skipped: {exc}", RuntimeWarning, stacklevel=3)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._ensure_plugins()
        return sorted(self._entries)

    def entries(self) -> list[RegistryEntry]:
        """Every entry, sorted by name."""
        return [self._entries[name] for name in self.names()]

    def get(self, name: str) -> RegistryEntry:
        """The entry called ``name``; an unknown name lists the known ones."""
        self._ensure_plugins()
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RegistryError(
                f"unknown {self.kind} {name!r}{hint} Known: {', '.join(sorted(self._entries))}"
            )
        return self._entries[name]

    def build(self, cfg: Mapping[str, Any], **default_args: Any) -> Any:
        """Builds the component a spec entry describes.

        Keys starting with ``_`` are comments. ``default_args`` fill arguments the entry
        does not give, and only those the builder accepts (a loss without class weights
        silently takes no ``class_weight``).
        """
        if self.key not in cfg:
            raise RegistryError(f"a {self.kind} entry needs the key {self.key!r}; got {dict(cfg)!r}")
        entry = self.get(cfg[self.key])
        args = {k: v for k, v in cfg.items() if k != self.key and not str(k).startswith("_")}
        accepted = inspect.signature(entry.builder).parameters
        for arg, value in default_args.items():
            if arg in accepted:
                args.setdefault(arg, value)
        return entry.builder(**args)


LOSSES = Registry(kind="loss", key="function", entry_point_group="vl3d_focal.losses")
MODELS = Registry(kind="model", key="train", entry_point_group="vl3d_focal.models")
