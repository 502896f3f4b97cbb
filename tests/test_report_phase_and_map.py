"""The run report's survey map (failed tiles hatched and in the legend, labels that fit their
tile), warnings of a per-cloud phase labelled with the phase, a phase's time shown once, and a
survey record of an earlier run said to be one."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from vl3d_focal.reports.html_report import render_report
from vl3d_focal.reports.survey_section import survey_section
from vl3d_focal.reports.svg_tile_map import FONT_SIZES, GLYPH_WIDTH, tile_map
from vl3d_focal.runner.run_record import RunRecorder
from vl3d_focal.steps.state import PipelineState

STEPS = [
    {"predict": "ModelLoader", "model_path": "m.keras"},
    {"eval": "ClassificationEvaluator", "report_path": "*e.json"},
    {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*p.laz"},
]


def _survey(folder: Path) -> dict[str, str]:
    """survey.json and survey.geojson of 3 long-named tiles 108 px wide on the map, the second failed."""
    names = [f"test_data_770{k}0_627760_LA93_IGN69" for k in (5, 6, 7)]
    tiles = [
        {"path": f"/d/{names[0]}.laz", "status": "done", "bounds": [0, 0, 1000, 1000], "metrics": {"mIoU": 0.1}},
        {"path": f"/d/{names[1]}.laz", "status": "failed", "bounds": [1000, 0, 2000, 1000], "metrics": None},
        {"path": f"/d/{names[2]}.laz", "status": "done", "bounds": [4000, 0, 5000, 1000], "metrics": {"mIoU": 0.9}},
    ]
    features = [
        {
            "type": "Feature",
            "properties": {
                "name": n,
                "path": t["path"],
                "status": t["status"],
                "mIoU": (t["metrics"] or {}).get("mIoU"),
            },
            "geometry": {"type": "Polygon", "coordinates": [[[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]]]},
        }
        for n, t, b in ((n, t, t["bounds"]) for n, t in zip(names, tiles))
    ]
    (folder / "survey.json").write_text(json.dumps({"updated": "2026-01-02T03:04:05+00:00", "tiles": tiles}))
    (folder / "survey.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return {"json": str(folder / "survey.json"), "geojson": str(folder / "survey.geojson")}


def test_failed_tile_is_hatched_and_in_the_legend(tmp_path):
    html = survey_section({"survey": _survey(tmp_path)}, folder=tmp_path)
    rects = re.findall(r"<rect [^>]*>", html)
    failed = [r for r in rects if 'width="108.0"' in r and re.search(r'fill="url\(#failed-tile-\w+\)"', r)]
    assert failed and 'stroke="#000"' in failed[0] and "#ef9a9a" not in html
    assert '<pattern id="failed-tile-' in html and ">failed</text>" in html and ">not scored</text>" in html


def test_labels_fit_their_tile_and_the_full_name_is_the_tooltip(tmp_path):
    html = survey_section({"survey": _survey(tmp_path)}, folder=tmp_path)
    labels = re.findall(r'font-size="(\d+)"[^>]*><title>([^<]*)</title>([^<]*)</text>', html)
    assert [label for _, _, label in labels] == ["77050", "77060", "77070"]  # the full names do not fit
    for size, tooltip, label in labels:
        assert len(label) * int(size) * GLYPH_WIDTH <= 108 - 4 and tooltip.startswith(f"test_data_{label}")


def test_a_label_too_long_for_any_font_is_left_out():
    svg = tile_map(tiles=[{"bounds": [0, 0, 1, 1], "label": "x" * 200, "color": "#ccc"}], title="t", width=100)
    assert "x" * 200 in svg and f">{'x' * 200}</text>" not in svg and min(FONT_SIZES) == 7


def _phase_record(tmp_path: Path, *, split: bool) -> RunRecorder:
    """A record whose 3 steps ran as one per-cloud phase, with a warning logged during it."""
    os.chdir(tmp_path)
    spec = {"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": STEPS}
    recorder = RunRecorder(spec=spec, kinds=["predict", "eval", "writer"])
    state = PipelineState(clouds=[], model_prefix="o/")
    with recorder.collecting():
        with recorder.step(0, state=state), recorder.step(1, state=state), recorder.step(2, state=state):
            logging.getLogger("vl3d_focal.runner.cloud_phase").error("a.laz: failed: cannot be read as LAS/LAZ")
        logging.getLogger("vl3d_focal.runner.pipeline").warning("after the phase")
    for entry in recorder.data["steps"]:
        entry["seconds"] = 9.0  # each step of the phase is timed as the whole phase
    if split:
        recorder.split_seconds([0, 1, 2], [3.0, 1.0, 0.0])
    return recorder


def test_a_phase_warning_names_the_phase_not_its_last_step(tmp_path):
    recorder = _phase_record(tmp_path, split=False)
    assert [w["phase"] for w in recorder.data["warnings"]] == [[0, 2], None]
    html = render_report(recorder.data, folder=tmp_path)
    assert "steps 1-3 (per cloud), <code>vl3d_focal.runner.cloud_phase</code>" in html
    assert "step 3 (writer" not in html


def test_a_phase_is_one_row_and_one_bar_of_its_time(tmp_path):
    for split in (False, True):
        recorder = _phase_record(tmp_path, split=split)
        section = render_report(recorder.data, folder=tmp_path).split('<section id="steps">')[1].split("</section>")[0]
        rows = re.findall(r"<tr><td[^>]*>([^<]*)</td>", section)
        assert rows == ["1-3 (per cloud)"], split
        assert re.findall(r"<td>([^<]*)</td></tr>", section) == ["9.0"]
        assert re.findall(r">([^<]*) s</text>", section) == ["9.0"]
        assert "1-3 (per cloud): predict, eval, writer" in section


def test_a_survey_of_an_earlier_run_is_said_to_be_one(tmp_path):
    files = _survey(tmp_path)
    record = {"status": "failed", "steps": [], "survey": files, "survey_earlier": "2026-01-02T03:04:05+00:00"}
    html = render_report(record, folder=tmp_path)
    assert "Survey (an earlier run&#x27;s, 2026-01-02T03:04:05+00:00)" in html
    assert "the record of an earlier run (last written 2026-01-02T03:04:05+00:00), not of this run" in html
    assert "earlier run" not in render_report({**record, "survey_earlier": None}, folder=tmp_path)


def test_the_recorder_tells_an_earlier_survey_from_this_runs(tmp_path):
    os.chdir(tmp_path)
    (tmp_path / "o").mkdir()
    _survey(tmp_path / "o")
    written = (tmp_path / "o" / "survey.json").stat().st_mtime - 60  # by an earlier run, a minute before
    os.utime(tmp_path / "o" / "survey.json", (written, written))
    spec = {"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": []}
    recorder = RunRecorder(spec=spec, kinds=[])
    recorder.finish()
    assert recorder.data["survey"] and recorder.data["survey_earlier"] == "2026-01-02T03:04:05+00:00"
    os.utime(tmp_path / "o" / "survey.json")  # written during this run
    recorder.finish()
    assert recorder.data["survey_earlier"] is None
    record = tmp_path / "o" / "survey.json"  # an earlier run's record without its "updated" time
    record.write_text(json.dumps({"tiles": []}))
    os.utime(record, (0, 0))
    recorder.finish()
    assert recorder.data["survey_earlier"] == "1970-01-01T00:00:00+00:00"  # its file's time, in UTC


def test_a_survey_record_tells_its_run_by_its_own_start_not_its_files_time(tmp_path):
    """A network file system's clock may stamp the file's time: the record's ``started`` decides."""
    os.chdir(tmp_path)
    (tmp_path / "o").mkdir()
    spec = {"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": []}
    recorder = RunRecorder(spec=spec, kinds=[])
    record = tmp_path / "o" / "survey.json"
    record.write_text(json.dumps({"started": recorder.data["started"], "updated": "u", "tiles": []}))
    os.utime(record, (0, 0))  # a file server's clock far behind the driver's
    recorder.finish()
    assert recorder.data["survey_earlier"] is None  # started with this run: this run's record
    record.write_text(json.dumps({"started": "2026-01-02T03:00:00+00:00", "updated": "2026-01-02T03:04:05+00:00"}))
    recorder.finish()  # the file's time is now, yet the record began before this run
    assert recorder.data["survey_earlier"] == "2026-01-02T03:04:05+00:00"
