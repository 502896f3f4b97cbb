"""A ``.keras`` model file that holds everything needed to apply it.

Besides Keras' own members, the archive holds ``vl3d_focal.json``: feature names and the
normaliser, the receptive-field parameters, the class mapping and names, the seed, the
prediction chunk size and the loss used (with its resolved class weights). So
``{"predict": "ModelLoader", "model_path": ...}`` needs nothing else.

Example:
    >>> save_bundle(bundle, "out/model/model.keras")           # doctest: +SKIP
    >>> load_bundle("out/model/model.keras").class_names       # doctest: +SKIP
    ['ground', 'vegetation', 'building', 'vehicle', 'pole']
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import Any

from vl3d_focal import __version__
from vl3d_focal.errors import DataError
from vl3d_focal.steps.state import ModelBundle

logger = logging.getLogger(__name__)

METADATA_MEMBER = "vl3d_focal.json"
FORMAT_VERSION = 1


def bundle_metadata(bundle: ModelBundle) -> dict[str, Any]:
    """The JSON-able description of a bundle, without the Keras model.

    Example:
        >>> bundle_metadata(bundle)["feature_names"]                # doctest: +SKIP
        ['intensity']
    """
    return {
        "format_version": FORMAT_VERSION,
        "vl3d_focal_version": __version__,
        "feature_names": list(bundle.feature_names),
        "normalizer": None if bundle.normalizer is None else bundle.normalizer.to_config(),
        "field_spec": bundle.field_spec.to_config(),
        "mapping": bundle.mapping.to_config(),
        "class_names": list(bundle.class_names),
        "random_seed": bundle.random_seed,
        "predict_batch_size": int(bundle.predict_batch_size),
        "loss": bundle.loss_info,
    }


def save_bundle(bundle: ModelBundle, path: str | Path) -> Path:
    """Saves the Keras model as ``.keras`` with the bundle's metadata inside the archive.

    Example:
        >>> save_bundle(bundle, "out/model.keras")               # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise DataError(f"out_model: expected a path ending in .keras, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    bundle.model.save(str(path))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(bundle_metadata(bundle), indent=2))
    logger.info("wrote model %s", path)
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The vl3d_focal metadata stored in a ``.keras`` file.

    Example:
        >>> read_metadata("out/model.keras")["class_names"]        # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"model_path {path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(METADATA_MEMBER))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as err:
        raise DataError(
            f"model_path {path}: expected a .keras file written by PredictiveModelWriter "
            f"(with a {METADATA_MEMBER} member), got one that cannot be used ({err})"
        ) from err


def load_bundle(path: str | Path) -> ModelBundle:
    """Loads a model written by :func:`save_bundle` with everything needed to predict.

    Example:
        >>> load_bundle("out/model.keras").feature_names          # doctest: +SKIP
    """
    import keras

    import vl3d_focal.models  # noqa: F401  (registers the custom layers)
    from vl3d_focal.data.features import FeatureNormalizer
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.receptive_fields import FieldSpec

    meta = read_metadata(path)
    model = keras.models.load_model(str(path), compile=False)
    logger.info("loaded model %s (%d classes)", path, len(meta["class_names"]))
    return ModelBundle(
        model=model,
        feature_names=list(meta["feature_names"]),
        normalizer=None if meta["normalizer"] is None else FeatureNormalizer.from_config(meta["normalizer"]),
        field_spec=FieldSpec.from_config(meta["field_spec"]),
        mapping=ClassMapping.from_config(meta["mapping"]),
        class_names=list(meta["class_names"]),
        random_seed=meta.get("random_seed"),
        predict_batch_size=int(meta.get("predict_batch_size", 32)),
        loss_info=dict(meta.get("loss", {})),
    )
