"""Whether the run that submitted a task on a Dask worker still owns it, asked before each file
the task publishes (:func:`vl3d_focal.io.atomic.publishing_while`).

Dask lets a running task finish after its client left (a driver killed, even by SIGKILL): its
outputs would then appear after the run's record was written, or beside the files of the next
run at the same prefix. A task's run is gone when

- the worker no longer wants the task (Dask released it: its state is ``cancelled`` or it is
  forgotten), or
- the run's lock file (``<first prefix>run.lock``, :class:`~vl3d_focal.io.prefix_lock.PrefixLock`)
  is no longer the one the run wrote: deleted (the run ended) or rewritten (another run took the
  prefix), or it names a process of this host that is no longer alive (the driver was killed).

A task in the driver's own process (the ``local`` executor) needs none of this: it ends with its run.

Example:
    >>> import tempfile
    >>> lock = Path(tempfile.mkdtemp()) / "run.lock"
    >>> _ = lock.write_text('{"pid": 1, "host": "elsewhere"}\\n')
    >>> owner = RunOwner.of(lock)
    >>> owner.gone() is None
    True
    >>> _ = lock.write_text('{"pid": 2, "host": "elsewhere"}\\n')  # another run took the prefix
    >>> owner.gone()
    'another run took its outputs (.../run.lock names another run)'
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

from vl3d_focal.io.prefix_lock import is_held

RELEASED_STATES = frozenset({"cancelled", "released", "forgotten"})
"""States of a Dask worker's task that its run no longer wants."""


def released_on_worker() -> bool:
    """Whether this thread runs a Dask task that its worker no longer wants (its client left and
    the scheduler released it); False outside a Dask task.

    Example:
        >>> released_on_worker()
        False
    """
    try:
        from distributed import get_worker
        from distributed.worker import thread_state

        worker = get_worker()
    except (ImportError, ValueError):  # not on a Dask worker
        return False
    key = getattr(thread_state, "key", None)
    if key is None:
        return False
    task = worker.state.tasks.get(key)
    return task is None or task.state in RELEASED_STATES


@dataclass(frozen=True)
class RunOwner:
    """The run a task belongs to, as its lock file said when the phase began.

    Attributes:
        lock: the run's lock file (absolute).
        holder: the lock file's text then; None where there was none (a run without a manifest:
            only Dask's state tells).
    """

    lock: str
    holder: str | None

    @classmethod
    def of(cls, lock: str | Path) -> RunOwner:
        """The owner of the tasks submitted now by the run that holds ``lock``."""
        path = Path(lock).absolute()
        try:
            holder: str | None = path.read_text(encoding="utf-8")
        except OSError:
            holder = None
        return cls(lock=str(path), holder=holder)

    def gone(self) -> str | None:
        """Why the run no longer owns its tasks (a short reason), or None while it does."""
        if released_on_worker():
            return "its run is gone (Dask released the task)"
        if self.holder is None:
            return None
        try:
            now = Path(self.lock).read_text(encoding="utf-8")
        except FileNotFoundError:
            return f"its run ended ({self.lock} is gone)"
        except OSError:  # unreadable here: Dask's state alone tells
            return None
        if now != self.holder:
            return f"another run took its outputs ({self.lock} names another run)"
        if self._this_host() and not is_held(self.lock):
            return f"its run is gone (the process that holds {self.lock} ended)"
        return None

    def taken_over(self) -> bool:
        """Whether another run holds the lock now (its lock file names another run): the folders
        are then that run's to write in, and a task that outlived its run leaves them as they are.

        Example:
            >>> import tempfile
            >>> lock = Path(tempfile.mkdtemp()) / "run.lock"
            >>> owner = RunOwner.of(lock)  # no lock yet: a run without a manifest
            >>> _ = lock.write_text("another run")
            >>> owner.taken_over(), RunOwner.of(lock).taken_over()
            (True, False)
        """
        try:
            return Path(self.lock).read_text(encoding="utf-8") != self.holder
        except OSError:  # gone (the run ended) or unreadable
            return False

    def _this_host(self) -> bool:
        try:
            facts = json.loads(self.holder or "")
        except ValueError:
            return False
        return isinstance(facts, dict) and facts.get("host") == socket.gethostname()
