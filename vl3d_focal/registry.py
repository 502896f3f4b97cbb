"""Registries that turn a spec entry such as ``{"function": "name", ...}`` into an object.

An entry declares what other components need to know (name, JSON schema, description,
metadata) and names its builder as ``"module:attribute"``, imported only when the entry is
built: listing, schema generation and validation never import TensorFlow. Built-in entries
are registered by importing the modules a registry lists; third-party ones come from the
registry's entry-point group (:mod:`vl3d_focal.plugins`).

Example:
    >>> LOSSES.names()[:2]
    ['categorical_crossentropy', 'categorical_focal_crossentropy']
    >>> LOSSES.get("class_weighted_focal_categorical_crossentropy").metadata["label_format"]
    'sparse'
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vl3d_focal.errors import RegistryError
from vl3d_focal.lazy import load_reference
from vl3d_focal.plugins import load_entry_points

Builder = Callable[..., Any]


def caller_module() -> str:
    """The ``__name__`` of the module whose code called the function that calls this one.

    Reads one frame (``inspect.stack()`` reads the source of every frame on the stack: 0.4 s a
    call once TensorFlow is imported, paid by every process that imports the steps).

    Example:
        >>> def registering():
        ...     return caller_module()
        >>> registering() == __name__
        True
    """
    frame = inspect.currentframe()
    caller = frame.f_back.f_back if frame is not None and frame.f_back is not None else None
    return caller.f_globals.get("__name__", "?") if caller is not None else "?"


@dataclass(frozen=True)
class RegistryEntry:
    """A registered component with what other components need to know about it.

    Attributes:
        name: the name used in specs.
        builder: the callable that builds the component, or ``"module:attribute"`` naming it
            (imported on first use, so the entry itself stays cheap to load).
        schema: JSON Schema of the spec entry (or, for steps, of the whole step).
        description: one line shown by ``vl3d-focal list``.
        metadata: facts other components read instead of comparing names, e.g. a loss's
            ``{"label_format": "sparse", "takes_class_weight": True}``.
        origin: where the entry is defined, for duplicate-name errors.
    """

    name: str
    builder: Builder | str
    schema: Mapping[str, Any]
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    origin: str = ""

    @property
    def learns_from_points(self) -> bool:
        """Whether a model entry predicts each point from its own features, fitted once (metadata
        ``samples: points``: the forest) rather than from receptive fields (``fields``, the default).

        Example:
            >>> RegistryEntry(name="m", builder=print, schema={}, metadata={"samples": "points"}).learns_from_points
            True
        """
        return self.metadata.get("samples", "fields") == "points"

    def load(self) -> Builder:
        """The builder callable (imports its module when given as ``"module:attribute"``).

        Example:
            >>> LOSSES.get("categorical_crossentropy").load().__name__
            'build_categorical_crossentropy'
        """
        if callable(self.builder):
            return self.builder
        return load_reference(self.builder)


class Registry:
    """Names mapped to entries; built-ins and plugins are loaded on first lookup.

    Args:
        kind: what is registered ("loss", "model", "step"), used in messages.
        key: the spec key that names the entry (``"function"`` for losses), if any.
        builtins: modules whose import registers the built-in entries.
        entry_point_group: the importlib.metadata group third-party entries come from.
        adapt: applied to each entry as it registers (brings an older plugin API's entry up to
            date, or refuses it with a :class:`RegistryError`).
    """

    def __init__(
        self,
        *,
        kind: str,
        key: str | None,
        builtins: tuple[str, ...] = (),
        entry_point_group: str | None = None,
        adapt: Callable[[RegistryEntry], RegistryEntry] | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.builtins = builtins
        self.entry_point_group = entry_point_group
        self.adapt = adapt
        self._entries: dict[str, RegistryEntry] = {}
        self._loaded = False

    def register(self, entry: RegistryEntry, *, force: bool = False) -> RegistryEntry:
        """Adds ``entry`` (through ``adapt``); a taken name is refused unless ``force`` is true."""
        if self.adapt is not None:
            entry = self.adapt(entry)
        existing = self._entries.get(entry.name)
        if existing is not None and not force:
            raise RegistryError(
                f"{self.kind} {entry.name!r} is already registered by {existing.origin}; pass force=True to replace it"
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
    ) -> Callable[[Builder], Builder]:
        """Decorator registering a builder under ``name`` (default: its ``__name__``).

        Example:
            >>> r = Registry(kind="demo", key="function")
            >>> @r.register_module("twice", schema={})
            ... def twice(*, x: int) -> int:
            ...     "Doubles x."
            ...     return 2 * x
            >>> r.build({"function": "twice", "x": 4}), r.get("twice").description
            (8, 'Doubles x.')
        """

        def decorate(builder: Builder) -> Builder:
            doc = (inspect.getdoc(builder) or "").strip()
            self.register(
                RegistryEntry(
                    name=name or builder.__name__,
                    builder=builder,
                    schema=schema,
                    description=description if description is not None else (doc.splitlines()[0] if doc else ""),
                    metadata=dict(metadata or {}),
                    origin=f"{getattr(builder, '__module__', '?')}.{getattr(builder, '__qualname__', type(builder).__name__)}",
                ),
                force=force,
            )
            return builder

        return decorate

    def register_lazy(
        self,
        name: str,
        *,
        builder: str,
        schema: Mapping[str, Any],
        description: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> RegistryEntry:
        """Registers a builder given as ``"module:attribute"``, imported only when it is built.

        Example:
            >>> r = Registry(kind="demo", key="function")
            >>> r.register_lazy("root", builder="math:sqrt", schema={}, description="d").load()(4.0)
            2.0
        """
        origin = caller_module()
        return self.register(
            RegistryEntry(
                name=name,
                builder=builder,
                schema=schema,
                description=description,
                metadata=dict(metadata or {}),
                origin=origin,
            )
        )

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtins:
            importlib.import_module(module)
        if self.entry_point_group is not None:
            for entry in load_entry_points(self.entry_point_group, expected=RegistryEntry):
                try:
                    self.register(entry)
                except RegistryError as exc:
                    warnings.warn(f"vl3d_focal plugin skipped: {exc}", RuntimeWarning, stacklevel=3)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[RegistryEntry]:
        """Every entry, sorted by name."""
        return [self._entries[name] for name in self.names()]

    def entries_in_order(self) -> list[RegistryEntry]:
        """Every entry: built-ins in the order of ``builtins`` (whatever imported them first),
        then the others in registration order."""
        self._load()

        def rank(item: tuple[int, RegistryEntry]) -> tuple[int, int]:
            origin = item[1].origin
            found = [i for i, module in enumerate(self.builtins) if origin == module or origin.startswith(module + ".")]
            return (found[0] if found else len(self.builtins), item[0])

        return [entry for _, entry in sorted(enumerate(self._entries.values()), key=rank)]

    def get(self, name: str) -> RegistryEntry:
        """The entry called ``name``; an unknown name lists the known ones."""
        self._load()
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RegistryError(f"unknown {self.kind} {name!r}{hint} Known: {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def find(self, name: object) -> RegistryEntry | None:
        """The entry called ``name``; None for an unknown name or a value that is not a name
        (validation reports those on its own).

        Example:
            >>> MODELS.find("PointNetPwiseClassifier").name, MODELS.find("PointNet"), MODELS.find({"not": "a name"})
            ('PointNetPwiseClassifier', None, None)
        """
        self._load()
        return self._entries.get(name) if isinstance(name, str) else None

    def build(self, cfg: Mapping[str, Any], **default_args: Any) -> Any:
        """Builds the component a spec entry describes.

        Keys starting with ``_`` are comments. ``default_args`` fill arguments the entry
        does not give, and only those the builder accepts (a loss without class weights
        silently takes no ``class_weight``).
        """
        if self.key is None or self.key not in cfg:
            raise RegistryError(f"a {self.kind} entry needs the key {self.key!r}; got {dict(cfg)!r}")
        builder = self.get(cfg[self.key]).load()
        args = {k: v for k, v in cfg.items() if k != self.key and not str(k).startswith("_")}
        accepted = inspect.signature(builder).parameters
        for arg, value in default_args.items():
            if arg in accepted:
                args.setdefault(arg, value)
        return builder(**args)


def _called_with_the_step_only(outputs: Builder, step: Any, place: Any) -> Any:
    return outputs(step)


def _takes(signature: inspect.Signature, count: int) -> bool:
    try:
        signature.bind(*range(count))
    except TypeError:
        return False
    return True


def placed_outputs(entry: RegistryEntry) -> RegistryEntry:
    """A step entry whose ``outputs`` is called ``(step, place)``: one declared the older way,
    ``outputs(step)`` (exactly one positional parameter), is wrapped to be called with the step
    only, with a :class:`FutureWarning` (shown by default, unlike a DeprecationWarning from a library);
    one that takes neither is refused.

    Example:
        >>> old = RegistryEntry(name="Old", builder=print, schema={}, metadata={"outputs": lambda step: []})
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     placed_outputs(old).metadata["outputs"]({"writer": "Old"}, None), len(caught)
        ([], 1)
        >>> placed_outputs(RegistryEntry(name="Bad", builder=print, schema={}, metadata={"outputs": lambda: []}))
        Traceback (most recent call last):
        vl3d_focal.errors.RegistryError: step 'Bad' (?): its outputs callable must accept (step, place); it takes ()
    """
    outputs = entry.metadata.get("outputs")
    if outputs is None:
        return entry
    if not callable(outputs):
        raise RegistryError(f"step {entry.name!r} ({entry.origin or '?'}): outputs must be a callable (step, place)")
    try:
        signature = inspect.signature(outputs)
    except (TypeError, ValueError):  # no signature to read (some built-ins): called as declared
        return entry
    if _takes(signature, 2):
        return entry
    if not _takes(signature, 1):
        raise RegistryError(
            f"step {entry.name!r} ({entry.origin or '?'}): its outputs callable must accept (step, place); "
            f"it takes {signature}"
        )
    warnings.warn(
        f"step {entry.name!r} ({entry.origin or '?'}) declares outputs(step); accept (step, place) instead "
        "(place: vl3d_focal.config.step_files.StepPlace), the one-argument form is deprecated",
        FutureWarning,
        stacklevel=3,
    )
    wrapped = functools.partial(_called_with_the_step_only, outputs)
    return replace(entry, metadata={**entry.metadata, "outputs": wrapped})


LOSSES = Registry(
    kind="loss",
    key="function",
    entry_point_group="vl3d_focal.losses",
    builtins=(
        "vl3d_focal.losses.class_weighted_entries",
        "vl3d_focal.losses.keras_losses",
        "vl3d_focal.losses.multi_category_entries",
    ),
)


MODELS = Registry(
    kind="model", key="train", entry_point_group="vl3d_focal.models", builtins=("vl3d_focal.models.entries",)
)
STEPS = Registry(
    kind="step",
    key=None,
    entry_point_group="vl3d_focal.steps",
    adapt=placed_outputs,
    builtins=(
        "vl3d_focal.steps.class_mapping",
        "vl3d_focal.steps.class_reducer",
        "vl3d_focal.steps.train",
        "vl3d_focal.steps.predict",
        "vl3d_focal.steps.evaluate",
        "vl3d_focal.steps.dl_model_evaluator",
        "vl3d_focal.steps.uncertainty_evaluator",
        "vl3d_focal.steps.model_writers",
        "vl3d_focal.steps.writers",
        "vl3d_focal.steps.miners",
        "vl3d_focal.steps.covariance_miner",
        "vl3d_focal.steps.imputers",
        "vl3d_focal.steps.feature_transformers",
    ),
)
"""Step kinds; see :mod:`vl3d_focal.steps.definition` for what a step entry declares."""
