"""VL3D's ClassificationUncertaintyEvaluator: the measures against NumPy, the LAS report and the
figures of a pipeline in memory and streamed, and its validation."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.records import CloudRecord, InMemoryPredictions
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.inference import uncertainty
from vl3d_focal.inference.uncertainty_output import Clustering, UncertaintyOptions, evaluate_uncertainty
from vl3d_focal.io.las import PointCloud
from vl3d_focal.runner.pipeline import execute_pipeline
from vl3d_focal.steps import uncertainty_evaluator

Z = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.3, 0.3, 0.4]])
CODES = [2, 3, 4, 3, 7, 4]  # reference classes a, b, c, b, none (ignored code), c
MAPPING = ClassMapping.from_spec(
    {
        "classes": [{"name": "a", "codes": [2]}, {"name": "b", "codes": [3]}, {"name": "c", "codes": [4]}],
        "ignore_codes": [7],
    }
)
MEASURES = ("PointWiseEntropy", "WeightedEntropy", "ClassAmbiguity")


def _entropy(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The formula, term by term (0 log 0 = 0)."""
    return np.array([-sum(w[j] * p * np.log2(p) for j, p in enumerate(row) if p > 0) for row in z])


def _ambiguity(z: np.ndarray) -> np.ndarray:
    ordered = np.sort(z, axis=1)[:, ::-1]
    return 1.0 - ordered[:, 0] + ordered[:, 1]


def test_measures_equal_their_formulas():
    np.testing.assert_allclose(uncertainty.pointwise_entropy(Z), _entropy(Z, np.ones(3)), atol=1e-12)
    assert uncertainty.pointwise_entropy(Z)[0] == 0.0 and np.isclose(uncertainty.pointwise_entropy(Z)[1], 1.0)
    weights = uncertainty.class_weights(np.array([1, 2, 2]))
    np.testing.assert_allclose(weights, [0.8, 0.6, 0.6])
    np.testing.assert_allclose(uncertainty.weighted_entropy(Z, weights), _entropy(Z, weights), atol=1e-12)
    np.testing.assert_allclose(uncertainty.class_ambiguity(Z), _ambiguity(Z), atol=1e-12)
    assert uncertainty.class_ambiguity(Z)[[0, 1]].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("reduce", list(uncertainty.REDUCE_FUNCTIONS))
def test_cluster_entropy_reduces_each_cluster(reduce):
    entropy = np.array([0.1, 0.9, 0.4, 0.2, 0.7, 0.3])
    labels = np.array([0, 1, 0, 1, 1, 2])
    reference = {
        "mean": np.mean,
        "median": np.median,
        "Q1": lambda v: np.quantile(v, 0.25),
        "Q3": lambda v: np.quantile(v, 0.75),
        "min": np.min,
        "max": np.max,
    }[reduce]
    expected = [reference(entropy[labels == label]) for label in labels]
    np.testing.assert_allclose(uncertainty.cluster_entropy(entropy, labels, reduce=reduce), expected)


def test_clusters_split_apart_points():
    features = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0], [20.0, 0.0]])
    labels = uncertainty.cluster_labels(features, num_clusters=3, max_iter=32, batch_size=8)
    assert labels[0] == labels[1] and labels[2] == labels[3] and len(set(labels.tolist())) == 3


def _record(tmp_path: Path, codes: list[int], z: np.ndarray = Z) -> CloudRecord:
    las = laspy.create(point_format=6, file_version="1.4")
    las.x, las.y, las.z = np.arange(len(codes), dtype=float), np.zeros(len(codes)), np.zeros(len(codes))
    las.classification = codes
    path = tmp_path / "cloud.las"
    las.write(path)
    record = CloudRecord(path=path, cloud=PointCloud.from_las(laspy.read(path), path=path), prefix="")
    record.result = InMemoryPredictions(record.cloud, z)
    return record


@pytest.mark.parametrize(
    ("ignore", "by_predictions", "kept", "counts"),
    [
        ((), False, [0, 1, 2, 3, 4, 5], [1, 2, 2]),  # the reference classes (the point of no class left aside)
        ((), True, [0, 1, 2, 3, 4, 5], [3, 1, 2]),  # the predictions (argmax; the 0.5/0.5 tie: the first)
        ((1,), False, [0, 2, 4, 5], [1, 0, 2]),  # b ignored: its points left out
    ],
)
def test_the_report_holds_the_measures_of_the_kept_points(tmp_path, ignore, by_predictions, kept, counts):
    options = UncertaintyOptions(["a", "b", "c"], ignore=ignore, weight_by_predictions=by_predictions)
    found = evaluate_uncertainty(
        _record(tmp_path, CODES), mapping=MAPPING, options=options, report_path=tmp_path / "u.laz"
    )
    written = laspy.read(tmp_path / "u.laz")
    z = Z[kept]
    np.testing.assert_allclose(np.column_stack([written[name] for name in "abc"]), z, atol=1e-7)
    np.testing.assert_allclose(written["PointWiseEntropy"], _entropy(z, np.ones(3)), atol=1e-6)
    np.testing.assert_allclose(
        written["WeightedEntropy"], _entropy(z, uncertainty.class_weights(np.array(counts))), atol=1e-6
    )
    np.testing.assert_allclose(written["ClassAmbiguity"], _ambiguity(z), atol=1e-6)
    reference = np.array([0, 1, 2, 1, 255, 2])[kept]  # a point of no class: the format's highest code
    predicted = np.argmax(z, axis=1)
    assert np.asarray(written.classification).tolist() == reference.tolist()
    assert np.asarray(written["Prediction"]).tolist() == predicted.tolist()
    # VL3D's y == yhat: 0 also for the point of no class
    assert np.asarray(written["Success"]).tolist() == (reference == predicted).astype(int).tolist()
    assert found.summary["points"] == len(kept)
    assert np.isclose(found.summary["mean_entropy"], _entropy(z, np.ones(3)).mean())
    assert np.isclose(found.summary["mean_ambiguity"], _ambiguity(z).mean())


@pytest.mark.parametrize(
    ("mapping", "codes", "reference", "values"),
    [
        # no class step, the cloud's codes (raw_codes): the codes, a point of an ignored code keeps it
        (
            ClassMapping.from_codes(np.array([2, 5, 6]), ignore_codes=[7]),
            [2, 5, 6, 5, 7, 6],
            [2, 5, 6, 5, 7, 6],
            [2, 5, 6],
        ),
        # no class step, VL3D's classification values 0..C-1: the values
        (ClassMapping.from_values(["a", "b", "c"]), [0, 1, 2, 1, 0, 2], [0, 1, 2, 1, 0, 2], [0, 1, 2]),
    ],
)
def test_without_class_step_the_report_writes_the_cloud_s_values(tmp_path, mapping, codes, reference, values):
    options = UncertaintyOptions(list(mapping.names))
    evaluate_uncertainty(_record(tmp_path, codes), mapping=mapping, options=options, report_path=tmp_path / "u.laz")
    written = laspy.read(tmp_path / "u.laz")
    predicted = np.array(values)[np.argmax(Z, axis=1)]
    assert np.asarray(written.classification).tolist() == reference
    assert np.asarray(written["Prediction"]).tolist() == predicted.tolist()
    assert np.asarray(written["Success"]).tolist() == (np.array(reference) == predicted).astype(int).tolist()


def test_a_cloud_without_reference_classes_weighs_by_the_predictions(tmp_path):
    options = UncertaintyOptions(["a", "b", "c"], include_probabilities=False)
    found = evaluate_uncertainty(
        _record(tmp_path, [7] * 6), mapping=MAPPING, options=options, report_path=tmp_path / "u.laz"
    )
    written = laspy.read(tmp_path / "u.laz")
    assert list(written.point_format.extra_dimension_names) == ["Prediction", *MEASURES]  # no Success, no a b c
    np.testing.assert_allclose(
        written["WeightedEntropy"], _entropy(Z, uncertainty.class_weights(np.array([3, 1, 2]))), atol=1e-6
    )
    assert found.reference is None and found.summary["weights_by"] == "predictions"


def test_predictions_without_probabilities_are_a_clear_error(tmp_path):
    record = _record(tmp_path, CODES)

    class Classes:
        num_classes = 3

        def iter_chunks(self):
            yield 0, record.cloud.las.points, np.zeros(6, dtype=np.int64), None

    record.result = Classes()
    with pytest.raises(DataError, match="have no class probabilities"):
        evaluate_uncertainty(record, mapping=MAPPING, options=UncertaintyOptions(["a", "b", "c"]), report_path=None)


UNCERTAINTY = {
    "eval": "ClassificationUncertaintyEvaluator",
    "ignore_classes": ["pole"],
    "report_path": "*uncertainty/uncertainty.laz",
    "plot_path": "*uncertainty/",
}
FOREST = {
    "train": "RandomForestClassifier",
    "random_seed": 3,
    "fnames": ["intensity", "return_number"],
    "model_args": {"num_classes": 5, "n_estimators": 6, "max_depth": 6},
}


def _run(folder: Path, name: str, steps: list[dict]):
    spec = {"in_pcloud": ["scene.las"], "out_pcloud": [f"{name}/*"], "sequential_pipeline": steps}
    (folder / f"{name}.json").write_text(json.dumps(spec), encoding="utf-8")
    return execute_pipeline(load_spec(folder / f"{name}.json"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A forest trained and its predictions evaluated in memory (with clusters), then its model
    file's predictions of the same cloud, streamed tile by tile."""
    folder = tmp_path_factory.mktemp("uncertainty")
    generate_urban_scene(seed=8, size_m=30.0).write(folder / "scene.las")
    mapping = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]}
    clusters = {"include_clusters": True, "num_clusters": 4, "clustering_entropy_weights": True}
    _run(
        folder,
        "memory",
        [
            mapping,
            FOREST,
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
            {"predict": "PreviousModel"},
            {**UNCERTAINTY, **clusters},
        ],
    )
    loader = {"predict": "ModelLoader", "model_path": "memory/model/model.keras", "chunk_points": 2000}
    state = _run(folder, "streamed", [loader, UNCERTAINTY])
    assert not state.clouds[0].loaded  # predicted and evaluated chunk by chunk from its file
    return folder, loader, clusters, state


def test_a_pipeline_writes_the_report_the_figures_and_the_run_summary(runs):
    folder = runs[0]
    written = laspy.read(folder / "memory/uncertainty/uncertainty.laz")
    names = [c["name"] for c in DEMO_CLASSES]
    assert list(written.point_format.extra_dimension_names) == [
        "Prediction",
        "Success",
        *names,
        "PointWiseEntropy",
        "WeightedEntropy",
        "ClusterLabel",
        "ClusterWiseEntropy",
        "ClassAmbiguity",
    ]
    z = np.column_stack([np.asarray(written[name], dtype=np.float64) for name in names])
    reference = np.asarray(written.classification)
    assert names.index("pole") not in set(reference.tolist())  # ignore_classes
    np.testing.assert_allclose(written["PointWiseEntropy"], _entropy(z, np.ones(5)), atol=1e-5)
    counts = np.bincount(reference[reference < 5], minlength=5)
    np.testing.assert_allclose(written["WeightedEntropy"], _entropy(z, uncertainty.class_weights(counts)), atol=1e-5)
    np.testing.assert_allclose(written["ClassAmbiguity"], _ambiguity(z), atol=1e-5)
    assert np.array_equal(np.asarray(written["Prediction"]), np.argmax(z, axis=1))
    success = (reference == np.asarray(written["Prediction"])).astype(int)
    assert np.array_equal(np.asarray(written["Success"]), success)
    entropy, labels = np.asarray(written["PointWiseEntropy"]), np.asarray(written["ClusterLabel"])
    assert 1 < len(set(labels.tolist())) <= 4
    expected = np.array([entropy[labels == label].max() for label in labels])  # the default reduce: max
    np.testing.assert_allclose(written["ClusterWiseEntropy"], expected, atol=1e-6)
    for figure in ("point_wise_entropy", "weighted_entropy", "cluster_wise_entropy", "class_ambiguity"):
        assert (folder / f"memory/uncertainty/{figure}_figure.svg").read_text().count("<svg") == 1
    [summary] = json.loads((folder / "memory/report.json").read_text())["uncertainties"]
    assert summary["summary"]["points"] == len(entropy) and len(summary["figures"]) == 4
    assert np.isclose(summary["summary"]["mean_entropy"], entropy.mean(), atol=1e-5)
    page = (folder / "memory/report.html").read_text()
    section = page[page.index('id="uncertainty"') :]
    assert f"{entropy.mean():.3f}" in section and 'href="uncertainty/uncertainty.laz"' in section
    assert all(f">{name}<" in section for name in names)  # the per-class entropies' columns


def test_a_model_of_the_cloud_s_codes_reports_codes(tmp_path, restore_logging):
    """A forest trained without class step on a cloud of codes 2, 5, 6: VL3D's report holds the
    cloud's codes as the reference and the codes its model learnt as the predictions."""
    las = generate_urban_scene(seed=8, size_m=20.0, density=2.0)
    table = np.full(256, 6, dtype=np.uint8)
    table[[2, 3, 4, 5]] = [2, 5, 5, 5]
    las.classification = table[np.asarray(las.classification)]
    las.write(tmp_path / "scene.las")
    forest = {**FOREST, "model_args": {"n_estimators": 2, "max_depth": 4, "n_jobs": 1}}
    step = {"eval": "ClassificationUncertaintyEvaluator", "report_path": "*uncertainty.laz"}
    state = _run(tmp_path, "raw", [forest, {"predict": "PreviousModel"}, step])
    assert state.bundle.mapping.raw_codes and state.bundle.class_names == ["class_2", "class_5", "class_6"]
    written = laspy.read(tmp_path / "raw/uncertainty.laz")
    z = np.column_stack([np.asarray(written[name], dtype=np.float64) for name in state.bundle.class_names])
    reference, predicted = np.asarray(written.classification), np.asarray(written["Prediction"])
    assert np.array_equal(reference, np.asarray(las.classification))
    assert np.array_equal(predicted, np.array([2, 5, 6])[np.argmax(z, axis=1)])
    assert np.array_equal(np.asarray(written["Success"]), (reference == predicted).astype(int))
    assert 0 < np.mean(written["Success"]) < 1


def test_clusters_of_a_model_with_a_projection_are_made_on_its_projected_features(runs):
    folder = runs[0]
    pca = {"feature_transformer": "PCATransformer", "out_dim": 1}
    clusters = {"include_clusters": True, "num_clusters": 3, "clustering_reduce_function": "mean"}
    mapping = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]}
    state = _run(folder, "pca", [mapping, pca, FOREST, {"predict": "PreviousModel"}, {**UNCERTAINTY, **clusters}])
    projection = state.bundle.projection
    assert state.bundle.feature_names == ["PCA_1"] and projection is not None
    written = laspy.read(folder / "pca/uncertainty/uncertainty.laz")
    raw = np.column_stack([np.asarray(written[name], dtype=np.float32) for name in projection.computed(["PCA_1"])])
    expected = uncertainty.cluster_labels(projection.apply(raw), num_clusters=3, max_iter=128, batch_size=4096)
    assert np.array_equal(np.asarray(written["ClusterLabel"]), expected)


def test_a_streamed_cloud_gives_the_same_report(runs):
    folder = runs[0]
    memory = laspy.read(folder / "memory/uncertainty/uncertainty.laz")
    streamed = laspy.read(folder / "streamed/uncertainty/uncertainty.laz")
    assert "ClusterLabel" not in streamed.point_format.extra_dimension_names
    for name in streamed.point_format.extra_dimension_names:
        np.testing.assert_allclose(streamed[name], memory[name], atol=1e-6, err_msg=name)
    assert np.array_equal(streamed.classification, memory.classification)
    assert (folder / "streamed/uncertainty/class_ambiguity_figure.svg").is_file()


def test_clusters_of_a_streamed_cloud_are_refused_at_validation_with_the_way_out(runs):
    folder, loader, clusters, _ = runs
    spec = {"in_pcloud": ["scene.las"], "out_pcloud": ["refused/*"], "sequential_pipeline": [loader]}
    [issue] = validate_spec({**spec, "sequential_pipeline": [loader, {**UNCERTAINTY, **clusters}]}, base_dir=folder)
    assert issue.path == "$.sequential_pipeline[1].include_clusters"
    assert "scene.las is predicted tile by tile" in issue.message
    assert "give that predict step chunk_points null" in issue.message
    in_memory = {**loader, "chunk_points": None}
    assert (
        validate_spec({**spec, "sequential_pipeline": [in_memory, {**UNCERTAINTY, **clusters}]}, base_dir=folder) == []
    )


def test_clusters_of_a_streamed_cloud_are_refused_at_the_run_too(runs):
    """Where validation cannot tell (a step before the predict step may read the cloud whole), the
    run refuses a cloud it streamed, with the same way out."""
    *_, clusters, state = runs
    with pytest.raises(DataError, match="give that predict step chunk_points null"):
        uncertainty_evaluator._clustering(clusters, state, state.clouds[0])


def _spec(step: dict) -> dict:
    return {
        "in_pcloud": ["scene.las"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 1, 7]},
            FOREST,
            {"predict": "PreviousModel"},
            {"eval": "ClassificationUncertaintyEvaluator", **step},
        ],
    }


@pytest.mark.parametrize(
    ("step", "path", "message"),
    [
        ({"clustering_reduce_function": "avg"}, "clustering_reduce_function", "unknown value 'avg'; expected one of"),
        ({"num_clusters": -1}, "num_clusters", "-1 is less than the minimum of 0"),
        ({"class_names": ["a", "b"]}, "class_names", "expected one name per class (5: ['ground', 'vegetation'"),
        (
            {"class_names": [c["name"] for c in reversed(DEMO_CLASSES)]},
            "class_names",
            "class_names names the predictions' classes by position, but lists them in another order",
        ),
        ({"ignore_classes": ["grund"]}, "ignore_classes[0]", "unknown class 'grund'"),
        ({"report_path": "*u.txt"}, "report_path", ""),
    ],
)
def test_validation_names_the_wrong_key(tmp_path, step, path, message):
    generate_urban_scene(seed=1, size_m=10.0, density=1.0).write(tmp_path / "scene.las")
    [issue] = validate_spec(_spec(step), base_dir=tmp_path)
    assert issue.path == f"$.sequential_pipeline[3].{path}" and message in issue.message


def test_vl3d_keys_validate(tmp_path):
    generate_urban_scene(seed=1, size_m=10.0, density=1.0).write(tmp_path / "scene.las")
    vl3d = {
        "class_names": [c["name"] for c in DEMO_CLASSES],
        "include_probabilities": True,
        "include_weighted_entropy": True,
        "include_clusters": True,
        "weight_by_predictions": False,
        "num_clusters": 10,
        "clustering_max_iters": 128,
        "clustering_batch_size": 1000000,
        "clustering_entropy_weights": True,
        "clustering_reduce_function": "mean",
        "gaussian_kernel_points": 256,
        "report_path": "*uncertainty/uncertainty.laz",
        "plot_path": "*uncertainty/",
    }
    assert validate_spec(_spec(vl3d), base_dir=tmp_path) == []


def test_a_figure_folder_without_the_prefix_mark_is_refused_for_several_clouds(tmp_path):
    for seed in (1, 2):
        generate_urban_scene(seed=seed, size_m=10.0, density=1.0).write(tmp_path / f"scene{seed}.las")
    spec = {**_spec({"plot_path": "uncertainty/"}), "in_pcloud": ["scene1.las", "scene2.las"]}
    [issue] = validate_spec(spec, base_dir=tmp_path)
    assert issue.path == "$.sequential_pipeline[3].plot_path"
    assert "would be written once per input cloud (2), each overwriting the last" in issue.message
    spec["sequential_pipeline"][3]["plot_path"] = "*uncertainty/"
    assert validate_spec(spec, base_dir=tmp_path) == []


def test_entropy_weights_of_sure_predictions_cluster_unweighted(tmp_path, caplog):
    """A forest of one tree: every probability 0 or 1, every entropy 0, no weight to cluster by."""
    record = _record(tmp_path, CODES, np.eye(3)[[0, 1, 2, 1, 0, 2]])
    clustering = Clustering(np.arange(6.0)[:, None], num_clusters=2, max_iter=8, batch_size=8, entropy_weights=True)
    options = UncertaintyOptions(["a", "b", "c"], clustering=clustering)
    found = evaluate_uncertainty(record, mapping=MAPPING, options=options, report_path=None)
    assert found.measures["ClusterWiseEntropy"].tolist() == [0.0] * 6
    assert "every point-wise entropy of" in caplog.text and "clustered unweighted" in caplog.text


def _issues(tmp_path: Path, step: dict, fnames: list[str] | None = None) -> list[tuple[str, str]]:
    generate_urban_scene(seed=1, size_m=10.0, density=1.0).write(tmp_path / "scene.las")
    spec = _spec(step)
    spec["sequential_pipeline"][1] = {**FOREST, "fnames": FOREST["fnames"] if fnames is None else fnames}
    return [
        (issue.path.removeprefix("$.sequential_pipeline[3]"), issue.message)
        for issue in validate_spec(spec, base_dir=tmp_path, strict=True)
    ]


VL3D_OFF = {
    "include_clusters": False,
    "num_clusters": 0,
    "clustering_max_iters": 0,
    "clustering_batch_size": 0,
    "clustering_reduce_function": None,
    "gaussian_kernel_points": 0,
    "plot_path": None,
}


def test_vl3d_settings_switched_off_validate_and_are_refused_where_used(tmp_path):
    assert _issues(tmp_path, VL3D_OFF) == []
    issues = _issues(tmp_path, {**VL3D_OFF, "include_clusters": True, "plot_path": "*u/"})
    assert {path for path, _ in issues} == {
        ".num_clusters",
        ".clustering_max_iters",
        ".clustering_batch_size",
        ".clustering_reduce_function",
        ".gaussian_kernel_points",
    }
    assert (".num_clusters", "include_clusters true needs num_clusters of at least 1; got 0") in issues


def test_validation_names_a_probability_clashing_with_a_las_dimension_and_a_plot_file(tmp_path):
    names = ["ground", "Red", *[c["name"] for c in DEMO_CLASSES][2:]]
    [(path, message)] = _issues(tmp_path, {"class_names": names})
    assert path == ".class_names[1]" and "'Red' is a standard LAS dimension" in message
    assert "include_probabilities false or give the class another name" in message
    assert _issues(tmp_path, {"class_names": names, "include_probabilities": False}) == []
    [(path, message)] = _issues(tmp_path, {"plot_path": "*uncertainty/plot.svg"})
    assert path == ".plot_path" and message.startswith("plot_path is a folder; '*uncertainty/plot.svg' would make")


def test_clusters_of_a_model_of_no_features_are_a_note(tmp_path):
    issues = _issues(tmp_path, {"include_clusters": True}, fnames=[])  # the forest's own error, and the note
    [message] = [message for path, message in issues if path == ".include_clusters"]
    assert message.startswith("accepted, no effect here: the model is trained on no features")
    assert _issues(tmp_path, {"include_clusters": True}) == []


def test_a_figure_names_the_cloud_and_unit_and_writes_its_text_as_text(tmp_path):
    from vl3d_focal.reports.uncertainty_figures import write_uncertainty_figures

    measures = {"PointWiseEntropy": np.array([0.2, 0.4, 0.9])}
    written = write_uncertainty_figures(
        measures, reference=None, predicted=np.array([0, 1, 1]), class_names=["a", "b"], folder=tmp_path, cloud="s.las"
    )
    svg = Path(written["PointWiseEntropy"]).read_text()
    assert "s.las: PointWiseEntropy (bits)" in svg and "no reference classes" in svg
    assert "each group normalised to 100 %" in svg
