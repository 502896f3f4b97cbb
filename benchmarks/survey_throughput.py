"""Survey throughput: tiles/s and points/s of 8 generated tiles on 1 and 2 Dask workers, and the
peak memory of each worker.

Eight generated urban tiles (:mod:`vl3d_focal.data.synthetic`, LAZ, a mosaic of adjacent tiles
two rows high; ``--tiles N`` for another number) are classified by ``vl3d-focal run`` with issue 14's IGN PointNet
(:func:`benchmarks.predict_profile.ign_model`): ``predict`` (``ModelLoader``), ``eval`` and
``ClassifiedPcloudWriter``, on a local Dask cluster of 1 and of 2 worker processes of one
thread each (``--workers N``), and with the local executor (this process, default threads),
the runs interleaved round after round so that all see the same machine load. ``--baseline
DIR`` adds the same tiles run by the package of another source tree (e.g. an export of the
main branch, which runs clouds one after the other in one process), for a before/after
comparison of one worker.

Reported per run: the wall time of the per-cloud steps as the run logs it (one model load,
and the cluster start with Dask, included), tiles/s and points/s over it, the wall time of the
whole process (its imports and the driver's start as well), the CPU time of the run's
processes (``RUSAGE_CHILDREN``, imports included; the workers that a local cluster forks from
the run's fork server are adopted and counted, :func:`adopt_orphans`), and the peak resident
memory of the process that ran the tiles (from ``survey.json``). The speed-up of 2 workers is
the ratio of the median points/s of the Dask runs, and of their median process times.

``--ceiling`` also runs the tiles with the local executor in one process of one thread, and
in two such processes at once, each on every other tile: what two workers could gain at most on
this machine for this work (two processes that share nothing but the cores, memory and caches),
the peer of the two workers' speed-up.

``--marginal`` also runs every configuration on twice the tiles: ``N / (T(2N) - T(N))`` (median
times) is then the rate at which a run that has started classifies further tiles, without the
fixed cost of a worker's start (TensorFlow's import, the model's load, the first tracing),
which a survey of thousands of tiles pays once per worker.

Run ``python -m benchmarks.survey_throughput [--points-per-tile N] [--tiles N] [--marginal] [--ceiling] [--rounds R] [--baseline DIR]``;
prints a table, writes JSON to ``benchmarks/results/survey_throughput.json``.

Example:
    python -m benchmarks.survey_throughput --points-per-tile 150000 --rounds 2 --baseline /tmp/main
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.pipeline_throughput import POINTS_PER_M2  # noqa: E402
from benchmarks.predict_profile import ign_model  # noqa: E402
from vl3d_focal.runner.worker_process import thread_environment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "survey_throughput.json"
ROWS = 2
"""The mosaic of generated tiles is this many tiles high."""
CEILING = {"1 process": {"threads": 1}, "2 processes": {"threads": 1, "copies": 2}}
"""``--ceiling``'s runs: the local executor in one process of one thread on every tile, and in two
such processes at once, each on half the tiles."""
STEP = re.compile(r"step [0-9-]+/3 done \(([0-9.]+) s\)")
"""A step's (or a phase's) log line: the baseline logs each step, a survey one per-cloud phase."""


def write_tiles(folder: Path, *, points_per_tile: int, count: int = 8) -> list[Path]:
    """``count`` generated tiles side by side (LAZ), each a different scene of about ``points_per_tile``."""
    import laspy

    from vl3d_focal.data.synthetic import generate_urban_scene

    folder.mkdir(parents=True, exist_ok=True)
    size = math.sqrt(points_per_tile / POINTS_PER_M2)
    paths = []
    for number in range(count):
        path = folder / f"tile_{number}.laz"
        if not path.exists():
            las = generate_urban_scene(seed=number, size_m=size)
            column, row = divmod(number, ROWS)
            shifted = laspy.LasData(header=las.header, points=las.points.copy())
            shifted.x = shifted.x + column * size
            shifted.y = shifted.y + row * size
            shifted.write(path)
        paths.append(path)
    return paths


def _spec(tiles: list[Path], *, model: Path, out: str, executor: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "in_pcloud": [str(t) for t in tiles],
        "out_pcloud": f"{out}/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(model)},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        ],
    }
    if executor is not None:
        spec["executor"] = executor
    return spec


def run_survey(
    folder: Path,
    tiles: list[Path],
    *,
    model: Path,
    name: str,
    code: Path,
    workers: int | None,
    out: str,
    threads: int | None = None,
    copies: int = 1,
) -> dict[str, Any]:
    """``vl3d-focal run`` of the tiles by the package of ``code``: with ``workers`` Dask workers,
    or ``None`` for the local executor (or the baseline's one process); timings and memory.
    ``threads``: the compute threads of a local run's process; ``copies``: that many processes
    at once, each on every ``copies``-th tile (independent processes that share nothing but the
    machine: what two workers can gain at best on it)."""
    executor = None
    if code == REPO:
        executor = (
            {"engine": "local"} if workers is None else {"engine": "dask", "workers": workers, "threads_per_worker": 1}
        )
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(code),
        **({} if threads is None else thread_environment(threads)),
    }
    names = [out] if copies == 1 else [f"{out}_{copy}" for copy in range(copies)]
    processes = []
    before, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    for copy, run_name in enumerate(names):
        shutil.rmtree(folder / run_name, ignore_errors=True)  # a --workdir used before holds an earlier run's outputs
        path = folder / f"{run_name}.json"
        path.write_text(json.dumps(_spec(tiles[copy::copies], model=model, out=run_name, executor=executor)))
        log = (folder / f"{run_name}.log").open("w+")
        command = [sys.executable, "-m", "vl3d_focal", "run", str(path)]
        processes.append((subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=log, text=True), log))
    logs = []
    for process, log in processes:
        process.wait()
        log.seek(0)
        logs.append(log.read())
        log.close()
        if process.returncode != 0:
            raise RuntimeError(f"survey {name} failed: {logs[-1][-3000:]}")
    wall = time.perf_counter() - wall
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    steps = max(sum(float(seconds) for seconds in STEP.findall(text)) for text in logs)
    points = sum(int(laspy_count(tile)) for tile in tiles)
    records = [folder / run_name / "survey.json" for run_name in names]
    peaks = [
        tile["peak_memory_mib"] or 0
        for record in records
        if record.is_file()
        for tile in json.loads(record.read_text())["tiles"]
    ]
    return {
        "name": name,
        "workers": workers,
        "tiles": len(tiles),
        "points": points,
        "steps_s": steps,
        "tiles_per_s": len(tiles) / steps,
        "points_per_s": points / steps,
        "process_s": wall,
        "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "peak_mib": max(peaks) if peaks else None,
        "load_average": os.getloadavg()[0],
    }


def adopt_orphans() -> None:
    """Makes this process the reaper of its orphaned descendants (Linux): a run's fork server,
    whose children are the Dask workers, outlives the run by a moment; reaped here, its CPU time
    and its workers' count in ``RUSAGE_CHILDREN``."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_child_subreaper = 36  # <linux/prctl.h>
        ctypes.CDLL(None).prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def reap_orphans() -> None:
    """Waits for the descendants :func:`adopt_orphans` made this process's children."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def laspy_count(path: Path) -> int:
    """Points of a LAS/LAZ file (header)."""
    import laspy

    with laspy.open(str(path)) as reader:
        return int(reader.header.point_count)


def marginal_rates(runs: list[dict[str, Any]], longer: list[dict[str, Any]], *, names: list[str]) -> dict[str, Any]:
    """Tiles/s of the tiles beyond the first run's (``N / (T(2N) - T(N))``, median times) per
    configuration, printed with the speed-up of 2 workers; ``longer``: the runs on 2N tiles."""

    def median_s(which: list[dict[str, Any]], name: str) -> float:
        return statistics.median(r["steps_s"] for r in which if r["name"] == name)

    extra = longer[0]["tiles"] - runs[0]["tiles"]
    rates = {name: extra / max(median_s(longer, name) - median_s(runs, name), 1e-9) for name in names}
    print(f"\n{longer[0]['tiles']} tiles: {'run':>15s} {'steps s':>8s}   marginal tiles/s ({extra} more tiles)")
    for name in names:
        print(
            f"{'':>{len(str(longer[0]['tiles'])) + 7}s} {name:>15s} {median_s(longer, name):8.1f}   {rates[name]:.3f}"
        )
    speedup = rates["dask 2 workers"] / rates["dask 1 worker"]
    print(f"marginal speed-up of 2 workers over 1: {speedup:.2f}x")
    return {"longer_runs": longer, "marginal_tiles_per_s": rates, "marginal_speedup_2_workers": speedup}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points-per-tile", type=int, default=150_000, help="points of each generated tile")
    parser.add_argument("--tiles", type=int, default=8, help="generated tiles")
    parser.add_argument("--marginal", action="store_true", help="also run on twice the tiles (module docstring)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every configuration")
    parser.add_argument("--baseline", type=Path, help="source tree of the package to compare with (one process)")
    parser.add_argument(
        "--ceiling", action="store_true", help="also run one and two independent 1-thread processes (module docstring)"
    )
    parser.add_argument("--workdir", type=Path, help="folder of the tiles and model (default: temporary)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    args = parser.parse_args(argv)
    adopt_orphans()
    configs = [("local", REPO, None), ("dask 1 worker", REPO, 1), ("dask 2 workers", REPO, 2)]
    if args.baseline:
        configs.insert(0, ("baseline", args.baseline.resolve(), None))
    if args.ceiling:
        configs += [(name, REPO, None) for name in CEILING]
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        counts = [args.tiles, 2 * args.tiles] if args.marginal else [args.tiles]
        every = write_tiles(folder / "tiles", points_per_tile=args.points_per_tile, count=counts[-1])
        model = folder / "ign_model.keras"
        if not model.exists():
            ign_model(every[0], model)
        runs: list[dict[str, Any]] = []
        longer: list[dict[str, Any]] = []
        for round_number in range(args.rounds):
            for count in counts:
                for number, (name, code, workers) in enumerate(configs):
                    run = run_survey(
                        folder,
                        every[:count],
                        model=model,
                        name=name,
                        code=code,
                        workers=workers,
                        out=f"out_{round_number}_{count}_{number}",
                        **CEILING.get(name, {}),
                    )
                    (runs if count == args.tiles else longer).append(run)
                    print(
                        f"round {round_number + 1}, {count} tiles, {name}: {run['steps_s']:.1f} s "
                        f"({run['process_s']:.1f} s process), "
                        f"{run['points_per_s']:.0f} points/s (load {run['load_average']:.1f})",
                        flush=True,
                    )
    print(f"\n{runs[0]['tiles']} tiles, {runs[0]['points']} points")
    print(
        f"{'run':>15s} {'steps s':>8s} {'tiles/s':>8s} {'points/s':>9s} {'process s':>9s} {'cpu s':>7s} "
        f"{'peak MiB':>9s} {'load':>5s}"
    )
    for run in runs:
        peak = f"{run['peak_mib']:9.0f}" if run["peak_mib"] else f"{'-':>9s}"
        print(
            f"{run['name']:>15s} {run['steps_s']:8.1f} {run['tiles_per_s']:8.3f} {run['points_per_s']:9.0f} "
            f"{run['process_s']:9.1f} {run['cpu_s']:7.1f} {peak} {run['load_average']:5.1f}"
        )
    rates = {name: statistics.median(r["points_per_s"] for r in runs if r["name"] == name) for name, _, _ in configs}
    speedup = rates["dask 2 workers"] / rates["dask 1 worker"]
    process = {name: statistics.median(r["process_s"] for r in runs if r["name"] == name) for name, _, _ in configs}
    process_speedup = process["dask 1 worker"] / process["dask 2 workers"]
    print(
        f"speed-up of 2 workers over 1: {speedup:.2f}x (median points/s of the steps), "
        f"{process_speedup:.2f}x (median process wall time, imports and start included)"
    )
    if args.ceiling:
        ceiling = rates["2 processes"] / rates["1 process"]
        ceiling_process = statistics.median(
            r["process_s"] for r in runs if r["name"] == "1 process"
        ) / statistics.median(r["process_s"] for r in runs if r["name"] == "2 processes")
        print(
            f"two independent 1-thread processes over one (the machine's ceiling): {ceiling:.2f}x (steps), "
            f"{ceiling_process:.2f}x (process wall time)"
        )
    if args.baseline:
        print(
            f"one worker over the baseline (median points/s): local {rates['local'] / rates['baseline']:.2f}x, "
            f"dask {rates['dask 1 worker'] / rates['baseline']:.2f}x"
        )
    report: dict[str, Any] = {
        "runs": runs,
        "median_points_per_s": rates,
        "speedup_2_workers": speedup,
        "process_speedup_2_workers": process_speedup,
        "ceiling_2_processes": (ceiling, ceiling_process) if args.ceiling else None,
        "cpus": os.cpu_count(),
    }
    if longer:
        report.update(marginal_rates(runs, longer, names=[name for name, _, _ in configs]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
