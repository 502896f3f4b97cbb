"""The names the package's docstring examples use (``record``, ``bundle``, ``state``, ``out``...).

:func:`namespace` gives each docstring fresh cheap, mutable objects (a ``record`` of the tile,
a pipeline ``state``, an empty folder ``out`` for what the examples write) and shares the
expensive ones (the synthetic ``tile`` and its 2 x 2 ``survey``, the untrained PointNet
``bundle`` and its saved ``model_file``), built once per session and only when a docstring's
examples use them. The session's folder is removed at exit.

Example:
    >>> sorted(NAMES)[:4]
    ['Path', 'bounds', 'bundle', 'cloud']
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helpers import DEMO_CLASSES, random_bundle, split_scene

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENE_SEED, SCENE_SIZE_M, SCENE_DENSITY = 0, 24.0, 2.0
"""The synthetic tile of the examples: 1531 points (codes: 1184 ground, 98 vegetation, 54 vehicle,
194 pole, 1 noise; no building)."""

_shared: dict[str, Any] = {}


def _session_folder() -> Path:
    if "folder" not in _shared:
        _shared["folder"] = Path(tempfile.mkdtemp(prefix="vl3d_doctests_"))
        atexit.register(shutil.rmtree, _shared["folder"], True)
    return _shared["folder"]


def _tile() -> Path:
    """The synthetic tile's file (read-only for the examples)."""
    if "tile" not in _shared:
        from vl3d_focal.data.synthetic import write_demo_scene

        _shared["tile"] = write_demo_scene(
            _session_folder() / "data" / "tile.las", seed=SCENE_SEED, size_m=SCENE_SIZE_M, density=SCENE_DENSITY
        )
    return _shared["tile"]


def _survey() -> list[Path]:
    """The synthetic scene split in 2 x 2 adjacent tiles (read-only for the examples)."""
    if "survey" not in _shared:
        import laspy

        _shared["survey"] = split_scene(laspy.read(_tile()), _session_folder() / "survey")[0]
    return _shared["survey"]


def _bundle():
    """An untrained tiny PointNet on intensity, its normaliser fitted on the tile (shared, not mutated)."""
    if "bundle" not in _shared:
        from vl3d_focal.io.las import read_cloud

        _shared["bundle"] = random_bundle(fnames=["intensity"], fit_on=read_cloud(_tile()))
    return _shared["bundle"]


def _model_file() -> Path:
    """The bundle saved as a model file."""
    if "model_file" not in _shared:
        from vl3d_focal.models.model_file import save_bundle

        _shared["model_file"] = save_bundle(_bundle(), _session_folder() / "model" / "model.keras")
    return _shared["model_file"]


def _mapping():
    from vl3d_focal.data.labels import ClassMapping

    return ClassMapping.from_spec(
        {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]}
    )


def _record(built: dict[str, Any]):
    """The tile as the runner gives it: not read yet (its header's point count), labels mapped on first use."""
    from vl3d_focal.data.records import CloudRecord
    from vl3d_focal.io.las import check_file

    record = CloudRecord(path=_tile(), prefix=f"{built['out']}/", num_points=check_file(_tile()))
    record.pending_mapping = _mapping()
    return record


def _state(built: dict[str, Any]):
    from vl3d_focal.steps.state import PipelineState

    return PipelineState(
        clouds=[built["record"]], model_prefix=f"{built['out']}/", mapping=built["mapping"], bundle=_bundle()
    )


def _spec_file(built: dict[str, Any]) -> Path:
    """A small predict-and-evaluate spec on the tile with the saved model, written in ``out``."""
    spec = {
        "in_pcloud": [str(_tile())],
        "out_pcloud": [f"{built['out']}/run/*"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(_model_file())},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
        ],
    }
    path = built["out"] / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def _with_defaults(built: dict[str, Any]):
    """``with_defaults(step)``: the step with every schema default filled in, as the runner gets it."""
    from vl3d_focal.config.normalise import apply_defaults

    def with_defaults(step: dict[str, Any]) -> dict[str, Any]:
        spec = {"in_pcloud": ["a.las"], "out_pcloud": ["o/"], "sequential_pipeline": [step]}
        return apply_defaults(spec)["sequential_pipeline"][0]

    return with_defaults


TINY_POINTNET = {
    "num_classes": 5,
    "pre_processing": {
        "pre_processor": "furthest_point_subsampling",
        "num_points": 48,
        "neighborhood": {"type": "sphere", "radius": 4.0},
    },
    "num_pwise_feats": 8,
    "pretransf_feats_spec": [{"filters": 8}],
    "postransf_feats_spec": [{"filters": 8}],
    "tnet_pre_filters_spec": [],
    "tnet_post_filters_spec": [],
    "model_handling": {"training_epochs": 1, "batch_size": 32, "checkpoint": False, "fit_verbose": 0},
    "compilation_args": {"loss": {"function": "class_weighted_focal_categorical_crossentropy", "gamma": 2.0}},
}
"""A PointNet that trains in a few seconds on the tile (one epoch)."""


def _train_step(built: dict[str, Any]) -> dict[str, Any]:
    """A normalised ``train`` step of a tiny PointNet on intensity (trains on the state's clouds)."""
    return built["with_defaults"](
        {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "random_seed": 1, "model_args": TINY_POINTNET}
    )


def _forest_step(built: dict[str, Any]) -> dict[str, Any]:
    """A normalised ``train`` step of a small random forest on intensity and height above ground."""
    return built["with_defaults"](
        {
            "train": "RandomForestClassifier",
            "random_seed": 3,
            "fnames": ["intensity", "height_above_ground"],
            "model_args": {"num_classes": 5, "n_estimators": 4, "max_depth": 6},
        }
    )


@contextmanager
def _logged(name: str = "vl3d_focal") -> Iterator[None]:
    """Prints what the logger ``name`` and those below it log (INFO and above) inside the block,
    one ``LEVEL: message`` a record, as the block ends."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    package = logging.getLogger(name)
    level = package.level
    package.setLevel(logging.INFO)
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(level)
        for record in records:
            print(f"{record.levelname}: {record.getMessage()}")


def _np(built: dict[str, Any]):
    import numpy as np

    return np


def _laspy(built: dict[str, Any]):
    import laspy

    return laspy


def _las(built: dict[str, Any]):
    import laspy

    return laspy.read(_tile())


def _cloud(built: dict[str, Any]):
    from vl3d_focal.io.las import read_cloud

    return read_cloud(_tile())


def _bounds(built: dict[str, Any]):
    from vl3d_focal.inference.tile_buckets import cloud_bounds

    return cloud_bounds(_tile(), chunk_points=1000)[:2]


def _streamed(built: dict[str, Any]):
    """The tile's on-disk buckets, not written yet: 2 x 2 tiles of 12 m, in ``out``."""
    from vl3d_focal.inference.tile_buckets import StreamedPredictions, TileGrid

    low, _ = _bounds(built)
    return StreamedPredictions(
        path=_tile(),
        grid=TileGrid(origin=low[:2], side=12.0, shape=(2, 2)),
        chunk_points=1000,
        num_classes=5,
        parent=built["out"],
    )


NAMES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Path": lambda built: Path,
    "np": _np,
    "logged": lambda built: _logged,
    "laspy": _laspy,
    "tile": lambda built: _tile(),
    "survey": lambda built: _survey(),
    "las": _las,
    "cloud": _cloud,
    "mapping": lambda built: _mapping(),
    "record": _record,
    "bundle": lambda built: _bundle(),
    "model_file": lambda built: _model_file(),
    "state": _state,
    "spec_file": _spec_file,
    "with_defaults": _with_defaults,
    "train_step": _train_step,
    "forest_step": _forest_step,
    "bounds": _bounds,
    "streamed": _streamed,
    "demo_spec_file": lambda built: REPO_ROOT / "examples" / "demo_pipeline.json",
}
"""Each name the examples may use, and how it is built (in this order, so that later ones can
use earlier ones)."""
DEPENDS = {
    "state": ("record", "mapping"),
    "record": ("out",),
    "spec_file": ("out",),
    "streamed": ("out",),
    "train_step": ("with_defaults",),
    "forest_step": ("with_defaults",),
}


def namespace(source: str, *, name: str) -> dict[str, Any]:
    """The names ``source`` (the examples' text of one module) uses, built for module ``name``:
    ``out`` is a fresh empty folder of its own.

    Example:
        >>> sorted(namespace(">>> out.exists()", name="m"))
        ['out']
    """
    used = {key for key in [*NAMES, "out"] if re.search(rf"\b{key}\b", source)}
    for key in list(used):
        used.update(DEPENDS.get(key, ()))
    built: dict[str, Any] = {}
    if "out" in used or used & set(DEPENDS):
        built["out"] = Path(tempfile.mkdtemp(prefix=f"{name}_", dir=_session_folder()))
    for key, make in NAMES.items():
        if key in used:
            built[key] = make(built)
    return built
