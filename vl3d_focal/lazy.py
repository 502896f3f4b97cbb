"""Package attributes imported on first use (PEP 562), so that a package's registry entries
and light modules load without its heavy dependencies (Keras, TensorFlow).

Example:
    >>> getattr_, dir_ = lazy_attributes("json", {"JSONDecoder": "decoder"})
    >>> getattr_("JSONDecoder").__name__
    'JSONDecoder'
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

KERAS_OPTIONAL = ("sklearn", "matplotlib")
"""What Keras imports at start-up only in case it is installed, which a pipeline process does not
use from Keras: scikit-learn for its wrapper (``keras.wrappers``, about 1 s of each process's
start) and matplotlib's pyplot for its image galleries (``keras.visualization``, 0.3-0.9 s; this
package's reports import it themselves when they draw a PNG)."""


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


def after_import(name: str, callback: Callable[[], None]) -> None:
    """Calls ``callback`` once the top-level module ``name`` is imported: now if it is loaded
    already, else as soon as its own import has run (in the importing thread, before the
    ``import`` statement returns), without importing it. For registrations with a library that
    may be imported later, or never: a finder placed first on ``sys.meta_path`` waits for the
    name, asks the other finders for it and calls back after the module's loader has run; it
    then removes itself.

    Example:
        >>> import subprocess, sys
        >>> code = ("import sys; from vl3d_focal.lazy import after_import; "
        ...         "after_import('colorsys', lambda: print('colorsys' in sys.modules)); "
        ...         "print('before'); import colorsys")
        >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        'before\\nTrue\\n'
    """
    if name in sys.modules:
        callback()
        return
    sys.meta_path.insert(0, _AfterImport(name, callback))


class _AfterImport(importlib.abc.MetaPathFinder):
    """The finder of :func:`after_import`: finds nothing itself; wraps the loader of each spec
    the other finders give for ``name`` (a library may look the module up with
    ``importlib.util.find_spec`` before importing it), and leaves ``sys.meta_path`` once the
    module has been loaded."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name, self.callback, self.called = name, callback, False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name or self.called:
            return None
        finders = (finder for finder in list(sys.meta_path) if finder is not self and hasattr(finder, "find_spec"))
        spec = next((found for finder in finders if (found := finder.find_spec(fullname, path, target))), None)
        loader = None if spec is None else spec.loader
        if loader is None or isinstance(loader, type) or not hasattr(loader, "exec_module"):
            return spec  # no loader object to wrap (a built-in or frozen module): not called

        def exec_module(module: Any) -> None:
            del loader.exec_module  # the loader's own method again
            loader.exec_module(module)
            if not self.called:
                self.called = True
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                self.callback()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def load_reference(reference: str) -> Any:
    """The object a ``"module:attribute"`` reference names (the module imported now).

    Example:
        >>> load_reference("math:sqrt")(9.0)
        3.0
    """
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


QUIET_IMPORT = {"default": False}
"""Whether :func:`import_keras` without ``quiet`` silences TensorFlow's start-up lines in this
process (set by :func:`silence_keras_import`)."""


def silence_keras_import(quiet: bool) -> None:
    """Sets what :func:`import_keras` does without ``quiet`` in this process: the command line's
    choice, for a Keras import that comes only when a model is loaded (a survey's driver that
    only predicts never imports it).

    Example:
        >>> silence_keras_import(False); QUIET_IMPORT["default"]
        False
    """
    QUIET_IMPORT["default"] = quiet


def import_keras(*, quiet: bool | None = None, devices: bool = True) -> None:
    """Imports Keras (and TensorFlow with it) as a pipeline process needs it: without the
    optional modules of :data:`KERAS_OPTIONAL` that nothing has imported yet, which stay
    importable afterwards (the random forest imports scikit-learn when it runs, a report
    matplotlib when it draws); only ``keras.wrappers`` and ``keras.visualization`` then report
    them as missing in this process. For the processes this package starts (the command line,
    Dask workers), never on a library import. ``quiet`` sends file descriptor 2 to /dev/null
    during the import: TensorFlow's C++ start-up lines (no CUDA driver found, and the like)
    ignore every log level; None: this process's choice (:func:`silence_keras_import`). With
    ``devices``, :func:`list_devices` follows (not in a process that forks workers afterwards).

    Example:
        >>> import subprocess, sys
        >>> code = ("import sys; from vl3d_focal.lazy import import_keras; import_keras(); "
        ...         "print('keras' in sys.modules, 'sklearn' in sys.modules, 'matplotlib' in sys.modules)")
        >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        'True False False\\n'
    """
    if "keras" not in sys.modules:
        _import_keras(QUIET_IMPORT["default"] if quiet is None else quiet)
    if devices:
        list_devices(quiet=quiet)


def _import_keras(quiet: bool) -> None:
    hidden = [name for name in KERAS_OPTIONAL if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # importing it now raises ImportError
    try:
        with _stderr_silenced(quiet):
            importlib.import_module("keras")
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


_DEVICES_LISTED: list[bool] = []
"""Not empty once :func:`list_devices` has listed this process's devices."""


def list_devices(*, quiet: bool | None = None) -> None:
    """Lists TensorFlow's devices once in this process, ``quiet`` as for :func:`import_keras`:
    TensorFlow probes CUDA then, which on a machine without a GPU prints "failed call to
    cuInit" whatever the log level (else at the first model's call, outside any quiet import).
    Never in a process that forks workers afterwards (the Dask workers' fork server): CUDA set up
    before a fork cannot be used in the child. Nothing under another Keras backend.

    Example:
        >>> import subprocess, sys
        >>> code = ("from vl3d_focal.lazy import import_keras, list_devices; import_keras(devices=False); "
        ...         "list_devices(quiet=True); list_devices(); import keras; print(tuple(keras.ops.ones(2).shape))")
        >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        '(2,)\\n'
    """
    if _DEVICES_LISTED or "keras" not in sys.modules or sys.modules["keras"].backend.backend() != "tensorflow":
        return
    with _stderr_silenced(QUIET_IMPORT["default"] if quiet is None else quiet):
        importlib.import_module("tensorflow").config.list_physical_devices()
    _DEVICES_LISTED.append(True)


@contextlib.contextmanager
def _stderr_silenced(silence: bool) -> Iterator[None]:
    """File descriptor 2 to /dev/null while the block runs (where ``silence``)."""
    if not silence:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
