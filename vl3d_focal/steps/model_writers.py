"""The model ``writer`` steps: ``PredictiveModelWriter`` (and VL3D's ``ModelWriter``, the same
here) and ``PredictivePipelineWriter``.

Each writes one model file holding everything needed to predict (see
:mod:`vl3d_focal.models.model_file`), whatever its name ends with (VL3D's ``.model`` and
``.pipe`` are file names here). A predictive pipeline is that file plus what the pipeline
keeps besides the model; of VL3D's ``include_*`` flags, ``include_class_transformer`` is
honoured: with it (VL3D's default) the file reads a new cloud's reference classes through the
pipeline's class steps (``class_mapping``, ``ClassReducer``), without it as the model's class
values 0..C-1 (a model of the clouds' raw codes, trained with no class step, keeps them); so is ``include_miner``: with it (the default) the file keeps the miner steps'
recipes and computes the mined features of a new cloud, without it a new cloud must store them
as dimensions of those names; so is ``include_imputer``: with it (the default) the file keeps the
imputers of the training (:mod:`vl3d_focal.data.imputers`), without it a new cloud's features are
taken as they are. The other flags name components this project does not have; ``true`` is
accepted with a note.

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("PredictivePipelineWriter").metadata["needs"]
    ('model',)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import no_effect, output_path_schema
from vl3d_focal.steps.definition import step_entry

if TYPE_CHECKING:
    from vl3d_focal.steps.state import PipelineState

ABSENT_COMPONENTS = {
    "include_writer": (
        False,
        "writers are never stored in a predictive pipeline; add writer steps to the pipeline that applies it",
    ),
    "include_feature_transformer": (
        True,
        "a model here always keeps what its feature transformers gave it (its selected features, a "
        "PCATransformer's projection) and its feature normalisation",
    ),
    "ignore_predictions": (False, "a predictive pipeline here always predicts"),
}
"""VL3D flag -> (its default, why ``true`` has no effect here)."""


def run_model_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``PredictiveModelWriter`` / ``ModelWriter``: saves the current model with what it needs to predict.

    ``out_model`` is a model-level output: ``*`` is the first output prefix.

    Example:
        >>> run_model_writer({"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"}, state)
        >>> (out / "model" / "model.keras").is_file()
        True
    """
    from vl3d_focal.models.model_file import save_bundle

    bundle = state.require_bundle(step=step["writer"])
    save_bundle(bundle, expand_output(step["out_model"], prefix=state.model_prefix))


def run_pipeline_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``PredictivePipelineWriter``: saves the model as a predictive pipeline (module docstring).

    Example:
        >>> from vl3d_focal.models.model_file import read_pipeline
        >>> run_pipeline_writer({"writer": "PredictivePipelineWriter", "out_pipeline": "*pipe/m.pipe",
        ...                      "include_class_transformer": True}, state)
        >>> read_pipeline(out / "pipe" / "m.pipe")["include_class_transformer"]
        True
    """
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.models.model_file import save_bundle

    bundle = state.require_bundle(step="PredictivePipelineWriter")
    include = bool(step["include_class_transformer"])
    if not include and not bundle.mapping.raw_codes:  # classes of the clouds' raw codes: no transformer to leave out
        bundle = dataclasses.replace(bundle, mapping=ClassMapping.from_values(bundle.class_names))
    if not step.get("include_miner", True):  # a new cloud stores the mined features (VL3D)
        bundle = dataclasses.replace(bundle, miners=())
    if not step.get("include_imputer", True):  # a new cloud's features are taken as they are
        bundle = dataclasses.replace(bundle, imputers=())
    pipeline = {"include_class_transformer": include, "class_names": list(bundle.class_names)}
    save_bundle(bundle, expand_output(step["out_pipeline"], prefix=state.model_prefix), pipeline=pipeline)


def _model_writer_schema(name: str) -> dict[str, Any]:
    return closed_object(
        {
            "writer": {"const": name, "description": "Write the model."},
            "out_model": output_path_schema(
                "The model file, with everything needed to predict (any file name, e.g. VL3D's .model).",
                "*model/model.keras",
                scope="model",
                suffixes=(),
            ),
        },
        required=["writer"],
        description="Writes the trained or loaded model.",
    )


def _flag(name: str, default: bool, why: str) -> dict[str, Any]:
    return {
        "type": "boolean",
        "default": default,
        "description": f"VL3D's {name}.",
        "anyOf": [{"const": False}, no_effect({"const": True}, why=why)],
    }


def pipeline_writer_schema() -> dict[str, Any]:
    """The ``PredictivePipelineWriter`` step's schema.

    Example:
        >>> pipeline_writer_schema()["properties"]["include_class_transformer"]["default"]
        True
    """
    return closed_object(
        {
            "writer": {"const": "PredictivePipelineWriter", "description": "Write a predictive pipeline."},
            "out_pipeline": output_path_schema(
                "The predictive pipeline file (any file name, e.g. VL3D's .pipe).",
                "*pipe/model.pipe",
                scope="model",
                suffixes=(),
            ),
            "include_class_transformer": {
                "type": "boolean",
                "default": True,
                "description": "Read a new cloud's reference classes through this pipeline's class steps "
                "(false: as the model's class values 0..C-1).",
            },
            "include_miner": {
                "type": "boolean",
                "default": True,
                "description": "Keep the miner steps' recipes: the pipeline computes the mined features of a new "
                "cloud (false: a new cloud must store them as dimensions of those names).",
            },
            "include_imputer": {
                "type": "boolean",
                "default": True,
                "description": "Keep the imputers the model was trained with (fill values fitted on its training "
                "data, points left out): a new cloud is imputed as the training clouds were (false: its features "
                "are taken as they are, a NaN stops the run).",
            },
            **{name: _flag(name, default, why) for name, (default, why) in ABSENT_COMPONENTS.items()},
        },
        required=["writer"],
        description="Writes the trained or loaded model as a predictive pipeline.",
    )


for _name in ("PredictiveModelWriter", "ModelWriter"):
    STEPS.register(
        step_entry(
            kind="writer",
            name=_name,
            handler=run_model_writer,
            schema=_model_writer_schema(_name),
            needs=("model",),
            chief_only=True,
        )
    )

STEPS.register(
    step_entry(
        kind="writer",
        name="PredictivePipelineWriter",
        handler=run_pipeline_writer,
        schema=pipeline_writer_schema(),
        needs=("model",),
        chief_only=True,
    )
)
