"""``vl3d-focal compare``: runs side by side from their run records only."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from test_html_report import assert_opens_cleanly, chromium_available, make_record  # noqa: F401  (fixture)

from vl3d_focal.cli import main
from vl3d_focal.errors import DataError
from vl3d_focal.reports.compare import compare_runs, find_record
from vl3d_focal.reports.compare_page import render_comparison
from vl3d_focal.reports.compare_text import format_comparison


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
    headline, _, rest = text.partition("\n\nDifferences")
    assert headline.startswith("Rare classes (under 5% of the training points of focal)")
    lines = ("Differences" + rest).splitlines()
    f, c = focal["evaluations"][0]["metrics"], ce["evaluations"][0]["metrics"]
    assert lines[0] == (
        "Differences (in brackets) are to focal, the first run with scores; bold: 0.01 or more where the scores "
        "compare (each configuration ran once: less is within what a seed changes); —: no score for that class."
    )
    lines = lines[2:]
    assert lines[0].startswith("| run | status | model | features | loss |")
    assert lines[2] == (  # training (s): the fit's 40 s, not the train step's 42.5 s (reading, fields)
        "| focal | finished | PointNetPwiseClassifier (trained) | 2 features; robust standardization | "
        "class_weighted_focal_categorical_crossentropy | 2 | balanced | "
        f"{f['mIoU']:.3f} | {f['OA']:.3f} | {f['macro_F1']:.3f} | 40.0 | 3 |"
    )
    assert lines[3].startswith(
        "| ce | finished | PointNetPwiseClassifier (trained) | "
        "3 features; MinmaxNormalizer, PCATransformer, robust standardization | "
        f"sparse_categorical_crossentropy |  | none | {c['mIoU']:.3f} "
        f"({_shown(c['mIoU'] - f['mIoU'])}) |"
    )
    assert lines[3].endswith("| 30.0 | 3 |")
    assert [line for line in lines if line.startswith("Note:")] == [  # the same cloud: only that each ran once
        "Note: each configuration ran once, so differences the size of seed-to-seed variation (0.003-0.009 "
        "per-class IoU from one seed to another on the demo) are not the loss's; repeat each with other seeds (a "
        "copy of its spec with another random_seed and other output folders, vl3d-focal run) and compare all the "
        "runs: runs that differ only in their seed are grouped, with their mean and spread."
    ]
    poles = [line for line in lines if line.startswith(("| pole |", "| pole (rare) |"))]
    assert poles[0] == "| pole | 2.00% rare | 2.00% rare |"  # each run's own training share
    assert poles[1] == "| pole | 10 | 10 |"  # points scored (support)
    for line, key in zip(poles[2:], ("IoU", "R", "F1", "P")):  # IoU, recall, F1, precision
        fv, cv = f["per_class"]["pole"][key], c["per_class"]["pole"][key]
        assert line == f"| pole (rare) | {fv:.3f} | {cv:.3f} ({_shown(cv - fv)}) |"
    headers = [line for line in lines if line.startswith("| class |")]
    assert headers == [
        f"| class | {what}: focal | ce |"
        for what in ("training share", "points scored", "IoU", "recall", "F1", "precision")
    ]


def _shown(change: float) -> str:
    """A difference as Markdown shows it: bold from 0.01 on where each configuration ran once."""
    text = "0.000" if abs(change) < 0.0005 else f"{change:+.3f}"
    return f"**{text}**" if abs(change) >= 0.01 else text


def test_csv_has_one_row_per_run_and_class(runs):
    root, focal, _ = runs
    rows = list(
        csv.DictReader(io.StringIO(format_comparison(compare_runs([root / "focal", root / "ce"]), style="csv")))
    )
    assert [(r["run"], r["class"]) for r in rows] == [
        (run, name) for run in ("focal", "ce") for name in ("ground", "vegetation", "pole")
    ]
    assert float(rows[2]["weight"]) == 0.6 and rows[5]["weight"] == ""
    assert (rows[0]["features"], rows[3]["features"]) == (
        "2 features; robust standardization",
        "3 features; MinmaxNormalizer, PCATransformer, robust standardization",
    )
    assert (rows[2]["training_share"], rows[2]["rare"], rows[2]["training_clouds"]) == ("0.02", "True", "train.las")
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
        "given",  # weights without a strategy's name
    )
    assert run["weights"] == {"ground": 0.2, "vegetation": 0.3, "pole": 0.5}
    assert run["features"] == "2 features; per-cloud scaling, MinmaxNormalizer, PCATransformer"
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
    comparison = compare_runs([root / "focal", root / "ce"])
    assert comparison["notes"][1:] == [
        "the runs do not score the same classes, so their mIoU and other averages over the classes do not compare; "
        "compare the classes they share (focal: ground, vegetation, pole; ce: ground, vegetation)"
    ]
    # the averages do not compare: their differences are shown without colour or bold, the classes' with
    assert comparison["averages_compare"] is False
    mIoU = comparison["runs"][1]["mIoU"] - comparison["runs"][0]["mIoU"]
    assert abs(mIoU) > 0.01 and f"({mIoU:+.3f}) |" in format_comparison(comparison, style="md")
    page = render_comparison(comparison, folder=root)
    assert f"{comparison['runs'][1]['mIoU']:.3f} {mIoU:+.3f}</td>" in page
    assert '<span class="up">' in page or '<span class="down">' in page  # per-class differences still coloured


def test_the_cli_prints_the_table_and_writes_the_page(runs, capsys):
    root, _, _ = runs
    (root / "focal" / "report.html").write_text("<!DOCTYPE html><title>focal</title>")  # ce has none
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
        "2 features; robust standardization",
        "3 features; MinmaxNormalizer, PCATransformer, robust standardization",
    ]
    page = (root / "compare.html").read_text()
    assert '<th class="l">features</th>' in page and '<td class="l">2 features; robust standardization</td>' in page
    assert '<a href="focal/report.html">focal</a>' in page and '<td class="l">ce</td>' in page  # only what exists
    assert page.count("<svg") == 5  # scores, per-class IoU, recall, F1, precision
    assert "Differences are to focal, the first run with scores; coloured: 0.01 or more" in page


def test_the_page_never_replaces_a_file_compare_did_not_write(runs, capsys):
    root, _, _ = runs
    report = root / "focal" / "report.html"
    report.write_text("<!DOCTYPE html><title>the focal run's own page</title>")
    arguments = ["compare", str(root / "focal"), str(root / "ce")]
    for target, message in (
        (report, "exists and is not a page written by vl3d-focal compare; it is kept"),
        (root / "scores.csv", "give -o a name ending in .html"),
        (root / "focal", "is a folder; give -o a page to write"),
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


def _write(folder: Path, record: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(record))
    return folder


def test_each_run_shows_its_own_training_shares_and_rare_classes(runs):
    root, _, ce = runs
    ce["trainings"][0]["class_counts"] = [700, 290, 10]  # another training set: vegetation no longer rare
    _write(root / "ce", ce)
    comparison = compare_runs([root / "focal", root / "ce"])
    focal_run, ce_run = comparison["runs"]
    assert focal_run["shares"] == pytest.approx({"ground": 900 / 1000, "vegetation": 80 / 1000, "pole": 20 / 1000})
    assert ce_run["shares"] == pytest.approx({"ground": 0.7, "vegetation": 0.29, "pole": 0.01})
    assert (focal_run["rare"], ce_run["rare"]) == (["pole"], ["pole"])
    lines = format_comparison(comparison, style="md").splitlines()
    assert "| vegetation | 8.00% | 29.00% |" in lines and "| pole | 2.00% rare | 1.00% rare |" in lines
    page = render_comparison(comparison, folder=root)
    assert "<td>2.00% rare</td><td>1.00% rare</td>" in page and "Training share of each class" in page


def test_runs_trained_on_other_clouds_or_seeds_show_them_and_a_note(runs):
    root, focal, ce = runs
    for record, seed, clouds in ((focal, 42, ["a.laz", "b.laz"]), (ce, 1, ["a.laz", "c.laz"])):
        record["spec"] = {"sequential_pipeline": [{"train": "PointNetPwiseClassifier", "random_seed": seed}]}
        record["trainings"][0]["clouds"] = [{"path": f"/data/{name}", "points": 500} for name in clouds]
    ce["trainings"][0]["feature_names"] = ["intensity", "height"]
    _write(root / "focal", focal), _write(root / "ce", ce)
    comparison = compare_runs([root / "focal", root / "ce"])
    assert [(r["seed"], r["training_clouds"], r["feature_names"]) for r in comparison["runs"]] == [
        (42, ["a.laz", "b.laz"], ["intensity", "height"]),
        (1, ["a.laz", "c.laz"], ["intensity", "height"]),
    ]
    assert comparison["notes"][1:] == [  # another seed is no fault: seeds make repeats
        "the runs were not trained on the same clouds, so their differences are not the loss's alone "
        "(focal: a.laz, b.laz; ce: a.laz, c.laz)"
    ]
    text = format_comparison(comparison, style="md")
    assert "| focal | 42 | a.laz, b.laz | intensity, height | tile.las (210 points) |" in text.splitlines()
    assert "| ce | 1 | a.laz, c.laz | intensity, height | tile.las (210 points) |" in text.splitlines()
    assert "same seed" not in text
    rows = list(csv.DictReader(io.StringIO(format_comparison(comparison, style="csv"))))
    assert (rows[3]["seed"], rows[3]["training_clouds"], rows[3]["feature_names"]) == (
        "1",
        "a.laz;c.laz",
        "intensity;height",
    )
    page = render_comparison(comparison, folder=root)
    assert (
        '<td class="l">intensity, height</td><td class="l">a.laz, c.laz</td><td>1</td>'
        "<td>tile.las (210 points)</td><td>30.0</td>"
    ) in page
    same = compare_runs([root / "focal", root / "focal" / "report.json"])
    assert same["notes"] == [  # the same run given twice: said, not silent
        "focal (2) is focal (1) given again (the same report.json): it counts once, so their differences are 0 "
        "by construction"
    ]
    assert [group["runs"] for group in same["groups"]] == [["focal (1)"]]


def test_a_loaded_model_is_described_as_the_run_that_trained_it(runs):
    root, focal, _ = runs
    training = focal["trainings"][0]
    loaded = make_record(root / "survey")
    loaded["trainings"] = []
    loaded["loaded_models"] = [
        {
            "path": str(root / "focal" / "model" / "model.keras"),
            "model": training["model"],
            "class_names": training["class_names"],
            "loss": {"function": training["loss"]["function"], "gamma": 2.0, "class_weight": "balanced"},
            "class_weight": [0.1, 0.3, 0.6],
            "class_weight_source": "loss",
            "class_counts": training["class_counts"],
            "feature_names": ["intensity", "height"],
            "imputers": [],
            "feature_transformers": [
                {"transformer": "robust standardization", "considered": ["intensity", "height"], "kept": []}
            ],
        }
    ]
    _write(root / "survey", loaded)
    trained, survey = compare_runs([root / "focal", root / "survey"])["runs"]
    assert trained["features"] == survey["features"] == "2 features; robust standardization"
    assert trained["class_weight"] == survey["class_weight"] == "balanced"
    assert (survey["seed"], survey["training_clouds"]) == (None, None)  # its record keeps neither


def test_an_unwritable_page_is_a_one_line_error(runs, capsys):
    root, _, _ = runs
    arguments = ["compare", str(root / "focal"), str(root / "ce")]
    (root / "a_file").write_text("x")
    assert main([*arguments, "-o", str(root / "a_file" / "c.html")]) == 2  # a part of the folder is a file
    err = capsys.readouterr().err
    assert err.startswith(f"vl3d-focal: error: output {root / 'a_file' / 'c.html'}: a part of its folder")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if Path("/proc/self").is_dir():  # Linux: a folder where no file can be made
        assert main([*arguments, "-o", "/proc/c.html"]) == 2
        assert "/proc/c.html: cannot write the comparison page" in capsys.readouterr().err
    assert main([*arguments, "-o", str(root / "new" / "folder" / "c.html")]) == 0  # created, as run does
    assert (root / "new" / "folder" / "c.html").is_file()


def test_a_failed_run_shows_its_error_and_an_interrupted_one_its_spec(runs):
    root, _, _ = runs
    failed = make_record(root / "fail", status="failed")
    failed["evaluations"] = []
    failed["error"] = {"step": 1, "type": "DataError", "message": "tile.las: truncated " + "x" * 300}
    interrupted = make_record(root / "killed", status="interrupted")
    interrupted["trainings"], interrupted["evaluations"] = [], []
    interrupted.pop("spec")  # an old record: the spec is read from run.json
    spec = {
        "sequential_pipeline": [
            {
                "train": "PointNetPwiseClassifier",
                "fnames": ["intensity"],
                "random_seed": 5,
                "model_args": {
                    "compilation_args": {
                        "loss": {"function": "class_weighted_focal_categorical_crossentropy", "gamma": 3.0}
                    },
                    "model_handling": {"class_weight": "AUTO"},
                },
            }
        ]
    }
    _write(root / "fail", failed), _write(root / "killed", interrupted)
    (root / "killed" / "run.json").write_text(json.dumps({"spec": spec}))
    comparison = compare_runs([root / "focal", root / "fail", root / "killed"])
    fail, killed = comparison["runs"][1:]
    assert fail["error"] == "step 1 (eval ClassificationEvaluator): DataError: tile.las: truncated " + "x" * 139 + "…"
    assert (killed["model"], killed["loss"], killed["gamma"], killed["class_weight"], killed["features"]) == (
        "PointNetPwiseClassifier (in the spec)",
        "class_weighted_focal_categorical_crossentropy",
        3.0,
        "AUTO",
        "1 feature",
    )
    assert killed["error"] is None and killed["train_seconds"] is None
    text = format_comparison(comparison, style="md")
    assert f"\nfail failed: {fail['error']}\n" in text
    page = render_comparison(comparison, folder=root)
    assert f'<p class="warn">fail failed: {fail["error"]}</p>' in page
    assert "n/a n/a" not in page and "<td>n/a</td>" in page  # a failed run's scores: n/a alone
    assert "No scores (not in the charts): fail, killed." in page
    assert "<title>mIoU, focal: " in page and not re.search(r"<title>[^<]*, (fail|killed):", page)  # charts: scored


def test_class_weights_tell_a_class_the_run_lacks_from_no_weight(runs):
    from vl3d_focal.reports.metrics import classification_metrics

    root, focal, ce = runs
    focal["trainings"][0]["class_weight"] = [0.1, 0.3, 0.6]
    ce["trainings"][0]["class_names"] = ["ground", "vegetation"]
    ce["trainings"][0]["class_counts"] = [900, 100]
    ce["evaluations"][0]["metrics"] = classification_metrics([[100, 5], [10, 95]], class_names=["ground", "vegetation"])
    _write(root / "focal", focal), _write(root / "ce", ce)
    page = render_comparison(compare_runs([root / "focal", root / "ce"]), folder=root)
    weights = page[page.index('id="weights"') :]
    assert "<td>0.6000</td><td>—</td>" in weights  # pole: absent from ce
    assert "<td>0.1000</td><td>n/a</td>" in weights  # ground: ce has it, without weight
    assert "n/a: the run used no class weight; —: the run has no such class." in weights


def test_a_run_given_as_dot_is_named_by_its_folder(runs, monkeypatch):
    root, _, _ = runs
    monkeypatch.chdir(root / "ce")
    assert [run["name"] for run in compare_runs([root / "focal", "."])["runs"]] == ["focal", "ce"]


def test_a_run_of_vl3d_s_single_component_train_form_shows_its_seed_and_clouds(tmp_path, restore_logging):
    """The run record keeps the spec as run, in the pipeline form: compare finds its train step."""
    from helpers import write_vl3d_cloud

    write_vl3d_cloud(tmp_path / "data" / "train.laz", classes="leafwood", seed=0, scale=0.1, extra=("height_r",))
    doc = {
        "train": "RandomForestClassifier",
        "in_pcloud": "data/train.laz",
        "out_model": "out/forest/forest.model",
        "fnames": ["height_r"],
        "random_seed": 7,
        "model_args": {"n_estimators": 2, "max_depth": 4},
    }
    (tmp_path / "train.json").write_text(json.dumps(doc))
    assert main(["run", str(tmp_path / "train.json")]) == 0
    (run,) = compare_runs([tmp_path / "out" / "forest"])["runs"]
    assert (run["model"].split(" (")[0], run["seed"], run["training_clouds"]) == (
        "RandomForestClassifier",
        7,
        ["train.laz"],
    )
