"""What writing a survey's record costs with many tiles (issue 14: surveys of thousands of tiles).

Builds the record of a survey of ``--tiles`` evaluated tiles (five classes, a confusion matrix
each; no point cloud is read), then times, in one process, ``SurveyRecord.write`` (survey.json
and survey.geojson, one tile per line) against the same two documents dumped with
``json.dumps(indent=1)`` (the format before, the json module's pure-Python encoder), and
recording one more tile (``SurveyRecord.record`` without its write). Prints the medians and the
interval the record then leaves between writes (:data:`~vl3d_focal.runner.survey.WRITE_SHARE`).

Run ``python -m benchmarks.survey_record [--tiles N] [--repetitions R]``; writes JSON to
``benchmarks/results/survey_record.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.append(str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks.timing import median_seconds  # noqa: E402
from vl3d_focal.io.footprints import Footprint, TileIndex  # noqa: E402
from vl3d_focal.reports.metrics import classification_metrics  # noqa: E402
from vl3d_focal.reports.survey_map import survey_features  # noqa: E402
from vl3d_focal.runner.cloud_task import CloudOutcome  # noqa: E402
from vl3d_focal.runner.survey import WRITE_INTERVAL_S, WRITE_SHARE, SurveyRecord  # noqa: E402
from vl3d_focal.runner.survey_scores import KEPT_METRICS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "survey_record.json"
CLASSES = ["ground", "low_vegetation", "high_vegetation", "building", "other"]


def evaluated_record(folder: Path, *, tiles: int) -> SurveyRecord:
    """The record of a finished survey of ``tiles`` 1 km tiles, each evaluated."""
    paths = [f"/survey/tiles/LHD_FXX_{i:04d}_{6000 + i % 100:04d}.laz" for i in range(tiles)]
    index = TileIndex(
        footprints=tuple(
            Footprint(path=p, low=(1000.0 * i, 0.0, 0.0), high=(1000.0 * i + 1000, 1000.0, 50.0), points=10**7)
            for i, p in enumerate(paths)
        )
    )
    record = SurveyRecord.start(
        inputs=paths,
        prefixes=[f"{folder}/{Path(p).stem}/" for p in paths],
        failures={},
        model_prefix=f"{folder}/",
        index=index,
        resume=False,
    )
    phase = record.begin_phase(kinds=["predict", "eval", "writer"], model_fingerprint="m", fingerprint="f")
    rng = np.random.default_rng(0)
    for tile in record.tiles:
        metrics = classification_metrics(rng.integers(0, 10**6, (5, 5)), class_names=CLASSES)
        tile.update(status="done", seconds=30.0, phases=["f"], outputs=[f"{tile['prefix']}predicted.laz"])
        tile["metrics"] = {key: metrics[key] for key in KEPT_METRICS}
    record.tiles[-1]["status"] = "pending"
    record.phases[phase]["fingerprint"] = "f"
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp())
    record = evaluated_record(folder, tiles=args.tiles)

    def indented() -> None:
        (folder / "indented.json").write_text(json.dumps(record.document(finished=False), indent=1))
        (folder / "indented.geojson").write_text(json.dumps(survey_features(record.tiles, crs=None), indent=1))

    ours = median_seconds(lambda: record.write(force=True), repetitions=args.repetitions)
    before = median_seconds(indented, repetitions=args.repetitions)
    last = record.tiles[-1]
    one = median_seconds(
        lambda: record.record(
            CloudOutcome(number=args.tiles - 1, path=last["path"], status="done", seconds=30.0), phase=0, outputs=[]
        ),
        repetitions=args.repetitions,
    )  # held back by the interval: the bookkeeping alone
    sizes = {
        name: (folder / name).stat().st_size / 2**20
        for name in ("survey.json", "survey.geojson", "indented.json", "indented.geojson")
    }
    result = {
        "tiles": args.tiles,
        "write_s": ours,
        "indented_write_s": before,
        "record_one_tile_s": one,
        "interval_s": max(WRITE_INTERVAL_S, ours / WRITE_SHARE),
        "sizes_mib": sizes,
    }
    print(f"record of {args.tiles} evaluated tiles, median of {args.repetitions}")
    print(
        f"  write (survey.json + survey.geojson, one tile per line): {ours:.3f} s "
        f"({sizes['survey.json']:.1f} + {sizes['survey.geojson']:.1f} MiB)"
    )
    print(
        f"  the same dumped with json indent=1:                      {before:.3f} s "
        f"({sizes['indented.json']:.1f} + {sizes['indented.geojson']:.1f} MiB), {before / ours:.1f}x"
    )
    print(f"  record one tile (no write):                              {one * 1000:.2f} ms")
    print(f"  interval between writes: {result['interval_s']:.1f} s (writes <= {WRITE_SHARE:.0%} of the time)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
