"""VL3D's PCATransformer: the projection against a NumPy SVD and scikit-learn's PCA, out_dim and
whiten, its validation, and a forest trained on PCA_1... after an imputer whose saved model
(model format 3) imputes and projects a new cloud, in memory and streamed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import TWO_CLASS_MAPPING, assert_loaded_model_predicts, run_steps, write_with_extra_dims
from sklearn.decomposition import PCA

from vl3d_focal.config import check_spec, validate_spec
from vl3d_focal.data.pca_projection import PCATransformer
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.models import model_file
from vl3d_focal.models.model_file import check_metadata, load_bundle, read_metadata

NAMES = ["a", "b", "c", "d"]


def _data(seed: int = 0, n: int = 300) -> np.ndarray:
    """Four correlated features of decreasing spread."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 4)) * np.array([10.0, 3.0, 1.0, 0.1])
    mix = np.linalg.qr(rng.normal(size=(4, 4)))[0]
    return base @ mix.T + np.array([5.0, -2.0, 0.0, 100.0])


def test_the_projection_is_the_svd_s_with_the_largest_entry_of_each_axis_positive():
    x = _data()
    fitted = PCATransformer(out_dim=1.0).fit(x, NAMES)
    centred = x - x.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    axes *= np.sign(axes[np.arange(4), np.argmax(np.abs(axes), axis=1)])[:, None]
    np.testing.assert_allclose(np.asarray(fitted.components), axes, atol=1e-9)
    np.testing.assert_allclose(fitted.variances, singular**2 / (len(x) - 1), rtol=1e-9)
    np.testing.assert_allclose(fitted.project(x), centred @ axes.T, rtol=1e-5, atol=1e-4)
    assert fitted.names == ("PCA_1", "PCA_2", "PCA_3", "PCA_4")


@pytest.mark.parametrize(("out_dim", "count"), [(0.5, 1), (0.9, 2), (0.95, 2), (0.999, 3), (1.0, 4)])
def test_out_dim_keeps_the_fewest_components_explaining_more_than_it(out_dim, count):
    x = _data(1)
    fitted = PCATransformer(out_dim=out_dim).fit(x, NAMES)
    assert len(fitted.components) == count
    if out_dim < 1:
        assert PCA(n_components=out_dim, svd_solver="full").fit(x).n_components_ == count  # scikit-learn's rule
    np.testing.assert_allclose(fitted.ratios, PCA(svd_solver="full").fit(x).explained_variance_ratio_, rtol=1e-9)


@pytest.mark.parametrize("out_dim", [1, 2, 4])
def test_an_integer_out_dim_keeps_that_many_components_as_vl3d_s_n_components(out_dim):
    x = _data(1)
    fitted = PCATransformer.from_step(json.loads(json.dumps({"out_dim": out_dim}))).fit(x, NAMES)
    reference = PCA(n_components=out_dim, svd_solver="full").fit(x)
    assert fitted.names == tuple(f"PCA_{i}" for i in range(1, out_dim + 1))
    np.testing.assert_allclose(np.abs(fitted.project(x)), np.abs(reference.transform(x)), rtol=1e-4, atol=1e-4)
    assert len(PCATransformer.from_step({"out_dim": 1.0}).fit(x, NAMES).components) == 4  # the fraction 1.0: all


def test_whiten_gives_unit_variance_and_scikit_learn_s_projection_up_to_sign():
    x = _data(2)
    fitted = PCATransformer(out_dim=0.99, whiten=True).fit(x, NAMES)
    projected = fitted.project(x)
    np.testing.assert_allclose(np.var(projected, axis=0, ddof=1), 1.0, rtol=1e-5)
    reference = PCA(n_components=0.99, whiten=True, svd_solver="full").fit(x).transform(x)
    np.testing.assert_allclose(np.abs(projected), np.abs(reference), rtol=1e-4, atol=1e-4)


def test_the_projection_takes_only_its_fnames_and_keeps_the_other_features_first():
    x = _data(3)
    fitted = PCATransformer(("b", "d"), out_dim=1.0).fit(x, NAMES)
    assert fitted.inputs == ("b", "d") and fitted.outputs(NAMES) == ["a", "c", "PCA_1", "PCA_2"]
    assert fitted.computed(fitted.outputs(NAMES)) == ["a", "c", "b", "d"]
    values = x[:, [0, 2, 1, 3]]
    out = fitted.apply(values)
    np.testing.assert_allclose(out[:, :2], values[:, :2], rtol=1e-6)
    np.testing.assert_allclose(out[:, 2:], fitted.project(x[:, [1, 3]]), rtol=1e-6)


@pytest.mark.parametrize(
    ("pca", "values", "message"),
    [
        (PCATransformer(("z",)), _data(), r"'z' not among the features of the model trained after it"),
        (PCATransformer(), np.ones((10, 4)), r"have no variance on the training points"),
        (PCATransformer(), np.ones((1, 4)), r"1 training points; expected at least two"),
        (
            PCATransformer(out_dim=4),
            _data()[:, [0, 1, 2, 0]],
            r"\(4 components\): its 4 features \(a, b, c, d\) vary along 3 axes on the training points; give "
            r"out_dim at most 3",
        ),
    ],
)
def test_a_projection_that_cannot_be_fitted_is_one_clear_error(pca, values, message):
    with pytest.raises(DataError, match=message):
        pca.fit(values, NAMES)


def test_its_step_is_validated_and_must_be_the_last_transformer():
    doc = {
        "in_pcloud": "a.las",
        "out_pcloud": "o/",
        "sequential_pipeline": [
            {"feature_transformer": "PCATransformer", "out_dim": 1.5, "random_seed": None, "plot_path": "*p.txt"},
            {"feature_transformer": "VarianceSelector"},
            {"train": "RandomForestClassifier", "fnames": ["AUTO"], "model_args": {}},
        ],
    }
    checked = check_spec(doc, check_files=False)
    assert [str(issue) for issue in checked.issues] == [
        "$.sequential_pipeline[0].out_dim: 1.5 is greater than the maximum of 1",
        "$.sequential_pipeline[0].plot_path: expected a path ending in .svg, .png or .pdf; got '*p.txt'",
        "$.sequential_pipeline[1]: a feature transformer after the PCATransformer of $.sequential_pipeline[0]: a "
        "PCATransformer must be the last one",
    ]
    assert [str(note) for note in checked.notes] == [
        "$.sequential_pipeline[0].random_seed: accepted, no effect here: the principal components are computed "
        "exactly here (no randomised solver)"
    ]


def _scene_file(folder: Path, *, seed: int) -> Path:
    """A synthetic tile with extra dimensions ``height`` and ``twin`` (correlated; NaN at a tenth
    of the points) and ``noise``."""
    las = generate_urban_scene(seed=seed, size_m=20.0)
    rng = np.random.default_rng(seed)
    height = np.asarray(las.z) - np.asarray(las.z).min()
    twin = 2.0 * height + rng.normal(scale=0.3, size=len(height))
    twin[rng.random(len(twin)) < 0.1] = np.nan
    extra = {"height": height, "twin": twin, "noise": rng.normal(size=len(height))}
    return write_with_extra_dims(las, extra, folder / f"scene_{seed}.las")


def test_a_forest_trained_on_principal_components_imputes_and_projects_a_new_cloud(tmp_path, caplog, monkeypatch):
    train, test = _scene_file(tmp_path, seed=1), _scene_file(tmp_path, seed=2)
    pca = {
        "feature_transformer": "PCATransformer",
        "fnames": ["height", "twin"],
        "out_dim": 0.95,
        "report_path": "*pca_projection.log",
        "plot_path": "*pca_projection.svg",
    }
    steps = [
        TWO_CLASS_MAPPING,
        {"imputer": "UnivariateImputer", "fnames": ["AUTO"]},
        pca,
        {"train": "RandomForestClassifier", "fnames": ["AUTO"], "random_seed": 3, "model_args": {"n_estimators": 4}},
        {"writer": "PredictiveModelWriter", "out_model": "*model/forest.model"},
    ]
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        state = run_steps(tmp_path, "train", [train], "out", steps)
    assert "PCATransformer (components explaining 0.95 of the variance): 1 components of height, twin" in caplog.text
    model = tmp_path / "out" / "model" / "forest.model"
    meta = read_metadata(model)
    assert meta["format_version"] == 3 and meta["feature_names"] == ["noise", "PCA_1"]
    assert meta["projection"]["inputs"] == ["height", "twin"]
    assert state.facts.trainings[0].feature_transformers[0]["kept"] == ["noise", "PCA_1"]
    report = (tmp_path / "out" / "pca_projection.log").read_text().splitlines()
    assert report[2] == "COMPONENT, EXPLAINED VAR. (%), CUMULATIVE (%), KEPT" and report[3].endswith("yes")
    assert (tmp_path / "out" / "pca_projection.svg").read_text().lstrip().startswith("<?xml")
    bundle = load_bundle(model)
    assert bundle.computed_features == ["noise", "height", "twin"]
    cloud = laspy.read(test)
    raw = np.column_stack([np.asarray(cloud[name], dtype=np.float64) for name in ("noise", "height", "twin")])
    fills = {name: fill for imputer in bundle.imputers for name, fill in zip(imputer.fnames, imputer.fills)}
    raw[:, 2] = np.where(np.isnan(raw[:, 2]), fills["twin"], raw[:, 2])
    expected = np.argmax(
        bundle.model.predict_proba(bundle.normalizer.transform(bundle.projection.apply(raw.astype(np.float32)))), axis=1
    )
    assert_loaded_model_predicts(tmp_path, model, test, expected)  # a Dask worker projects as the driver does
    monkeypatch.setattr(model_file, "FORMAT_VERSION", 2)  # a vl3d_focal with imputers but no projection
    with pytest.raises(DataError, match="written in model format 3 by vl3d_focal .*reads formats 1..2: upgrade"):
        check_metadata(meta, path=model)


def test_a_forest_after_a_pca_of_an_integer_out_dim_learns_from_that_many_components(tmp_path, caplog):
    pca = {"feature_transformer": "PCATransformer", "fnames": ["height", "twin", "noise"], "out_dim": 2}
    forest = {
        "train": "RandomForestClassifier",
        "fnames": ["AUTO"],
        "random_seed": 3,
        "model_args": {"n_estimators": 2},
    }
    steps = [TWO_CLASS_MAPPING, {"imputer": "UnivariateImputer", "fnames": ["AUTO"]}, pca, forest]
    with caplog.at_level(logging.INFO, logger="vl3d_focal"):
        state = run_steps(tmp_path, "train", [_scene_file(tmp_path, seed=1)], "out", steps)
    assert "PCATransformer (2 components): 2 components of height, twin, noise" in caplog.text
    assert state.facts.trainings[0].feature_transformers[0]["kept"] == ["PCA_1", "PCA_2"]
    assert json.dumps(state.bundle.projection.to_config()["out_dim"]) == "2"  # an integer, kept with the model


def test_vl3d_s_own_pca_pipeline_validates():
    path = Path(__file__).parent / "specs" / "vl3d" / "adapted" / "mine_transform_and_train_pipeline_pca.json"
    issues = [str(i) for i in check_spec(json.loads(path.read_text()), file=str(path), check_files=False).issues]
    assert issues == []
    assert validate_spec(json.loads(path.read_text()), check_files=False) == []


def test_vl3d_s_own_pca_pipeline_runs(tmp_path, restore_logging):
    """Two synthetic 2.4 m "trees" mined at 5, 10 and 20 cm, NaN filled with training means, the
    21 features projected on the components explaining 99 % of their variance, a tuned forest."""
    from helpers import write_vl3d_cloud

    from vl3d_focal.cli import main

    for name, seed in (("leafwood_train", 0), ("leafwood_test_a", 1)):
        write_vl3d_cloud(tmp_path / "data" / f"{name}.laz", classes="leafwood", seed=seed, scale=0.1)
    spec = tmp_path / "pca.json"
    adapted = Path(__file__).parent / "specs" / "vl3d" / "adapted" / "mine_transform_and_train_pipeline_pca.json"
    spec.write_text(adapted.read_text(), encoding="utf-8")
    assert main(["run", str(spec)]) == 0
    out = tmp_path / "out" / "transform_pca"
    meta = read_metadata(out / "QuePet_BR01_RF.model")
    assert meta["format_version"] == 3 and meta["feature_names"][0] == "PCA_1"
    assert len(meta["projection"]["inputs"]) == 21 == len(meta["projection"]["variances"])
    kept = [line for line in (out / "QuePet_BR01_pca_projection.log").read_text().splitlines() if line.endswith("yes")]
    assert len(kept) == len(meta["feature_names"]) and float(kept[-1].split(", ")[2]) > 99.0
    assert (out / "QuePet_BR01_pca_projection.svg").is_file()


def test_a_pointnet_learns_from_principal_components_and_predicts_them_in_memory_and_streamed(tmp_path):
    from helpers import tiny_pointnet_args

    train, test = _scene_file(tmp_path, seed=4), _scene_file(tmp_path, seed=5)
    steps = [
        TWO_CLASS_MAPPING,
        {"imputer": "UnivariateImputer"},
        {"feature_transformer": "PCATransformer", "out_dim": 1.0, "whiten": True},
        {"train": "PointNetPwiseClassifier", "fnames": ["AUTO"], "random_seed": 1, "model_args": tiny_pointnet_args(2)},
        {"writer": "PredictiveModelWriter", "out_model": "*model/pnet.keras"},
    ]
    run_steps(tmp_path, "train", [train], "out", steps)
    model = tmp_path / "out" / "model" / "pnet.keras"
    bundle = load_bundle(model)
    assert bundle.feature_names == ["PCA_1", "PCA_2", "PCA_3"] and bundle.normalizer.center.shape == (3,)
    results = []
    for chunk_points in (None, 1000):  # in memory, then streamed tile by tile (other fields)
        loader = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": chunk_points}
        state = run_steps(tmp_path, "predict", [test], f"pred_{chunk_points}", [loader])
        results.append(np.concatenate([p for _, _, _, p in state.clouds[0].result.iter_chunks()]))
    assert results[0].shape == results[1].shape == (len(laspy.read(test).points), 2)
    assert np.isfinite(results[0]).all() and np.isfinite(results[1]).all()
    assert np.mean(results[0].argmax(axis=1) == results[1].argmax(axis=1)) > 0.9
