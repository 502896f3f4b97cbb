"""What every process that imports TensorFlow pays before any work: ``import ml_dtypes`` and Keras
imported as a pipeline process imports it (:func:`vl3d_focal.lazy.import_keras`).

Each import runs in a fresh Python process, timed inside it (``time.perf_counter`` around the
import, after ``import numpy``), ``--repetitions`` times, interleaved in a shuffled order with the
same imports under each other ml_dtypes release given with ``--ml-dtypes DIR`` (a folder made by
``pip install --no-deps --target DIR ml_dtypes==X``, put first on ``PYTHONPATH``). Prints the
median seconds per release and writes JSON to ``benchmarks/results/import_cost.json``.

Example (from the repository root; ``pip install --no-deps --target /tmp/ml070 ml_dtypes==0.7.0`` first):
    python -m benchmarks.import_cost --repetitions 7 --ml-dtypes /tmp/ml070
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
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loss_limits import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "import_cost.json"
IMPORTS = {
    "ml_dtypes": "import ml_dtypes",
    "keras (import_keras)": "from vl3d_focal.lazy import import_keras; import_keras(quiet=True)",
}
TIMER = (
    "import time, numpy\nstart = time.perf_counter()\n{statement}\n"
    "import ml_dtypes\nprint(ml_dtypes.__version__, time.perf_counter() - start)"
)


def import_seconds(statement: str, *, site: str | None = None) -> tuple[str, float]:
    """The ml_dtypes release and the seconds of ``statement`` in a fresh process (``site``: a
    folder put first on ``PYTHONPATH``).

    Example:
        >>> version, seconds = import_seconds("import ml_dtypes")
        >>> version.count(".") >= 1 and seconds > 0
        True
    """
    path = ([site] if site else []) + [str(ROOT)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run(
        [sys.executable, "-c", TIMER.format(statement=statement)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    version, seconds = done.stdout.split()[-2:]
    return version, float(seconds)


def run(*, repetitions: int, sites: list[str | None]) -> list[dict[str, object]]:
    """Medians of every (import, ml_dtypes folder) pair, interleaved and shuffled."""
    times: dict[tuple[str, str | None], list[float]] = {(name, site): [] for name in IMPORTS for site in sites}
    versions: dict[str | None, str] = {}
    for _ in range(repetitions):
        pairs = list(times)
        random.shuffle(pairs)
        for name, site in pairs:
            versions[site], seconds = import_seconds(IMPORTS[name], site=site)
            times[(name, site)].append(seconds)
    return [
        {"import": name, "ml_dtypes": versions[site], "median_s": statistics.median(values), "runs": values}
        for (name, site), values in times.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--ml-dtypes", action="append", default=[], metavar="DIR", help="another ml_dtypes release")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = run(repetitions=args.repetitions, sites=[None, *args.ml_dtypes])
    print(f"{'import':<24} {'ml_dtypes':<10} {'median s':>9}")
    for row in rows:
        print(f"{row['import']:<24} {row['ml_dtypes']:<10} {row['median_s']:>9.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "cpu": cpu_name()}
    args.out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
