"""The quality benchmark's variants differ from the IGN example only in the loss entry."""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import pytest

# benchmarks/ is a top-level folder of the repository, not part of the installed package. The
# root goes at the END of sys.path so that vl3d_focal still comes from the installed package.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from benchmarks import quality, quality_report  # noqa: E402
from vl3d_focal.config import load_spec, read_spec_file, validate_spec  # noqa: E402
from vl3d_focal.config.prefixes import expand_output  # noqa: E402


@pytest.fixture(scope="module")
def base() -> tuple[dict, dict]:
    return read_spec_file(quality.BASE_TRAIN), read_spec_file(quality.BASE_PREDICT)


def _loss(doc: dict) -> dict:
    return quality._train_step(doc, file=Path("x"))["model_args"]["compilation_args"]["loss"]


def test_loss_variants_share_the_focal_runs_class_weights(base: tuple[dict, dict]) -> None:
    base_loss = _loss(base[0])
    variants = quality.loss_variants(base_loss=base_loss)
    assert list(variants) == ["ce", "weighted_ce", "focal_g2", "focal_g1"]
    assert variants["ce"] == {"function": "categorical_crossentropy"}
    assert variants["weighted_ce"]["function"] == "class_weighted_categorical_crossentropy"
    for name in ("weighted_ce", "focal_g2", "focal_g1"):
        assert variants[name]["class_weight"] == base_loss["class_weight"]
    assert variants["focal_g2"] == {**base_loss, "gamma": 2.0}
    assert variants["focal_g1"] == {**base_loss, "gamma": 1.0}
    sparse = quality.loss_variants(base_loss=base_loss, ce_function="sparse_categorical_crossentropy", other_gamma=0.5)
    assert sparse["ce"] == {"function": "sparse_categorical_crossentropy"} and sparse["focal_g0.5"]["gamma"] == 0.5
    with pytest.raises(ValueError, match="class_weight"):
        quality.loss_variants(base_loss={"function": quality.FOCAL, "gamma": 2.0})
    with pytest.raises(ValueError, match="ce_function"):
        quality.loss_variants(base_loss=base_loss, ce_function="hinge")


def test_variant_specs_differ_only_in_loss_epochs_and_paths(base: tuple[dict, dict], tmp_path: Path) -> None:
    train_doc, predict_doc = base
    variant_dir = tmp_path / "deep" / "ce"
    variant_dir.mkdir(parents=True)
    loss = {"function": "categorical_crossentropy"}
    train, predict = quality.variant_specs(
        train_doc=train_doc,
        predict_doc=predict_doc,
        train_dir=quality.BASE_TRAIN.parent,
        predict_dir=quality.BASE_PREDICT.parent,
        variant_dir=variant_dir,
        loss=loss,
        epochs=3,
    )
    assert train_doc == read_spec_file(quality.BASE_TRAIN)  # the base is not modified

    def resolved(paths: list[str], folder: Path) -> list[str]:
        return [os.path.normpath(folder / p) for p in paths]

    evaluated = resolved(predict_doc["in_pcloud"], quality.BASE_PREDICT.parent)
    assert resolved(train["in_pcloud"], variant_dir) == [  # the evaluated tile is held out
        p for p in resolved(train_doc["in_pcloud"], quality.BASE_TRAIN.parent) if p not in evaluated
    ]
    assert len(train["in_pcloud"]) >= 3 and not set(resolved(train["in_pcloud"], variant_dir)) & set(evaluated)
    assert resolved(predict["in_pcloud"], variant_dir) == resolved(
        predict_doc["in_pcloud"], quality.BASE_PREDICT.parent
    )
    step = quality._train_step(train, file=Path("x"))
    assert step["model_args"]["compilation_args"]["loss"] == loss
    assert step["model_args"]["model_handling"]["training_epochs"] == 3

    # Everything else is the base's.
    expected, got = copy.deepcopy(train_doc), copy.deepcopy(train)
    for doc in (expected, got):
        for key in ("in_pcloud", "out_pcloud", "_comment"):
            doc.pop(key)
        handling = quality._train_step(doc, file=Path("x"))["model_args"]
        handling["compilation_args"].pop("loss")
        handling["model_handling"].pop("training_epochs")
    assert got == expected

    # The predict spec loads the model the train spec writes; both are valid specs.
    (variant_dir / "train.json").write_text(json.dumps(train))
    (variant_dir / "predict_eval.json").write_text(json.dumps(predict))
    norm_train = load_spec(variant_dir / "train.json", check_files=False)
    norm_predict = load_spec(variant_dir / "predict_eval.json", check_files=False)
    writer = [s for s in norm_train["sequential_pipeline"] if s.get("writer") == "PredictiveModelWriter"][0]
    model_out = expand_output(writer["out_model"], prefix=norm_train["out_pcloud"][0])
    loader = [s for s in norm_predict["sequential_pipeline"] if s.get("predict") == "ModelLoader"][0]
    assert Path(loader["model_path"]) == Path(model_out) == variant_dir / "train" / "model" / "model.keras"
    assert validate_spec(predict, base_dir=variant_dir, check_files=False) == []
    assert quality.evaluation_paths(predict_spec=norm_predict) == {
        Path(predict_doc["in_pcloud"][0]).stem: variant_dir / "predict" / "eval" / "evaluation.json"
    }


def test_rarest_classes_and_target_marks() -> None:
    assert quality_report.rarest_classes(counts={"ground": 95379, "low": 7669, "high": 35181, "other": 7811}) == [
        "low",
        "other",
    ]

    def run(miou: float, recall: dict[str, float], train_s: float | None) -> dict:
        return {"evaluation": {"mIoU": miou, "per_class": {c: {"R": r} for c, r in recall.items()}}, "train_s": train_s}

    runs = {
        "pointnet_ce": run(0.70, {"a": 0.5, "b": 0.4}, 100.0),
        "pointnet_weighted_ce": run(0.80, {"a": 0.9, "b": 0.9}, 100.0),
        "pointnet_focal_g2": run(0.72, {"a": 0.6, "b": 0.4}, 899.0),
        "pointnet_focal_g1": run(0.90, {"a": 0.4, "b": 0.7}, 901.0),
        "autoencoder_focal_g2": run(0.71, {"a": 0.9, "b": 0.9}, 100.0),
        "forest": run(0.75, {"a": 0.9, "b": 0.9}, 100.0),
    }
    marks = quality_report.mark_targets(runs=runs, rare=["a", "b"], cores=2)
    assert sorted(k for k, v in marks.items() if isinstance(v, dict)) == [
        "autoencoder_focal_g2",
        "pointnet_focal_g1",
        "pointnet_focal_g2",
    ]  # the focal runs, each against its model's ce
    assert marks["pointnet_focal_g2"]["miou_in_budget"] is True
    assert marks["pointnet_focal_g1"]["miou_in_budget"] is False  # over 15 minutes
    assert marks["autoencoder_focal_g2"]["miou_in_budget"] is False  # under 0.72
    assert marks["pointnet_focal_g2"]["rare_recall_above_ce"] == {"a": True, "b": False}  # equal is not above
    assert marks["pointnet_focal_g1"]["rare_recall_above_ce"] == {"a": False, "b": True}
    assert marks["autoencoder_focal_g2"]["rare_recall_above_ce"] == {"a": None, "b": None}  # no autoencoder_ce run
    table = quality_report.format_table(runs=runs, class_names=["a", "b"], rare=["b"])
    assert "| recall b* | 0.400 | 0.900 | 0.400 | 0.700 | 0.900 | 0.900 |" in table.splitlines()


def test_main_skips_without_the_ign_tiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(quality, "IGN_DIR", tmp_path / "absent")
    out = tmp_path / "q.json"
    assert quality.main(argv=["--quick", "--out", str(out), "--workdir", str(tmp_path / "w")]) == 0
    assert "skipped" in capsys.readouterr().out and not out.exists() and not (tmp_path / "w").exists()


def test_a_seeded_variant_changes_only_the_train_step_seed(base, tmp_path):
    train_doc, predict_doc = base
    kwargs = dict(
        train_doc=train_doc,
        predict_doc=predict_doc,
        train_dir=quality.BASE_TRAIN.parent,
        predict_dir=quality.BASE_PREDICT.parent,
        variant_dir=tmp_path,
        loss={"function": quality.FOCAL},
    )
    plain, _ = quality.variant_specs(epochs=None, **kwargs)
    seeded, _ = quality.variant_specs(epochs=None, seed=123, **kwargs)
    assert quality._train_step(seeded, file=Path("x"))["random_seed"] == 123
    assert quality._train_step(plain, file=Path("x"))["random_seed"] == 7  # the base's
    quality._train_step(seeded, file=Path("x"))["random_seed"] = 7
    assert seeded == plain


def test_seed_spread_numbers():
    import statistics

    from benchmarks.seed_spread import format_summary, parse_seeds, run_name, summarise

    def evaluation(miou: float, recall: float) -> dict:
        return {"OA": 0.9, "mIoU": miou, "macro_F1": miou + 0.1, "per_class": {"rare": {"R": recall}}}

    runs = {
        run_name("ce", s): {"evaluation": evaluation(m, r), "fit_s": f}
        for s, m, r, f in ((1, 0.60, 0.2, 50.0), (2, 0.64, 0.3, 70.0), (3, 0.68, 0.1, 60.0))
    }
    runs[run_name("focal_g2", 1)] = {"evaluation": None}  # a failed run is left out
    summary = summarise(runs=runs, variants=["ce", "focal_g2"], seeds=[1, 2, 3], rare=["rare"])
    assert summary["ce"]["mIoU"] == [0.60, 0.64, 0.68] and summary["ce"]["recall rare*"] == [0.2, 0.3, 0.1]
    assert summary["focal_g2"]["mIoU"] == []
    table = format_summary(summary, seeds=[1, 2, 3])
    sd = statistics.stdev([0.60, 0.64, 0.68])
    assert f"| mIoU | 0.640 ± {sd:.3f} (0.600-0.680) | - |" in table
    assert "| fit s | 60.0 ± 10.0 (50.0-70.0) | - |" in table
    assert parse_seeds("7,8") == [7, 8]
    with pytest.raises(ValueError, match="integer seeds"):
        parse_seeds("7,x")


def test_seed_spread_merges_result_files_with_per_class_scores(tmp_path, capsys):
    from benchmarks.seed_spread import main

    def result(seed: int, iou: float) -> dict:
        evaluation = {
            "OA": 0.9,
            "mIoU": iou,
            "macro_F1": 0.8,
            "class_names": ["a", "b"],
            "per_class": {"a": {"R": 0.5, "F1": 0.6, "IoU": iou}, "b": {"R": 0.7, "F1": None, "IoU": None}},
        }
        runs = {f"ce_seed{seed}": {"fit_s": 10.0 * seed, "evaluations": {"tile": evaluation}}}
        runs[f"forest_seed{seed}"] = {"evaluations": {"tile": None}}  # a run without evaluation is left out
        return {"rarest_classes": ["a"], "runs": runs}

    for seed, iou in ((7, 0.4), (8, 0.6)):
        (tmp_path / f"q{seed}.json").write_text(json.dumps(result(seed, iou)))
    assert main([str(tmp_path / "q7.json"), str(tmp_path / "q8.json")]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0] == "| metric (2 seeds: 7, 8) | ce | forest |"
    assert "| IoU a | 0.500 ± 0.141 (0.400-0.600) | - |" in table
    assert "| recall a* | 0.500 ± 0.000 (0.500-0.500) | - |" in table
    assert "| F1 b | - | - |" in table  # undefined scores are not averaged
    assert "| fit s | 75.0 ± 7.1 (70.0-80.0) | - |" in table


def test_model_variants_share_the_features_and_training(base):
    train_doc, predict_doc = base
    kwargs = dict(
        train_doc=train_doc,
        predict_doc=predict_doc,
        train_dir=quality.BASE_TRAIN.parent,
        predict_dir=quality.BASE_PREDICT.parent,
        variant_dir=Path("v"),
        epochs=None,
    )
    base_step = quality._train_step(train_doc, file=Path("x"))
    loss = {"function": quality.FOCAL, "gamma": 1.0, "class_weight": "balanced"}
    for model in quality.MODEL_KEYS:
        train, _ = quality.variant_specs(model=model, loss=loss if quality.takes_loss(model) else None, **kwargs)
        step = quality._train_step(train, file=Path("x"))
        assert step["train"] == quality.MODEL_KEYS[model]
        assert (step["fnames"], step.get("cloud_normalization"), step["random_seed"]) == (
            base_step["fnames"],
            base_step.get("cloud_normalization"),
            base_step["random_seed"],
        )
        args = step["model_args"]
        if quality.takes_loss(model):
            assert args["compilation_args"]["loss"] == loss
            assert args["model_handling"] == base_step["model_args"]["model_handling"]
        else:
            assert "compilation_args" not in args and "pre_processing" not in args
            assert args["class_weight"] == base_step["model_args"]["compilation_args"]["loss"]["class_weight"]
        assert train["sequential_pipeline"][:-2] == train_doc["sequential_pipeline"][:-2]  # the miners are the base's
        assert validate_spec(train, base_dir=quality.BASE_TRAIN.parent, check_files=False) == []
    assert quality_report.variant_name("forest", None) == "forest"


def _tiny_las(path: Path) -> Path:
    import laspy
    import numpy as np

    las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
    las.x, las.y, las.z = np.arange(3.0), np.zeros(3), np.zeros(3)
    path.parent.mkdir(parents=True, exist_ok=True)
    las.write(path)
    return path


def test_evaluate_predicts_the_given_clouds_and_trains_on_all_the_base_tiles(base, tmp_path, monkeypatch):
    from benchmarks.quality_tiles import parse_clouds, with_clouds

    train_doc, predict_doc = base
    a, b = _tiny_las(tmp_path / "extra" / "a.laz"), _tiny_las(tmp_path / "other" / "b.las")
    monkeypatch.chdir(tmp_path)
    clouds = parse_clouds(f"extra/a.laz, {b}")  # relative to the current folder, or absolute
    assert clouds == [a, b]
    variant_dir = tmp_path / "w" / "ce"
    variant_dir.mkdir(parents=True)
    train, predict = quality.variant_specs(
        train_doc=train_doc,
        predict_doc=with_clouds(predict_doc, clouds=clouds, predict_dir=quality.BASE_PREDICT.parent),
        train_dir=quality.BASE_TRAIN.parent,
        predict_dir=quality.BASE_PREDICT.parent,
        variant_dir=variant_dir,
        loss={"function": quality.FOCAL},
        epochs=None,
    )
    assert predict["in_pcloud"] == ["../../extra/a.laz", "../../other/b.las"]  # relative to the variant's folder
    assert [os.path.normpath(variant_dir / p) for p in predict["in_pcloud"]] == [str(a), str(b)]
    base_tiles = [os.path.normpath(quality.BASE_TRAIN.parent / p) for p in train_doc["in_pcloud"]]
    assert [os.path.normpath(variant_dir / p) for p in train["in_pcloud"]] == base_tiles  # every tile trains
    assert len(base_tiles) == 4
    (variant_dir / "predict_eval.json").write_text(json.dumps(predict))
    normalised = load_spec(variant_dir / "predict_eval.json", check_files=False)
    assert quality.evaluation_paths(predict_spec=normalised) == {
        "a": variant_dir / "predict" / "a" / "eval" / "evaluation.json",
        "b": variant_dir / "predict" / "b" / "eval" / "evaluation.json",
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--evaluate", "absent.laz"], "argument --evaluate: no such file: "),
        (["--evaluate", "notes.txt"], "argument --evaluate: not a .las/.laz file: "),
        (["--evaluate", "extra/a.laz,other/a.las"], "argument --evaluate: two files share a name"),
        (["--evaluate", " , "], "argument --evaluate: expected comma-separated .las/.laz files"),
        (["--evaluate", "extra/a.laz", "--held-out", "77050"], "argument --held-out: not allowed with argument"),
    ],
)
def test_evaluate_errors_are_one_line(argv, message, tmp_path, monkeypatch, capsys):
    _tiny_las(tmp_path / "extra" / "a.laz")
    _tiny_las(tmp_path / "other" / "a.las")
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        quality.main(argv=[*argv, "--workdir", str(tmp_path / "w")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in err.splitlines()[-1]
    assert not (tmp_path / "w").exists()


def test_pooled_evaluation_sums_the_tiles_confusion_matrices():
    from benchmarks.quality_tiles import pooled_evaluation, tiles_text
    from vl3d_focal.reports.metrics import classification_metrics

    names = ["x", "y"]
    a = classification_metrics([[3, 1], [0, 4]], class_names=names)  # IoU x 3/4, y 4/5: mIoU 0.775
    b = classification_metrics([[1, 1], [2, 6]], class_names=names)  # IoU x 1/4, y 6/9: mIoU 0.4583
    perfect = classification_metrics([[9, 0], [0, 9]], class_names=names)
    # Summed: [[4, 2], [2, 10]]: IoU x = 4 / (6 + 6 - 4) = 1/2, IoU y = 10 / (12 + 12 - 10) = 5/7,
    # mIoU = (1/2 + 5/7) / 2 = 17/28 = 0.6071 (not the tiles' mean 0.6167); OA = 14/18 = 7/9;
    # recall x = 4/6, precision x = 4/6, F1 x = 8/12.
    evaluations = {"a": a, "b": b, "a_intensity_x17": perfect, "a_format0": perfect, "b_format0": b}  # copies apart
    pooled = pooled_evaluation(evaluations)
    assert pooled is not None
    assert pooled["confusion_matrix"] == [[4, 2], [2, 10]]
    assert pooled["mIoU"] == pytest.approx(17 / 28) and pooled["OA"] == pytest.approx(7 / 9)
    assert pooled["per_class"]["x"]["IoU"] == pytest.approx(0.5) and pooled["per_class"]["y"]["IoU"] == pytest.approx(
        5 / 7
    )
    assert [pooled["per_class"]["x"][k] for k in ("R", "P", "F1")] == pytest.approx([2 / 3, 2 / 3, 2 / 3])
    assert pooled_evaluation({"a": a}) == a and pooled_evaluation({"a": a, "b": None}) is None
    assert tiles_text({"a": a, "b": b}, pooled) == "mIoU a 0.775, b 0.458; pooled 0.607"
    copies = {suffix: pooled_evaluation(evaluations, copies=suffix) for suffix in quality_report.SENSOR_ROWS}
    # The format-0 copies of both tiles pooled: [[9, 0], [0, 9]] + [[1, 1], [2, 6]] = [[10, 1], [2, 15]],
    # IoU x 10/13, y 15/18: mIoU 0.8013; the intensity copy of one tile alone: 1.
    assert copies["_format0"]["mIoU"] == pytest.approx((10 / 13 + 15 / 18) / 2)
    runs = {"pointnet_ce": {"evaluation": pooled, "evaluations": evaluations, "copies": copies}}
    table = quality_report.format_table(runs=runs, class_names=names, rare=[]).splitlines()
    assert "| mIoU | 0.607 |" in table and "| mIoU, LAS 1.2 format 0 | 0.801 |" in table
    assert "| mIoU, intensity x17 | 1.000 |" in table
    assert quality_report.mark_targets(runs={"pointnet_focal_g2": runs["pointnet_ce"]}, rare=["x"], cores=2)[
        "pointnet_focal_g2"
    ]["miou"] == pytest.approx(17 / 28)
