"""Semantic checks of a spec: what its JSON Schema cannot express.

Every check tolerates a document that failed the schema (wrong types are skipped here, the
schema reports them), so all problems are found in one pass:

- paths end with the suffixes their schema lists (``x-vl3d-suffixes``); input files
  (``x-vl3d-path: input``) exist and are readable files (only with ``check_files``);
- ``out_pcloud`` has one prefix or one per input; no output would overwrite an input or
  another step's output; a per-cloud output without ``*`` is refused for several inputs;
- class mapping: class names unique, codes disjoint between classes and not ignored;
- train: ``class_names`` length equals ``num_classes`` and equals the mapping's names;
  ``class_weight`` (loss or ``model_handling``) has one weight per class, or names every
  class; the loss takes class weights (registry metadata); ``from_logits`` is not false for a
  model whose metadata says it emits logits; no validation split together with validation
  clouds;
- order: prediction, evaluation and writers need the steps that produce what they use.

Example:
    >>> issues = semantic_issues({"in_pcloud": ["a.las"], "out_pcloud": ["o/", "p/", "q/"],
    ...                           "sequential_pipeline": []}, check_files=False)
    >>> issues[0][1]
    'expected 1 output prefix or one per input cloud (1); got 3'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from vl3d_focal.registry import LOSSES, MODELS
from vl3d_focal.spec.messages import did_you_mean
from vl3d_focal.spec.normalise import PREFIX_MARK, annotated_paths
from vl3d_focal.spec.step_schemas import STEP_KINDS
from vl3d_focal.steps.paths import cloud_prefixes, expand_output

Issue = tuple[tuple, str]


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]


def _kind(step: Any) -> str | None:
    kinds = [kind for kind in STEP_KINDS if kind in _dict(step)]
    return kinds[0] if len(kinds) == 1 else None


def _same_file(path: str) -> str:
    try:
        return os.path.normcase(os.path.realpath(path))
    except (OSError, ValueError):
        return os.path.normcase(os.path.abspath(path))


def _file_problem(path: str) -> str | None:
    try:
        target = Path(path)
        if not target.exists():
            return f"file not found: {path}"
        if not target.is_file():
            return f"not a file: {path}"
        if not os.access(target, os.R_OK):
            return f"file not readable: {path}"
    except (OSError, ValueError) as exc:
        return f"cannot use the path {path!r}: {exc}"
    return None


Found = list[tuple[tuple, str, str, tuple[str, ...]]]


def _path_issues(found: Found, *, check_files: bool) -> Iterator[Issue]:
    for parts, kind, value, suffixes in found:
        if suffixes and not value.lower().endswith(tuple(s.lower() for s in suffixes)):
            yield parts, f"expected a path ending in {' or '.join(suffixes)}; got {value!r}"
        elif kind == "input" and check_files:
            problem = _file_problem(value)
            if problem:
                yield parts, problem


def _output_issues(spec: Mapping[str, Any], found: Found) -> Iterator[Issue]:
    inputs = _strings(spec.get("in_pcloud"))
    prefixes = _strings(spec.get("out_pcloud"))
    if prefixes and inputs and len(prefixes) not in (1, len(inputs)):
        yield ("out_pcloud",), f"expected 1 output prefix or one per input cloud ({len(inputs)}); got {len(prefixes)}"
        return
    if not prefixes or not inputs:
        return
    per_cloud = cloud_prefixes(inputs=inputs, prefixes=prefixes)
    read = {_same_file(value): parts for parts, kind, value, _ in found if kind == "input"}
    written: dict[str, tuple] = {}
    for parts, kind, value, _ in found:
        if not kind.endswith("-output"):
            continue
        if kind == "cloud-output":
            if not value.startswith(PREFIX_MARK) and len(inputs) > 1:
                yield parts, (f"{value!r} would be written once per input cloud ({len(inputs)}), each "
                              "overwriting the last; start it with '*' to write under each cloud's prefix")
            targets = [expand_output(value, prefix=prefix) for prefix in per_cloud]
        else:
            targets = [expand_output(value, prefix=prefixes[0])]
        for target in dict.fromkeys(_same_file(t) for t in targets):
            if target in read:
                yield parts, f"this output would overwrite the input {target} ({_where(read[target])})"
            elif target in written:
                yield parts, f"{target} is also written by {_where(written[target])}"
            else:
                written[target] = parts


def _where(parts: tuple) -> str:
    from vl3d_focal.spec.messages import json_path

    return json_path(parts)


def _mapping_issues(step: dict, at: tuple) -> Iterator[Issue]:
    names: dict[str, int] = {}
    owner: dict[int, str] = {}
    ignored = {c for c in _list(step.get("ignore_codes")) if isinstance(c, int)}
    for j, item in enumerate(_list(step.get("classes"))):
        item = _dict(item)
        name = item.get("name")
        if isinstance(name, str):
            if name in names:
                yield at + ("classes", j, "name"), f"duplicate class name {name!r} (also classes[{names[name]}])"
            names.setdefault(name, j)
        for k, code in enumerate(_list(item.get("codes"))):
            if not isinstance(code, int) or isinstance(code, bool):
                continue
            if code in ignored:
                yield at + ("classes", j, "codes", k), f"code {code} is also in ignore_codes"
            elif code in owner and owner[code] != str(name):
                yield at + ("classes", j, "codes", k), f"code {code} is already mapped to class {owner[code]!r}"
            owner.setdefault(code, str(name))


def _mapping_names(step: dict) -> list[str] | None:
    names = [_dict(item).get("name") for item in _list(step.get("classes"))]
    return names if names and all(isinstance(n, str) for n in names) else None


def _weight_issues(value: Any, at: tuple, *, num_classes: int | None, names: list[str] | None) -> Iterator[Issue]:
    if isinstance(value, list) and num_classes is not None and len(value) != num_classes:
        yield at, f"expected one weight per class ({num_classes}); got {len(value)}"
    if isinstance(value, dict) and "strategy" not in value and value:
        if names is None:
            yield at, "a {class name: weight} object needs class_names or a class mapping step before this step"
            return
        for key in value:
            if key not in names:
                yield at + (key,), f"unknown class name {key!r}; classes: {names}{did_you_mean(key, names)}"
        missing = [name for name in names if name not in value]
        if missing:
            yield at, f"every class needs a weight; missing: {missing}"


def _loss_issues(loss: dict, handling: dict, at: tuple, *, model: Any) -> Iterator[Issue]:
    entry = LOSSES.get(loss["function"]) if loss.get("function") in LOSSES.names() else None
    if entry is not None and handling.get("class_weight") is not None:
        if loss.get("class_weight") is not None:
            yield at + ("model_handling", "class_weight"), "class weights are given in compilation_args.loss too; keep one"
        elif not entry.metadata.get("takes_class_weight", False):
            yield at + ("model_handling", "class_weight"), f"the loss {entry.name!r} does not take class weights"
    model_entry = MODELS.get(model) if isinstance(model, str) and model in MODELS.names() else None
    if model_entry is not None and model_entry.metadata.get("output") == "logits" and loss.get("from_logits") is False:
        yield at + ("compilation_args", "loss", "from_logits"), (
            f"{model_entry.name} emits logits (registry metadata output='logits'); from_logits must be "
            "true or left out")


def _train_issues(step: dict, at: tuple, *, mapping: list[str] | None) -> Iterator[Issue]:
    args = _dict(step.get("model_args"))
    at = at + ("model_args",)
    num = args.get("num_classes")
    num = num if isinstance(num, int) and not isinstance(num, bool) else None
    names = args.get("class_names") if isinstance(args.get("class_names"), list) else None
    if names is not None and num is not None and len(names) != num:
        yield at + ("class_names",), f"expected num_classes ({num}) names; got {len(names)}"
    if mapping is not None:
        if num is not None and len(mapping) != num:
            yield at + ("num_classes",), f"the class mapping step defines {len(mapping)} classes {mapping}; got num_classes {num}"
        if names is not None and names != mapping:
            yield at + ("class_names",), f"expected the class mapping step's names in its order {mapping}; got {names}"
    known = names if names is not None and all(isinstance(n, str) for n in names) else mapping
    compilation = _dict(args.get("compilation_args"))
    loss, handling = _dict(compilation.get("loss")), _dict(args.get("model_handling"))
    yield from _weight_issues(loss.get("class_weight"), at + ("compilation_args", "loss", "class_weight"), num_classes=num, names=known)
    yield from _weight_issues(handling.get("class_weight"), at + ("model_handling", "class_weight"), num_classes=num, names=known)
    yield from _loss_issues(loss, handling, at, model=step.get("train"))
    split = handling.get("validation_split")
    if handling.get("validation_pcloud") and isinstance(split, (int, float)) and split > 0:
        yield at + ("model_handling", "validation_split"), "give validation_split or validation_pcloud, not both"


def _order_issues(kind: str, step: dict, at: tuple, *, seen: dict[str, bool]) -> Iterator[Issue]:
    value = step.get(kind)
    if kind == "train" and not seen["mapping"]:
        yield at, "a train step needs a class_mapping step before it (the classes to learn)"
    if kind == "predict" and value == "PreviousModel" and not seen["train"]:
        yield at + ("predict",), "'PreviousModel' needs a train step before it; use 'ModelLoader' with model_path"
    if kind == "eval" and not seen["predict"]:
        yield at, "an eval step needs a predict step before it"
    if kind == "writer" and value == "ClassifiedPcloudWriter" and not seen["predict"]:
        yield at, "ClassifiedPcloudWriter needs a predict step before it"
    if kind == "writer" and value == "PredictiveModelWriter" and not seen["model"]:
        yield at, "PredictiveModelWriter needs a train step (or a ModelLoader predict step) before it"


def semantic_issues(spec: Mapping[str, Any], *, check_files: bool = True) -> list[Issue]:
    """Semantic problems of a comment-free spec whose paths were normalised.

    Args:
        spec: the spec after :func:`vl3d_focal.spec.normalise.normalise_paths` (may be invalid).
        check_files: check that input files exist and are readable.

    Returns:
        ``(json path parts, message)`` pairs.

    Example:
        >>> semantic_issues({"in_pcloud": ["a.txt"], "out_pcloud": ["o/"],
        ...                  "sequential_pipeline": []}, check_files=False)
        [(('in_pcloud', 0), "expected a path ending in .las or .laz; got 'a.txt'")]
    """
    found = annotated_paths(spec)
    issues = list(_path_issues(found, check_files=check_files))
    issues += _output_issues(spec, found)
    seen = {"mapping": False, "train": False, "predict": False, "model": False}
    mapping: list[str] | None = None
    steps = _list(spec.get("sequential_pipeline"))
    order_known = all(_kind(step) is not None for step in steps)  # else what a step does is unknown
    for i, step in enumerate(steps):
        kind, at = _kind(step), ("sequential_pipeline", i)
        if kind is None:
            continue
        if order_known:
            issues += _order_issues(kind, step, at, seen=seen)
        if kind == "class_mapping":
            issues += _mapping_issues(step, at)
            mapping, seen["mapping"] = _mapping_names(step), True
        elif kind == "train":
            issues += _train_issues(step, at, mapping=mapping)
            seen["train"] = seen["model"] = True
        elif kind == "predict":
            seen["predict"] = True
            seen["model"] = seen["model"] or step.get("predict") == "ModelLoader"
    return issues
