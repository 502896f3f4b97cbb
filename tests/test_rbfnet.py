"""RBFNetPwiseClassifier: kernel structures, RBF layers, the model, VL3D's RBFNet spec, a tiny run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import laspy
import numpy as np
import pytest
import tensorflow as tf
from helpers import write_vl3d_cloud

from vl3d_focal.cli import main
from vl3d_focal.config import check_spec, read_spec_file
from vl3d_focal.config.model_fnames import with_model_fnames
from vl3d_focal.errors import SpecError
from vl3d_focal.models.kernel_structures import STRUCTURE_TYPES, kernel_points, num_kernel_points
from vl3d_focal.models.rbf_layers import RBFFeatureExtraction, RBFFeatureProcessing, initial_feature_kernels
from vl3d_focal.models.rbfnet import build_rbfnet_pwise_classifier
from vl3d_focal.models.rbfnet_schema import rbfnet_args_issues
from vl3d_focal.registry import MODELS

SPEC = Path(__file__).parent / "specs" / "vl3d" / "adapted" / "rbfnet_leafwood_train.json"
RADII = (1.0, 0.6, 0.3)


def _expected_count(structure: str, radii: np.ndarray, resolutions: list[int]) -> int:
    """Closed-form point counts (VL3D's ``compute_num_kernel_points``, centre = 1 point)."""
    n, total = len(resolutions), 1
    for k, m in enumerate(resolutions[1:], start=1):
        r = k / (n - 1) * radii
        total += {
            "concentric_ellipsoids": m**2,
            "zeros": m**2,
            "concentric_grids": m**3,
            "concentric_rectangulars": 6 * m**2 - 12 * m + 8,
            "concentric_cylinders": m * int(np.ceil(m * max(r[0], r[1]))),
            "cone": int(sum(np.ceil(m * np.abs(z) / r[2]) for z in np.linspace(-r[2], r[2], m))),
        }[structure]
    return total


@pytest.mark.parametrize("structure", STRUCTURE_TYPES)
@pytest.mark.parametrize("resolutions", [[1, 6], [1, 9], [1, 20], [1, 2, 4, 6, 8], [1, 3, 5]])
def test_kernel_point_counts(structure, resolutions):
    radii = np.array([1.0, 0.6, 0.3])
    points = kernel_points(structure=structure, max_radii=radii, angular_resolutions=resolutions)
    assert points.shape == (_expected_count(structure, radii, resolutions), 3)
    assert num_kernel_points(structure=structure, max_radii=radii, angular_resolutions=resolutions) == len(points)
    np.testing.assert_array_equal(points[0], [0.0, 0.0, 0.0])  # the centre first


def test_vl3d_spec_counts():
    """Counts of the rbfs entries of VL3D's hessig spec (concentric_grids [1, 6]: 1 + 6^3...)."""
    counts = {
        ("concentric_grids", (1, 6)): 217,
        ("concentric_rectangulars", (1, 2, 4, 6, 8)): 1 + 8 + 56 + 152 + 296,
        ("concentric_cylinders", (1, 9)): 1 + 9 * 9,
        ("concentric_ellipsoids", (1, 18)): 1 + 18 * 18,
        ("zeros", (1,)): 1,
    }
    for (structure, resolutions), count in counts.items():
        assert num_kernel_points(structure=structure, max_radii=(1, 1, 1), angular_resolutions=resolutions) == count
    # cylinders of 0.3 m: ceil(9 * 0.3) = 3 points per height
    assert num_kernel_points(structure="concentric_cylinders", max_radii=(0.3,) * 3, angular_resolutions=(1, 9)) == 28


@pytest.mark.parametrize("structure", STRUCTURE_TYPES[:-1])
def test_kernel_points_lie_on_their_shells(structure):
    radii = np.array(RADII)
    points = kernel_points(structure=structure, max_radii=radii, angular_resolutions=[1, 3, 5])
    shells = np.split(points[1:], [_expected_count(structure, radii / 2, [1, 3]) - 1])
    for k, shell in enumerate(shells, start=1):
        q = shell / (k / 2 * radii)  # unit shell coordinates
        if structure == "concentric_ellipsoids":
            np.testing.assert_allclose(np.sum(q**2, axis=1), 1.0)
        elif structure == "concentric_grids":
            assert np.all(np.abs(q) <= 1 + 1e-12) and np.allclose(q.min(axis=0), -1) and np.allclose(q.max(axis=0), 1)
        elif structure == "concentric_rectangulars":
            np.testing.assert_allclose(np.max(np.abs(q), axis=1), 1.0)
        elif structure == "concentric_cylinders":
            np.testing.assert_allclose(q[:, 0] ** 2 + q[:, 1] ** 2, 1.0)
            assert np.all(np.abs(q[:, 2]) <= 1 + 1e-12)
        else:  # cone: the ellipse's scale is |z| / r_z
            np.testing.assert_allclose(q[:, 0] ** 2 + q[:, 1] ** 2, q[:, 2] ** 2)


def test_unknown_structure_is_refused():
    with pytest.raises(ValueError, match="concentric_ellipsoids"):
        kernel_points(structure="sphere", max_radii=(1, 1, 1), angular_resolutions=(1, 2))


@pytest.mark.parametrize("kind", ["Gaussian", "Markov"])
def test_rbf_extraction_values_match_numpy(kind):
    layer = RBFFeatureExtraction(
        max_radii=RADII, angular_resolutions=(1, 3), structure="concentric_ellipsoids", kernel_function=kind, seed=4
    )
    x = np.random.default_rng(0).normal(size=(2, 7, 3))
    x[0, 0] = 0.0  # on the centre kernel point
    y = keras.ops.convert_to_numpy(layer(x.astype("float32")))
    q = layer.kernel_points.numpy().astype(np.float64)
    w = layer.kernel_sizes.numpy().astype(np.float64)
    d2 = np.sum((x[:, :, None, :] - q[None, None]) ** 2, axis=-1)
    expected = np.exp(-d2 / w**2) if kind == "Gaussian" else np.exp(-np.sqrt(d2) / w**2)
    assert y.shape == (2, 7, 10)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    assert np.all((w >= 0.01 * max(RADII)) & (w <= max(RADII)))
    np.testing.assert_allclose(
        q, kernel_points(structure="concentric_ellipsoids", max_radii=RADII, angular_resolutions=(1, 3)), atol=1e-7
    )


@pytest.mark.parametrize("kind", ["Gaussian", "Markov"])
def test_rbf_extraction_gradients_are_finite_and_reach_points_and_sizes(kind):
    layer = RBFFeatureExtraction(max_radii=RADII, angular_resolutions=(1, 2), structure="cone", kernel_function=kind)
    x = tf.constant(np.zeros((1, 4, 3), dtype="float32"))  # exactly on the centre kernel point
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x))
    grads = tape.gradient(loss, [x, layer.kernel_points, layer.kernel_sizes])
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    assert np.any(grads[1].numpy() != 0) and np.any(grads[2].numpy() != 0)


def test_untrainable_structure_and_sizes():
    layer = RBFFeatureExtraction(
        max_radii=RADII, angular_resolutions=(1, 2), trainable_structure=False, trainable_sizes=False
    )
    layer.build((None, 5, 3))
    assert layer.trainable_weights == []


@pytest.mark.parametrize("kind", ["Gaussian", "Markov"])
def test_rbf_feature_processing_matches_numpy(kind):
    means, stdevs = [0.2, -1.0], [0.5, 2.0]
    layer = RBFFeatureProcessing(num_kernels=3, means=means, stdevs=stdevs, a=0.1, b=1.0, kernel_function=kind, seed=2)
    f = np.random.default_rng(1).normal(size=(2, 5, 2))
    y = keras.ops.convert_to_numpy(layer(f.astype("float32")))
    centres, sizes = initial_feature_kernels(num_kernels=3, means=means, stdevs=stdevs, a=0.1, b=1.0, seed=2)
    np.testing.assert_allclose(centres[:, 1], [-7.0, -1.0, 5.0])
    gap = f[..., :, None] - centres.T  # (B, P, F, K)
    expected = np.exp(-((gap / sizes.T) ** 2)) if kind == "Gaussian" else np.exp(-np.abs(gap) / sizes.T**2)
    np.testing.assert_allclose(y, expected.reshape(2, 5, 6), rtol=1e-5, atol=1e-6)


RBFS = [
    {"max_radii": [1, 1, 1], "angular_resolutions": [1, 2], "structure_initialization_type": "concentric_grids"},
    {
        "max_radii": [1, 1, 1],
        "angular_resolutions": [1, 3],
        "structure_initialization_type": "cone",
        "kernel_function_type": "Markov",
        "batch_normalization": True,
        "activation": "relu",
    },
]
SMALL = {"enhanced_dim": [8], "after_features_dim": [8], "tnet_pre_filters_spec": [8], "tnet_post_filters_spec": [8]}


def test_model_shape_and_layers():
    model = build_rbfnet_pwise_classifier(
        num_points=16,
        num_features=2,
        num_classes=3,
        rbfs=RBFS,
        random_seed=1,
        feature_processing={"num_kernels": 4, "enhance": True},
        **SMALL,
    )
    assert tuple(model.output.shape) == (None, 16, 3)
    names = {layer.name for layer in model.layers}
    assert {"input_tnet_apply", "feature_tnet_apply", "rbf1", "rbf2", "rbf2_bn", "feature_processing"} <= names
    assert model.get_layer("full_features").output.shape[-1] == 9 + 7 + 8 + 8 + 2 + 8


def test_include_flags_choose_the_concatenated_features():
    model = build_rbfnet_pwise_classifier(
        num_points=16,
        num_features=2,
        num_classes=2,
        rbfs=RBFS[:1],
        include_prepooling_features=False,
        include_global_features=False,
        skip_link_features=False,
        **SMALL,
    )
    assert model.get_layer("full_features").output.shape[-1] == 9  # the RBF features only
    assert "global_maxpool" not in {layer.name for layer in model.layers}


def test_feature_processing_needs_features_and_matching_means():
    with pytest.raises(SpecError, match="feature_processing"):
        build_rbfnet_pwise_classifier(
            num_points=8, num_features=0, num_classes=2, rbfs=RBFS, feature_processing={"num_kernels": 2}, **SMALL
        )
    with pytest.raises(SpecError, match=r"feature_processing\.means: expected one per point feature \(2\)"):
        build_rbfnet_pwise_classifier(
            num_points=8,
            num_features=2,
            num_classes=2,
            rbfs=RBFS,
            feature_processing={"num_kernels": 2, "means": [0.0]},
            **SMALL,
        )


def test_args_check():
    issues = rbfnet_args_issues(
        {
            "rbfs": [
                {"max_radii": [1, 1, 1], "angular_resolutions": [1, 2], "radii_resolution": 3, "activation": "rleu"}
            ],
            "output_kernel_initializer": "glorot_normall",
        }
    )
    assert sorted(path for path, _ in issues) == [
        ("model_args", "output_kernel_initializer"),
        ("model_args", "rbfs", 0, "activation"),
        ("model_args", "rbfs", 0, "radii_resolution"),
    ]


def test_keras_file_round_trip(tmp_path):
    model = build_rbfnet_pwise_classifier(
        num_points=16,
        num_features=2,
        num_classes=3,
        rbfs=RBFS,
        feature_processing={"num_kernels": 2},
        random_seed=3,
        **SMALL,
    )
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(4, 16, 3)).astype("float32"), rng.normal(size=(4, 16, 2)).astype("float32")]
    model.fit(x, np.zeros((4, 16), dtype="int64"), epochs=1, verbose=0)
    path = tmp_path / "rbfnet.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        loaded.get_layer("rbf1").kernel_points.numpy(), model.get_layer("rbf1").kernel_points.numpy()
    )


def test_registered_with_logits_and_model_args_fnames():
    entry = MODELS.get("RBFNetPwiseClassifier")
    assert entry.metadata["output"] == "logits" and entry.metadata["fnames_in_model_args"]
    spec = {
        "sequential_pipeline": [{"train": "RBFNetPwiseClassifier", "fnames": ["b"], "model_args": {"fnames": ["a"]}}]
    }
    assert with_model_fnames(spec) is spec  # the step's own fnames win


def test_vl3d_rbfnet_spec_validates_and_model_fnames_become_the_step_fnames():
    checked = check_spec(read_spec_file(SPEC), file=str(SPEC), base_dir=SPEC.parent, check_files=False)
    assert [str(i) for i in checked.issues] == []
    train = next(step for step in checked.pipeline["sequential_pipeline"] if "train" in step)
    assert train["fnames"] == ["linearity_r0_05", "planarity_r0_1"]
    noted = {note.path.rsplit(".", 1)[-1] for note in checked.notes}
    assert {"rbf_feature_extraction_representation_dir", "rbf_feature_processing_representation_dir"} <= noted


def test_vl3d_rbfnet_spec_trains_and_its_model_predicts(tmp_path, caplog, restore_logging):
    folder = tmp_path / "adapted"
    folder.mkdir()
    spec = shutil.copy(SPEC, folder / SPEC.name)
    write_vl3d_cloud(
        folder / "data" / "leafwood_train.laz",
        classes="leafwood",
        seed=0,
        scale=0.1,
        extra=("linearity_r0_05", "planarity_r0_1"),
    )
    assert main(["run", str(spec)]) == 0
    out = folder / "out" / "rbf_lw"
    model = next(out.rglob("*.model"), None) or next(out.rglob("*.keras"))
    predict = {
        "in_pcloud": ["data/leafwood_train.laz"],
        "out_pcloud": ["out/predicted/*"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(model.relative_to(folder))},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        ],
    }
    (folder / "predict.json").write_text(json.dumps(predict), encoding="utf-8")
    assert main(["run", str(folder / "predict.json")]) == 0
    predicted = laspy.read(folder / "out" / "predicted" / "predicted.laz")
    assert len(predicted.points) == len(laspy.read(folder / "data" / "leafwood_train.laz").points)
    assert set(np.unique(predicted.classification).tolist()) <= {0, 1}
