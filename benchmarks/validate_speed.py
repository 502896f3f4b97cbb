"""Start-up cost of the commands that do not train: ``vl3d-focal validate``, ``list``, ``schema``.

Each command runs as a fresh process (as in an editor or a pre-commit hook), ``--repetitions``
times, interleaved with two peers measured in the same run: an empty Python process (the floor)
and ``python -c "import tensorflow"`` (what a command that imports TensorFlow pays before any
work). Prints the median wall time, the median peak resident memory (``ru_maxrss`` of the
child) and whether TensorFlow was imported, and writes JSON to
``benchmarks/results/validate_speed.json``.

Example:
    python -m benchmarks.validate_speed --repetitions 9
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = {
    "python (empty)": ["-c", "pass"],
    "import tensorflow": ["-c", "import tensorflow"],
    "vl3d-focal validate examples/ign_train.json": [
        "-m",
        "vl3d_focal",
        "validate",
        "--no-check-files",
        "examples/ign_train.json",
    ],
    "vl3d-focal list losses": ["-m", "vl3d_focal", "list", "losses"],
    "vl3d-focal schema": ["-m", "vl3d_focal", "schema"],
}


def run_once(args: list[str]) -> float:
    """Wall seconds of one child process."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return time.perf_counter() - start


def peak_mib(args: list[str]) -> float:
    """Peak resident MiB of the command, alone in a fresh parent (``ru_maxrss`` is a maximum over children)."""
    code = (
        "import resource, subprocess, sys\nsubprocess.run([sys.executable, *sys.argv[1:]], check=True, "
        "capture_output=True)\nprint(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def tensorflow_imported(args: list[str]) -> bool:
    """Whether the command imports TensorFlow."""
    if args[:2] != ["-m", "vl3d_focal"]:
        return args[-1] == "import tensorflow"
    code = (
        "import sys\nfrom vl3d_focal.cli import main\nmain(sys.argv[1:])\n"
        "print('TF' if 'tensorflow' in sys.modules else 'NO')"
    )
    out = subprocess.run([sys.executable, "-c", code, *args[2:]], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip().endswith("TF")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=9)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "validate_speed.json")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in PEERS}
    for _ in range(args.repetitions):
        order = list(PEERS)
        random.shuffle(order)
        for name in order:
            times[name].append(run_once(PEERS[name]))
    rows = []
    print(f"{'command':<46} {'median s':>9} {'min s':>7} {'peak MiB':>9}  TensorFlow")
    for name, command in PEERS.items():
        row = {
            "command": name,
            "median_s": statistics.median(times[name]),
            "min_s": min(times[name]),
            "peak_mib": peak_mib(command),
            "imports_tensorflow": tensorflow_imported(command),
        }
        rows.append(row)
        print(
            f"{name:<46} {row['median_s']:>9.3f} {row['min_s']:>7.3f} {row['peak_mib']:>9.0f}  "
            f"{'yes' if row['imports_tensorflow'] else 'no'}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(),
                    "load": os.getloadavg(),
                },
                "repetitions": args.repetitions,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"load average {os.getloadavg()[0]:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
