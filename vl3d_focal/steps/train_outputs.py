"""The files a ``train`` step writes: its output paths by kind (:func:`step_outputs`) and those it
writes besides them (:func:`training_outputs`, its registry entry's ``outputs``): the files of
its training folder (``<first prefix>training/`` for the spec's first train step,
``training_<k>/`` for its k-th), of ``training_history_dir``, and of the training clouds'
prediction after training, named as :mod:`vl3d_focal.training.evaluation` writes them.

Example:
    >>> from vl3d_focal.config.step_files import StepPlace
    >>> place = StepPlace(ordinal=2, inputs=("a.las",), prefixes=("o/",))
    >>> training_outputs({"train": "RandomForestClassifier"}, place)[0]
    ('model', '*training_2/class_weights.json')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vl3d_focal.config.prefixes import PREFIX_MARK
from vl3d_focal.config.step_files import StepPlace
from vl3d_focal.training.files import CLOUD_OUTPUTS, HISTORY_FILES, TrainingFiles, cloud_output
from vl3d_focal.training.forest_reports import most_trees, tree_picture_paths


def step_outputs(step: Mapping[str, Any], *, scopes: Sequence[str]) -> dict[str, str]:
    """The output paths a train step gives, by key, for the ``x-vl3d-path`` kinds ``scopes``.

    Example:
        >>> step_outputs({"train": "PointNetPwiseClassifier", "model_args": {"model_handling": {
        ...     "summary_report_path": "*s.log"}}}, scopes=["model-output"])
        {'summary_report_path': '*s.log'}
    """
    from vl3d_focal.config.normalise import annotated_paths

    found = annotated_paths({"sequential_pipeline": [dict(step)]})
    return {parts[-1]: value for parts, kind, value, _ in found if kind in scopes}


def _training_cloud_files(step: Mapping[str, Any], place: StepPlace) -> list[str]:
    """The files of the training clouds' prediction after training, under the train step's
    prefix (the first): the prediction's receptive-field reports (``pre_processing``'s cloud
    outputs) and the ``training_*`` clouds. The training clouds are ``training_pcloud``, else the
    run's input clouds; for several, each cloud's files carry its name
    (:func:`~vl3d_focal.training.files.cloud_output`). One cloud's ``training_*`` clouds are its
    output paths, declared by the schema, and so are its reports, under each cloud's prefix, but
    for one ``out_pcloud`` prefix and several input clouds, whose first prefix is no cloud's."""
    given = step.get("model_args", {}).get("model_handling", {}).get("training_pcloud")
    clouds = [given] if isinstance(given, str) else list(given or place.inputs)
    reports = list(step_outputs(step, scopes=("cloud-output",)).values())
    if len(clouds) < 2:
        shared = len(place.prefixes) == 1 and len(place.inputs) > 1
        return [path for path in reports if shared and path.startswith(PREFIX_MARK)]
    paths = [
        *reports,
        *(value for key, value in step_outputs(step, scopes=("model-output",)).items() if key in CLOUD_OUTPUTS),
    ]
    return [cloud_output(path, cloud=cloud, clouds=len(clouds)).as_posix() for path in paths for cloud in clouds]


def training_outputs(step: Mapping[str, Any], place: StepPlace) -> Sequence[tuple[str, str]]:
    """The training folder's files (of the step's ``place.ordinal``), the files of
    ``training_history_dir``, the text summary that replaces ``architecture_graph_path`` where
    pydot or graphviz is missing, a forest's tree pictures (one per tree of
    ``decision_plot_trees``) and the files of the training clouds' prediction
    (:func:`_training_cloud_files`), all under the first prefix.

    Example:
        >>> place = StepPlace(ordinal=1, inputs=("a.las", "b.las"), prefixes=("o/",))
        >>> [path for _, path in training_outputs({"train": "RandomForestClassifier",
        ...     "training_classified_point_cloud_path": "*c.laz"}, place)][-2:]
        ['*c_a.laz', '*c_b.laz']
    """
    handling = step.get("model_args", {}).get("model_handling", {})
    checkpoint = bool(handling.get("checkpoint", True)) or bool(handling.get("checkpoint_path"))
    files = [path.as_posix() for path in TrainingFiles.under("*", ordinal=place.ordinal).all(checkpoint=checkpoint)]
    if handling.get("training_history_dir"):
        files += [f"{handling['training_history_dir'].rstrip('/')}/{name}" for name in HISTORY_FILES]
    graph = step.get("model_args", {}).get("architecture_graph_path")
    if graph:
        files.append(Path(graph).with_suffix(".txt").as_posix())
    if step.get("decision_plot_path"):
        count = most_trees(step)
        if count > 1:  # one picture is decision_plot_path itself
            files += [path.as_posix() for path in tree_picture_paths(Path(step["decision_plot_path"]), count)]
    files += _training_cloud_files(step, place)
    return [("model", path) for path in files]
