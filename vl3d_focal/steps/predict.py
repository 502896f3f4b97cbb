"""The ``predict`` steps: ``PreviousModel`` (the model trained earlier), ``ModelLoader`` and
``PredictivePipeline`` (a model file written by ``PredictiveModelWriter`` or
``PredictivePipelineWriter``, whatever its name ends with: VL3D's ``.model`` and ``.pipe``
names are file names here, the file holds everything needed to predict).

Both apply the model to every input cloud; a cloud bigger than ``chunk_points`` is predicted
tile by tile with the same result (in one go for a model whose field is the whole cloud, VL3D's
radius 0), and one that is not in memory (nobody trained on it) is
streamed from its file, its predictions kept on disk for the eval and writer steps. With
``buffer``, each cloud is predicted with the points of the neighbouring input clouds within
that distance as context (:mod:`vl3d_focal.inference.buffered`). With ``separation_factor``,
the receptive fields lie that many radii apart instead of the model's own spacing (more
overlapping fields per point, their probabilities averaged), and with ``rotations`` each field
is predicted in that many turns about the vertical axis (:func:`prediction_bundle`).

Both are per-cloud steps: in a run of many clouds they run cloud by cloud, in parallel on Dask
workers with that executor; ``ModelLoader`` loads its model once in the driver first
(``prepare``) and once per worker process.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("ModelLoader").metadata["gives"]
    ('model', 'predictions', 'mapping')
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.errors import DataError
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import PATH_ANNOTATION, no_effect
from vl3d_focal.steps.class_mapping import align_mapping, model_mapping_issues
from vl3d_focal.steps.definition import step_entry
from vl3d_focal.steps.facts import loaded_model_facts
from vl3d_focal.steps.loaded_fields import loaded_field_cloud_files, stored_folder_issues, with_stored_field_clouds
from vl3d_focal.steps.predict_checks import (
    WHOLE_CLOUD_BUFFER,
    streamed_clouds,
    streamed_support_issues,
    trained_pre_processing,
    whole_cloud_buffer_issues,
    whole_cloud_field,
)
from vl3d_focal.steps.train_checks import AUTO_GAPS

if TYPE_CHECKING:
    from vl3d_focal.models.bundle import ModelBundle
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_POINTS = 250_000
"""Default ``chunk_points``: clouds up to this size are predicted in one go.

250,000 keeps peak memory nearly flat in cloud size (benchmarks/README.md, Pipeline section)."""


def _chunk_points_schema() -> dict[str, Any]:
    return {
        "type": ["integer", "null"],
        "minimum": 1000,
        "default": DEFAULT_CHUNK_POINTS,
        "description": "Bounds the memory of prediction: a cloud of more points is predicted in "
        "square xy tiles of about this many points (each tile's fields, features and "
        "probabilities only; on two cores or more, two tiles at once), with the same result as in "
        "one go; null predicts every cloud in one go.",
    }


def _buffer_schema() -> dict[str, Any]:
    return {
        "type": ["number", "null"],
        "minimum": 0,
        "default": None,
        "description": "Metres of context: each cloud is predicted with the points of the neighbouring "
        "input clouds within this distance of its bounding box (only its own points are written), "
        "which fixes objects cut by tile edges. Two field radii (a point's receptive field: its "
        "fields' points) give nearly every point the prediction of the whole survey at once. "
        "null: no buffer.",
    }


def _separation_schema() -> dict[str, Any]:
    return {
        "type": ["number", "null"],
        "exclusiveMinimum": 0,
        "default": None,
        "description": "Distance between the centres of the receptive fields at prediction, in radii, "
        "instead of the model's own (its pre_processing separation_factor, grid support strategy): "
        "a smaller value lays more overlapping fields over each point, whose probabilities are "
        "averaged; prediction takes longer (about (own / this)^2 as many fields) and is usually more "
        "accurate (IGN example, four held-out tiles: 0.4 against the trained 0.8, benchmarks/README.md). "
        "null: the model's own.",
    }


def _rotations_schema() -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": 64,
        "default": 1,
        "description": "Test-time augmentation: each receptive field is predicted this many times, "
        "turned about the vertical axis by 360 / rotations degrees each time (4: quarter turns), "
        "and the probabilities averaged. The fields and features are the same; the network runs "
        "this many times. 1: once, as trained.",
    }


def prediction_bundle(step: Mapping[str, Any], bundle: ModelBundle) -> ModelBundle:
    """The bundle that predicts for ``step``: ``bundle`` with the step's ``separation_factor`` and
    ``rotations`` (a copy; ``bundle`` itself, which later steps may write, keeps the model's own).

    Example:
        >>> denser = prediction_bundle({"separation_factor": 0.4, "rotations": 4}, state.bundle)
        >>> denser.field_spec.separation_factor, denser.predict_rotations, state.bundle.predict_rotations
        (0.4, 4, 1)
    """
    separation, rotations = step.get("separation_factor"), int(step.get("rotations") or 1)
    spec = bundle.field_spec
    if spec is None:
        for name, value in (("separation_factor", separation), ("rotations", rotations)):
            if value not in (None, 1):
                logger.warning(
                    "predict: %s %s has no effect: the model predicts each point from its own features", name, value
                )
        return bundle
    if rotations != bundle.predict_rotations:
        logger.info("predict: every receptive field predicted in %d turns about the vertical axis", rotations)
        bundle = replace(bundle, predict_rotations=rotations)
    if separation is not None and spec.support_strategy != "grid":
        logger.warning(
            "predict: separation_factor %s has no effect: the model centres its fields on furthest points", separation
        )
    elif separation is not None:
        logger.info(
            "predict: receptive fields %s radii apart (the model's own: %s)", separation, spec.separation_factor
        )
        bundle = bundle.with_field_separation(separation)
    return bundle


def predict_clouds(step: Mapping[str, Any], state: PipelineState, bundle: ModelBundle) -> None:
    """Predicts every cloud of ``state`` with ``bundle`` (see the module docstring).

    Example:
        >>> predict_clouds({"chunk_points": 1000, "buffer": None}, state, state.bundle)
        >>> state.clouds[0].streamed, state.predicted_names[:2]  # more than chunk_points points: tile by tile
        (True, ['ground', 'vegetation'])
    """
    from vl3d_focal.data.features import NonFiniteFeatures
    from vl3d_focal.data.records import check_codes
    from vl3d_focal.inference.buffered import predict_buffered
    from vl3d_focal.inference.network import warm_up
    from vl3d_focal.inference.prediction import predict_cloud
    from vl3d_focal.inference.streaming import predict_streamed

    state.bundle = bundle
    align_mapping(state, source=f"model {state.model_file}" if state.model_file else "the model trained before")
    state.predicted_names = list(bundle.class_names)
    bundle = prediction_bundle(step, bundle)
    chunk_points = step["chunk_points"]
    if bundle.field_spec is not None and bundle.field_spec.whole_cloud:  # VL3D's radius 0: one field per cloud
        if step["buffer"] is not None:
            raise DataError(f"predict: {WHOLE_CLOUD_BUFFER}")  # validation reports it where the model is known
        chunk_points = None  # its one field needs the whole cloud at once
    warm_up(bundle)  # the model's tracing overlaps the first cloud's features and fields
    if "mapping" in state.later_needs:  # a later step scores the clouds: unmapped codes fail now, not after
        mapping = state.require_mapping(step="predict")
        for record in state.clouds:
            check_codes(record, mapping)
    for record in state.clouds:
        if record.result is not None:
            record.result.close()
            record.result = None
        record.left_out_points = 0
        try:
            if step["buffer"] is not None:
                record.result = predict_buffered(
                    record, bundle, buffer=step["buffer"], index=state.tile_index, chunk_points=chunk_points
                )
            elif chunk_points is not None and not record.loaded and record.num_points > chunk_points:
                record.result = predict_streamed(record, bundle, chunk_points=int(chunk_points))
            else:
                predict_cloud(record, bundle, chunk_points=chunk_points)
        except NonFiniteFeatures as error:
            if state.imputers and not bundle.imputers:  # the spec's imputers: for the models trained after them
                raise NonFiniteFeatures(f"{error}; {UNIMPUTED_MODEL}") from error
            raise


UNIMPUTED_MODEL = (
    "the model was trained without imputers, and an imputer step applies only to the models trained after it: "
    "retrain the model with the imputer step before its train step"
)
"""What a NaN feature error adds when the spec has imputer steps and the model no imputers."""


def run_previous_model(step: Mapping[str, Any], state: PipelineState) -> None:
    """``{"predict": "PreviousModel"}``: predicts with the model trained by an earlier step.

    Example:
        >>> run_previous_model({"predict": "PreviousModel", "chunk_points": None, "buffer": None}, state)
        >>> state.clouds[0].result.classes.shape
        (1531,)
    """
    predict_clouds(step, state, state.require_bundle(step="predict"))


def load_model(step: Mapping[str, Any], state: PipelineState) -> None:
    """``ModelLoader``'s and ``PredictivePipeline``'s preparation: reads the model's description
    into ``state`` (once, in the driver; the Keras model itself is loaded where it predicts:
    by :meth:`~vl3d_focal.steps.state.PipelineState.require_bundle` in this process, by each
    Dask worker otherwise, so that a survey's driver never imports TensorFlow for it) and checks
    the spec's class mapping against the model's, before any tile
    (:func:`~vl3d_focal.steps.class_mapping.align_mapping`).

    Example:
        >>> load_model({"predict": "ModelLoader", "model_path": str(model_file)}, state)
        >>> state.model_file == str(model_file), state.bundle.feature_names, state.bundle.model
        (True, ['intensity'], None)
    """
    from vl3d_focal.models.model_file import load_bundle, read_pipeline

    state.bundle = load_bundle(step["model_path"], with_model=False)
    state.model_file = step["model_path"]
    align_mapping(state, source=f"model {step['model_path']}")
    state.facts.loaded_models.append(loaded_model_facts(path=str(step["model_path"]), bundle=state.bundle))
    if step["predict"] == "PredictivePipeline" and read_pipeline(step["model_path"]) is None:
        logger.info(
            "%s holds a model without pipeline (PredictiveModelWriter): its classes are read "
            "with the model's class mapping",
            step["model_path"],
        )


def run_model_loader(step: Mapping[str, Any], state: PipelineState) -> None:
    """``{"predict": "ModelLoader" | "PredictivePipeline", "model_path": ...}``: predicts with a
    saved model (loaded by :func:`load_model` unless ``state`` already holds it), writing the clouds
    of its fields where its stored ``receptive_fields_dir`` says (:mod:`~vl3d_focal.steps.loaded_fields`).

    Example:
        >>> run_model_loader({"predict": "ModelLoader", "model_path": str(model_file),
        ...                   "chunk_points": None, "buffer": None}, state)
        >>> state.model_file == str(model_file), state.clouds[0].result.classes.shape
        (True, (1531,))
    """
    if state.bundle is None or state.model_file != step["model_path"]:
        load_model(step, state)
    predict_clouds(step, state, with_stored_field_clouds(state.require_bundle(step="predict")))


def _loader_schema(name: str, description: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    return closed_object(
        {
            "predict": {"const": name, "description": description},
            "model_path": {
                "type": "string",
                "minLength": 1,
                PATH_ANNOTATION: "input",
                "description": "The model file written by PredictiveModelWriter or PredictivePipelineWriter "
                "(any file name, e.g. VL3D's .model or .pipe), relative to the spec's folder.",
            },
            "chunk_points": _chunk_points_schema(),
            "buffer": _buffer_schema(),
            "separation_factor": _separation_schema(),
            "rotations": _rotations_schema(),
            **extra,
        },
        required=["predict", "model_path"],
        description="Predicts the input clouds with a saved model.",
    )


def check_previous_model(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """The input clouds the trained model could not predict: they lack a dimension its
    ``fnames: ["AUTO"]`` took from the training clouds (reported at that ``fnames``); the class
    mapping of the steps before it against the one the model was trained with
    (``known["trained_mapping"]``); a ``buffer`` when the train step's field is the whole cloud.

    Example:
        >>> list(check_previous_model({"predict": "PreviousModel"}, (), {}))
        []
    """
    known["streamed_clouds"] = None  # the train step before it reads the clouds into memory
    yield from known.pop(AUTO_GAPS, [])
    yield from model_mapping_issues(
        known, known.get("trained_mapping"), at + ("predict",), source="the model trained before"
    )
    yield from whole_cloud_buffer_issues(step, at, pre_processing=trained_pre_processing(at, known))


STEPS.register(
    step_entry(
        kind="predict",
        name="PreviousModel",
        handler=run_previous_model,
        schema=closed_object(
            {
                "predict": {"const": "PreviousModel", "description": "Use the model trained earlier in this pipeline."},
                "chunk_points": _chunk_points_schema(),
                "buffer": _buffer_schema(),
                "separation_factor": _separation_schema(),
                "rotations": _rotations_schema(),
            },
            required=["predict"],
            description="Predicts the input clouds with the model trained by an earlier step.",
        ),
        needs=("trained_model",),
        gives=("predictions",),
        check=check_previous_model,
        chief_only=True,
        per_cloud=True,
    )
)


def check_model_loader(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """The spec's class mapping against the one the model was trained with, read from its file's
    metadata when it is there (:func:`~vl3d_focal.steps.class_mapping.align_mapping` checks them
    at the run otherwise); the
    model's classes and kind become what later steps are checked against (an evaluator's
    ``ignore_classes``); its stored ``receptive_fields_dir`` needs a leading ``*`` for several clouds.

    Example:
        >>> known = {}
        >>> list(check_model_loader({"model_path": str(model_file)}, (), known)), known["class_names"][:2]
        ([], ['ground', 'vegetation'])
    """
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.steps.model_file_checks import model_metadata

    path = step.get("model_path")
    known["class_names"] = known["model_name"] = known["model_fnames"] = known["streamed_clouds"] = None
    metadata, problems = model_metadata(path, at=at + ("model_path",))  # not a model file: an issue
    yield from problems
    if metadata is None:
        return
    from vl3d_focal.models.model_file import DEFAULT_MODEL

    try:
        model = ClassMapping.from_config(metadata["mapping"])
    except (KeyError, TypeError, ValueError):  # the run reports an unusable mapping
        return
    known["class_names"] = list(metadata["class_names"])
    known["model_name"] = str(metadata.get("model_name", DEFAULT_MODEL))
    yield from model_mapping_issues(known, model, at + ("model_path",), source=f"model {path}")
    chunk_points = step.get("chunk_points", DEFAULT_CHUNK_POINTS)
    whole_cloud = whole_cloud_field(metadata.get("field_spec"))
    streamed = streamed_clouds(step, at, known, chunk_points=chunk_points, whole_cloud=whole_cloud)
    known["streamed_clouds"] = streamed
    yield from streamed_support_issues(step, at, metadata=metadata, streamed=streamed, chunk_points=chunk_points)
    yield from whole_cloud_buffer_issues(step, at, pre_processing=metadata.get("field_spec"))
    yield from stored_folder_issues(metadata, path=str(path), at=at, clouds=known.get("clouds", 1))


LOADERS = {
    "ModelLoader": ("Load a model written by PredictiveModelWriter.", {}),
    "PredictivePipeline": (
        "Load a predictive pipeline written by PredictivePipelineWriter (or a model).",
        {
            "nn_path": {
                "description": "VL3D's path to the network, when it moved.",
                "default": None,
                "anyOf": [
                    {"type": "null", "title": "null"},
                    no_effect({"type": "string", "title": "a path"}, why="the network is inside the model file here"),
                ],
            }
        },
    ),
}
for _name, (_description, _extra) in LOADERS.items():
    STEPS.register(
        step_entry(
            kind="predict",
            name=_name,
            handler=run_model_loader,
            schema=_loader_schema(_name, _description, _extra),
            gives=("model", "predictions", "mapping"),
            chief_only=True,
            per_cloud=True,
            prepare=load_model,
            check=check_model_loader,
            numbered_outputs=loaded_field_cloud_files,
        )
    )
