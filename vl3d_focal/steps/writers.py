"""The cloud ``writer`` steps: ``ClassifiedPcloudWriter`` (each classified cloud), and VL3D's
``Writer`` (each cloud as the pipeline sees it) and ``PredictionsWriter`` (predicted labels).

Example:
    >>> from vl3d_focal.registry import STEPS
    >>> STEPS.get("ClassifiedPcloudWriter").metadata["needs"]
    ('predictions',)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from vl3d_focal.config.checks import Issue, as_dict, as_list
from vl3d_focal.config.messages import json_path
from vl3d_focal.config.notes import NOTE_PREFIX
from vl3d_focal.config.prefixes import expand_output
from vl3d_focal.config.schema_parts import closed_object
from vl3d_focal.errors import DataError
from vl3d_focal.registry import STEPS
from vl3d_focal.schema_annotations import CLOUD_SUFFIXES, output_path_schema
from vl3d_focal.steps.definition import step_entry

if TYPE_CHECKING:
    from vl3d_focal.data.records import CloudRecord
    from vl3d_focal.steps.state import PipelineState

logger = logging.getLogger(__name__)


def _predicted(record: CloudRecord, *, step: str) -> Any:
    if record.result is None:
        raise DataError(f"{step}: cloud {record.path} has no predictions; expected a 'predict' step before the writer")
    return record.result


def run_pcloud_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``ClassifiedPcloudWriter``: writes each cloud with its predicted classes.

    The predicted classes are written as the classes' LAS codes to ``classification`` (a point
    whose input code is one of ``keep_codes`` keeps it), or to the extra dimension
    ``prediction_dimension`` when it is given (``classification`` then keeps the reference). With
    ``probabilities``, one float32 extra dimension per class (``prob_<class>``) is added. Every
    input dimension, the header and the CRS are kept.

    Example:
        >>> from vl3d_focal.steps.predict import run_previous_model
        >>> run_previous_model(with_defaults({"predict": "PreviousModel"}), state)
        >>> run_pcloud_writer({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*pred.laz",
        ...                    "probabilities": True, "prediction_dimension": None, "keep_codes": [7]}, state)
        >>> (out / "pred.laz").is_file()
        True
    """
    from vl3d_focal.inference.classified_output import write_classified_cloud

    mapping = state.prediction_mapping(step="ClassifiedPcloudWriter")
    for record in state.clouds:
        result = _predicted(record, step="ClassifiedPcloudWriter")
        write_classified_cloud(
            expand_output(step["out_pcloud"], prefix=record.prefix),
            source=record.path,
            header=None if record.streamed else record.cloud.las.header,
            chunks=result.iter_chunks(),
            mapping=mapping,
            class_names=list(mapping.names),
            prediction_dimension=step["prediction_dimension"],
            probabilities=step["probabilities"],
            keep_codes=step["keep_codes"],
        )


def check_pcloud_writer(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """``prediction_dimension`` names a new extra dimension: not a standard LAS dimension (it
    would replace the coordinates, the intensity...), not a class's probability dimension, and
    not a dimension an input cloud has (``known["cloud_features"]``), whose values it would replace.
    Without it, the point format of the clouds written (``known["written_clouds"]``: the inputs,
    or the first file of ``in_pcloud_concat``) holds the predicted classes' LAS codes
    (``known["mapping"]``; :func:`~vl3d_focal.steps.class_mapping.unwritable_codes_problem`).

    Example:
        >>> [m for _, m in check_pcloud_writer({"prediction_dimension": "Intensity"}, (), {})]
        ["'Intensity' is a standard LAS dimension; an extra dimension needs another name; null writes the classification"]
    """
    from vl3d_focal.inference.classified_output import probability_dimension
    from vl3d_focal.io.las import extra_dimension_problem
    from vl3d_focal.io.las_header import header_extra_dimensions
    from vl3d_focal.steps.class_mapping import unwritable_codes_problem

    name = step.get("prediction_dimension")
    if isinstance(name, str) and step.get("keep_codes"):
        yield (
            at + ("keep_codes",),
            "keep_codes keeps codes in classification, which prediction_dimension leaves as it is for every point: "
            "remove keep_codes, or set prediction_dimension null",
        )
    if not isinstance(name, str):
        problem = unwritable_codes_problem(
            known.get("mapping"),
            as_list(known.get("written_clouds")),
            remedy="give those classes a las_code of 31 or less in a class_mapping step before the predict step, "
            "write the predicted codes to an extra dimension with prediction_dimension",
        )
        if problem:
            yield at + ("writer",), problem
        return
    problem = extra_dimension_problem(name)
    if problem:
        yield at + ("prediction_dimension",), f"{problem}; null writes the classification"
    elif step.get("probabilities") and name in [probability_dimension(c) for c in known.get("class_names") or ()]:
        yield at + ("prediction_dimension",), f"{name!r} is also a class's probability dimension; give it another name"
    taken = [path for path in as_dict(known.get("cloud_features")) if name in (header_extra_dimensions(path) or ())]
    if taken:
        yield (
            at + ("prediction_dimension",),
            (
                f"{taken[0]} already has a dimension {name!r}, whose values would be replaced (every input dimension "
                "is kept); give prediction_dimension another name"
            ),
        )


def run_state_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``Writer`` (VL3D): writes each cloud as the pipeline sees it.

    Every input dimension, the header and the CRS; after a ``ClassReducer``, the
    classification holds the reduced classes' values; after a predict step, the extra
    dimension ``prediction`` holds each point's predicted class (as ``PredictionsWriter`` writes
    it: its classification code without a class mapping step, else its index); after miner steps,
    their features are float32 extra dimensions (computed on the whole cloud, as a train step would),
    a name longer than 32 bytes cut to 32 with a warning (:mod:`~vl3d_focal.io.extra_names`).

    Raises:
        DataError: before any feature is computed, when two features would be written under the
            same cut name or a cut name is already a dimension of a cloud.

    Example:
        >>> run_state_writer(with_defaults({"writer": "Writer", "out_pcloud": "*pcloud.laz"}), state)
        >>> (out / "pcloud.laz").is_file()
        True
    """
    from vl3d_focal.data.field_inputs import cloud_features
    from vl3d_focal.data.miners import mined_names
    from vl3d_focal.inference.classified_output import source_chunks, write_state_cloud
    from vl3d_focal.io.chunks import read_header
    from vl3d_focal.io.extra_names import cut_name, cut_notice, name_clashes

    reduced = state.mapping if state.classes_rewritten else None
    predicted = state.prediction_mapping(step="Writer") if state.predicted_names is not None else None
    mined = mined_names(state.miners)
    written = {name: cut_name(name=name) for name in mined}
    for record in state.clouds:  # every name checked before any feature is computed
        header = record.cloud.las.header if record.loaded else read_header(record.path)
        clashes = name_clashes(names=mined, existing=header.point_format.dimension_names)
        if clashes:
            raise DataError(f"Writer: cloud {record.path}: {clashes[0][1]}")
    for name in mined:
        if written[name] != name:
            logger.warning("Writer: %s", cut_notice(name=name))
    for record in state.clouds:
        features = cloud_features(record, feature_names=mined, miners=state.miners) if mined else None
        write_state_cloud(
            expand_output(step["out_pcloud"], prefix=record.prefix),
            source=record.path,
            header=record.cloud.las.header if record.loaded else None,
            chunks=record.result.iter_chunks() if record.result is not None else source_chunks(record),
            classes=None if reduced is None else functools.partial(reduced.map, source=str(record.path)),
            predictions=predicted if record.result is not None else None,
            features=None if features is None else {written[name]: features[:, j] for j, name in enumerate(mined)},
        )


def run_predictions_writer(step: Mapping[str, Any], state: PipelineState) -> None:
    """``PredictionsWriter`` (VL3D): each cloud's predicted classes, one integer per line: as VL3D
    writes the classes its model learnt, the classification codes where the classes are the
    clouds' codes (no class mapping step; the codes ``ClassifiedPcloudWriter`` writes), else the
    class indices (a class mapping's or ``ClassReducer``'s classes).

    Example:
        >>> from vl3d_focal.steps.predict import run_previous_model
        >>> run_previous_model(with_defaults({"predict": "PreviousModel"}), state)
        >>> run_predictions_writer({"writer": "PredictionsWriter", "out_preds": "*predictions.lbl"}, state)
        >>> len((out / "predictions.lbl").read_text().split())
        1531
    """
    from vl3d_focal.inference.classified_output import write_predictions

    for record in state.clouds:
        result = _predicted(record, step="PredictionsWriter")
        write_predictions(
            expand_output(step["out_preds"], prefix=record.prefix),
            chunks=result.iter_chunks(),
            mapping=state.prediction_mapping(step="PredictionsWriter"),
        )


STEPS.register(
    step_entry(
        kind="writer",
        name="ClassifiedPcloudWriter",
        handler=run_pcloud_writer,
        schema=closed_object(
            {
                "writer": {"const": "ClassifiedPcloudWriter", "description": "Write each classified cloud."},
                "out_pcloud": output_path_schema(
                    "The classified cloud (.las or .laz).", "*predicted.laz", scope="cloud", suffixes=CLOUD_SUFFIXES
                ),
                "probabilities": {
                    "type": "boolean",
                    "default": False,
                    "description": "Also write one probability extra dimension per class.",
                },
                "prediction_dimension": {
                    "type": ["string", "null"],
                    "minLength": 1,
                    "default": None,
                    "description": "Extra dimension receiving the predicted class (a new name: not a "
                    "standard LAS dimension nor a class's prob_ dimension); null writes the "
                    "classification field with the classes' LAS codes.",
                },
                "keep_codes": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0, "maximum": 255},
                    "uniqueItems": True,
                    "default": [],
                    "description": "LAS codes that points keep in classification instead of their predicted "
                    "class's code (e.g. [7, 18]: noise stays noise for a terrain model); vl3d_focal's key. "
                    "Points of ignored codes not listed here get a predicted class (logged per cloud).",
                },
            },
            required=["writer"],
            description="Writes each input cloud with its predicted classes.",
        ),
        check=check_pcloud_writer,
        needs=("predictions",),
        chief_only=True,
        per_cloud=True,
    )
)

UNTRANSFORMED = (
    f"{NOTE_PREFIX}the feature transformers before it, on what it writes: it writes the features as computed "
    "(VL3D writes them as chosen or projected); a transformer acts on the models trained after it"
)
"""The note of a ``Writer`` after a feature transformer."""


def check_state_writer(step: Mapping[str, Any], at: tuple, known: dict[str, Any]) -> Iterator[Issue]:
    """A note when a feature transformer comes before it (``known["given"]``); of the features
    mined before it (``known["mined_features"]``, named at ``known["mined_at"]``), a note at the
    name of each it writes cut to 32 bytes, an error at the name of each that it would write
    under another's name or a dimension of the clouds written (``known["written_clouds"]``)
    (:func:`~vl3d_focal.io.extra_names.name_clashes`).

    Example:
        >>> [m == UNTRANSFORMED for _, m in check_state_writer({}, (), {"given": {"feature_transformation"}})]
        [True]
        >>> known = {"mined_features": ["d" * 38, "d" * 39], "mined_at": {"d" * 39: ("sequential_pipeline", 1)}}
        >>> [(json_path(where), m[:24]) for where, m in check_state_writer({}, ("sequential_pipeline", 2), known)]
        [('$.sequential_pipeline[2]', 'accepted, no effect here'), ('$.sequential_pipeline[1]', 'the Writer at $.sequenti')]
    """
    from vl3d_focal.io.extra_names import MAX_NAME_BYTES, cut_name, cut_notice, name_clashes
    from vl3d_focal.io.las_header import header_extra_dimensions

    if "feature_transformation" in known.get("given", ()):
        yield at, UNTRANSFORMED
    mined = [name for name in as_list(known.get("mined_features")) if isinstance(name, str)]
    named = as_dict(known.get("mined_at"))
    clashes = {index: f"the Writer at {json_path(at)}: {why}" for index, why in name_clashes(names=mined, existing=[])}
    for cloud in as_list(known.get("written_clouds")):  # a cut name that is a dimension of a cloud written
        for index, why in name_clashes(names=mined, existing=header_extra_dimensions(cloud) or []):
            clashes.setdefault(index, f"the Writer at {json_path(at)}, writing {cloud}: {why}")
    for index, name in enumerate(mined):
        if index in clashes:
            yield named.get(name, at), clashes[index]
        elif cut_name(name=name) != name:
            yield (
                named.get(name, at),
                f"{NOTE_PREFIX}this feature's name beyond {MAX_NAME_BYTES} bytes, in the cloud the "
                f"Writer at {json_path(at)} writes: {cut_notice(name=name)}",
            )


STEPS.register(
    step_entry(
        kind="writer",
        name="Writer",
        handler=run_state_writer,
        check=check_state_writer,
        schema=closed_object(
            {
                "writer": {"const": "Writer", "description": "Write each cloud as the pipeline sees it."},
                "out_pcloud": output_path_schema(
                    "The cloud (.las or .laz): reduced classes after a ClassReducer, the predicted class in "
                    "the extra dimension 'prediction' after a predict step.",
                    "*pcloud.laz",
                    scope="cloud",
                    suffixes=CLOUD_SUFFIXES,
                ),
            },
            required=["writer", "out_pcloud"],
            description="Writes each input cloud as the pipeline sees it (VL3D's Writer).",
        ),
        uses=("predictions",),
        chief_only=True,
        per_cloud=True,
    )
)

STEPS.register(
    step_entry(
        kind="writer",
        name="PredictionsWriter",
        handler=run_predictions_writer,
        schema=closed_object(
            {
                "writer": {"const": "PredictionsWriter", "description": "Write the predicted labels."},
                "out_preds": output_path_schema(
                    "Text file, one predicted class index per line in point order.",
                    "*predictions.lbl",
                    scope="cloud",
                    suffixes=(),
                ),
            },
            required=["writer", "out_preds"],
            description="Writes each cloud's predicted classes, one per line (VL3D's PredictionsWriter).",
        ),
        needs=("predictions",),
        chief_only=True,
        per_cloud=True,
    )
)
