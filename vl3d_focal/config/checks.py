"""Semantic checks of a spec: what its JSON Schema cannot express.

Every check tolerates a document that failed the schema (wrong types are skipped here, the
schema reports them), so all problems are found in one pass:

- each path alone (:func:`~vl3d_focal.config.path_checks.path_issues`): no URL, the suffixes
  its schema lists; with ``check_files``, input files exist, are readable and (clouds) hold the
  points their headers announce;
- ``executor.scheduler`` only with the ``dask`` engine (given without ``engine`` it selects
  ``dask``), and an address Dask can connect to; ``workers`` / ``threads_per_worker`` with an
  explicit ``"engine": "local"`` are noted (no effect);
- ``out_pcloud`` has one prefix or one per input (with an input pattern or folder unlisted
  without ``check_files``: not fewer than the clouds listed); no output would overwrite an input or
  another step's output; a per-cloud output without ``*`` is refused for several inputs; with
  ``check_files``, no output path is an existing folder or lies under a file; no file output
  names a folder (``"*"`` with an output prefix ending in ``/``: the prefix's folder itself);
- order: every step's ``needs`` (registry metadata) are given by a step before it; what only
  per-cloud steps give (predictions) lives only in its run of consecutive per-cloud steps
  (the runner processes such a run cloud by cloud), so a per-cloud step needing it must be in
  the same run as the step giving it;
- each step's own checks (its registry entry's ``check``; e.g. the class mapping's codes, the
  train step's class names, class weights, loss and feature names); with ``check_files``, the
  steps get the feature names each input cloud offers (``known["cloud_features"]``, from the
  LAS headers). A check's message starting with
  :data:`~vl3d_focal.config.notes.NOTE_PREFIX` is a no-effect note, not an error.

Example:
    >>> issues = semantic_issues({"in_pcloud": ["a.las"], "out_pcloud": ["o/", "p/", "q/"],
    ...                           "sequential_pipeline": []}, check_files=False)
    >>> issues[0][1]
    'expected 1 output prefix or one per input cloud (1); got 3'
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.inputs import cloud_count, concatenated_clouds, listed_clouds, run_inputs
from vl3d_focal.config.messages import did_you_mean, json_path
from vl3d_focal.config.normalise import annotated_paths
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.config.path_checks import Found, Issue, path_issues
from vl3d_focal.config.phase_checks import phase_issues, runs_per_cloud
from vl3d_focal.config.prefixes import FINAL_CLOUDS_KEY, PREFIX_MARK, expand_output, listed_cloud_prefixes, run_files
from vl3d_focal.config.scheduler_address import scheduler_address_problem
from vl3d_focal.config.schema_parts import DASK_KEYS, executor_engine
from vl3d_focal.config.schemas import find_step, steps_by_kind
from vl3d_focal.config.step_files import step_files
from vl3d_focal.data.feature_names import header_feature_names
from vl3d_focal.errors import DataError
from vl3d_focal.io.chunks import read_header
from vl3d_focal.io.concatenation import LIST_CONDITIONS, condition_dimension, condition_dimensions
from vl3d_focal.registry import RegistryEntry
from vl3d_focal.schema_annotations import CLOUD_FOLDER_OUTPUT


def as_dict(value: Any) -> dict:
    """``value`` if it is an object, else ``{}`` (checks run on documents that may be invalid).

    Example:
        >>> as_dict([1]), as_list({"a": 1})
        ({}, [])
    """
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    """``value`` if it is an array, else ``[]``."""
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [item for item in as_list(value) if isinstance(item, str)]


def _same_file(path: str) -> str:
    try:
        return os.path.normcase(os.path.realpath(path))
    except (OSError, ValueError):
        return os.path.normcase(os.path.abspath(path))


def _output_target_problem(path: str, *, folder: bool = False) -> str | None:
    """Why a file (or with ``folder``, a folder of outputs) cannot be written at ``path``: an
    existing folder (file) there, or a file above it."""
    target = Path(path)
    if folder and target.is_file():
        return f"{path} is an existing file; expected the path of a folder to write files in"
    if not folder and target.is_dir():
        return f"{path} is an existing folder; expected the path of a file to write"
    for ancestor in target.parents:
        if ancestor.exists():
            return None if ancestor.is_dir() else f"{path} cannot be written: {ancestor} is a file, not a folder"
    return None


def once_per_cloud_problem(value: str, *, clouds: int, exact: bool = True) -> str | None:
    """Why a per-cloud output ``value`` (written under each cloud's prefix) without a leading ``*``
    cannot be written for ``clouds`` clouds (without ``exact``: at least that many; None: it can).

    Example:
        >>> once_per_cloud_problem("fields/", clouds=2)[:55]
        "'fields/' would be written once per input cloud (2), ea"
        >>> once_per_cloud_problem("fields/", clouds=2, exact=False)[27:60]
        'once per input cloud (at least 2)'
        >>> once_per_cloud_problem("*fields/", clouds=2), once_per_cloud_problem("fields/", clouds=1)
        (None, None)
    """
    if value.startswith(PREFIX_MARK) or clouds <= 1:
        return None
    return (
        f"{value!r} would be written once per input cloud ({_counted(clouds, exact=exact)}), each overwriting the "
        "last; start it with '*' to write under each cloud's prefix"
    )


def _counted(clouds: int, *, exact: bool) -> str:
    return str(clouds) if exact else f"at least {clouds}"


def _output_issues(spec: Mapping[str, Any], found: Found, *, check_files: bool) -> Iterator[Issue]:
    inputs = run_inputs(spec)
    listed, exact = listed_clouds(spec, check_files=check_files)
    clouds = cloud_count(listed, exact)
    prefixes = _strings(spec.get("out_pcloud"))
    if prefixes and inputs and len(prefixes) != 1 and (len(prefixes) != clouds if exact else len(prefixes) < clouds):
        counted = _counted(clouds, exact=exact)
        yield ("out_pcloud",), f"expected 1 output prefix or one per input cloud ({counted}); got {len(prefixes)}"
        return
    if not prefixes or not inputs:
        return
    clouds = max(clouds, len(prefixes) if len(prefixes) > 1 else 1)  # one prefix per cloud: that many clouds
    try:
        per_cloud = listed_cloud_prefixes(listed, prefixes, exact=exact)
    except DataError as error:  # "<key>: <why>"
        key, _, why = str(error).partition(": ")
        yield (key,), why
        return
    read = {_same_file(value): parts for parts, kind, value, _ in found if kind == "input"}
    written: dict[str, str] = {
        _same_file(expand_output(name, prefix=prefixes[0])): "the run itself (its own record)"
        for name in run_files(clouds=clouds)
    }
    finals = [final for final in spec.get(FINAL_CLOUDS_KEY) or [] if isinstance(final, str)]
    if finals and clouds > 1 and len(prefixes) == 1:
        yield (
            ("out_pcloud",),
            (
                f"{finals[0]!r} names one final cloud for {_counted(clouds, exact=exact)} input clouds, each "
                "replacing the last; give one cloud file per input cloud, or a folder (e.g. 'out/*')"
            ),
        )
        return
    for index, final in enumerate(spec.get(FINAL_CLOUDS_KEY) or []):
        if isinstance(final, str) and _same_file(final) in read:
            yield (
                ("out_pcloud", index),
                f"this output would overwrite the input {final} ({_where(read[_same_file(final)])})",
            )
        elif isinstance(final, str):
            written[_same_file(final)] = f"{_where(('out_pcloud', index))} (the final cloud)"
    step_files, clashes = _step_files(spec, inputs=listed, prefixes=prefixes, per_cloud=per_cloud)
    written.update(step_files)
    yield from clashes
    for parts, kind, value, _ in found:
        if not kind.endswith("-output"):
            continue
        if kind in ("cloud-output", CLOUD_FOLDER_OUTPUT):
            problem = once_per_cloud_problem(value, clouds=clouds, exact=exact)
            if problem is not None:
                yield parts, problem
            targets = [expand_output(value, prefix=prefix) for prefix in per_cloud]
        else:
            targets = [expand_output(value, prefix=prefixes[0])]
        folders = [t for t in targets if t.endswith(("/", os.sep))] if not kind.endswith("folder-output") else []
        if folders:  # e.g. "*": the output prefix's folder itself
            yield parts, f"{value!r} names the folder {folders[0]}, not a file; give a file name, e.g. '*report.log'"
            continue
        for target in dict.fromkeys(_same_file(t) for t in targets):
            problem = _output_target_problem(target, folder=kind.endswith("folder-output")) if check_files else None
            if problem:
                yield parts, problem
            elif target in read:
                yield parts, f"this output would overwrite the input {target} ({_where(read[target])})"
            elif target in written:
                yield parts, f"{target} is also written by {written[target]}"
            else:
                written[target] = _where(parts)


def _step_files(
    spec: Mapping[str, Any], *, inputs: Sequence[str], prefixes: Sequence[str], per_cloud: Sequence[str]
) -> tuple[dict[str, str], list[Issue]]:
    """The files steps write besides their output paths (:func:`~vl3d_focal.config.step_files.step_files`:
    the training folder's files, an evaluation's tables and plots), by who writes them, and an
    issue for each step that would write a file an earlier step writes, or one file twice (two of
    the clouds it writes a file for, e.g. its training clouds, of the same name: the files of
    each cloud carry its name)."""
    files: dict[str, str] = {}
    clashes: list[Issue] = []
    for index, outputs in step_files(as_list(spec.get("sequential_pipeline")), inputs=inputs, prefixes=prefixes):
        who = f"{_where(('sequential_pipeline', index))} (a file it writes besides its output paths)"
        twice = [entry for entry, count in Counter(outputs).items() if count > 1]
        clashed = False
        for scope, path in outputs:
            targets = per_cloud if scope == "cloud" and str(path).startswith(PREFIX_MARK) else [prefixes[0]]
            for prefix in targets:
                target = _same_file(expand_output(path, prefix=prefix))
                earlier = files.setdefault(target, who)
                if (earlier != who or (scope, path) in twice) and not clashed:  # one issue per step: the first
                    clashed = True
                    why = (
                        f"{target} is also written by {earlier}, which this step would overwrite"
                        if earlier != who
                        else f"{target} would be written twice by this step, the second replacing the first: two "
                        "of the clouds it writes files for have the same name; rename one of them"
                    )
                    clashes.append((("sequential_pipeline", index), why))
    return files, clashes


def _executor_issues(spec: Mapping[str, Any]) -> Iterator[Issue]:
    """A scheduler address Dask cannot parse; dask-only keys
    (:data:`~vl3d_focal.config.schema_parts.DASK_KEYS`) with an explicit
    ``"engine": "local"``: a scheduler is an error, other workers or threads a no-effect note."""
    executor = as_dict(spec.get("executor"))
    address = executor.get("scheduler")
    problem = scheduler_address_problem(address) if isinstance(address, str) and address else None
    if problem is not None:
        yield ("executor", "scheduler"), problem
    if executor_engine(executor) == "dask":
        return
    local = '"engine": "local" runs the clouds one after another in this process'
    if address is not None:
        yield (
            ("executor", "scheduler"),
            f'a scheduler address needs the dask engine, but {local}; set "engine": "dask" or remove "scheduler"',
        )
    for key, default in DASK_KEYS.items():
        if key != "scheduler" and executor.get(key, default) != default:
            yield (
                ("executor", key),
                f'{NOTE_PREFIX}{key} is for the dask engine, but {local}; set "engine": "dask" or remove "{key}"',
            )


def _input_issues(spec: Mapping[str, Any], *, check_files: bool) -> Iterator[Issue]:
    """One of ``in_pcloud`` and ``in_pcloud_concat``; the concatenation's conditions."""
    if "in_pcloud" not in spec and "in_pcloud_concat" not in spec:
        yield (), "missing required key 'in_pcloud' (the input clouds; or VL3D's 'in_pcloud_concat')"
    if "in_pcloud" not in spec or "in_pcloud_concat" not in spec:
        yield from _concatenation_issues(spec, check_files=check_files)
        return
    yield ("in_pcloud_concat",), "given with in_pcloud: a spec reads one or the other (as VL3D); remove one of them"


def _concatenation_issues(spec: Mapping[str, Any], *, check_files: bool) -> Iterator[Issue]:
    if "in_pcloud_concat" in spec and executor_engine(as_dict(spec.get("executor"))) == "dask":
        yield (
            ("executor", "engine"),
            "in_pcloud_concat makes one cloud, read in this process: a dask executor has no clouds to share "
            "out; remove the executor",
        )
    for i, entry in enumerate(as_list(spec.get("in_pcloud_concat"))):
        dimensions = None
        if check_files and isinstance(as_dict(entry).get("in_pcloud"), str):
            try:
                dimensions = condition_dimensions(read_header(entry["in_pcloud"]))
            except DataError:
                pass  # the path checks report the file
        for j, condition in enumerate(as_list(as_dict(entry).get("conditions"))):
            at = ("in_pcloud_concat", i, "conditions", j)
            kind, target, name = (
                as_dict(condition).get(key) for key in ("condition_type", "value_target", "value_name")
            )
            if isinstance(kind, str) and kind.lower() in LIST_CONDITIONS and not isinstance(target, list):
                yield at + ("value_target",), f"condition type {kind!r} compares with a list of values; got {target!r}"
            elif isinstance(kind, str) and kind.lower() not in LIST_CONDITIONS and isinstance(target, list):
                yield at + ("value_target",), f"condition type {kind!r} compares with one number; got a list"
            if dimensions is not None and isinstance(name, str) and condition_dimension(name) not in dimensions:
                yield (
                    at + ("value_name",),
                    f"{entry['in_pcloud']} has no dimension {name!r}{did_you_mean(name, dimensions)}; "
                    f"it has: {', '.join(dimensions)}",
                )


def _where(parts: tuple) -> str:
    return json_path(parts)


def _order_issues(kind: str, entry: RegistryEntry, at: tuple, *, given: set[str]) -> Iterator[Issue]:
    """What the step needs that no earlier step gives, with the steps that would give it."""
    for need in entry.metadata.get("needs", ()):
        if need in given:
            continue
        givers = [
            (k, e.name)
            for k, entries in steps_by_kind().items()
            for e in entries
            if need in e.metadata.get("gives", ())
        ]
        named = " or ".join(k if name == k else f"{k} {name!r}" for k, name in givers) or "another"
        yield (at + (kind,) if entry.name != kind else at), f"{entry.name!r} needs a {named} step before it"


def is_survey(spec: Mapping[str, Any]) -> bool:
    """Whether a spec's run is a survey: several input clouds and a per-cloud step (predict,
    eval, cloud writer) over them. Only a survey keeps a survey record and tallies its tiles (the
    runner), and only a survey's tiles are left to the run to refuse one by one (validation); a
    run that only trains on several clouds has no tiles to record.

    Example:
        >>> clouds = {"in_pcloud": ["a.laz", "b.laz"], "out_pcloud": ["o/"]}
        >>> is_survey({**clouds, "sequential_pipeline": [{"train": "RandomForestClassifier"}]})
        False
        >>> is_survey({**clouds, "sequential_pipeline": [{"train": "RandomForestClassifier"},
        ...     {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*p.laz"}]})
        True
    """
    if len(_strings(spec.get("in_pcloud"))) < 2:
        return False
    for step in as_list(spec.get("sequential_pipeline")):
        located = find_step(as_dict(step))
        if located is not None and runs_per_cloud(located[1], as_dict(step)):
            return True
    return False


def semantic_issues(spec: Mapping[str, Any], *, check_files: bool = True) -> list[Issue]:
    """Semantic problems of a comment-free spec whose paths were normalised.

    Args:
        spec: the spec after :func:`vl3d_focal.config.normalise.normalise_paths` (may be invalid).
        check_files: check that input files exist and are readable, and that output paths
            are not existing folders nor under a file.

    Returns:
        ``(json path parts, message)`` pairs.

    Example:
        >>> semantic_issues({"in_pcloud": ["a.txt"], "out_pcloud": ["o/"],
        ...                  "sequential_pipeline": []}, check_files=False)
        [(('in_pcloud', 0), "expected a path ending in .las or .laz; got 'a.txt'")]
    """
    found = annotated_paths(spec)
    issues = list(path_issues(found, check_files=check_files, survey=is_survey(spec)))
    issues += _output_issues(spec, found, check_files=check_files)
    issues += _executor_issues(spec)
    issues += _input_issues(spec, check_files=check_files)
    steps = [find_step(as_dict(step)) for step in as_list(spec.get("sequential_pipeline"))]
    known_steps = [step for step in steps if step is not None]
    order_known = len(known_steps) == len(steps)  # else what a step gives is unknown
    given: set[str] = set()
    known: dict[str, Any] = {  # the steps, for order checks; how many clouds they see
        "pipeline": as_list(spec.get("sequential_pipeline")),
        "clouds": cloud_count(*listed_clouds(spec, check_files=check_files)),  # at least, some unlisted
    }
    if check_files:  # what each input cloud offers, from its header: steps check fnames against it
        known["cloud_features"] = {
            path: header_feature_names(path) for path in concatenated_clouds(spec) or _strings(spec.get("in_pcloud"))
        }
        known["written_clouds"] = run_inputs(spec)  # whose headers the written clouds take (concat: the first)
    for i, (step, found_step) in enumerate(zip(as_list(spec.get("sequential_pipeline")), steps)):
        if found_step is None:
            continue
        kind, entry = found_step
        at = ("sequential_pipeline", i)
        if order_known:
            issues += _order_issues(kind, entry, at, given=given)
            later = [after.metadata.get("gives", ()) for _, after in known_steps[i + 1 :]]  # every step is known
            known["later_gives"] = frozenset(product for gives in later for product in gives)  # the steps after it
            known["later_givers"] = {
                product: sum(product in gives for gives in later) for product in known["later_gives"]
            }
        check = entry.metadata.get("check")
        known["given"] = frozenset(given)  # what the steps before this one give
        if check is not None:
            issues += check(step, at, known)
        given.update(entry.metadata.get("gives", ()))
    if order_known:
        arguments = [as_dict(step) for step in as_list(spec.get("sequential_pipeline"))]
        issues += phase_issues(known_steps, arguments, final_clouds=any(spec.get(FINAL_CLOUDS_KEY) or []))
    return issues
