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
   point-wise features (:data:`~benchmarks.throughput_models.FNAMES`), one also on features of a neighbourhood
   (:data:`~benchmarks.throughput_models.NEIGHBOURHOOD_FNAMES`: height above ground and shape features, as the IGN example),
   and on those features the hierarchical autoencoder (:data:`~benchmarks.throughput_models.AUTOENCODER`, its index arrays
   built per chunk of fields) and a random forest, each on the 1 M cloud and on a 5 M one (five
   shifted copies), at the default ``chunk_points``.

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

from benchmarks.throughput_models import (  # noqa: E402
    ARCHITECTURE,
    FNAMES,
    focal_model,
    save_model,
    train_autoencoder_model,
    train_forest_model,
    train_neighbourhood_model,
    training_data,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "pipeline_throughput.json"
POINTS_PER_M2 = 15.2  # of the synthetic scene at its default density


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
        >>> import laspy, tempfile
        >>> path = scene_path(Path(tempfile.mkdtemp()), points=3_000)
        >>> path.name, 2_000 < laspy.read(path).header.point_count < 4_500
        ('scene_3000.las', True)
    """
    from vl3d_focal.data.synthetic import generate_urban_scene

    path = folder / f"scene_{points}.las"
    if not path.exists():
        generate_urban_scene(seed=7, size_m=math.sqrt(points / POINTS_PER_M2)).write(path)
    return path


def tiled_path(folder: Path, *, source: Path, copies: int) -> Path:
    """``copies`` side-by-side copies (shifted along x) of a cloud, written chunk by chunk.

    Example:
        >>> import laspy, tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> source = scene_path(folder, points=3_000)
        >>> copies = tiled_path(folder, source=source, copies=2)
        >>> laspy.read(copies).header.point_count == 2 * laspy.read(source).header.point_count
        True
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
            rows.append(
                {
                    "pre_processor": pre,
                    "radius": radius,
                    "num_points": k,
                    "points": len(xyz),
                    "fields": fields.num_fields,
                    "seconds": seconds,
                    "points_per_s": len(xyz) / seconds,
                }
            )
    return rows


def bench_training(cloud_path: Path, *, repetitions: int, model_path: Path) -> dict[str, Any]:
    """Median seconds of a training step with our loss and with Keras' cross-entropy; then one
    epoch with our loss, saved to ``model_path`` for the prediction runs."""
    import keras

    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    spec, coordinates, features, labels, normalizer, mapping = training_data(cloud_path, FNAMES)
    batch = 16
    num_classes = len(mapping.names)
    keras_model = build_pointnet_pwise_classifier(
        num_points=spec.num_points, num_features=len(FNAMES), num_classes=num_classes, random_seed=3, **ARCHITECTURE
    )
    keras_model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CategoricalCrossentropy(from_logits=True)
    )
    models = {
        "ours (focal, sparse)": focal_model(
            num_points=spec.num_points, num_features=len(FNAMES), labels=labels, num_classes=num_classes
        ),
        "keras CategoricalCrossentropy": keras_model,
    }
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(labels), batch, replace=False) for _ in range(repetitions + 2)]

    def target(name: str, rows: np.ndarray) -> np.ndarray:
        return labels[rows] if name.startswith("ours") else np.eye(num_classes, dtype=np.float32)[labels[rows]]

    times: dict[str, list[float]] = {name: [] for name in models}
    for index, rows in enumerate(batches):
        for name in list(models) if index % 2 else list(models)[::-1]:
            x = (coordinates[rows], features[rows])
            y = target(name, rows)
            start = time.perf_counter()
            models[name].train_on_batch(x, y)
            if index >= 2:  # the first two steps trace and compile
                times[name].append(time.perf_counter() - start)
    peers: dict[str, dict[str, float]] = {}
    for name, values in times.items():
        median = statistics.median(values)
        peers[name] = {
            "median_s": median,
            "q1_s": float(np.percentile(values, 25)),
            "q3_s": float(np.percentile(values, 75)),
            "points_per_s": batch * spec.num_points / median,
        }
    ours, theirs = peers["ours (focal, sparse)"]["median_s"], peers["keras CategoricalCrossentropy"]["median_s"]
    model = models["ours (focal, sparse)"]
    start = time.perf_counter()
    model.fit((coordinates, features), labels, batch_size=batch, epochs=1, verbose=0)
    epoch_s = time.perf_counter() - start
    save_model(model, fnames=FNAMES, normalizer=normalizer, spec=spec, mapping=mapping, path=model_path)
    return {
        "batch_fields": batch,
        "points_per_field": spec.num_points,
        "steps_timed": repetitions,
        "peers": peers,
        "loss_overhead_percent": 100.0 * (ours / theirs - 1.0),
        "epoch": {"fields": len(labels), "seconds": epoch_s},
    }


def predict_child(model_path: Path, cloud_path: Path, out_dir: Path, chunk_points: int | None) -> dict[str, Any]:
    """Runs read + predict + eval + write on one cloud in this process, with the step arguments
    a run gets; times and peak memory.

    Example:
        >>> import tempfile
        >>> from benchmarks.predict_profile import ign_model
        >>> folder = Path(tempfile.mkdtemp())
        >>> cloud = scene_path(folder, points=3_000)
        >>> ign_model(cloud, folder / "model.keras")
        >>> result = predict_child(folder / "model.keras", cloud, folder / "out", None)
        >>> result["predict_points_per_s"] > 0, (folder / "out" / "eval" / "evaluation.json").exists()
        (True, True)
    """
    import vl3d_focal.losses  # noqa: F401
    import vl3d_focal.models  # noqa: F401
    from benchmarks.predict_profile import tile_steps  # here: predict_profile imports this module
    from vl3d_focal.runner.inputs import read_inputs
    from vl3d_focal.steps.evaluate import run_eval
    from vl3d_focal.steps.predict import run_model_loader
    from vl3d_focal.steps.writers import run_pcloud_writer

    result: dict[str, Any] = {"rss_after_imports_mib": vm_kib("VmRSS") / 1024}
    start = time.perf_counter()
    state = read_inputs(inputs=[cloud_path], prefixes=[str(out_dir) + "/"])
    result["read_s"] = time.perf_counter() - start
    result["points"] = state.clouds[0].num_points
    result["rss_after_read_mib"] = vm_kib("VmRSS") / 1024
    predict, evaluate, write = tile_steps(model_path, cloud_path, out_dir, chunk_points=chunk_points)
    steps = [("predict", run_model_loader, predict), ("eval", run_eval, evaluate), ("write", run_pcloud_writer, write)]
    for name, handler, step in steps:
        start = time.perf_counter()
        handler(step, state)
        result[f"{name}_s"] = time.perf_counter() - start
        result[f"peak_after_{name}_mib"] = vm_kib("VmHWM") / 1024
    result["predict_points_per_s"] = result["points"] / result["predict_s"]
    result["peak_rss_mib"] = vm_kib("VmHWM") / 1024
    result["chunk_points"] = chunk_points
    assert state.bundle is not None, "the predict step sets the model"
    result["features"] = list(state.bundle.feature_names)
    result["model"] = state.bundle.model_name
    return result


def bench_prediction(model_path: Path, cloud_path: Path, *, chunk_points: int | None, folder: Path) -> dict[str, Any]:
    """:func:`predict_child` in a fresh subprocess (its own peak memory)."""
    out_dir = folder / f"pred_{model_path.stem}_{cloud_path.stem}_{chunk_points}"
    command = [
        sys.executable,
        "-m",
        "benchmarks.pipeline_throughput",
        "--predict-child",
        str(model_path),
        str(cloud_path),
        str(out_dir),
        str(chunk_points or 0),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:], "cloud": cloud_path.name, "chunk_points": chunk_points}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_tables(report: dict[str, Any]) -> None:
    """Prints the three tables."""
    print("\nField building")
    print(f"{'pre_processor':28s} {'r':>4s} {'k':>4s} {'points':>9s} {'fields':>7s} {'s':>7s} {'points/s':>10s}")
    for row in report["fields"]:
        print(
            f"{row['pre_processor']:28s} {row['radius']:4.1f} {row['num_points']:4d} {row['points']:9d} "
            f"{row['fields']:7d} {row['seconds']:7.2f} {row['points_per_s']:10.0f}"
        )
    training = report["training"]
    print(f"\nTraining step ({training['batch_fields']} fields x {training['points_per_field']} points)")
    for name, row in training["peers"].items():
        print(
            f"{name:32s} median {row['median_s'] * 1000:7.1f} ms  ({row['q1_s'] * 1000:.1f}-{row['q3_s'] * 1000:.1f})"
            f"  {row['points_per_s']:9.0f} points/s"
        )
    print(f"loss overhead: {training['loss_overhead_percent']:+.1f} % of a training step")
    print("\nPrediction (read + predict + eval + write, fresh process per run)")
    print(
        f"{'features':>13s} {'points':>9s} {'chunk':>9s} {'read s':>7s} {'predict s':>9s} {'points/s':>9s} "
        f"{'eval s':>7s} {'write s':>7s} {'peak MiB':>8s} {'(predict)':>9s} {'imports MiB':>11s}"
    )
    for row in report["prediction"]:
        if "error" in row:
            print(f"{row['cloud']}: failed: {row['error'][-300:]}")
            continue
        kind = (
            row["model"]
            if row["model"] != "PointNetPwiseClassifier"
            else ("neighbourhood" if "height_above_ground" in row["features"] else "point-wise")
        )
        kind = {"ConvolutionalAutoencoderPwiseClassifier": "autoencoder", "RandomForestClassifier": "forest"}.get(
            kind, kind
        )
        print(
            f"{kind:>13s} {row['points']:9d} {str(row['chunk_points']):>9s} {row['read_s']:7.1f} {row['predict_s']:9.1f} "
            f"{row['predict_points_per_s']:9.0f} {row['eval_s']:7.1f} {row['write_s']:7.1f} "
            f"{row['peak_rss_mib']:8.0f} {row['peak_after_predict_mib']:9.0f} {row['rss_after_imports_mib']:11.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small clouds and few steps (~2 min)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="folder for the generated clouds (default: a temporary one)"
    )
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
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "quick": args.quick,
        }
        report["fields"] = bench_fields(base)
        pointwise, neighbourhood = folder / "model.keras", folder / "model_neighbourhood.keras"
        training_scene = scene_path(folder, points=60_000)
        report["training"] = bench_training(training_scene, repetitions=6 if args.quick else 20, model_path=pointwise)
        train_neighbourhood_model(training_scene, model_path=neighbourhood)
        autoencoder, forest = folder / "model_autoencoder.keras", folder / "model_forest.keras"
        train_autoencoder_model(training_scene, model_path=autoencoder)
        train_forest_model(training_scene, model_path=forest)
        chunk = 100_000 if args.quick else DEFAULT_CHUNK_POINTS
        big = tiled_path(folder, source=base, copies=5)
        runs: list[tuple[Path, Path, int | None]] = [
            (model, cloud, chunk) for model in (pointwise, neighbourhood, autoencoder, forest) for cloud in (base, big)
        ]
        if not args.quick:
            runs.insert(0, (pointwise, base, None))  # one shot, for the memory it costs
        report["prediction"] = [
            bench_prediction(model, cloud, chunk_points=size, folder=folder) for model, cloud, size in runs
        ]
    print_tables(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
