"""The ``Example:`` sections of the benchmarks' docstrings run and print what they show.

Each module runs in a fresh Python with TensorFlow's statistics-keeping CPU allocator
(``TF_CPU_ALLOCATOR_USE_BFC=true``): the memory probes read it, and it must be chosen before
TensorFlow starts, which it has in this process. ``loss_speed_jax`` runs on Keras' JAX backend.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(
    path.stem for path in (REPO / "benchmarks").glob("*.py") if ">>>" in path.read_text(encoding="utf-8")
)
RUNNER = """
import doctest, importlib, json, sys
module = importlib.import_module("benchmarks." + sys.argv[1])
result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
print(json.dumps({"failed": result.failed, "attempted": result.attempted}))
"""


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_examples(name, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CPU_ALLOCATOR_USE_BFC": "true", "PYTHONPATH": str(REPO)}
    env["TMPDIR"] = str(tmp_path)  # the examples' mkdtemp() folders, removed by pytest
    if name == "loss_speed_jax":
        if importlib.util.find_spec("jax") is None:
            pytest.skip("JAX is not installed here; .ci/run installs it and runs these examples after the suite")
        env["KERAS_BACKEND"] = "jax"
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, name], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["attempted"] >= 1 and counts["failed"] == 0, done.stdout[-3000:]


def test_every_benchmark_example_runs():
    skipping = [
        path.name for path in sorted((REPO / "benchmarks").glob("*.py")) if "doctest: +SKIP" in path.read_text()
    ]
    assert not skipping, skipping  # make the example run or delete it
    assert len(BENCHMARKS) >= 12, BENCHMARKS
