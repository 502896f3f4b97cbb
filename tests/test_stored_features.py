"""A derived feature (``planarity``, ``height_above_ground``, ...) that a cloud stores as a
dimension is read from its file, in memory and streamed alike; the model records which ones its
training clouds stored, and a prediction warns where a cloud gets one another way."""

from __future__ import annotations

import json
import logging

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, tiny_pointnet_args

from vl3d_focal.config import load_spec
from vl3d_focal.data.features import extract_features, shape_features
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.inference import tile_features
from vl3d_focal.inference.tile_buckets import StreamedPredictions, TileGrid, bucket_dtype, cloud_bounds, write_buckets
from vl3d_focal.io.las import read_cloud
from vl3d_focal.models.model_file import read_metadata
from vl3d_focal.runner.pipeline import run_pipeline

FNAMES = ["intensity", "planarity", "height_above_ground"]


def _with_stored(source, target, *, seed: int) -> np.ndarray:
    """``source`` with ``planarity`` and ``height_above_ground`` dimensions of random values, written to ``target``."""
    las = laspy.read(source)
    values = np.random.default_rng(seed).uniform(0.0, 1.0, (2, len(las.points))).astype(np.float32)
    for name in ("planarity", "height_above_ground"):
        las.add_extra_dim(laspy.ExtraBytesParams(name=name, type=np.float32))
    las.planarity, las.height_above_ground = values
    las.write(target)
    return values


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stored_features")
    for seed in (3, 4):
        generate_urban_scene(seed=seed, size_m=40.0).write(folder / f"plain_{seed}.las")
        _with_stored(folder / f"plain_{seed}.las", folder / f"stored_{seed}.las", seed=seed)
    return folder


def test_a_stored_dimension_is_read_and_a_missing_one_computed(scenes):
    stored = read_cloud(scenes / "stored_3.las")
    plain = read_cloud(scenes / "plain_3.las")
    values = extract_features(stored, FNAMES)
    np.testing.assert_array_equal(values[:, 1], np.asarray(stored.las.planarity))
    np.testing.assert_array_equal(values[:, 2], np.asarray(stored.las.height_above_ground))
    computed = extract_features(plain, FNAMES)
    np.testing.assert_array_equal(computed[:, 1], shape_features(plain.xyz)[:, 1].astype(np.float32))
    assert not np.allclose(computed[:, 1], values[:, 1])
    np.testing.assert_array_equal(computed[:, 0], values[:, 0])  # the same points, the same intensity


def test_a_streamed_cloud_reads_the_stored_dimensions_too(scenes):
    path = scenes / "stored_3.las"
    low, high, _ = cloud_bounds(path, chunk_points=4000)
    shape = tuple(int(v) for v in np.floor((high[:2] - low[:2]) / 12.0) + 1)
    result = StreamedPredictions(
        path=path, grid=TileGrid(origin=low[:2], side=12.0, shape=shape), chunk_points=4000, num_classes=2
    )
    write_buckets(result, feature_names=FNAMES)
    tiles = [int(t) for t in np.flatnonzero(result.counts.sum(axis=1))]
    tile_features.fill_neighbourhood_features(result, feature_names=FNAMES, tiles=tiles, bounds=(low, high))
    rows = np.concatenate([np.fromfile(result.bucket(t), dtype=bucket_dtype(len(FNAMES))) for t in tiles])
    result.close()
    np.testing.assert_array_equal(rows["feat"][np.argsort(rows["id"])], extract_features(read_cloud(path), FNAMES))


def _spec(clouds: list[str], out: str, steps: list[dict]) -> dict:
    return {"in_pcloud": clouds, "out_pcloud": [f"{out}/*"], "sequential_pipeline": steps}


def _train(folder, clouds: list[str], *, out: str) -> None:
    train = {
        "train": "PointNetPwiseClassifier",
        "fnames": FNAMES,
        "random_seed": 1,
        "model_args": tiny_pointnet_args(len(DEMO_CLASSES)),
    }
    steps = [
        {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]},
        train,
        {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
    ]
    (folder / f"{out}.json").write_text(json.dumps(_spec(clouds, out, steps)))
    run_pipeline(load_spec(folder / f"{out}.json"))


def _warnings_of(folder, clouds: list[str], *, model: str, chunk_points: int | None) -> dict[str, list[str]]:
    steps = [
        {"predict": "ModelLoader", "model_path": f"{model}/model/model.keras", "chunk_points": chunk_points},
        {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
    ]
    out = f"{model}_predict_{chunk_points}"
    (folder / f"{out}.json").write_text(json.dumps(_spec(clouds, out, steps)))
    run_pipeline(load_spec(folder / f"{out}.json"))
    return {
        stem: json.loads((folder / out / stem / "eval" / "evaluation.json").read_text())["feature_warnings"]
        for stem in (c.removesuffix(".las") for c in clouds)
    }


def _source_warnings(warnings: list[str]) -> list[str]:
    return sorted(w.split("feature ")[1].split(" ")[0] for w in warnings if "need not be the same definition" in w)


@pytest.mark.parametrize("chunk_points", [None, 5000])
def test_the_model_records_stored_features_and_a_prediction_warns_where_they_are_computed(
    scenes, monkeypatch, chunk_points
):
    monkeypatch.chdir(scenes)
    _train(scenes, ["stored_3.las"], out="stored")
    assert read_metadata(scenes / "stored/model/model.keras")["normalizer"]["stored"] == [
        "planarity",
        "height_above_ground",
    ]
    warnings = _warnings_of(scenes, ["stored_4.las", "plain_4.las"], model="stored", chunk_points=chunk_points)
    assert _source_warnings(warnings["stored_4"]) == []
    assert _source_warnings(warnings["plain_4"]) == ["'height_above_ground'", "'planarity'"]
    assert "computes it here ((l2 - l3) / l1 of the 16-neighbour covariance)" in " ".join(warnings["plain_4"])


def test_a_model_trained_on_computed_features_warns_on_a_cloud_that_stores_them(scenes, monkeypatch, caplog):
    monkeypatch.chdir(scenes)
    with caplog.at_level(logging.WARNING, logger="vl3d_focal.training.fields"):
        _train(scenes, ["plain_3.las", "stored_3.las"], out="mixed")
    mixed = [r.getMessage() for r in caplog.records if "learns two definitions" in r.getMessage()]
    assert len(mixed) == 2 and all("stored_3.las" in m for m in mixed), mixed
    assert read_metadata(scenes / "mixed/model/model.keras")["normalizer"]["stored"] == []
    warnings = _warnings_of(scenes, ["stored_4.las", "plain_4.las"], model="mixed", chunk_points=None)
    assert _source_warnings(warnings["stored_4"]) == ["'height_above_ground'", "'planarity'"]
    assert "stores a 'planarity' dimension, which is read instead" in " ".join(warnings["stored_4"])
    assert _source_warnings(warnings["plain_4"]) == []


def test_a_model_file_from_before_the_record_computed_every_derived_feature():
    from vl3d_focal.data.feature_shift import source_messages
    from vl3d_focal.data.normalization import FeatureNormalizer

    old = FeatureNormalizer.from_config({"fnames": FNAMES, "center": [0.0] * 3, "scale": [1.0] * 3})
    assert old.stored is None
    messages = source_messages(old, ["intensity", "planarity"], source="a.las")
    assert (
        len(messages) == 1 and "feature 'planarity' was computed by vl3d_focal for the training clouds" in messages[0]
    )
    assert source_messages(old, ["intensity"], source="a.las") == []
