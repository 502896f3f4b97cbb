"""Where a tile's prediction spends its time: reading, features, fields, network, propagation,
evaluation, writing.

Runs the ``predict`` (``ModelLoader``), ``eval`` and ``ClassifiedPcloudWriter`` steps on one
cloud in this process, with the IGN example's model (``examples/ign_train.json``: seven features
of which four of a neighbourhood, furthest-point fields of 384 points in 5 m spheres, the same
PointNet; untrained weights: the time does not depend on them), and samples the main thread's
stack every :data:`SAMPLE_S` seconds: each sample goes to the innermost stage its stack is in
(:data:`STAGES`), so the stages add up to the wall time. The CPU time of the process is
reported too (the machine is shared: wall time includes waiting for a core).

Run ``python -m benchmarks.predict_profile [--points N] [--chunk-points C] [--repeat R]``;
prints a table, writes JSON to ``benchmarks/results/predict_profile.json``.

Example:
    python -m benchmarks.predict_profile --points 1000000 --chunk-points 250000
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.pipeline_throughput import MAPPING, scene_path, vm_kib  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "predict_profile.json"
SAMPLE_S = 0.005
IGN_FNAMES = ["intensity", "return_number", "number_of_returns", "height_above_ground", "planarity", "scattering",
              "verticality"]
IGN_FIELDS = {"pre_processor": "furthest_point_subsampling",
              "neighborhood": {"type": "sphere", "radius": 5.0, "separation_factor": 0.8}, "num_points": 384,
              "scale": True}
IGN_ARCHITECTURE = {"num_pwise_feats": 32, "pretransf_feats_spec": [{"filters": 32}, {"filters": 64}],
                    "postransf_feats_spec": [{"filters": 64}, {"filters": 128}], "tnet_pre_filters_spec": [],
                    "tnet_post_filters_spec": [], "kernel_initializer": "he_normal"}
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("network", ("vl3d_focal.inference.prediction:predict_fields",)),
    ("propagation", ("vl3d_focal.data.propagation:", "vl3d_focal.inference.streaming:_resolve_far")),
    ("fields", ("vl3d_focal.data.receptive_fields:", "vl3d_focal.data.subsampling:",
                "vl3d_focal.inference.streaming:_TileCentres", "vl3d_focal.inference.streaming:_lowest_uncovered",
                "vl3d_focal.inference.streaming:_cell_means", "vl3d_focal.inference.streaming:centres",
                "vl3d_focal.inference.streaming:__init__", "vl3d_focal.inference.prediction:_TiledPoints",
                "vl3d_focal.inference.prediction:around", "vl3d_focal.inference.prediction:_tiles")),
    ("features", ("vl3d_focal.data.features:", "vl3d_focal.data.terrain:", "vl3d_focal.inference.tile_features:",
                  "vl3d_focal.data.field_inputs:cloud_features")),
    ("reading", ("vl3d_focal.io.chunks:iter_chunks", "vl3d_focal.io.chunks:read_within",
                 "vl3d_focal.io.chunks:read_header", "vl3d_focal.io.las:read_cloud",
                 "vl3d_focal.inference.tile_buckets:cloud_bounds")),
    ("writing", ("vl3d_focal.io.chunks:write", "vl3d_focal.io.chunks:__exit__", "vl3d_focal.io.chunks:__enter__",
                 "vl3d_focal.inference.classified_output:")),
    ("evaluation", ("vl3d_focal.inference.scoring:", "vl3d_focal.reports.", "vl3d_focal.steps.evaluate:")),
    ("tile files", ("vl3d_focal.inference.tile_buckets:", "vl3d_focal.inference.streaming:")),
]
"""Stage of a stack frame ``module:function`` (prefix match), innermost match wins; first rule
first among rules matching the same frame."""


def _stage(frame: Any) -> str:
    while frame is not None:
        name = f"{frame.f_globals.get('__name__', '')}:{frame.f_code.co_name}"
        for stage, prefixes in STAGES:
            if name.startswith(prefixes):
                return stage
        frame = frame.f_back
    return "other"


class StackSampler:
    """Counts the stage of a thread's stack every :data:`SAMPLE_S` seconds (a daemon thread)."""

    def __init__(self, thread_id: int) -> None:
        self.thread_id, self.counts, self.samples = thread_id, collections.Counter(), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            frame = sys._current_frames().get(self.thread_id)
            if frame is not None:
                self.counts[_stage(frame)] += 1
                self.samples += 1

    def __enter__(self) -> "StackSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def ign_model(cloud_path: Path, model_path: Path) -> None:
    """The IGN example's model (untrained), its normaliser fitted on ``cloud_path``, saved."""
    import laspy

    from vl3d_focal.data.features import FeatureNormalizer, extract_features
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.receptive_fields import FieldSpec
    from vl3d_focal.io.las import PointCloud
    from vl3d_focal.models.bundle import ModelBundle
    from vl3d_focal.models.model_file import save_bundle
    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    cloud = PointCloud.from_las(laspy.read(cloud_path), path=cloud_path)
    mapping = ClassMapping.from_spec(MAPPING)
    normalizer = FeatureNormalizer().fit(extract_features(cloud, IGN_FNAMES), fnames=IGN_FNAMES)
    spec = FieldSpec.from_config(IGN_FIELDS)
    model = build_pointnet_pwise_classifier(num_points=spec.num_points, num_features=len(IGN_FNAMES),
                                            num_classes=len(mapping.names), random_seed=7, **IGN_ARCHITECTURE)
    save_bundle(ModelBundle(model=model, feature_names=IGN_FNAMES, normalizer=normalizer, field_spec=spec,
                            mapping=mapping, class_names=list(mapping.names), random_seed=7,
                            predict_batch_size=64), model_path)


def profile_once(model_path: Path, cloud_path: Path, out: Path, *, chunk_points: int | None) -> dict[str, Any]:
    """Reads the headers, predicts, evaluates and writes one cloud under the sampler."""
    from vl3d_focal.runner.inputs import read_inputs
    from vl3d_focal.steps.evaluate import run_eval
    from vl3d_focal.steps.predict import run_model_loader
    from vl3d_focal.steps.writers import run_pcloud_writer

    steps = [(run_model_loader, {"predict": "ModelLoader", "model_path": str(model_path), "chunk_points": chunk_points,
                                 "buffer": None}),
             (run_eval, {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"}),
             (run_pcloud_writer, {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz",
                                  "probabilities": True, "prediction_dimension": None})]
    wall, cpu = time.perf_counter(), time.process_time()
    with StackSampler(threading.get_ident()) as sampler:
        state = read_inputs(inputs=[cloud_path], prefixes=[str(out) + "/"])
        for handler, step in steps:
            handler(step, state)
        state.clouds[0].result.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = max(sampler.samples, 1)
    return {"points": state.clouds[0].num_points, "chunk_points": chunk_points, "wall_s": wall, "cpu_s": cpu,
            "points_per_s": state.clouds[0].num_points / wall,
            "stages_s": {stage: wall * count / total for stage, count in sampler.counts.most_common()},
            "peak_rss_mib": vm_kib("VmHWM") / 1024}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points of the generated cloud")
    parser.add_argument("--cloud", type=Path, help="profile this LAS/LAZ file instead of a generated one")
    parser.add_argument("--chunk-points", type=int, default=250_000, help="predict step's chunk_points (0: null)")
    parser.add_argument("--repeat", type=int, default=1, help="runs (the first one also loads TensorFlow)")
    parser.add_argument("--workdir", type=Path, help="folder of the generated cloud and model (default: temporary)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        cloud = args.cloud or scene_path(folder, points=args.points)
        model = folder / "ign_model.keras"
        if not model.exists():
            ign_model(cloud, model)
        runs = [profile_once(model, cloud, folder / f"run{r}", chunk_points=args.chunk_points or None)
                for r in range(args.repeat)]
    load = os.getloadavg()
    print(f"\n{runs[0]['points']} points, chunk_points {args.chunk_points}, load average {load[0]:.1f}")
    stages = [stage for stage, _ in STAGES] + ["other"]
    print(f"{'stage':>12s} " + " ".join(f"{'run ' + str(r + 1):>14s}" for r in range(len(runs))))
    for stage in stages:
        cells = [f"{run['stages_s'].get(stage, 0.0):7.1f} s {100 * run['stages_s'].get(stage, 0.0) / run['wall_s']:3.0f}%"
                 for run in runs]
        print(f"{stage:>12s} " + " ".join(f"{cell:>14s}" for cell in cells))
    for key, label in (("wall_s", "wall s"), ("cpu_s", "cpu s"), ("points_per_s", "points/s"), ("peak_rss_mib", "peak MiB")):
        print(f"{label:>12s} " + " ".join(f"{run[key]:14.1f}" for run in runs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"load_average": load, "runs": runs}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
