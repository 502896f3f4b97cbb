"""SmoothFeatures: the strategies against a loop over each neighbourhood, VL3D's names, validation,
and streamed tiles that smooth a feature the model does not use itself."""

from __future__ import annotations

import laspy
import numpy as np
import pytest
from helpers import miner_spec, streamed_features

from vl3d_focal.config import validate_spec
from vl3d_focal.data.features import extract_features
from vl3d_focal.data.miners import MinedFeatures, compute_mined, smoothing_inputs
from vl3d_focal.data.smooth_features import smooth_features
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud


def _reference(xyz, values, *, radius, axes, strategy, omega, replace_nan=False):
    """One neighbourhood at a time, in float64, as the module docstring writes the formulas."""
    out = np.empty_like(values)
    for i in range(len(xyz)):
        distance = np.sqrt(((xyz[:, :axes] - xyz[i, :axes]) ** 2).sum(axis=1))
        near = distance <= radius
        d, f = distance[near], values[near].copy()
        if replace_nan:
            means = np.nanmean(f, axis=0)
            f = np.where(np.isnan(f), means, f)
        if strategy == "mean":
            w = np.ones_like(d)
        elif strategy == "weighted_mean":
            w = d.max() - d + omega
        else:
            w = np.exp(-(d**2) / omega**2)
        out[i] = (w[:, None] * f).sum(axis=0) / w.sum()
    return out


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(3)
    xyz = rng.uniform(0, 4, (300, 3)) * np.array([1.0, 1.0, 0.5]) + np.array([650_000.0, 6_860_000.0, 80.0])
    return xyz, rng.normal(size=(300, 2)) * np.array([1.0, 200.0])


@pytest.mark.parametrize("neighborhood,axes", [("sphere", 3), ("cylinder", 2)])
@pytest.mark.parametrize("strategy,omega", [("mean", 0.0), ("weighted_mean", 0.05), ("gaussian_rbf", 0.4)])
def test_strategies_equal_a_loop_over_each_neighbourhood(points, neighborhood, axes, strategy, omega):
    xyz, values = points
    got = smooth_features(
        xyz,
        values,
        strategies=[strategy],
        radius=0.7,
        neighborhood=neighborhood,
        weighted_mean_omega=omega,
        gaussian_rbf_omega=omega or 1.0,
    )
    expected = _reference(xyz, values, radius=0.7, axes=axes, strategy=strategy, omega=omega or 1.0)
    np.testing.assert_allclose(got[:, 0], expected, rtol=1e-10, atol=1e-10)
    assert np.std(got[:, 0, 1]) < 0.6 * np.std(values[:, 1])  # smoothed: the spread shrinks


def test_nan_values_propagate_or_are_replaced(points):
    xyz, values = points
    holed = values.copy()
    holed[::7, 0] = np.nan
    propagated = smooth_features(xyz, holed, strategies=["mean"], radius=0.7)
    assert np.isnan(propagated[:, 0, 0]).any() and np.isfinite(propagated[:, 0, 1]).all()
    replaced = smooth_features(xyz, holed, strategies=["weighted_mean"], radius=0.7, nan_policy="replace")
    expected = _reference(xyz, holed, radius=0.7, axes=3, strategy="weighted_mean", omega=1e-4, replace_nan=True)
    np.testing.assert_allclose(replaced[:, 0], expected, rtol=1e-10, atol=1e-10)
    recipe = MinedFeatures.from_step(_step(["intensity"], ["mean"], 0.7))
    with pytest.raises(DataError, match="non-finite"):
        compute_mined(recipe, xyz, names=list(recipe.names), inputs={"intensity": holed[:, 0]})


def _step(inputs, strategies, radius, **more):
    return {
        "miner": "SmoothFeatures",
        "input_fnames": inputs,
        "fnames": strategies,
        "neighborhood": {"type": "sphere", "radius": radius},
        "weighted_mean_omega": 0.0001,
        "gaussian_rbf_omega": 1.0,
        "nan_policy": "propagate",
        **more,
    }


def test_recipes_take_vl3d_names_in_vl3d_order():
    recipe = MinedFeatures.from_step(_step(["intensity", "return_number"], ["mean", "gaussian_rbf"], 1))
    assert recipe.names == (
        "intensity_mean_r1",
        "return_number_mean_r1",
        "intensity_gaussian_rbf_r1",
        "return_number_gaussian_rbf_r1",
    )
    assert recipe.inputs == ("intensity", "return_number", "intensity", "return_number")
    assert recipe.reach == 1.0 and MinedFeatures.from_config(recipe.to_config()) == recipe
    cylinder = MinedFeatures.from_step(_step(["z"], ["mean"], 2.5, neighborhood={"type": "cylinder", "radius": 2.5}))
    assert cylinder.names == ("z_mean_cyl2.5",)
    assert smoothing_inputs(["intensity_gaussian_rbf_r1", "z"], [recipe]) == ["intensity"]  # what that output reads
    assert smoothing_inputs(["intensity_gaussian_rbf_r1", "return_number_mean_r1"], [recipe]) == [
        "intensity",
        "return_number",
    ]


def test_compute_mined_gives_the_names_asked_in_their_order(points):
    xyz, values = points
    recipe = MinedFeatures.from_step(_step(["a", "b"], ["mean", "weighted_mean"], 0.7))
    inputs = {"a": values[:, 0], "b": values[:, 1]}
    got, reach = compute_mined(
        recipe, xyz, names=["b_weighted_mean_r0.7", "a_mean_r0.7"], inputs=inputs, queries=[4, 9]
    )
    whole = smooth_features(xyz, values, strategies=["mean", "weighted_mean"], radius=0.7)
    np.testing.assert_allclose(got, [[whole[4, 1, 1], whole[4, 0, 0]], [whole[9, 1, 1], whole[9, 0, 0]]])
    assert reach.tolist() == [0.7, 0.7]


def test_validation_takes_point_wise_inputs_only(tmp_path):
    generate_urban_scene(seed=2, size_m=20.0).write(tmp_path / "scene.las")
    good = {"miner": "SmoothFeatures", "input_fnames": ["intensity"], "neighborhood": {"type": "sphere", "radius": 1}}
    assert validate_spec(miner_spec(["intensity_gaussian_rbf_r1"], [good]), base_dir=tmp_path) == []
    cases = [
        (dict(good, input_fnames=["intensty"]), "'intensty' is not a feature of"),
        (dict(good, input_fnames=["height_above_ground"]), "smooths point-wise features"),
        (dict(good, frenames=["a", "b"]), "expected 3 names (one per pair of fnames and input_fnames entries); got 2"),
        (dict(good, neighborhood={"type": "knn", "k": 16}), "knn"),
    ]
    for miner, expected in cases:
        messages = [issue.message for issue in validate_spec(miner_spec(["intensity"], [miner]), base_dir=tmp_path)]
        assert any(expected in message for message in messages), (expected, messages)


def test_nan_policy_is_read_whatever_its_case_as_vl3d_does(tmp_path):
    generate_urban_scene(seed=2, size_m=20.0).write(tmp_path / "scene.las")
    good = {"miner": "SmoothFeatures", "input_fnames": ["intensity"], "neighborhood": {"type": "sphere", "radius": 1}}
    for policy in ("Replace", "PROPAGATE"):
        spec = miner_spec(["intensity_mean_r1"], [dict(good, fnames=["mean"], nan_policy=policy)])
        assert validate_spec(spec, base_dir=tmp_path) == []
    assert MinedFeatures.from_step(_step(["intensity"], ["mean"], 1, nan_policy="Replace")).params["nan_policy"] == (
        "replace"
    )
    wrong = miner_spec(["intensity_mean_r1"], [dict(good, fnames=["mean"], nan_policy="drop")])
    [issue] = validate_spec(wrong, base_dir=tmp_path)
    assert issue.path.endswith(".nan_policy") and "'propagate'" in issue.message and "'replace'" in issue.message


def test_streamed_tiles_smooth_a_feature_the_model_does_not_use(tmp_path):
    path = tmp_path / "scene.las"
    generate_urban_scene(seed=5, size_m=40.0).write(path)
    recipe = MinedFeatures.from_step(_step(["return_number", "intensity"], ["mean", "weighted_mean"], 1.5))
    names = ["intensity", "return_number_mean_r1.5", "intensity_weighted_mean_r1.5"]
    whole = extract_features(PointCloud.from_las(laspy.read(path), path=path), names, miners=[recipe])
    assert smoothing_inputs(names, [recipe]) == ["return_number"]  # bucketed beside the points, not a model input
    streamed = streamed_features(path, names, [recipe], side=10.0)  # 16 tiles of 10 m
    np.testing.assert_allclose(streamed, whole, rtol=1e-5, atol=1e-4)
    assert np.ptp(whole[:, 1]) > 0.1 and not np.allclose(whole[:, 2], whole[:, 0])  # smoothed, not copied


def test_the_neighbourhood_type_is_read_in_any_case_as_height_features_reads_its_own(tmp_path, points):
    """VL3D writes "sphere" or "Sphere"; before, "Sphere" was refused by validation (and read as a cylinder)."""
    generate_urban_scene(seed=2, size_m=20.0).write(tmp_path / "scene.las")
    xyz, values = points
    for spelled, kind, suffix in (
        ("Sphere", "sphere", "_r1"),
        ("CYLINDER", "cylinder", "_cyl1"),
        ("cylinder", "cylinder", "_cyl1"),
    ):
        step = {
            "miner": "SmoothFeatures",
            "input_fnames": ["intensity"],
            "neighborhood": {"type": spelled, "radius": 1},
        }
        assert validate_spec(miner_spec([f"intensity_mean{suffix}"], [step]), base_dir=tmp_path) == []
        recipe = MinedFeatures.from_step(_step(["a"], ["mean"], 1, neighborhood={"type": spelled, "radius": 1}))
        assert recipe.names == (f"a_mean{suffix}",) and recipe.params["neighborhood"] == kind
        got, _ = compute_mined(recipe, xyz, names=list(recipe.names), inputs={"a": values[:, 0]}, queries=[3])
        whole = smooth_features(xyz, values[:, :1], strategies=["mean"], radius=1.0, neighborhood=kind)
        np.testing.assert_allclose(got, whole[3:4, 0, :1])
    wrong = {"miner": "SmoothFeatures", "input_fnames": ["intensity"], "neighborhood": {"type": "sphre", "radius": 1}}
    messages = [issue.message for issue in validate_spec(miner_spec(["intensity"], [wrong]), base_dir=tmp_path)]
    assert messages[0].startswith("expected a SmoothFeatures neighborhood type"), messages
