"""One run at a time per output prefix: an exclusive lock held while a run writes there.

The lock is an operating-system lock (``flock``) on a small file, ``<prefix>run.lock``, which
says who holds it (process, host, spec, start). The system releases it when the process ends in
any way, SIGKILL included, so a lock file left behind by a killed run is simply taken over by the
next run. The holder deletes the file when it ends. Where the file system cannot lock (some
network file systems), a warning says that concurrent runs are not detected and the run goes on.
A record (``run.json``, ``report.json``, whose ``lock`` names this file) that says ``running`` is
only true while the lock is held: :func:`recorded_status` reads it as interrupted otherwise
(:func:`is_held` tells).

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with PrefixLock(folder / "run.lock", holder="a.json") as lock:
    ...     PrefixLock(folder / "run.lock", holder="b.json").acquire()
    Traceback (most recent call last):
    ...
    vl3d_focal.io.prefix_lock.PrefixBusy: .../run.lock: another run is writing these outputs now (a.json, process ...
    >>> (folder / "run.lock").exists()
    False
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from types import TracebackType

from vl3d_focal.errors import DataError
from vl3d_focal.io.timestamps import now

try:  # POSIX; elsewhere runs are not locked (a warning says so)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


class PrefixBusy(DataError):
    """Another live run holds the lock of an output prefix."""


class PrefixLock:
    """An exclusive, non-blocking lock on ``path`` (see the module docstring).

    Args:
        path: the lock file (its folder must exist or be creatable).
        holder: what the lock file says holds it (the spec's file), for the other run's message.
    """

    def __init__(self, path: str | Path, *, holder: str = "") -> None:
        self.path = Path(path)
        self.holder = holder
        self._fd: int | None = None

    def acquire(self) -> None:
        """Takes the lock.

        Raises:
            PrefixBusy: a live process holds it; the message names that run.
        """
        if fcntl is None:  # pragma: no cover - Windows
            logger.warning("%s: file locks are not available here; concurrent runs are not detected", self.path)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise PrefixBusy(
                    f"{self.path}: another run is writing these outputs now ({self._describe_holder()}); "
                    "wait for it to end, or give this spec another out_pcloud"
                ) from None
            except OSError as error:  # a file system without locks
                os.close(fd)
                logger.warning(
                    "%s: cannot lock (%s); concurrent runs into this prefix are not detected", self.path, error
                )
                return
            if self._still_the_file(fd):
                break
            os.close(fd)  # the holder deleted it between our open and our lock: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(self._facts()) + "\n").encode("utf-8"))
        self._fd = fd

    def _still_the_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _facts(self) -> dict[str, object]:
        return {"pid": os.getpid(), "host": socket.gethostname(), "spec_file": self.holder, "started": now()}

    def _describe_holder(self) -> str:
        try:
            facts = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "its details could not be read"
        return (
            f"{facts.get('spec_file') or 'spec ?'}, process {facts.get('pid', '?')} on {facts.get('host', '?')}, "
            f"started {facts.get('started', '?')}"
        )

    def release(self) -> None:
        """Deletes the lock file and releases the lock (nothing when not held)."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before the unlock: a waiting run then locks a new file
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> PrefixLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


INTERRUPTED_SILENTLY = "interrupted (the process ended without a word)"
"""How a record that still says ``running`` reads once its process is gone (killed, a crash)."""


def is_held(path: str | Path) -> bool:
    """Whether a live process holds the lock file ``path`` (:class:`PrefixLock`): False when the
    file is absent (its holder ended and deleted it) or left by a process that is gone (killed).
    A holder on this host is asked by its process id, without touching the lock; otherwise
    (another host, or unreadable details) the lock is tried for an instant, shared.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> with PrefixLock(folder / "run.lock", holder="a.json"):
        ...     is_held(folder / "run.lock")
        True
        >>> is_held(folder / "run.lock")
        False
    """
    path = Path(path)
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        facts = None
    if isinstance(facts, dict) and facts.get("host") == socket.gethostname() and isinstance(facts.get("pid"), int):
        return _process_alive(facts["pid"])
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # a file system without locks: nothing tells
        return True
    finally:
        os.close(fd)  # closing releases the instant's lock
    return False


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def recorded_status(status: str, *, lock: str | Path | None) -> str:
    """A run's ``status`` as its record says it (``run.json``, ``report.json``), read in the light
    of the ``lock`` file of its prefix (the record's ``lock``): ``running`` whose process is gone
    is :data:`INTERRUPTED_SILENTLY`; any other status, or a record that names no lock (written
    before records did), is as given.

    Example:
        >>> import tempfile
        >>> lock = Path(tempfile.mkdtemp()) / "run.lock"
        >>> recorded_status("running", lock=lock), recorded_status("finished", lock=lock)
        ('interrupted (the process ended without a word)', 'finished')
    """
    if status != "running" or lock is None or is_held(lock):
        return status
    return INTERRUPTED_SILENTLY
