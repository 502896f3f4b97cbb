"""The ``eval`` step ``ClassificationUncertaintyEvaluator`` (VL3D): how uncertain the predictions are.

From each predicted cloud's class probabilities: the point-wise entropy, the weighted entropy
(``include_weighted_entropy``: rare classes weigh more, counted among the reference classes, or
among the predictions with ``weight_by_predictions`` or for a cloud without reference classes),
the class ambiguity and, with ``include_clusters``, the cluster-wise entropy (MiniBatchKMeans on
the model's input features, :mod:`vl3d_focal.inference.uncertainty`). Points whose reference
class is in ``ignore_classes`` are left out.

``report_path``: a LAS/LAZ with those measures as extra dimensions
(:mod:`vl3d_focal.inference.uncertainty_output`); ``plot_path``: a folder with one SVG figure
per measure (:mod:`vl3d_focal.reports.uncertainty_figures`). A cloud predicted tile by tile
(streamed) is evaluated chunk by chunk, but without clusters: they need the features of every
point at once, so ``include_clusters`` refuses such a cloud. The run report's
``uncertainties`` hold each cloud's means.

Example:
    >>> _figure_files({"plot_path": "*uncertainty/", "include_weighted_entropy": False}, None)[0]
    ('cloud', '*uncertainty/point_wise_entropy_figure.svg')
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.config.step_files import StepPlace
from vl3d_focal.errors import DataError
from vl3d_focal.inference.uncertainty import REDUCE_FUNCTIONS
from vl3d_focal.registry import STEPS
from vl3d_focal.reports.uncertainty_figures import FIGURE_NAMES
from vl3d_focal.schema_annotations import (
    CLOUD_FOLDER_OUTPUT,
    CLOUD_SUFFIXES,
    PATH_ANNOTATION,
    no_effect,
    optional_output_schema,
)
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.evaluate import CLASS_NAME, check_eval, class_names_schema, names_list

if TYPE_CHECKING:
    from vl3d_focal.data.records import CloudRecord
    from vl3d_focal.inference.uncertainty_output import Clustering
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)

NAME = "ClassificationUncertaintyEvaluator"


def figure_folder(plot_path: str) -> str:
    """``plot_path`` as a folder (VL3D's ``"*uncertainty/"``), ending with ``/``.

    Example:
        >>> figure_folder("*uncertainty"), figure_folder("*uncertainty/")
        ('*uncertainty/', '*uncertainty/')
    """
    return plot_path if plot_path.endswith("/") else f"{plot_path}/"


def _clustering(step: Mapping[str, Any], state: PipelineState, record: CloudRecord) -> Clustering | None:
    """The clustering of a cloud's points on the model's input features as the model sees them
    (imputed, projected: :func:`~vl3d_focal.inference.prediction.bundle_view`; a point a
    ``RemovalImputer`` left out takes its nearest kept point's), None when the model has none."""
    from vl3d_focal.data.field_inputs import cloud_features
    from vl3d_focal.data.model_view import ModelView
    from vl3d_focal.inference.prediction import bundle_view
    from vl3d_focal.inference.uncertainty_output import Clustering

    if not record.loaded:
        raise DataError(f"{NAME}: {streamed_clusters(record.path)}")
    bundle = state.require_bundle(step=NAME)
    if not bundle.feature_names:
        logger.warning("%s: the model has no input features to cluster the points on; no clusters", NAME)
        return None
    view = bundle_view(record, bundle)
    features = cloud_features(view, feature_names=bundle.feature_names, miners=bundle.miners)
    return Clustering(
        features=view.all_points(features) if isinstance(view, ModelView) else features,
        num_clusters=step["num_clusters"],
        max_iter=step["clustering_max_iters"],
        batch_size=step["clustering_batch_size"],
        entropy_weights=step["clustering_entropy_weights"],
        reduce=step["clustering_reduce_function"],
    )


def streamed_clusters(path: object) -> str:
    """Why ``include_clusters`` cannot run on the cloud at ``path``, streamed by its predict step (at
    validation, and at the run).

    Example:
        >>> streamed_clusters("big.laz")[67:114]
        'big.laz is predicted tile by tile from its file'
    """
    return (
        f"include_clusters clusters the features of every point at once, and {path} is predicted tile by tile "
        "from its file (more points than the predict step's chunk_points); give that predict step chunk_points "
        "null (or more than the cloud's points) to predict it in memory, or set include_clusters false"
    )


def _summary_line(record: CloudRecord, summary: Mapping[str, Any]) -> str:
    classes = ", ".join(f"{name} {value:.3f}" for name, value in summary["class_entropy"].items() if value is not None)
    return (
        f"{record.path.name}: uncertainty of {summary['points']} points: mean entropy "
        f"{summary['mean_entropy'] or 0.0:.4f}, mean ambiguity {summary['mean_ambiguity'] or 0.0:.4f}; "
        f"mean entropy by predicted class: {classes or 'none'}"
    )


def run_uncertainty_evaluator(step: Mapping[str, Any], state: PipelineState) -> None:
    """Evaluates the uncertainty of every predicted cloud (module docstring).

    Example:
        >>> from vl3d_focal.steps.predict import run_previous_model
        >>> run_previous_model(with_defaults({"predict": "PreviousModel"}), state)
        >>> run_uncertainty_evaluator(with_defaults({"eval": "ClassificationUncertaintyEvaluator",
        ...     "report_path": "*uncertainty.laz", "plot_path": "*plots/"}), state)
        >>> (out / "uncertainty.laz").is_file(), (out / "plots" / "class_ambiguity_figure.svg").is_file()
        (True, True)
    """
    from vl3d_focal.inference.uncertainty_output import UncertaintyOptions, evaluate_uncertainty
    from vl3d_focal.reports.uncertainty_figures import write_uncertainty_figures
    from vl3d_focal.steps.evaluate import evaluation_classes, ignored_classes
    from vl3d_focal.steps.facts import UncertaintyFacts

    mapping, names = evaluation_classes(step, state)
    ignore = tuple(ignored_classes(step, names))
    for record in state.clouds:
        options = UncertaintyOptions(
            class_names=names,
            ignore=ignore,
            include_probabilities=step["include_probabilities"],
            include_weighted_entropy=step["include_weighted_entropy"],
            weight_by_predictions=step["weight_by_predictions"],
            clustering=_clustering(step, state, record) if step["include_clusters"] else None,
        )
        report = expand_output(step["report_path"], prefix=record.prefix) if step["report_path"] else None
        found = evaluate_uncertainty(record, mapping=mapping, options=options, report_path=report)
        figures = {}
        if step["plot_path"]:
            figures = write_uncertainty_figures(
                found.measures,
                reference=found.reference,
                predicted=found.predicted,
                class_names=names,
                folder=expand_output(figure_folder(step["plot_path"]), prefix=record.prefix),
                kernel_points=step["gaussian_kernel_points"],
                cloud=record.path.name,
            )
        state.facts.uncertainties.append(
            UncertaintyFacts(cloud=str(record.path), report_path=report, summary=found.summary, figures=figures)
        )
        logger.info(_summary_line(record, found.summary))


def _figure_files(step: Mapping[str, Any], _place: StepPlace) -> Sequence[tuple[str, str]]:
    plot_path = step.get("plot_path")
    if not isinstance(plot_path, str):
        return []
    left_out = {
        "WeightedEntropy": not step.get("include_weighted_entropy", True),
        "ClusterWiseEntropy": not step.get("include_clusters", False),
    }
    return [
        ("cloud", figure_folder(plot_path) + name)
        for measure, name in FIGURE_NAMES.items()
        if not left_out.get(measure)
    ]


CLUSTER_COUNTS = ("num_clusters", "clustering_max_iters", "clustering_batch_size")


def _unused_setting_issues(step: Mapping[str, Any], at: tuple) -> Iterator[Issue]:
    """The counts VL3D's specs set to 0 (and the null reduce function) are refused only where used."""
    if step.get("include_clusters") is True:
        for key in CLUSTER_COUNTS:
            if isinstance(step.get(key), int) and step[key] < 1:
                yield at + (key,), f"include_clusters true needs {key} of at least 1; got {step[key]}"
        if "clustering_reduce_function" in step and step["clustering_reduce_function"] is None:
            yield at + ("clustering_reduce_function",), f"include_clusters true needs one of {list(REDUCE_FUNCTIONS)}"
    plot_path, points = step.get("plot_path"), step.get("gaussian_kernel_points")
    if not isinstance(plot_path, str):
        return
    if isinstance(points, int) and points < 1:
        yield at + ("gaussian_kernel_points",), f"a plot_path needs gaussian_kernel_points of at least 1; got {points}"
    path = PurePosixPath(plot_path)
    if not plot_path.endswith("/") and path.suffix[1:].isalpha():
        yield (
            at + ("plot_path",),
            f"plot_path is a folder; {plot_path!r} would make a folder named {path.name}/ of the figures: give a "
            f"folder such as {f'{path.parent}/'!r}",
        )


def check_uncertainty(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """:func:`~vl3d_focal.steps.evaluate.check_eval`; the clustering and figure settings where
    used; no probability named as a standard LAS dimension; a note for clusters of a model of no
    features (``known["model_fnames"]``).

    Example:
        >>> [p for p, _ in check_uncertainty({"class_names": ["red"], "plot_path": "*u/plot.svg"}, (), {})]
        [('plot_path',), ('class_names', 0)]
    """
    from vl3d_focal.io.las import STANDARD_DIMENSIONS

    yield from check_eval(step, at, known)
    yield from _unused_setting_issues(step, at)
    names = step.get("class_names") if isinstance(step.get("class_names"), list) else None
    if step.get("include_probabilities", True) is True:
        for k, name in enumerate(names if names is not None else known.get("class_names") or []):
            if isinstance(name, str) and name.lower() in STANDARD_DIMENSIONS:
                yield (
                    at + ("class_names", k) if names is not None else at,
                    f"{name!r} is a standard LAS dimension: its probability cannot be written under that name; set "
                    "include_probabilities false or give the class another name",
                )
    if step.get("include_clusters") is True and known.get("streamed_clouds"):
        yield at + ("include_clusters",), streamed_clusters(known["streamed_clouds"][0][0])
    if step.get("include_clusters") is True and known.get("model_fnames") == []:
        yield (
            at + ("include_clusters",),
            (
                f"{NOTE_PREFIX}the model is trained on no features (fnames []), and the clusters are made on the "
                "model's input features: no cluster-wise entropy"
            ),
        )


def _flag(description: str, default: bool) -> dict[str, Any]:
    return {"type": "boolean", "default": default, "description": description}


def _count(description: str, default: int) -> dict[str, Any]:
    """A count VL3D's specs may set to 0 where it is unused (its clusters or figures off)."""
    return {"type": "integer", "minimum": 0, "default": default, "description": description}


def uncertainty_schema() -> dict[str, Any]:
    """The ``ClassificationUncertaintyEvaluator`` step's schema (VL3D's keys and defaults).

    Example:
        >>> uncertainty_schema()["properties"]["clustering_reduce_function"]["default"]
        'max'
    """
    return closed_object(
        {
            "eval": {"const": NAME, "description": "How uncertain the predictions are (entropy, ambiguity)."},
            "class_names": class_names_schema(),
            "ignore_classes": names_list(CLASS_NAME, "Classes whose reference points are left out.", []),
            "include_probabilities": _flag("Write each class's probability in the report (named by the class).", True),
            "include_weighted_entropy": _flag("Compute the entropy weighted by 1 - the classes' shares.", True),
            "include_clusters": _flag(
                "Compute the cluster-wise entropy (MiniBatchKMeans on the model's input features; a cloud in "
                "memory only).",
                False,
            ),
            "weight_by_predictions": _flag(
                "Weigh the classes by their share of the predictions instead of the reference classes.", False
            ),
            "num_clusters": _count("Clusters of the cluster-wise entropy.", 8),
            "clustering_max_iters": _count("Most iterations of the clustering.", 128),
            "clustering_batch_size": _count("Points per batch of the clustering.", 4096),
            "clustering_entropy_weights": _flag("Weigh each point by its entropy in the clustering.", False),
            "clustering_reduce_function": {
                "enum": [*REDUCE_FUNCTIONS, None],
                "default": "max",
                "description": "How a cluster's point-wise entropies become its entropy (null: no clusters).",
            },
            "gaussian_kernel_points": _count("Points of each violin plot's density in the figures.", 256),
            "full_dataset_class_count": no_effect(
                {"description": "Accepted as VL3D accepts it, which reads it nowhere."}, why="VL3D reads it nowhere"
            ),
            "report_path": optional_output_schema(
                "LAS/LAZ report: the evaluated points with the measures as extra dimensions.",
                scope="cloud",
                suffixes=CLOUD_SUFFIXES,
            ),
            "plot_path": {
                "type": ["string", "null"],
                "minLength": 1,
                "default": None,
                PATH_ANNOTATION: CLOUD_FOLDER_OUTPUT,
                "description": "Folder of the SVG figures, one per measure (VL3D's '*uncertainty/'). A leading '*' "
                "stands for the output prefix; null: not drawn.",
            },
        },
        required=["eval"],
        description="Evaluates how uncertain the predictions of each cloud are (VL3D's "
        "ClassificationUncertaintyEvaluator).",
    )


STEPS.register(
    step_entry(
        kind="eval",
        name=NAME,
        handler=run_uncertainty_evaluator,
        schema=uncertainty_schema(),
        needs=("predictions", "mapping"),
        chief_only=True,
        per_cloud=True,
        outputs=_figure_files,
        check=check_uncertainty,
    )
)
