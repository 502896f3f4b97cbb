"""``vl3d-focal compare``'s rules at their edges: a rerun with the same seed is no seed repeat,
agreeing seeds never make the highlighting finer than without repeats, operational keys and the
training clouds' folders make no other configuration, scores that do not compare are never
highlighted, a loaded model's training clouds are marked, no scores at all, short notes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from test_compare_groups import CE, _run
from test_html_report import make_record

from vl3d_focal.reports.compare import compare_runs
from vl3d_focal.reports.compare_groups import configuration, is_finding
from vl3d_focal.reports.compare_page import render_comparison
from vl3d_focal.reports.compare_text import format_comparison


def _edit(folder: Path, change) -> Path:
    record = json.loads((folder / "report.json").read_text())
    change(record)
    (folder / "report.json").write_text(json.dumps(record))
    return folder


def test_a_rerun_with_the_same_seed_is_not_a_seed_repeat(tmp_path):
    ce = _run(tmp_path, "ce", seed=42, loss=CE)
    copy = tmp_path / "copy"
    shutil.copytree(ce, copy)
    focal = _run(tmp_path, "focal", seed=42, pole=(2, 2, 6))
    comparison = compare_runs([ce, copy, focal])
    group = comparison["groups"][0]
    assert (group["name"], group["n"], group["seeds"]) == ("ce + copy", 1, [42])
    assert group["per_class"]["pole"]["IoU"]["sd"] is None  # no sd 0 from a copy
    assert (
        "ce and copy share seed 42: a rerun, not a seed repeat (only ce counts in ce + copy's mean and sd)"
        in (comparison["notes"])
    )
    assert comparison["notes"][0].startswith("each configuration ran once")
    assert not format_comparison(comparison, style="md").startswith("Configurations")


def test_agreeing_seeds_never_lower_the_highlighting_below_the_single_run_rule(tmp_path):
    ce = [_run(tmp_path, f"ce{s}", seed=s, loss=CE) for s in (1, 2)]  # the same scores: sd 0
    focal = _run(tmp_path, "focal", seed=1, pole=(2, 3, 5))
    comparison = compare_runs([*ce, focal])
    ce_group, focal_group = (group["name"] for group in comparison["groups"])
    assert comparison["groups"][0]["n"] == 2
    assert not is_finding(comparison, 0.005, a=ce_group, b=focal_group, key="IoU", name="pole")
    assert not is_finding(comparison, 0.0099, a=ce_group, b=focal_group, key="IoU", name="pole")
    assert is_finding(comparison, 0.01, a=ce_group, b=focal_group, key="IoU", name="pole")  # as without repeats
    assert "each at least 0.005" in format_comparison(comparison, style="md")


def test_the_pooled_spread_weighs_each_configuration_by_its_repeats():
    def group(name: str, n: int, sd: float | None) -> dict:
        return {"name": name, "n": n, "scores": {"mIoU": {"mean": 0.5, "sd": sd, "n": n}}, "per_class": {}}

    comparison = {"groups": [group("five", 5, 0.03), group("two", 2, 0.01), group("one", 1, None)]}
    # pooled: sqrt((4 * 0.03² + 1 * 0.01²) / 5) = 0.0272 (unweighted: 0.0224); with two's 0.01: 0.0372
    assert not is_finding(comparison, 0.036, a="two", b="one", key="mIoU")
    assert is_finding(comparison, 0.038, a="two", b="one", key="mIoU")


def test_moved_training_clouds_and_operational_keys_make_no_other_configuration(tmp_path):
    a = _run(tmp_path, "a", seed=1, training_pcloud="/data/train.las", fit_verbose=2, predict_batch_size=8)
    b = _run(tmp_path, "b", seed=2, training_pcloud="/moved/train.las", fit_verbose=0, predict_batch_size=64)
    _edit(b, lambda r: r["spec"]["sequential_pipeline"][1].update(distribution={"devices": ["/gpu:1"]}))
    _edit(b, lambda r: r["spec"]["sequential_pipeline"][1]["model_args"].update(architecture_graph_args={"dpi": 9}))
    comparison = compare_runs([a, b])
    assert [(group["name"], group["n"]) for group in comparison["groups"]] == [("a + b", 2)]
    assert not any("more than the loss" in note for note in comparison["notes"])
    step = {"train": "X", "model_args": {"model_handling": {"validation_pcloud": "/d/v.las", "predict_verbose": 1}}}
    assert configuration(step) == {"train": "X", "model_args": {"model_handling": {"validation_pcloud": "v.las"}}}


def test_other_input_features_or_another_starting_model_make_another_configuration(tmp_path):
    """What is applied to the features before the train step changes the model, as does the
    model a training starts from (every run names its model file alike: its path tells)."""
    a, b = (_run(tmp_path, name, seed=seed) for name, seed in (("a", 1), ("b", 2)))
    minmax = {"transformer": "MinmaxNormalizer", "kept": ["intensity"]}
    _edit(b, lambda r: r["trainings"][0].update(feature_names=["intensity"], feature_transformers=[minmax]))
    assert [group["n"] for group in compare_runs([a, b])["groups"]] == [1, 1]
    c, d = (
        _run(tmp_path, name, seed=seed, pretrained_model=f"/runs/{start}/model/model.keras")
        for name, seed, start in (("c", 1, "focal"), ("d", 2, "ce"))
    )
    assert [group["n"] for group in compare_runs([c, d])["groups"]] == [1, 1]


def test_scores_that_do_not_compare_are_never_highlighted(tmp_path):
    ce = _run(tmp_path, "ce", seed=1, loss=CE)
    elsewhere = _edit(
        _run(tmp_path, "elsewhere", seed=1, pole=(2, 2, 6)),
        lambda r: r["evaluations"][0].update(cloud=str(tmp_path / "other.las")),
    )
    comparison = compare_runs([ce, elsewhere])
    assert not is_finding(comparison, 0.04, a="ce", b="elsewhere", key="IoU", name="pole")
    assert not is_finding(comparison, 0.04, a="ce", b="elsewhere", key="OA")
    assert "**" not in format_comparison(comparison, style="md")
    remap = _run(tmp_path, "remap", seed=1, pole=(2, 2, 6), codes={"ground": [2], "vegetation": [3], "pole": [64, 65]})
    comparison = compare_runs([ce, remap])
    assert not is_finding(comparison, 0.04, a="ce", b="remap", key="IoU", name="pole")
    assert is_finding(comparison, 0.04, a="ce", b="remap", key="IoU", name="ground")
    text = format_comparison(comparison, style="md")
    assert "| pole (rare) | 0.200 | 0.240 (+0.040) |" in text
    assert '<span class="up">+0.040</span>' not in render_comparison(comparison, folder=tmp_path)


def test_a_run_that_loaded_a_model_marks_the_cloud_the_model_was_trained_on(tmp_path):
    survey = tmp_path / "survey"
    record = make_record(survey)
    training = record.pop("trainings")[0]
    record["trainings"] = []
    record["loaded_models"] = [
        {**{key: training[key] for key in ("model", "class_names", "loss", "class_weight", "class_counts")}}
        | {"path": "m.keras", "class_weight_source": "none", "training_clouds": [str(survey / "tile.las")]}
    ]
    survey.mkdir()
    (survey / "report.json").write_text(json.dumps(record))
    comparison = compare_runs([survey])
    assert comparison["runs"][0]["scored_on_training"] == ["tile.las"]
    assert "survey was scored on a cloud it trained on (tile.las)" in comparison["notes"][0]


def test_without_any_scores_the_lead_says_so(tmp_path):
    killed = _edit(_run(tmp_path, "killed", seed=1), lambda r: r.update(status="interrupted", evaluations=[]))
    comparison = compare_runs([killed])
    assert comparison["reference"] is None
    assert format_comparison(comparison, style="md").startswith("No run has scores.\n")
    page = render_comparison(comparison, folder=tmp_path)
    assert "No run has scores." in page and "None" not in page


def test_notes_list_the_runs_that_differ_grouped_by_value(tmp_path):
    same = [_run(tmp_path, name, seed=s) for name, s in (("a", 1), ("b", 2), ("c", 3))]
    other = _edit(_run(tmp_path, "d", seed=4), lambda r: r["evaluations"][0].update(cloud="/x/other.las"))
    notes = compare_runs([*same, other])["notes"]
    clouds = next(note for note in notes if "not evaluated on the same clouds" in note)
    assert clouds.endswith("(a and 2 more: tile.las (210 points); d: other.las (210 points))")


def test_a_run_given_again_is_numbered_by_its_occurrence(tmp_path):
    same = [_run(tmp_path, name, seed=s) for name, s in (("a", 1), ("b", 2))]
    names = [run["name"] for run in compare_runs([same[0], same[1], same[0]])["runs"]]
    assert names == ["a (1)", "b", "a (2)"]
