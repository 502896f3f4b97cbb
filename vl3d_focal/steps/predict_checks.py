"""Validation of a predict step against its model: a model whose receptive-field centres need the
whole cloud (``pre_processing.support_strategy`` other than ``grid``, read from the file's
metadata, no model loaded) cannot predict a cloud streamed tile by tile (more points than
``chunk_points``, per the LAS header; no ``buffer``); a model whose field is the whole cloud
(VL3D's ``neighborhood.radius`` 0: the model file's field spec, or the ``pre_processing`` of the
train step a ``PreviousModel`` uses) takes no ``buffer`` (:func:`whole_cloud_buffer_issues`).

Which clouds a predict step streams (:func:`streamed_clouds`, also what a later uncertainty
evaluator's ``include_clusters`` is checked against) is known at validation only for a predict step
that no step before it but class mapping precedes: another step may read a cloud whole into memory,
which the run then predicts in one go (whether it does is known only at run time).

Example:
    >>> meta = {"model_name": "PointNetPwiseClassifier", "field_spec": {"support_strategy": "fps",
    ...     "neighborhood": {"radius": 3.0}}}
    >>> known = {"cloud_features": {str(tile): []}, "pipeline": [{}]}
    >>> streamed = streamed_clouds({}, ("sequential_pipeline", 0), known, chunk_points=1000, whole_cloud=False)
    >>> [m[:46] for _, m in streamed_support_issues({}, ("sequential_pipeline", 0), metadata=meta,
    ...     streamed=streamed, chunk_points=1000)]
    ["pre_processing.support_strategy 'fps' of model"]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vl3d_focal.config.checks import Issue, as_dict, as_list
from vl3d_focal.data.grid_layout import neighbourhood_layout
from vl3d_focal.errors import VL3DFocalError
from vl3d_focal.registry import MODELS

LOADING_NOTHING = ("class_mapping",)
"""Kind keys of steps that read no cloud whole into memory before a predict step."""

WHOLE_CLOUD_BUFFER = (
    "buffer adds the neighbouring clouds' points to a cloud's fields, but this model's field is the whole cloud "
    "(neighborhood.radius 0); remove buffer"
)
"""Why a predict step of a whole-cloud model takes no ``buffer`` (at validation, and at the run)."""


def whole_cloud_buffer_issues(step: Mapping[str, Any], at: tuple, *, pre_processing: Any) -> Iterator[Issue]:
    """The ``buffer`` of predict ``step`` (at ``at``) when its model's ``pre_processing`` (a model
    file's field spec, or a train step's) makes its field the whole cloud (radius 0).

    Example:
        >>> [path for path, _ in whole_cloud_buffer_issues({"buffer": 5.0}, ("s", 1),
        ...     pre_processing={"neighborhood": {"radius": 0.0}})]
        [('s', 1, 'buffer')]
        >>> list(whole_cloud_buffer_issues({"buffer": 5.0}, (), pre_processing={"neighborhood": {"radius": 2.0}}))
        []
    """
    if step.get("buffer") is not None and whole_cloud_field(pre_processing):
        yield at + ("buffer",), WHOLE_CLOUD_BUFFER


def whole_cloud_field(pre_processing: Any) -> bool:
    """Whether a model's ``pre_processing`` (a model file's field spec, or a train step's) makes its
    field the whole cloud (VL3D's ``neighborhood.radius`` 0).

    Example:
        >>> whole_cloud_field({"neighborhood": {"radius": 0}}), whole_cloud_field({"neighborhood": {"radius": 2.0}})
        (True, False)
    """
    hood, _ = neighbourhood_layout(as_dict(pre_processing))
    radius = hood.get("radius")
    return isinstance(radius, int | float) and radius == 0


def trained_pre_processing(at: tuple, known: Mapping[str, Any]) -> Any:
    """The ``model_args.pre_processing`` of the last train step before the step at ``at``
    (``known["pipeline"]``), whose model a ``PreviousModel`` there uses; None when there is none.

    Example:
        >>> known = {"pipeline": [{"train": "M", "model_args": {"pre_processing": {"num_points": 8}}}, {}]}
        >>> trained_pre_processing(("sequential_pipeline", 1), known)
        {'num_points': 8}
    """
    if len(at) != 2 or not isinstance(at[1], int):
        return None
    trains = [as_dict(prior) for prior in as_list(known.get("pipeline"))[: at[1]] if "train" in as_dict(prior)]
    return as_dict(trains[-1].get("model_args")).get("pre_processing") if trains else None


def streamed_clouds(
    step: Mapping[str, Any], at: tuple, known: Mapping[str, Any], *, chunk_points: Any, whole_cloud: bool
) -> list[tuple[str, int]] | None:
    """The input clouds (with their point counts, per the LAS headers) that the predict ``step`` at
    ``at`` will stream tile by tile: more points than ``chunk_points``, no ``buffer``, no field of
    the whole cloud (``whole_cloud``), and no step before it but class mapping; None where that
    is known only at the run (module docstring).

    Example:
        >>> known = {"cloud_features": {str(tile): []}, "pipeline": [{}]}
        >>> [count > 1000 for _, count in streamed_clouds({}, ("sequential_pipeline", 0), known, chunk_points=1000,
        ...     whole_cloud=False)]
        [True]
        >>> streamed_clouds({"buffer": 5.0}, ("sequential_pipeline", 0), known, chunk_points=1000, whole_cloud=False)
    """
    from vl3d_focal.io.las import check_file

    before = as_list(known.get("pipeline"))[: at[1]] if len(at) == 2 and isinstance(at[1], int) else None
    if (
        whole_cloud
        or not isinstance(chunk_points, int)
        or step.get("buffer") is not None
        or before is None
        or not all(any(kind in as_dict(prior) for kind in LOADING_NOTHING) for prior in before)
    ):
        return None
    streamed = []
    for path in as_dict(known.get("cloud_features")):
        try:
            count = check_file(path)
        except VL3DFocalError:  # an unreadable cloud: its own check reports it
            continue
        if count > chunk_points:
            streamed.append((path, count))
    return streamed


def streamed_support_issues(
    step: Mapping[str, Any],
    at: tuple,
    *,
    metadata: Mapping[str, Any],
    streamed: list[tuple[str, int]] | None,
    chunk_points: Any,
) -> Iterator[Issue]:
    """The ``streamed`` clouds (:func:`streamed_clouds` of the step's ``chunk_points``, its default
    when it gives none) of a predict step whose model, described by its file's ``metadata``, needs
    whole clouds (module docstring)."""
    strategy = as_dict(metadata.get("field_spec")).get("support_strategy", "grid")
    model = MODELS.find(metadata.get("model_name"))
    if strategy == "grid" or model is None or model.learns_from_points:
        return
    for path, count in streamed or []:
        yield (
            at + (("chunk_points",) if "chunk_points" in step else ()),
            f"pre_processing.support_strategy {strategy!r} of model {metadata['model_name']} needs the whole "
            f"cloud, but {path} has {count} points, more than chunk_points={chunk_points}, "
            "so it would be streamed tile by tile; set chunk_points to null to predict it in memory, or train "
            "with support_strategy 'grid'",
        )
