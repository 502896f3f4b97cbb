"""Tests of vl3d_focal.models.pointnet: shapes, logits, T-Net, F = 0, seeds, saving, training."""

from __future__ import annotations

import inspect

import jsonschema
import keras
import numpy as np
import pytest

from vl3d_focal.errors import SpecError
from vl3d_focal.models import (
    POINTNET_ARCHITECTURE_ARGS,
    POINTNET_SCHEMA,
    OrthogonalTransformRegularizer,
    build_pointnet_pwise_classifier,
)
from vl3d_focal.models.tnet import ORTHOGONALITY_WEIGHT, OrthogonalityPenalty
from vl3d_focal.registry import MODELS

SMALL = {
    "num_pwise_feats": 8,
    "pretransf_feats_spec": [{"filters": 8}, {"filters": 8, "name": "my_layer"}],
    "postransf_feats_spec": [{"filters": 16}],
    "tnet_pre_filters_spec": [8],
    "tnet_post_filters_spec": [8],
}
NO_TNET = {**SMALL, "tnet_pre_filters_spec": [], "tnet_post_filters_spec": []}


def _inputs(batch: int, points: int, features: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(batch, points, 3)).astype("float32"),
        rng.normal(size=(batch, points, features)).astype("float32"),
    ]


@pytest.mark.parametrize("args", [SMALL, NO_TNET], ids=["tnet", "no_tnet"])
def test_output_is_per_point_logits(args):
    model = build_pointnet_pwise_classifier(num_points=16, num_features=2, num_classes=4, random_seed=3, **args)
    assert [tuple(t.shape) for t in model.inputs] == [(None, 16, 3), (None, 16, 2)]
    out = model.predict(_inputs(5, 16, 2), verbose=0)
    assert out.shape == (5, 16, 4)
    assert model.get_layer("logits").activation is keras.activations.linear
    # logits, not probabilities: some are negative and rows do not sum to one
    assert (out < 0).any()
    assert not np.allclose(out.sum(axis=-1), 1.0, atol=1e-3)
    assert model.get_layer("my_layer").units == 8


def test_tnet_presence_and_identity_start():
    with_tnet = build_pointnet_pwise_classifier(num_points=16, num_features=1, num_classes=3, random_seed=0, **SMALL)
    without = build_pointnet_pwise_classifier(num_points=16, num_features=1, num_classes=3, random_seed=0, **NO_TNET)
    names = {layer.name for layer in with_tnet.layers}
    assert {"input_tnet_matrix", "feature_tnet_matrix"} <= names
    assert not any("tnet" in layer.name for layer in without.layers)
    # the input transform starts as the identity: transformed coordinates equal the input ones
    probe = keras.Model(with_tnet.inputs, with_tnet.get_layer("input_tnet_apply").output)
    coords, feats = _inputs(2, 16, 1)
    np.testing.assert_allclose(probe.predict([coords, feats], verbose=0), coords, rtol=1e-6, atol=1e-6)
    # the feature transform is k x k with k the last pre-transform width
    assert tuple(with_tnet.get_layer("feature_tnet_reshape").output.shape) == (None, 8, 8)


def test_coordinates_only():
    model = build_pointnet_pwise_classifier(num_points=8, num_features=0, num_classes=2, random_seed=1, **SMALL)
    coords, feats = _inputs(3, 8, 0)
    assert feats.shape == (3, 8, 0)
    out = model.predict([coords, feats], verbose=0)
    assert out.shape == (3, 8, 2) and np.isfinite(out).all()


def test_same_seed_same_model_other_seed_other_model():
    def weights(seed):
        model = build_pointnet_pwise_classifier(num_points=8, num_features=2, num_classes=3, random_seed=seed, **SMALL)
        return model.get_weights(), model.predict(_inputs(2, 8, 2), verbose=0)

    (w1, p1), (w2, p2), (w3, _) = weights(7), weights(7), weights(8)
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    np.testing.assert_array_equal(p1, p2)
    assert not all(np.array_equal(a, b) for a, b in zip(w1, w3))


def test_keras_file_round_trip_without_custom_objects(tmp_path):
    model = build_pointnet_pwise_classifier(num_points=16, num_features=2, num_classes=3, random_seed=2, **SMALL)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = _inputs(4, 16, 2)
    model.fit(x, np.zeros((4, 16), dtype="int64"), epochs=1, verbose=0)  # move weights off their init
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    penalty = loaded.get_layer("feature_tnet_orthogonality")
    assert isinstance(penalty, OrthogonalityPenalty) and (penalty.k, penalty.weight) == (8, ORTHOGONALITY_WEIGHT)


def test_files_with_the_former_activity_regularizer_still_load(tmp_path):
    """Models saved before OrthogonalityPenalty carry the regulariser on the T-Net's Dense layer."""
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(4, activity_regularizer=OrthogonalTransformRegularizer(k=2, weight=0.5))(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "old.keras")
    regularizer = keras.models.load_model(tmp_path / "old.keras", compile=False).layers[-1].activity_regularizer
    assert isinstance(regularizer, OrthogonalTransformRegularizer) and (regularizer.k, regularizer.weight) == (2, 0.5)


def test_tnet_penalty_is_the_batch_mean_added_once_per_call():
    """The penalty is weight * mean over the batch of ||I - A A^T||^2, whatever Keras does with
    activity regularisers: a batch's penalty is the size-weighted mean of its parts' penalties
    (what the global loss under tf.distribute relies on)."""
    model = build_pointnet_pwise_classifier(num_points=16, num_features=2, num_classes=3, random_seed=4, **SMALL)
    matrix = model.get_layer("feature_tnet_matrix")
    matrix.kernel.assign(np.random.default_rng(1).normal(scale=0.5, size=matrix.kernel.shape).astype("float32"))
    probe = keras.Model(model.inputs, matrix.output)
    x = _inputs(5, 16, 2, seed=3)

    def penalty(rows):
        part = [a[rows] for a in x]
        model(part, training=False)
        assert len(model.losses) == 1
        return float(model.losses[0]), probe(part, training=False).numpy().reshape(-1, 8, 8)

    whole, transforms = penalty(slice(0, 5))
    expected = ORTHOGONALITY_WEIGHT * np.mean([np.sum((a @ a.T - np.eye(8)) ** 2) for a in transforms])
    assert expected > 1e-3  # far from orthogonal
    assert whole == pytest.approx(expected, rel=1e-5)
    first, _ = penalty(slice(0, 3))
    second, _ = penalty(slice(3, 5))
    assert whole == pytest.approx((3 * first + 2 * second) / 5, rel=1e-5)


@pytest.mark.parametrize("synchronized", [False, True])
def test_synchronized_batch_norm_flag(synchronized):
    model = build_pointnet_pwise_classifier(
        num_points=8, num_features=1, num_classes=2, random_seed=6, synchronized_batch_norm=synchronized, **SMALL
    )
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 8 and all(layer.synchronized is synchronized for layer in norms)
    plain = build_pointnet_pwise_classifier(num_points=8, num_features=1, num_classes=2, random_seed=6, **SMALL)
    x = _inputs(3, 8, 1)
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))


def test_orthogonality_penalty_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3, 3)).astype("float32")
    expected = 0.5 * np.mean([np.sum((m @ m.T - np.eye(3)) ** 2) for m in a])
    got = OrthogonalTransformRegularizer(k=3, weight=0.5)(keras.ops.convert_to_tensor(a.reshape(4, 9)))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    zero = OrthogonalTransformRegularizer(k=3)(keras.ops.convert_to_tensor(q.reshape(1, 9).astype("float32")))
    assert float(zero) == pytest.approx(0.0, abs=1e-8)


def test_learns_a_separable_toy_problem():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    coords = rng.uniform(-1, 1, size=(32, 16, 3)).astype("float32")
    labels = (coords[..., 0] > 0).astype("int64")  # class = side of the plane x = 0
    feats = np.zeros((32, 16, 0), dtype="float32")
    model = build_pointnet_pwise_classifier(num_points=16, num_features=0, num_classes=2, random_seed=0, **SMALL)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    history = model.fit([coords, feats], labels, batch_size=8, epochs=8, shuffle=False, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    predicted = np.argmax(model.predict([coords, feats], verbose=0), axis=-1)
    assert (predicted == labels).mean() > 0.8  # chance is 0.5


def test_registered_with_schema_and_metadata():
    entry = MODELS.get("PointNetPwiseClassifier")
    assert entry.load() is build_pointnet_pwise_classifier
    assert entry.metadata == {
        "output": "logits",
        "coordinates_only": True,
        "args_check": "vl3d_focal.models.pointnet_schema:pointnet_args_issues",
    }
    schema = entry.schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema is POINTNET_SCHEMA and schema["additionalProperties"] is False
    assert tuple(schema["properties"]) == POINTNET_ARCHITECTURE_ARGS
    signature = inspect.signature(build_pointnet_pwise_classifier).parameters
    defaults = {}
    for name, prop in schema["properties"].items():
        assert prop["description"]
        default = signature[name].default
        expected = [dict(v) if isinstance(v, dict) else v for v in default] if isinstance(default, tuple) else default
        assert prop["default"] == expected, name
        defaults[name] = prop["default"]
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(defaults))
    assert list(validator.iter_errors({"num_pwise_feat": 3}))  # typo refused
    assert list(validator.iter_errors({"pretransf_feats_spec": [{"filters": 0}]}))


def test_registry_build():
    model = MODELS.build(
        {"train": "PointNetPwiseClassifier", **NO_TNET}, num_points=8, num_features=1, num_classes=2, random_seed=0
    )
    assert tuple(model.output.shape) == (None, 8, 2)


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"num_classes": 0}, "model_args.num_classes"),
        ({"pretransf_feats_spec": [{"filters": -1}]}, "model_args.pretransf_feats_spec[0].filters"),
        ({"postransf_feats_spec": []}, "model_args.postransf_feats_spec"),
        ({"tnet_pre_filters_spec": [8, "x"]}, "model_args.tnet_pre_filters_spec[1]"),
        ({"kernel_initializer": "no_such_init"}, "model_args.kernel_initializer"),
    ],
)
def test_bad_arguments_name_their_place(override, path):
    args = {"num_points": 8, "num_features": 1, "num_classes": 2, **SMALL, **override}
    with pytest.raises(SpecError) as info:
        build_pointnet_pwise_classifier(**args)
    assert [issue.path for issue in info.value.issues] == [path]
