"""Test helpers shared by several test modules (pytest puts tests/ on sys.path).

Example:
    >>> from helpers import DEMO_CLASSES, run_cli
    >>> [c["name"] for c in DEMO_CLASSES][:2]
    ['ground', 'vegetation']
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCENE_HIERARCHY = {
    "pre_processor": "hierarchical_fps",
    "neighborhood": {"type": "sphere", "radius": 3.0},
    "num_points_per_depth": [32, 16, 8],
    "num_pwise_neighbors": [6, 4, 4],
    "num_downsampling_neighbors": [1, 4, 4],
    "num_upsampling_neighbors": [1, 2, 2],
}
"""The autoencoder's receptive fields for a 10 m synthetic scene: three depths of 32, 16 and 8 points."""

DEMO_CLASSES = [
    {"name": "ground", "codes": [2]},
    {"name": "vegetation", "codes": [3, 4, 5]},
    {"name": "building", "codes": [6]},
    {"name": "vehicle", "codes": [68]},
    {"name": "pole", "codes": [64]},
]
"""A class mapping of the synthetic scene's LAS codes (vl3d_focal.data.synthetic)."""

TWO_CLASS_MAPPING = {
    "class_mapping": "LASClassMapping",
    "classes": [{"name": "ground", "codes": [2]}, {"name": "other", "codes": [3, 4, 5, 6, 64, 68]}],
    "ignore_codes": [0, 1, 7],
}
"""A ``class_mapping`` step of the synthetic scene's LAS codes in two classes: ground, and the other
classified points."""

PINNED_KEYS = {"OA", "mIoU", "macro_F1", "MCC", "Kappa", "class_names", "confusion_matrix", "per_class"}
"""The keys an evaluation report must have (pinned by the issue)."""


VEGETATION_REDUCER = {
    "class_transformer": "ClassReducer",
    "input_class_names": [str(c) for c in range(256)],
    "output_class_names": ["vegetation", "other"],
    "class_groups": [["3", "4", "5"], [str(c) for c in range(256) if c not in (3, 4, 5)]],
}
"""VL3D's ClassReducer of LAS codes 0..255 into vegetation (ASPRS 3, 4, 5) and other."""


def tiny_pointnet_args(num_classes: int) -> dict:
    """``model_args`` of a PointNet small enough for a test: 32 points of 3 m spheres, 8 features,
    no T-Net, one epoch, no checkpoint, sparse cross-entropy."""
    return {
        "num_classes": num_classes,
        "num_pwise_feats": 8,
        "pre_processing": {"neighborhood": {"radius": 3.0}, "num_points": 32},
        "pretransf_feats_spec": [{"filters": 8}],
        "postransf_feats_spec": [{"filters": 8}],
        "tnet_pre_filters_spec": [],
        "tnet_post_filters_spec": [],
        "model_handling": {"training_epochs": 1, "batch_size": 16, "checkpoint": False},
        "compilation_args": {"loss": {"function": "sparse_categorical_crossentropy"}},
    }


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs ``python -m vl3d_focal ARGS`` in ``cwd`` (TensorFlow quiet), capturing its text output.

    Example:
        >>> run_cli("--version", cwd=out).stdout.startswith("vl3d-focal")
        True
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "vl3d_focal", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def killed_process_output(code: str, *, temporary: Path) -> tuple[str, list[str]]:
    """Runs Python ``code`` in a fresh process whose temporary folder is ``temporary`` and which
    ends with ``os._exit(0)`` (no exit handlers run, as in a killed process); returns its standard
    output and what it left in the folder. Autograph converts a function once per process, hence
    a process of its own.

    Example:
        >>> import tempfile
        >>> killed_process_output("print('done')", temporary=Path(tempfile.mkdtemp()))
        ('done', [])
    """
    environment = {**os.environ, "TMPDIR": str(temporary), "TF_CPP_MIN_LOG_LEVEL": "3"}
    program = f"import os\n{code}\nimport sys; sys.stdout.flush(); os._exit(0)\n"
    done = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip(), sorted(path.name for path in temporary.iterdir())


def split_scene(las, folder: Path, *, splits: int = 2) -> tuple[list[Path], list]:
    """Writes ``las`` (a laspy.LasData) as ``splits`` x ``splits`` square tiles ``tile_<i>_<j>.las``
    (same header, CRS and point format), as a survey of adjacent tiles; returns their paths and,
    for each, the indices of its points in ``las`` (in file order).

    Example:
        >>> from vl3d_focal.data.synthetic import generate_urban_scene
        >>> scene = generate_urban_scene(seed=1, size_m=20.0, density=1.0)
        >>> tiles, members = split_scene(scene, out)
        >>> [path.name for path in tiles]
        ['tile_0_0.las', 'tile_0_1.las', 'tile_1_0.las', 'tile_1_1.las']
        >>> sorted(np.concatenate(members).tolist()) == list(range(len(scene.points)))
        True
    """
    import copy

    import laspy
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    xy = np.column_stack([np.asarray(las.x), np.asarray(las.y)])
    low, high = xy.min(axis=0), xy.max(axis=0)
    cells = np.minimum(((xy - low) / ((high - low) / splits)).astype(int), splits - 1)
    paths, members = [], []
    for i in range(splits):
        for j in range(splits):
            mask = (cells[:, 0] == i) & (cells[:, 1] == j)
            path = folder / f"tile_{i}_{j}.las"
            laspy.LasData(header=copy.deepcopy(las.header), points=las.points[mask].copy()).write(path)
            paths.append(path)
            members.append(np.flatnonzero(mask))
    return paths, members


def random_bundle(*, fnames: list[str], radius: float = 2.0, num_points: int = 48, seed: int = 5, fit_on=None):
    """An untrained point-wise PointNet with everything needed to predict (the demo classes); its
    feature normaliser is fitted on ``fit_on`` (a PointCloud) when given.

    Example:
        >>> random_bundle(fnames=["intensity"]).model.output_shape
        (None, 48, 5)
    """
    import numpy as np

    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.normalization import FeatureNormalizer
    from vl3d_focal.data.receptive_fields import FieldSpec
    from vl3d_focal.models.bundle import ModelBundle
    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    model = build_pointnet_pwise_classifier(
        num_points=num_points,
        num_features=len(fnames),
        num_classes=5,
        num_pwise_feats=8,
        pretransf_feats_spec=[{"filters": 8}],
        postransf_feats_spec=[{"filters": 8}],
        tnet_pre_filters_spec=[],
        tnet_post_filters_spec=[],
        random_seed=seed,
    )
    mapping = ClassMapping.from_spec(
        {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]}
    )
    normalizer = FeatureNormalizer(fnames=fnames, center=np.zeros(len(fnames)), scale=np.full(len(fnames), 100.0))
    if fit_on is not None:
        from vl3d_focal.data.features import extract_features

        normalizer.fit(extract_features(fit_on, fnames), fnames=fnames)
    return ModelBundle(
        model=model,
        feature_names=list(fnames),
        normalizer=normalizer if fnames else None,
        field_spec=FieldSpec(radius=radius, num_points=num_points),
        mapping=mapping,
        class_names=list(mapping.names),
        random_seed=3,
        predict_batch_size=64,
    )


VL3D_CLASSES = {
    "leafwood": {2: 0, 6: 0, 7: 0, 64: 0, 68: 0, 3: 1, 4: 1, 5: 1},
    "hessigheim": {3: 0, 2: 1, 68: 2, 64: 3, 6: 4, 4: 6, 5: 7, 7: 9},
}
"""Synthetic LAS codes -> VL3D class values: wood/leaf (2 classes), and Hessigheim's 11 classes
(low vegetation 0, impervious surface 1, vehicle 2, urban furniture 3, roof 4, shrub 6, tree 7,
vertical surface 9; facade 5, soil/gravel 8 and chimney 10 have no point)."""


def final_clouds_scene(folder: Path) -> Path:
    """Two generated tiles (``tiles/tile_0_0.las``, ``tile_0_1.las``) predicted by an untrained
    model (``model.keras``) into the final clouds ``out/a.laz`` and ``out/b.laz`` by the spec
    ``final.json``, all in ``folder``; returns it.
    """
    from vl3d_focal.config import load_spec
    from vl3d_focal.data.synthetic import generate_urban_scene
    from vl3d_focal.io.las import PointCloud
    from vl3d_focal.models.model_file import save_bundle
    from vl3d_focal.runner.pipeline import execute_pipeline

    las = generate_urban_scene(seed=11, size_m=24.0, density=1.0)
    split_scene(las, folder / "tiles")
    bundle = random_bundle(fnames=["intensity", "gps_time"], radius=2.5, num_points=32, fit_on=PointCloud.from_las(las))
    save_bundle(bundle, folder / "model.keras")
    spec = {
        "in_pcloud": ["tiles/tile_0_0.las", "tiles/tile_0_1.las"],
        "out_pcloud": ["out/a.laz", "out/b.laz"],
        "sequential_pipeline": [{"predict": "ModelLoader", "model_path": "model.keras"}],
    }
    (folder / "final.json").write_text(json.dumps(spec))
    execute_pipeline(load_spec(folder / "final.json"))
    return folder


def write_vl3d_cloud(
    path: Path,
    *,
    classes: str,
    seed: int,
    size_m: float = 24.0,
    density: float = 3.0,
    scale: float = 1.0,
    extra: tuple[str, ...] = (),
) -> Path:
    """A synthetic tile whose classification holds VL3D class values 0..C-1 (see VL3D_CLASSES).

    ``scale`` shrinks the coordinates (0.1 turns the 24 m tile into a 2.4 m "tree", the scale
    of VL3D's leaf/wood specs); each name of ``extra`` becomes a float32 extra dimension (the
    height above the lowest point), like the features VL3D's data miners store.

    Example:
        >>> import laspy
        >>> path = write_vl3d_cloud(out / "t.laz", classes="leafwood", seed=0)
        >>> sorted(set(laspy.read(path).classification.tolist()))
        [0, 1]
    """
    import laspy
    import numpy as np

    from vl3d_focal.data.synthetic import generate_urban_scene

    las = generate_urban_scene(seed=seed, size_m=size_m, density=density)
    table = np.full(256, 255, dtype=np.uint8)
    for code, value in VL3D_CLASSES[classes].items():
        table[code] = value
    las.classification = table[np.array(las.classification)]
    if scale != 1.0:
        xyz = np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])
        xyz = (xyz - xyz.min(axis=0)) * scale
        las.header.scales = np.array([0.001, 0.001, 0.001])
        las.header.offsets = np.zeros(3)
        las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    for name in extra:
        las.add_extra_dim(laspy.ExtraBytesParams(name=name, type=np.float32))
        las[name] = (np.asarray(las.z) - np.asarray(las.z).min()).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    las.write(path)
    return path


def miner_spec(fnames: list[str], miners: list[dict], *, after: bool = False) -> dict:
    """A spec of ``scene.las`` whose miner steps come before (or ``after``) a PointNet train step
    of ``fnames``.

    Example:
        >>> [list(step)[0] for step in miner_spec(["planarity_k16"], [{"miner": "GeometricFeatures"}])["sequential_pipeline"]]
        ['class_mapping', 'miner', 'train']
    """
    train = {
        "train": "PointNetPwiseClassifier",
        "fnames": fnames,
        "model_args": {
            "num_classes": 5,
            "pre_processing": {"neighborhood": {"radius": 3.0}},
            "compilation_args": {"loss": {"function": "sparse_categorical_crossentropy"}},
        },
    }
    steps = [{"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}]
    steps += [train, *miners] if after else [*miners, train]
    return {"in_pcloud": ["scene.las"], "out_pcloud": ["out/*"], "sequential_pipeline": steps}


def write_with_extra_dims(las, dims: dict, path: Path) -> Path:
    """Writes ``las`` (a laspy.LasData) to ``path`` with each array of ``dims`` as a float32 extra
    dimension of its name; returns ``path``.

    Example:
        >>> import laspy
        >>> from vl3d_focal.data.synthetic import generate_urban_scene
        >>> scene = generate_urban_scene(seed=1, size_m=10.0, density=1.0)
        >>> path = write_with_extra_dims(scene, {"flat": np.full(len(scene.points), 3.0)}, out / "flat.las")
        >>> laspy.read(path)["flat"][:2].tolist()
        [3.0, 3.0]
    """
    import laspy
    import numpy as np

    for name, values in dims.items():
        las.add_extra_dim(laspy.ExtraBytesParams(name=name, type=np.float32))
        las[name] = values.astype(np.float32)
    las.write(path)
    return path


def run_steps(folder: Path, name: str, inputs: list[Path], out: str, steps: list[dict]):
    """Runs the pipeline of ``steps`` on the clouds ``inputs`` in this process, its outputs in
    ``folder / out`` (its spec saved as ``folder / "<name>.json"``); returns its state."""
    from vl3d_focal.config import load_spec
    from vl3d_focal.runner.pipeline import execute_pipeline

    spec = {"in_pcloud": [str(p) for p in inputs], "out_pcloud": [f"{folder / out}/*"], "sequential_pipeline": steps}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return execute_pipeline(load_spec(path))


def assert_loaded_model_predicts(folder: Path, model: Path, cloud: Path, expected: Any) -> None:
    """Asserts that the model file ``model`` (``ModelLoader``) predicts the classes ``expected``
    for every point of ``cloud`` in memory, streamed tile by tile, and on a Dask worker (whose
    ``PredictionsWriter`` output is read back); the runs' outputs go under ``folder``."""
    import numpy as np

    from vl3d_focal.config import load_spec
    from vl3d_focal.runner.pipeline import execute_pipeline

    for chunk_points in (None, 1000):  # in memory, then streamed tile by tile
        loader = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": chunk_points}
        state = run_steps(folder, "predict", [cloud], f"pred_{chunk_points}", [loader])
        classes = np.concatenate([c for _, _, c, _ in state.clouds[0].result.iter_chunks()])
        np.testing.assert_array_equal(classes, expected)
    steps = [
        {"predict": "ModelLoader", "model_path": str(model)},
        {"writer": "PredictionsWriter", "out_preds": "*p.lbl"},
    ]
    spec = {"in_pcloud": [str(cloud)], "out_pcloud": [f"{folder / 'dask'}/*"], "sequential_pipeline": steps}
    (folder / "dask.json").write_text(json.dumps({**spec, "executor": {"engine": "dask", "workers": 1}}))
    execute_pipeline(load_spec(folder / "dask.json"))  # a Dask worker applies the model as the driver does
    np.testing.assert_array_equal(np.loadtxt(folder / "dask" / "p.lbl", dtype=np.int64), expected)


def streamed_features(path: Path, names: list[str], miners: list, *, side: float) -> Any:
    """``(n, len(names))`` the features of every point of ``path``, in file order, as a streamed
    cloud's tiles of ``side`` metres compute them (the miners' inputs bucketed beside them).

    Example:
        >>> import tempfile
        >>> from vl3d_focal.data.synthetic import generate_urban_scene
        >>> path = Path(tempfile.mkdtemp()) / "scene.las"
        >>> generate_urban_scene(seed=1, size_m=20.0).write(path)
        >>> streamed_features(path, ["intensity"], [], side=10.0).shape[1]
        1
    """
    import numpy as np

    from vl3d_focal.data.miners import mined_names, smoothing_inputs
    from vl3d_focal.inference.tile_buckets import (
        StreamedPredictions,
        TileGrid,
        bucket_dtype,
        cloud_bounds,
        write_buckets,
    )
    from vl3d_focal.inference.tile_features import fill_neighbourhood_features

    columns = names + smoothing_inputs(names, miners)
    low, high, _ = cloud_bounds(path, chunk_points=4000)
    shape = tuple(int(v) for v in np.floor((high[:2] - low[:2]) / side) + 1)
    grid = TileGrid(origin=low[:2], side=side, shape=(shape[0], shape[1]))
    result = StreamedPredictions(path=path, grid=grid, chunk_points=4000, num_classes=2)
    write_buckets(result, feature_names=columns, mined=mined_names(miners))
    tiles = [int(t) for t in np.flatnonzero(result.counts.sum(axis=1))]
    fill_neighbourhood_features(result, feature_names=columns, tiles=tiles, bounds=(low, high), miners=miners)
    rows = np.concatenate([np.fromfile(result.bucket(t), dtype=bucket_dtype(len(columns))) for t in tiles])
    result.close()
    return rows["feat"][np.argsort(rows["id"]), : len(names)]


def write_point_cloud(path: Path, *, points: int = 1) -> Path:
    """A valid LAS/LAZ file (by its suffix) of ``points`` points of class 2 at the origin: the
    smallest input cloud validation accepts (it reads each input's header and size).

    Example:
        >>> import laspy
        >>> laspy.read(write_point_cloud(out / "one.laz")).header.point_count
        1
    """
    import laspy
    import numpy as np

    las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
    las.x = las.y = las.z = np.zeros(points)
    las.classification = np.full(points, 2, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    las.write(path)
    return path


def write_model_metadata(path: Path, *, classes: list[dict] | None = None) -> Path:
    """A model file as validation reads it: its metadata member only (no network), of the
    ``classes`` (a class step's ``classes``; default :data:`DEMO_CLASSES`).

    Example:
        >>> from vl3d_focal.models.model_file import read_metadata
        >>> read_metadata(write_model_metadata(out / "stub.keras"))["class_names"][:2]
        ['ground', 'vegetation']
    """
    import zipfile

    from vl3d_focal.models.model_file import FORMAT_VERSION, METADATA_MEMBER

    classes = DEMO_CLASSES if classes is None else classes
    names = [c["name"] for c in classes]
    meta = {
        "format_version": FORMAT_VERSION,
        "feature_names": ["intensity"],
        "class_names": names,
        "field_spec": {},
        "mapping": {"names": names, "codes": [c["codes"] for c in classes]},
        "normalizer": None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(METADATA_MEMBER, json.dumps(meta))
    return path
