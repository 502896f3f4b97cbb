"""Input clouds given as glob patterns or folders, expanded to sorted lists of files.

An entry of ``in_pcloud`` (or of another list of input clouds: ``training_pcloud``,
``validation_pcloud``) may be

- a file path: kept as it is;
- a folder: its ``.las`` and ``.laz`` files (any case; not its subfolders), sorted;
- a glob pattern (``*``, ``?``, ``[...]``; ``**`` matches any depth): the files it matches, sorted.

Relative entries are resolved against the spec file's folder. Entries keep their order; a
file reached twice is kept once, where it first appears. A pattern or folder that matches
no file is kept as written, so that the semantic checks report it (:func:`unmatched_problem`).

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("b.laz", "a.LAS", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [Path(p).name for p in expand_cloud_paths([str(folder)], base_dir=folder)]
    ['a.LAS', 'b.laz']
    >>> [Path(p).name for p in expand_cloud_paths(["*.laz", "b.laz"], base_dir=folder)]
    ['b.laz']
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.schema_annotations import CLOUD_SUFFIXES

URL_SCHEMES = ("http://", "https://", "ftp://")
"""The starts of the URLs a spec may hold (VL3D reads ``in_pcloud`` from http(s) URLs)."""


def is_url(path: str) -> bool:
    """Whether ``path`` is a URL (:data:`URL_SCHEMES`, any case): vl3d_focal reads local files only.

    Example:
        >>> is_url("https://example.org/a.laz"), is_url("tiles/a.laz")
        (True, False)
    """
    return path.lower().startswith(URL_SCHEMES)


def absolute_path(path: str, *, base_dir: Path) -> str:
    """``path`` (``~`` expanded) resolved against ``base_dir``, normalised, absolute; a URL
    (:func:`is_url`) is kept as written, for the checks to refuse it by its own name.

    Example:
        >>> absolute_path("../a.las", base_dir=Path("/data/specs"))
        '/data/a.las'
        >>> absolute_path("https://example.org/a.laz", base_dir=Path("/data/specs"))
        'https://example.org/a.laz'
    """
    if is_url(path):
        return path
    text = os.path.expanduser(path)
    return os.path.abspath(os.path.normpath(os.path.join(os.fspath(base_dir), text)))


def is_pattern(path: str) -> bool:
    """Whether ``path`` holds glob wildcards.

    Example:
        >>> is_pattern("tiles/*.laz"), is_pattern("tiles/a.laz")
        (True, False)
    """
    return glob.has_magic(path)


def is_unlisted(path: str) -> bool:
    """Whether an input cloud entry left unexpanded (without file checks) may stand for any number
    of clouds: a glob pattern, or a path without a suffix (perhaps a folder).

    Example:
        >>> is_unlisted("tiles/*.laz"), is_unlisted("tiles/"), is_unlisted("tiles/a.laz")
        (True, True, False)
    """
    return is_pattern(path) or not Path(path).suffix


def _folder_clouds(folder: str) -> list[str]:
    with os.scandir(folder) as entries:
        names = [
            entry.path for entry in entries if entry.is_file() and Path(entry.name).suffix.lower() in CLOUD_SUFFIXES
        ]
    return sorted(names)


def expand_cloud_path(path: str, *, base_dir: Path) -> list[str]:
    """The absolute files one entry stands for (see the module docstring); ``[]`` for a pattern
    or folder that matches no file.

    Example:
        >>> expand_cloud_path("a.laz", base_dir=Path("/d"))
        ['/d/a.laz']
    """
    resolved = absolute_path(path, base_dir=base_dir)
    if is_pattern(path):
        return sorted(match for match in glob.glob(resolved, recursive=True) if os.path.isfile(match))
    if os.path.isdir(resolved):
        return _folder_clouds(resolved)
    return [resolved]


def expand_cloud_paths(paths: Sequence[str], *, base_dir: Path) -> list[str]:
    """Every entry expanded (:func:`expand_cloud_path`), in order, each file once; an entry
    matching nothing is kept, resolved, for :func:`unmatched_problem` to report.

    Example:
        >>> expand_cloud_paths(["x/*.laz"], base_dir=Path("/no/such"))
        ['/no/such/x/*.laz']
    """
    return list(cloud_entries(paths, base_dir=base_dir))


def cloud_entries(paths: Sequence[str], *, base_dir: Path) -> dict[str, int]:
    """Each cloud of :func:`expand_cloud_paths`, in its order, with the index of the entry it
    comes from (where a file is reached twice: the first), so that an issue about a cloud
    names the entry as the user wrote it.

    Example:
        >>> cloud_entries(["a.laz", "x/*.laz", "a.laz"], base_dir=Path("/no/such"))
        {'/no/such/a.laz': 0, '/no/such/x/*.laz': 1}
    """
    found: dict[str, int] = {}
    for index, path in enumerate(paths):
        for cloud in expand_cloud_path(path, base_dir=base_dir) or [absolute_path(path, base_dir=base_dir)]:
            found.setdefault(cloud, index)
    return found


def unmatched_problem(path: str) -> str | None:
    """Why an entry left by :func:`expand_cloud_paths` names no cloud, or None when it is a
    plain file path (checked like any other input).

    Example:
        >>> unmatched_problem("/no/such/x/*.laz")
        "the pattern '/no/such/x/*.laz' matches no file; expected at least one .las or .laz file (check the folder and the wildcards)"
        >>> unmatched_problem("/no/such/a.laz") is None
        True
    """
    if is_pattern(path):
        return (
            f"the pattern {path!r} matches no file; expected at least one .las or .laz file "
            "(check the folder and the wildcards)"
        )
    if os.path.isdir(path):
        return f"the folder {path!r} holds no .las or .laz file; expected at least one"
    return None


def concatenated_clouds(spec: Mapping[str, Any]) -> list[str]:
    """The files of a spec's ``in_pcloud_concat`` entries, in order (``[]`` without it).

    Example:
        >>> concatenated_clouds({"in_pcloud_concat": [{"in_pcloud": "a.laz"}, {"in_pcloud": "b.laz"}]})
        ['a.laz', 'b.laz']
    """
    entries = spec.get("in_pcloud_concat")
    entries = entries if isinstance(entries, list) else []
    return [e["in_pcloud"] for e in entries if isinstance(e, Mapping) and isinstance(e.get("in_pcloud"), str)]


def run_inputs(spec: Mapping[str, Any]) -> list[str]:
    """The input clouds of a spec's run, one per cloud the steps see: ``in_pcloud``, or the one
    cloud ``in_pcloud_concat`` makes, known by its first file (whose header it takes).

    Example:
        >>> run_inputs({"in_pcloud_concat": [{"in_pcloud": "a.laz"}, {"in_pcloud": "b.laz"}]})
        ['a.laz']
        >>> run_inputs({"in_pcloud": ["a.laz", "b.laz"]})
        ['a.laz', 'b.laz']
    """
    if "in_pcloud_concat" in spec:
        return concatenated_clouds(spec)[:1]
    value = spec.get("in_pcloud")
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [item for item in values if isinstance(item, str)]


def listed_clouds(spec: Mapping[str, Any], *, check_files: bool) -> tuple[list[str], bool]:
    """The run's input clouds (:func:`run_inputs`) that are known, and whether they are all of them:
    without ``check_files``, an ``in_pcloud`` pattern or folder is not expanded (:func:`is_unlisted`),
    so the clouds it stands for, at least one, are not known (nor their number).

    Example:
        >>> listed_clouds({"in_pcloud": ["/d/a.laz", "/d/tiles/*.laz"]}, check_files=False)
        (['/d/a.laz'], False)
        >>> listed_clouds({"in_pcloud": ["/d/a.laz", "/d/b.laz"]}, check_files=False)
        (['/d/a.laz', '/d/b.laz'], True)
    """
    inputs = run_inputs(spec)
    if check_files or "in_pcloud_concat" in spec:
        return inputs, True
    listed = [path for path in inputs if not is_unlisted(path)]
    return listed, len(listed) == len(inputs)


def cloud_count(listed: Sequence[str], exact: bool) -> int:
    """The number of input clouds of :func:`listed_clouds`, or without ``exact`` the least it can be
    (an unlisted entry stands for one cloud at least).

    Example:
        >>> cloud_count([], False), cloud_count(["a.laz", "b.laz"], True)
        (1, 2)
    """
    return len(listed) if exact else max(len(listed), 1)
