"""Shared fixtures: quiet TensorFlow, the shared IGN tiles when they are present."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
IGN_DIR = REPO_ROOT.parent / "shared" / "data" / "ign"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def ign_dir() -> Path:
    """The shared real IGN LiDAR tiles; skips where ``../shared/data/ign`` is absent."""
    if not any(IGN_DIR.glob("*.laz")):
        pytest.skip(f"real IGN tiles not found in {IGN_DIR} (they live in ../shared beside the repo)")
    return IGN_DIR


@pytest.fixture()
def restore_logging():
    """``cli.main()`` configures the root logger: undo it after the test."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _drop_cli_log_handlers():
    """Tests that call ``cli.main`` in-process leave a handler on pytest's captured stderr,
    which is closed once the test ends; remove it so later log lines do not hit a closed file."""
    import logging

    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "vl3d-focal-cli"]:
        root.removeHandler(handler)
