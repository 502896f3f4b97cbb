"""The map of a survey: one GeoJSON polygon per tile (its header's bounding box), in the
clouds' CRS, with its status, scores (and the model each is of: :func:`score_properties`) and own
CRS as properties; QGIS opens it as a layer.

GeoJSON (RFC 7946) assumes WGS 84 longitudes and latitudes; tiles are in a projected CRS
(Lambert-93, UTM...), so the file names it with the ``crs`` member of the 2008 GeoJSON
specification (``urn:ogc:def:crs:EPSG::<code>``), which QGIS and GDAL read. Without a CRS
in the clouds' headers, or with tiles of several CRSs, the member is left out (QGIS then asks
for one): each tile's ``crs`` property tells which tiles to reproject.

A tile without bounds (its header could not be read, or it holds no point and was skipped) is
a feature without geometry (``"geometry": null``, which RFC 7946 allows for an unlocated
feature): QGIS and GDAL list it in the layer's attribute table with its status and error, so
the map counts every tile of the survey.

Example:
    >>> doc = survey_features([{"path": "/d/a.laz", "bounds": [0, 0, 10, 5], "status": "done",
    ...                         "points": 7, "metrics": {"mIoU": 0.5, "OA": 0.9}}], crs="EPSG:2154")
    >>> doc["crs"]["properties"]["name"], doc["features"][0]["geometry"]["coordinates"][0][2]
    ('urn:ogc:def:crs:EPSG::2154', [10.0, 5.0])
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.io.atomic import write_text
from vl3d_focal.io.json_listing import dumps_listing
from vl3d_focal.reports.run_summary import model_label

SCORES = ("mIoU", "OA", "macro_F1")
"""Per-tile scores copied to the map (None where the tile was not evaluated)."""


def tile_evaluations(tile: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every evaluation of a survey tile, in step order: ``model`` (which model was scored),
    ``metrics`` and ``evaluation`` (its evaluation.json, or None): the first is the tile's own
    ``metrics``, ``model`` and ``evaluation``, the others its ``further_evaluations`` (a survey
    that scores several models per tile).

    Example:
        >>> tile = {"metrics": {"mIoU": 0.5}, "model": {"model": "m", "file": "a.keras"}, "evaluation": "a.json",
        ...         "further_evaluations": [{"metrics": {"mIoU": 0.7}, "model": {"model": "m", "file": "b.keras"},
        ...                                  "evaluation": "b.json"}]}
        >>> [(e["model"]["file"], e["metrics"]["mIoU"], e["evaluation"]) for e in tile_evaluations(tile)]
        [('a.keras', 0.5, 'a.json'), ('b.keras', 0.7, 'b.json')]
        >>> tile_evaluations({"metrics": None})
        []
    """
    if not tile.get("metrics"):
        return []
    first = {"model": tile.get("model"), "metrics": tile["metrics"], "evaluation": tile.get("evaluation")}
    return [first, *(dict(e) for e in tile.get("further_evaluations") or [])]


def score_properties(tile: Mapping[str, Any], *, steps: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A tile's scores as map attributes: ``model`` (the model scored, in words, as the run report
    names it: :func:`~vl3d_focal.reports.run_summary.model_label` with the run's ``steps``), ``evaluation``
    (its evaluation.json) and :data:`SCORES` of its first evaluation, and of its k-th (from 2)
    the same names suffixed ``_k`` (a survey that scores several models per tile); the first
    evaluation's attributes are None where the tile was not evaluated.

    Example:
        >>> score_properties({"metrics": {"mIoU": 0.5, "OA": 0.9}, "model": {"model": "M", "file": "o/a.keras"},
        ...                   "further_evaluations": [{"metrics": {"mIoU": 0.7}, "model": {"model": "M", "file": "b.keras"}}]})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'model': 'M (loaded a.keras)', 'evaluation': None, 'mIoU': 0.5, 'OA': 0.9, 'macro_F1': None,
         'model_2': 'M (loaded b.keras)', 'evaluation_2': None, 'mIoU_2': 0.7, 'OA_2': None, 'macro_F1_2': None}
        >>> score_properties({"metrics": {"OA": 0.9}, "model": {"model": "M", "training": 1}},
        ...                  steps=[{"kind": "train"}, {"kind": "train"}])["model"]
        'M (step 2)'
    """
    record = {"steps": list(steps)}
    properties: dict[str, Any] = {}
    for number, evaluation in enumerate(tile_evaluations(tile) or [{}], start=1):
        suffix = "" if number == 1 else f"_{number}"
        metrics = evaluation.get("metrics") or {}
        properties[f"model{suffix}"] = model_label(record, evaluation.get("model") or {}) or None
        properties[f"evaluation{suffix}"] = evaluation.get("evaluation")
        properties.update({f"{score}{suffix}": metrics.get(score) for score in SCORES})
    return properties


def _ring(bounds: Sequence[float]) -> list[list[float]]:
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    return [[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax], [xmin, ymin]]


def survey_features(
    tiles: Sequence[Mapping[str, Any]], *, crs: str | None, steps: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The GeoJSON FeatureCollection of the tiles: a polygon per tile of known bounds, a feature
    without geometry for the others (see the module docstring).

    Args:
        tiles: the ``tiles`` of a survey record: ``path``, ``bounds`` (xmin, ymin, xmax, ymax,
            or None), ``status``, ``points``, its evaluations (:func:`tile_evaluations`), ``error``,
            ``reason`` (why it was skipped, optional) and ``crs`` (optional).
        crs: ``"EPSG:<code>"`` of the tiles, or None.
        steps: the run's steps (``{"kind": ...}`` each), which name the models scored
            (:func:`score_properties`).

    Example:
        >>> survey_features([], crs=None)
        {'type': 'FeatureCollection', 'features': []}
        >>> survey_features([{"path": "/d/junk.laz", "bounds": None, "status": "failed", "error": "not a LAS/LAZ file"}],
        ...                 crs=None)["features"][0]["geometry"] is None
        True
    """
    features = []
    for tile in tiles:
        properties = {
            "name": os.path.splitext(os.path.basename(tile["path"]))[0],  # Path.stem, 3x as fast
            "path": tile["path"],
            "status": tile["status"],
            "points": tile.get("points"),
            "error": tile.get("error"),
            "reason": tile.get("reason"),
            "crs": tile.get("crs"),
        }
        properties.update(score_properties(tile, steps=steps))
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {"type": "Polygon", "coordinates": [_ring(tile["bounds"])]} if tile.get("bounds") else None,
            }
        )
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    if crs and crs.upper().startswith("EPSG:"):
        doc["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs.split(':', 1)[1]}"}}
    doc["features"] = features
    return doc


def write_survey_map(
    path: str | Path, tiles: Sequence[Mapping[str, Any]], *, crs: str | None, steps: Sequence[Mapping[str, Any]] = ()
) -> Path:
    """Writes :func:`survey_features` to ``path`` (atomically), one tile per line.

    Example:
        >>> import tempfile
        >>> out = write_survey_map(Path(tempfile.mkdtemp()) / "survey.geojson", [], crs=None)
        >>> import json
        >>> json.loads(out.read_text())["type"]
        'FeatureCollection'
    """
    return write_text(path, dumps_listing(survey_features(tiles, crs=crs, steps=steps), key="features"), log=False)
