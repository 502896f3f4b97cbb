"""The predict steps' ``separation_factor`` (denser receptive fields than the model's own) and
``rotations`` (each field predicted in several turns about the vertical axis): in memory and
streamed, against the model with those settings and a NumPy reference, without touching the
bundle later steps write."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import laspy
import numpy as np
import pytest
from helpers import random_bundle
from scipy.spatial import cKDTree

from vl3d_focal.config import validate_spec
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.inference.network import field_probabilities, predict_fields, turned_coordinates
from vl3d_focal.inference.prediction import predict_cloud
from vl3d_focal.io.las import PointCloud
from vl3d_focal.runner.inputs import read_inputs
from vl3d_focal.steps.predict import predict_clouds, prediction_bundle
from vl3d_focal.steps.state import PipelineState

FNAMES = ["intensity", "return_number"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = tmp_path_factory.mktemp("separation") / "scene.las"
    generate_urban_scene(seed=5, size_m=32.0).write(path)
    return path


def _record(path, prefix: str) -> CloudRecord:
    return CloudRecord(path=path, cloud=PointCloud.from_las(laspy.read(path), path=path), prefix=prefix)


def _bundle(record: CloudRecord):
    return random_bundle(fnames=FNAMES, radius=2.0, num_points=32, fit_on=record.cloud)


def _bundle_of(model):
    """A bundle of ``model`` (fields of its points, the demo classes, no features' normaliser)."""
    return replace(random_bundle(fnames=FNAMES, num_points=int(model.inputs[0].shape[1])), model=model)


def _fields_per_spacing(record: CloudRecord) -> dict[float, int]:
    """The number of fields the record built for each separation factor."""
    return {
        json.loads(key)["spec"]["neighborhood"]["separation_factor"]: len(fields.centers)
        for key, fields in record.fields_cache.items()
    }


def test_denser_fields_are_the_model_with_that_spacing_and_the_bundle_keeps_its_own(scene, tmp_path):
    record = _record(scene, str(tmp_path / "a_"))
    bundle = _bundle(record)
    state = PipelineState(clouds=[record], model_prefix=str(tmp_path / "a_"), bundle=bundle)
    predict_clouds({"chunk_points": None, "buffer": None, "separation_factor": 0.4}, state, bundle)
    denser = record.result.probabilities.copy()
    assert state.bundle is bundle and bundle.field_spec.separation_factor == 0.8  # what a writer saves

    reference = _record(scene, str(tmp_path / "b_"))
    predict_cloud(reference, bundle.with_field_separation(0.4), chunk_points=None)
    np.testing.assert_array_equal(denser, reference.result.probabilities)

    predict_clouds({"chunk_points": None, "buffer": None, "separation_factor": None}, state, bundle)
    counts = _fields_per_spacing(record)
    assert counts[0.4] >= 3 * counts[0.8], counts  # about (0.8 / 0.4)^2 as many fields
    assert np.abs(record.result.probabilities - denser).max() > 1e-3  # the spacing changed the averages


def test_turned_coordinates_are_rotations_about_the_field_centre():
    points = np.random.default_rng(0).normal(size=(3, 5, 3)).astype(np.float32)
    for turns in (2, 3, 4, 6, 8):
        for turn in range(turns):
            angle = 2.0 * np.pi * turn / turns
            matrix = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
            expected = points.astype(np.float64) @ matrix.T
            np.testing.assert_allclose(turned_coordinates(points, turn=turn, turns=turns), expected, atol=1e-6)
    quarter = turned_coordinates(points, turn=1, turns=4)
    np.testing.assert_array_equal(quarter[..., 0], -points[..., 1])  # exact: a swap and a sign
    np.testing.assert_array_equal(quarter[..., 1], points[..., 0])
    assert turned_coordinates(points, turn=0, turns=4) is points


def test_rotations_average_the_turned_fields_predictions(scene):
    bundle = _bundle(_record(scene, "r_"))
    rng = np.random.default_rng(1)
    coordinates = rng.uniform(-1, 1, size=(7, 32, 3)).astype(np.float32)
    features = rng.normal(size=(7, 32, 2)).astype(np.float32)
    once = field_probabilities(bundle, coordinates, features)
    turned = field_probabilities(replace(bundle, predict_rotations=3), coordinates, features)
    expected = np.mean(
        [
            predict_fields(bundle.model, (turned_coordinates(coordinates, turn=t, turns=3), features), batch_size=4)
            for t in range(3)
        ],
        axis=0,
    )
    np.testing.assert_allclose(turned, expected, atol=1e-6)
    np.testing.assert_allclose(turned.sum(axis=-1), 1.0, atol=1e-5)
    assert np.abs(turned - once).max() > 1e-4  # the untrained PointNet is not rotation invariant


def test_an_autoencoder_turns_its_fields_with_their_hierarchy_built_once(monkeypatch):
    from vl3d_focal.data import hierarchical_fields
    from vl3d_focal.models.autoencoder import (
        TINY_FEATURE_EXTRACTION,
        TINY_PRE_PROCESSING,
        build_conv_autoencoder_pwise_classifier,
    )

    model = build_conv_autoencoder_pwise_classifier(
        num_points=16,
        num_features=2,
        num_classes=5,
        pre_processing=TINY_PRE_PROCESSING,
        feature_extraction=TINY_FEATURE_EXTRACTION,
        random_seed=0,
    )
    bundle = replace(
        _bundle_of(model),
        model_name="ConvolutionalAutoencoderPwiseClassifier",
        pre_processing=TINY_PRE_PROCESSING,
        predict_batch_size=4,
        predict_rotations=4,
    )
    rng = np.random.default_rng(2)
    coordinates = rng.uniform(-1, 1, size=(10, 16, 3)).astype(np.float32)
    features = rng.normal(size=(10, 16, 2)).astype(np.float32)
    built = []
    real_build = hierarchical_fields.build_hierarchy
    monkeypatch.setattr(
        hierarchical_fields, "build_hierarchy", lambda xyz, spec: built.append(len(xyz)) or real_build(xyz, spec)
    )
    turned = field_probabilities(bundle, coordinates, features)
    assert built == [4, 4, 2]  # once per batch of fields, not once per turn

    inputs = hierarchical_fields.hierarchical_model_inputs(
        TINY_PRE_PROCESSING, coordinates=coordinates, features=features
    )
    logits = [
        model.predict([turned_coordinates(coordinates, turn=t, turns=4), *inputs[1:]], verbose=0) for t in range(4)
    ]
    expected = np.mean([np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True) for z in logits], axis=0)
    np.testing.assert_allclose(turned, expected, atol=1e-5)  # the turned coordinates, the same indices
    once = field_probabilities(replace(bundle, predict_rotations=1), coordinates, features)
    assert np.abs(turned - once).max() > 1e-4  # the untrained autoencoder is not rotation invariant


def test_predict_step_rotations_in_memory_and_streamed(scene, tmp_path):
    whole = _record(scene, str(tmp_path / "w_"))
    bundle = _bundle(whole)
    step = {"chunk_points": None, "buffer": None, "rotations": 4, "separation_factor": None}
    state = PipelineState(clouds=[whole], model_prefix=str(tmp_path / "w_"), bundle=bundle)
    predict_clouds(step, state, bundle)
    assert state.bundle.predict_rotations == 1  # what a writer saves: the model as trained
    reference = _record(scene, str(tmp_path / "ref_"))
    predict_cloud(reference, replace(bundle, predict_rotations=4), chunk_points=None)
    np.testing.assert_array_equal(whole.result.probabilities, reference.result.probabilities)

    lazy = read_inputs(inputs=[scene], prefixes=[str(tmp_path / "s_")])
    lazy.bundle = bundle
    predict_clouds({**step, "chunk_points": 3000}, lazy, bundle)
    streamed = np.concatenate([part[3] for part in lazy.clouds[0].result.iter_chunks()])
    assert np.abs(streamed - whole.result.probabilities).max() < 1e-5


def test_streamed_prediction_with_denser_fields_equals_one_shot(scene, tmp_path):
    whole = _record(scene, str(tmp_path / "whole_"))
    bundle = _bundle(whole)
    step = {"chunk_points": None, "buffer": None, "separation_factor": 0.5}
    predict_clouds(step, PipelineState(clouds=[whole], model_prefix=str(tmp_path / "whole_"), bundle=bundle), bundle)

    state = read_inputs(inputs=[scene], prefixes=[str(tmp_path / "lazy_")])
    state.bundle = bundle
    predict_clouds({**step, "chunk_points": 3000}, state, bundle)
    record = state.clouds[0]
    assert record.streamed and not record.loaded
    classes = np.concatenate([part[2] for part in record.result.iter_chunks()])
    probabilities = np.concatenate([part[3] for part in record.result.iter_chunks()])
    np.testing.assert_array_equal(classes, whole.result.classes)
    differ = np.flatnonzero(np.abs(probabilities - whole.result.probabilities).max(axis=1) > 1e-5)
    assert len(differ) <= 3, differ
    _assert_equidistant_ties(whole, probabilities, differ)


def _assert_equidistant_ties(whole: CloudRecord, probabilities: np.ndarray, rows: np.ndarray) -> None:
    """Each of ``rows`` is in no field and took, of its nearest covered points, another one at
    the same distance than the whole cloud's KD-tree picked (a tie two trees break differently)."""
    (fields,) = whole.fields_cache.values()
    covered = fields.covered_mask(whole.num_points)
    sources = np.flatnonzero(covered)
    tree = cKDTree(whole.cloud.xyz[sources])
    for row in rows:
        assert not covered[row]
        distance, _ = tree.query(whole.cloud.xyz[row], k=1)
        tied = sources[tree.query_ball_point(whole.cloud.xyz[row], r=distance * (1.0 + 1e-9))]
        assert len(tied) >= 2
        assert min(np.abs(whole.result.probabilities[t] - probabilities[row]).max() for t in tied) < 1e-5


def test_a_model_without_grid_fields_keeps_its_own_with_a_warning(scene, caplog):
    bundle = _bundle(_record(scene, "p_"))
    pointwise = replace(bundle, field_spec=None)
    furthest = replace(bundle, field_spec=replace(bundle.field_spec, support_strategy="fps"))
    with caplog.at_level(logging.WARNING, logger="vl3d_focal.steps.predict"):
        assert prediction_bundle({"separation_factor": 0.4, "rotations": 4}, pointwise) is pointwise
        assert prediction_bundle({"separation_factor": 0.4}, furthest) is furthest
    messages = [r.getMessage() for r in caplog.records]
    assert any("separation_factor" in m and "its own features" in m for m in messages), messages
    assert any("rotations" in m and "its own features" in m for m in messages), messages
    assert any("no effect" in m and "furthest points" in m for m in messages), messages
    assert prediction_bundle({"rotations": 4}, furthest).predict_rotations == 4  # turns need no grid
    assert prediction_bundle({"separation_factor": None}, bundle) is bundle


@pytest.mark.parametrize(
    "key,value,accepted",
    [
        ("separation_factor", 0.4, True),
        ("separation_factor", None, True),
        ("separation_factor", 0, False),
        ("separation_factor", -1.0, False),
        ("separation_factor", "0.4", False),
        ("rotations", 4, True),
        ("rotations", 0, False),
        ("rotations", 2.5, False),
        ("rotations", 65, False),
    ],
)
@pytest.mark.parametrize("predict", ["ModelLoader", "PreviousModel"])
def test_the_schema_takes_a_positive_spacing_and_a_whole_number_of_turns(key, value, accepted, predict):
    step = {"predict": predict, key: value}
    if predict == "ModelLoader":
        step["model_path"] = "m.keras"
    spec = {"in_pcloud": ["a.laz"], "out_pcloud": ["out/"], "sequential_pipeline": [step]}
    issues = [i for i in validate_spec(spec, check_files=False) if key in i.path]
    assert (issues == []) == accepted, issues
