"""``vl3d-focal demo [OUT]``: the synthetic tiles and the demo pipeline, in one folder, in one command.

The demo is ``examples/demo_pipeline.json`` (shipped in the package as
``vl3d_focal.examples``), whose paths point from ``examples/`` to ``../out/demo/``. The demo
writes into ``OUT``: the two synthetic tiles (``data/demo_train.las``, seed 0, and
``data/demo_test.las``, seed 1, as ``python -m vl3d_focal.data.synthetic`` writes them), then
a copy of the spec whose paths are relative to ``OUT`` (``OUT/demo_pipeline.json``, which
``vl3d-focal run`` runs again as it is), then it runs that spec. With the default ``OUT``,
``out/demo/``, the files are those ``vl3d-focal run examples/demo_pipeline.json`` reads and
writes, so that command works once the demo has run. A folder holding another run's outputs
(its ``run.json`` names another spec) is refused before anything is written, unless ``overwrite``.

Example:
    >>> "data/demo_test.las" in demo_spec_text()
    True
"""

from __future__ import annotations

import importlib.resources
import json
import logging
from pathlib import Path

from vl3d_focal.config.prefixes import MANIFEST_NAME
from vl3d_focal.data.synthetic import write_demo_scene
from vl3d_focal.io.atomic import write_text
from vl3d_focal.runner.owned_files import OutputsTaken, read_manifest

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path("out/demo")
DEMO_SPEC = "demo_pipeline.json"
EXAMPLE_ROOT = "../out/demo/"
"""What the example's paths start with (from ``examples/`` to the default output folder)."""
DEMO_TILES = {"data/demo_train.las": 0, "data/demo_test.las": 1}
"""The tiles the demo trains and evaluates on, relative to ``OUT``, with their seeds."""


def demo_spec_text() -> str:
    """The demo spec with its paths relative to the demo's output folder.

    Example:
        >>> json.loads(demo_spec_text())["out_pcloud"]
        ['*']
    """
    try:
        source = importlib.resources.files("vl3d_focal.examples").joinpath(DEMO_SPEC)
    except ModuleNotFoundError:  # imported from a source checkout, not installed
        source = Path(__file__).resolve().parents[2] / "examples" / DEMO_SPEC
    text = source.read_text(encoding="utf-8")
    document = json.loads(text.replace(EXAMPLE_ROOT, ""))
    document["_comment"] = (
        "The demo pipeline of vl3d_focal (written by vl3d-focal demo); paths are relative to "
        "this file's folder. Run it again with: vl3d-focal run demo_pipeline.json"
    )
    return json.dumps(document, indent=2) + "\n"


def check_demo_folder(folder: Path, *, overwrite: bool) -> None:
    """Refuses a folder holding the outputs of a run of another spec than the demo's (unless ``overwrite``).

    Raises:
        OutputsTaken: ``folder/run.json`` records a run of another spec and ``overwrite`` is false.

    Example:
        >>> import tempfile
        >>> check_demo_folder(Path(tempfile.mkdtemp()), overwrite=False)  # an empty folder is fine
        >>> _ = (out / "run.json").write_text('{"fingerprint": "f", "spec_file": "survey.json", "status": "done"}')
        >>> check_demo_folder(out, overwrite=True)  # allowed: the demo deletes that run's files first
        >>> check_demo_folder(out, overwrite=False)
        Traceback (most recent call last):
        vl3d_focal.runner.owned_files.OutputsTaken: ...: holds the outputs of another run (spec survey.json, done; see .../run.json); the demo writes its tiles, its spec and its outputs there and has written nothing. Give the demo another folder, or run it with --overwrite to delete that run's files first
    """
    manifest = folder / MANIFEST_NAME
    other = read_manifest(manifest)
    spec_file = (other or {}).get("spec_file") or "?"
    if other is None or overwrite or Path(spec_file).name == DEMO_SPEC:
        return
    raise OutputsTaken(
        f"{folder}: holds the outputs of another run (spec {spec_file}, {other.get('status', '?')}; see {manifest}); "
        "the demo writes its tiles, its spec and its outputs there and has written nothing. Give the demo another "
        "folder, or run it with --overwrite to delete that run's files first"
    )


def write_demo(out: str | Path = DEFAULT_OUT, *, overwrite: bool = False) -> Path:
    """Writes the demo's tiles (unless present) and its spec under ``out``; returns the spec's path.

    Nothing is written into a folder holding another run's outputs unless ``overwrite``
    (:func:`check_demo_folder`).

    Example:
        >>> import tempfile
        >>> spec = write_demo(tempfile.mkdtemp())
        >>> spec.name, sorted(p.name for p in (spec.parent / "data").iterdir())
        ('demo_pipeline.json', ['demo_test.las', 'demo_train.las'])
    """
    folder = Path(out)
    check_demo_folder(folder, overwrite=overwrite)
    for relative, seed in DEMO_TILES.items():
        tile = folder / relative
        if tile.is_file():
            logger.info("demo tile %s exists; using it", tile)
        else:
            write_demo_scene(tile, seed=seed)
            logger.info("wrote demo tile %s (seed %d)", tile, seed)
    spec = folder / DEMO_SPEC
    return write_text(spec, demo_spec_text(), log=False)
