"""VL3D output prefixes: a step path starting with ``*`` is ``<prefix><rest>``.

``out_pcloud`` holds one prefix per input cloud, or one prefix for all of them. Per-cloud
outputs (classified clouds, evaluations) go to the cloud's prefix; with one prefix for
several clouds, the cloud's prefix is ``<prefix><input stem>/``. Model-level outputs (the
model, the training history, the class weights) go to the first prefix.

Example:
    >>> cloud_prefixes(inputs=["a.laz", "b.laz"], prefixes=["out/"])
    ['out/a/', 'out/b/']
    >>> expand_output("*predicted.laz", prefix="out/a/")
    'out/a/predicted.laz'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.errors import DataError
from vl3d_focal.schema_annotations import CLOUD_SUFFIXES

PREFIX_MARK = "*"
SURVEY_FILES = {"json": "*survey.json", "geojson": "*survey.geojson"}
"""The record of a survey of several clouds (:mod:`vl3d_focal.runner.survey`), under the first prefix."""
MANIFEST_NAME = "run.json"
"""The run manifest (:mod:`vl3d_focal.runner.manifest`), under the first output prefix."""
REPORT_FILES = {"json": "*report.json", "html": "*report.html"}
"""The run record and its page (:mod:`vl3d_focal.runner.run_record`), under the first prefix."""
LOCK_NAME = "run.lock"
"""The lock a run holds while it writes (:mod:`vl3d_focal.io.prefix_lock`), beside its manifest."""
RECORD_FILES = (PREFIX_MARK + MANIFEST_NAME, *REPORT_FILES.values())
"""The run's manifest, record and page (``*`` names), outputs of every run."""


def run_files(*, clouds: int) -> list[str]:
    """The files a run writes for itself under the first prefix (``*`` names): its manifest,
    record, page and lock, and for several clouds the survey record. No step may write there.

    Example:
        >>> run_files(clouds=2)
        ['*run.json', '*report.json', '*report.html', '*run.lock', '*survey.json', '*survey.geojson']
    """
    survey = list(SURVEY_FILES.values()) if clouds > 1 else []
    return [*RECORD_FILES, PREFIX_MARK + LOCK_NAME, *survey]


def cloud_prefixes(*, inputs: Sequence[str | Path], prefixes: Sequence[str | Path]) -> list[str]:
    """The output prefix of each input cloud.

    Args:
        inputs: the input cloud paths (``in_pcloud``).
        prefixes: ``out_pcloud``: one prefix per input, or one for all (an empty list
            puts outputs beside the inputs, each under ``<input stem>_``).

    Returns:
        One prefix string per input.

    Raises:
        DataError: when the number of prefixes is neither 1 nor the number of inputs, or when two
            inputs would get the same prefix (one would overwrite the other's outputs).

    Example:
        >>> cloud_prefixes(inputs=["x/a.las"], prefixes=["out/run_"])
        ['out/run_']
        >>> cloud_prefixes(inputs=["x/a.las", "y/a.las"], prefixes=["out/"])
        Traceback (most recent call last):
        vl3d_focal.errors.DataError: in_pcloud: x/a.las and y/a.las have the same name: ...
    """
    paths = [str(path) for path in inputs]
    texts = [str(prefix) for prefix in prefixes]
    if not texts:
        per_cloud = [str(Path(path).with_suffix("")) + "_" for path in paths]
    elif len(texts) == len(paths):
        per_cloud = texts
    elif len(texts) == 1:
        per_cloud = [f"{texts[0]}{Path(path).stem}/" for path in paths]
    else:
        raise DataError(f"out_pcloud: expected 1 prefix or one per input ({len(paths)}), got {len(texts)}")
    _check_distinct(paths, per_cloud, shared=len(texts) == 1 and len(paths) > 1)
    return per_cloud


def listed_cloud_prefixes(listed: Sequence[str], prefixes: Sequence[str], *, exact: bool) -> list[str]:
    """The output prefixes known of the input clouds ``listed`` (:func:`cloud_prefixes`); without
    ``exact``, other clouds are not listed (an input pattern or folder without file checks): then
    ``prefixes`` if several (one per cloud, else a mistake only the run sees), else those of two
    or more listed clouds (of one: whether it is alone, its prefix ``prefixes[0]``, is not known).

    Raises:
        DataError: as :func:`cloud_prefixes`; two prefixes the same.

    Example:
        >>> listed_cloud_prefixes(["a.laz"], ["o/"], exact=False), listed_cloud_prefixes([], ["o/", "p/"], exact=False)
        ([], ['o/', 'p/'])
        >>> listed_cloud_prefixes([], ["o/a/", "o/./a/"], exact=False)
        Traceback (most recent call last):
        vl3d_focal.errors.DataError: out_pcloud: 'o/./a/' is given twice; two input clouds would write their ...
    """
    if exact or (len(prefixes) == 1 and len(listed) > 1):
        return cloud_prefixes(inputs=listed, prefixes=prefixes)
    if len(prefixes) == 1:
        return []
    first: set[tuple[str, bool]] = set()
    for prefix in prefixes:
        if _prefix_key(prefix) in first:
            raise DataError(
                f"out_pcloud: {prefix!r} is given twice; two input clouds would write their outputs under it, the "
                "second replacing the first; give each input cloud its own prefix"
            )
        first.add(_prefix_key(prefix))
    return list(prefixes)


def _prefix_key(prefix: str) -> tuple[str, bool]:
    return os.path.normpath(os.path.abspath(prefix)), prefix.endswith(("/", os.sep))


def _check_distinct(paths: Sequence[str], per_cloud: Sequence[str], *, shared: bool) -> None:
    """Refuses two inputs of one prefix: the second cloud's outputs would replace the first's."""
    first: dict[tuple[str, bool], int] = {}
    for index, prefix in enumerate(per_cloud):
        other = first.setdefault(_prefix_key(prefix), index)
        if other == index:
            continue
        one, two = paths[other], paths[index]
        if os.path.abspath(one) == os.path.abspath(two):
            raise DataError(f"in_pcloud: {one} is listed twice; its outputs would be written twice to {prefix!r}")
        written = [path for path in (one, two) if _under(path, per_cloud)]
        if written:  # a pattern matched what an earlier run of the spec wrote
            raise DataError(
                f"in_pcloud: {written[0]} lies under this spec's outputs (a cloud an earlier run wrote, matched by "
                "an in_pcloud pattern or folder); narrow the pattern, or write the outputs elsewhere"
            )
        if shared:
            raise DataError(
                f"in_pcloud: {one} and {two} have the same name: with one out_pcloud prefix both clouds' "
                f"outputs would go to {prefix!r}, the second replacing the first; give out_pcloud one prefix per "
                "input cloud, or rename one of the files"
            )
        raise DataError(
            f"out_pcloud: {one} and {two} would both write their outputs under {prefix!r}, the second replacing "
            "the first; give each input cloud its own prefix"
        )


def _under(path: str, prefixes: Sequence[str]) -> bool:
    """Whether ``path`` lies in the folder of one of ``prefixes`` (a cloud's output folder)."""
    found = os.path.abspath(path)
    folders = {os.path.abspath(prefix) if prefix.endswith(("/", os.sep)) else None for prefix in prefixes}
    return any(folder and found.startswith(folder + os.sep) for folder in folders)


def model_prefix(*, inputs: Sequence[str | Path], prefixes: Sequence[str | Path]) -> str:
    """Where model-level outputs go: the first prefix.

    Example:
        >>> model_prefix(inputs=["a.las", "b.las"], prefixes=["out/m_", "out/n_"])
        'out/m_'
    """
    if prefixes:
        return str(prefixes[0])
    return cloud_prefixes(inputs=inputs[:1], prefixes=[])[0] if inputs else ""


def expand_output(path: str | Path, *, prefix: str) -> str:
    """``<prefix><rest>`` for a path ``*<rest>``; other paths unchanged.

    Example:
        >>> expand_output("model/m.keras", prefix="out/")
        'model/m.keras'
    """
    text = str(path)
    if text.startswith(PREFIX_MARK):
        return f"{prefix}{text[len(PREFIX_MARK) :]}"
    return text


def written_prefix_problem(prefix: str) -> str | None:
    """Why an ``out_pcloud`` prefix, as the spec writes it, is a mistake: a ``*`` other than a
    last character (VL3D's mark of a prefix: elsewhere it would name a folder or file ``*``).

    Example:
        >>> written_prefix_problem("out/*") is None, written_prefix_problem("x/result.las") is None
        (True, True)
        >>> written_prefix_problem("out/*/a")[:40]
        "'out/*/a': a '*' stands only at the end "
    """
    body = prefix[: -len(PREFIX_MARK)] if prefix.endswith(PREFIX_MARK) else prefix
    if PREFIX_MARK not in body:
        return None
    return (
        f"{prefix!r}: a '*' stands only at the end of out_pcloud (the prefix mark, as in VL3D) or at the start of "
        "a step's output path; elsewhere it would be part of a folder's or file's name; remove it"
    )


FINAL_CLOUDS_KEY = "final_pcloud"
"""The normalised spec's internal key (:func:`split_final_clouds`): one entry per ``out_pcloud``
entry, the final cloud's path or None; present only where an entry names a cloud file."""


def final_cloud_split(entry: str) -> tuple[str, str | None]:
    """An ``out_pcloud`` entry as ``(prefix, final cloud)``: an entry naming a LAS/LAZ file (no
    trailing ``*`` or separator) names the cloud's final cloud, as in VL3D, and the run's other
    outputs go under ``<folder>/<stem>/``; any other entry is a prefix, with no final cloud.

    Example:
        >>> final_cloud_split("out/sphinx/Paris.LAZ")
        ('out/sphinx/Paris/', 'out/sphinx/Paris.LAZ')
        >>> final_cloud_split("out/run_")
        ('out/run_', None)
    """
    if entry.endswith(("/", os.sep, PREFIX_MARK)) or Path(entry).suffix.lower() not in CLOUD_SUFFIXES:
        return entry, None
    folder, name = os.path.split(entry)
    return os.path.join(folder, Path(name).stem) + "/", entry


def final_cloud_note(entry: str) -> str | None:
    """What an ``out_pcloud`` entry, as the spec writes it, means when it names a cloud file
    (:func:`final_cloud_split`), else None.

    Example:
        >>> final_cloud_note("x/result.laz")
        "out_pcloud 'x/result.laz' names the final cloud (as in VL3D); the run's other outputs go under 'x/result/'"
    """
    prefix, final = final_cloud_split(entry)
    if final is None:
        return None
    return f"out_pcloud {entry!r} names the final cloud (as in VL3D); the run's other outputs go under {prefix!r}"


def split_final_clouds(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` (normalised, ``out_pcloud`` a list) with each ``out_pcloud`` entry that names a
    cloud file replaced by its prefix, and the final clouds kept under :data:`FINAL_CLOUDS_KEY`
    (only where there is one; in place, returned).

    Example:
        >>> split_final_clouds({"out_pcloud": ["/o/a.laz", "/o/b/"]})
        {'out_pcloud': ['/o/a/', '/o/b/'], 'final_pcloud': ['/o/a.laz', None]}
    """
    entries = spec.get("out_pcloud")
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        return spec
    split = [final_cloud_split(entry) for entry in entries]
    if any(final is not None for _, final in split):
        spec["out_pcloud"] = [prefix for prefix, _ in split]
        spec[FINAL_CLOUDS_KEY] = [final for _, final in split]
    return spec


def final_clouds(spec: Mapping[str, Any]) -> dict[str, str]:
    """``{cloud's output prefix: final cloud}`` of a normalised spec (:data:`FINAL_CLOUDS_KEY`;
    one final cloud per input cloud of the run, each with its own prefix).

    Example:
        >>> final_clouds({"in_pcloud": ["a.las", "b.las"], "out_pcloud": ["/o/a/", "/o/b/"],
        ...               "final_pcloud": ["/o/a.laz", None]})
        {'/o/a/': '/o/a.laz'}
    """
    finals = list(spec.get(FINAL_CLOUDS_KEY) or [])
    prefixes = [str(prefix) for prefix in spec.get("out_pcloud", [])]
    if len(finals) != len(spec.get("in_pcloud", [])) or len(finals) != len(prefixes):
        return {}
    return {prefix: final for prefix, final in zip(prefixes, finals) if final is not None}


def written_output_problem(path: str) -> str | None:
    """Why a step's output path, as the spec writes it, holds a ``*`` that is not its first
    character (the output prefix mark): it would be part of a folder's or file's name.

    Example:
        >>> written_output_problem("*eval/report.json") is None
        True
        >>> written_output_problem("*eval/*.json")[:40]
        "'*eval/*.json': a '*' stands only at the"
    """
    if PREFIX_MARK not in path[len(PREFIX_MARK) :]:
        return None
    return (
        f"{path!r}: a '*' stands only at the start of a step's output path (the output prefix, as in VL3D); "
        "elsewhere it would be part of a folder's or file's name; remove it"
    )
