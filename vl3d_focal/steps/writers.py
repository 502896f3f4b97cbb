"""The ``writer`` steps: ``PredictiveModelWriter`` (the model file) and
``ClassifiedPcloudWriter`` (each classified cloud).

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("ClassifiedPcloudWriter").metadata["needs"]
    ('predictions',)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.config.schema_parts import CLOUD_SUFFIXES, MODEL_SUFFIXES, closed_object, output_path_schema
from vl3d_focal.errors import DataError
from vl3d_focal.registry import STEPS
from vl3d_focal.steps.definition import step_entry

if TYPE_CHECKING:
    from vl3d_focal.steps.state import PipelineState


def run_model_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``PredictiveModelWriter``: saves the current model with what it needs to predict.

    ``out_model`` is a model-level output: ``*`` is the first output prefix.

    Example:
        >>> run_model_writer({"writer": "PredictiveModelWriter",
        ...                   "out_model": "*model/model.keras"}, state)   # doctest: +SKIP
    """
    from vl3d_focal.models.model_file import save_bundle

    bundle = state.require_bundle(step="PredictiveModelWriter")
    save_bundle(bundle, expand_output(step["out_model"], prefix=state.model_prefix))


def run_pcloud_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``ClassifiedPcloudWriter``: writes each cloud with its predicted classes.

    The predicted classes are written as the classes' LAS codes to ``classification``, or
    to the extra dimension ``prediction_dimension`` when it is given (``classification``
    then keeps the reference). With ``probabilities``, one float32 extra dimension per class
    (``prob_<class>``) is added. Every input dimension, the header and the CRS are kept.

    Example:
        >>> run_pcloud_writer({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*pred.laz",
        ...                    "probabilities": True, "prediction_dimension": None}, state)  # doctest: +SKIP
    """
    from vl3d_focal.inference.classified_output import write_classified_cloud

    bundle = state.require_bundle(step="ClassifiedPcloudWriter")
    for record in state.clouds:
        if record.result is None:
            raise DataError(
                f"ClassifiedPcloudWriter: cloud {record.path} has no predictions; "
                "expected a 'predict' step before the writer"
            )
        write_classified_cloud(
            expand_output(step["out_pcloud"], prefix=record.prefix), source=record.path,
            header=None if record.streamed else record.cloud.las.header,
            chunks=record.result.iter_chunks(), mapping=bundle.mapping, class_names=list(bundle.class_names),
            prediction_dimension=step["prediction_dimension"], probabilities=step["probabilities"],
        )


STEPS.register(step_entry(
    kind="writer", name="PredictiveModelWriter", handler=run_model_writer,
    schema=closed_object(
        {
            "writer": {"const": "PredictiveModelWriter", "description": "Write the model."},
            "out_model": output_path_schema("The .keras model file (with everything needed to predict).",
                                            "*model/model.keras", scope="model", suffixes=MODEL_SUFFIXES),
        },
        required=["writer"],
        description="Writes the trained or loaded model.",
    ),
    description="Writes the trained or loaded model.",
    needs=("model",), chief_only=True,
))

STEPS.register(step_entry(
    kind="writer", name="ClassifiedPcloudWriter", handler=run_pcloud_writer,
    schema=closed_object(
        {
            "writer": {"const": "ClassifiedPcloudWriter", "description": "Write each classified cloud."},
            "out_pcloud": output_path_schema("The classified cloud (.las or .laz).", "*predicted.laz",
                                             scope="cloud", suffixes=CLOUD_SUFFIXES),
            "probabilities": {"type": "boolean", "default": False,
                              "description": "Also write one probability extra dimension per class."},
            "prediction_dimension": {
                "type": ["string", "null"], "minLength": 1, "default": None,
                "description": "Extra dimension receiving the predicted class; null writes the "
                "classification field with the classes' LAS codes.",
            },
        },
        required=["writer"],
        description="Writes each input cloud with its predicted classes.",
    ),
    description="Writes each input cloud with its predicted classes.",
    needs=("predictions",), chief_only=True, per_cloud=True,
))
