"""The survey part of a run report: the tiles (status, points, scores, links) and their map.

It reads the files the survey runner writes under the first output prefix, ``survey.json``
(``tiles``: ``path``, ``prefix``, ``status``, ``points``, ``seconds``, their evaluations
(:func:`~vl3d_focal.reports.survey_map.tile_evaluations`), ``error``, ``outputs``, ``bounds``; the
survey's ``warnings``, such as tiles of several CRSs, which the map then draws as one, are shown
above it; its sums per model, ``models``, when it scores several) and ``survey.geojson`` (one polygon per tile), whichever
exist; a missing or unreadable file is said on the page, never an error.

Example:
    >>> files = {"json": "no/survey.json", "geojson": "no/survey.geojson"}
    >>> "no survey file" in survey_section({"survey": files}, folder=Path("."))
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vl3d_focal.reports.html_page import esc, fmt, link, relative, table
from vl3d_focal.reports.run_summary import model_label
from vl3d_focal.reports.survey_map import tile_evaluations
from vl3d_focal.reports.svg_tile_map import FAILED_FILL, tile_map


def _read(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def score_color(value: float | None) -> str:
    """A colour from red (0) through yellow to green (1) for a score; grey for None.

    Example:
        >>> score_color(0.0), score_color(1.0), score_color(None)
        ('#d73027', '#1a9850', '#e0e0e0')
    """
    if value is None:
        return "#e0e0e0"
    stops = ((0.0, (0xD7, 0x30, 0x27)), (0.5, (0xFE, 0xE0, 0x8B)), (1.0, (0x1A, 0x98, 0x50)))
    v = min(max(float(value), 0.0), 1.0)
    (a, ca), (b, cb) = (stops[0], stops[1]) if v <= 0.5 else (stops[1], stops[2])
    t = (v - a) / (b - a)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


LEGEND = [
    ("mIoU 0", score_color(0.0)),
    ("0.5", score_color(0.5)),
    ("1", score_color(1.0)),
    ("not scored", score_color(None)),
    ("failed", FAILED_FILL),
]
"""The map's legend: the score colours (:func:`score_color`), grey, and the failed tiles' hatching."""


def _evaluation_file(tile: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str | None:
    """The evaluation.json of one of the tile's evaluations, where it exists (a record written
    before evaluations kept theirs: the tile's first JSON output)."""
    if evaluation.get("evaluation"):
        return str(evaluation["evaluation"]) if Path(str(evaluation["evaluation"])).exists() else None
    outputs = [str(p) for p in tile.get("outputs") or [] if str(p).endswith(".json") and Path(str(p)).exists()]
    return outputs[0] if outputs else None


def _tile_link(tile: Mapping[str, Any], evaluation: Mapping[str, Any], folder: Path) -> str:
    outputs = [str(p) for p in tile.get("outputs") or [] if Path(str(p)).exists()]
    target = _evaluation_file(tile, evaluation) or (outputs[0] if outputs else None)
    return link(target, folder=folder, text=Path(tile["path"]).stem) if target else esc(Path(tile["path"]).stem)


def _rows(tiles: list[dict[str, Any]], folder: Path, *, several: bool, named: Mapping[str, Any]) -> list[list[str]]:
    """The tiles table's rows: one per tile, or with ``several`` models one per tile and model (named
    as the run's steps, ``named``, name them: :func:`~vl3d_focal.reports.run_summary.model_label`)."""
    rows = []
    for t in tiles:
        for evaluation in tile_evaluations(t)[: None if several else 1] or [{}]:
            metrics = evaluation.get("metrics") or {}
            rows.append(
                [
                    _tile_link(t, evaluation, folder),
                    esc(t.get("status", "?")),
                    fmt(t.get("points")),
                    fmt(t.get("seconds"), 1),
                    *([esc(model_label(named, evaluation.get("model") or {}))] if several else []),
                    *(fmt(metrics.get(key)) for key in ("mIoU", "OA", "macro_F1")),
                    esc(t.get("error") or ""),
                ]
            )
    return rows


def _model_sums(survey: Mapping[str, Any]) -> str:
    """The survey's sums per model (``models``), when it scores several."""
    models = survey.get("models") or []
    if len(models) < 2:
        return ""
    rows = [
        [esc(m.get("label") or "model not recorded"), fmt(m.get("tiles_summed"))]
        + [fmt((m.get("metrics") or {}).get(key)) for key in ("mIoU", "OA", "macro_F1")]
        for m in models
    ]
    return "<p>Scores of the tiles together, per model:</p>" + table(
        ["model", "tiles", "mIoU", "OA", "macro F1"], rows, left=1
    )


def survey_section(record: Mapping[str, Any], *, folder: Path) -> str:
    """The HTML of the survey section of a run's ``record`` (tiles table and map): its ``survey``
    files (``json`` and ``geojson`` paths), the models named as its ``steps`` name them, and a
    warning where the survey record is an earlier run's (``survey_earlier``: when it was written).

    Example:
        >>> files = {"json": "none.json", "geojson": "none.geojson"}
        >>> survey_section({"survey": files}, folder=Path(".")).startswith("<p")
        True
    """
    files, earlier = record["survey"], record.get("survey_earlier")
    named = {"steps": record.get("steps") or []}
    survey = _read(files.get("json", ""))
    geo = _read(files.get("geojson", ""))
    if survey is None and geo is None:
        return '<p class="muted">no survey file could be read.</p>'
    html = (
        f'<div class="warn">This run did not start its survey: the table and map below are the record of an '
        f"earlier run (last written {esc(earlier)}), not of this run.</div>"
        if earlier
        else ""
    )
    html += "<p>" + " ".join(link(path, folder=folder) for path in files.values() if Path(path).is_file()) + "</p>"
    html += "".join(f'<div class="warn">{esc(warning)}</div>' for warning in (survey or {}).get("warnings") or [])
    tiles = list((survey or {}).get("tiles") or [])
    by_path = {tile.get("path"): tile for tile in tiles}
    several = any(len(tile_evaluations(tile)) > 1 for tile in tiles) or len((survey or {}).get("models") or []) > 1
    html += _model_sums(survey or {})
    if tiles:
        head = ["tile", "status", "points", "seconds", *(["model"] if several else []), "mIoU", "OA", "macro F1"]
        html += table([*head, "error"], _rows(tiles, folder, several=several, named=named), left=2)
    boxes, colored_by = [], None
    for feature in (geo or {}).get("features") or []:
        ring = ((feature.get("geometry") or {}).get("coordinates") or [[]])[0]
        if len(ring) < 3:
            continue
        props = feature.get("properties") or {}
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        tile = by_path.get(props.get("path"), {})
        evaluations = tile_evaluations(tile) or [{}]  # the colour, the title's first score and the link: the first
        target = _evaluation_file(tile, evaluations[0])
        scores = ", ".join(
            f"mIoU {fmt((e.get('metrics') or {}).get('mIoU'))}"
            + (f" ({model_label(named, e.get('model') or {})})" if several and e.get("model") else "")
            for e in evaluations
        )
        colored_by = colored_by or (model_label(named, evaluations[0].get("model") or {}) if several else None)
        boxes.append(
            {
                "bounds": [min(xs), min(ys), max(xs), max(ys)],
                "label": props.get("name", ""),
                "color": score_color(props.get("mIoU")),
                "failed": props.get("status") == "failed",
                "tooltip": f"{props.get('name')}: {props.get('status')}, {scores}",
                "href": quote(relative(target, folder=folder)) if target else None,
            }
        )
    if not boxes:
        boxes = [
            {
                "bounds": t["bounds"],
                "label": Path(t["path"]).stem,
                "tooltip": t.get("status"),
                "color": score_color((t.get("metrics") or {}).get("mIoU")),
                "failed": t.get("status") == "failed",
            }
            for t in tiles
            if t.get("bounds")
        ]
    if boxes:
        of = f" of {colored_by}" if colored_by else ""
        links = f"; a tile links to the evaluation of {colored_by}" if colored_by else ""
        html += tile_map(
            tiles=boxes,
            title=f"Survey map (colour: mIoU{of} from red 0 to green 1; grey: not scored; hatched: failed{links})",
            legend=LEGEND,
        )
    return html
