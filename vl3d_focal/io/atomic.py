"""The one way outputs are written: a temporary file beside the target, renamed into place.

Every output of a run (clouds, models, checkpoints, reports, plots) goes through
:func:`atomic_output`, so a killed run never leaves a truncated file under an output's name,
and the only debris it can leave are temporary files named ``.<stem>.<8 random>.partial<suffixes>``,
which :func:`remove_stale_partials` deletes at the start of the next run. The suffixes are kept
at the end of the temporary name because some writers choose their format from them (``.laz``,
``.weights.h5``, ``.keras``). Outputs get the permissions ``open()`` would give a new file
(``0o666`` minus the umask), not the ``0o600`` of a temporary file. A task whose run may end
without it (a Dask worker's, :func:`publishing_while`) publishes a file only while its run still
owns it: otherwise its temporary file is deleted and :class:`RunGone` raised.

Example:
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "eval" / "report.txt"
    >>> with atomic_output(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), [p.name for p in target.parent.iterdir()]
    ('done', ['report.txt'])
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from vl3d_focal.errors import DataError
from vl3d_focal.io.output_guard import check_unchanged, note_written

logger = logging.getLogger(__name__)
PARTIAL_MARK = ".partial"
_RANDOM_PART = r"[a-z0-9_]{8}"
"""The random part of a :func:`tempfile.mkstemp` name."""
_RUN_GONE: contextvars.ContextVar[Callable[[], str | None] | None] = contextvars.ContextVar("run_gone", default=None)
"""The check of :func:`publishing_while` in force in this thread, or None."""


class RunGone(Exception):  # noqa: N818  (not an error of the task: its run ended without it)
    """The run of the task that writes an output is gone (:func:`publishing_while`): the output
    was not published. Neither an ``OSError`` nor a ``DataError``: no step takes it for a failed
    write of its own and goes on."""


@contextlib.contextmanager
def publishing_while(gone: Callable[[], str | None]) -> Iterator[None]:
    """While the block runs in this thread, every :func:`atomic_output` calls ``gone()`` right
    before it renames its temporary file into place; where it returns a reason (the task's run
    ended, another run took its outputs), the temporary file is deleted and :class:`RunGone`
    raised with that reason, so that a task that outlived its run publishes nothing. One call
    per file written, none per point.

    Example:
        >>> target = Path(tempfile.mkdtemp()) / "predicted.laz"
        >>> with publishing_while(lambda: "the run ended"), atomic_output(target) as tmp:
        ...     _ = tmp.write_text("late")
        Traceback (most recent call last):
        ...
        vl3d_focal.io.atomic.RunGone: .../predicted.laz: not written: the run ended
        >>> list(target.parent.iterdir())
        []
    """
    token = _RUN_GONE.set(gone)
    try:
        yield
    finally:
        _RUN_GONE.reset(token)


def current_umask() -> int:
    """The process umask (read without changing it for other threads for longer than a call).

    Example:
        >>> 0 <= current_umask() <= 0o777
        True
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` minus the umask.

    Example:
        >>> file_mode() & 0o111
        0
    """
    return 0o666 & ~current_umask()


def _suffixes(name: str) -> str:
    suffixes = "".join(Path(name).suffixes)
    return suffixes if len(suffixes) < len(name) else Path(name).suffix


def partial_path(path: str | Path) -> Path:
    """A new empty temporary file beside ``path``, hidden, with the same suffixes.

    Example:
        >>> tmp = partial_path(Path(tempfile.mkdtemp()) / "best.weights.h5")
        >>> tmp.name.startswith(".best.") and tmp.name.endswith(".partial.weights.h5")
        True
    """
    out = Path(path)
    suffixes = _suffixes(out.name)
    stem = out.name[: len(out.name) - len(suffixes)]
    handle, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f"{PARTIAL_MARK}{suffixes}", dir=out.parent)
    os.close(handle)
    return Path(name)


def _partial_name_of(target: Path) -> re.Pattern[str]:
    """The names :func:`partial_path` gives the temporary files of ``target`` (its stem and suffixes)."""
    suffixes = _suffixes(target.name)
    stem = target.name[: len(target.name) - len(suffixes)]
    return re.compile(rf"\.{re.escape(stem)}\.{_RANDOM_PART}{re.escape(PARTIAL_MARK + suffixes)}")


def remove_stale_partials(targets: Iterable[str | Path]) -> list[Path]:
    """Deletes the temporary files of :func:`partial_path` that a killed run left for ``targets``
    (the files it was writing); temporary files of other files are not touched (they may be
    another run's, in a folder two runs share, e.g. ``out/.a_model.k2j4h_9a.partial.keras`` for
    ``out/b_model.keras``). A missing folder is no error.

    Returns:
        The deleted files, sorted.

    Example:
        >>> folder = Path(tempfile.mkdtemp())
        >>> stale, other = partial_path(folder / "history.csv"), partial_path(folder / "other.csv")
        >>> remove_stale_partials([folder / "history.csv"]) == [stale], other.exists()
        (True, True)
    """
    names: dict[Path, list[re.Pattern[str]]] = {}
    for target in map(Path, targets):
        names.setdefault(target.parent, []).append(_partial_name_of(target))
    stale = sorted(
        path
        for folder, patterns in names.items()
        if folder.is_dir()
        for path in folder.iterdir()
        if path.is_file() and not path.is_symlink() and any(pattern.fullmatch(path.name) for pattern in patterns)
    )
    for path in stale:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stale


def check_output_path(path: str | Path) -> Path:
    """``path`` as a Path whose parent folder exists; a clear error where it cannot be a file.

    Raises:
        DataError: ``path`` is an existing folder, or a part of its parent is a file.

    Example:
        >>> check_output_path(Path(tempfile.mkdtemp()) / "eval" / "x.json").parent.is_dir()
        True
    """
    out = Path(path)
    if out.is_dir():
        raise DataError(f"output {out}: is an existing folder; expected a file path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"output {out}: a part of its folder {out.parent} is a file") from None
    return out


class OutputNotWritten(DataError, OSError):
    """An output could not be put in place (its folder or the file it replaces refuses it); an
    ``OSError`` too, for the callers that log a failed write of theirs and go on."""


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path to write; on success it is renamed to ``path`` in one step.

    On an exception (or Ctrl-C) the temporary file is deleted and ``path`` is left as it was.
    The parent folder is created when missing. The file gets the mode of :func:`file_mode`.
    Right before the rename, a guarded ``path`` is checked to be the file the run expects
    (:mod:`vl3d_focal.io.output_guard`).

    Raises:
        RunGone: the run of the task that writes it is gone (:func:`publishing_while`).
        OutputNotWritten: the temporary file cannot be created, or ``path`` cannot be replaced
            (an immutable file, a folder without write permission): one line naming the file.
        OutputChanged: a guarded ``path`` was written by another process meanwhile.

    Example:
        >>> target = Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_output(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> oct(target.stat().st_mode & 0o777) == oct(file_mode())
        True
    """
    out = check_output_path(path)
    try:
        tmp = partial_path(out)
    except OSError as error:
        raise OutputNotWritten(
            f"output {out}: cannot write in its folder {out.parent} ({error.strerror or error}); "
            "make the folder writable, or give the spec another output path"
        ) from None
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())
        gone = _RUN_GONE.get()
        reason = None if gone is None else gone()
        if reason is not None:
            raise RunGone(f"{out}: not written: {reason}")
        check_unchanged(out)
        try:
            os.replace(tmp, out)
        except OSError as error:
            raise OutputNotWritten(
                f"output {out}: cannot be replaced ({error.strerror or error}); make it writable or move it "
                "away, then run again"
            ) from None
        note_written(out)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text(path: str | os.PathLike[str], text: str, *, log: bool = True) -> Path:
    """Writes ``text`` as UTF-8 to ``path`` through :func:`atomic_output`; returns the path.
    Logs ``wrote <path>`` (INFO) unless ``log`` is false (files rewritten every epoch or tile,
    or whose caller logs its own line).

    Example:
        >>> write_text(Path(tempfile.mkdtemp()) / "r.log", "OA 0.9\\n").read_text()
        'OA 0.9\\n'
    """
    out = Path(path)
    with atomic_output(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if log:
        logger.info("wrote %s", out)
    return out
