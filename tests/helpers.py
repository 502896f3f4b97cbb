"""Test helpers shared by several test modules (pytest puts tests/ on sys.path).

Example:
    >>> from helpers import DEMO_CLASSES, run_cli
    >>> [c["name"] for c in DEMO_CLASSES][:2]
    ['ground', 'vegetation']
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO_CLASSES = [
    {"name": "ground", "codes": [2]},
    {"name": "vegetation", "codes": [3, 4, 5]},
    {"name": "building", "codes": [6]},
    {"name": "vehicle", "codes": [68]},
    {"name": "pole", "codes": [64]},
]
"""A class mapping of the synthetic scene's LAS codes (vl3d_focal.data.synthetic)."""

PINNED_KEYS = {"OA", "mIoU", "macro_F1", "MCC", "Kappa", "class_names", "confusion_matrix", "per_class"}
"""The keys an evaluation report must have (pinned by the issue)."""


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs ``python -m vl3d_focal ARGS`` in ``cwd`` (TensorFlow quiet), capturing its text output.

    Example:
        >>> run_cli("--version", cwd=Path(".")).returncode  # doctest: +SKIP
        0
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "vl3d_focal", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
