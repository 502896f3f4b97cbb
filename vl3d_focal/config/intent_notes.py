"""Notes on valid keys whose intent a run here does not carry out, told before any work.

They are reported with the no-effect notes (:mod:`vl3d_focal.config.notes`; ``--strict`` makes
them errors), at the key or step they are about:

- a warning: a train step's ``learning_rate_on_plateau`` (or ``reduce_lr_on_plateau``) with a
  learning-rate schedule (``compilation_args.optimizer.learning_rate`` an object): the schedule
  alone sets the learning rate, nothing reduces it on plateau (the run warns again when it builds
  its callbacks);
- no effect: a random forest's ``stratkfold_report_path`` / ``stratkfold_plot_path`` with a
  ``training_type`` other than ``stratified_kfold`` (nothing is written, as in VL3D);
- a warning: an imputer of NaN (``target_val`` ``"NaN"``, the default) of features a
  ``GeometricFeatures`` step with a ``radius`` mines before it: they are 0 here, not NaN as in
  VL3D, where a point has no other point within the radius, so the imputer finds no NaN there
  (none where no train step follows the imputer: its own note says it has no effect).

Example:
    >>> for parts, message in intent_notes({"sequential_pipeline": [
    ...         {"miner": "GeometricFeatures", "radius": 0.3, "fnames": ["linearity"]},
    ...         {"imputer": "UnivariateImputer", "fnames": ["AUTO"], "target_val": "NaN"},
    ...         {"train": "RandomForestClassifier", "fnames": ["linearity_r0.3"]}]}):
    ...     print(json_path(parts), message)
    $.sequential_pipeline[1] warning: target_val NaN: the GeometricFeatures of $.sequential_pipeline[0] (radius 0.3: linearity_r0.3) are 0, not NaN, where a point has no other point within the radius (VL3D writes NaN there); this imputer finds no NaN there
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vl3d_focal.config.checks import as_dict, as_list
from vl3d_focal.config.messages import json_path
from vl3d_focal.config.notes import NOTE_PREFIX, WARNING_PREFIX
from vl3d_focal.config.path_checks import Issue
from vl3d_focal.data.recipe_options import AUTO
from vl3d_focal.registry import MODELS
from vl3d_focal.training.plateau import PLATEAU_KEYS
from vl3d_focal.wording import shortened

STRATKFOLD_OUTPUTS = ("stratkfold_report_path", "stratkfold_plot_path")
"""A random forest's outputs that only ``training_type`` ``stratified_kfold`` writes."""


def intent_notes(spec: Mapping[str, Any]) -> list[Issue]:
    """The notes (``(json path parts, message)``) of a comment-free pipeline-form spec's steps whose
    keys are valid but whose intent is not carried out here (see the module doc); tolerates an
    invalid document.

    Example:
        >>> intent_notes({"sequential_pipeline": [{"train": "RandomForestClassifier", "training_type": "autoval",
        ...     "stratkfold_plot_path": "*kfold.svg"}]})
        [(('sequential_pipeline', 0, 'stratkfold_plot_path'), "accepted, no effect here: only training_type 'stratified_kfold' writes it (as in VL3D); this step's is 'autoval'")]
    """
    steps = [as_dict(step) for step in as_list(spec.get("sequential_pipeline"))]
    notes: list[Issue] = []
    for index, step in enumerate(steps):
        at = ("sequential_pipeline", index)
        if "train" in step:
            notes += [*_plateau_notes(step, at), *_stratkfold_notes(step, at)]
        elif "imputer" in step and any("train" in later for later in steps[index + 1 :]):
            notes += _nan_imputer_notes(step, at, steps[:index])  # else its no-effect note says enough
    return notes


def _plateau_notes(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    """A reduction on plateau given with a learning-rate schedule."""
    model_args = as_dict(step.get("model_args"))
    rate = as_dict(as_dict(model_args.get("compilation_args")).get("optimizer")).get("learning_rate")
    if not isinstance(rate, dict):  # a number: a constant learning rate
        return
    handling = as_dict(model_args.get("model_handling"))
    schedule = rate.get("schedule")
    named = f" ({schedule!r})" if isinstance(schedule, str) else ""  # none: the schema reports it
    for key in PLATEAU_KEYS:
        if handling.get(key):  # null or {}: no reduction on plateau
            yield (
                at + ("model_args", "model_handling", key),
                f"{WARNING_PREFIX}{key} cannot reduce the learning-rate schedule of compilation_args.optimizer."
                f"learning_rate{named}: the schedule alone sets the learning rate, which the history records",
            )


def _stratkfold_notes(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    """A random forest's stratified k-fold outputs given with another training type."""
    entry = MODELS.find(step.get("train"))
    training_type = step.get("training_type", "base")
    if entry is None or not entry.learns_from_points or training_type == "stratified_kfold":
        return  # a model of receptive fields refuses these keys (an error, not a note)
    for key in STRATKFOLD_OUTPUTS:
        if step.get(key) is not None:
            yield (
                at + (key,),
                f"{NOTE_PREFIX}only training_type 'stratified_kfold' writes it (as in VL3D); this step's is "
                f"{training_type!r}",
            )


def _nan_imputer_notes(step: Mapping[str, Any], at: tuple, before: Sequence[Mapping[str, Any]]) -> Iterator[Issue]:
    """An imputer of NaN of the features of a ``GeometricFeatures`` step with a radius before it."""
    from vl3d_focal.data.miners import MinedFeatures

    target = step.get("target_val", "NaN")
    if not isinstance(target, str) or target.lower() != "nan":
        return
    fnames = as_list(step.get("fnames", [AUTO]))
    mined: list[str] = []  # each GeometricFeatures step of a radius whose features it imputes
    for index, miner in enumerate(before):
        if miner.get("miner") != "GeometricFeatures" or miner.get("k") is not None:
            continue
        try:
            recipe = MinedFeatures.from_step(miner)
        except (KeyError, TypeError, ValueError):  # an invalid step: the schema or its check reports it
            continue
        if not all(isinstance(name, str) for name in recipe.names):
            continue  # an invalid name (a null in frenames): the schema reports it
        imputed = list(recipe.names) if AUTO in fnames else [name for name in recipe.names if name in fnames]
        if imputed:
            where = json_path(("sequential_pipeline", index))
            mined.append(f"{where} (radius {recipe.params['radius']:g}: {shortened(imputed, 3)})")
    if mined:
        yield (
            at,
            f"{WARNING_PREFIX}target_val NaN: the GeometricFeatures of {' and of '.join(mined)} are 0, not NaN, "
            "where a point has no other point within the radius (VL3D writes NaN there); this imputer finds no "
            "NaN there",
        )
