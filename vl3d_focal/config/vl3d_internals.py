"""VL3D keys of ``model_args`` that only tune VL3D's own internals: accepted, without effect.

The ``model_args`` members every model shares accept them (:func:`add_internal_keys`, called
where the schema files are generated), each annotated ``x-vl3d-no-effect`` with the reason
(:mod:`vl3d_focal.config.notes`). A key another part of the schema already declares is left as
declared there, and a model that declares a member itself (e.g. its own ``pre_processing``)
declares its VL3D keys there too.

VL3D's own tuning keys of ``pre_processing`` (``nthreads``, ``support_chunk_size``...) are
declared once for every receptive-field pre-processor (:mod:`vl3d_focal.data.field_schemas`), and
each pre-processor's own (``fast``, ``fast_flag_per_depth``) by its schema.

Example:
    >>> properties = {"model_handling": {"type": "object", "properties": {}}}
    >>> add_internal_keys(properties)
    >>> properties["model_handling"]["properties"]["features_structuring_representation_dir"]["x-vl3d-no-effect"][:21]
    'it is where VL3D plot'
"""

from __future__ import annotations

from typing import Any

from vl3d_focal.schema_annotations import no_effect

_PATH = {"type": ["string", "null"], "minLength": 1}

INTERNAL_KEYS: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    "model_handling": {
        "features_structuring_representation_dir": (
            _PATH,
            "it is where VL3D plots the kernels of a features structuring layer (PointNet's "
            "model_args.features_structuring_layer, RBFNet's model_args.feature_structuring), which this project "
            "does not plot: its PointNet builds that layer, its other models have none",
        ),
        "kpconv_representation_dir": (
            _PATH,
            "it is where VL3D writes plots and CSV data of its KPConv kernels (their points and "
            "weights), which this project does not draw",
        ),
        "skpconv_representation_dir": (
            _PATH,
            "it is where VL3D writes plots and CSV data of its strided KPConv kernels, which this "
            "project does not draw",
        ),
        "rbf_feature_extraction_representation_dir": (
            _PATH,
            "it is where VL3D writes plots and CSV data of its RBFNet's kernel points and sizes, before and "
            "after training, which this project does not draw (the model file holds them)",
        ),
        "rbf_feature_processing_representation_dir": (
            _PATH,
            "it is where VL3D writes plots and CSV data of its RBFNet's feature processing kernels, which this "
            "project does not draw (the model file holds them)",
        ),
    }
}
"""``model_args`` member -> {key: (schema, why it has no effect here)}."""


def add_internal_keys(properties: dict[str, Any]) -> None:
    """Adds the :data:`INTERNAL_KEYS` to the ``model_args`` properties ``properties`` (in place).

    Members of ``properties`` that are no object schema, or that already declare a key,
    are left alone.
    """
    for member, keys in INTERNAL_KEYS.items():
        target = properties.get(member)
        if not isinstance(target, dict) or not isinstance(target.get("properties"), dict):
            continue
        for key, (schema, why) in keys.items():
            target["properties"].setdefault(key, no_effect({**schema, "description": f"VL3D's {key}."}, why=why))
