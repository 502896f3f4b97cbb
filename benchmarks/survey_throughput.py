"""Survey throughput: tiles/s and points/s of 8 generated tiles on 1 and 2 Dask workers, and the
peak memory of each worker.

Eight generated urban tiles (:mod:`vl3d_focal.data.synthetic`, LAZ, a 4 x 2 mosaic of adjacent
tiles) are classified by ``vl3d-focal run`` with the IGN example's model
(:func:`benchmarks.predict_profile.ign_model`): ``predict`` (``ModelLoader``), ``eval`` and
``ClassifiedPcloudWriter``, on a local Dask cluster of 1 and of 2 worker processes of one
thread each (``--workers N``), the two interleaved round after round so that both see the same
machine load. Reported per run: the per-cloud phase's wall time as the run logs it (cluster
start and one model load per worker included), tiles/s and points/s over it, the sum of the
tiles' own seconds, and the peak resident memory of the worker processes (from
``survey.json``). The speed-up is the ratio of the phases' points/s.

Run ``python -m benchmarks.survey_throughput [--points-per-tile N] [--rounds R]``; prints a
table, writes JSON to ``benchmarks/results/survey_throughput.json``.

Example:
    python -m benchmarks.survey_throughput --points-per-tile 150000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks.pipeline_throughput import POINTS_PER_M2  # noqa: E402
from benchmarks.predict_profile import ign_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "survey_throughput.json"
TILES = (4, 2)
PHASE = re.compile(r"step 1-3/3 done \(([0-9.]+) s\)")


def write_tiles(folder: Path, *, points_per_tile: int) -> list[Path]:
    """Eight generated tiles side by side (LAZ), each a different scene of about ``points_per_tile``."""
    import laspy

    from vl3d_focal.data.synthetic import generate_urban_scene

    folder.mkdir(parents=True, exist_ok=True)
    size = math.sqrt(points_per_tile / POINTS_PER_M2)
    paths = []
    for number in range(TILES[0] * TILES[1]):
        path = folder / f"tile_{number}.laz"
        if not path.exists():
            las = generate_urban_scene(seed=number, size_m=size)
            column, row = divmod(number, TILES[1])
            shifted = laspy.LasData(header=las.header, points=las.points.copy())
            shifted.x = shifted.x + column * size
            shifted.y = shifted.y + row * size
            shifted.write(path)
        paths.append(path)
    return paths


def run_survey(folder: Path, *, model: Path, workers: int, out: str) -> dict[str, Any]:
    """``vl3d-focal run`` of the tiles on ``workers`` Dask workers; its timings and memory."""
    spec = {"in_pcloud": "tiles/", "out_pcloud": f"{out}/*", "sequential_pipeline": [
        {"predict": "ModelLoader", "model_path": str(model)},
        {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
        {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"}],
        "executor": {"engine": "dask", "threads_per_worker": 1}}
    path = folder / f"{out}.json"
    path.write_text(json.dumps(spec))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "vl3d_focal", "run", str(path), "--workers", str(workers)],
                          cwd=folder, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"survey on {workers} worker(s) failed: {done.stderr[-3000:]}")
    record = json.loads((folder / out / "survey.json").read_text())
    phase = float(PHASE.findall(done.stderr)[-1])
    points = sum(tile["points"] for tile in record["tiles"])
    return {"workers": workers, "tiles": len(record["tiles"]), "points": points, "phase_s": phase,
            "tiles_per_s": len(record["tiles"]) / phase, "points_per_s": points / phase,
            "tile_seconds": sum(tile["seconds"] for tile in record["tiles"]),
            "peak_worker_mib": max(tile["peak_memory_mib"] or 0 for tile in record["tiles"]),
            "load_average": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points-per-tile", type=int, default=150_000, help="points of each generated tile")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (1 worker, 2 workers)")
    parser.add_argument("--workdir", type=Path, help="folder of the tiles and model (default: temporary)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.workdir or Path(tmp)
        tiles = write_tiles(folder / "tiles", points_per_tile=args.points_per_tile)
        model = folder / "ign_model.keras"
        if not model.exists():
            ign_model(tiles[0], model)
        runs = []
        for round_number in range(args.rounds):
            for workers in (1, 2):
                runs.append(run_survey(folder, model=model, workers=workers, out=f"out_{round_number}_{workers}"))
                print(f"round {round_number + 1}, {workers} worker(s): {runs[-1]['phase_s']:.1f} s, "
                      f"{runs[-1]['points_per_s']:.0f} points/s (load {runs[-1]['load_average']:.1f})", flush=True)
    print(f"\n{runs[0]['tiles']} tiles, {runs[0]['points']} points")
    print(f"{'workers':>7s} {'phase s':>8s} {'tiles/s':>8s} {'points/s':>9s} {'tile s':>7s} {'peak MiB':>9s} {'load':>5s}")
    for run in runs:
        print(f"{run['workers']:7d} {run['phase_s']:8.1f} {run['tiles_per_s']:8.3f} {run['points_per_s']:9.0f} "
              f"{run['tile_seconds']:7.1f} {run['peak_worker_mib']:9.0f} {run['load_average']:5.1f}")
    rates = {w: statistics.median(r["points_per_s"] for r in runs if r["workers"] == w) for w in (1, 2)}
    speedup = rates[2] / rates[1]
    print(f"speed-up with 2 workers (median points/s): {speedup:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs, "speedup": speedup, "cpus": os.cpu_count()}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
