"""Package attributes imported on first use (PEP 562), so that a package's registry entries
and light modules load without its heavy dependencies (Keras, TensorFlow).

Example:
    >>> getattr_, dir_ = lazy_attributes("json", {"JSONDecoder": "decoder"})
    >>> getattr_("JSONDecoder").__name__
    'JSONDecoder'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, table: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` exporting ``{name: submodule}``.

    The first access to ``package.name`` imports ``package.submodule`` and caches the value
    in the package's namespace.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__


def load_reference(reference: str) -> Any:
    """The object a ``"module:attribute"`` reference names (the module imported now).

    Example:
        >>> load_reference("math:sqrt")(9.0)
        3.0
    """
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)
