"""The run manifest: ``<first output prefix>run.json`` says which run the outputs there belong to.

It records the spec's fingerprint, when the run started and ended, how it ended, the versions
and the files the run writes. Before any work:

- no manifest, or one of the same spec: the run goes on and replaces its own files (a re-run);
- the manifest of another spec: the run stops (exit 2) naming that run, so that two runs'
  outputs are never mixed, unless ``overwrite`` is given, which first deletes the files the old
  manifest lists (and only those).

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
from vl3d_focal.config.prefixes import model_prefix
from vl3d_focal.errors import DataError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.runner.outputs import MANIFEST_NAME, output_files
from vl3d_focal.training.files import TrainingFiles

logger = logging.getLogger(__name__)


def spec_fingerprint(spec: Mapping[str, Any]) -> str:
    """A short hash of a normalised spec (paths absolute, defaults filled): the run's identity."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def manifest_path(spec: Mapping[str, Any]) -> Path:
    """Where a spec's manifest goes: ``run.json`` under the first output prefix."""
    prefix = model_prefix(inputs=[str(p) for p in spec["in_pcloud"]], prefixes=[str(p) for p in spec["out_pcloud"]])
    return Path(f"{prefix}{MANIFEST_NAME}")


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``; None when there is none (or it is not a manifest of ours)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and "fingerprint" in document else None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _remove_listed(old: Mapping[str, Any], *, folder: Path) -> list[Path]:
    removed = []
    for name in old.get("files", []):
        path = Path(name) if Path(name).is_absolute() else folder / name
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed


class RunManifest:
    """Claims an output prefix for a run and records how the run ends.

    Args:
        spec: the normalised spec.
        spec_file: the spec's file, for the record and messages.
        overwrite: replace another run's outputs (its listed files are deleted first).
    """

    def __init__(self, spec: Mapping[str, Any], *, spec_file: str = "", overwrite: bool = False) -> None:
        self.path = manifest_path(spec)
        self.fingerprint = spec_fingerprint(spec)
        self.document: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "spec_file": spec_file,
            "status": "running",
            "started": _now(),
            "ended": None,
            "versions": {"vl3d_focal": __version__, "python": platform.python_version()},
            "files": [self._relative(path) for path in output_files(spec)],
        }
        self.overwrite = overwrite
        self.started = time.time()
        self.previous: set[str] = set()

    def _relative(self, path: Path) -> str:
        """A file's name relative to the manifest's folder when inside it (outputs move together)."""
        try:
            return Path(path).resolve().relative_to(self.path.parent.resolve()).as_posix()
        except ValueError:
            return str(path)

    def claim(self) -> None:
        """Checks the prefix (see the module docstring) and writes the manifest as running.

        Raises:
            DataError: the prefix holds another spec's run and ``overwrite`` is false.
        """
        old = read_manifest(self.path)
        if old is not None and old["fingerprint"] == self.fingerprint:
            self.previous = set(old.get("files", []))  # a re-run: what the earlier runs wrote is still ours
        if old is not None and old["fingerprint"] != self.fingerprint:
            if not self.overwrite:
                raise DataError(
                    f"{self.path.parent}: holds the outputs of another run (spec {old.get('spec_file') or '?'}, "
                    f"started {old.get('started', '?')}, {old.get('status', '?')}; see {self.path}); its files "
                    "would be mixed with this run's. Give this spec another out_pcloud, or run it with "
                    "--overwrite to delete that run's files first"
                )
            removed = _remove_listed(old, folder=self.path.parent)
            logger.warning(
                "--overwrite: deleted %d files of the previous run (%s) in %s",
                len(removed),
                old.get("spec_file") or old["fingerprint"],
                self.path.parent,
            )
        self._write()

    def finish(self, status: str) -> None:
        """Records how the run ended (``done``, ``failed``, ``interrupted``) and the files it wrote
        (or an earlier run of the same spec wrote): never a file that was there before and is not ours."""
        written = [
            name
            for name in self.document["files"]
            if name == MANIFEST_NAME or self._ours(self.path.parent / name, name)
        ]
        self.document.update(status=status, ended=_now(), files=written)
        self._write()

    def _ours(self, path: Path, name: str) -> bool:
        return path.is_file() and (path.stat().st_mtime >= self.started or name in self.previous)

    def _write(self) -> None:
        with atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps(self.document, indent=2) + "\n", encoding="utf-8")


def interruption_note(spec: Mapping[str, Any], *, spec_file: str) -> str:
    """What an interrupted run kept and the command that continues it.

    Example:
        >>> interruption_note({"in_pcloud": [], "out_pcloud": ["no/such/"], "sequential_pipeline": []},
        ...                   spec_file="s.json")
        'no training checkpoint was kept; run it again: vl3d-focal run s.json'
    """
    checkpoint = TrainingFiles.under(str(manifest_path(spec).parent) + "/").resume_checkpoint
    if checkpoint.is_file():
        return f"the training checkpoint {checkpoint} was kept; continue with: vl3d-focal run {spec_file} --resume"
    return f"no training checkpoint was kept; run it again: vl3d-focal run {spec_file}"
