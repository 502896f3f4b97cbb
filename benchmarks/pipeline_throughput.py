"""Pipeline throughput: field building, training step with our loss vs Keras', prediction + memory.

Three measurements on generated clouds (:mod:`vl3d_focal.data.synthetic`, about 15 points/m²):

1. Field building (:func:`vl3d_focal.data.receptive_fields.build_fields`) on a 1,000,000-point
   cloud, furthest-point and grid subsampling, the demo's fields (sphere, radius 4 m, 256
   points) and the IGN example's (radius 5 m, 384 points): seconds and points/s.
2. Training: one ``train_on_batch`` step (batch 16 fields of 256 points, the demo's PointNet)
   with our class-weighted focal loss (sparse labels) and with
   ``keras.losses.CategoricalCrossentropy(from_logits=True)`` (one-hot), same initial weights,
   steps interleaved, medians; the loss overhead is ``ours / keras - 1``.
3. Prediction: a fresh subprocess per run reads the cloud (as the pipeline does), runs the
   ``predict`` (``ModelLoader``, streamed tile by tile above ``chunk_points``), ``eval`` and
   ``ClassifiedPcloudWriter`` steps with a model trained for one epoch, and reports each step's
   time and its peak resident memory (``VmHWM`` of ``/proc/self/status``). Two models: one on
   point-wise features (:data:`FNAMES`), one also on features of a neighbourhood
   (:data:`NEIGHBOURHOOD_FNAMES`: height above ground and shape features, as the IGN example),
   each on the 1 M cloud and on a 5 M one (five shifted copies), at the default ``chunk_points``.

Run ``python -m benchmarks.pipeline_throughput [--quick]``; prints a table, writes JSON to
``benchmarks/results/pipeline_throughput.json``.

Example:
    python -m benchmarks.pipeline_throughput --quick
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.append(str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "pipeline_throughput.json"
POINTS_PER_M2 = 15.2  # of the synthetic scene at its default density
FNAMES = ["intensity", "return_number", "number_of_returns"]
NEIGHBOURHOOD_FNAMES = FNAMES + ["height_above_ground", "planarity", "verticality"]  # as the IGN example
MAPPING = {"class_mapping": "LASClassMapping", "ignore_codes": [0, 1, 7],
           "classes": [{"name": "ground", "codes": [2]}, {"name": "vegetation", "codes": [3, 4, 5]},
                       {"name": "building", "codes": [6]}, {"name": "vehicle", "codes": [68]},
                       {"name": "pole", "codes": [64]}]}
DEMO_FIELDS = {"pre_processor": "furthest_point_subsampling",
               "neighborhood": {"type": "sphere", "radius": 4.0, "separation_factor": 0.8},
               "num_points": 256, "scale": True}
ARCHITECTURE = {"num_pwise_feats": 32, "pretransf_feats_spec": [{"filters": 32}, {"filters": 64}],
                "postransf_feats_spec": [{"filters": 64}, {"filters": 128}],
                "tnet_pre_filters_spec": [], "tnet_post_filters_spec": []}


def vm_kib(key: str) -> int:
    """A ``VmXXX`` line of ``/proc/self/status`` in KiB (0 where there is none).

    Example:
        >>> vm_kib("VmHWM") >= 0
        True
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def scene_path(folder: Path, *, points: int) -> Path:
    """A generated cloud of about ``points`` points (a square tile, side from the density).

    Example:
        >>> scene_path(Path("/tmp"), points=100_000)              # doctest: +SKIP
    """
    from vl3d_focal.data.synthetic import generate_urban_scene

    path = folder / f"scene_{points}.las"
    if not path.exists():
        generate_urban_scene(seed=7, size_m=math.sqrt(points / POINTS_PER_M2)).write(path)
    return path


def tiled_path(folder: Path, *, source: Path, copies: int) -> Path:
    """``copies`` side-by-side copies (shifted along x) of a cloud, written chunk by chunk.

    Example:
        >>> tiled_path(Path("/tmp"), source=Path("/tmp/a.las"), copies=5)   # doctest: +SKIP
    """
    import laspy

    from vl3d_focal.io.chunks import ChunkedCloudWriter, iter_chunks, read_header

    path = folder / f"{source.stem}_x{copies}.las"
    if path.exists():
        return path
    header = read_header(source)
    shift = int(math.ceil((header.maxs[0] - header.mins[0] + 5.0) / header.scales[0]))
    with ChunkedCloudWriter(path, header=header) as writer:
        for copy in range(copies):
            for _, points in iter_chunks(source, chunk_points=500_000):
                record = laspy.PackedPointRecord(points.array.copy(), points.point_format)
                record.array["X"] += copy * shift
                writer.write(record)
    return path


def bench_fields(cloud_path: Path) -> list[dict[str, Any]]:
    """Seconds and points/s of :func:`build_fields` for the demo's and the IGN example's fields."""
    import laspy

    from vl3d_focal.data.receptive_fields import FieldSpec, build_fields

    las = laspy.read(cloud_path)
    xyz = np.column_stack([las.x, las.y, las.z]).astype(np.float64)
    rows = []
    for radius, k in ((4.0, 256), (5.0, 384)):
        for pre in ("furthest_point_subsampling", "grid_subsampling"):
            spec = FieldSpec(pre_processor=pre, radius=radius, num_points=k)
            start = time.perf_counter()
            fields = build_fields(xyz, spec, seed=0)
            seconds = time.perf_counter() - start
            rows.append({"pre_processor": pre, "radius": radius, "num_points": k, "points": len(xyz),
                         "fields": fields.num_fields, "seconds": seconds, "points_per_s": len(xyz) / seconds})
    return rows


def _training_data(cloud_path: Path, fnames: list[str]) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, Any, Any]:
    import laspy

    from vl3d_focal.data.features import extract_features
    from vl3d_focal.data.normalization import FeatureNormalizer
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.receptive_fields import FieldSpec, build_fields, field_coordinates
    from vl3d_focal.io.las import PointCloud

    cloud = PointCloud.from_las(laspy.read(cloud_path), path=cloud_path)
    mapping = ClassMapping.from_spec(MAPPING)
    labels = mapping.map(np.asarray(cloud.las.classification))
    spec = FieldSpec.from_config(DEMO_FIELDS)
    fields = build_fields(cloud.xyz, spec, seed=0)
    raw = extract_features(cloud, fnames)
    normalizer = FeatureNormalizer().fit(raw, fnames=fnames)
    coordinates = field_coordinates(cloud.xyz, fields, spec)
    features = normalizer.transform(raw)[fields.indices]
    return spec, coordinates, features, np.maximum(labels[fields.indices], 0), normalizer, mapping


def _focal_model(*, num_points: int, num_features: int, labels: np.ndarray, num_classes: int) -> Any:
    """The demo's PointNet compiled with our loss (square-root inverse-frequency class weights)."""
    import keras

    from vl3d_focal.losses import ClassWeightedFocalCategoricalCrossentropy
    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    counts = np.bincount(labels.ravel(), minlength=num_classes)
    weights = [float(w) for w in np.sqrt(counts.sum() / np.maximum(counts, 1) / num_classes)]
    model = build_pointnet_pwise_classifier(num_points=num_points, num_features=num_features,
                                            num_classes=num_classes, random_seed=3, **ARCHITECTURE)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=ClassWeightedFocalCategoricalCrossentropy(class_weight=weights, gamma=2.0, from_logits=True))
    return model


def _save(model: Any, *, fnames: list[str], normalizer: Any, spec: Any, mapping: Any, path: Path) -> None:
    from vl3d_focal.models.model_file import save_bundle
    from vl3d_focal.models.bundle import ModelBundle

    save_bundle(ModelBundle(model=model, feature_names=fnames, normalizer=normalizer, field_spec=spec,
                            mapping=mapping, class_names=list(mapping.names), random_seed=0,
                            predict_batch_size=64), path)


def train_neighbourhood_model(cloud_path: Path, *, model_path: Path) -> None:
    """One epoch of the same model on :data:`NEIGHBOURHOOD_FNAMES`, saved for the prediction runs."""
    spec, coordinates, features, labels, normalizer, mapping = _training_data(cloud_path, NEIGHBOURHOOD_FNAMES)
    model = _focal_model(num_points=spec.num_points, num_features=len(NEIGHBOURHOOD_FNAMES), labels=labels,
                         num_classes=len(mapping.names))
    model.fit((coordinates, features), labels, batch_size=16, epochs=1, verbose=0)
    _save(model, fnames=NEIGHBOURHOOD_FNAMES, normalizer=normalizer, spec=spec, mapping=mapping, path=model_path)


def bench_training(cloud_path: Path, *, repetitions: int, model_path: Path) -> dict[str, Any]:
    """Median seconds of a training step with our loss and with Keras' cross-entropy; then one
    epoch with our loss, saved to ``model_path`` for the prediction runs."""
    import keras

    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    spec, coordinates, features, labels, normalizer, mapping = _training_data(cloud_path, FNAMES)
    batch = 16
    num_classes = len(mapping.names)
    keras_model = build_pointnet_pwise_classifier(num_points=spec.num_points, num_features=len(FNAMES),
                                                  num_classes=num_classes, random_seed=3, **ARCHITECTURE)
    keras_model.compile(optimizer=keras.optimizers.Adam(1e-3),
                        loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    models = {"ours (focal, sparse)": _focal_model(num_points=spec.num_points, num_features=len(FNAMES),
                                                   labels=labels, num_classes=num_classes),
              "keras CategoricalCrossentropy": keras_model}
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(labels), batch, replace=False) for _ in range(repetitions + 2)]

    def target(name: str, rows: np.ndarray) -> np.ndarray:
        return labels[rows] if name.startswith("ours") else np.eye(num_classes, dtype=np.float32)[labels[rows]]

    times: dict[str, list[float]] = {name: [] for name in models}
    for index, rows in enumerate(batches):
        for name in (list(models) if index % 2 else list(models)[::-1]):
            x = (coordinates[rows], features[rows])
            y = target(name, rows)
            start = time.perf_counter()
            models[name].train_on_batch(x, y)
            if index >= 2:  # the first two steps trace and compile
                times[name].append(time.perf_counter() - start)
    rows = {}
    for name, values in times.items():
        median = statistics.median(values)
        rows[name] = {"median_s": median, "q1_s": float(np.percentile(values, 25)),
                      "q3_s": float(np.percentile(values, 75)),
                      "points_per_s": batch * spec.num_points / median}
    ours, theirs = rows["ours (focal, sparse)"]["median_s"], rows["keras CategoricalCrossentropy"]["median_s"]
    model = models["ours (focal, sparse)"]
    start = time.perf_counter()
    model.fit((coordinates, features), labels, batch_size=batch, epochs=1, verbose=0)
    epoch_s = time.perf_counter() - start
    _save(model, fnames=FNAMES, normalizer=normalizer, spec=spec, mapping=mapping, path=model_path)
    return {"batch_fields": batch, "points_per_field": spec.num_points, "steps_timed": repetitions,
            "peers": rows, "loss_overhead_percent": 100.0 * (ours / theirs - 1.0),
            "epoch": {"fields": len(labels), "seconds": epoch_s}}


def predict_child(model_path: Path, cloud_path: Path, out_dir: Path, chunk_points: int | None) -> dict[str, Any]:
    """Runs read + predict + eval + write on one cloud in this process; times and peak memory."""
    from vl3d_focal.steps.evaluate import run_eval
    from vl3d_focal.steps.predict import run_model_loader
    from vl3d_focal.runner.inputs import read_inputs
    from vl3d_focal.steps.writers import run_pcloud_writer
    import vl3d_focal.losses  # noqa: F401
    import vl3d_focal.models  # noqa: F401

    result: dict[str, Any] = {"rss_after_imports_mib": vm_kib("VmRSS") / 1024}
    start = time.perf_counter()
    state = read_inputs(inputs=[cloud_path], prefixes=[str(out_dir) + "/"])
    result["read_s"] = time.perf_counter() - start
    result["points"] = state.clouds[0].num_points
    result["rss_after_read_mib"] = vm_kib("VmRSS") / 1024
    steps = [("predict", run_model_loader, {"predict": "ModelLoader", "model_path": str(model_path), "chunk_points": chunk_points}),
             ("eval", run_eval, {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"}),
             ("write", run_pcloud_writer, {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz",
                                           "probabilities": True, "prediction_dimension": None})]
    for name, handler, step in steps:
        start = time.perf_counter()
        handler(step, state)
        result[f"{name}_s"] = time.perf_counter() - start
        result[f"peak_after_{name}_mib"] = vm_kib("VmHWM") / 1024
    result["predict_points_per_s"] = result["points"] / result["predict_s"]
    result["peak_rss_mib"] = vm_kib("VmHWM") / 1024
    result["chunk_points"] = chunk_points
    result["features"] = list(state.bundle.feature_names)
    return result


def bench_prediction(model_path: Path, cloud_path: Path, *, chunk_points: int | None, folder: Path) -> dict[str, Any]:
    """:func:`predict_child` in a fresh subprocess (its own peak memory)."""
    out_dir = folder / f"pred_{model_path.stem}_{cloud_path.stem}_{chunk_points}"
    command = [sys.executable, "-m", "benchmarks.pipeline_throughput", "--predict-child", str(model_path),
               str(cloud_path), str(out_dir), str(chunk_points or 0)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:], "cloud": cloud_path.name, "chunk_points": chunk_points}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_tables(report: dict[str, Any]) -> None:
    """Prints the three tables."""
    print("\nField building")
    print(f"{'pre_processor':28s} {'r':>4s} {'k':>4s} {'points':>9s} {'fields':>7s} {'s':>7s} {'points/s':>10s}")
    for row in report["fields"]:
        print(f"{row['pre_processor']:28s} {row['radius']:4.1f} {row['num_points']:4d} {row['points']:9d} "
              f"{row['fields']:7d} {row['seconds']:7.2f} {row['points_per_s']:10.0f}")
    training = report["training"]
    print(f"\nTraining step ({training['batch_fields']} fields x {training['points_per_field']} points)")
    for name, row in training["peers"].items():
        print(f"{name:32s} median {row['median_s'] * 1000:7.1f} ms  ({row['q1_s'] * 1000:.1f}-{row['q3_s'] * 1000:.1f})"
              f"  {row['points_per_s']:9.0f} points/s")
    print(f"loss overhead: {training['loss_overhead_percent']:+.1f} % of a training step")
    print("\nPrediction (read + predict + eval + write, fresh process per run)")
    print(f"{'features':>13s} {'points':>9s} {'chunk':>9s} {'read s':>7s} {'predict s':>9s} {'points/s':>9s} "
          f"{'eval s':>7s} {'write s':>7s} {'peak MiB':>8s} {'(predict)':>9s} {'imports MiB':>11s}")
    for row in report["prediction"]:
        if "error" in row:
            print(f"{row['cloud']}: failed: {row['error'][-300:]}")
            continue
        kind = "neighbourhood" if "height_above_ground" in row["features"] else "point-wise"
        print(f"{kind:>13s} {row['points']:9d} {str(row['chunk_points']):>9s} {row['read_s']:7.1f} {row['predict_s']:9.1f} "
              f"{row['predict_points_per_s']:9.0f} {row['eval_s']:7.1f} {row['write_s']:7.1f} "
              f"{row['peak_rss_mib']:8.0f} {row['peak_after_predict_mib']:9.0f} {row['rss_after_imports_mib']:11.0f}")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small clouds and few steps (~2 min)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the generated clouds (default: a temporary one)")
    parser.add_argument("--predict-child", nargs=4, metavar=("MODEL", "CLOUD", "OUT", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.predict_child:
        model, cloud, out, chunk = args.predict_child
        print(json.dumps(predict_child(Path(model), Path(cloud), Path(out), int(chunk) or None)))
        return 0
    from vl3d_focal.steps.predict import DEFAULT_CHUNK_POINTS

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        field_points = 200_000 if args.quick else 1_000_000
        base = scene_path(folder, points=field_points)
        report: dict[str, Any] = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "quick": args.quick,
        }
        report["fields"] = bench_fields(base)
        pointwise, neighbourhood = folder / "model.keras", folder / "model_neighbourhood.keras"
        training_scene = scene_path(folder, points=60_000)
        report["training"] = bench_training(training_scene, repetitions=6 if args.quick else 20, model_path=pointwise)
        train_neighbourhood_model(training_scene, model_path=neighbourhood)
        chunk = 100_000 if args.quick else DEFAULT_CHUNK_POINTS
        big = tiled_path(folder, source=base, copies=5)
        runs = [(model, cloud, chunk) for model in (pointwise, neighbourhood) for cloud in (base, big)]
        if not args.quick:
            runs.insert(0, (pointwise, base, None))  # one shot, for the memory it costs
        report["prediction"] = [bench_prediction(model, cloud, chunk_points=size, folder=folder)
                                for model, cloud, size in runs]
    print_tables(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
