"""Which files on disk a run's manifest (``<prefix>run.json``) says are its own.

A manifest names its files relative to its folder when they are inside it, absolutely when
they are outside (a model path without ``*``). A file is still a run's when its identity
(``[size, mtime_ns]``, :func:`vl3d_focal.io.output_guard.file_identity`) is the one the manifest
recorded (``identities``); a file outside the run's output folders (``outside``:
:func:`outside_names`) without a recorded identity is never taken for the run's, as any other
run may have written it, unless the run claimed it and was killed before it could confirm it
(:func:`claimed_since`), for a ``--resume`` of it only; a manifest written before manifests held
identities is trusted for the files it lists (:func:`still_theirs`).

Example:
    >>> located("eval/r.json", folder=Path("out")).as_posix(), located("/m/a.keras", folder=Path("out")).as_posix()
    ('out/eval/r.json', '/m/a.keras')
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vl3d_focal.config.normalise import annotated_paths
from vl3d_focal.config.prefixes import MANIFEST_NAME, cloud_prefixes
from vl3d_focal.errors import DataError
from vl3d_focal.io.output_guard import Identity, file_identity


class OutputsTaken(DataError):
    """The output prefix belongs to another run (live, or of another spec)."""


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``; None when there is none (or it is not a manifest of ours)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and "fingerprint" in document else None


def located(name: str, *, folder: Path) -> Path:
    """The path of a manifest's file ``name`` (relative to the manifest's ``folder``, or absolute)."""
    return Path(name) if Path(name).is_absolute() else folder / name


def relative_name(path: Path, *, folder: Path) -> str:
    """A file's name relative to the manifest's folder when inside it (outputs move together),
    else its path as given.

    Example:
        >>> relative_name(Path("out/eval/r.json"), folder=Path("out")), relative_name(Path("/m/a.keras"), folder=Path("out"))
        ('eval/r.json', '/m/a.keras')
    """
    try:
        return Path(path).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return str(path)


def outside_names(names: list[str], *, folder: Path, folders: list[Path]) -> list[str]:
    """Those of a manifest's file ``names`` (relative to its ``folder``, or absolute) that are in
    none of the run's output ``folders`` (:func:`prefix_folders`): paths written without ``*``,
    which other runs may write too.

    Example:
        >>> outside_names(["eval/r.json", "/m/shared.keras", "/o/y/p.laz"], folder=Path("/o/x"),
        ...               folders=[Path("/o/x"), Path("/o/y")])
        ['/m/shared.keras']
    """
    roots = [path.resolve() for path in folders]
    return [name for name in names if not any(root in located(name, folder=folder).resolve().parents for root in roots)]


def planned_names(old: Mapping[str, Any], *, folder: Path) -> list[str]:
    """The planned files of a manifest, with those on disk that match its planned glob patterns
    (the pattern's folder taken as written, its file name a pattern)."""
    names = list(old.get("planned", []))
    for pattern in old.get("planned_numbered", []):
        where = located(pattern, folder=folder)
        found = sorted(where.parent.glob(where.name)) if where.parent.is_dir() else []
        names += [relative_name(path, folder=folder) for path in found]
    return names


def changed_since(old: Mapping[str, Any], since: float, *, folder: Path) -> list[str]:
    """The planned files changed since ``since`` (never the files of the planned folders: other
    runs and people may write there too)."""
    return [
        name
        for name in planned_names(old, folder=folder)
        if (path := located(name, folder=folder)).is_file() and path.stat().st_mtime >= since
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
        names += changed_since(old, since, folder=folder)
        names += [name for name in old.get("claimed") or {} if claimed_since(old, name, folder=folder)]
    return [name for name in dict.fromkeys(names) if located(name, folder=folder).is_file()]


def still_theirs(old: Mapping[str, Any], name: str, *, folder: Path) -> bool:
    """Whether the file ``name`` of a manifest's run is still the file that run wrote (see the
    module docstring).

    Example:
        >>> still_theirs({"identities": {}, "outside": ["/models/shared.keras"]}, "/models/shared.keras",
        ...              folder=Path("out"))
        False
        >>> still_theirs({"files": ["/models/shared.keras"]}, "/models/shared.keras", folder=Path("out"))
        True
    """
    identities = old.get("identities")
    if not isinstance(identities, Mapping) or claimed_since(old, name, folder=folder):
        return True  # written before manifests held identities: as it says; or claimed and written
    if name in identities:
        return file_identity(located(name, folder=folder)) == identities[name]
    return name not in old.get("outside", [])


def claimed_since(old: Mapping[str, Any], name: str, *, folder: Path) -> bool:
    """Whether the file ``name`` outside a killed run's folders (its manifest still says running)
    is that run's although it never confirmed it: the run claimed it at its start (``claimed``: the
    identity it found, None for absent) and the file changed since, at or after that start (a worker's
    write whose outcome never reached the run, or the run's own write right before the kill).
    Never a file found at the claim and unchanged, nor one older than the run.

    Example:
        >>> target = out / "shared.keras"
        >>> killed = {"status": "running", "started_unix": 0, "claimed": {str(target): None}}
        >>> claimed_since(killed, str(target), folder=out)  # absent: never written
        False
        >>> _ = target.write_text("written by a worker of the killed run")
        >>> claimed_since(killed, str(target), folder=out), claimed_since({**killed, "status": "done"}, str(target), folder=out)
        (True, False)
    """
    claimed, since = old.get("claimed") or {}, old.get("started_unix")
    if old.get("status") != "running" or name not in claimed or not isinstance(since, (int, float)):
        return False
    found = file_identity(located(name, folder=folder))
    return found is not None and found != claimed[name] and found[1] >= since * 1e9


def earlier_identities(old: Mapping[str, Any], names: list[str], *, folder: Path) -> dict[str, Identity]:
    """The identities of the files ``names`` of a previous run that a re-run keeps as its earlier
    files: as that run recorded them, or for a file it claimed but never confirmed
    (:func:`claimed_since`), the file's now, which confirms it.

    Example:
        >>> earlier_identities({"identities": {"a.csv": [1, 2], "b.csv": [3, 4]}}, ["a.csv"], folder=out)
        {'a.csv': [1, 2]}
    """
    recorded = old.get("identities") or {}
    found = {
        name: file_identity(located(name, folder=folder)) for name in names if claimed_since(old, name, folder=folder)
    }
    return {name: identity for name in names if (identity := found.get(name) or recorded.get(name)) is not None}


def manifests_in(folder: Path) -> list[Path]:
    """The run manifests of any prefix in ``folder`` (``*run.json``; none where it cannot be listed)."""
    try:
        return sorted(path for path in folder.iterdir() if path.name.endswith(MANIFEST_NAME) and path.is_file())
    except OSError:
        return []


def prefix_folders(spec: Any, *, folder: Path) -> list[Path]:
    """The folders of the output prefixes of a manifest's ``spec`` (its ``out_pcloud``, or for
    none the prefixes beside its inputs), deepest first, with the manifest's ``folder``: those
    ``overwrite`` removes the folders left empty under (they themselves stay). Only ``folder``
    for a manifest without its spec.

    Example:
        >>> [p.as_posix() for p in prefix_folders({"in_pcloud": ["t/a.las", "t/b.las"],
        ...     "out_pcloud": ["o/x/", "p/y/run_"]}, folder=Path("o/x"))]
        ['o/x', 'p/y']
        >>> [p.as_posix() for p in prefix_folders({"in_pcloud": ["t/a.las"], "out_pcloud": []}, folder=Path("t"))]
        ['t']
    """
    prefixes: list[str] = []
    if isinstance(spec, Mapping):
        inputs, given = spec.get("in_pcloud") or [], spec.get("out_pcloud") or []
        if isinstance(inputs, list) and isinstance(given, list):
            with contextlib.suppress(DataError):  # two inputs of one name: a spec that never ran
                prefixes = [str(p) for p in given] or cloud_prefixes(inputs=[str(p) for p in inputs], prefixes=[])
    folders = dict.fromkeys([folder, *(Path(f"{prefix}{MANIFEST_NAME}").parent for prefix in prefixes)])
    return sorted(folders, key=lambda path: -len(path.resolve().parts))


def read_files(spec: Mapping[str, Any]) -> set[Path]:
    """The files a normalised spec reads (its input paths), resolved.

    Example:
        >>> [p.name for p in read_files({"in_pcloud": ["a.las"], "out_pcloud": ["o/"], "sequential_pipeline": []})]
        ['a.las']
    """
    return {Path(value).resolve() for _, kind, value, _ in annotated_paths(spec) if kind == "input"}


def check_other_prefixes(manifest: Path, *, planned: list[str]) -> None:
    """Stops when a run of another prefix (an enclosing or a nested one: ``out/`` and
    ``out/predict/``) owns a file of the run's ``planned`` ones. A run's folder inside another
    run's is allowed (VL3D's prediction specs write under their training run's folder): neither
    run lists, deletes or replaces the other's files.

    Raises:
        OutputsTaken: naming the other run and what to do.

    Example:
        >>> check_other_prefixes(Path("no/such/run.json"), planned=["eval/r.json"])  # no other run: fine
        >>> manifest = {"fingerprint": "f", "spec_file": "train.json", "files": ["eval/r.json"]}  # a training run's
        >>> _ = (out / "run.json").write_text(json.dumps(manifest))
        >>> (out / "eval").mkdir(); _ = (out / "eval" / "r.json").write_text("{}")
        >>> check_other_prefixes(out / "eval" / "run.json", planned=["r.json"])
        Traceback (most recent call last):
        vl3d_focal.runner.owned_files.OutputsTaken: r.json in .../eval: written by another run (spec train.json; see .../run.json), whose outputs are under ...; give this spec an out_pcloud outside that run's folders
    """
    folder = manifest.parent
    planned_paths = {located(name, folder=folder).resolve(): name for name in planned}
    places = [folder.resolve(), *folder.resolve().parents, *(p for path in planned_paths for p in path.parents)]
    for place in dict.fromkeys(places):
        for other_path in manifests_in(place):
            other = read_manifest(other_path)
            if other is None or other_path.resolve() == manifest.resolve():
                continue
            whose = f"another run (spec {other.get('spec_file') or '?'}; see {other_path})"
            mine = [
                planned_paths[path]
                for name in owned_files(other, folder=other_path.parent)
                if (path := located(name, folder=other_path.parent).resolve()) in planned_paths
            ]
            if mine:
                raise OutputsTaken(
                    f"{', '.join(sorted(mine)[:3])}{' ...' if len(mine) > 3 else ''} in {folder}: written by "
                    f"{whose}, whose outputs are under {other_path.parent}; give this spec an out_pcloud "
                    "outside that run's folders"
                )


def check_outside(old: Mapping[str, Any] | None, *, folder: Path, outside: list[str], claims: bool = True) -> None:
    """Stops when a file of a run's ``outside`` ones (:func:`outside_names`) exists and is not
    the file that the previous run of the run's ``folder`` (its manifest ``old``) wrote there:
    another run's, or a person's, which replacing would lose. A file that a killed previous run
    claimed and never confirmed (:func:`claimed_since`) is that run's only with ``claims`` (a
    ``--resume``, which continues it); else the refusal says so.

    Raises:
        OutputsTaken: naming the files and what to do.

    Example:
        >>> check_outside(None, folder=Path("out"), outside=["/no/such/shared.keras"])  # no such file: fine
        >>> _ = (out / "shared.keras").write_text("a person's model")
        >>> check_outside(None, folder=out / "run", outside=[str(out / "shared.keras")])
        Traceback (most recent call last):
        vl3d_focal.runner.owned_files.OutputsTaken: .../shared.keras: exists outside this run's output folders (.../run) and was not written by this spec's previous run there (another run, or something else, wrote it; replacing it would lose it). Move it away, ...
    """
    known = old if old is None or claims else without_claims(old)
    owned = set(owned_files(known, folder=folder)) if known is not None else set()
    foreign = [
        name
        for name in outside
        if Path(name).is_file()
        and not (known is not None and name in owned and still_theirs(known, name, folder=folder))
    ]
    if foreign:
        killed = [name for name in foreign if old is not None and claimed_since(old, name, folder=folder)]
        raise OutputsTaken(
            f"{', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}: exists outside this run's output "
            f"folders ({folder}) and was not written by this spec's previous run there (another run, or something else, "
            "wrote it; replacing it would lose it). Move it away, or give the step a path under the output "
            "prefix (*), or run with --overwrite to replace it"
            + (
                f"; {', '.join(killed[:3])}: claimed by this spec's killed run, which may have written it after its "
                "start: --resume continues that run and takes it"
                if killed
                else ""
            )
        )


def without_claims(old: Mapping[str, Any]) -> dict[str, Any]:
    """A previous run's manifest without its ``claimed`` outside paths: what a plain re-run (not
    ``--resume``) trusts, as a file claimed but never confirmed may be anyone's written since.

    Example:
        >>> without_claims({"status": "running", "claimed": {"/m/a.keras": None}})
        {'status': 'running'}
    """
    return {key: value for key, value in old.items() if key != "claimed"}
