"""The feature extraction operations of VL3D's ``ConvolutionalAutoencoderPwiseClassifier``,
read from ``model_args.feature_extraction``: checked and expanded to one entry per operation.

Imports no Keras, so that validation finds what the model's build would refuse (a per-operation
list whose length is not ``sum(operations_per_depth)``...) before any work.

Example:
    >>> config = {"type": "KPConv", "operations_per_depth": [2, 1], "feature_space_dims": [8, 8]}
    >>> [message for _, message in operation_count_issues(config, depth=2)]
    ['expected 3 entries (one per operation, sum(operations_per_depth)), received 2']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vl3d_focal.data.hierarchy_spec import HierarchySpec
from vl3d_focal.errors import SpecError, SpecIssue
from vl3d_focal.models.autoencoder_schema import (
    AUTOENCODER_SCHEMA,
    FEATURE_EXTRACTION_DEFAULTS,
    FEATURE_EXTRACTION_TYPES,
    KPCONV_PER_OPERATION,
    POINTNET_PER_OPERATION,
)
from vl3d_focal.models.keras_names import keras_name_issues

FEATURE_EXTRACTION_PATH = ("model_args", "feature_extraction")
"""Where the operations are given in a train step."""

Issue = tuple[tuple[str | int, ...], str]  # path parts below the train step, message


def _settings(feature_extraction: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, tuple]]:
    """The type, its keys with their defaults (overridden by the spec's), and its per-operation keys."""
    kind = feature_extraction.get("type", FEATURE_EXTRACTION_DEFAULTS["type"])
    per_operation = KPCONV_PER_OPERATION if kind == "KPConv" else POINTNET_PER_OPERATION
    defaults = {
        key: value for key, value in FEATURE_EXTRACTION_DEFAULTS.items() if kind == "KPConv" or key != "activate"
    }
    return kind, {**defaults, **feature_extraction}, per_operation


def _lists(config: Mapping[str, Any], per_operation: Mapping[str, tuple], count: int) -> dict[str, Any]:
    lists = {"feature_space_dims": config["feature_space_dims"]}
    lists.update({key: config.get(key, [default] * count) for key, (default, _, _) in per_operation.items()})
    return lists


def operation_count_issues(feature_extraction: Mapping[str, Any], *, depth: int) -> list[Issue]:
    """What no JSON Schema can say of ``feature_extraction`` for a hierarchy of ``depth`` depths
    (validation reports these): ``operations_per_depth`` not one integer >= 1 per depth, and
    per-operation lists whose length is not the operations' count.

    Example:
        >>> operation_count_issues({"operations_per_depth": [1]}, depth=2)[0]
        (('model_args', 'feature_extraction', 'operations_per_depth'), 'expected 2 integers >= 1 (one per depth of pre_processing.num_points_per_depth), received [1]')
    """
    kind, config, per_operation = _settings(feature_extraction)
    if kind not in FEATURE_EXTRACTION_TYPES:
        return []
    per_depth = config["operations_per_depth"]
    per_depth = list(per_depth) if isinstance(per_depth, (list, tuple)) else [per_depth]
    issues: list[Issue] = []
    if len(per_depth) != depth or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in per_depth):
        issues.append(
            (
                FEATURE_EXTRACTION_PATH + ("operations_per_depth",),
                f"expected {depth} integers >= 1 (one per depth of pre_processing.num_points_per_depth), "
                f"received {per_depth!r}",
            )
        )
    count = sum(n for n in per_depth if isinstance(n, int) and not isinstance(n, bool))
    return issues + [
        (
            FEATURE_EXTRACTION_PATH + (key,),
            f"expected {count} entries (one per operation, sum(operations_per_depth)), received {len(values)}",
        )
        for key, values in _lists(config, per_operation, count).items()
        if isinstance(values, list) and len(values) != count
    ]


def operation_issues(feature_extraction: Mapping[str, Any], *, depth: int) -> list[Issue]:
    """Everything the model's build refuses in ``feature_extraction``: an unknown type or key,
    deformable kernels, and :func:`operation_count_issues`.

    Example:
        >>> operation_issues({"type": "KPConv", "deformable": [True]}, depth=5)[-1]
        (('model_args', 'feature_extraction', 'deformable', 0), 'expected false (rigid kernels), received True')
    """
    kind, config, per_operation = _settings(feature_extraction)
    if kind not in FEATURE_EXTRACTION_TYPES:
        return [
            (
                FEATURE_EXTRACTION_PATH + ("type",),
                f"expected one of {list(FEATURE_EXTRACTION_TYPES)}, received {kind!r}",
            )
        ]
    known = {key for key in FEATURE_EXTRACTION_DEFAULTS if kind == "KPConv" or key != "activate"} | set(per_operation)
    issues: list[Issue] = [
        (FEATURE_EXTRACTION_PATH + (key,), f"unknown key for type {kind!r}; expected one of {sorted(known)}")
        for key in sorted(set(config) - known)
    ]
    issues += operation_count_issues(feature_extraction, depth=depth)
    return issues + [
        (FEATURE_EXTRACTION_PATH + ("deformable", i), f"expected false (rigid kernels), received {deformable!r}")
        for i, deformable in enumerate(config.get("deformable", []))
        if deformable is not False
    ]


def dotted_path(parts: tuple[str | int, ...]) -> str:
    """The text of an issue's path parts, as a :class:`~vl3d_focal.errors.SpecIssue` names it.

    Example:
        >>> dotted_path(("model_args", "feature_extraction", "deformable", 1))
        'model_args.feature_extraction.deformable[1]'
    """
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(parts))


def expand_operations(feature_extraction: Mapping[str, Any], *, depth: int) -> list[dict[str, Any]]:
    """One dict per operation, depth 0's first: ``depth``, ``filters``, ``index``, ``type``,
    ``bn``, ``bn_momentum``, ``activate`` and the type's per-operation options.

    Raises:
        SpecError: with every issue of :func:`operation_issues`.

    Example:
        >>> ops = expand_operations({"operations_per_depth": [1, 1], "feature_space_dims": [8, 16]}, depth=2)
        >>> [(op["depth"], op["filters"], op["type"]) for op in ops]
        [(0, 8, 'KPConv'), (1, 16, 'KPConv')]
    """
    issues = operation_issues(feature_extraction, depth=depth)
    if issues:
        raise SpecError([SpecIssue(dotted_path(path), message) for path, message in issues])
    kind, config, per_operation = _settings(feature_extraction)
    per_depth = list(config["operations_per_depth"])
    lists = _lists(config, per_operation, sum(per_depth))
    depths = [d for d, n in enumerate(per_depth) for _ in range(n)]
    return [
        {
            "depth": d,
            "filters": int(lists["feature_space_dims"][i]),
            "index": i,
            "type": kind,
            "bn": bool(config["bn"]),
            "bn_momentum": float(config["bn_momentum"]),
            "activate": bool(config.get("activate", True)),
            **{key: lists[key][i] for key in per_operation},
        }
        for i, d in enumerate(depths)
    ]


STRIDED = "strided_kpconv"
"""The ``downsampling_filter`` that is a KPConv itself (KPConv operations only)."""


def filter_issues(*, downsampling_filter: Any, kind: Any) -> list[Issue]:
    """A ``downsampling_filter`` the operations' ``type`` cannot take (the schema's default,
    ``strided_kpconv``, needs KPConv operations).

    Example:
        >>> filter_issues(downsampling_filter="strided_kpconv", kind="PointNet")[0][1][:48]
        "expected 'mean' or 'gaussian' with feature_extra"
    """
    if downsampling_filter != STRIDED or kind == "KPConv" or kind not in FEATURE_EXTRACTION_TYPES:
        return []
    return [
        (
            ("model_args", "downsampling_filter"),
            f"expected 'mean' or 'gaussian' with feature_extraction.type {kind!r} (strided_kpconv, the default, "
            f"needs KPConv), received 'strided_kpconv'",
        )
    ]


def _path_parts(dotted: str) -> tuple[str | int, ...]:
    """``"a.b[2]"`` -> ``("a", "b", 2)``."""
    return tuple(int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", dotted))


def autoencoder_args_issues(model_args: Mapping[str, Any]) -> list[Issue]:
    """What the hierarchical autoencoder's build refuses in ``model_args`` that its JSON Schema does
    not say (the model registry's ``args_check``, run by validation): per-depth lists of
    ``pre_processing`` and per-operation lists of ``feature_extraction`` of the wrong length, a
    downsampling filter the operations cannot take, initializer, regularizer, constraint and
    activation names Keras does not have (wrong types are the schema's to report).

    Example:
        >>> autoencoder_args_issues({"feature_extraction": {"type": "PointNet"}})[0][0]
        ('model_args', 'downsampling_filter')
        >>> autoencoder_args_issues({"feature_extraction": {"W_initializer": ["he_normal", "he_nromal"]}})[0][0]
        ('model_args', 'feature_extraction', 'W_initializer', 1)
    """
    issues = keras_name_issues(model_args)
    pre_processing = model_args.get("pre_processing") or {}
    feature_extraction = model_args.get("feature_extraction") or {}
    if not isinstance(pre_processing, Mapping) or not isinstance(feature_extraction, Mapping):
        return issues
    kind, _, per_operation = _settings(feature_extraction)
    if kind in FEATURE_EXTRACTION_TYPES:  # the schema reports another type and another type's keys
        own = {key: value for key, value in feature_extraction.items() if key in per_operation}
        issues += keras_name_issues(own, at=FEATURE_EXTRACTION_PATH)
    default_filter = AUTOENCODER_SCHEMA["properties"]["downsampling_filter"]["default"]
    issues += filter_issues(downsampling_filter=model_args.get("downsampling_filter", default_filter), kind=kind)
    try:
        depth = HierarchySpec.from_config(pre_processing).depth
    except SpecError as err:
        issues += [(_path_parts(issue.path), issue.message) for issue in err.issues]
        points = pre_processing.get("num_points_per_depth")
        depth = len(points) if isinstance(points, list) else 0
    except (TypeError, ValueError):
        return issues
    return issues + (operation_count_issues(feature_extraction, depth=depth) if depth else [])
