"""``vl3d-focal compare`` answers honestly: seed repeats as configurations (mean, sd, n), what
else differs between them, classes mapped from other LAS codes, scores on a training cloud, a
run given twice, an interrupted run, and Markdown and page that say the same."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from test_html_report import make_record

from vl3d_focal.reports.compare import compare_runs
from vl3d_focal.reports.compare_groups import is_finding
from vl3d_focal.reports.compare_page import render_comparison
from vl3d_focal.reports.compare_text import format_comparison

CE = "sparse_categorical_crossentropy"
FOCAL = "class_weighted_focal_categorical_crossentropy"


def _run(root: Path, name: str, *, seed: int, loss: str = FOCAL, pole=(2, 3, 5), codes=None, **handling) -> Path:
    """A run whose spec has a class mapping and a train step (``handling``: model_handling keys;
    the optimizer's ``learning_rate`` too), written under ``root / name``."""
    folder = root / name
    record = make_record(
        folder, loss=loss, gamma=None if loss == CE else 2.0, confusion=((90, 5, 5), (10, 80, 10), pole)
    )
    learning_rate = handling.pop("learning_rate", 0.003)
    record["spec"] = {
        "in_pcloud": ["tile.las"],
        "sequential_pipeline": [
            {
                "class_mapping": "LASClassMapping",
                "classes": [
                    {"name": n, "codes": c}
                    for n, c in (codes or {"ground": [2], "vegetation": [3], "pole": [64]}).items()
                ],
            },
            {
                "train": "PointNetPwiseClassifier",
                "random_seed": seed,
                "model_args": {
                    "compilation_args": {"loss": {"function": loss}, "optimizer": {"learning_rate": learning_rate}},
                    "model_handling": {"training_epochs": 30, "checkpoint_path": f"{folder}/model.keras", **handling},
                },
            },
        ],
    }
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(record))
    return folder


def _pole_iou(comparison: dict, run: str) -> float:
    return next(r for r in comparison["runs"] if r["name"] == run)["per_class"]["pole"]["IoU"]


def test_seed_repeats_form_configurations_with_mean_sd_and_n(tmp_path):
    ce = [_run(tmp_path, f"ce{s}", seed=s, loss=CE, pole=pole) for s, pole in ((1, (2, 3, 5)), (2, (2, 4, 4)))]
    focal = [_run(tmp_path, f"focal{s}", seed=s, pole=pole) for s, pole in ((1, (1, 1, 8)), (2, (1, 2, 7)))]
    comparison = compare_runs([*ce, *focal])
    groups = comparison["groups"]
    assert [(g["name"], g["n"], g["seeds"]) for g in groups] == [
        ("ce1 + ce2", 2, [1, 2]),
        ("focal1 + focal2", 2, [1, 2]),
    ]
    ious = [_pole_iou(comparison, name) for name in ("ce1", "ce2")]
    mean = sum(ious) / 2
    sd = abs(ious[0] - ious[1]) / 2**0.5
    assert groups[0]["per_class"]["pole"]["IoU"] == {"mean": round(mean, 4), "sd": round(sd, 4), "n": 2}
    assert groups[0]["per_class"]["pole"]["support"] == 10
    assert not any("seed" in note for note in comparison["notes"])  # seeds make repeats, not a fault
    text = format_comparison(comparison, style="md")
    assert text.startswith("Rare classes (under 5% of the training points of ce1 + ce2)")
    assert "\n\nConfigurations: runs alike but for their random_seed, as mean ± sd over their n scored runs." in text
    assert "| focal1 + focal2 | 2 | 1, 2 | " + FOCAL in text
    assert f"| pole (rare) | {mean:.3f} ± {sd:.3f} |" in text  # the reference configuration: no difference
    assert "\nEach run. Differences (in brackets) are to ce1" in text  # the runs follow the configurations
    rows = list(csv.DictReader(io.StringIO(format_comparison(comparison, style="csv"))))
    assert len(rows) == 4 * 3 and {r["configuration"] for r in rows} == {"ce1 + ce2", "focal1 + focal2"}
    assert json.loads(format_comparison(comparison, style="json"))["groups"] == groups
    page = render_comparison(comparison, folder=tmp_path)
    assert page.index("Configurations (seed repeats)") < page.index(">Runs<")


def test_a_difference_within_the_seed_spread_is_no_finding(tmp_path):
    ce = [_run(tmp_path, f"ce{s}", seed=s, loss=CE, pole=pole) for s, pole in ((1, (2, 3, 5)), (2, (3, 3, 4)))]
    near = _run(tmp_path, "near", seed=1, pole=(2, 3, 5), training_epochs=30)  # focal, as ce1 on the pole
    comparison = compare_runs([*ce, near])
    ce_group, focal = comparison["groups"]
    spread = ce_group["per_class"]["pole"]["IoU"]["sd"]
    change = focal["per_class"]["pole"]["IoU"]["mean"] - ce_group["per_class"]["pole"]["IoU"]["mean"]
    assert 0.01 < abs(change) < 2 * spread  # large for one run, within the seeds' spread (borrowed by focal)
    assert not is_finding(comparison, change, a=ce_group["name"], b=focal["name"], key="IoU", name="pole")
    assert is_finding(comparison, 2.5 * spread, a=ce_group["name"], b=focal["name"], key="IoU", name="pole")
    text = format_comparison(comparison, style="md")
    pole = next(line for line in text.splitlines() if line.startswith("| pole (rare) |") and "±" in line)
    assert f"({change:+.3f})" in pole and "**" not in pole
    page = render_comparison(comparison, folder=tmp_path)
    section = page[page.index('id="configurations"') : page.index('id="runs"')]
    assert not re.search(r'<span class="(up|down)">', section.split("Per-class IoU")[1].split("</table>")[0])


def test_single_runs_say_so_and_colour_only_differences_of_0_01_or_more(tmp_path):
    a, b = _run(tmp_path, "ce", seed=1, loss=CE), _run(tmp_path, "focal", seed=1, pole=(2, 2, 6))
    comparison = compare_runs([a, b])
    assert comparison["notes"][0].startswith("each configuration ran once, so differences the size of seed-to-seed")
    assert "repeat each with other seeds" in comparison["notes"][0]
    assert is_finding(comparison, 0.01, a="ce", b="focal", key="IoU") and not is_finding(
        comparison, 0.009, a="ce", b="focal", key="IoU"
    )
    text = format_comparison(comparison, style="md")
    assert "| ground | 0.804 | 0.804 (0.000) |" in text and "| vegetation | 0.741 | 0.748 (+0.007) |" in text
    page = render_comparison(comparison, folder=tmp_path)
    assert "| pole (rare) | 0.200 | 0.240 (**+0.040**) |" in text  # 0.01 or more: bold
    assert '<td><span class="up">+0.040</span></td>' in page  # coloured as it is bold
    assert "<td>0.000</td>" in page and "(+0.000)" not in text and "(-0.000)" not in text
    assert "points scored" in text and "<h2>Points scored of each class</h2>" in page


def test_configurations_that_change_more_than_the_loss_are_named(tmp_path):
    base = _run(tmp_path, "ce", seed=42, loss=CE)
    other = _run(tmp_path, "focal_lr", seed=7, learning_rate=0.01, training_epochs=5)
    notes = compare_runs([base, other])["notes"]
    assert (
        "focal_lr differs from ce in more than the loss (learning_rate 0.003 -> 0.01, training_epochs 30 -> 5), "
        "so their differences are not the loss's alone"
    ) in notes  # the seed and the output paths (checkpoint_path) are no difference


def test_classes_with_other_las_codes_are_named(tmp_path):
    a = _run(tmp_path, "ce", seed=1, loss=CE)
    b = _run(tmp_path, "remap", seed=1, codes={"ground": [2, 3, 4], "vegetation": [3], "pole": [64]})
    notes = compare_runs([a, b])["notes"]
    assert (
        "the same class names stand for other LAS codes in some runs, so these classes' scores do not compare: "
        "ground (ce: 2; remap: 2, 3, 4)"
    ) in notes


def test_the_evaluated_clouds_are_named_and_a_training_cloud_marked(tmp_path):
    a = _run(tmp_path, "ce", seed=1, loss=CE)
    record = json.loads((a / "report.json").read_text())
    record["trainings"][0]["clouds"] = [{"path": str(a / "tile.las"), "points": 220}]  # scored where it trained
    (a / "report.json").write_text(json.dumps(record))
    comparison = compare_runs([a])
    assert comparison["runs"][0]["scored_on_training"] == ["tile.las"]
    assert "ce was scored on a cloud it trained on (tile.las): its scores there overstate" in comparison["notes"][0]
    assert "| tile.las (210 points, trained on it) |" in format_comparison(comparison, style="md")
    assert "<td>tile.las (210 points, trained on it)</td>" in render_comparison(comparison, folder=tmp_path)


def test_an_interrupted_run_gets_no_broken_link_and_its_spec_s_seed_and_clouds(tmp_path):
    done = _run(tmp_path, "ce", seed=1, loss=CE)
    (done / "report.html").write_text("<!DOCTYPE html><title>ce</title>")
    killed = _run(tmp_path, "killed", seed=5, loss=CE, training_pcloud=["/data/train_a.las"])
    record = json.loads((killed / "report.json").read_text())
    record.update(status="interrupted", trainings=[], evaluations=[])
    (killed / "report.json").write_text(json.dumps(record))
    comparison = compare_runs([killed, done])
    run = comparison["runs"][0]
    assert (run["seed"], run["training_clouds"], run["report"]) == (5, ["train_a.las"], None)
    assert comparison["reference"] == "ce" and comparison["runs"][1]["report"].endswith("report.html")
    assert format_comparison(comparison, style="md").startswith(
        "Differences (in brackets) are to ce, the first run with scores (killed has none);"
    )
    page = render_comparison(comparison, folder=tmp_path)
    assert '<a href="ce/report.html">ce</a>' in page and 'href="killed/' not in page


def test_markdown_and_page_mark_a_missing_class_alike(tmp_path):
    from vl3d_focal.reports.metrics import classification_metrics

    a, b = _run(tmp_path, "ce", seed=1, loss=CE), _run(tmp_path, "two", seed=1)
    record = json.loads((b / "report.json").read_text())
    record["evaluations"][0]["metrics"] = classification_metrics(
        [[100, 5], [10, 95]], class_names=["ground", "vegetation"]
    )
    (b / "report.json").write_text(json.dumps(record))
    comparison = compare_runs([a, b])
    text = format_comparison(comparison, style="md")
    iou = comparison["runs"][0]["per_class"]["pole"]["IoU"]
    assert f"| pole (rare) | {iou:.3f} | — |" in text and "n/a |" not in text.split("| class | IoU")[1]
    page = render_comparison(comparison, folder=tmp_path)
    charts = re.findall(r"<svg.*?</svg>", page, flags=re.S)[1:]  # the per-class charts
    assert all(">—</text>" in chart and ">n/a</text>" not in chart for chart in charts)
    assert f"<td>{iou:.3f}</td><td>—</td>" in page


def test_the_same_run_given_twice_is_a_note(tmp_path):
    a = _run(tmp_path, "ce", seed=1, loss=CE)
    comparison = compare_runs([a, a / "report.json"])
    assert comparison["notes"][-1] == (
        "ce (2) is ce (1) given again (the same report.json): it counts once, so their differences are 0 by "
        "construction"
    )
    assert comparison["groups"][0]["n"] == 1  # not a repeat with sd 0
