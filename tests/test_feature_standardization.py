"""VL3D's Standardizer: its fit against scikit-learn's StandardScaler, composed standardisations,
and a PCATransformer after it whose saved projection, applied to the features as computed,
equals scikit-learn's PCA of the standardised training features."""

from __future__ import annotations

import logging
from dataclasses import replace

import laspy
import numpy as np
import pytest
from helpers import TWO_CLASS_MAPPING, run_steps, write_with_extra_dims
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from vl3d_focal.data.feature_standardization import Standardization, Standardizer
from vl3d_focal.data.pca_projection import PCATransformer
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.models.model_file import load_bundle, read_metadata

NAMES = ["a", "b", "c", "flat"]


def _data(seed: int = 0, n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, 4)) * np.array([10.0, 0.5, 3.0, 0.0]) + np.array([4.0, -1.0, 50.0, 7.0])
    values[:, 2] += 0.8 * values[:, 0]
    return values


@pytest.mark.parametrize(("center", "scale"), [(True, True), (False, True), (True, False)])
def test_the_fit_is_scikit_learn_s_standard_scaler(center, scale):
    values = _data()
    out, fitted = Standardizer(center=center, scale=scale).fit(values, NAMES)
    reference = StandardScaler(with_mean=center, with_std=scale).fit(values)
    np.testing.assert_allclose(out, reference.transform(values), rtol=1e-12, atol=1e-12)
    assert list(fitted.offsets) == NAMES and fitted.scales["flat"] == 1.0  # a constant feature is only centred


def test_it_standardises_only_its_fnames_and_compositions_add_up():
    values = _data()
    out, first = Standardizer(("c", "a")).fit(values, NAMES)
    np.testing.assert_array_equal(out[:, [1, 3]], values[:, [1, 3]])
    assert list(first.offsets) == ["a", "c"]
    twice, second = Standardizer(("a",), center=False).fit(out, NAMES)
    both = first.then(second)
    np.testing.assert_allclose(twice[:, 0], (values[:, 0] - both.offsets["a"]) / both.scales["a"], rtol=1e-12)
    assert both.offsets["c"] == first.offsets["c"] and Standardization().then(first) == first


def test_a_projection_of_standardised_features_unfolds_into_one_of_the_features_as_computed():
    values = _data()
    out, fitted = Standardizer(("a", "b", "c")).fit(values, NAMES)
    pca = PCATransformer(("a", "b", "c"), out_dim=1.0, whiten=True).fit(out, NAMES)
    mean, components = fitted.unfold(pca.inputs, np.asarray(pca.mean), np.asarray(pca.components))
    unfolded = replace(pca, mean=tuple(mean), components=tuple(map(tuple, components)))
    np.testing.assert_allclose(unfolded.project(values[:, :3]), pca.project(out[:, :3]), rtol=1e-5, atol=1e-5)


def _scene(folder, *, seed: int):
    las = generate_urban_scene(seed=seed, size_m=20.0)
    rng = np.random.default_rng(seed)
    height = np.asarray(las.z) - np.asarray(las.z).min()
    extra = {"height": 100.0 * height, "twin": height + rng.normal(scale=0.3, size=len(height))}
    extra["noise"] = rng.normal(size=len(height))
    return write_with_extra_dims(las, extra, folder / f"scene_{seed}.las")


def test_a_forest_after_a_standardizer_and_a_pca_keeps_the_pca_of_standardised_features(tmp_path):
    train = _scene(tmp_path, seed=1)
    fnames = ["height", "twin", "noise"]
    steps = [
        TWO_CLASS_MAPPING,
        {"feature_transformer": "Standardizer", "fnames": ["AUTO"], "report_path": "*standardization.log"},
        {"feature_transformer": "PCATransformer", "fnames": ["AUTO"], "out_dim": 1.0},
        {"train": "RandomForestClassifier", "fnames": fnames, "random_seed": 3, "model_args": {"n_estimators": 4}},
        {"writer": "PredictiveModelWriter", "out_model": "*model/forest.model"},
    ]
    state = run_steps(tmp_path, "train", [train], "out", steps)
    model = tmp_path / "out" / "model" / "forest.model"
    assert read_metadata(model)["feature_names"] == ["PCA_1", "PCA_2", "PCA_3"]
    assert [fact["transformer"] for fact in state.facts.trainings[0].feature_transformers] == [
        "Standardizer (centred and scaled)",
        "PCATransformer (components explaining all of the variance)",
    ]
    cloud = laspy.read(train)
    raw = np.column_stack([np.asarray(cloud[name], dtype=np.float64) for name in fnames])
    labelled = raw[np.isin(np.asarray(cloud.classification), [2, 3, 4, 5, 6, 64, 68])]
    reference = PCA().fit(StandardScaler().fit_transform(labelled))
    projected = load_bundle(model, with_model=False).projection.project(labelled).astype(np.float64)
    expected = reference.transform(StandardScaler().fit_transform(labelled))
    signs = np.sign(np.sum(projected * expected, axis=0))  # each axis is defined up to its sign
    np.testing.assert_allclose(projected, expected * signs, rtol=1e-3, atol=1e-3)
    report = (tmp_path / "out" / "standardization.log").read_text().splitlines()
    assert report[2] == "FEATURE, OFFSET (MEAN), SCALE (STANDARD DEVIATION)"
    assert [line.split(", ")[0] for line in report[3:]] == fnames
    assert float(report[3].split(", ")[2]) == pytest.approx(labelled[:, 0].std(), rel=1e-5)


def test_unit_variances_are_not_above_a_threshold_of_one_whatever_their_rounding():
    from vl3d_focal.data.feature_selection import FeatureSelector, select_features

    standardised, _ = Standardizer().fit(_data()[:, :3], NAMES[:3])
    selector = FeatureSelector("VarianceSelector", threshold=0.5)
    assert select_features(standardised, None, NAMES[:3], selector).kept == ("a", "b", "c")
    with pytest.raises(DataError, match="keep no feature"):
        select_features(standardised, None, NAMES[:3], replace(selector, threshold=1.0))


def _forest_steps(*transformers: dict, **train) -> list[dict]:
    forest = {"train": "RandomForestClassifier", "random_seed": 3, "model_args": {"n_estimators": 2}}
    return [TWO_CLASS_MAPPING, *transformers, {**forest, "fnames": ["height", "twin", "noise"], **train}]


def test_a_transformer_naming_a_feature_a_selector_dropped_says_which_one(tmp_path):
    kbest = {"feature_transformer": "KBestSelector", "k": 2}
    pca = {"feature_transformer": "PCATransformer", "fnames": ["noise", "height"]}
    with pytest.raises(DataError) as raised:
        run_steps(tmp_path, "train", [_scene(tmp_path, seed=1)], "out", _forest_steps(kbest, pca))
    assert str(raised.value) == (
        "PCATransformer (components explaining 0.99 of the variance): 'noise' dropped by the KBestSelector (the 2 "
        "features of highest classification F-value) before it; name only features it keeps"
    )


def test_a_cloud_normalization_of_a_projected_feature_is_a_warning(tmp_path, caplog):
    pca = {"feature_transformer": "PCATransformer", "fnames": ["height", "twin"], "out_dim": 1.0}
    steps = _forest_steps(pca, cloud_normalization={"twin": {"method": "robust"}})
    with caplog.at_level(logging.WARNING, logger="vl3d_focal"):
        run_steps(tmp_path, "train", [_scene(tmp_path, seed=1)], "out", steps)
    assert "cloud_normalization of twin not applied: the feature transformers before the train step dropped or " in (
        caplog.text
    )
    assert "projected it (the model learns from noise, PCA_1, PCA_2)" in caplog.text


def test_transformers_before_a_model_of_no_features_are_an_error():
    from vl3d_focal.training.transformation import transformed_features

    with pytest.raises(DataError, match=r"learns from no feature \(fnames is empty\)"):
        transformed_features([], feature_names=[], transformers=[Standardizer()])


def test_a_writer_after_a_transformer_and_a_standardizer_that_changes_nothing_are_notes():
    from vl3d_focal.config import check_spec

    steps = [
        {"feature_transformer": "Standardizer", "center": False, "scale": False},
        {"writer": "Writer", "out_pcloud": "*cloud.laz"},
        {"train": "RandomForestClassifier", "fnames": ["AUTO"], "model_args": {}},
    ]
    doc = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps}
    assert [str(note) for note in check_spec(doc, check_files=False).notes] == [
        "$.sequential_pipeline[0]: accepted, no effect here: with center and scale false, a Standardizer leaves its "
        "features unchanged",
        "$.sequential_pipeline[1]: accepted, no effect here: the feature transformers before it, on what it writes: "
        "it writes the features as computed (VL3D writes them as chosen or projected); a transformer acts on the "
        "models trained after it",
    ]


def test_a_transformer_report_that_two_train_steps_would_write_is_a_validation_error():
    from vl3d_focal.config import check_spec

    forest = {"train": "RandomForestClassifier", "fnames": ["AUTO"], "model_args": {}}
    steps = [{"feature_transformer": "KBestSelector", "k": 1, "report_path": "*kbest.log"}, forest, forest]
    doc = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps}
    assert [str(issue) for issue in check_spec(doc, check_files=False).issues] == [
        "$.sequential_pipeline[0].report_path: each of the 2 train steps after it fits it and writes its report_path, "
        "the last one over the others; with several train steps after it, leave report_path out"
    ]
    doc["sequential_pipeline"] = steps[:2]
    assert check_spec(doc, check_files=False).issues == []
