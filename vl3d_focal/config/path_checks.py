"""Checks of the paths of a normalised spec, each alone (:func:`path_issues`):

- no path is a URL (http, https, ftp: vl3d_focal reads and writes local files only,
  :func:`url_problem`);
- paths end with the suffixes their schema lists (``x-vl3d-suffixes``);
- with ``check_files``: input files (``x-vl3d-path: input``) exist and are readable files (a
  model file's path that is a folder says so), input patterns and folders of clouds match at
  least one cloud, and each input cloud is a LAS/LAZ file with points that holds what its header
  says (signature, header, point count, size; a LAZ file's chunk table: no point is decoded), but
  a survey's tiles, which the run leaves out when unreadable; without, the file system is not
  read: an input pattern, or an input cloud's path without a suffix (perhaps a folder), is not checked;
- :func:`written_path_issues`: output paths as the spec's file writes them (a ``*`` only where it
  marks the output prefix; a note for an ``out_pcloud`` that names a cloud file: VL3D's final cloud).

Example:
    >>> list(path_issues([(("in_pcloud", 0), "input", "a.txt", (".las", ".laz"))], check_files=False))
    [(('in_pcloud', 0), "expected a path ending in .las or .laz; got 'a.txt'")]
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.inputs import is_pattern, is_unlisted, is_url, unmatched_problem
from vl3d_focal.config.normalise import annotated_paths
from vl3d_focal.config.notes import INFO_PREFIX
from vl3d_focal.config.prefixes import final_cloud_note, written_output_problem, written_prefix_problem
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import check_file
from vl3d_focal.schema_annotations import CLOUD_SUFFIXES

Issue = tuple[tuple, str]


def _file_problem(path: str, *, what: str = "a file") -> str | None:
    try:
        target = Path(path)
        if not target.exists():
            return f"file not found: {path}"
        if target.is_dir():
            inside = sorted(entry.name for entry in target.iterdir() if entry.is_file())
            held = ", ".join(inside[:3]) + (", ..." if len(inside) > 3 else "")
            return f"{path} is a folder, not {what}" + (f"; give a file's path (it holds {held})" if inside else "")
        if not target.is_file():
            return f"not a file: {path}"
        if not os.access(target, os.R_OK):
            return f"file not readable: {path}"
    except (OSError, ValueError) as exc:
        return f"cannot use the path {path!r}: {exc}"
    return None


Found = list[tuple[tuple, str, str, tuple[str, ...]]]


def url_problem(url: str, *, kind: str) -> str:
    """Why a URL cannot stand where a spec expects a path of ``kind`` (``x-vl3d-path``).

    Example:
        >>> url_problem("https://example.org/a.laz", kind="input")
        "vl3d_focal reads local files only, not URLs: download the file first (e.g. curl -O 'https://example.org/a.laz') and give the downloaded file's path"
    """
    if kind == "input":
        return (
            f"vl3d_focal reads local files only, not URLs: download the file first (e.g. curl -O {url!r}) "
            "and give the downloaded file's path"
        )
    return f"vl3d_focal writes local files only, not URLs: give a local path; got {url!r}"


def _cloud_problem(path: str) -> str | None:
    """Why an input cloud's file cannot be read, from its signature, header and size (no point is
    decoded): not LAS/LAZ, a damaged header, no point, shorter than its header says."""
    try:
        check_file(path, chunk_table=True)
    except DataError as error:
        return str(error)
    return None


def path_issues(found: Found, *, check_files: bool, survey: bool = False) -> Iterator[Issue]:
    """Each path's problems (``found``: :func:`~vl3d_focal.config.normalise.annotated_paths` of a
    normalised spec); with ``survey`` (several ``in_pcloud`` clouds, a per-cloud step), an
    input cloud's content is not checked: the survey leaves an unreadable or empty tile out and
    records why."""
    for parts, kind, value, suffixes in found:
        cloud = kind == "input" and bool({suffix.lower() for suffix in suffixes} & set(CLOUD_SUFFIXES))
        concat = parts[:1] == ("in_pcloud_concat",)  # not expanded: one file each
        unmatched = unmatched_problem(value) if cloud and check_files else None
        unread = cloud and not check_files and (is_pattern(value) if concat else is_unlisted(value))
        if is_url(value):
            yield parts, url_problem(value, kind=kind)
        elif concat and (unmatched is not None or unread):
            yield parts, "an in_pcloud_concat entry is one file, not a pattern or folder; give each cloud its own entry"
        elif unmatched is not None:
            yield parts, unmatched
        elif unread:
            continue  # a pattern or perhaps a folder of clouds, not listed without file checks
        elif suffixes and not value.lower().endswith(tuple(s.lower() for s in suffixes)):
            folder = kind == "input" and check_files and not Path(value).suffix and not Path(value).exists()
            yield (
                parts,
                (
                    f"folder not found: {value}"
                    if folder
                    else f"expected a path ending in {_alternatives(suffixes)}; got {value!r}"
                ),
            )
        elif kind == "input" and check_files:
            problem = _file_problem(value, what="a file" if cloud else "a model file")
            if problem is None and cloud and not (survey and parts[:1] == ("in_pcloud",)):
                problem = _cloud_problem(value)
            if problem:
                yield parts, problem


def _alternatives(names: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def written_path_issues(spec: Mapping[str, Any]) -> Iterator[Issue]:
    """The output paths of a spec as its file writes them (before normalisation resolves them
    and drops a trailing ``*``): an ``out_pcloud`` prefix that holds a ``*`` before its end, a
    step's output path with a ``*`` after its start; and a note (:data:`~vl3d_focal.config.notes.INFO_PREFIX`)
    for an ``out_pcloud`` that names VL3D's final cloud
    (:func:`~vl3d_focal.config.prefixes.written_prefix_problem`,
    :func:`~vl3d_focal.config.prefixes.written_output_problem`).

    Example:
        >>> [parts for parts, _ in written_path_issues({"in_pcloud": "a.las", "out_pcloud": "x/result.las",
        ...                                               "sequential_pipeline": []})]
        [('out_pcloud',)]
    """
    for parts, kind, value, _ in annotated_paths(spec):
        if kind == "prefix":
            note = final_cloud_note(value)
            problem = written_prefix_problem(value) or (INFO_PREFIX + note if note else None)
        else:
            problem = written_output_problem(value) if kind.endswith("-output") else None
        if problem:
            yield parts, problem
