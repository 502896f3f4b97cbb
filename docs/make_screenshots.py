"""Screenshots of the run report and of a comparison, for the README (docs/report.png, docs/compare.png).

Runs the demo (``vl3d-focal demo``: class-weighted focal loss, gamma 2, sqrt-inverse-frequency
weights) and the same pipeline with plain cross-entropy (``sparse_categorical_crossentropy``,
no class weights) on the same tiles, compares them (``vl3d-focal compare``) and photographs
both pages in headless Chromium with the test suite's tooling (``tests/browser.py``), checking
as the tests do that the pages load with no console error and no request. From the
repository root (a few minutes on 2 cores)::

    .venv/bin/python docs/make_screenshots.py [WORK_FOLDER]

``WORK_FOLDER`` (default ``vl3d_focal_screenshots`` in the system's temporary folder, a path the
pictures show): a run already finished there (its ``report.json`` says so) is not run again.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import browser  # noqa: E402

CROSS_ENTROPY = {"function": "sparse_categorical_crossentropy"}


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "vl3d_focal", *args], check=True)


def _finished(folder: Path) -> bool:
    record = folder / "report.json"
    return record.is_file() and json.loads(record.read_text(encoding="utf-8"))["status"] == "finished"


def cross_entropy_spec(focal_spec: Path, folder: Path) -> Path:
    """The demo spec with plain cross-entropy and no class weights, reading the demo's tiles (paths
    relative to the new spec's folder, as a spec's relative paths are read)."""
    document = json.loads(focal_spec.read_text(encoding="utf-8"))
    data = Path(os.path.relpath(focal_spec.parent / "data", folder))
    document["in_pcloud"] = [str(data / Path(path).name) for path in document["in_pcloud"]]
    for step in document["sequential_pipeline"]:
        if "model_args" in step:
            handling = step["model_args"]["model_handling"]
            handling["training_pcloud"] = [str(data / Path(path).name) for path in handling["training_pcloud"]]
            step["model_args"]["compilation_args"]["loss"] = dict(CROSS_ENTROPY)
    document["_comment"] = "The demo pipeline with unweighted cross-entropy (docs/make_screenshots.py)."
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo_pipeline.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def photograph(page: Path, target: Path, *, max_height: int) -> None:
    """Screenshots ``page`` to ``target`` after the tests' checks (no console error, no request)."""
    visit = browser.open_page(page, width=1200, max_height=max_height)
    outside = [url for url in visit.requests if url != visit.url and not url.startswith("data:")]
    if visit.errors or outside:
        raise SystemExit(f"{page}: console errors {visit.errors}, requests {outside}")
    from PIL import Image  # Pillow comes with matplotlib

    image = Image.open(io.BytesIO(visit.screenshot)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)  # small PNG
    print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")


def main() -> None:
    work = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(tempfile.gettempdir()) / "vl3d_focal_screenshots"
    focal, ce = work / "focal", work / "cross_entropy"
    if not _finished(focal):
        _cli("demo", str(focal))
    if not _finished(ce):
        _cli("run", str(cross_entropy_spec(focal / "demo_pipeline.json", ce)))
    _cli("compare", str(ce), str(focal), "-o", str(work / "compare.html"))  # the baseline first
    photograph(focal / "report.html", ROOT / "docs" / "report.png", max_height=2000)
    photograph(work / "compare.html", ROOT / "docs" / "compare.png", max_height=2000)


if __name__ == "__main__":
    main()
