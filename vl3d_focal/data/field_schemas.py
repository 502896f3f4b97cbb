"""JSON Schemas of the ``pre_processing`` keys every receptive-field pre-processor shares
(PointNet's ``furthest_point_subsampling`` / ``grid_subsampling`` and the autoencoder's
``hierarchical_fps``); apart from the code that reads them (:mod:`vl3d_focal.data.field_centres`,
which imports SciPy) so that reading a spec does not import SciPy.

- :func:`support_schema`: ``support_strategy``, ``support_strategy_num_points`` and
  ``center_on_pcloud`` (the centres of training, validation and prediction fields);
- :func:`class_distribution_schema`: ``training_class_distribution`` (training centres drawn
  per class);
- :func:`tuning_schema`: VL3D's ``support_strategy_fast``, ``support_chunk_size`` and
  ``nthreads``, accepted without effect;
- :func:`report_schema`: the receptive-field reports (class distributions, support points) of
  training and prediction, and the folder of the prediction fields' clouds;
- :func:`shared_properties`: all of the above, what each pre-processor's schema includes.

Example:
    >>> class_distribution_schema()["default"] is None
    True
    >>> sorted(support_schema())
    ['center_on_pcloud', 'support_strategy', 'support_strategy_num_points']
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.schema_annotations import (
    CLOUD_FOLDER_OUTPUT,
    CLOUD_SUFFIXES,
    FOLDER_OUTPUT,
    PATH_ANNOTATION,
    PLOT_SUFFIXES,
    case_insensitive_pattern,
    no_effect,
    optional_output_schema,
)

SUPPORT_STRATEGIES = ("grid", "fps")
"""The support strategies, compared case-insensitively (as VL3D does)."""


def support_schema() -> dict[str, Any]:
    """JSON Schemas of ``support_strategy``, ``support_strategy_num_points`` and
    ``center_on_pcloud`` (what :class:`vl3d_focal.data.receptive_fields.FieldSpec` holds).

    Example:
        >>> import re
        >>> pattern = support_schema()["support_strategy"]["pattern"]
        >>> [bool(re.match(pattern, name)) for name in ("FPS", "grid", "random")]
        [True, True, False]
    """
    return {
        "support_strategy": {
            "type": "string",
            "pattern": case_insensitive_pattern(SUPPORT_STRATEGIES),
            "examples": list(SUPPORT_STRATEGIES),
            "title": "a support strategy",
            "default": "grid",
            "description": "How the field centres (support points) are chosen: 'grid', one centre per "
            "occupied cell of a grid of side separation_factor x radius (the mean of the cell's points; "
            "VL3D takes the grid's nodes and drops those with an empty neighbourhood), points left "
            "outside every field getting extra centres; 'fps', support_strategy_num_points furthest "
            "points of the cloud: the training and validation fields are theirs only (as in VL3D), "
            "while prediction adds centres for the points outside them, so it covers every point. "
            "Training with training_class_distribution draws its centres instead.",
        },
        "support_strategy_num_points": {
            "type": "integer",
            "minimum": 1,
            "default": 1000,
            "description": "Number of centres of the 'fps' support strategy (all the points when the cloud "
            "has fewer); a streamed cloud cannot be predicted with 'fps' (set the predict step's "
            "chunk_points to null).",
        },
        "center_on_pcloud": {
            "type": "boolean",
            "default": False,
            "description": "Centre every field on a point of the cloud: the point of its grid cell nearest "
            "to the cell's mean (the 'fps' and training_class_distribution centres are points already).",
        },
    }


def class_distribution_schema() -> dict[str, Any]:
    """JSON Schema of ``pre_processing.training_class_distribution`` (what
    :func:`vl3d_focal.data.field_centres.draw_class_centres` reads).

    Example:
        >>> [branch["title"] for branch in class_distribution_schema()["anyOf"]]
        ['null', 'a list of one count per class']
    """
    return {
        "description": "How many training field centres to draw per class (one count per class, in "
        "class order): each is a random point of that class (seeded by random_seed), at most as many "
        "as the class has points. VL3D's answer to class imbalance; it changes only the training "
        "fields (validation and prediction fields cover their clouds). null: the training fields "
        "cover the training clouds.",
        "default": None,
        "anyOf": [
            {"type": "null", "title": "null"},
            {
                "type": "array",
                "title": "a list of one count per class",
                "minItems": 1,
                "items": {"type": "integer", "minimum": 0},
            },
        ],
    }


def tuning_schema() -> dict[str, Any]:
    """VL3D's keys that tune how it computes the field centres, accepted without effect here.

    Example:
        >>> sorted(key for key, schema in tuning_schema().items() if "x-vl3d-no-effect" in schema)
        ['nthreads', 'support_chunk_size', 'support_strategy_fast']
    """
    return {
        "support_strategy_fast": no_effect(
            {"type": "boolean", "description": "VL3D: approximate the 'fps' support by random sampling."},
            why="the 'fps' support strategy computes the exact furthest points",
        ),
        "support_chunk_size": no_effect(
            {"type": "integer", "minimum": 0, "description": "VL3D: support points handled per chunk (memory)."},
            why="field centres are always processed in chunks of bounded memory",
        ),
        "nthreads": no_effect(
            {
                "type": "integer",
                "minimum": -1,
                "not": {"const": 0},
                "description": "VL3D: threads computing the receptive fields (-1: all).",
            },
            why="receptive fields are computed on every CPU core",
        ),
    }


def report_schema() -> dict[str, Any]:
    """The receptive-field reports of training (``training_*``) and prediction, as VL3D names them.

    The training ones are written once per run; the prediction ones for each cloud a predict step
    of the same pipeline predicts with the trained model in memory.

    Example:
        >>> report_schema()["support_points_report_path"]["x-vl3d-path"]
        'cloud-output'
    """

    def distribution(what: str, kind: str) -> str:
        return (
            f"The {kind} of the classes among the {what} receptive fields: per class, the points "
            "(reference and predicted) and the fields holding at least one."
        )

    folder = {"type": ["string", "null"], "minLength": 1}
    return {
        "training_receptive_fields_distribution_report_path": optional_output_schema(
            distribution("training", "text report") + " Written after training."
        ),
        "training_receptive_fields_distribution_plot_path": optional_output_schema(
            distribution("training", "plot") + " Written after training.", suffixes=PLOT_SUFFIXES
        ),
        "receptive_fields_distribution_report_path": optional_output_schema(
            distribution("prediction", "text report") + " Written for each cloud a predict step of this pipeline "
            "predicts with the trained model in memory (not streamed), '*' the cloud's output prefix, and after training for "
            "the training clouds' prediction, '*' the train step's output prefix.",
            scope="cloud",
        ),
        "receptive_fields_distribution_plot_path": optional_output_schema(
            distribution("prediction", "plot") + " Written like receptive_fields_distribution_report_path.",
            suffixes=PLOT_SUFFIXES,
            scope="cloud",
        ),
        "training_support_points_report_path": optional_output_schema(
            "The training field centres as a point cloud.", suffixes=CLOUD_SUFFIXES
        ),
        "support_points_report_path": optional_output_schema(
            "The prediction field centres as a point cloud, written like receptive_fields_distribution_report_path.",
            suffixes=CLOUD_SUFFIXES,
            scope="cloud",
        ),
        "training_receptive_fields_dir": {
            **folder,
            "default": None,
            PATH_ANNOTATION: FOLDER_OUTPUT,
            "description": "A folder with one point cloud per training receptive field (the fields the model "
            "trains on, without the validation fields), receptive_field_<i>.laz (i from 0, on across the training "
            "clouds), written after training as receptive_fields_dir writes the prediction fields: the training "
            "cloud's points the field holds (their coordinates, dimensions and CRS), the trained model's probability "
            "per class and Prediction, and as classification the reference classes. A leading '*' stands for the "
            "output prefix; null: not written.",
        },
        "receptive_fields_dir": {
            **folder,
            "default": None,
            PATH_ANNOTATION: CLOUD_FOLDER_OUTPUT,
            "description": "A folder with one point cloud per prediction receptive field, receptive_field_<i>.laz "
            "(i from 0): the cloud's points the field holds (their coordinates, dimensions and CRS), one probability "
            "per class named by the class, Prediction (the field's predicted class, coded as the other prediction "
            "outputs) and as classification the reference classes where the cloud has them. Written like "
            "receptive_fields_distribution_report_path, each block's or tile's fields as they come; a "
            "model loaded from a file writes them in the folder its training stored with it. "
            "A leading '*' stands for the output prefix; null: not written.",
        },
    }


def shared_properties() -> dict[str, Any]:
    """The ``pre_processing`` properties every pre-processor's schema includes: the support,
    ``training_class_distribution``, VL3D's tuning keys and the receptive-field reports.

    Example:
        >>> "training_class_distribution" in shared_properties(), "nthreads" in shared_properties()
        (True, True)
    """
    return {
        **support_schema(),
        "training_class_distribution": class_distribution_schema(),
        **tuning_schema(),
        **report_schema(),
    }
