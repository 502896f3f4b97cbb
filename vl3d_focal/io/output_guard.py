"""Which file a run found: a file's identity, and the guard that keeps a run from silently
replacing a file that another process wrote while the run ran.

A file's identity is ``[size, mtime_ns]`` (:func:`file_identity`): a run's manifest records it for
the files the run wrote, so that a later run can tell whether a file is still that run's. The
files a run writes outside its own output folder (a model path without ``*``) may be written by
another run too; while a run holds an :class:`OutputGuard` (:func:`guarding`), every
:func:`vl3d_focal.io.atomic.atomic_output` of a guarded file checks, right before its rename
into place, that the file on disk is still the one the run expected (the one it found when it
claimed its outputs, or the one it wrote itself since), and stops with :class:`OutputChanged`
otherwise. The guard lives in the process that claimed the outputs; a task on a Dask worker
guards the same files with a copy of its expectations (:func:`guarded_files`,
:func:`recording_written`) and reports what it wrote, which the claiming process records as its
own writes (:func:`note_written` with the worker's identity). A write in the instant between the
check and the rename is not seen.

Example:
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "shared.keras"
    >>> guard = OutputGuard(expected={target: None})
    >>> with guarding(guard):
    ...     check_unchanged(target)  # absent, as expected
    ...     _ = target.write_text("another run's model")
    ...     check_unchanged(target)
    Traceback (most recent call last):
    ...
    vl3d_focal.io.output_guard.OutputChanged: .../shared.keras: was written by another process while this run ran ...
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from vl3d_focal.errors import DataError

Identity = list[int]
"""``[size in bytes, modification time in nanoseconds]`` of a file."""


class OutputChanged(DataError):
    """A guarded output was replaced by another process while this run ran."""


def file_identity(path: str | Path) -> Identity | None:
    """``[size, mtime_ns]`` of the file at ``path``; None when it is not a file.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = target.write_text("four")
        >>> file_identity(target)[0], file_identity(target.parent / "absent.txt")
        (4, None)
    """
    try:
        found = Path(path).stat()
    except OSError:
        return None
    return [found.st_size, found.st_mtime_ns] if Path(path).is_file() else None


class OutputGuard:
    """The identities a run expects its guarded files to have (None: absent).

    Args:
        expected: each guarded file and its expected identity.
        on_written: called with a guarded file (resolved) and its new identity after the run replaced it.
        before_first: called once, right before the first write of any of the ``first_of`` files
            (a re-run's cleanup of its previous run's files).
        first_of: the files whose first write calls ``before_first``.
    """

    def __init__(
        self,
        *,
        expected: Mapping[Path, Identity | None],
        on_written: Callable[[Path, Identity], None] | None = None,
        before_first: Callable[[], object] | None = None,
        first_of: Iterable[Path] = (),
    ) -> None:
        self.expected = {Path(path).resolve(): identity for path, identity in expected.items()}
        self.on_written = on_written
        self.before_first = before_first
        self.first_of = {Path(path).resolve() for path in first_of}
        self._lock = threading.Lock()

    def check(self, path: Path) -> None:
        """Calls ``before_first`` at the first write of one of ``first_of``; raises
        :class:`OutputChanged` when the guarded ``path`` is not the file expected."""
        key = path.resolve()
        first = None
        with self._lock:
            if key in self.first_of:
                first, self.before_first = self.before_first, None
        if first is not None:
            first()
        with self._lock:
            if key not in self.expected:
                return
            expected, found = self.expected[key], file_identity(key)
        if found != expected:
            raise OutputChanged(
                f"{path}: was written by another process while this run ran (it is no longer the file this run "
                f"found at its start{' or wrote since' if expected else ''}); this run did not replace it. Find out "
                "which run wrote it, then run again, with --overwrite to replace it"
            )

    def expect(self, path: Path, identity: Identity | None) -> None:
        """Sets what the guarded ``path`` is expected to be (None: absent, as after this run deleted it)."""
        key = path.resolve()
        with self._lock:
            if key in self.expected:
                self.expected[key] = identity

    def written(self, path: Path, identity: Identity | None = None) -> None:
        """Records that the run itself just replaced the guarded ``path`` (``identity``: the one the
        process that wrote it found, a Dask worker's; else read now)."""
        key = path.resolve()
        identity = file_identity(key) if identity is None else list(identity)
        with self._lock:
            if key not in self.expected or identity is None:
                return
            self.expected[key] = identity
        if self.on_written is not None:
            self.on_written(key, identity)


_GUARDS: list[OutputGuard] = []


@contextlib.contextmanager
def guarding(guard: OutputGuard) -> Iterator[OutputGuard]:
    """Makes :func:`check_unchanged` and :func:`note_written` use ``guard`` while the block runs."""
    _GUARDS.append(guard)
    try:
        yield guard
    finally:
        _GUARDS.remove(guard)


def check_unchanged(path: str | Path) -> None:
    """Raises :class:`OutputChanged` when a guard in force expects another file at ``path``."""
    for guard in list(_GUARDS):
        guard.check(Path(path))


def note_written(path: str | Path, identity: Identity | None = None) -> None:
    """Tells the guards in force that this run has just replaced ``path`` (``identity``: as the
    process that wrote it found it, a Dask worker; else read now)."""
    for guard in list(_GUARDS):
        guard.written(Path(path), identity)


def guarded_files() -> dict[str, Identity | None]:
    """The files the guards in force guard, with the identity each expects now (for a task on
    another process: :func:`recording_written`); empty where none is in force.

    Example:
        >>> with guarding(OutputGuard(expected={Path("/m/shared.keras"): [5, 7]})):
        ...     guarded_files()["/m/shared.keras"]
        [5, 7]
    """
    found: dict[str, Identity | None] = {}
    for guard in list(_GUARDS):
        with guard._lock:
            found.update({str(path): identity for path, identity in guard.expected.items()})
    return found


@contextlib.contextmanager
def recording_written(expected: Mapping[str, Identity | None]) -> Iterator[list[tuple[str, Identity]]]:
    """Guards the files ``expected`` (:func:`guarded_files` of the claiming process) while the
    block runs, in a process that did not claim them (a Dask worker's task); yields the list that
    receives ``(file, identity)`` of each of them the block wrote, for the claiming process to
    record (:func:`note_written`). Nothing to guard: nothing recorded.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "shared.keras"
        >>> with recording_written({str(target): None}) as written:
        ...     _ = target.write_text("model")
        ...     note_written(target)  # as atomic_output does after its rename
        >>> written == [(str(target.resolve()), file_identity(target))]
        True
    """
    written: list[tuple[str, Identity]] = []
    if not expected:
        yield written
        return
    guard = OutputGuard(
        expected={Path(path): identity for path, identity in expected.items()},
        on_written=lambda path, identity: written.append((str(path), identity)),
    )
    with guarding(guard):
        yield written
