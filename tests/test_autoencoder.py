"""Tests of vl3d_focal.models.autoencoder: inputs, outputs, variants, errors, saving, XLA, training."""

from __future__ import annotations

import jsonschema
import keras
import numpy as np
import pytest
import tensorflow as tf

import vl3d_focal.losses  # noqa: F401  (registers the losses)
from vl3d_focal.data.hierarchical_fields import hierarchical_model_inputs
from vl3d_focal.data.hierarchy_spec import HierarchySpec
from vl3d_focal.errors import SpecError
from vl3d_focal.models.autoencoder import (
    TINY_FEATURE_EXTRACTION,
    TINY_PRE_PROCESSING,
    build_conv_autoencoder_pwise_classifier,
)
from vl3d_focal.models.autoencoder_schema import AUTOENCODER_SCHEMA
from vl3d_focal.registry import LOSSES, MODELS

POINTNET = {"type": "PointNet", "operations_per_depth": [1, 1, 1], "feature_space_dims": [8, 8, 16]}
VARIANTS = {
    "kpconv_strided": (TINY_FEATURE_EXTRACTION, "strided_kpconv", "mean"),
    "kpconv_gaussian": (TINY_FEATURE_EXTRACTION, "gaussian", "gaussian"),
    "pointnet_mean": (POINTNET, "mean", "mean"),
}


def _build(feature_extraction=TINY_FEATURE_EXTRACTION, *, num_features: int = 2, num_classes: int = 3, **kwargs):
    return build_conv_autoencoder_pwise_classifier(
        num_points=16,
        num_features=num_features,
        num_classes=num_classes,
        pre_processing=TINY_PRE_PROCESSING,
        feature_extraction=feature_extraction,
        random_seed=0,
        **kwargs,
    )


def _inputs(count: int = 4, num_features: int = 2, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    coords = rng.uniform(-1, 1, (count, 16, 3)).astype(np.float32)
    feats = rng.normal(size=(count, 16, num_features)).astype(np.float32)
    return hierarchical_model_inputs(TINY_PRE_PROCESSING, coordinates=coords, features=feats)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_inputs_and_per_point_logits(variant):
    feature_extraction, down, up = VARIANTS[variant]
    model = _build(feature_extraction, downsampling_filter=down, upsampling_filter=up)
    shapes = HierarchySpec.from_config(TINY_PRE_PROCESSING).index_shapes()
    assert [t.name for t in model.inputs] == ["coordinates", "features", *shapes]
    assert [tuple(t.shape[1:]) for t in model.inputs] == [(16, 3), (16, 2), *shapes.values()]
    assert [t.dtype for t in model.inputs[2:]] == ["int32"] * len(shapes)
    out = model.predict(_inputs(), verbose=0)
    assert out.shape == (4, 16, 3) and np.isfinite(out).all()
    assert model.get_layer("logits").activation is keras.activations.linear
    assert (out < 0).any() and not np.allclose(out.sum(-1), 1.0, atol=1e-3)  # logits, not probabilities


def test_structure_follows_the_arguments():
    names = {layer.name for layer in _build().layers}
    assert {
        "kpconv_1",
        "strided_kpconv_1",
        "kpconv_2",
        "strided_kpconv_2",
        "kpconv_3",
        "upsampling_2",
        "skip_1",
        "decoder_1",
        "upsampling_1",
        "decoder_0",
    } <= names
    model = _build(downsampling_filter="gaussian", upsampling_bn=False)
    names = {layer.name for layer in model.layers}
    assert "downsampling_1" in names and not any(n.startswith("strided") for n in names)
    assert "decoder_0_bn" not in names and model.get_layer("decoder_0").use_bias
    strided = _build().get_layer("strided_kpconv_2")  # kernel and width of depth 1's last operation
    assert (strided.filters, strided.num_kernel_points, strided.sigma) == (8, 5, 0.5)
    bn = _build({**TINY_FEATURE_EXTRACTION, "bn_momentum": 0.0}).get_layer("kpconv_1_bn")
    assert bn.momentum == 0.0  # VL3D's bn_momentum honoured
    assert "kpconv_1_act" not in {layer.name for layer in _build({**TINY_FEATURE_EXTRACTION, "activate": False}).layers}


def test_no_features_and_seeds():
    a = _build(num_features=0)
    b = _build(num_features=0)
    assert tuple(a.inputs[1].shape) == (None, 16, 0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(
        a.predict(_inputs(num_features=0), verbose=0), b.predict(_inputs(num_features=0), verbose=0)
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature_extraction": POINTNET}, "model_args.downsampling_filter: expected 'mean' or 'gaussian'"),
        ({"downsampling_filter": "max"}, "model_args.downsampling_filter: expected one of"),
        ({"upsampling_filter": "strided_kpconv"}, "model_args.upsampling_filter: expected one of"),
        (
            {"feature_extraction": {**TINY_FEATURE_EXTRACTION, "sigma": [1.0]}},
            "model_args.feature_extraction.sigma: expected 3 entries",
        ),
        (
            {"feature_extraction": {**TINY_FEATURE_EXTRACTION, "operations_per_depth": [1, 1]}},
            "model_args.feature_extraction.operations_per_depth: expected 3 integers",
        ),
        (
            {"feature_extraction": {**TINY_FEATURE_EXTRACTION, "deformable": [False, True, False]}},
            "model_args.feature_extraction.deformable[1]: expected false",
        ),
        (
            {"feature_extraction": {**TINY_FEATURE_EXTRACTION, "H_activation": ["relu"] * 3}},
            "model_args.feature_extraction.H_activation: unknown key for type 'KPConv'",
        ),
        (
            {"feature_extraction": {**TINY_FEATURE_EXTRACTION, "W_initializer": ["glorot_uniform", "nope", "zeros"]}},
            "model_args.feature_extraction.W_initializer[1]: expected a Keras initializer name",
        ),
        ({"structure_alignment": {"tnet_pre_filters_spec": [8]}}, "model_args.structure_alignment: expected null"),
        ({"output_kernel_initializer": "nope"}, "model_args.output_kernel_initializer: expected a Keras initializer"),
    ],
)
def test_errors_name_the_argument(kwargs, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _build(**kwargs)


def test_num_points_must_match_depth_zero():
    with pytest.raises(SpecError, match=r"num_points_per_depth\[0\]: expected the fields' 32 points"):
        build_conv_autoencoder_pwise_classifier(
            num_points=32,
            num_features=0,
            num_classes=2,
            pre_processing=TINY_PRE_PROCESSING,
            feature_extraction=TINY_FEATURE_EXTRACTION,
        )


def test_registered_with_schema_and_metadata():
    entry = MODELS.get("ConvolutionalAutoencoderPwiseClassifier")
    assert entry.load() is build_conv_autoencoder_pwise_classifier
    assert entry.metadata == {
        "output": "logits",
        "coordinates_only": True,
        "fnames_in_model_args": True,
        "field_spec": "vl3d_focal.data.hierarchical_fields:depth0_field_spec",
        "field_inputs": "vl3d_focal.data.hierarchical_fields:hierarchical_model_inputs",
        "args_check": "vl3d_focal.models.autoencoder_operations:autoencoder_args_issues",
    }
    jsonschema.Draft202012Validator.check_schema(entry.schema)


def test_vl3d_kpconv_spec_validates_and_builds():
    """model_args of VL3D's KPConv_training_T1 (its architecture keys), smaller widths and depths."""
    args = {
        "fnames": ["ones", "Reflectance"],
        "pre_processing": {
            **TINY_PRE_PROCESSING,
            "to_unit_sphere": False,
            "fast_flag_per_depth": [False] * 3,
            "nthreads": 12,
            "receptive_fields_dir": None,
        },
        "feature_extraction": {
            "type": "KPConv",
            "operations_per_depth": [2, 1, 1],
            "feature_space_dims": [8, 8, 8, 16],
            "bn": True,
            "bn_momentum": 0.0,
            "activate": True,
            "sigma": [3.0] * 4,
            "kernel_radius": [3.0] * 4,
            "num_kernel_points": [15] * 4,
            "deformable": [False] * 4,
            "W_initializer": ["glorot_uniform"] * 4,
            "W_regularizer": [None] * 4,
            "W_constraint": [None] * 4,
        },
        "structure_alignment": None,
        "features_alignment": None,
        "downsampling_filter": "strided_kpconv",
        "upsampling_filter": "mean",
        "upsampling_bn": True,
        "upsampling_momentum": 0.0,
        "conv1d_kernel_initializer": "glorot_normal",
        "output_kernel_initializer": "glorot_normal",
    }
    jsonschema.validate(args, AUTOENCODER_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**args, "feature_extraction": {**args["feature_extraction"], "H_activation": []}}, AUTOENCODER_SCHEMA
        )
    model = MODELS.build(
        {MODELS.key: "ConvolutionalAutoencoderPwiseClassifier", **args}, num_points=16, num_features=2, num_classes=3
    )
    assert model.get_layer("kpconv_2").filters == 8 and model.get_layer("decoder_0_bn").momentum == 0.0


def test_save_load_round_trip(tmp_path):
    model = _build(downsampling_filter="gaussian", upsampling_filter="gaussian")
    inputs = _inputs()
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


def test_runs_under_xla():
    model = _build()
    inputs = _inputs()
    compiled = tf.function(lambda *a: model(list(a), training=False), jit_compile=True)
    np.testing.assert_allclose(compiled(*inputs).numpy(), model.predict(inputs, verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", ["kpconv_strided", "pointnet_mean"])
def test_overfits_a_small_batch_with_the_focal_loss(variant):
    keras.utils.set_random_seed(0)
    feature_extraction, down, up = VARIANTS[variant]
    inputs = _inputs(count=8, num_features=1, seed=1)
    coords = inputs[0]
    labels = (coords[..., 2] > 0).astype("int64") + (coords[..., 0] > 0.3).astype("int64")  # 3 geometric classes
    # momentum 0 (VL3D's specs): the moving statistics are the last batch's, the one batch here
    model = _build(
        {**feature_extraction, "bn_momentum": 0.0},
        num_features=1,
        downsampling_filter=down,
        upsampling_filter=up,
        upsampling_momentum=0.0,
    )
    loss = LOSSES.build(
        {"function": "class_weighted_focal_categorical_crossentropy", "gamma": 2.0},
        num_classes=3,
        class_weight=[1.0, 1.0, 1.0],
        from_logits=True,
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    initial = float(model.evaluate(inputs, labels, verbose=0))
    repeated = [np.concatenate([a] * 40) for a in (*inputs, labels)]  # 40 steps of the same batch, one epoch
    model.fit(repeated[:-1], repeated[-1], batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert float(model.evaluate(inputs, labels, verbose=0)) < 0.25 * initial
    predicted = np.argmax(model.predict(inputs, verbose=0), axis=-1)
    assert (predicted == labels).mean() > 0.8  # the most frequent class: about 0.5
