"""A model file that holds everything needed to apply it.

The file is a Keras ``.keras`` archive whatever its name ends with (VL3D users name models
``.model`` and predictive pipelines ``.pipe``); a model that is not a Keras one (a random forest)
is stored by its own loader's format in the same kind of archive. Besides the model's own
members, the archive holds ``vl3d_focal.json``: feature names and the normaliser, the
receptive-field parameters, the class mapping and names, the seed, the prediction chunk size,
the loss used (with its resolved class weights), the recipes of the mined features
(:mod:`vl3d_focal.data.miners`), the fitted imputers (:mod:`vl3d_focal.data.imputers`) and
projection (:mod:`vl3d_focal.data.pca_projection`) and clip bounds
(:mod:`vl3d_focal.data.minmax_normalization`; the formats: :data:`FORMAT_VERSION`). So
``{"predict": "ModelLoader", "model_path": ...}`` needs nothing else. A predictive pipeline (``PredictivePipelineWriter``) also holds
``vl3d_focal_pipeline.json``, what the pipeline kept besides the model (:func:`read_pipeline`).

Example:
    >>> load_bundle(save_bundle(bundle, out / "model" / "model.keras")).class_names
    ['ground', 'vegetation', 'building', 'vehicle', 'pole']
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal import __version__
from vl3d_focal.data.minmax_normalization import stored_bounds_problem
from vl3d_focal.errors import DataError, VL3DFocalError
from vl3d_focal.io.atomic import atomic_output
from vl3d_focal.lazy import import_keras, load_reference
from vl3d_focal.models.bundle import LossInfo, ModelBundle
from vl3d_focal.registry import MODELS

logger = logging.getLogger(__name__)

METADATA_MEMBER = "vl3d_focal.json"
FINGERPRINT_KEY = "fingerprint"
"""The metadata key holding the model's :func:`bundle_fingerprint`, computed when it was saved: a
survey's driver reads it without loading the model (and without importing TensorFlow)."""
PIPELINE_MEMBER = "vl3d_focal_pipeline.json"
KERAS_SUFFIX = ".keras"
FORMAT_VERSION = 4
"""The newest model-file format, the one this vl3d_focal reads up to (newer files are refused).
Each format adds what an older vl3d_focal must not predict without, and a file is written in the
oldest that holds it: 4 a ``MinmaxNormalizer``'s clip bounds, 3 a ``PCATransformer``'s projection
(:data:`PROJECTION_FORMAT_VERSION`), 2 imputers (:data:`IMPUTER_FORMAT_VERSION`), 1 none of them
(:data:`PLAIN_FORMAT_VERSION`: the metadata and fingerprints of the files written before)."""
PROJECTION_FORMAT_VERSION = 3
IMPUTER_FORMAT_VERSION = 2
PLAIN_FORMAT_VERSION = 1
DEFAULT_MODEL = "PointNetPwiseClassifier"
"""The model of files written before they named theirs."""


def bundle_metadata(bundle: ModelBundle) -> dict[str, Any]:
    """The JSON-able description of a bundle, without the Keras model.

    Example:
        >>> bundle_metadata(bundle)["feature_names"], bundle_metadata(bundle)["format_version"]
        (['intensity'], 1)
    """
    imputers = {"imputers": [imputer.to_config() for imputer in bundle.imputers]} if bundle.imputers else {}
    projection = {"projection": bundle.projection.to_config()} if bundle.projection is not None else {}
    clipped = (bundle.normalizer is not None and bool(bundle.normalizer.clip)) or bool(
        bundle.projection is not None and bundle.projection.clip
    )
    version = IMPUTER_FORMAT_VERSION if bundle.imputers else PLAIN_FORMAT_VERSION
    version = PROJECTION_FORMAT_VERSION if bundle.projection is not None else version
    return {  # without imputers nor projection, format 1 and no key: the fingerprints of the models written before stay
        "format_version": FORMAT_VERSION if clipped else version,
        "vl3d_focal_version": __version__,
        "feature_names": list(bundle.feature_names),
        "normalizer": None if bundle.normalizer is None else bundle.normalizer.to_config(),
        "model_name": bundle.model_name,
        "field_spec": None if bundle.field_spec is None else bundle.field_spec.to_config(),
        "mapping": bundle.mapping.to_config(),
        "class_names": list(bundle.class_names),
        "random_seed": bundle.random_seed,
        "predict_batch_size": int(bundle.predict_batch_size),
        "loss": bundle.loss_info.to_config(),
        "miners": [recipe.to_config() for recipe in bundle.miners],
        **imputers,
        **projection,
        "pre_processing": dict(bundle.pre_processing),
    }


def bundle_fingerprint(bundle: ModelBundle) -> str:
    """A SHA-256 of what a bundle predicts with: its weights and its metadata, less the paths of
    its training clouds. The same model trained again to the same weights, saved or loaded, or from
    a copy of its clouds elsewhere, has the same fingerprint (unlike the file's bytes: a save date).

    Example:
        >>> len(bundle_fingerprint(bundle)), bundle_fingerprint(load_bundle(model_file)) == bundle_fingerprint(bundle)
        (64, True)
    """
    digest = hashlib.sha256()
    meta = {key: value for key, value in bundle_metadata(bundle.identity).items() if key != "vl3d_focal_version"}
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for weights in bundle.model.get_weights():
        array = np.ascontiguousarray(weights)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_bundle(
    bundle: ModelBundle, path: str | Path, *, pipeline: dict[str, Any] | None = None, logged: bool = True
) -> Path:
    """Saves the model as a ``.keras``-style archive with the bundle's metadata inside.

    The archive is written to a temporary file in the destination folder, completed with the
    metadata, with the model's fingerprint (:data:`FINGERPRINT_KEY`), and ``pipeline`` (as
    :data:`PIPELINE_MEMBER`), then renamed into place: a crash never leaves a model without its
    metadata (or a truncated archive) under the final name. Any file name works (Keras writes a
    ``.keras``-named temporary file, renamed after). ``logged``: whether the written file is
    logged (not a temporary copy the user never sees: its caller says what it is).

    Example:
        >>> save_bundle(bundle, out / "pnet.model").is_file()
        True
    """
    path = Path(path)
    with atomic_output(path) as tmp:
        keras_file = tmp if tmp.suffix == KERAS_SUFFIX else tmp.with_name(tmp.name + KERAS_SUFFIX)
        try:
            bundle.model.save(str(keras_file))
            meta = {**bundle_metadata(bundle), FINGERPRINT_KEY: bundle_fingerprint(bundle)}
            with zipfile.ZipFile(keras_file, "a") as archive:
                archive.writestr(METADATA_MEMBER, json.dumps(meta, indent=2))
                if pipeline is not None:
                    archive.writestr(PIPELINE_MEMBER, json.dumps(pipeline, indent=2))
            os.replace(keras_file, tmp)
        finally:
            if keras_file != tmp:
                keras_file.unlink(missing_ok=True)
    if logged:
        logger.info("wrote model %s", path)
    return path


def _problem(path: Path, message: str) -> DataError:
    return DataError(f"model_path {path}: {message}")


def check_metadata(meta: Any, *, path: str | Path) -> dict[str, Any]:
    """Checks the format version and the members of a model file's metadata.

    Raises:
        DataError: Not an object, no ``format_version`` (not written by vl3d_focal), a newer
            format than this version reads, a member of the wrong type, or malformed clip bounds.

    Example:
        >>> check_metadata({"format_version": 99}, path="m.keras")
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: model_path m.keras: written in model format 99 by vl3d_focal ?; this vl3d_focal reads formats 1..4: upgrade vl3d_focal or re-train the model
    """
    path = Path(path)
    if not isinstance(meta, dict) or "format_version" not in meta:
        expected = "expected a model file written by vl3d_focal's PredictiveModelWriter"
        raise _problem(path, f"its {METADATA_MEMBER} has no format_version; {expected}")
    version = meta["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _problem(path, f"format_version must be an integer >= 1, received {version!r}")
    if version > FORMAT_VERSION:
        raise _problem(
            path,
            f"written in model format {version} by vl3d_focal "
            f"{meta.get('vl3d_focal_version', '?')}; this vl3d_focal reads formats "
            f"1..{FORMAT_VERSION}: upgrade vl3d_focal or re-train the model",
        )
    for key, kinds, what in _REQUIRED_MEMBERS:
        value = meta.get(key)
        if not isinstance(value, kinds) or (isinstance(value, list) and not all(isinstance(v, str) for v in value)):
            raise _problem(path, f"metadata {key!r} must be {what}, received {value!r:.80}")
    if problem := stored_bounds_problem(meta):
        raise _problem(path, f"metadata {problem}, not as vl3d_focal writes it; re-train the model")
    return meta


_REQUIRED_MEMBERS: tuple[tuple[str, tuple[type, ...], str], ...] = (
    ("feature_names", (list,), "a list of feature names"),
    ("class_names", (list,), "a list of class names"),
    ("field_spec", (dict, type(None)), "an object (the receptive-field parameters) or null"),
    ("mapping", (dict,), "an object (the class mapping)"),
    ("normalizer", (dict, type(None)), "an object or null (the feature normaliser)"),
)


_UNREADABLE = (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error)
"""What reading a damaged or foreign archive raises."""


def _member(path: Path, name: str, *, required: bool) -> Any:
    """The JSON member ``name`` of a model file; None when it has none and it is not ``required``."""
    try:
        with zipfile.ZipFile(path) as archive:
            if not required and name not in archive.namelist():
                return None
            return json.loads(archive.read(name))
    except (KeyError, *_UNREADABLE) as err:
        raise DataError(
            f"model_path {path}: expected a model file written by PredictiveModelWriter (with a "
            f"{METADATA_MEMBER} member), a .keras archive under any file name; got one that cannot be used ({err})"
        ) from err


def _check_members(path: Path) -> None:
    """Reads every member of a model file against its checksum (a damaged file is reported
    where the model is only described, before any worker loads it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except _UNREADABLE as err:
        raise _problem(path, f"the file is damaged ({err}); save the model again") from err
    if damaged is not None:
        raise _problem(
            path, f"the file is damaged: its member {damaged} does not read back as written; save the model again"
        )


def read_pipeline(path: str | Path) -> dict[str, Any] | None:
    """What a predictive pipeline file keeps besides the model; None for a plain model file.

    Example:
        >>> path = save_bundle(bundle, out / "model.pipe", pipeline={"include_class_transformer": True})
        >>> read_pipeline(path)["include_class_transformer"], read_pipeline(model_file)
        (True, None)
    """
    found = _member(Path(path), PIPELINE_MEMBER, required=False)
    if found is not None and not isinstance(found, dict):
        raise _problem(Path(path), f"its {PIPELINE_MEMBER} must be an object, received {found!r:.80}")
    return found


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The vl3d_focal metadata stored in a ``.keras`` file, checked (see :func:`check_metadata`).

    Example:
        >>> read_metadata(model_file)["class_names"]
        ['ground', 'vegetation', 'building', 'vehicle', 'pole']
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"model_path {path}: no such file")
    return check_metadata(_member(path, METADATA_MEMBER, required=True), path=path)


def stored_fingerprint(path: str | Path) -> str | None:
    """The :func:`bundle_fingerprint` stored in a model file when it was saved (None in a file
    written before files stored it); reading it loads no model.

    Example:
        >>> stored_fingerprint(model_file) == bundle_fingerprint(bundle)
        True
    """
    found = read_metadata(path).get(FINGERPRINT_KEY)
    return found if isinstance(found, str) else None


def load_keras_model(path: str | Path, meta: dict[str, Any]) -> Any:
    """The Keras model of a model file, loaded in safe mode and checked against its metadata (the
    default ``loader`` of a model entry).

    Example:
        >>> load_keras_model(model_file, read_metadata(model_file)).count_params() == bundle.model.count_params()
        True
    """
    path = Path(path)
    import_keras()  # as this process imports it (without scikit-learn; quiet on the command line)
    MODELS.get(str(meta.get("model_name", DEFAULT_MODEL))).load()  # its module registers its custom layers
    model = _load_keras(path)
    _check_model_shapes(model, meta, path=path)
    return model


def _load_keras(path: Path) -> Any:
    """Keras loads ``.keras`` names only: another name is read through a ``.keras`` link (or copy)."""
    if path.suffix == KERAS_SUFFIX:
        return _load_keras_file(path, shown=path)
    with tempfile.TemporaryDirectory(prefix="vl3d-focal-model-") as folder:
        alias = Path(folder) / ("model" + KERAS_SUFFIX)
        try:
            alias.symlink_to(path.resolve())
        except OSError:
            shutil.copyfile(path, alias)
        return _load_keras_file(alias, shown=path)


def _load_keras_file(path: Path, *, shown: Path) -> Any:
    import keras

    try:
        return keras.models.load_model(str(path), compile=False, safe_mode=True)
    except Exception as err:  # Keras raises ValueError, TypeError, KeyError... on bad archives
        if "safe_mode" in str(err):
            raise _problem(
                shown,
                "refused: the model holds unsafe content (e.g. a Python lambda) that "
                "Keras only loads with safe_mode off; vl3d_focal always loads models "
                f"in safe mode ({type(err).__name__})",
            ) from err
        raise _problem(shown, f"Keras cannot load the model ({type(err).__name__}: {err})") from err


def _check_model_shapes(model: Any, meta: dict[str, Any], *, path: Path) -> None:
    expected = [(3,), (len(meta["feature_names"]),)]
    try:  # the first two inputs; more (a hierarchy's index arrays) follow them
        received = [tuple(tensor.shape[2:]) for tensor in model.inputs[:2]]
        classes = model.outputs[0].shape[-1] if len(model.outputs) == 1 else None
    except (AttributeError, TypeError, IndexError):
        received, classes = [], None
    if received != expected or classes != len(meta["class_names"]):
        raise _problem(
            path,
            f"expected a model with inputs (fields, points, 3) and (fields, points, "
            f"{len(meta['feature_names'])}) and {len(meta['class_names'])} output classes, "
            f"received inputs {received} and {classes} output classes",
        )


def load_bundle(path: str | Path, *, with_model: bool = True) -> ModelBundle:
    """Loads a model written by :func:`save_bundle` with everything needed to predict.

    The metadata is checked first (format version, members), then the model entry's ``loader``
    reads the model: Keras with ``safe_mode=True`` (no arbitrary code from the file), its inputs
    and outputs compared with the metadata; a forest's arrays without any pickle. Without
    ``with_model``, the bundle describes the model (its ``model`` None: features, fields,
    classes), every member of the file is checked against its checksum, and nothing is loaded
    with Keras.

    Raises:
        DataError: naming the file: not a vl3d_focal model, a newer format, unsafe content,
            a model no installed package registers, or metadata that does not describe the model.

    Example:
        >>> load_bundle(model_file).feature_names, load_bundle(model_file, with_model=False).model
        (['intensity'], None)
    """
    import vl3d_focal.models  # noqa: F401  (registers the custom layers)
    from vl3d_focal.data.imputers import Imputer
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.miners import MinedFeatures
    from vl3d_focal.data.normalization import FeatureNormalizer
    from vl3d_focal.data.pca_projection import PCATransformer
    from vl3d_focal.data.receptive_fields import FieldSpec

    path = Path(path)
    meta = read_metadata(path)
    try:
        normalizer = None if meta["normalizer"] is None else FeatureNormalizer.from_config(meta["normalizer"])
        field_spec = None if meta["field_spec"] is None else FieldSpec.from_config(meta["field_spec"])
        mapping = ClassMapping.from_config(meta["mapping"])
        miners = tuple(MinedFeatures.from_config(recipe) for recipe in meta.get("miners", []))
        imputers = tuple(Imputer.from_config(imputer) for imputer in meta.get("imputers", []))
        projection = PCATransformer.from_config(meta["projection"]) if meta.get("projection") else None
        predict_batch_size = int(meta.get("predict_batch_size", 32))
    except (VL3DFocalError, KeyError, TypeError, ValueError) as err:
        raise _problem(path, f"its {METADATA_MEMBER} cannot be used ({type(err).__name__}: {err})") from err
    model_name = str(meta.get("model_name", DEFAULT_MODEL))
    if model_name not in MODELS.names():
        raise _problem(
            path,
            f"a model {model_name!r} that no installed package registers; install the plugin "
            f"that provides it (registered models: {', '.join(MODELS.names())})",
        )
    model = None
    if with_model:
        loader = MODELS.get(model_name).metadata.get("loader", "vl3d_focal.models.model_file:load_keras_model")
        model = load_reference(loader)(path, meta)
        logger.info("loaded model %s (%s, %d classes)", path, model_name, len(meta["class_names"]))
    else:
        _check_members(path)
    return ModelBundle(
        model=model,
        feature_names=list(meta["feature_names"]),
        class_names=list(meta["class_names"]),
        random_seed=meta.get("random_seed"),
        predict_batch_size=predict_batch_size,
        loss_info=LossInfo.from_config(meta.get("loss") or {}),
        model_name=model_name,
        pre_processing=dict(meta.get("pre_processing") or {}),
        normalizer=normalizer,
        field_spec=field_spec,
        mapping=mapping,
        miners=miners,
        imputers=imputers,
        projection=projection,
    )
