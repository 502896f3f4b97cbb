"""The ``eval`` step ``ClassificationEvaluator``: metrics of the predictions of every cloud.

``report_path`` ending in ``.json`` (the default ``*eval/evaluation.json``) writes this
project's evaluation files (:func:`~vl3d_focal.reports.files.evaluation_files`): the JSON (OA,
mIoU, macro_F1, MCC, Kappa, per_class..., the ``feature_warnings`` of the prediction:
features far from the model's training data, and ``left_out_points`` when a ``RemovalImputer``
of the model left points out, which took their nearest kept point's prediction), a text report, the class distribution (CSV) and,
unless ``pictures`` is false, confusion-matrix and class-distribution pictures and a top-down
picture (reference, predicted, misclassified), SVG files: about 0.1 s for a cloud of 100,000
points, which a survey of many small tiles may still spare.
With another suffix (VL3D's ``.log``), it is VL3D's text report of the ``metrics``. VL3D's
other outputs (``class_report_path``, ``confusion_matrix_report_path``,
``confusion_matrix_plot_path``, ``class_distribution_report_path``,
``class_distribution_plot_path``) are written where given
(:mod:`vl3d_focal.reports.vl3d_evaluation`); ``class_names`` name the classes in the reports
and ``ignore_classes`` leaves the points of those reference classes out.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("ClassificationEvaluator").metadata["needs"]
    ('predictions', 'mapping')
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue, as_list
from vl3d_focal.config.messages import did_you_mean
from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.config.step_files import StepPlace
from vl3d_focal.errors import DataError
from vl3d_focal.registry import STEPS
from vl3d_focal.reports.files import evaluation_files, is_picture
from vl3d_focal.reports.vl3d_metrics import CLASS_METRICS, GLOBAL_METRICS
from vl3d_focal.schema_annotations import PLOT_SUFFIXES, optional_output_schema, output_path_schema
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.facts import EvaluationFacts

if TYPE_CHECKING:
    from vl3d_focal.data.records import CloudRecord
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)

JSON_SUFFIX = ".json"
TEXT_OUTPUTS = ("class_report_path", "confusion_matrix_report_path", "class_distribution_report_path")
PLOT_OUTPUTS = ("confusion_matrix_plot_path", "class_distribution_plot_path")
CLASS_NAME = {"type": "string", "minLength": 1}


def _training_counts(state: PipelineState, *, num_classes: int) -> dict[str, list[int]] | None:
    counts = state.bundle.loss_info.class_counts if state.bundle is not None else []
    return {"training": list(counts)} if len(counts) == num_classes else None


def reordered_names_problem(names: Sequence[str], classes: Sequence[str]) -> str | None:
    """Why ``class_names`` that list the predictions' classes in another order cannot be used:
    they name the classes by position, so each class would be reported under another's name.

    Example:
        >>> reordered_names_problem(["b", "a"], ["a", "b"])
        "class_names names the predictions' classes by position, but lists them in another order than theirs ['a', 'b']: each would be reported under another's name; list them in that order"
        >>> reordered_names_problem(["ground", "tree"], ["a", "b"]) is None  # other names: a relabelling
        True
    """
    if not all(isinstance(name, str) for name in [*names, *classes]) or sorted(names) != sorted(classes):
        return None  # names of other types: the schema reports them
    if list(names) == list(classes):
        return None
    return (
        f"class_names names the predictions' classes by position, but lists them in another order than theirs "
        f"{list(classes)}: each would be reported under another's name; list them in that order"
    )


def evaluation_classes(step: Mapping[str, Any], state: PipelineState) -> tuple[Any, list[str]]:
    """The class mapping of the predictions and the names an eval step reports them under (its
    ``class_names``, else the mapping's).

    Example:
        >>> evaluation_classes({"class_names": None}, state)[1][:2]
        ['ground', 'vegetation']
    """
    mapping = state.require_mapping(step="eval")
    if state.predicted_names is not None and list(mapping.names) != state.predicted_names:
        raise DataError(
            f"eval step: the class mapping's classes {list(mapping.names)} differ from the predictions' "
            f"{state.predicted_names}; expected the same classes in the same order"
        )
    names = list(step["class_names"] or mapping.names)
    problem = reordered_names_problem(names, mapping.names)
    if problem:
        raise DataError(f"eval step: {problem}")
    if len(names) != mapping.num_classes:
        raise DataError(
            f"eval step class_names: expected {mapping.num_classes} names (the classes "
            f"{list(mapping.names)}), got {len(names)}: {names}"
        )
    return mapping, names


def ignored_classes(step: Mapping[str, Any], names: Sequence[str]) -> list[int]:
    """The indices of an eval step's ``ignore_classes`` among ``names``.

    Example:
        >>> ignored_classes({"eval": "ClassificationEvaluator", "ignore_classes": ["b"]}, ["a", "b"])
        [1]
    """
    unknown = [name for name in step["ignore_classes"] if name not in names]
    if unknown:  # validation checks them where the spec names the classes; here the model does
        raise DataError(
            f"{step['eval']}: ignore_classes {unknown} are not classes of the predictions ({list(names)})"
            f"{did_you_mean(unknown[0], names)}"
        )
    return [list(names).index(name) for name in step["ignore_classes"]]


def model_origin(state: PipelineState) -> dict[str, Any]:
    """Which model gave the state's predictions, as an evaluation records it
    (:class:`~vl3d_focal.steps.facts.EvaluationFacts`): ``model`` (its registered kind) and
    ``file`` (the file it was loaded from) or ``training`` (its index in the run's trainings);
    empty without a model.

    Example:
        >>> state.model_file, state.model_training = None, 1
        >>> model_origin(state)
        {'model': 'PointNetPwiseClassifier', 'training': 1}
    """
    if state.bundle is None:
        return {}
    if state.model_file is not None:
        return {"model": state.bundle.model_name, "file": str(state.model_file)}
    if state.model_training is not None:
        return {"model": state.bundle.model_name, "training": state.model_training}
    return {"model": state.bundle.model_name}


def _is_json(path: str) -> bool:
    return path.lower().endswith(JSON_SUFFIX)


def trained_on_warning(record: CloudRecord, state: PipelineState) -> str | None:
    """The warning when the model scored on ``record`` trained on the same file (the training
    clouds its model keeps: those of a train step of this run, or of the run that wrote a loaded
    model file), else None.

    Example:
        >>> from dataclasses import replace
        >>> info = replace(state.bundle.loss_info, training_clouds=[str(record.path)])
        >>> trained_on_warning(record, replace(state, bundle=replace(state.bundle, loss_info=info)))  # doctest: +ELLIPSIS
        'scores computed on ....las, a cloud the model trained on: they overstate what it does on new data'
        >>> trained_on_warning(record, state) is None
        True
    """
    clouds = state.bundle.loss_info.training_clouds if state.bundle is not None else []
    if not any(_same_file(record.path, cloud) for cloud in clouds):
        return None
    return (
        f"scores computed on {record.path.name}, a cloud the model trained on: they overstate what it does on new data"
    )


def _same_file(path: Path, other: str) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:  # one is gone: compare their names
        return path.resolve() == Path(other).resolve()


def run_eval(step: Mapping[str, Any], state: PipelineState) -> None:
    """Evaluates every cloud and writes the reports the step asks for (module docstring).

    Example:
        >>> from vl3d_focal.steps.predict import run_previous_model
        >>> run_previous_model(with_defaults({"predict": "PreviousModel"}), state)
        >>> run_eval(with_defaults({"eval": "ClassificationEvaluator", "report_path": "*eval.json"}), state)
        >>> (out / "eval.json").is_file()
        True
    """
    import numpy as np

    from vl3d_focal.data.labels import IGNORE_LABEL
    from vl3d_focal.inference.scoring import evaluate_predictions
    from vl3d_focal.reports.evaluation_report import write_evaluation
    from vl3d_focal.reports.topdown import plot_topdown
    from vl3d_focal.reports.vl3d_evaluation import write_vl3d_evaluation

    mapping, names = evaluation_classes(step, state)
    ignore = ignored_classes(step, names)
    for record in state.clouds:
        metrics, (xyz, reference, predicted) = evaluate_predictions(
            record, mapping=mapping, class_names=names, ignore=ignore
        )
        metrics["feature_warnings"] = list(record.feature_warnings)
        warning = trained_on_warning(record, state)
        if warning is not None:  # as the prediction's feature warnings: logged, and in the cloud's warnings
            record.warnings.append(warning)
            logger.warning("%s", warning)
        if record.left_out_points:  # a RemovalImputer's: predicted from their nearest kept point
            metrics["left_out_points"] = int(record.left_out_points)
        report = expand_output(step["report_path"], prefix=record.prefix)
        written: dict[str, Any] = {}
        if _is_json(report):
            written = write_evaluation(
                metrics,
                report_path=report,
                class_colors=list(mapping.colors),
                class_counts=_training_counts(state, num_classes=len(names)),
                pictures=step["pictures"],
            )
            if step["pictures"]:
                written["topdown_svg"] = plot_topdown(
                    xyz,
                    reference,
                    predicted,
                    class_names=names,
                    colors=list(mapping.colors),
                    path=evaluation_files(report)["topdown_svg"],
                    ignore_label=IGNORE_LABEL,
                )
        paths = {
            key: expand_output(step[key], prefix=record.prefix)
            for key in (*TEXT_OUTPUTS, *PLOT_OUTPUTS)
            if step[key] is not None
        }
        if not _is_json(report):
            paths["report_path"] = report
        write_vl3d_evaluation(
            metrics["confusion_matrix"],
            class_names=names,
            metrics=step["metrics"],
            class_metrics=step["class_metrics"],
            paths=paths,
            colors=list(mapping.colors),
        )
        pictures = {name: str(path) for name, path in written.items() if is_picture(name)}
        pictures.update({key: path for key, path in paths.items() if path.lower().endswith((".svg", ".png"))})
        state.facts.evaluations.append(
            EvaluationFacts(
                cloud=str(record.path),
                report_path=str(report),
                metrics=dict(metrics),
                class_colors=list(mapping.colors),
                pictures=pictures,
                model=model_origin(state),
            )
        )
        scored = int(np.asarray(metrics["confusion_matrix"]).sum())
        logger.info(
            "%s: OA=%.4f mIoU=%.4f macro_F1=%.4f (%d scored points) -> %s",
            record.path.name,
            metrics["OA"],
            metrics["mIoU"],
            metrics["macro_F1"],
            scored,
            report,
        )


def _report_files(step: Mapping[str, Any], _place: StepPlace) -> Sequence[tuple[str, str]]:
    if not _is_json(step["report_path"]):
        return []
    files = evaluation_files(step["report_path"])
    pictures = step.get("pictures", True)
    return [("cloud", str(path)) for key, path in files.items() if key != "json" and (pictures or not is_picture(key))]


def names_list(items: dict[str, Any], description: str, default: list[str] | None) -> dict[str, Any]:
    """The schema of a list of distinct names (classes, metrics), with its default unless None.

    Example:
        >>> names_list({"type": "string"}, "Classes.", [])["default"]
        []
    """
    schema: dict[str, Any] = {"type": "array", "uniqueItems": True, "items": items, "description": description}
    return schema if default is None else {**schema, "default": default}


def class_names_schema() -> dict[str, Any]:
    """The ``class_names`` of an eval step: null (the classes' names) or one name per class.

    Example:
        >>> class_names_schema()["default"] is None
        True
    """
    return {
        "description": "Names of the classes in the reports (VL3D); null: the classes' names.",
        "default": None,
        "anyOf": [
            {"type": "null", "title": "null"},
            {"title": "a list of names", **names_list(CLASS_NAME, "Names.", None)},
        ],
    }


def eval_schema() -> dict[str, Any]:
    """The ``ClassificationEvaluator`` step's schema.

    Example:
        >>> eval_schema()["properties"]["metrics"]["default"][:3]
        ['OA', 'P', 'R']
    """
    return closed_object(
        {
            "eval": {
                "const": "ClassificationEvaluator",
                "description": "Compare predictions with the reference classes.",
            },
            "report_path": output_path_schema(
                "Evaluation report: .json writes the JSON (OA, mIoU, macro_F1, MCC, Kappa, per_class...) with a "
                "text report and plots beside it; another suffix (VL3D's .log) the text report of 'metrics'.",
                "*eval/evaluation.json",
                scope="cloud",
                suffixes=(),
            ),
            "pictures": {
                "type": "boolean",
                "default": True,
                "description": "With a .json report_path: also draw the confusion-matrix, class-distribution and "
                "top-down pictures (SVG files, about 0.1 s for a cloud of 100,000 points; false spares them, "
                "the JSON, text and CSV reports are still written).",
            },
            "class_names": class_names_schema(),
            "metrics": names_list(
                {"enum": list(GLOBAL_METRICS), "title": "metric"},
                "Metrics of the report_path text report (VL3D's).",
                list(GLOBAL_METRICS),
            ),
            "class_metrics": names_list(
                {"enum": list(CLASS_METRICS), "title": "class metric"},
                "Per-class metrics of the class report.",
                list(CLASS_METRICS),
            ),
            "ignore_classes": names_list(CLASS_NAME, "Classes whose reference points are not scored.", []),
            **{key: optional_output_schema(f"VL3D's {key} (text).", scope="cloud") for key in TEXT_OUTPUTS},
            **{
                key: optional_output_schema(
                    f"VL3D's {key} (.svg, .png or .pdf).", scope="cloud", suffixes=PLOT_SUFFIXES
                )
                for key in PLOT_OUTPUTS
            },
        },
        required=["eval"],
        description="Evaluates the predictions of each cloud.",
    )


def check_eval(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """``class_names`` names every class; ``ignore_classes`` are among them.

    Example:
        >>> [m for _, m in check_eval({"class_names": ["a"], "ignore_classes": ["b"]}, (), {})]
        ["unknown class 'b'; classes: ['a']"]
    """
    classes = known.get("class_names")
    names = step.get("class_names") if isinstance(step.get("class_names"), list) else None
    if names is not None and classes is not None and len(names) != len(classes):
        yield at + ("class_names",), f"expected one name per class ({len(classes)}: {classes}); got {len(names)}"
    problem = reordered_names_problem(names, classes) if names is not None and classes is not None else None
    if problem:
        yield at + ("class_names",), problem
    names = names if names is not None else classes
    for k, name in enumerate(as_list(step.get("ignore_classes"))):
        if names is not None and isinstance(name, str) and name not in names:
            yield at + ("ignore_classes", k), f"unknown class {name!r}; classes: {names}{did_you_mean(name, names)}"


STEPS.register(
    step_entry(
        kind="eval",
        name="ClassificationEvaluator",
        handler=run_eval,
        schema=eval_schema(),
        needs=("predictions", "mapping"),
        chief_only=True,
        per_cloud=True,
        outputs=_report_files,
        check=check_eval,
    )
)
