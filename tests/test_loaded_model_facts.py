"""What a run that predicts with a loaded model records of it: its input features, imputers and the
feature transformers it applies (report.json, report.html, ``vl3d-focal compare``)."""

from __future__ import annotations

import json

import laspy
import numpy as np
import pytest
from helpers import TWO_CLASS_MAPPING, run_steps, write_with_extra_dims

from vl3d_focal.data.normalization import FeatureNormalizer
from vl3d_focal.data.pca_projection import PCATransformer
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.models.model_file import read_metadata
from vl3d_focal.reports.compare import compare_runs
from vl3d_focal.reports.compare_text import format_comparison
from vl3d_focal.steps.facts import model_transform_facts

FEATURES = ["height", "noise", "intensity"]
LABELLED_CODES = [2, 3, 4, 5, 6, 64, 68]
EVALUATOR = {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"}


def _scene(folder, *, seed: int):
    las = generate_urban_scene(seed=seed, size_m=20.0)
    height = np.asarray(las.z) - np.asarray(las.z).min()
    noise = np.random.default_rng(seed).normal(size=len(height))
    return write_with_extra_dims(las, {"height": height, "noise": noise}, folder / f"scene_{seed}.las")


def _robust(values: np.ndarray) -> dict[str, float]:
    """The normaliser's standardisation of ``values``, in float64: median and IQR / 1.349 (the
    standard deviation where the IQR is 0)."""
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    return {"center": float(q50), "scale": float((q75 - q25) / 1.349 if q75 > q25 else values.std())}


@pytest.fixture()
def runs(tmp_path):
    """A forest trained after an imputer and a MinmaxNormalizer (explicit bounds: a forest keeps
    them), intensities scaled per cloud, written to a model file; then a run that loads it."""
    (tmp_path / "test").mkdir()
    train, test = _scene(tmp_path, seed=1), _scene(tmp_path / "test", seed=2)
    imputer = {"imputer": "UnivariateImputer", "fnames": ["noise"], "target_val": 0, "strategy": "median"}
    minmax = {"feature_transformer": "MinmaxNormalizer", "fnames": ["noise", "height"], "minmax": [[-1, 1], [0, 2]]}
    forest = {
        "train": "RandomForestClassifier",
        "fnames": FEATURES,
        "random_seed": 3,
        "cloud_normalization": {"intensity": {"method": "percentile", "percentile": 99}},
        "model_args": {"n_estimators": 2},
    }
    writer = {"writer": "PredictiveModelWriter", "out_model": "*model/f.model"}
    steps = [TWO_CLASS_MAPPING, imputer, minmax, forest, writer, {"predict": "PreviousModel"}, EVALUATOR]
    run_steps(tmp_path, "train", [train], "trained", steps)
    model = tmp_path / "trained" / "model" / "f.model"
    loader = {"predict": "ModelLoader", "model_path": str(model)}
    run_steps(tmp_path, "predict", [test], "loaded", [loader, EVALUATOR])
    return tmp_path, train, model


def test_the_run_record_lists_the_loaded_model_s_features_imputers_and_transformers(runs):
    root, train, model = runs
    record = json.loads((root / "loaded" / "report.json").read_text())
    loaded, meta = record["loaded_models"][0], read_metadata(model)
    assert loaded["feature_names"] == meta["feature_names"] == FEATURES
    trained = json.loads((root / "trained" / "report.json").read_text())["trainings"][0]
    assert trained["feature_names"] == FEATURES and loaded["imputers"] == trained["imputers"]
    assert loaded["imputers"] == [
        {
            "imputer": "UnivariateImputer",
            "fnames": ["noise"],
            "target_val": 0.0,
            "strategy": "median",
            "fills": {"noise": meta["imputers"][0]["fills"][0]},
        }
    ]
    transformers = loaded["feature_transformers"]
    assert trained["model_transformers"] == transformers  # the trained run's record says it alike
    assert [fact["transformer"] for fact in transformers] == [
        "cloud_normalization",
        "MinmaxNormalizer (clip)",
        "robust standardization",
    ]
    assert transformers[0]["values"] == {"intensity": "percentile 99"}
    assert sorted(transformers[1]["considered"]) == ["height", "noise"]
    assert transformers[1]["values"] == {"height": [0.0, 2.0], "noise": [-1.0, 1.0]}
    standard = transformers[2]["values"]
    assert list(standard) == FEATURES and transformers[2]["kept"] == FEATURES
    las = laspy.read(train)
    labelled = np.isin(np.asarray(las.classification), LABELLED_CODES)
    height = np.clip(np.asarray(las["height"], dtype=np.float64)[labelled], 0.0, 2.0)
    assert standard["height"] == pytest.approx(_robust(height), rel=1e-6)  # fitted on the clipped heights
    intensity = np.asarray(las.intensity, dtype=np.float64)
    scaled = intensity[labelled] / np.percentile(intensity, 99)  # per cloud, from all of its points
    assert standard["intensity"] == pytest.approx(_robust(scaled), rel=1e-6)


def test_the_html_report_shows_the_loaded_model_s_inputs(runs):
    root, _, model = runs
    html = (root / "loaded" / "report.html").read_text()
    fill = read_metadata(model)["imputers"][0]["fills"][0]
    assert "Loaded model" in html and "loaded from <a href=" in html
    assert "<h3>Input features</h3><p>3 features, in order: <code>height</code>, <code>noise</code>" in html
    assert "<h3>Imputers</h3>" in html and f"median: noise {fill:.6g}" in html
    assert "<h3>Feature transformers</h3>" in html and "fitted values" in html
    assert "MinmaxNormalizer (clip)" in html and "height [0, 2]" in html and "intensity percentile 99" in html
    trained = (root / "trained" / "report.html").read_text()
    assert "<h3>Input features</h3><p>3 features" in trained and "<h3>Applied by the model</h3>" in trained
    applied = trained.split("<h3>Applied by the model</h3>")[1]
    assert "fitted values" in applied and "height [0, 2]" in applied and "intensity percentile 99" in applied


def test_compare_gives_the_features_of_the_trained_and_the_loaded_run(runs):
    root, _, _ = runs
    comparison = compare_runs([root / "trained", root / "loaded"])
    same = "3 features; per-cloud scaling, MinmaxNormalizer, robust standardization"  # the same model, described alike
    assert [run["features"] for run in comparison["runs"]] == [same, same]
    lines = format_comparison(comparison, style="md").splitlines()
    loaded = next(line for line in lines if line.startswith("| loaded |"))  # after the rare classes' headline
    assert loaded.startswith(f"| loaded | finished | RandomForestClassifier (loaded f.model) | {same} | ")
    assert [run["seed"] for run in comparison["runs"]] == [3, None]  # a loaded model's record keeps no seed


def test_a_projection_is_listed_with_its_clipped_inputs_and_explained_variance():
    projection = PCATransformer(
        out_dim=1,
        inputs=("b", "c"),
        mean=(0.0, 0.0),
        components=((1.0, 0.0),),
        variances=(3.0, 1.0),
        clip=(("b", -1.0, 1.0),),
    )
    normalizer = FeatureNormalizer(fnames=["a", "PCA_1"], center=[1.0, 0.0], scale=[2.0, 1.0])
    bundle = ModelBundle(
        model=None,
        feature_names=["a", "PCA_1"],
        normalizer=normalizer,
        field_spec=None,
        mapping=None,
        class_names=[],
        projection=projection,
    )
    facts = model_transform_facts(bundle)
    assert facts[:2] == [
        {
            "transformer": "MinmaxNormalizer (clip)",
            "considered": ["b"],
            "kept": ["b", "c"],
            "values": {"b": [-1.0, 1.0]},
        },
        {
            "transformer": "PCATransformer (1 component)",
            "considered": ["b", "c"],
            "kept": ["a", "PCA_1"],
            "values": {"PCA_1": 0.75},
        },
    ]
    assert facts[2]["values"] == {"a": {"center": 1.0, "scale": 2.0}, "PCA_1": {"center": 0.0, "scale": 1.0}}
