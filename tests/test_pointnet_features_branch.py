"""PointNet's VL3D options: the feature (F) branch (``model_args.fnames``, ``*_F_spec``, the
``_X|F`` flags) and the features structuring layer (``features_structuring_layer``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import laspy
import numpy as np
import pytest
from helpers import write_vl3d_cloud

from vl3d_focal.cli import main
from vl3d_focal.config import check_spec, read_spec_file
from vl3d_focal.errors import SpecError
from vl3d_focal.models import build_pointnet_pwise_classifier
from vl3d_focal.models.features_structuring import FeaturesStructuring
from vl3d_focal.models.kernel_structures import kernel_points
from vl3d_focal.models.pointnet_schema import pointnet_args_issues

ADAPTED = Path(__file__).parent / "specs" / "vl3d" / "adapted"
BRANCH_SPEC = ADAPTED / "pointnet_leafwood_train.json"
FSL_SPEC = ADAPTED / "pnetfstruct_train_hessigheim_reduced.json"
SMALL = {
    "num_pwise_feats": 4,
    "pretransf_feats_spec": [{"filters": 8}],
    "postransf_feats_spec": [{"filters": 16}],
    "tnet_pre_filters_spec": [8],
    "tnet_post_filters_spec": [8],
}
F_SPECS = {
    "pretransf_feats_F_spec": [{"filters": 4}, {"filters": 5}],
    "postransf_feats_F_spec": [{"filters": 6}, {"filters": 7}],
    "tnet_pre_filters_F_spec": [4],
    "tnet_post_filters_F_spec": [],
}


def _inputs(batch: int, points: int, features: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(batch, points, 3)).astype("float32"),
        rng.normal(size=(batch, points, features)).astype("float32"),
    ]


def _fsl_reference(x, f, q, w_d, w_f, w, full):
    """The layer's formulas in float64: D = exp(-|x_j - q_k|^2 / w_k^2), G = D (F diag(v)) / P, Y = D^T G W."""
    x, f = x.astype(np.float64), f.astype(np.float64)
    d = np.exp(-np.sum((x[:, None, :, :] - q[None, :, None, :]) ** 2, axis=-1) / (w_d[None, :, None] ** 2))
    g = d @ (f * w_f) / x.shape[1]
    y = np.transpose(d, (0, 2, 1)) @ (g @ w)
    return np.concatenate([f, y], axis=-1) if full else y


@pytest.mark.parametrize("strategy", ["FULL", "opaque"])
def test_features_structuring_matches_numpy(strategy):
    x, f = _inputs(2, 7, 3, seed=1)
    layer = FeaturesStructuring(
        max_radii=(1.0, 0.5, 0.8), angular_resolutions=(1, 2, 3), dim_out=2, concatenation_strategy=strategy, seed=0
    )
    layer([x, f])
    rng = np.random.default_rng(2)
    q = kernel_points(structure="concentric_ellipsoids", max_radii=(1.0, 0.5, 0.8), angular_resolutions=(1, 2, 3))
    q = q + rng.normal(scale=0.1, size=q.shape)
    w_d, w_f, w = rng.uniform(0.5, 1.5, len(q)), rng.uniform(0.5, 2.0, 3), rng.normal(size=(3, 2))
    layer.kernel_points.assign(q)
    layer.distance_weights.assign(w_d)
    layer.feature_weights.assign(w_f)
    layer.kernel_weights.assign(w)
    out = keras.ops.convert_to_numpy(layer([x, f]))
    expected = _fsl_reference(x, f, q, w_d, w_f, w, full=strategy == "FULL")
    assert out.shape == ((2, 7, 5) if strategy == "FULL" else (2, 7, 2))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_features_structuring_initial_values_and_trainable_flags():
    layer = FeaturesStructuring(
        max_radii=(2.0, 1.0, 3.0),
        angular_resolutions=(1, 2, 4, 8),
        dim_out=4,
        trainable_kernel_structure=False,
        trainable_distance_weights=False,
        seed=0,
    )
    layer(_inputs(1, 5, 6))
    assert layer.num_kernel_points == 1 + 4 + 16 + 64  # VL3D's count for [1, 2, 4, 8]
    expected = kernel_points(structure="concentric_ellipsoids", max_radii=(2, 1, 3), angular_resolutions=(1, 2, 4, 8))
    np.testing.assert_allclose(layer.kernel_points.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(layer.distance_weights.numpy(), 3.0)  # max(max_radii)
    np.testing.assert_allclose(layer.feature_weights.numpy(), 1.0)
    assert layer.kernel_weights.shape == (6, 4)
    assert {v.name for v in layer.trainable_weights} == {"feature_weights", "kernel_weights"}


def test_pointnet_with_fsl_adds_the_layer_bn_relu_and_round_trips(tmp_path):
    fsl = {"max_radii": [1, 1, 1], "radii_resolution": 3, "angular_resolutions": [1, 2, 3], "dim_out": "AUTO"}
    model = build_pointnet_pwise_classifier(
        num_points=16, num_features=1, num_classes=3, random_seed=0, features_structuring_layer=fsl, **SMALL
    )
    names = [layer.name for layer in model.layers]
    assert names[-4:] == ["FSL", "FSL_bn", "FSL_relu", "logits"]
    assert tuple(model.get_layer("FSL").output.shape) == (None, 16, 4 + 4)  # FULL: pwise feats + dim_out (AUTO: 4)
    x = _inputs(2, 16, 1)
    path = tmp_path / "fsl.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    opaque = {**fsl, "concatenation_strategy": "OPAQUE", "dim_out": 2, "activation": None, "batch_normalization": False}
    opaque = build_pointnet_pwise_classifier(
        num_points=16, num_features=1, num_classes=3, features_structuring_layer=opaque, **SMALL
    )
    assert [layer.name for layer in opaque.layers][-2:] == ["FSL", "logits"]
    assert tuple(opaque.get_layer("FSL").output.shape) == (None, 16, 2)


def test_two_branches_concatenate_what_the_flags_select():
    args = {"num_points": 16, "num_features": 2, "num_classes": 3, "random_seed": 0, "fnames": ["a", "b"], **SMALL}
    model = build_pointnet_pwise_classifier(**args, **F_SPECS)
    names = {layer.name for layer in model.layers}
    assert {"X_input_tnet_matrix", "X_feature_tnet_matrix", "F_input_tnet_matrix", "F_feature_tnet_matrix"} <= names
    assert model.get_layer("F_input_tnet_matrix").units == 2 * 2  # the F x F input transform
    assert model.get_layer("F_feature_tnet_matrix").units == 5 * 5  # the last F pretransf width
    # VL3D's defaults: transformed and global features of each branch: 8 + 16 + 5 + 7
    assert tuple(model.get_layer("pwise_concat").output.shape) == (None, 16, 8 + 16 + 5 + 7)
    flags = {"skip_link_features_X": True, "include_pretransf_feats_F": True, "include_postransf_feats_F": True}
    model = build_pointnet_pwise_classifier(**args, **F_SPECS, **flags, include_global_feats_F=False)
    # X: skip link 3, transf 8, global 16; F: pretransf 4 + 5, transf 5, postransf but the last 6
    assert tuple(model.get_layer("pwise_concat").output.shape) == (None, 16, 3 + 8 + 16 + 4 + 5 + 5 + 6)
    # without F specs the feature branch takes the coordinate branch's layers (VL3D's fallback)
    model = build_pointnet_pwise_classifier(**args)
    assert model.get_layer("F_pretransf1").units == 8 and model.get_layer("F_feature_tnet_matrix").units == 64
    assert model.predict(_inputs(2, 16, 2), verbose=0).shape == (2, 16, 3)


def test_kernel_initializer_f_and_seeds():
    args = {"num_points": 8, "num_features": 2, "num_classes": 2, "fnames": ["a", "b"], **SMALL}
    a = build_pointnet_pwise_classifier(**args, random_seed=4, kernel_initializer_F="zeros")
    assert not np.any(a.get_layer("F_pretransf1").kernel.numpy())
    assert np.any(a.get_layer("X_pretransf1").kernel.numpy())
    b = build_pointnet_pwise_classifier(**args, random_seed=4, kernel_initializer_F="zeros")
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_without_fnames_the_f_options_change_nothing():
    base = {"num_points": 8, "num_features": 2, "num_classes": 2, "random_seed": 5, **SMALL}
    plain = build_pointnet_pwise_classifier(**base)
    flagged = build_pointnet_pwise_classifier(
        **base, **F_SPECS, skip_link_features_X=True, include_global_feats_F=False, kernel_initializer_F="zeros"
    )
    assert [layer.name for layer in plain.layers] == [layer.name for layer in flagged.layers]
    for wa, wb in zip(plain.get_weights(), flagged.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_bad_feature_branch_arguments():
    with pytest.raises(SpecError) as info:
        build_pointnet_pwise_classifier(num_points=8, num_features=3, num_classes=2, fnames=["a", "b"], **SMALL)
    assert [issue.path for issue in info.value.issues] == ["model_args.fnames"]
    with pytest.raises(SpecError) as info:
        build_pointnet_pwise_classifier(
            num_points=8, num_features=1, num_classes=2, fnames=["a"], postransf_feats_F_spec=[], **SMALL
        )
    assert [issue.path for issue in info.value.issues] == ["model_args.postransf_feats_F_spec"]
    none = {flag: False for flag in ("include_transf_feats_X", "include_global_feats_X")}
    none.update(include_transf_feats_F=False, include_global_feats_F=False)
    assert [p for p, _ in pointnet_args_issues({"fnames": ["a"], **none})] == [("model_args", "fnames")]
    assert pointnet_args_issues({**none}) == []  # one branch: the flags have no effect
    assert pointnet_args_issues({"kernel_initializer_F": "glorot_normall"})[0][0] == (
        "model_args",
        "kernel_initializer_F",
    )
    fsl = {"max_radii": [1, 1, 1], "radii_resolution": 4, "angular_resolutions": [1, 2]}
    assert pointnet_args_issues({"features_structuring_layer": fsl})[0][0][-1] == "angular_resolutions"


@pytest.mark.parametrize("spec", [BRANCH_SPEC, FSL_SPEC], ids=["feature_branch", "fsl"])
def test_adapted_specs_validate_with_their_notes(spec):
    checked = check_spec(read_spec_file(spec), file=str(spec), base_dir=spec.parent, check_files=False)
    assert [str(i) for i in checked.issues] == []
    noted = {note.path.split("model_args.", 1)[-1] for note in checked.notes}
    assert not any(key.endswith(("_X", "_F", "_F_spec")) for key in noted)  # honoured with fnames
    if spec == FSL_SPEC:
        assert "features_structuring_layer.freeze_training_init_learning_rate" in noted


@pytest.mark.parametrize(
    ("spec", "classes", "cloud", "extra", "out"),
    [
        (BRANCH_SPEC, "leafwood", "leafwood_train.laz", ("linearity_r0_05", "planarity_r0_1"), "pnet_lw"),
        (FSL_SPEC, "hessigheim", "hessigheim_train.laz", (), "fsl_Rect3D_alt_5m_T1"),
    ],
    ids=["feature_branch", "fsl"],
)
def test_adapted_spec_trains_and_its_model_predicts(tmp_path, restore_logging, spec, classes, cloud, extra, out):
    folder = tmp_path / "adapted"
    folder.mkdir()
    copied = shutil.copy(spec, folder / spec.name)
    scale = 0.1 if classes == "leafwood" else 1.0
    write_vl3d_cloud(folder / "data" / cloud, classes=classes, seed=0, scale=scale, extra=extra)
    assert main(["run", str(copied)]) == 0
    model = next((folder / "out" / out).rglob("*.pipe"))
    predict = {
        "in_pcloud": [f"data/{cloud}"],
        "out_pcloud": ["out/predicted/*"],
        "sequential_pipeline": [
            {"predict": "PredictivePipeline", "model_path": str(model.relative_to(folder))},
            {"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"},
        ],
    }
    (folder / "predict.json").write_text(json.dumps(predict), encoding="utf-8")
    assert main(["run", str(folder / "predict.json")]) == 0
    predicted = laspy.read(folder / "out" / "predicted" / "predicted.laz")
    assert len(predicted.points) == len(laspy.read(folder / "data" / cloud).points)
