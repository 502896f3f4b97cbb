"""The run report page: what it shows of a run record, and that a browser opens it cleanly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import browser
import pytest

from vl3d_focal.reports.html_report import render_report, write_report
from vl3d_focal.reports.metrics import classification_metrics
from vl3d_focal.reports.run_summary import rare_classes, summed_metrics
from vl3d_focal.reports.survey_section import survey_section

NAMES = ["ground", "vegetation", "pole"]


def make_record(
    folder: Path,
    *,
    loss: str = "class_weighted_focal_categorical_crossentropy",
    gamma: float | None = 2.0,
    class_weight=None,
    confusion=((90, 5, 5), (10, 80, 10), (2, 3, 5)),
    status: str = "finished",
) -> dict:
    """A run record as the runner writes it (one training, one evaluation), under ``folder``."""
    weights = [0.1, 0.3, 0.6] if class_weight else None
    history = [
        {
            "epoch": e + 1,
            "loss": 1.0 / (e + 1),
            "val_loss": 1.2 / (e + 1),
            "accuracy": 0.5 + 0.1 * e,
            "learning_rate": 0.01,
        }
        for e in range(3)
    ]
    return {
        "format": "vl3d_focal run record",
        "version": 1,
        "status": status,
        "started": "2026-01-01T10:00:00+01:00",
        "finished": "2026-01-01T10:01:00+01:00",
        "seconds": 60.0,
        "command": ["vl3d-focal", "run", "spec.json"],
        "resume": False,
        "output_prefix": f"{folder}/",
        "spec": {"in_pcloud": ["tile.las"]},
        "versions": {"python": "3.11", "vl3d_focal": "0.1.0"},
        "machine": {"cpu_count": 2, "devices": ["CPU x"]},
        "clouds": [{"path": str(folder / "tile.las"), "points": 220, "prefix": f"{folder}/"}],
        "steps": [
            {"index": 0, "kind": "train", "name": "PointNetPwiseClassifier", "status": "done", "seconds": 42.5},
            {"index": 1, "kind": "eval", "name": "ClassificationEvaluator", "status": "done", "seconds": 1.5},
        ],
        "trainings": [
            {
                "model": "PointNetPwiseClassifier",
                "class_names": NAMES,
                "loss": {"function": loss, "gamma": gamma},
                "label_format": "sparse",
                "class_weight": weights,
                "class_weight_spec": class_weight,
                "class_weight_source": "loss" if class_weight else "none",
                "class_weight_rule": "balanced: N / (C n_c)" if class_weight else "",
                "class_counts": [900, 80, 20],
                "clouds": [{"path": "train.las", "points": 1000}],
                "history": history,
                "fit_seconds": 40.0,
                "files": {},
            }
        ],
        "evaluations": [
            {
                "cloud": str(folder / "tile.las"),
                "report_path": str(folder / "eval" / "evaluation.json"),
                "metrics": classification_metrics([list(row) for row in confusion], class_names=NAMES),
                "class_colors": ["#a0785a", "#2ca02c", "#ff7f0e"],
                "pictures": {},
            }
        ],
        "notes": [],
        "warnings": [
            {
                "step": 1,
                "level": "WARNING",
                "logger": "vl3d_focal.data.features",
                "message": "intensity lies outside its training range in 40% of the points",
            }
        ],
        "error": None,
        "survey": None,
        "files": {"json": str(folder / "report.json"), "html": str(folder / "report.html")},
        "outputs": [str(folder / "eval" / "evaluation.json"), str(folder / "report.html")],
    }


def test_the_page_shows_scores_classes_loss_weights_steps_and_warnings(tmp_path):
    record = make_record(tmp_path, class_weight="balanced")
    text = render_report(record, folder=tmp_path)
    metrics = record["evaluations"][0]["metrics"]
    assert f"<b>{metrics['mIoU']:.3f}</b><span>mIoU</span>" in text
    assert "<b>class_weighted_focal_categorical_crossentropy</b><span>loss</span>" in text
    assert "<b>2.00</b><span>gamma</span>" in text and "<b>balanced</b><span>class weights</span>" in text
    assert "intensity lies outside its training range in 40% of the points" in text
    assert "step 2 (eval ClassificationEvaluator)" in text  # the warning names its step
    assert "Warnings (1)" in text
    pole = re.search(r"<tr><td class=\"l\">.*?pole(.*?)</tr>", text).group(0)
    assert "badge rare" in pole and f"{metrics['per_class']['pole']['IoU']:.3f}" in pole
    assert "badge rare" not in re.search(r"<tr><td class=\"l\">.*?ground.*?</tr>", text).group(0)
    assert "50.0%" in text  # pole's recall (5 of 10), row-normalised confusion matrix
    assert "balanced: N / (C n_c)" in text and "0.6000" in text  # the rule and the pole's weight
    record["trainings"][0]["class_weight_counted_on"] = "training points"  # what the rule counts: not said again
    assert "(from loss)</p>" in render_report(record, folder=tmp_path)
    assert text.count("<svg") >= 6  # per-class bars, 3 training curves, weights, distribution, steps
    assert 'href="eval/evaluation.json"' in text  # links relative to the page


def test_a_survey_of_many_tiles_details_only_its_worst_tiles(tmp_path):
    """30 evaluated tiles: the 12 of lowest mIoU in detail, worst first, and a note; not 30 of each."""
    record = make_record(tmp_path)
    evaluations = []
    for k in range(30):
        right = 10 + 3 * ((k * 7) % 30)  # a different score per tile, in no particular order
        matrix = [[right, 100 - right, 0], [0, 100, 0], [0, 0, 10]]
        evaluations.append(
            {
                **record["evaluations"][0],
                "cloud": str(tmp_path / f"tile_{k:02d}.las"),
                "metrics": classification_metrics(matrix, class_names=NAMES),
            }
        )
    record["evaluations"] = evaluations
    text = render_report(record, folder=tmp_path)
    worst = sorted(range(30), key=lambda k: evaluations[k]["metrics"]["mIoU"])[:12]
    shown = re.findall(r"Confusion matrix: (tile_\d+)\.las</h2>", text)
    assert shown == [f"tile_{k:02d}" for k in worst]
    assert "30 clouds were evaluated: the 12 of lowest mIoU are shown below" in text
    assert set(re.findall(r"Class distribution: (tile_\d+)", text)) == set(shown)


def test_a_failed_run_shows_its_error_and_the_step(tmp_path):
    record = make_record(tmp_path, status="failed")
    record["steps"][1]["status"] = "failed"
    record["error"] = {
        "step": 1,
        "type": "DataError",
        "message": "cloud tile.las: unmapped LAS code 9",
        "traceback": None,
    }
    text = render_report(record, folder=tmp_path)
    assert '<span class="badge failed">failed</span>' in text
    assert "<b>DataError</b> in step 2 (eval ClassificationEvaluator): cloud tile.las: unmapped LAS code 9" in text


def test_rare_classes_are_those_under_five_percent_of_the_training_points(tmp_path):
    assert rare_classes(make_record(tmp_path)) == ["pole"]  # 20 of 1000 training points


def test_summed_metrics_of_several_clouds_add_their_confusion_matrices(tmp_path):
    record = make_record(tmp_path)
    record["evaluations"].append(record["evaluations"][0])
    summed = summed_metrics(record)
    assert summed["confusion_matrix"][0] == [180, 10, 10]
    assert summed["mIoU"] == pytest.approx(record["evaluations"][0]["metrics"]["mIoU"])


def test_the_survey_section_links_tiles_and_draws_their_map(tmp_path):
    eval_json = tmp_path / "a" / "eval" / "evaluation.json"
    eval_json.parent.mkdir(parents=True)
    eval_json.write_text("{}")
    tiles = [
        {
            "path": "/data/a.laz",
            "prefix": f"{tmp_path}/a/",
            "status": "done",
            "points": 10,
            "seconds": 2.0,
            "metrics": {"mIoU": 0.8, "OA": 0.9, "macro_F1": 0.85},
            "error": None,
            "outputs": [str(eval_json)],
            "bounds": [0, 0, 50, 50],
        },
        {
            "path": "/data/b.laz",
            "prefix": f"{tmp_path}/b/",
            "status": "failed",
            "points": 10,
            "seconds": 1.0,
            "metrics": None,
            "error": "corrupted LAZ",
            "outputs": [],
            "bounds": [50, 0, 100, 50],
        },
    ]
    (tmp_path / "survey.json").write_text(json.dumps({"tiles": tiles}))
    features = [
        {
            "type": "Feature",
            "properties": {
                "name": Path(t["path"]).stem,
                "path": t["path"],
                "status": t["status"],
                "mIoU": (t["metrics"] or {}).get("mIoU"),
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[t["bounds"][0], 0], [t["bounds"][2], 0], [t["bounds"][2], 50], [t["bounds"][0], 50]]],
            },
        }
        for t in tiles
    ]
    (tmp_path / "survey.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    files = {"json": str(tmp_path / "survey.json"), "geojson": str(tmp_path / "survey.geojson")}
    html = survey_section({"survey": files}, folder=tmp_path)
    assert '<a href="a/eval/evaluation.json">a</a>' in html  # the tile's link
    assert "corrupted LAZ" in html and html.count("</title></rect>") == 2  # a rectangle per tile
    assert '<a href="a/eval/evaluation.json"><rect' in html  # the map links the tile too


@pytest.fixture(scope="module")
def chromium_available():
    if browser.chromium() is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium; .ci/run installs it)")


def assert_opens_cleanly(page: Path) -> browser.PageVisit:
    """The page loads without console error, requests nothing but itself and data: URIs, and is not blank."""
    visit = browser.open_page(page)
    assert visit.errors == []
    assert [url for url in visit.requests if url != visit.url and not url.startswith("data:")] == []
    assert visit.requests[0] == visit.url
    assert browser.distinct_colours(visit.screenshot) > 50
    return visit


def test_the_report_opens_in_chromium_without_error_or_request(tmp_path, chromium_available):
    page = write_report(make_record(tmp_path, class_weight="balanced"), path=tmp_path / "report.html")
    visit = assert_opens_cleanly(page)
    assert visit.title.startswith("vl3d_focal run:")


def test_a_page_that_loads_a_remote_file_is_caught(tmp_path, chromium_available):
    """The browser check can fail: a page with a remote picture shows the request (to a closed loopback port)."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><title>x</title></head><body><img src="http://127.0.0.1:9/x.png">'
        '<script>console.error("boom")</script></body></html>'
    )
    visit = browser.open_page(page)
    assert "http://127.0.0.1:9/x.png" in visit.requests
    assert any("boom" in error for error in visit.errors)


def test_input_clouds_are_linked_only_where_a_file_holds_them(tmp_path):
    record = make_record(tmp_path)
    (tmp_path / "tile.las").write_bytes(b"")  # the real cloud's file
    record["clouds"].append({"path": str(tmp_path / "in_pcloud_concat(a+b)"), "points": 40, "prefix": ""})
    record["trainings"][0]["clouds"] = [{"path": str(tmp_path / "in_pcloud_concat(a+b)"), "points": 40}]
    text = render_report(record, folder=tmp_path)
    assert 'href="tile.las"' in text
    assert "in_pcloud_concat(a+b)" in text and 'href="in_pcloud_concat' not in text  # made in memory: no dead link


def test_the_rare_badge_shows_the_share_it_is_counted_on(tmp_path):
    trained = render_report(make_record(tmp_path), folder=tmp_path)
    pole = re.search(r"<tr><td class=\"l\">.*?pole(.*?)</tr>", trained).group(0)
    assert "badge rare" in pole and "2.00%" in pole  # 20 of the 1000 training points
    assert "<td>4.76%</td><td>2.00%</td>" in pole  # of the cloud's 210 scored points, of the 1000 training points
    basis = "points of the model&#x27;s training clouds (before any validation split)"  # validation fields counted
    assert f"<th>share of the scored points of the cloud</th><th>share of the {basis}</th>" in trained
    assert f"rare: under 5% of the {basis} (the column &ldquo;share of the {basis}&rdquo;)" in trained
    survey = make_record(tmp_path)
    survey["trainings"] = []
    survey["evaluations"] = [survey["evaluations"][0], {**survey["evaluations"][0], "cloud": "b.las"}]
    text = render_report(survey, folder=tmp_path)
    assert "rare: under 5% of the scored points of the 2 evaluated clouds together" in text
    assert "share of the scored points of the 2 evaluated clouds together" in text


def test_the_summary_names_the_training_step_wall_time_and_the_fit_time_apart(tmp_path):
    text = render_report(make_record(tmp_path, class_weight="balanced"), folder=tmp_path)
    assert "<b>42.5 s</b><span>training step (wall)</span>" in text
    assert "<b>40.0 s</b><span>fit</span>" in text
    assert "share of the weighted points" in text and "weighted loss" not in text


def test_each_training_is_titled_by_its_model_step_and_folder(tmp_path):
    """Two trainings (a PointNet, then a forest writing ``training_2/``): the nav and the headings
    tell them apart as the results sections name models; a single training's names its model."""
    record = make_record(tmp_path)
    single = render_report(record, folder=tmp_path)
    assert '<a href="#training-1">Training: PointNetPwiseClassifier (step 1)</a>' in single
    assert "<h2>Training: PointNetPwiseClassifier (step 1)</h2>" in single
    record["trainings"][0]["files"] = {"class_weights": str(tmp_path / "training" / "class_weights.json")}
    forest = {**record["trainings"][0], "model": "RandomForestClassifier", "history": [], "loss": {}}
    forest["files"] = {"class_weights": str(tmp_path / "training_2" / "class_weights.json")}
    record["trainings"].append(forest)
    record["steps"].append({"index": 2, "kind": "train", "name": "RandomForestClassifier", "status": "done"})
    text = render_report(record, folder=tmp_path)
    titles = re.findall(r'<section id="training-\d">(<h2>.*?</h2>)', text)
    assert titles == [
        "<h2>Training: PointNetPwiseClassifier (step 1) \u2014 training/</h2>",
        "<h2>Training: RandomForestClassifier (step 3) \u2014 training_2/</h2>",
    ]
    assert '<a href="#training-2">Training: RandomForestClassifier (step 3) \u2014 training_2/</a>' in text
