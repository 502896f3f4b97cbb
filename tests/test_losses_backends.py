"""The backend-neutral loss tests (``test_losses_any_backend.py``) under JAX and PyTorch.

Keras' backend is fixed when Keras is imported, so each backend runs in a subprocess
(``python -m pytest`` with ``KERAS_BACKEND`` set). A backend whose package is not installed is
skipped with the reason; ``.ci/run`` adds JAX's and PyTorch's CPU wheels (``jax``,
``torch==2.13.0``) to the README's test environment and runs these tests again.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("backend, package", [("jax", "jax"), ("torch", "torch")])
def test_backend_neutral_loss_tests_pass(backend, package):
    if importlib.util.find_spec(package) is None:
        pytest.skip(
            f"{package} is not installed: the loss tests on Keras' {backend} backend need it "
            f"(pip install {'jax' if package == 'jax' else 'torch==2.13.0'})"
        )
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TESTS / "test_losses_any_backend.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=TESTS.parent,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
