"""The run manifest: ``<first output prefix>run.json`` says which run the outputs there belong to.

It records the spec's fingerprint, when the run started and ended, how it ended, the versions,
the files the run may write (``planned``, and ``planned_numbered``: glob patterns of files whose
number the run finds out as it writes them, one cloud per receptive field), those it wrote
(``files``, the files matching those patterns among them) and, for a re-run, those an
earlier run of the same spec wrote and this one kept (``earlier_files``), each with its identity
(``identities``: size and modification time, :mod:`vl3d_focal.runner.owned_files`); and the
folders it writes files of its own naming in (``planned_folders``: TensorBoard's), which are
never its to delete, as other runs may write there too. While a run writes, it
holds ``<prefix>run.lock`` (:mod:`vl3d_focal.io.prefix_lock`): a second run into the prefix
stops at once (exit 2), before it deletes or writes anything. Before any work (after the
preflight checks):

- a manifest that says ``running`` while its lock is free: its process is gone; it is read as
  interrupted (the process ended without a word), and the log says so;
- no manifest, or one of the same spec (a re-run; a spec recorded without a key that this one
  has as null, an optional key the package added since, is the same), or for a ``--resume``,
  one of a spec that differs only in the train steps' ``training_epochs`` (a longer or shorter
  training; the manifest then records the new spec): the run goes on; unless it is a ``--resume``,
  it deletes the previous run's files that it writes again as its steps begin
  (:meth:`RunManifest.remove_previous`, logged), so that a re-run killed half-way never leaves
  its new files beside the previous run's;
- the manifest of another spec: the run stops (exit 2) naming that run, so that two runs'
  outputs are never mixed, unless ``overwrite`` is given, which first deletes that run's files,
  and only those: the files it wrote (each only while it is still the file that run wrote:
  one rewritten since by something else is kept, and the log says so), or for a run killed
  before it could say so, the planned files changed since it started, then the folders they
  leave empty under the folder of each of that run's output prefixes (:func:`prefix_folders`).
  A file this spec reads is never deleted: the run stops instead;
- the prefix's folder inside the folder of another spec's run, or a file this run would write
  that a run of another prefix owns (an enclosing prefix ``out/`` and a nested one
  ``out/tile/``): the run stops, ``overwrite`` or not;
- a file this run writes outside its folder (a path without ``*``) that exists and is not the
  file this folder's previous run wrote there: the run stops, unless ``overwrite`` is given.
  While the run lasts, such files are guarded (:mod:`vl3d_focal.io.output_guard`): a run does
  not replace one that another process wrote meanwhile, and records each as its own as soon as
  it wrote it (or, for one a Dask worker wrote, as soon as the task's outcome arrives). It claims
  them first, at its start (``claimed``: the identity each had then, None for absent): a run killed
  before it confirmed one (a worker's, whose outcome never came) still owns it for a ``--resume``,
  which continues it (:func:`~vl3d_focal.runner.owned_files.claimed_since`); a plain re-run
  stops and says so, since anyone may have written the file since the kill.

Example:
    >>> spec = {"in_pcloud": [], "out_pcloud": ["out/"], "sequential_pipeline": []}
    >>> len(spec_fingerprint(spec)), manifest_path(spec).as_posix()
    (16, 'out/run.json')
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vl3d_focal import __version__
from vl3d_focal.config.prefixes import LOCK_NAME, MANIFEST_NAME, SURVEY_FILES, expand_output
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.output_guard import OutputGuard, file_identity, guarding
from vl3d_focal.io.prefix_lock import INTERRUPTED_SILENTLY, PrefixLock
from vl3d_focal.io.timestamps import now
from vl3d_focal.runner.outputs import numbered_files, output_files, remove_empty_folders, spec_prefix, written_folders
from vl3d_focal.runner.owned_files import (
    OutputsTaken,
    changed_since,
    check_other_prefixes,
    check_outside,
    earlier_identities,
    located,
    outside_names,
    owned_files,
    planned_names,
    prefix_folders,
    read_files,
    read_manifest,
    relative_name,
    still_theirs,
    without_claims,
)
from vl3d_focal.runner.spec_identity import (
    epochs_only_changes,
    same_spec,
    spec_changes,
    spec_fingerprint,
    spec_identity,
)
from vl3d_focal.training.files import TrainingFiles
from vl3d_focal.wording import counted

logger = logging.getLogger(__name__)


def manifest_path(spec: Mapping[str, Any]) -> Path:
    """Where a spec's manifest goes: ``run.json`` under the first output prefix."""
    return Path(f"{spec_prefix(spec)}{MANIFEST_NAME}")


class RunManifest:
    """Claims an output prefix for a run and records how the run ends.

    Args:
        spec: the normalised spec.
        spec_file: the spec's file, for the record and messages.
        overwrite: replace another run's outputs (its files are deleted first).
        resume: the run continues the previous one (``--resume``): a re-run of the same spec
            then keeps the previous run's files instead of deleting those it writes again.
    """

    def __init__(
        self, spec: Mapping[str, Any], *, spec_file: str = "", overwrite: bool = False, resume: bool = False
    ) -> None:
        self.path = manifest_path(spec)
        self.fingerprint = spec_fingerprint(spec)
        self.started = time.time()
        self.document: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "spec_file": spec_file,
            "status": "running",
            "started": now(),
            "started_unix": self.started,
            "ended": None,
            "versions": {"vl3d_focal": __version__, "python": platform.python_version()},
            "planned": [self._relative(path) for path in output_files(spec)],
            "planned_numbered": [self._relative(path) for path in numbered_files(spec)],
            "planned_folders": [self._relative(path) for path in written_folders(spec)],
            "files": [],
            "earlier_files": [],
            "identities": {},
            "outside": [],
            "claimed": {},
            "lock": f"{spec_prefix(spec)}{LOCK_NAME}",
            "spec": spec_identity(spec),
        }
        folder = self.path.parent
        self.document["outside"] = outside_names(
            self.document["planned"], folder=folder, folders=prefix_folders(spec_identity(spec), folder=folder)
        )
        self.spec = spec
        self.overwrite = overwrite
        self.resume = resume
        self.lock = PrefixLock(Path(f"{spec_prefix(spec)}{LOCK_NAME}"), holder=spec_file)
        self._guarding = contextlib.ExitStack()
        self._writing = threading.Lock()
        self._written_outside: set[str] = set()
        self._previous: Mapping[str, Any] | None = None  # the manifest of this spec's previous run
        self._guard = OutputGuard(expected={})  # until claim() guards the files outside the folder

    def _relative(self, path: Path) -> str:
        return relative_name(path, folder=self.path.parent)

    def claim(self) -> None:
        """Takes the prefix's lock, checks the prefix (see the module docstring), writes the
        manifest as running and guards the files outside the folder
        (:mod:`vl3d_focal.io.output_guard`). The lock is held until :meth:`finish`.

        Raises:
            OutputsTaken: another run writes into the prefix now, the prefix is inside another
                run's folder, the prefix holds another spec's run and ``overwrite`` is false or
                would delete a file this spec reads, or a file outside the folder that this run
                writes exists and is not this spec's previous run's (``overwrite`` false).
        """
        try:
            self.lock.acquire()
        except DataError as error:
            raise OutputsTaken(str(error)) from None
        try:
            check_other_prefixes(self.path, planned=self.document["planned"])
            old = read_manifest(self.path)
            if not self.overwrite:
                check_outside(old, folder=self.path.parent, outside=self.document["outside"], claims=self.resume)
            self._take_over(old if old is None or self.resume else without_claims(old))
            self.document["claimed"] = {name: file_identity(name) for name in self.document["outside"]}
            self._write()
            self._guard = self._outside_guard()
            self._guarding.enter_context(guarding(self._guard))
        except BaseException:
            self.lock.release()
            raise

    def _outside_guard(self) -> OutputGuard:
        """The guard of the files outside the folder, expecting them as claimed (as they are now)."""
        folder = self.path.parent
        return OutputGuard(
            expected={Path(name): identity for name, identity in self.document["claimed"].items()},
            on_written=self._outside_written,
            before_first=self.remove_previous,
            first_of=[located(name, folder=folder) for name in self._step_outputs()],
        )

    def _step_outputs(self) -> list[str]:
        """The files the steps write (not the run's manifest and report): the planned ones, and those
        on disk now that match the planned patterns of numbered files (a previous run's, or this
        run's: its first write of one, or at :meth:`finish` one written, deletes the previous run's
        files that it does not write again, the higher numbers of a run that writes fewer)."""
        records = {self._relative(path) for path in output_files({**self.spec, "sequential_pipeline": []})}
        return [name for name in planned_names(self.document, folder=self.path.parent) if name not in records]

    def _outside_written(self, path: Path, identity: list[int]) -> None:
        """Records a file outside the folder as this run's as soon as it is written (a killed run's
        manifest then still tells that the file is its own)."""
        name = next(name for name in self.document["outside"] if Path(name).resolve() == path)
        with self._writing:
            self._written_outside.add(name)
            self.document["identities"][name] = identity
            self.document["files"] = list(dict.fromkeys([*self.document["files"], name]))
        self._write()

    def _take_over(self, old: Mapping[str, Any] | None) -> None:
        if old is None:
            return
        folder = self.path.parent
        if old.get("status") == "running":  # its lock was free: its process is gone
            logger.warning(
                "%s: the previous run (%s, started %s) is recorded as running, but its process is gone: %s",
                self.path,
                old.get("spec_file") or old["fingerprint"],
                old.get("started", "?"),
                INTERRUPTED_SILENTLY,
            )
        owned = [name for name in owned_files(old, folder=folder) if name != self._relative(self.path)]
        if self._same_run(old) or self._trains_longer(old):  # a re-run: earlier files are ours
            self._previous = old
            owned = [name for name in owned if still_theirs(old, name, folder=folder)]
            self.document["earlier_files"] = owned
            self.document["identities"] = earlier_identities(old, owned, folder=folder)
            return
        if not self.overwrite:
            raise OutputsTaken(self._taken_message(old, owned))
        self._delete(old, owned, why="--overwrite")

    def _same_run(self, old: Mapping[str, Any]) -> bool:
        """Whether ``old`` is a run of this spec: the same fingerprint, or a recorded spec that
        differs only in null-valued keys (:func:`same_spec`: one the package added since)."""
        return old["fingerprint"] == self.fingerprint or same_spec(old.get("spec"), self.document["spec"])

    def _trains_longer(self, old: Mapping[str, Any]) -> bool:
        """Whether this ``--resume`` continues ``old``'s run with only other ``training_epochs``
        (:func:`epochs_only_changes`); logs so when it does."""
        changes = epochs_only_changes(old.get("spec") or {}, self.document["spec"]) if self.resume else []
        if changes:
            logger.info(
                "--resume: the spec differs only in training_epochs (%s): the training continues", ", ".join(changes)
            )
        return bool(changes)

    def remove_previous(self) -> list[str]:
        """Deletes the files of this spec's previous run that this run writes again, unless it
        resumes (never a mix of the two runs' outputs after a kill), once: right before this
        process writes the first file of a step or sends the first task that writes one to Dask
        workers (through the guard of :meth:`claim`), or at :meth:`finish` when a step's file was
        written by another process all the same, so that a run stopped before its steps wrote
        anything (its inputs, its executor) deletes nothing.
        A file this run wrote meanwhile stays; the survey's record of its done tiles stays (a
        ``--resume`` reads it and checks the tiles' outputs). Logs what it deleted; returns the
        names.

        Example:
            >>> RunManifest({"in_pcloud": [], "out_pcloud": ["no/such/"], "sequential_pipeline": []}).remove_previous()
            []
        """
        previous, self._previous = self._previous, None
        if previous is None or self.resume:
            return []
        folder = self.path.parent
        prefix = spec_prefix(self.spec)
        survey = {self._relative(Path(expand_output(path, prefix=prefix))) for path in SURVEY_FILES.values()}
        again = set(planned_names(self.document, folder=folder)) - survey
        mine = set(changed_since(self.document, self.started, folder=folder))  # this run's own writes so far
        earlier = self.document["earlier_files"]
        deleted = self._delete(
            previous, [n for n in earlier if n in again and n not in mine], why="this run writes again", prune=False
        )
        with self._writing:  # absent as expected; a file of those names from now on is this run's
            self.document["earlier_files"] = [name for name in earlier if name not in deleted]
            self.document["identities"] = {k: v for k, v in self.document["identities"].items() if k not in deleted}
        for name in deleted:
            self._guard.expect(located(name, folder=folder), None)
        self._write()
        return deleted

    def _delete(self, old: Mapping[str, Any], names: list[str], *, why: str, prune: bool = True) -> list[str]:
        """Deletes those of the previous run's files ``names`` that are still that run's
        (:func:`still_theirs`), then (``prune``) the folders they leave empty (not while this run
        writes: a folder it is about to write in must stay); logs what it deleted and what
        it kept; returns the names deleted.

        Raises:
            OutputsTaken: one of them is a file this spec reads.
        """
        folder = self.path.parent
        theirs = [name for name in names if still_theirs(old, name, folder=folder)]
        changed = [name for name in names if name not in theirs]
        read = read_files(self.spec)
        needed = sorted(name for name in theirs if located(name, folder=folder).resolve() in read)
        if needed:
            raise OutputsTaken(
                f"{why} would delete {', '.join(needed)} in {folder}, a file of the previous run "
                "that this spec reads; move it out of the output prefix (and point the spec there), or "
                "give this spec another out_pcloud"
            )
        deleted = [located(name, folder=folder) for name in theirs]
        for path in deleted:
            path.unlink(missing_ok=True)
        for root in prefix_folders(old.get("spec"), folder=folder) if prune else []:
            remove_empty_folders(files=deleted, root=root)
        previous = old.get("spec_file") or old["fingerprint"]
        if theirs:  # a re-run's cleanup is routine; an --overwrite's deletion a warning
            parent = Path(os.path.commonpath([path.absolute().parent for path in deleted]))
            shown = [path.absolute().relative_to(parent).as_posix() for path in deleted[:5]]
            logger.log(
                logging.WARNING if why == "--overwrite" else logging.INFO,
                "%s: deleted %s of the previous run (%s) in %s: %s",
                why,
                counted(len(theirs), "file"),
                previous,
                parent,
                ", ".join(shown) + (", ..." if len(theirs) > 5 else ""),
            )
        for name in changed:
            logger.warning(
                "%s: kept %s: it was rewritten by something else since the previous run (%s) wrote it",
                why,
                name,
                previous,
            )
        return theirs

    def _taken_message(self, old: Mapping[str, Any], owned: list[str]) -> str:
        """Why the prefix is refused: whose run, how it ended, what changed, what ``--overwrite`` deletes."""
        status = old.get("status", "?")
        status = "interrupted" if status == "running" else status  # its lock is ours now: it was killed
        spec_file = old.get("spec_file") or "?"
        same_file = spec_file == self.document["spec_file"]
        whose = "an earlier run of this spec file" if same_file else f"another run (spec {spec_file})"
        changes = spec_changes(old["spec"], self.document["spec"]) if "spec" in old else []
        changed = f"; the spec differs in {', '.join(changes)}" if changes else ""
        trainings = TrainingFiles.of_run(spec_prefix(self.spec), steps=self.spec.get("sequential_pipeline", []))
        checkpoints = {files.resume_checkpoint.resolve() for files in trainings}
        loses = status != "done" and any(
            located(name, folder=self.path.parent).resolve() in checkpoints for name in owned
        )
        return (
            f"{self.path.parent}: holds the outputs of {whose} (started {old.get('started', '?')}, {status}; see "
            f"{self.path}){changed}; its files would be mixed with this run's. Give this spec another out_pcloud, "
            "or run it with --overwrite to delete that run's files first"
            + (" (its training checkpoint among them: a --resume then trains from the first epoch)" if loses else "")
        )

    def finish(self, status: str) -> None:
        """Records how the run ended (``done``, ``failed``, ``interrupted``), the files it wrote
        and those an earlier run of the same spec wrote that are still there (never a file that
        was there before and is not ours), each with its identity, then stops guarding and
        releases the prefix."""
        self._guarding.close()
        folder = self.path.parent
        if set(changed_since(self.document, self.started, folder=folder)) & set(self._step_outputs()):
            self.remove_previous()  # written by another process only: no guard saw the first write
        with self._writing:
            identities = dict(self.document["identities"])
            outside = [  # written by this run, still as it wrote them
                name
                for name in self.document["outside"]
                if name in self._written_outside and file_identity(name) == identities[name]
            ]
            written = [
                name
                for name in changed_since(self.document, self.started, folder=folder)
                if name not in self.document["outside"]
            ]
            written = list(dict.fromkeys([*written, *outside, self._relative(self.path)]))  # about to be written
            kept = [
                name
                for name in self.document["earlier_files"]
                if name not in written
                and located(name, folder=folder).is_file()
                and (name not in identities or file_identity(located(name, folder=folder)) == identities[name])
            ]
            found = {name: file_identity(located(name, folder=folder)) for name in [*written, *kept]}
            found.pop(self._relative(self.path))
            self.document.update(status=status, ended=now(), files=written, earlier_files=kept, identities=found)
        try:
            self._write()
        finally:
            self.lock.release()

    def _write(self) -> None:
        with self._writing, atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps(self.document, indent=2) + "\n", encoding="utf-8")
