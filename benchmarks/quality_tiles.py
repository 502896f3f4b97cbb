"""The tiles the quality benchmark evaluates: ``--held-out`` (one shared IGN tile, trained on the
others), ``--evaluate`` (any labelled LAS/LAZ files, trained on all of the base's tiles), and the
run's pooled evaluation over its tiles (their confusion matrices summed; the ``--sensors``
copies apart, pooled per kind).

Example:
    >>> pooled = pooled_evaluation({"a": {"class_names": ["x", "y"], "confusion_matrix": [[3, 1], [0, 4]]},
    ...                             "b": {"class_names": ["x", "y"], "confusion_matrix": [[4, 0], [0, 4]]}})
    >>> pooled["OA"], pooled["confusion_matrix"]
    (0.9375, [[7, 1], [0, 8]])
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.quality_report import SENSOR_ROWS

CLOUD_SUFFIXES = (".las", ".laz")


def parse_clouds(text: str) -> list[Path]:
    """The absolute paths of ``--evaluate``'s comma-separated LAS/LAZ files (relative ones from the
    current folder).

    Raises:
        argparse.ArgumentTypeError: a path is missing, is not a .las/.laz file, or two files share
            a name (their outputs and evaluations are named after it).

    Example:
        >>> parse_clouds("/nowhere/a.laz")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: no such file: /nowhere/a.laz
    """
    paths = [Path(item.strip()).resolve() for item in text.split(",") if item.strip()]
    if not paths:
        raise argparse.ArgumentTypeError("expected comma-separated .las/.laz files")
    for path in paths:
        if path.suffix.lower() not in CLOUD_SUFFIXES:
            raise argparse.ArgumentTypeError(f"not a .las/.laz file: {path}")
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"no such file: {path}")
    stems = [path.stem for path in paths]
    if len(set(stems)) != len(stems):
        raise argparse.ArgumentTypeError(f"two files share a name (their outputs would too): {sorted(stems)}")
    return paths


def with_clouds(predict_doc: Mapping[str, Any], *, clouds: list[Path], predict_dir: Path) -> dict[str, Any]:
    """The predict spec evaluating ``clouds`` instead of the base's (paths written relative to
    ``predict_dir``, the base spec's folder, which :func:`benchmarks.quality.variant_specs` rebases).

    Example:
        >>> with_clouds({"in_pcloud": ["x.laz"]}, clouds=[Path("/d/new/a.laz")], predict_dir=Path("/d/examples"))
        {'in_pcloud': ['../new/a.laz']}
    """
    return {**copy.deepcopy(dict(predict_doc)), "in_pcloud": [os.path.relpath(path, predict_dir) for path in clouds]}


def held_out(predict_doc: Mapping[str, Any], *, tile: str, tiles: list[Path], predict_dir: Path) -> dict[str, Any]:
    """The predict spec evaluating the one tile whose file name holds ``tile`` instead of the
    base's (a fold of a leave-one-tile-out: :func:`benchmarks.quality.variant_specs` then trains
    on the others).

    Raises:
        ValueError: no tile's name, or more than one, holds ``tile``.

    Example:
        >>> tiles = [Path("/d/ign/a_77050.laz"), Path("/d/ign/a_77055.laz")]
        >>> held_out({"in_pcloud": ["x.laz"]}, tile="77055", tiles=tiles, predict_dir=Path("/d/examples"))
        {'in_pcloud': ['../ign/a_77055.laz']}
    """
    matches = [path for path in tiles if tile in path.name]
    if len(matches) != 1:
        raise ValueError(f"--held-out {tile!r}: expected one tile whose name holds it, got {[m.name for m in matches]}")
    return with_clouds(predict_doc, clouds=matches, predict_dir=predict_dir)


def pooled_evaluation(
    evaluations: Mapping[str, Mapping[str, Any] | None], *, copies: str | None = None
) -> dict[str, Any] | None:
    """The run's evaluation: that of its one evaluated tile, or the metrics of its tiles together
    (confusion matrices summed by the library's ``summed_metrics``; their feature warnings
    listed together). The ``--sensors`` copies are left out, or, with ``copies`` (a suffix of
    ``SENSOR_ROWS``), only the copies of that kind are pooled, so that a copy's row compares the
    same tiles as the base's. None when a tile has no evaluation (its run failed) or the tiles
    were scored on different classes.

    Example:
        >>> one = {"class_names": ["x", "y"], "confusion_matrix": [[3, 1], [0, 4]], "mIoU": 0.775}
        >>> pooled_evaluation({"a": one, "a_format0": None}) == one, pooled_evaluation({"a": one, "b": None})
        (True, None)
        >>> pooled_evaluation({"a": None, "a_format0": one, "b_format0": one}, copies="_format0")["OA"]
        0.875
    """
    from vl3d_focal.reports.run_summary import summed_metrics

    tiles = [
        evaluation
        for tile, evaluation in evaluations.items()
        if (tile.endswith(copies) if copies else not tile.endswith(tuple(SENSOR_ROWS)))
    ]
    if not tiles or any(evaluation is None for evaluation in tiles):
        return None
    if len(tiles) == 1:
        return dict(tiles[0] or {})
    pooled = summed_metrics({"evaluations": [{"metrics": evaluation} for evaluation in tiles]})
    warnings = [warning for evaluation in tiles for warning in (evaluation or {}).get("feature_warnings", [])]
    return None if pooled is None else {**pooled, "feature_warnings": warnings}


def tiles_text(evaluations: Mapping[str, Mapping[str, Any] | None], pooled: Mapping[str, Any] | None) -> str:
    """Each evaluated cloud's mIoU, then the pooled one ("-": none).

    Example:
        >>> tiles_text({"a": {"mIoU": 0.775}, "b": None}, None)
        'mIoU a 0.775, b -; pooled -'
    """
    scores = ", ".join(f"{tile} {'-' if e is None else format(e['mIoU'], '.3f')}" for tile, e in evaluations.items())
    return f"mIoU {scores}; pooled {'-' if pooled is None else format(pooled['mIoU'], '.3f')}"
