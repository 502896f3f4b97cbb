"""``vl3d-focal compare``: runs side by side from their run records only."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from test_html_report import assert_opens_cleanly, chromium_available, make_record  # noqa: F401  (fixture)

from vl3d_focal.cli import main
from vl3d_focal.errors import DataError
from vl3d_focal.reports.compare import compare_runs, find_record, format_comparison


@pytest.fixture()
def runs(tmp_path):
    """A focal-loss run with class weights and a cross-entropy run; their clouds do not exist."""
    focal = make_record(tmp_path / "focal", class_weight="balanced", confusion=((90, 5, 5), (10, 80, 10), (1, 2, 7)))
    ce = make_record(
        tmp_path / "ce",
        loss="sparse_categorical_crossentropy",
        gamma=None,
        confusion=((95, 5, 0), (10, 88, 2), (6, 3, 1)),
    )
    ce["trainings"][0]["fit_seconds"] = 30.0
    focal["trainings"][0]["feature_names"] = ["intensity", "height"]
    ce["trainings"][0]["feature_transformers"] = [  # a record written before feature_names: the last kept
        {
            "transformer": "MinmaxNormalizer (to [0, 1], clipped)",
            "considered": ["a", "b", "c"],
            "kept": ["a", "b", "c"],
        },
        {"transformer": "PCATransformer (2 components)", "considered": ["b", "c"], "kept": ["a", "PCA_1", "PCA_2"]},
    ]
    for name, record in (("focal", focal), ("ce", ce)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(record))
    return tmp_path, focal, ce


def test_markdown_tables_give_scores_per_class_values_and_differences(runs):
    root, focal, ce = runs
    text = format_comparison(compare_runs([root / "focal", root / "ce"]), style="md")
    lines = text.splitlines()
    f, c = focal["evaluations"][0]["metrics"], ce["evaluations"][0]["metrics"]
    assert lines[0].startswith("| run | status | model | features | loss |")
    assert lines[2] == (  # training (s): the fit's 40 s, not the train step's 42.5 s (reading, fields)
        "| focal | finished | PointNetPwiseClassifier (trained) | 2 features | "
        "class_weighted_focal_categorical_crossentropy | 2 | balanced | "
        f"{f['mIoU']:.3f} | {f['OA']:.3f} | {f['macro_F1']:.3f} | 40.0 | 3 |"
    )
    assert lines[3].startswith(
        "| ce | finished | PointNetPwiseClassifier (trained) | 3 features; MinmaxNormalizer, PCATransformer | "
        f"sparse_categorical_crossentropy |  | none | {c['mIoU']:.3f} "
        f"({c['mIoU'] - f['mIoU']:+.3f}) |"
    )
    assert lines[3].endswith("| 30.0 | 3 |") and "Note:" not in text  # both scored on the same cloud
    pole = next(line for line in lines if line.startswith("| pole |"))
    f_iou, c_iou = f["per_class"]["pole"]["IoU"], c["per_class"]["pole"]["IoU"]
    assert pole == (f"| pole | 2.00% | {f_iou:.3f} | {c_iou:.3f} ({c_iou - f_iou:+.3f}) | 0.700 | 0.100 (-0.600) |")


def test_csv_has_one_row_per_run_and_class(runs):
    root, focal, _ = runs
    rows = list(
        csv.DictReader(io.StringIO(format_comparison(compare_runs([root / "focal", root / "ce"]), style="csv")))
    )
    assert [(r["run"], r["class"]) for r in rows] == [
        (run, name) for run in ("focal", "ce") for name in ("ground", "vegetation", "pole")
    ]
    assert float(rows[2]["weight"]) == 0.6 and rows[5]["weight"] == ""
    assert (rows[0]["features"], rows[3]["features"]) == ("2 features", "3 features; MinmaxNormalizer, PCATransformer")
    assert float(rows[2]["IoU"]) == pytest.approx(focal["evaluations"][0]["metrics"]["per_class"]["pole"]["IoU"])


def test_a_run_that_loaded_its_model_shows_how_that_model_was_trained(runs):
    root, focal, _ = runs
    loaded = make_record(root / "loaded", status="failed")
    training = loaded.pop("trainings")[0]
    loaded["trainings"] = []
    loaded["loaded_models"] = [
        {
            "path": str(root / "focal" / "model" / "model.keras"),
            "model": training["model"],
            "class_names": training["class_names"],
            "loss": {"function": "class_weighted_focal_categorical_crossentropy", "gamma": 1.0},
            "class_weight": [0.2, 0.3, 0.5],
            "class_weight_source": "loss",
            "class_counts": [600, 300, 100],
            "feature_names": ["intensity", "PCA_1"],
            "imputers": [],
            "feature_transformers": [
                {"transformer": "MinmaxNormalizer (clip)", "considered": ["h"], "kept": ["h"], "values": {"h": [0, 1]}},
                {"transformer": "PCATransformer (1 component)", "considered": ["h"], "kept": ["intensity", "PCA_1"]},
                {"transformer": "cloud_normalization", "considered": ["intensity"], "kept": ["intensity", "PCA_1"]},
            ],
        }
    ]
    (root / "loaded").mkdir()
    (root / "loaded" / "report.json").write_text(json.dumps(loaded))
    comparison = compare_runs([root / "focal", root / "loaded"])
    run = comparison["runs"][1]
    assert run["status"] == "failed" and run["model"] == "PointNetPwiseClassifier (loaded model.keras)"
    assert (run["loss"], run["gamma"], run["class_weight"]) == (
        "class_weighted_focal_categorical_crossentropy",
        1.0,
        "given",
    )
    assert run["weights"] == {"ground": 0.2, "vegetation": 0.3, "pole": 0.5}
    assert run["features"] == "2 features; MinmaxNormalizer, PCATransformer, cloud_normalization"
    assert run["train_seconds"] is None and run["epochs"] is None  # no training in this run
    rows = list(csv.DictReader(io.StringIO(format_comparison(comparison, style="csv"))))
    assert (rows[3]["status"], rows[3]["model"], rows[3]["weight"]) == (
        "failed",
        "PointNetPwiseClassifier (loaded model.keras)",
        "0.2",
    )


def test_runs_scored_on_other_clouds_are_flagged(runs, capsys):
    root, _, ce = runs
    ce["evaluations"][0]["cloud"] = str(root / "ce" / "other_tile.las")
    (root / "ce" / "report.json").write_text(json.dumps(ce))
    text = format_comparison(compare_runs([root / "focal", root / "ce"]), style="md")
    assert text.splitlines()[-1] == (
        "Note: the runs were not evaluated on the same clouds, so their scores do not compare "
        "(focal: tile.las (210 points); ce: other_tile.las (210 points))."
    )
    unscored = make_record(root / "train_only")
    unscored["evaluations"] = []
    (root / "train_only").mkdir()
    (root / "train_only" / "report.json").write_text(json.dumps(unscored))
    assert compare_runs([root / "focal", root / "train_only"])["notes"] == []  # nothing scored to mismatch
    assert main(["compare", str(root / "focal"), str(root / "ce"), "--format", "csv"]) == 0
    assert "vl3d-focal: note: the runs were not evaluated on the same clouds" in capsys.readouterr().err


def test_runs_scored_on_other_classes_are_flagged(runs):
    from vl3d_focal.reports.metrics import classification_metrics

    root, _, ce = runs
    ce["evaluations"][0]["metrics"] = classification_metrics([[100, 5], [10, 95]], class_names=["ground", "vegetation"])
    (root / "ce" / "report.json").write_text(json.dumps(ce))
    notes = compare_runs([root / "focal", root / "ce"])["notes"]
    assert notes == [
        "the runs do not score the same classes, so their mIoU and other averages over the classes do not compare; "
        "compare the classes they share (focal: ground, vegetation, pole; ce: ground, vegetation)"
    ]


def test_the_cli_prints_the_table_and_writes_the_page(runs, capsys):
    root, _, _ = runs
    assert (
        main(
            [
                "compare",
                str(root / "focal"),
                str(root / "ce" / "report.json"),
                "--format",
                "json",
                "-o",
                str(root / "compare.html"),
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert [run["name"] for run in printed["runs"]] == ["focal", "ce"]
    assert [run["features"] for run in printed["runs"]] == [
        "2 features",
        "3 features; MinmaxNormalizer, PCATransformer",
    ]
    page = (root / "compare.html").read_text()
    assert '<th class="l">features</th>' in page and '<td class="l">2 features</td>' in page
    assert '<a href="focal/report.html">focal</a>' in page
    assert page.count("<svg") == 3  # scores, per-class IoU, per-class recall


def test_the_page_never_replaces_a_file_compare_did_not_write(runs, capsys):
    root, _, _ = runs
    report = root / "focal" / "report.html"
    report.write_text("<!DOCTYPE html><title>the focal run's own page</title>")
    arguments = ["compare", str(root / "focal"), str(root / "ce")]
    for target, message in (
        (report, "exists and is not a page written by vl3d-focal compare; it is kept"),
        (root / "scores.csv", "give -o a name ending in .html"),
        (root / "focal", "give -o a name ending in .html"),
    ):
        assert main([*arguments, "-o", str(target)]) == 2
        assert message in capsys.readouterr().err
    assert report.read_text() == "<!DOCTYPE html><title>the focal run's own page</title>"
    assert not (root / "scores.csv").exists()

    page = root / "comparisons" / "compare.html"
    assert main([*arguments, "-o", str(page)]) == 0
    assert main([*arguments[:2], "-o", str(page)]) == 0  # its own earlier page is replaced
    assert "comparison of 1 runs" in page.read_text()


def test_a_folder_without_a_record_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(DataError, match="no run record"):
        find_record(tmp_path)
    (tmp_path / "report.json").write_text('{"OA": 1}')
    assert main(["compare", str(tmp_path)]) == 2
    assert "not a vl3d_focal run record" in capsys.readouterr().err


def test_the_comparison_page_opens_in_chromium(runs, chromium_available):  # noqa: F811
    root, _, _ = runs
    assert main(["compare", str(root / "focal"), str(root / "ce"), "-o", str(root / "compare.html")]) == 0
    assert_opens_cleanly(root / "compare.html")


def test_runs_with_the_same_folder_name_get_distinct_names(tmp_path):
    for parent in ("a", "b"):
        folder = tmp_path / parent / "run"
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(json.dumps(make_record(folder)))
    names = [run["name"] for run in compare_runs([tmp_path / "a" / "run", tmp_path / "b" / "run"])["runs"]]
    assert names == ["a/run", "b/run"]
    assert Path(compare_runs([tmp_path / "a" / "run"])["runs"][0]["record"]).name == "report.json"
