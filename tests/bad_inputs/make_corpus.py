"""Writes the bad-input corpus: one small input (cloud or model file) and one spec per case.

Every case is a spec ``<case>.json`` beside the files it uses; its outputs would go to
``out/<case>/``. ``tests/test_bad_inputs.py`` maps each case to the message it must produce
and runs it through ``python -m vl3d_focal run``. The files are generated (a few KB each)
rather than committed, so the corpus stays readable: the recipe of each broken file is below.

Usage (to look at the corpus by hand):
    python tests/bad_inputs/make_corpus.py FOLDER

Example:
    >>> specs = build_corpus(out)
    >>> sorted(specs)[:2]
    ['broken_metadata', 'corrupted_laz']
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import laspy
import numpy as np

CLASSES = [{"name": "ground", "codes": [2]}, {"name": "building", "codes": [6]}]
NUM_POINTS = 16
GOOD_POINTS = 400


def scene(*, n: int = GOOD_POINTS, seed: int = 0, codes: np.ndarray | None = None) -> laspy.LasData:
    """A tiny labelled cloud: ground (2) and a block (6), intensity and a ``reflectance`` extra dim.

    Example:
        >>> len(scene(n=10).points)
        10
    """
    rng = np.random.default_rng(seed)
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([1000.0, 2000.0, 0.0])
    header.add_extra_dim(laspy.ExtraBytesParams(name="reflectance", type=np.float32))
    las = laspy.LasData(header)
    xy = rng.uniform(0.0, 20.0, size=(n, 2))
    block = (np.abs(xy[:, 0] - 10.0) < 4.0) & (np.abs(xy[:, 1] - 10.0) < 4.0)
    las.x = 1000.0 + xy[:, 0]
    las.y = 2000.0 + xy[:, 1]
    las.z = np.where(block, 6.0, 0.0) + rng.normal(0.0, 0.05, n)
    las.intensity = rng.integers(10, 200, n).astype(np.uint16)
    las.return_number = np.ones(n, dtype=np.uint8)
    las.number_of_returns = np.ones(n, dtype=np.uint8)
    las.classification = np.where(block, 6, 2).astype(np.uint8) if codes is None else codes.astype(np.uint8)
    las.reflectance = rng.normal(0.0, 1.0, n).astype(np.float32)
    return las


def _write(las: laspy.LasData, path: Path) -> Path:
    las.write(str(path), do_compress=path.suffix == ".laz")
    return path


def _train_step(*, fnames: list[str]) -> dict[str, Any]:
    return {
        "train": "PointNetPwiseClassifier",
        "fnames": fnames,
        "random_seed": 1,
        "model_args": {
            "num_classes": 2,
            "pre_processing": {
                "neighborhood": {"type": "sphere", "radius": 5.0, "separation_factor": 0.8},
                "num_points": NUM_POINTS,
            },
            "num_pwise_feats": 4,
            "pretransf_feats_spec": [{"filters": 4}],
            "postransf_feats_spec": [{"filters": 4}],
            "tnet_pre_filters_spec": [],
            "tnet_post_filters_spec": [],
            "model_handling": {"training_epochs": 1, "batch_size": 8, "validation_split": 0.0, "checkpoint": False},
            "compilation_args": {
                "optimizer": {"algorithm": "Adam", "learning_rate": 0.01},
                "loss": {"function": "class_weighted_focal_categorical_crossentropy"},
            },
        },
    }


def train_spec(
    case: str,
    cloud: str,
    *,
    fnames: list[str] | None = None,
    ignore_codes: list[int] | None = None,
    evaluate: bool = False,
) -> dict[str, Any]:
    """A train, write model, predict (, eval), write cloud pipeline on ``cloud``.

    Example:
        >>> train_spec("x", "a.las")["in_pcloud"]
        'a.las'
    """
    steps = [
        {"class_mapping": "LASClassMapping", "classes": CLASSES, "ignore_codes": ignore_codes or [0, 1]},
        _train_step(fnames=fnames or ["intensity"]),
        {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
        {"predict": "PreviousModel"},
    ]
    if evaluate:
        steps.append({"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"})
    steps.append({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"})
    return {"in_pcloud": cloud, "out_pcloud": f"out/{case}/*", "sequential_pipeline": steps}


def predict_spec(case: str, cloud: str, *, model: str, evaluate: bool = False) -> dict[str, Any]:
    """A class mapping, ModelLoader predict (, eval), write cloud pipeline.

    Example:
        >>> predict_spec("x", "a.las", model="m.keras")["sequential_pipeline"][1]["model_path"]
        'm.keras'
    """
    steps = [
        {"class_mapping": "LASClassMapping", "classes": CLASSES, "ignore_codes": [0, 1]},
        {"predict": "ModelLoader", "model_path": model},
    ]
    if evaluate:
        steps.append({"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"})
    steps.append({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"})
    return {"in_pcloud": cloud, "out_pcloud": f"out/{case}/*", "sequential_pipeline": steps}


# --- the broken files ---------------------------------------------------------------------


def _truncated_laz(folder: Path) -> str:
    data = _write(scene(), folder / "good.laz").read_bytes()
    (folder / "truncated.laz").write_bytes(data[: len(data) * 3 // 5])
    return "truncated.laz"


def _truncated_las(folder: Path) -> str:
    data = _write(scene(), folder / "good_plain.las").read_bytes()
    (folder / "truncated.las").write_bytes(data[: len(data) // 2])
    return "truncated.las"


def _corrupted_laz(folder: Path) -> str:
    """The compressed points overwritten with noise, the header and chunk table kept."""
    data = bytearray(_write(scene(), folder / "good_corrupt_src.laz").read_bytes())
    header = laspy.LasHeader.read_from(__import__("io").BytesIO(bytes(data)))
    start = header.offset_to_point_data + 8  # after the chunk-table offset
    noise = np.random.default_rng(7).integers(0, 256, size=len(data) - start - 64, dtype=np.uint8)
    data[start : start + len(noise)] = noise.tobytes()
    (folder / "corrupted.laz").write_bytes(bytes(data))
    return "corrupted.laz"


def _not_las(folder: Path) -> str:
    (folder / "not_las.laz").write_text("x,y,z,classification\n1.0,2.0,3.0,2\n")
    return "not_las.laz"


def _empty_cloud(folder: Path) -> str:
    return _write(scene(n=0), folder / "empty.las").name


def _too_few_points(folder: Path) -> str:
    return _write(scene(n=NUM_POINTS // 2), folder / "few_points.las").name


def _nan_coordinates(folder: Path) -> str:
    las = scene()
    las.header.scales = np.array([0.01, np.nan, 0.01])
    return _write(las, folder / "nan_scale.las").name


def _inf_coordinates(folder: Path) -> str:
    las = scene()
    las.header.offsets = np.array([1000.0, 2000.0, np.inf])
    return _write(las, folder / "inf_offset.las").name


def _nan_feature(folder: Path) -> str:
    las = scene()
    values = np.asarray(las.reflectance).copy()
    values[::7] = np.nan
    las.reflectance = values
    return _write(las, folder / "nan_feature.las").name


def _good(folder: Path) -> str:
    return _write(scene(), folder / "good.las").name


def _unlabelled(folder: Path) -> str:
    return _write(scene(codes=np.zeros(GOOD_POINTS)), folder / "unlabelled.las").name


def _unmapped(folder: Path) -> str:
    codes = np.asarray(scene().classification).copy()
    codes[:5] = 9
    codes[5:8] = 17
    return _write(scene(codes=codes), folder / "unmapped_codes.las").name


# --- the broken model files ----------------------------------------------------------------


def _tiny_keras(*, unsafe: bool) -> Any:
    """A 2-class model with the pipeline's inputs (coordinates, 0 features); with a Python lambda."""
    import keras

    if not unsafe:
        import vl3d_focal.models  # noqa: F401  (registers the built-in model)
        from vl3d_focal.registry import MODELS

        return MODELS.build(
            {
                "train": "PointNetPwiseClassifier",
                "num_pwise_feats": 4,
                "pretransf_feats_spec": [{"filters": 4}],
                "postransf_feats_spec": [{"filters": 4}],
                "tnet_pre_filters_spec": [],
                "tnet_post_filters_spec": [],
            },
            num_points=NUM_POINTS,
            num_features=0,
            num_classes=2,
            random_seed=0,
        )
    coordinates = keras.Input((NUM_POINTS, 3))
    features = keras.Input((NUM_POINTS, 0))
    hidden = keras.layers.Dense(2)(keras.layers.Concatenate()([coordinates, features]))
    return keras.Model([coordinates, features], keras.layers.Lambda(lambda t: t * 2.0)(hidden))


def _foreign_model(folder: Path) -> str:
    """A plain Keras model from another project: no vl3d_focal metadata."""
    _tiny_keras(unsafe=False).save(str(folder / "foreign.keras"))
    return "foreign.keras"


def _bundle_model(folder: Path, name: str, *, unsafe: bool, metadata_patch: dict[str, Any]) -> str:
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.receptive_fields import FieldSpec
    from vl3d_focal.models.bundle import ModelBundle
    from vl3d_focal.models.model_file import save_bundle

    mapping = ClassMapping.from_spec({"classes": CLASSES})
    bundle = ModelBundle(
        model=_tiny_keras(unsafe=unsafe),
        feature_names=[],
        normalizer=None,
        field_spec=FieldSpec.from_config({"num_points": NUM_POINTS}),
        mapping=mapping,
        class_names=list(mapping.names),
    )
    path = save_bundle(bundle, folder / f"{name}.raw.keras")
    rewrite_model_metadata(path, folder / f"{name}.keras", lambda meta: {**meta, **metadata_patch})
    path.unlink()
    return f"{name}.keras"


def rewrite_model_metadata(source: Path, target: Path, change: Callable[[dict], dict]) -> Path:
    """A copy of the model file ``source`` at ``target`` whose metadata member is
    ``change(metadata)``, its other members as they were.

    Example:
        >>> from vl3d_focal.models.model_file import read_metadata
        >>> copy = rewrite_model_metadata(model_file, out / "renamed.keras", lambda meta: {**meta, "seed_note": 1})
        >>> read_metadata(copy)["seed_note"]
        1
    """
    import zipfile

    from vl3d_focal.models.model_file import METADATA_MEMBER

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == METADATA_MEMBER:
                data = json.dumps(change(json.loads(data))).encode()
            new.writestr(item, data)
    return target


def _future_model(folder: Path) -> str:
    return _bundle_model(folder, "future_version", unsafe=False, metadata_patch={"format_version": 99})


def _unsafe_model(folder: Path) -> str:
    return _bundle_model(folder, "unsafe_lambda", unsafe=True, metadata_patch={})


def _broken_metadata(folder: Path) -> str:
    return _bundle_model(
        folder, "broken_metadata", unsafe=False, metadata_patch={"feature_names": None, "class_names": "ground"}
    )


def _not_a_model(folder: Path) -> str:
    (folder / "not_a_model.keras").write_bytes(b"\x00garbage, not a zip archive" * 8)
    return "not_a_model.keras"


SpecMaker = Callable[[Path, str], dict[str, Any]]


def _cloud_case(make: Callable[[Path], str], **options: Any) -> SpecMaker:
    return lambda folder, case: train_spec(case, make(folder), **options)


def _model_case(make: Callable[[Path], str], *, evaluate: bool = False) -> SpecMaker:
    return lambda folder, case: predict_spec(case, _good(folder), model=make(folder), evaluate=evaluate)


CASES: dict[str, SpecMaker] = {
    "truncated_laz": _cloud_case(_truncated_laz),
    "truncated_las": _cloud_case(_truncated_las),
    "corrupted_laz": _cloud_case(_corrupted_laz),
    "not_las": _cloud_case(_not_las),
    "empty_cloud": _cloud_case(_empty_cloud),
    "too_few_points": _cloud_case(_too_few_points),
    "nan_coordinates": _cloud_case(_nan_coordinates),
    "inf_coordinates": _cloud_case(_inf_coordinates),
    "nan_feature": _cloud_case(_nan_feature, fnames=["intensity", "reflectance"]),
    "missing_feature": _cloud_case(_good, fnames=["intensity", "nir"]),
    "unlabelled_training": _cloud_case(_unlabelled),
    "unlabelled_evaluation": lambda folder, case: predict_spec(
        case, _unlabelled(folder), model=_bundle_model(folder, "valid", unsafe=False, metadata_patch={}), evaluate=True
    ),
    "unmapped_codes": _cloud_case(_unmapped, ignore_codes=[0, 1]),
    "foreign_model": _model_case(_foreign_model),
    "future_model": _model_case(_future_model),
    "unsafe_model": _model_case(_unsafe_model),
    "broken_metadata": _model_case(_broken_metadata),
    "not_a_model": _model_case(_not_a_model),
}
"""Case name -> function writing its input files into a folder and returning its spec."""


def build_corpus(folder: Path) -> dict[str, Path]:
    """Writes every case's files and spec into ``folder``; returns case name -> spec path.

    Example:
        >>> build_corpus(out)["not_las"].name
        'not_las.json'
    """
    folder.mkdir(parents=True, exist_ok=True)
    specs = {}
    for case, make in CASES.items():
        spec = folder / f"{case}.json"
        spec.write_text(json.dumps(make(folder, case), indent=1))
        specs[case] = spec
    return specs


if __name__ == "__main__":
    for case_name, spec_path in build_corpus(Path(sys.argv[1])).items():
        print(f"{case_name}: {spec_path}")
