"""The scores in a survey's record: each tile's evaluations (one per eval step, in step order,
over its phases; :func:`~vl3d_focal.reports.survey_map.tile_evaluations`) and the survey's sums
per model (:func:`survey_sums`), grouped as the run report groups its evaluations
(:func:`~vl3d_focal.reports.run_summary.model_evaluations`), so both say the same.

A tile's first evaluation is its ``metrics``, ``model`` and ``evaluation`` (the evaluation.json
written), as in a survey that scores one model; the others are its ``further_evaluations``, each
with the same three members.

Example:
    >>> tile = {"metrics": None, "model": None}
    >>> tile.update(tile_scores(tile, [{"metrics": {"OA": 0.5, "per_class": {}}, "model": {}, "report_path": ""}]))
    >>> tile
    {'metrics': {'OA': 0.5}, 'model': None, 'evaluation': None, 'further_evaluations': []}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vl3d_focal.reports.run_summary import model_evaluations, unsummed_note
from vl3d_focal.reports.survey_map import tile_evaluations

KEPT_METRICS = ("OA", "mIoU", "macro_F1", "MCC", "Kappa", "class_names", "confusion_matrix")
"""The metrics a tile's evaluation keeps in the record (its evaluation.json has the others)."""


def tile_scores(tile: Mapping[str, Any], evaluations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A tile's record members after a phase that evaluated it (``evaluations``: the phase's, as
    :class:`~vl3d_focal.steps.facts.EvaluationFacts` dicts): its evaluations of earlier phases
    (or of the earlier run a skipped phase kept), less those the phase wrote again (the same
    evaluation.json), then the phase's.

    Example:
        >>> old = {"metrics": {"OA": 0.5}, "model": {"model": "m", "file": "a.keras"}, "evaluation": "e/a.json"}
        >>> new = {"metrics": {"OA": 0.7}, "model": {"model": "m", "file": "a.keras"}, "report_path": "e/a.json"}
        >>> tile_scores(old, [new])["metrics"], tile_scores(old, [new])["further_evaluations"]
        ({'OA': 0.7}, [])
    """
    fresh = [
        {
            "model": dict(evaluation.get("model") or {}) or None,
            "metrics": {key: evaluation["metrics"][key] for key in KEPT_METRICS if key in evaluation["metrics"]},
            "evaluation": evaluation.get("report_path") or None,
        }
        for evaluation in evaluations
    ]
    written = {evaluation["evaluation"] for evaluation in fresh if evaluation["evaluation"]}
    kept = [evaluation for evaluation in tile_evaluations(tile) if evaluation.get("evaluation") not in written]
    return scores_of(kept + fresh)


def scores_of(evaluations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The record members of a tile that has these evaluations (:func:`tile_evaluations`'s form).

    Example:
        >>> scores_of([])
        {'metrics': None, 'model': None, 'evaluation': None, 'further_evaluations': []}
    """
    first = dict(evaluations[0]) if evaluations else {}
    return {
        "metrics": first.get("metrics"),
        "model": first.get("model"),
        "evaluation": first.get("evaluation"),
        "further_evaluations": [dict(evaluation) for evaluation in evaluations[1:]],
    }


def survey_sums(tiles: Sequence[Mapping[str, Any]], *, steps: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The survey's scores of the finished ``tiles`` (``steps``: the run's, ``{"kind": ...}`` each,
    which name a model trained in the run by its train step, as the run report does):
    ``tiles_scored`` (tiles with an evaluation),
    ``models`` (per model and class set: ``label``, ``model``, ``tiles_summed`` and ``metrics``,
    their confusion matrices summed), ``metrics`` and ``tiles_summed`` (those of the one model,
    else null and 0) and ``note``: why the scores are not summed together, when some tiles score
    another model or class set than others (None when every tile scores the same ones).

    Example:
        >>> m = lambda matrix: {"class_names": ["a", "b"], "confusion_matrix": matrix}
        >>> one = {"path": "t.laz", "metrics": m([[3, 1], [0, 4]]), "model": {"model": "M", "file": "a.keras"},
        ...        "further_evaluations": [{"metrics": m([[4, 0], [0, 4]]), "model": {"model": "M", "file": "b.keras"}}]}
        >>> sums = survey_sums([one])
        >>> [(g["label"], g["tiles_summed"], g["metrics"]["OA"]) for g in sums["models"]], sums["metrics"], sums["note"]
        ([('M (loaded a.keras)', 1, 0.875), ('M (loaded b.keras)', 1, 1.0)], None, None)
        >>> two = {**one, "model": {"model": "M", "training": 0}, "further_evaluations": [
        ...        {"metrics": m([[4, 0], [0, 4]]), "model": {"model": "M", "training": 1}}]}
        >>> steps = [{"kind": "train"}, {"kind": "eval"}, {"kind": "train"}, {"kind": "eval"}]
        >>> [g["label"] for g in survey_sums([two], steps=steps)["models"]]
        ['M (step 1)', 'M (step 3)']
    """
    scored = [
        {**evaluation, "tile": tile["path"]}
        for tile in tiles
        for evaluation in tile_evaluations(tile)
        if (evaluation.get("metrics") or {}).get("confusion_matrix") is not None
    ]
    groups = model_evaluations({"steps": list(steps), "evaluations": scored})
    covered = [{evaluation["tile"] for evaluation in group["evaluations"]} for group in groups]
    models = [
        {
            "label": group["label"],
            "model": group["model"] or None,
            "tiles_summed": len(tiles),
            "metrics": group["metrics"],
        }
        for group, tiles in zip(groups, covered)
    ]
    mixed = len(groups) > 1 and any(tiles != covered[0] for tiles in covered)
    return {
        "tiles_scored": len({evaluation["tile"] for evaluation in scored}),
        "tiles_summed": models[0]["tiles_summed"] if len(models) == 1 else 0,
        "metrics": models[0]["metrics"] if len(models) == 1 else None,
        "models": models,
        "note": unsummed_note({"evaluations": scored}) if mixed else None,
    }


def kept_scores(tile: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """A tile's record members after a phase that ``--resume`` skips: its evaluations so far,
    then those of the previous record ``old`` that it lacks (another evaluation.json; a phase
    done again replaces them: :func:`tile_scores`); for a record written before evaluations named
    their file, the tile's, else all of ``old``'s.

    Example:
        >>> old = {"metrics": {"OA": 0.5}, "evaluation": "t/a.json",
        ...        "further_evaluations": [{"metrics": {"OA": 0.7}, "evaluation": "t/b.json"}]}
        >>> now = kept_scores({"metrics": {"OA": 0.6}, "evaluation": "t/a.json"}, old)
        >>> now["metrics"], now["further_evaluations"][0]["metrics"]
        ({'OA': 0.6}, {'OA': 0.7})
    """
    earlier, current = tile_evaluations(old), tile_evaluations(tile)
    if not any(evaluation.get("evaluation") for evaluation in earlier):
        return scores_of(current or earlier)
    have = {evaluation.get("evaluation") for evaluation in current}
    return scores_of(current + [evaluation for evaluation in earlier if evaluation.get("evaluation") not in have])
