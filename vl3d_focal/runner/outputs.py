"""The files a spec's run writes: the one list preflight, the stale-file cleanup and the run
manifest share.

They are the output paths of the steps' schemas (``x-vl3d-path: cloud-output | model-output``)
and the files each step declares besides (``outputs`` of its registry entry), expanded under
the output prefixes: per-cloud outputs under every cloud's prefix, model-level ones under the
first prefix, and for a survey (:func:`~vl3d_focal.config.checks.is_survey`) the survey record
(``SURVEY_FILES``); then the run manifest and the run's report files (``RECORD_FILES``, both in
:mod:`vl3d_focal.config.prefixes`). Files whose number the run finds out as it writes them are
glob patterns (:func:`numbered_files`), which the run manifest matches.

Example:
    >>> [p.as_posix() for p in output_files({"in_pcloud": ["a.las"], "out_pcloud": ["o/"],
    ...     "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": "*eval/r.json"}]})][:2]
    ['o/eval/r.json', 'o/eval/r.txt']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.checks import is_survey
from vl3d_focal.config.normalise import annotated_paths
from vl3d_focal.config.prefixes import (
    PREFIX_MARK,
    RECORD_FILES,
    SURVEY_FILES,
    cloud_prefixes,
    expand_output,
    final_clouds,
    model_prefix,
)
from vl3d_focal.config.schemas import find_step
from vl3d_focal.config.step_files import step_files
from vl3d_focal.schema_annotations import FOLDER_OUTPUT

SCOPES = {"cloud-output": "cloud", "model-output": "model"}


def spec_prefix(spec: Mapping[str, Any]) -> str:
    """The first output prefix of a normalised spec (where the model, the manifest and the report go).

    Example:
        >>> spec_prefix({"in_pcloud": ["a.las"], "out_pcloud": ["out/"]})
        'out/'
    """
    return model_prefix(inputs=[str(p) for p in spec["in_pcloud"]], prefixes=[str(p) for p in spec["out_pcloud"]])


def declared_outputs(spec: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """``(scope, path as written, step)`` of every output of the spec's steps, in step order
    (then the survey record's, with an empty step, for a survey: :func:`~vl3d_focal.config.checks.is_survey`).

    Example:
        >>> declared_outputs({"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": [
        ...     {"writer": "PredictiveModelWriter", "out_model": "*m.keras"}]})[0][:2]
        ('model', '*m.keras')
    """
    found = {parts: (SCOPES[kind], value) for parts, kind, value, _ in annotated_paths(spec) if kind in SCOPES}
    steps = list(spec.get("sequential_pipeline", []))
    inputs, prefixes = [str(p) for p in spec.get("in_pcloud", [])], [str(p) for p in spec.get("out_pcloud", [])]
    besides = dict(step_files(steps, inputs=inputs, prefixes=prefixes))
    declared: list[tuple[str, str, Mapping[str, Any]]] = []
    for index, step in enumerate(steps):
        declared += [
            (scope, value, step)
            for parts, (scope, value) in found.items()
            if parts[:2] == ("sequential_pipeline", index)
        ]
        declared += [(scope, path, step) for scope, path in besides.get(index, [])]
    if is_survey(spec):
        declared += [("model", path, {}) for path in SURVEY_FILES.values()]
    return declared


def _expanded(spec: Mapping[str, Any], declared: Sequence[tuple[str, str]]) -> list[Path]:
    """``(scope, path)`` pairs expanded under the output prefixes of their scope, without duplicates."""
    inputs = [str(path) for path in spec.get("in_pcloud", [])]
    given = [str(prefix) for prefix in spec.get("out_pcloud", [])]
    first = model_prefix(inputs=inputs, prefixes=given)
    per_cloud = cloud_prefixes(inputs=inputs, prefixes=given)
    files: list[Path] = []
    for scope, path in declared:
        prefixes = per_cloud if scope == "cloud" else [first]
        if not path.startswith(PREFIX_MARK):
            prefixes = [""]
        files += [Path(expand_output(path, prefix=prefix)) for prefix in prefixes]
    return list(dict.fromkeys(files))


def output_files(spec: Mapping[str, Any]) -> list[Path]:
    """Every file a normalised spec's run writes, without duplicates, in step order, then the
    final clouds (``out_pcloud`` entries naming cloud files), the run manifest and the run's report files.

    Example:
        >>> output_files({"in_pcloud": ["a.las"], "out_pcloud": ["o/"], "sequential_pipeline": [
        ...     {"writer": "PredictiveModelWriter", "out_model": "*m.keras"}]})
        [PosixPath('o/m.keras'), PosixPath('o/run.json'), PosixPath('o/report.json'), PosixPath('o/report.html')]
    """
    declared = [(scope, path) for scope, path, _ in declared_outputs(spec)]
    steps = spec.get("sequential_pipeline")  # the final clouds are written after the last step
    finals = [("cloud", final) for final in final_clouds(spec).values()] if steps else []
    return _expanded(spec, [*declared, *finals, *(("model", name) for name in RECORD_FILES)])


def numbered_files(spec: Mapping[str, Any]) -> list[Path]:
    """The files of a normalised spec's steps whose number the run only finds out as it writes
    them (a step's ``numbered_outputs``), each a folder and a glob pattern of file names.

    Example:
        >>> [p.as_posix() for p in numbered_files({"in_pcloud": ["a.las"], "out_pcloud": ["o/"],
        ...     "sequential_pipeline": [{"train": "PointNetPwiseClassifier", "model_args": {"pre_processing": {
        ...         "receptive_fields_dir": "*fields/"}}}]})]
        ['o/fields/receptive_field_*.laz']
    """
    declared: list[tuple[str, str]] = []
    for step in spec.get("sequential_pipeline", []):
        located = find_step(step)
        numbered = located[1].metadata.get("numbered_outputs") if located else None
        if numbered is not None:
            declared += [(scope, str(path)) for scope, path in numbered(step)]
    return _expanded(spec, declared)


def output_folders(spec: Mapping[str, Any]) -> list[Path]:
    """The folders of :func:`output_files`.

    Example:
        >>> [p.as_posix() for p in output_folders({"in_pcloud": ["a.las"], "out_pcloud": ["o/"],
        ...     "sequential_pipeline": [{"eval": "ClassificationEvaluator", "report_path": "*eval/r.json"}]})]
        ['o/eval', 'o']
    """
    return list(dict.fromkeys(path.parent for path in output_files(spec)))


def written_folders(spec: Mapping[str, Any]) -> list[Path]:
    """The output folders of a normalised spec's steps (:data:`~vl3d_focal.schema_annotations.FOLDER_OUTPUT`
    paths, such as TensorBoard's, whose file names the run does not choose), under the first
    output prefix.

    Example:
        >>> written_folders({"in_pcloud": ["a.las"], "out_pcloud": ["o/"], "sequential_pipeline": [
        ...     {"train": "PointNetPwiseClassifier", "fnames": [], "model_args": {"model_handling": {
        ...         "tensorboard_dir": "*training/board"}}}]})
        [PosixPath('o/training/board')]
    """
    first = spec_prefix(spec)
    folders = [
        Path(expand_output(value, prefix=first if value.startswith(PREFIX_MARK) else ""))
        for _, kind, value, _ in annotated_paths(spec)
        if kind == FOLDER_OUTPUT
    ]
    return list(dict.fromkeys(folders))


def remove_files(*, paths: Sequence[str | Path]) -> list[str]:
    """Deletes those of ``paths`` that are files (a failed survey tile's outputs of an earlier
    run, which would look complete); returns them.

    Example:
        >>> (out / "p.laz").write_bytes(b"x")
        1
        >>> remove_files(paths=[out / "p.laz", out / "absent.laz"]) == [str(out / "p.laz")], (out / "p.laz").exists()
        (True, False)
    """
    removed = []
    for path in paths:
        if Path(path).is_file():
            Path(path).unlink(missing_ok=True)
            removed.append(str(path))
    return removed


def remove_empty_folders(*, files: Sequence[str | Path], root: str | Path) -> list[str]:
    """Deletes the folders of ``files`` (and their parents) left empty once the files were
    deleted, inside ``root`` only (``root`` itself stays); returns them in the order deleted.

    Example:
        >>> (out / "tile" / "eval").mkdir(parents=True)
        >>> [Path(p).relative_to(out).as_posix() for p in remove_empty_folders(files=[out / "tile/eval/r.json"],
        ...                                                                 root=out)]
        ['tile/eval', 'tile']
    """
    top = Path(root).resolve()
    removed: list[str] = []
    for folder in sorted({Path(path).resolve().parent for path in files}, key=lambda p: (-len(p.parts), str(p))):
        while folder != top and top in folder.parents:
            try:
                folder.rmdir()  # only an empty folder goes
            except OSError:  # not empty (another file, or a deeper folder kept), or already gone
                if folder.exists():
                    break
            else:
                removed.append(str(folder))
            folder = folder.parent
    return removed
