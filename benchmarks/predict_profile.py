"""Where a tile's prediction spends its time: reading, features, fields, network, propagation,
evaluation, writing.

Runs the ``predict`` (``ModelLoader``), ``eval`` and ``ClassifiedPcloudWriter`` steps on one
cloud in a fresh subprocess, with the IGN example's model as issue 14 measured it (the
PointNet of ``examples/ign_train.json`` before the autoencoder replaced it: seven features of
which four of a neighbourhood, furthest-point fields of 384 points in 5 m spheres; untrained
weights: the time does not depend on them; loaded before the clock starts, as a survey worker
holds it), and samples the main thread's stack every
:data:`SAMPLE_S` seconds: each sample goes to the innermost stage its stack is in
(:data:`STAGES`), with the wall time and the process's CPU time (all threads) since the last
sample, so the stages add up to the totals; while the main thread waits for the pieces of work
it runs on several threads (the tiles of a streamed cloud), the sample is shared among the
stages those threads are in. The machine is shared: wall time includes waiting
for a core; CPU time much less so.

``--code DIR`` (repeatable) runs the same measurement with the package of another source tree
(e.g. an export of the main branch), the trees interleaved round after round, so that a
before/after comparison sees the same machine load.

Run ``python -m benchmarks.predict_profile [--points N] [--chunk-points C] [--rounds R] [--code DIR ...]``;
prints a table, writes JSON to ``benchmarks/results/predict_profile.json``.

Example:
    python -m benchmarks.predict_profile --points 1000000 --chunk-points 250000 --code /tmp/main --code .
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.pipeline_throughput import scene_path, vm_kib  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "predict_profile.json"
SAMPLE_S = 0.005
IGN_FIELDS = {
    "pre_processor": "furthest_point_subsampling",
    "neighborhood": {"type": "sphere", "radius": 5.0, "separation_factor": 0.8},
    "num_points": 384,
    "scale": True,
}
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("network", ("vl3d_focal.inference.network:", "vl3d_focal.inference.prediction:predict_fields")),
    ("propagation", ("vl3d_focal.data.propagation:", "vl3d_focal.inference.streaming:_resolve_far")),
    (
        "fields",
        (
            "vl3d_focal.data.receptive_fields:",
            "vl3d_focal.data.subsampling:",
            "vl3d_focal.inference.tile_centres:",
            "vl3d_focal.inference.prediction:_TiledPoints",
            "vl3d_focal.inference.prediction:around",
            "vl3d_focal.inference.prediction:_tiles",
        ),
    ),
    (
        "features",
        (
            "vl3d_focal.data.features:",
            "vl3d_focal.data.terrain:",
            "vl3d_focal.inference.tile_features:",
            "vl3d_focal.data.field_inputs:cloud_features",
        ),
    ),
    (
        "reading",
        (
            "vl3d_focal.io.chunks:iter_chunks",
            "vl3d_focal.io.chunks:read_within",
            "vl3d_focal.io.chunks:read_header",
            "vl3d_focal.io.las:read_cloud",
            "vl3d_focal.inference.tile_buckets:cloud_bounds",
        ),
    ),
    (
        "writing",
        (
            "vl3d_focal.io.chunks:write",
            "vl3d_focal.io.chunks:__exit__",
            "vl3d_focal.io.chunks:__enter__",
            "vl3d_focal.inference.classified_output:",
        ),
    ),
    ("evaluation", ("vl3d_focal.inference.scoring:", "vl3d_focal.reports.", "vl3d_focal.steps.evaluate:")),
    ("tile files", ("vl3d_focal.inference.tile_buckets:", "vl3d_focal.inference.streaming:")),
]
"""Stage of a stack frame ``module:function`` (prefix match), innermost match wins; first rule
first among rules matching the same frame."""


PARALLEL_MAP = "vl3d_focal.data.parallel:ordered_map"
"""Where the main thread waits for its pieces of work on other threads."""


def _stage(frame: Any) -> str:
    while frame is not None:
        name = f"{frame.f_globals.get('__name__', '')}:{frame.f_code.co_name}"
        if name == PARALLEL_MAP:
            return PARALLEL_MAP
        for stage, prefixes in STAGES:
            if name.startswith(prefixes):
                return stage
        frame = frame.f_back
    return "other"


def stages_now(thread_id: int) -> list[str]:
    """The stage of thread ``thread_id``'s stack; where it waits in :data:`PARALLEL_MAP`, the
    stages of the threads working for it (those not idle).

    Example:
        >>> stages_now(threading.get_ident())
        ['other']
    """
    frames = sys._current_frames()
    frame = frames.get(thread_id)
    stage = _stage(frame) if frame is not None else "other"
    if stage != PARALLEL_MAP:
        return [stage]
    from vl3d_focal.data.parallel import THREAD_NAME_PREFIX  # here: a tree without it never waits there

    helpers = [thread.ident for thread in threading.enumerate() if thread.name.startswith(THREAD_NAME_PREFIX)]
    busy = [
        found for found in (_stage(frames[i]) for i in helpers if i in frames) if found not in ("other", PARALLEL_MAP)
    ]
    return busy or ["other"]


class StackSampler:
    """Every :data:`SAMPLE_S` seconds, adds the wall and CPU time since the last sample to the
    stage of a thread's stack (a daemon thread)."""

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.wall: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.cpu: collections.defaultdict[str, float] = collections.defaultdict(float)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        while not self._stop.wait(SAMPLE_S):
            stages = stages_now(self.thread_id)
            now_wall, now_cpu = time.perf_counter(), time.process_time()
            for stage in stages:
                self.wall[stage] += (now_wall - wall) / len(stages)
                self.cpu[stage] += (now_cpu - cpu) / len(stages)
            wall, cpu = now_wall, now_cpu

    def __enter__(self) -> StackSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def ign_model(cloud_path: Path, model_path: Path) -> None:
    """The IGN example's PointNet of issue 14 (untrained), its normaliser fitted on ``cloud_path``, saved."""
    import laspy

    # The child process (``--code``) finds ``benchmarks`` in the other tree, which may lack these modules.
    from benchmarks.configs import IGN_FNAMES, POINTNET
    from benchmarks.throughput_models import MAPPING
    from vl3d_focal.data.features import extract_features
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.data.normalization import FeatureNormalizer
    from vl3d_focal.data.receptive_fields import FieldSpec
    from vl3d_focal.io.las import PointCloud
    from vl3d_focal.models.bundle import ModelBundle
    from vl3d_focal.models.model_file import save_bundle
    from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier

    cloud = PointCloud.from_las(laspy.read(cloud_path), path=cloud_path)
    mapping = ClassMapping.from_spec(MAPPING)
    normalizer = FeatureNormalizer().fit(extract_features(cloud, IGN_FNAMES), fnames=IGN_FNAMES)
    spec = FieldSpec.from_config(IGN_FIELDS)
    model = build_pointnet_pwise_classifier(
        num_points=spec.num_points,
        num_features=len(IGN_FNAMES),
        num_classes=len(mapping.names),
        random_seed=7,
        **POINTNET,
    )
    save_bundle(
        ModelBundle(
            model=model,
            feature_names=IGN_FNAMES,
            normalizer=normalizer,
            field_spec=spec,
            mapping=mapping,
            class_names=list(mapping.names),
            random_seed=7,
            predict_batch_size=64,
        ),
        model_path,
    )


def tile_steps(model_path: Path, cloud_path: Path, out: Path, *, chunk_points: int | None) -> list[dict[str, Any]]:
    """The ``predict`` (``ModelLoader``), ``eval`` and ``ClassifiedPcloudWriter`` steps of one
    cloud, probabilities on, with the arguments a run gives them (defaults applied).

    Example:
        >>> predict, evaluate, write = tile_steps(Path("m.keras"), Path("a.laz"), Path("out"), chunk_points=None)
        >>> predict["predict"], evaluate["eval"], write["probabilities"], "class_names" in evaluate
        ('ModelLoader', 'ClassificationEvaluator', True, True)
    """
    from vl3d_focal.config.normalise import apply_defaults

    spec = {
        "in_pcloud": [str(cloud_path)],
        "out_pcloud": [str(out) + "/"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(model_path), "chunk_points": chunk_points, "buffer": None},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz", "probabilities": True},
        ],
    }
    return list(apply_defaults(spec)["sequential_pipeline"])


def profile_once(model_path: Path, cloud_path: Path, out: Path, *, chunk_points: int | None) -> dict[str, Any]:
    """Reads the headers, predicts, evaluates and writes one cloud under the sampler (the model
    loaded first, as a survey worker holds it)."""
    import vl3d_focal
    from vl3d_focal.models.model_file import load_bundle
    from vl3d_focal.runner.inputs import read_inputs
    from vl3d_focal.steps.evaluate import run_eval
    from vl3d_focal.steps.predict import predict_clouds
    from vl3d_focal.steps.writers import run_pcloud_writer

    bundle = load_bundle(model_path)
    predict, evaluate, write = tile_steps(model_path, cloud_path, out, chunk_points=chunk_points)
    steps = [
        (lambda step, state: predict_clouds(step, state, bundle), predict),
        (run_eval, evaluate),
        (run_pcloud_writer, write),
    ]
    wall, cpu = time.perf_counter(), time.process_time()
    with StackSampler(threading.get_ident()) as sampler:
        state = read_inputs(inputs=[cloud_path], prefixes=[str(out) + "/"])
        state.bundle = bundle
        for handler, step in steps:
            handler(step, state)
        result = state.clouds[0].result
        assert result is not None, "the predict step sets the predictions"
        result.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    points = state.clouds[0].num_points
    return {
        "code": str(Path(vl3d_focal.__file__).parents[1]),
        "points": points,
        "chunk_points": chunk_points,
        "wall_s": wall,
        "cpu_s": cpu,
        "points_per_s": points / wall,
        "points_per_cpu_s": points / cpu,
        "stages_wall_s": dict(sampler.wall),
        "stages_cpu_s": dict(sampler.cpu),
        "peak_rss_mib": vm_kib("VmHWM") / 1024,
        "load_average": os.getloadavg()[0],
    }


def run_child(code: Path, model: Path, cloud: Path, out: Path, chunk_points: int | None) -> dict[str, Any]:
    """:func:`profile_once` in a fresh subprocess importing the package of ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(model),
        str(cloud),
        str(out),
        str(chunk_points or 0),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"profile of {code} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_runs(runs: list[dict[str, Any]]) -> None:
    """One column per run: wall and CPU seconds per stage, totals."""
    print(f"{'stage':>12s} " + " ".join(f"{Path(run['code']).name[:22]:>22s}" for run in runs))
    for stage in [stage for stage, _ in STAGES] + ["other"]:
        cells = [
            f"{run['stages_wall_s'].get(stage, 0.0):6.1f} {run['stages_cpu_s'].get(stage, 0.0):6.1f} "
            f"{100 * run['stages_cpu_s'].get(stage, 0.0) / run['cpu_s']:3.0f}%"
            for run in runs
        ]
        print(f"{stage:>12s} " + " ".join(f"{cell:>22s}" for cell in cells))
    for key, label in (
        ("wall_s", "wall s"),
        ("cpu_s", "cpu s"),
        ("points_per_s", "points/s"),
        ("points_per_cpu_s", "points/cpu s"),
        ("peak_rss_mib", "peak MiB"),
        ("load_average", "load"),
    ):
        print(f"{label:>12s} " + " ".join(f"{run[key]:22.1f}" for run in runs))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points of the generated cloud")
    parser.add_argument("--cloud", type=Path, help="profile this LAS/LAZ file instead of a generated one")
    parser.add_argument("--chunk-points", type=int, default=250_000, help="predict step's chunk_points (0: null)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (each runs every --code once)")
    parser.add_argument("--code", type=Path, action="append", help="source tree to measure (default: this one)")
    parser.add_argument("--workdir", type=Path, help="folder of the generated cloud and model (default: temporary)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        model, cloud, out, chunk = args.child
        print(json.dumps(profile_once(Path(model), Path(cloud), Path(out), chunk_points=int(chunk) or None)))
        return 0
    codes = [code.resolve() for code in (args.code or [REPO])]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        cloud = args.cloud or scene_path(folder, points=args.points)
        model = folder / "ign_model.keras"
        if not model.exists():
            ign_model(cloud, model)
        runs = []
        for round_number in range(args.rounds):
            for number, code in enumerate(codes):
                runs.append(run_child(code, model, cloud, folder / f"run{round_number}_{number}", args.chunk_points))
                print(
                    f"round {round_number + 1}, {code}: {runs[-1]['points_per_s']:.0f} points/s, "
                    f"{runs[-1]['points_per_cpu_s']:.0f} points/cpu s (load {runs[-1]['load_average']:.1f})",
                    flush=True,
                )
    print(f"\n{runs[0]['points']} points, chunk_points {args.chunk_points}; per stage: wall s, cpu s, share of cpu")
    print_runs(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cloud": str(cloud), "runs": runs}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
