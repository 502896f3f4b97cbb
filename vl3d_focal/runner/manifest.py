"""The run manifest: ``<first output prefix>run.json`` says which run the outputs there belong to.

It records the spec's fingerprint, when the run started and ended, how it ended, the versions,
the files the run may write (``planned``), those it wrote (``files``) and, for a re-run, those an
earlier run of the same spec wrote and this one kept (``earlier_files``); and the folders it
writes files of its own naming in (``planned_folders``: TensorBoard's), which are never its to
delete, as other runs may write there too. While a run writes, it
holds ``<prefix>run.lock`` (:mod:`vl3d_focal.io.prefix_lock`): a second run into the prefix
stops at once (exit 2), before it deletes or writes anything. Before any work:

- no manifest, or one of the same spec: the run goes on and replaces its own files (a re-run);
- the manifest of another spec: the run stops (exit 2) naming that run, so that two runs'
  outputs are never mixed, unless ``overwrite`` is given, which first deletes that run's files,
  and only those: the files it wrote, or for a run killed before it could say so, the planned
  files changed since it started, then the folders under the prefix's folder they leave empty.
  A file this spec reads is never deleted: the run stops instead;
- a file this run would write that a run of another prefix owns (an enclosing prefix ``out/``
  and a nested one ``out/tile/``): the run stops, ``overwrite`` or not.

Example:
    >>> spec = {"in_pcloud": [], "out_pcloud": ["out/"], "sequential_pipeline": []}
    >>> len(spec_fingerprint(spec)), manifest_path(spec).as_posix()
    (16, 'out/run.json')
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vl3d_focal import __version__
from vl3d_focal.config.normalise import annotated_paths
from vl3d_focal.config.prefixes import LOCK_NAME, MANIFEST_NAME
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.io.prefix_lock import PrefixLock
from vl3d_focal.runner.outputs import output_files, remove_empty_folders, spec_prefix, written_folders
from vl3d_focal.training.files import TrainingFiles

logger = logging.getLogger(__name__)

HOW_IT_RUNS = ("executor",)
"""Top-level keys that choose how a run is executed, not what it computes: not in the fingerprint."""


class OutputsTaken(DataError):
    """The output prefix belongs to another run (live, or of another spec)."""


def spec_fingerprint(spec: Mapping[str, Any]) -> str:
    """A short hash of a normalised spec (paths absolute, defaults filled): the run's identity.
    How the run is executed (:data:`HOW_IT_RUNS`: workers, scheduler) is not part of it.

    Example:
        >>> spec = {"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": []}
        >>> spec_fingerprint(spec) == spec_fingerprint({**spec, "executor": {"workers": 2}})
        True
    """
    text = json.dumps(spec_identity(spec), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def spec_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What a spec computes, as plain JSON: the spec without :data:`HOW_IT_RUNS` (its fingerprint's text).

    Example:
        >>> spec_identity({"out_pcloud": ["o/"], "executor": {"workers": 2}})
        {'out_pcloud': ['o/']}
    """
    return json.loads(json.dumps({key: value for key, value in spec.items() if key not in HOW_IT_RUNS}, default=str))


def spec_changes(old: Any, new: Any, *, at: str = "$", limit: int = 3) -> list[str]:
    """The first ``limit`` places where two specs differ, with both values.

    Example:
        >>> spec_changes({"a": [{"epochs": 300}], "b": 1}, {"a": [{"epochs": 140}], "b": 1})
        ['$.a[0].epochs: 300 -> 140']
    """
    if isinstance(old, list) and isinstance(new, list) and len(old) != len(new):
        return [f"{at}: {len(old)} entries -> {len(new)}"]
    if isinstance(old, dict) and isinstance(new, dict):
        pairs = [(f"{at}.{key}", old.get(key), new.get(key)) for key in sorted(set(old) | set(new), key=str)]
    elif isinstance(old, list) and isinstance(new, list):
        pairs = [(f"{at}[{index}]", a, b) for index, (a, b) in enumerate(zip(old, new))]
    else:
        pairs = []
    found: list[str] = []
    for place, a, b in pairs:
        found += spec_changes(a, b, at=place, limit=limit - len(found))
        if len(found) >= limit:
            return found[:limit]
    return found if pairs or old == new else [f"{at}: {json.dumps(old)[:60]} -> {json.dumps(new)[:60]}"]


def manifest_path(spec: Mapping[str, Any]) -> Path:
    """Where a spec's manifest goes: ``run.json`` under the first output prefix."""
    return Path(f"{spec_prefix(spec)}{MANIFEST_NAME}")


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``; None when there is none (or it is not a manifest of ours)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and "fingerprint" in document else None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _located(name: str, *, folder: Path) -> Path:
    return Path(name) if Path(name).is_absolute() else folder / name


def _changed_since(old: Mapping[str, Any], since: float, *, folder: Path) -> list[str]:
    """The planned files changed since ``since`` (never the files of the planned folders: other
    runs and people may write there too)."""
    return [
        name
        for name in old.get("planned", [])
        if (path := _located(name, folder=folder)).is_file() and path.stat().st_mtime >= since
    ]


def owned_files(old: Mapping[str, Any], *, folder: Path) -> list[str]:
    """The names of the files a manifest's run owns that are on disk: those it wrote or kept,
    and for a run that never ended (killed: its manifest still says running), its planned files
    changed since it started (a planned file older than the run was never the run's).

    Example:
        >>> owned_files({"status": "done", "files": ["run.json", "gone.csv"]}, folder=Path("no/such"))
        []
    """
    names = [*old.get("files", []), *old.get("earlier_files", [])]
    since = old.get("started_unix")
    if old.get("status") == "running" and isinstance(since, (int, float)):
        names += _changed_since(old, since, folder=folder)
    return [name for name in dict.fromkeys(names) if _located(name, folder=folder).is_file()]


def _relative(path: Path, *, folder: Path) -> str:
    """A file's name relative to the manifest's folder when inside it (outputs move together)."""
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(path)


def _manifests_in(folder: Path) -> list[Path]:
    """The run manifests of any prefix in ``folder`` (``*run.json``; none where it cannot be listed)."""
    try:
        return sorted(path for path in folder.iterdir() if path.name.endswith(MANIFEST_NAME) and path.is_file())
    except OSError:
        return []


def _read_files(spec: Mapping[str, Any]) -> set[Path]:
    return {Path(value).resolve() for _, kind, value, _ in annotated_paths(spec) if kind == "input"}


class RunManifest:
    """Claims an output prefix for a run and records how the run ends.

    Args:
        spec: the normalised spec.
        spec_file: the spec's file, for the record and messages.
        overwrite: replace another run's outputs (its files are deleted first).
    """

    def __init__(self, spec: Mapping[str, Any], *, spec_file: str = "", overwrite: bool = False) -> None:
        self.path = manifest_path(spec)
        self.fingerprint = spec_fingerprint(spec)
        self.started = time.time()
        self.document: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "spec_file": spec_file,
            "status": "running",
            "started": _now(),
            "started_unix": self.started,
            "ended": None,
            "versions": {"vl3d_focal": __version__, "python": platform.python_version()},
            "planned": [self._relative(path) for path in output_files(spec)],
            "planned_folders": [self._relative(path) for path in written_folders(spec)],
            "files": [],
            "earlier_files": [],
            "spec": spec_identity(spec),
        }
        self.spec = spec
        self.overwrite = overwrite
        self.lock = PrefixLock(Path(f"{spec_prefix(spec)}{LOCK_NAME}"), holder=spec_file)

    def _relative(self, path: Path) -> str:
        return _relative(path, folder=self.path.parent)

    def claim(self) -> None:
        """Takes the prefix's lock, checks the prefix (see the module docstring) and writes the
        manifest as running. The lock is held until :meth:`finish`.

        Raises:
            OutputsTaken: another run writes into the prefix now, or the prefix holds another
                spec's run and ``overwrite`` is false or would delete a file this spec reads.
        """
        try:
            self.lock.acquire()
        except DataError as error:
            raise OutputsTaken(str(error)) from None
        try:
            self._check_other_prefixes()
            self._take_over(read_manifest(self.path))
            self._write()
        except BaseException:
            self.lock.release()
            raise

    def _check_other_prefixes(self) -> None:
        """Stops when a run of another prefix (an enclosing or a nested one: ``out/`` and
        ``out/tile/``) owns a file this run would write."""
        folder = self.path.parent
        planned = {_located(name, folder=folder).resolve(): name for name in self.document["planned"]}
        places = [folder.resolve(), *folder.resolve().parents, *(p for path in planned for p in path.parents)]
        for place in dict.fromkeys(places):
            for other_path in _manifests_in(place):
                other = read_manifest(other_path)
                if other is None or other_path.resolve() == self.path.resolve():
                    continue
                mine = [
                    planned[path]
                    for name in owned_files(other, folder=other_path.parent)
                    if (path := _located(name, folder=other_path.parent).resolve()) in planned
                ]
                if mine:
                    raise OutputsTaken(
                        f"{', '.join(sorted(mine)[:3])}{' ...' if len(mine) > 3 else ''} in {folder}: written by "
                        f"another run whose outputs are under {other_path.parent} (spec "
                        f"{other.get('spec_file') or '?'}; see {other_path}); give this spec an out_pcloud outside "
                        "that run's folders"
                    )

    def _take_over(self, old: Mapping[str, Any] | None) -> None:
        if old is None:
            return
        folder = self.path.parent
        owned = owned_files(old, folder=folder)
        if old["fingerprint"] == self.fingerprint:  # a re-run: what earlier runs wrote is still ours
            self.document["earlier_files"] = [name for name in owned if name != self._relative(self.path)]
            return
        if not self.overwrite:
            raise OutputsTaken(self._taken_message(old, owned))
        read = _read_files(self.spec)
        needed = sorted(name for name in owned if _located(name, folder=folder).resolve() in read)
        if needed:
            raise OutputsTaken(
                f"--overwrite would delete {', '.join(needed)} in {folder}, a file of the previous run "
                "that this spec reads; move it out of the output prefix (and point the spec there), or "
                "give this spec another out_pcloud"
            )
        for name in owned:
            _located(name, folder=folder).unlink(missing_ok=True)
        remove_empty_folders(files=[_located(name, folder=folder) for name in owned], root=folder)
        logger.warning(
            "--overwrite: deleted %d files of the previous run (%s) in %s",
            len(owned),
            old.get("spec_file") or old["fingerprint"],
            folder,
        )

    def _taken_message(self, old: Mapping[str, Any], owned: list[str]) -> str:
        """Why the prefix is refused: whose run, how it ended, what changed, what ``--overwrite`` deletes."""
        status = old.get("status", "?")
        status = "interrupted" if status == "running" else status  # its lock is ours now: it was killed
        spec_file = old.get("spec_file") or "?"
        same_file = spec_file == self.document["spec_file"]
        whose = "an earlier run of this spec file" if same_file else f"another run (spec {spec_file})"
        changes = spec_changes(old["spec"], self.document["spec"]) if "spec" in old else []
        changed = f"; the spec differs in {', '.join(changes)}" if changes else ""
        checkpoint = TrainingFiles.under(spec_prefix(self.spec)).resume_checkpoint
        loses = status != "done" and any(
            _located(name, folder=self.path.parent).resolve() == checkpoint.resolve() for name in owned
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
        was there before and is not ours), then releases the prefix."""
        folder = self.path.parent
        written = _changed_since(self.document, self.started, folder=folder)
        written = list(dict.fromkeys([*written, self._relative(self.path)]))  # about to be written
        kept = [
            name
            for name in self.document["earlier_files"]
            if name not in written and _located(name, folder=folder).is_file()
        ]
        self.document.update(status=status, ended=_now(), files=written, earlier_files=kept)
        try:
            self._write()
        finally:
            self.lock.release()

    def _write(self) -> None:
        with atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps(self.document, indent=2) + "\n", encoding="utf-8")


def interruption_note(spec: Mapping[str, Any], *, spec_file: str) -> str:
    """What an interrupted run kept and the command that continues it: ``--resume`` where it
    continues something (a train step's checkpoint; in a survey, the tiles already done).

    Example:
        >>> steps = [{"predict": "ModelLoader"}]
        >>> interruption_note({"in_pcloud": ["a.laz", "b.laz"], "out_pcloud": ["no/such/"],
        ...     "sequential_pipeline": steps}, spec_file="s.json")
        'continue with: vl3d-focal run s.json --resume (the tiles already done are skipped)'
        >>> interruption_note({"in_pcloud": ["a.laz"], "out_pcloud": ["no/such/"],
        ...     "sequential_pipeline": [{"train": "PointNetPwiseClassifier"}]}, spec_file="s.json")
        'no training checkpoint was kept; run it again: vl3d-focal run s.json'
    """
    command = f"vl3d-focal run {spec_file}"
    survey = len(spec.get("in_pcloud", [])) > 1
    notes, resumes = [], survey
    if any("train" in step for step in spec.get("sequential_pipeline", [])):
        checkpoint = TrainingFiles.under(spec_prefix(spec)).resume_checkpoint
        resumes = resumes or checkpoint.is_file()
        notes.append(
            f"the training checkpoint {checkpoint} was kept"
            if checkpoint.is_file()
            else "no training checkpoint was kept"
        )
    if resumes:
        notes.append(f"continue with: {command} --resume" + (" (the tiles already done are skipped)" if survey else ""))
    else:
        notes.append(f"run it again: {command}")
    return "; ".join(notes)
