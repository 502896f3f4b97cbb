"""Tests of vl3d_focal.models.kpconv and .neighborhoods: the formulas against NumPy float64
references written with loops, kernel points, XLA, serialization."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from vl3d_focal.models.kpconv import KPConv, kernel_points
from vl3d_focal.models.neighborhoods import AppendOnes, GatherPoints, GroupNeighbors, NeighborPooling


def _case(seed: int = 0, *, batch: int = 2, queries: int = 5, support: int = 7, k: int = 4, channels: int = 3):
    rng = np.random.default_rng(seed)
    support_xyz = rng.uniform(-1, 1, (batch, support, 3)).astype(np.float32)
    query_xyz = rng.uniform(-1, 1, (batch, queries, 3)).astype(np.float32)
    features = rng.normal(size=(batch, support, channels)).astype(np.float32)
    neighbors = rng.integers(0, support, (batch, queries, k)).astype(np.int32)
    return query_xyz, support_xyz, features, neighbors


def _kpconv_reference(query, support, features, neighbors, points, weights, sigma, bias=None):
    """out[b, q] = sum_j sum_k max(0, 1 - ||y_j - x_q - p_k|| / sigma) f_j W_k, in float64 loops."""
    query, support, features = (np.asarray(a, np.float64) for a in (query, support, features))
    out = np.zeros((query.shape[0], query.shape[1], weights.shape[2]))
    for b in range(query.shape[0]):
        for q in range(query.shape[1]):
            for j in neighbors[b, q]:
                y = support[b, j] - query[b, q]
                for k, point in enumerate(points):
                    h = max(0.0, 1.0 - np.linalg.norm(y - point) / sigma)
                    out[b, q] += h * features[b, j] @ weights[k]
    return out if bias is None else out + bias


def _built_kpconv(inputs, *, seed: int = 1, use_bias: bool = False, **kwargs) -> KPConv:
    layer = KPConv(filters=4, use_bias=use_bias, **kwargs)
    layer(inputs)
    rng = np.random.default_rng(seed)
    layer.kernel.assign(rng.normal(size=tuple(layer.kernel.shape)).astype(np.float32))
    if use_bias:
        layer.bias.assign(rng.normal(size=(4,)).astype(np.float32))
    return layer


@pytest.mark.parametrize("strided", [False, True], ids=["kpconv", "strided"])
@pytest.mark.parametrize("use_bias", [False, True], ids=["no_bias", "bias"])
def test_kpconv_equals_numpy_reference(strided, use_bias):
    query, support, features, neighbors = _case(3)
    if not strided:  # queries are the support points themselves
        query = support
        neighbors = np.random.default_rng(4).integers(0, support.shape[1], (2, support.shape[1], 4)).astype(np.int32)
    inputs = [query, support, features, neighbors]
    layer = _built_kpconv(inputs, use_bias=use_bias, num_kernel_points=5, kernel_radius=0.6, sigma=0.9)
    expected = _kpconv_reference(
        query,
        support,
        features,
        neighbors,
        kernel_points(num_kernel_points=5, kernel_radius=0.6),
        layer.kernel.numpy(),
        0.9,
        layer.bias.numpy() if use_bias else None,
    )
    got = layer(inputs).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(expected).max() > 0.1  # the case exercises non-zero influences


def test_kpconv_influence_vanishes_beyond_sigma():
    xyz = np.array([[[0.0, 0, 0], [5.0, 0, 0]]], np.float32)
    layer = KPConv(filters=1, num_kernel_points=1, kernel_radius=1.0, sigma=1.0, kernel_initializer="ones")
    out = layer([xyz, xyz, np.array([[[1.0], [10.0]]], np.float32), np.array([[[0, 1], [1, 0]]], np.int32)])
    assert out.numpy().ravel().tolist() == [1.0, 10.0]  # each point sees itself only


def test_kernel_points_are_deterministic_centred_and_spread():
    points = kernel_points(num_kernel_points=15, kernel_radius=1.5)
    assert points.shape == (15, 3)
    np.testing.assert_array_equal(points, kernel_points(num_kernel_points=15, kernel_radius=1.5))
    np.testing.assert_array_equal(points[0], 0.0)
    np.testing.assert_allclose(np.linalg.norm(points[1:], axis=1), 1.5)
    gaps = np.linalg.norm(points[1:, None] - points[None, 1:], axis=-1) + np.eye(14) * 10
    assert gaps.min() > 0.6 * 1.5  # 14 points spread over the sphere, none clustered
    assert np.abs(points[1:].mean(axis=0)).max() < 0.1  # balanced around the centre
    assert kernel_points(num_kernel_points=1, kernel_radius=2.0).tolist() == [[0.0, 0.0, 0.0]]


def _pooling_reference(query, support, features, neighbors, mode):
    out = np.zeros((query.shape[0], query.shape[1], features.shape[2]))
    for b in range(query.shape[0]):
        for q in range(query.shape[1]):
            nb = neighbors[b, q]
            if mode == "mean":
                w = np.ones(len(nb))
            else:
                d2 = np.array([np.sum((support[b, j].astype(np.float64) - query[b, q]) ** 2) for j in nb])
                w = np.exp(-d2 / (2.0 * d2.max())) if d2.max() > 0 else np.ones(len(nb))
            out[b, q] = (w / w.sum()) @ features[b, nb].astype(np.float64)
    return out


@pytest.mark.parametrize("mode", ["mean", "gaussian"])
def test_neighbor_pooling_equals_numpy_reference(mode):
    query, support, features, neighbors = _case(5)
    got = NeighborPooling(filter=mode)([query, support, features, neighbors]).numpy()
    np.testing.assert_allclose(got, _pooling_reference(query, support, features, neighbors, mode), rtol=1e-5, atol=1e-6)


def test_gaussian_pooling_of_coincident_neighbours_is_the_mean():
    xyz = np.zeros((1, 3, 3), np.float32)
    feats = np.array([[[1.0], [2.0], [6.0]]], np.float32)
    out = NeighborPooling(filter="gaussian")([xyz[:, :1], xyz, feats, np.array([[[0, 1, 2]]], np.int32)])
    assert out.numpy().ravel().tolist() == [3.0]


def test_neighbor_pooling_refuses_unknown_filter():
    with pytest.raises(ValueError, match="filter must be one of"):
        NeighborPooling(filter="max")


def test_gather_group_and_ones_layers():
    query, support, features, neighbors = _case(6)
    np.testing.assert_array_equal(
        GatherPoints()([support, neighbors[:, :, 0]]).numpy(),
        np.take_along_axis(support, neighbors[:, :, :1].astype(np.int64), axis=1),
    )
    grouped = GroupNeighbors()([query, support, features, neighbors]).numpy()
    b, q, j = 1, 2, 3
    np.testing.assert_allclose(
        grouped[b, q, j],
        np.concatenate([support[b, neighbors[b, q, j]] - query[b, q], features[b, neighbors[b, q, j]]]),
        rtol=1e-6,
    )
    ones = AppendOnes()(features).numpy()
    assert ones.shape == (2, 7, 4) and (ones[..., 0] == 1).all()
    np.testing.assert_array_equal(ones[..., 1:], features)


def test_layers_run_under_xla_and_match_eager():
    query, support, features, neighbors = _case(7)
    inputs = [query, support, features, neighbors]
    kpconv = _built_kpconv(inputs, num_kernel_points=7, kernel_radius=0.5, sigma=0.7)
    pooling = NeighborPooling(filter="gaussian")

    @tf.function(jit_compile=True)
    def both(q, s, f, n):
        return kpconv([q, s, f, n]), pooling([q, s, f, n])

    compiled = both(*inputs)
    np.testing.assert_allclose(compiled[0].numpy(), kpconv(inputs).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(compiled[1].numpy(), pooling(inputs).numpy(), rtol=1e-5, atol=1e-6)


def test_kernel_gradients_are_finite_with_coincident_points():
    xyz = np.zeros((1, 4, 3), np.float32)  # padding repeats points: zero distances everywhere
    inputs = [xyz, xyz, np.ones((1, 4, 2), np.float32), np.zeros((1, 4, 3), np.int32)]
    layer = KPConv(filters=3, num_kernel_points=4, kernel_radius=1.0, sigma=1.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(inputs) ** 2)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert len(grads) == 1 and np.isfinite(grads[0].numpy()).all()


def test_config_round_trip_and_keras_file(tmp_path):
    query, support, features, neighbors = _case(8)
    layer = KPConv(
        filters=4,
        num_kernel_points=6,
        kernel_radius=0.4,
        sigma=0.5,
        use_bias=True,
        kernel_initializer="he_normal",
        kernel_regularizer="l2",
        name="kp",
    )
    config = layer.get_config()
    assert config["num_kernel_points"] == 6 and config["sigma"] == 0.5 and config["use_bias"]
    assert KPConv.from_config(config).get_config() == config

    ins = [keras.Input((5, 3)), keras.Input((7, 3)), keras.Input((7, 3)), keras.Input((5, 4), dtype="int32")]
    pooled = NeighborPooling(filter="gaussian", name="pool")(ins)
    model = keras.Model(ins, keras.layers.Concatenate()([layer(ins), pooled, GroupNeighbors()(ins)[:, :, 0]]))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")  # no custom_objects: registered serializable
    inputs = [query, support, features, neighbors]
    np.testing.assert_array_equal(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))
    np.testing.assert_array_equal(
        loaded.get_layer("kp").kernel_points.numpy(),
        kernel_points(num_kernel_points=6, kernel_radius=0.4).astype(np.float32),
    )
