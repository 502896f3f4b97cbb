"""Another sensor: per-cloud normalisation stored with the model, and the shift warning (issue 13, item 3)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from vl3d_focal.config import load_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.models.model_file import read_metadata
from vl3d_focal.runner.pipeline import run_pipeline

sys.path.append(str(Path(__file__).resolve().parents[1]))  # benchmarks/, after the installed package
from helpers import DEMO_CLASSES  # noqa: E402

from benchmarks.sensor_copies import write_format0, write_scaled  # noqa: E402

FNAMES = ["intensity", "return_number", "number_of_returns", "height_above_ground", "planarity_k16"]


def _train_spec(
    *, clouds: list[str], classes: list[dict], ignore: list[int], radius: float, points: int, scaling: dict
) -> dict:
    return {
        "in_pcloud": clouds,
        "out_pcloud": ["out/train/*"],
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": classes, "ignore_codes": ignore},
            {"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity"]},
            {
                "train": "PointNetPwiseClassifier",
                "fnames": FNAMES,
                "random_seed": 1,
                "cloud_normalization": scaling,
                "model_args": {
                    "num_classes": len(classes),
                    "num_pwise_feats": 8,
                    "pre_processing": {"neighborhood": {"radius": radius}, "num_points": points},
                    "pretransf_feats_spec": [{"filters": 8}],
                    "postransf_feats_spec": [{"filters": 16}],
                    "tnet_pre_filters_spec": [],
                    "tnet_post_filters_spec": [],
                    "model_handling": {"training_epochs": 1, "batch_size": 16, "checkpoint": False},
                    "compilation_args": {"loss": {"function": "sparse_categorical_crossentropy"}},
                },
            },
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
        ],
    }


def _predict_spec(clouds: list[str], *, chunk_points: int | None) -> dict:
    return {
        "in_pcloud": clouds,
        "out_pcloud": ["out/predict/*"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": "out/train/model/model.keras", "chunk_points": chunk_points},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
        ],
    }


def _run(folder: Path, name: str, spec: dict) -> None:
    path = folder / name
    path.write_text(json.dumps(spec))
    run_pipeline(load_spec(path))


def _evaluation(folder: Path, stem: str) -> dict:
    return json.loads((folder / "out" / "predict" / stem / "eval" / "evaluation.json").read_text())


def test_per_cloud_intensity_makes_another_gain_invisible(tmp_path, caplog):
    generate_urban_scene(seed=4, size_m=36.0).write(tmp_path / "scene.las")
    generate_urban_scene(seed=6, size_m=36.0).write(tmp_path / "other.las")
    write_scaled(tmp_path / "other.las", tmp_path / "other_x17.las")
    write_format0(tmp_path / "other.las", tmp_path / "other_format0.las")
    classes = [c for c in DEMO_CLASSES if max(c["codes"]) < 32]  # format 0 cannot store codes 64, 68
    _run(
        tmp_path,
        "train.json",
        _train_spec(
            clouds=["scene.las"],
            classes=classes,
            ignore=[0, 1, 7, 64, 68],
            radius=4.0,
            points=64,
            scaling={"intensity": {"method": "percentile"}},
        ),
    )
    normalizer = read_metadata(tmp_path / "out/train/model/model.keras")["normalizer"]
    assert normalizer["cloud_scaling"] == {"intensity": {"method": "percentile", "percentile": 99.0}}
    assert len(normalizer["reference"]["values"]) == 5
    with caplog.at_level(logging.WARNING):
        _run(
            tmp_path,
            "predict.json",
            _predict_spec(["other.las", "other_x17.las", "other_format0.las"], chunk_points=None),
        )
    original, scaled, format0 = (_evaluation(tmp_path, s) for s in ("other", "other_x17", "other_format0"))
    assert scaled["confusion_matrix"] == original["confusion_matrix"]  # the 17x gain changes nothing
    assert original["feature_warnings"] == [] and scaled["feature_warnings"] == []
    shifted = [w.split("feature ")[1].split(" ")[0] for w in format0["feature_warnings"]]
    assert shifted == ["'intensity'", "'return_number'", "'number_of_returns'"], format0["feature_warnings"]
    assert "already normalises it per cloud" in format0["feature_warnings"][0]
    logged = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "lies far outside" in r.getMessage()
    ]
    assert logged == format0["feature_warnings"]


def test_warning_fires_on_a_scaled_ign_tile_and_not_on_the_original(ign_dir, tmp_path, caplog):
    tiles = sorted(ign_dir.glob("*.laz"))
    held_out = tiles[3]
    write_scaled(held_out, tmp_path / "scaled.laz")
    write_format0(held_out, tmp_path / "format0.laz")
    classes = [
        {"name": "ground", "codes": [2]},
        {"name": "vegetation", "codes": [3, 4, 5]},
        {"name": "building", "codes": [6]},
        {"name": "other", "codes": [1, 17, 64, 67]},
    ]
    _run(
        tmp_path,
        "train.json",
        _train_spec(
            clouds=[str(t) for t in tiles[:2]],
            classes=classes,
            ignore=[0, 7, 65, 66],
            radius=5.0,
            points=128,
            scaling={},
        ),
    )
    with caplog.at_level(logging.WARNING):
        _run(tmp_path, "predict.json", _predict_spec([str(held_out), "scaled.laz", "format0.laz"], chunk_points=20_000))
    assert _evaluation(tmp_path, held_out.stem)["feature_warnings"] == []
    [scaled] = _evaluation(tmp_path, "scaled")["feature_warnings"]
    factor = float(scaled.split("range is ")[1].split("x the training range")[0])
    assert "feature 'intensity'" in scaled and 14.0 < factor < 20.0, scaled
    assert '"cloud_normalization": {"intensity"' in scaled  # what to do
    format0 = _evaluation(tmp_path, "format0")["feature_warnings"]
    assert len(format0) == 3 and all("it is constant (0)" in w for w in format0), format0
    warned = {r.getMessage().split(":")[0] for r in caplog.records if "lies far outside" in r.getMessage()}
    assert warned == {str(tmp_path / "scaled.laz"), str(tmp_path / "format0.laz")}  # streamed clouds too
