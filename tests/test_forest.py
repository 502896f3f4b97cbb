"""RandomForestClassifier: NumPy evaluator against scikit-learn, safe model files, pipeline runs."""

from __future__ import annotations

import io
import json
import zipfile

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES
from sklearn.ensemble import RandomForestClassifier

from vl3d_focal.config import load_spec, validate_spec
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import DataError
from vl3d_focal.models.forest import MEMBER, ForestModel, build_random_forest, load_forest
from vl3d_focal.models.model_file import load_bundle, read_metadata
from vl3d_focal.runner.pipeline import execute_pipeline


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1] ** 2, [-0.5, 0.8, 2.5])  # 4 classes, the last one rare
    return x, y


@pytest.mark.parametrize(
    "args",
    [
        {"n_estimators": 7, "max_depth": None},
        {"n_estimators": 3, "max_depth": 3, "bootstrap": False, "max_features": None},
    ],
)
def test_numpy_forest_equals_scikit_learn(data, args):
    x, y = data
    forest = build_random_forest(random_seed=2, n_jobs=1, **args).fit(x[:2000], y[:2000])
    model = ForestModel.from_sklearn(forest, num_classes=4)
    np.testing.assert_allclose(model.predict_proba(x[2000:]), forest.predict_proba(x[2000:]), atol=1e-6)
    assert model.predict_proba(x).shape == (3000, 4)


def test_absent_class_gets_zero_probability(data):
    x, y = data
    keep = y != 2
    forest = RandomForestClassifier(n_estimators=4, random_state=0).fit(x[keep], y[keep])
    probabilities = ForestModel.from_sklearn(forest, num_classes=4).predict_proba(x)
    np.testing.assert_array_equal(probabilities[:, 2], 0.0)
    np.testing.assert_allclose(probabilities[:, [0, 1, 3]], forest.predict_proba(x), atol=1e-6)


def test_class_weights_are_honoured(data):
    x, y = data
    plain = build_random_forest(n_estimators=20, max_depth=4, random_seed=0).fit(x, y)
    weighted = build_random_forest(n_estimators=20, max_depth=4, class_weight=[1.0, 1.0, 1.0, 20.0], random_seed=0).fit(
        x, y
    )
    rare = y == 3
    assert weighted.get_params()["class_weight"] == {0: 1.0, 1: 1.0, 2: 1.0, 3: 20.0}
    assert (weighted.predict(x) == 3).sum() > (plain.predict(x) == 3).sum()
    assert (weighted.predict(x[rare]) == 3).mean() >= (plain.predict(x[rare]) == 3).mean()


def _archive(tmp_path, arrays: dict) -> str:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = tmp_path / "bad.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MEMBER, buffer.getvalue())
    return str(path)


def test_model_files_are_loaded_without_pickle_and_checked(tmp_path, data):
    x, y = data
    model = ForestModel.from_sklearn(RandomForestClassifier(n_estimators=2, random_state=0).fit(x, y), num_classes=4)
    model.save(tmp_path / "forest.keras")
    meta = {"feature_names": ["a", "b", "c", "d"], "class_names": ["0", "1", "2", "3"]}
    again = load_forest(tmp_path / "forest.keras", meta)
    np.testing.assert_array_equal(again.predict_proba(x), model.predict_proba(x))
    arrays = {name: getattr(model, name) for name in ("left", "right", "feature", "threshold", "value", "roots")}
    with pytest.raises(DataError, match="no readable forest.npz"):  # a pickled object array is refused
        load_forest(_archive(tmp_path, {**arrays, "num_features": np.array([object()], dtype=object)}), meta)
    loop = dict(arrays, left=np.where(arrays["left"] >= 0, 0, -1))  # children pointing back to the root
    with pytest.raises(DataError, match="child indices"):
        load_forest(_archive(tmp_path, {**loop, "num_features": np.int64(4)}), meta)
    with pytest.raises(DataError, match="expected a forest of 3 features"):
        load_forest(tmp_path / "forest.keras", {**meta, "feature_names": ["a", "b", "c"]})


def _spec(model_args: dict, *, chunk_points: int | None = None) -> dict:
    return {
        "in_pcloud": ["scene.las"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]},
            {"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity", "verticality", "linearity"]},
            {
                "train": "RandomForestClassifier",
                "random_seed": 3,
                "fnames": ["intensity", "height_above_ground", "planarity_k16", "verticality_k16", "linearity_k16"],
                "model_args": {"num_classes": 5, **model_args},
            },
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
            {"predict": "PreviousModel", "chunk_points": chunk_points},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
        ],
    }


def test_forest_trains_predicts_and_reloads_in_a_pipeline(tmp_path):
    generate_urban_scene(seed=8, size_m=40.0).write(tmp_path / "scene.las")
    spec_file = tmp_path / "forest.json"
    spec_file.write_text(json.dumps(_spec({"n_estimators": 12, "max_depth": 12, "class_weight": "balanced"})))
    state = execute_pipeline(load_spec(spec_file))
    evaluation = json.loads((tmp_path / "out/eval/evaluation.json").read_text())
    assert evaluation["OA"] > 0.9 and evaluation["per_class"]["vehicle"]["R"] > 0.3, evaluation["per_class"]
    weights = json.loads((tmp_path / "out/training/class_weights.json").read_text())
    assert (
        weights["class_weight_source"] == "model_args"
        and weights["class_weight"]["pole"] > 10 * weights["class_weight"]["ground"]
    )
    meta = read_metadata(tmp_path / "out/model/model.keras")
    assert meta["model_name"] == "RandomForestClassifier" and meta["field_spec"] is None
    with zipfile.ZipFile(tmp_path / "out/model/model.keras") as archive:
        assert sorted(archive.namelist()) == ["forest.npz", "vl3d_focal.json"]  # arrays and JSON, nothing else
    bundle = load_bundle(tmp_path / "out/model/model.keras")
    assert [r.names for r in bundle.miners] == [("planarity_k16", "verticality_k16", "linearity_k16")]
    predict = {
        "in_pcloud": ["scene.las"],
        "out_pcloud": ["streamed/*"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": "out/model/model.keras", "chunk_points": 4000},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
        ],
    }
    (tmp_path / "predict.json").write_text(json.dumps(predict))
    execute_pipeline(load_spec(tmp_path / "predict.json"))  # the cloud is streamed tile by tile from its file
    streamed = json.loads((tmp_path / "streamed/eval/evaluation.json").read_text())
    assert streamed["confusion_matrix"] == evaluation["confusion_matrix"]
    assert state.bundle.model_name == "RandomForestClassifier"


def test_forest_takes_no_loss_and_no_fields(tmp_path):
    generate_urban_scene(seed=8, size_m=20.0).write(tmp_path / "scene.las")
    assert validate_spec(_spec({"n_estimators": 3}), base_dir=tmp_path) == []
    wrong = _spec(
        {
            "n_estimators": 3,
            "compilation_args": {"loss": {"function": "categorical_crossentropy"}},
            "pre_processing": {"neighborhood": {"radius": 2.0}},
        }
    )
    messages = " ".join(i.message for i in validate_spec(wrong, base_dir=tmp_path))
    assert "compilation_args" in messages and "pre_processing" in messages, messages
    both = _spec({"class_weight": "balanced", "model_handling": {"class_weight": "balanced"}})
    assert [i.message for i in validate_spec(both, base_dir=tmp_path)] == [
        "class weights are given in model_handling.class_weight too; keep one"
    ]


def test_forest_writes_the_training_reports_asked_and_reports_its_own_class_weights(tmp_path):
    """The train step's training-cloud reports were silently not written for a forest, and the run
    report said its weights were "none" and listed a history it does not have."""
    from vl3d_focal.steps.dl_model_evaluator import run_dl_model_evaluator

    generate_urban_scene(seed=8, size_m=30.0).write(tmp_path / "scene.las")
    spec = _spec({"n_estimators": 5, "max_depth": 8, "class_weight": "balanced"}, chunk_points=None)
    spec["sequential_pipeline"][2].update(
        training_evaluation_report_path="*training_eval/evaluation.log",
        training_classified_point_cloud_path="*training_eval/classified.laz",
    )
    spec["sequential_pipeline"].append({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz"})
    (tmp_path / "forest.json").write_text(json.dumps(spec))
    state = execute_pipeline(load_spec(tmp_path / "forest.json"))
    assert "OA" in (tmp_path / "out/training_eval/evaluation.log").read_text()
    training = laspy.read(tmp_path / "out/training_eval/classified.laz")  # VL3D's ClassifiedPcloudReport
    predicted = np.asarray(laspy.read(tmp_path / "out/predicted.laz").classification)  # LAS codes
    scene = np.asarray(laspy.read(tmp_path / "scene.las").classification)
    np.testing.assert_array_equal(np.asarray(training.classification), scene)  # the reference is kept
    codes = np.array([DEMO_CLASSES[k]["codes"][0] for k in np.asarray(training["Prediction"])])
    np.testing.assert_array_equal(codes, predicted)  # the training cloud is the predicted one
    names = [entry["name"] for entry in DEMO_CLASSES]
    assert list(training.point_format.extra_dimension_names) == ["Prediction", "Success", *names]
    facts = state.facts.trainings[0]
    assert (facts.class_weight_spec, facts.class_weight_source) == ("balanced", "model_args")
    assert facts.class_weight_rule.startswith("balanced") and list(facts.files) == ["class_weights"]
    with pytest.raises(DataError, match="a RandomForestClassifier is not a network"):
        run_dl_model_evaluator(
            {"pointwise_model_output_path": "*o.laz", "pointwise_model_activations_path": None}, state
        )


def test_forest_refuses_what_it_cannot_honour(tmp_path):
    generate_urban_scene(seed=8, size_m=20.0).write(tmp_path / "scene.las")
    spec = _spec({"n_estimators": 3, "model_handling": {"training_epochs": 5, "tensorboard_dir": None}})
    spec["sequential_pipeline"][2].update(autoval_metrics=["OA"], training_activations_path="*act.laz")
    spec["sequential_pipeline"].append({"eval": "DLModelEvaluator", "pointwise_model_output_path": "*o.laz"})
    issues = {i.path: i.message for i in validate_spec(spec, base_dir=tmp_path)}
    train = "$.sequential_pipeline[2]"
    assert sorted(issues) == [  # autoval_metrics of training_type 'base': a no-effect note (VL3D ignores them)
        f"{train}.model_args.model_handling.training_epochs",
        f"{train}.training_activations_path",
        "$.sequential_pipeline[6].eval",
    ]
    assert issues[f"{train}.model_args.model_handling.training_epochs"] == (
        "a RandomForestClassifier is fitted once on each point's features: no epochs, batches, validation, "
        "checkpoints, callbacks or logs; remove training_epochs"
    )
    assert "ClassificationEvaluator scores it" in issues["$.sequential_pipeline[6].eval"]


def test_fnames_auto_takes_the_mined_features_and_a_forest_without_features_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    generate_urban_scene(seed=8, size_m=30.0).write(tmp_path / "scene.las")
    spec = _spec({"n_estimators": 4, "max_depth": 6})
    train = spec["sequential_pipeline"][2]
    train["fnames"] = ["AUTO"]  # VL3D: the pipeline's features, the miner's among them
    spec["sequential_pipeline"] = spec["sequential_pipeline"][:4]
    (tmp_path / "auto.json").write_text(json.dumps(spec))
    state = execute_pipeline(load_spec(tmp_path / "auto.json"))
    assert state.bundle.feature_names == ["planarity_k16", "verticality_k16", "linearity_k16"]
    assert [r.names for r in state.bundle.miners] == [("planarity_k16", "verticality_k16", "linearity_k16")]
    del spec["sequential_pipeline"][1]  # no miner, and the scene has no extra dimension: no feature at all
    spec["out_pcloud"] = ["bare/*"]
    (tmp_path / "bare.json").write_text(json.dumps(spec))
    with pytest.raises(DataError, match="RandomForestClassifier learns from features, but fnames 'AUTO' found none"):
        execute_pipeline(load_spec(tmp_path / "bare.json"))


def test_a_pipeline_without_its_miners_reads_the_mined_features_from_the_cloud(tmp_path, monkeypatch):
    from vl3d_focal.data.features import extract_features
    from vl3d_focal.io.las import read_cloud

    monkeypatch.chdir(tmp_path)
    generate_urban_scene(seed=8, size_m=30.0).write(tmp_path / "scene.las")
    spec = _spec({"n_estimators": 4, "max_depth": 6})
    spec["sequential_pipeline"][3:] = [
        {"writer": "PredictivePipelineWriter", "out_pipeline": f"*{name}.pipe", "include_miner": name == "with"}
        for name in ("with", "without")
    ]
    (tmp_path / "train.json").write_text(json.dumps(spec))
    state = execute_pipeline(load_spec(tmp_path / "train.json"))
    assert [list(r.names) for r in load_bundle(tmp_path / "out/with.pipe").miners] == [state.bundle.feature_names[2:]]
    assert load_bundle(tmp_path / "out/without.pipe").miners == ()
    mined = state.bundle.feature_names[2:]
    las = laspy.read(tmp_path / "scene.las")  # the scene with the mined features stored, as a VL3D Writer would
    values = extract_features(read_cloud(tmp_path / "scene.las"), mined, miners=state.bundle.miners)
    for column, name in enumerate(mined):
        las.add_extra_dim(laspy.ExtraBytesParams(name=name, type=np.float32))
        las[name] = values[:, column]
    las.write(tmp_path / "mined.las")

    def predict(pipe: str, cloud: str) -> list:
        predict = {
            "in_pcloud": [cloud],
            "out_pcloud": [f"{pipe}_{cloud}/*"],
            "sequential_pipeline": [
                {"predict": "PredictivePipeline", "model_path": f"out/{pipe}.pipe"},
                {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
            ],
        }
        (tmp_path / "predict.json").write_text(json.dumps(predict))
        execute_pipeline(load_spec(tmp_path / "predict.json"))
        return json.loads((tmp_path / f"{pipe}_{cloud}/eval/evaluation.json").read_text())["confusion_matrix"]

    assert predict("without", "mined.las") == predict("with", "scene.las")
    with pytest.raises(
        DataError, match=r"3 unknown features 'planarity_k16', 'verticality_k16', 'linearity_k16' \(not in the file"
    ):
        predict("without", "scene.las")


def test_a_vl3d_forest_without_num_classes_takes_the_classes_of_the_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    las = generate_urban_scene(seed=8, size_m=30.0)
    codes = np.asarray(las.classification)
    las.classification = np.select([codes == 2, np.isin(codes, [3, 4, 5]), codes == 6], [0, 1, 2], 3).astype(np.uint8)
    las.write(tmp_path / "values.las")  # VL3D's classes: the classification values 0..3
    spec = {
        "in_pcloud": ["values.las"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity", "verticality"]},
            {"train": "RandomForestClassifier", "fnames": ["AUTO"], "model_args": {"n_estimators": 4, "max_depth": 8}},
            {"predict": "PreviousModel"},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
        ],
    }
    assert validate_spec(spec, base_dir=tmp_path) == []  # VL3D's forest arguments are scikit-learn's: no num_classes
    (tmp_path / "forest.json").write_text(json.dumps(spec))
    state = execute_pipeline(load_spec(tmp_path / "forest.json"))
    assert state.bundle.class_names == ["class_0", "class_1", "class_2", "class_3"]
    evaluation = json.loads((tmp_path / "out/eval/evaluation.json").read_text())
    assert sum(map(sum, evaluation["confusion_matrix"])) == len(codes) and evaluation["OA"] > 0.8
    spec["in_pcloud"], spec["out_pcloud"] = ["scene.las"], ["codes/*"]  # LAS codes: one class per code present
    generate_urban_scene(seed=8, size_m=30.0).write(tmp_path / "scene.las")
    spec["sequential_pipeline"][1]["model_args"]["class_weight"] = "balanced"
    (tmp_path / "codes.json").write_text(json.dumps(spec))
    present = sorted(int(c) for c in np.unique(laspy.read(tmp_path / "scene.las").classification))
    assert len(present) > 4 and max(present) > 60  # ordinary LAS codes, far apart
    assert execute_pipeline(load_spec(tmp_path / "codes.json")).bundle.class_names == [f"class_{c}" for c in present]
    pointnet = {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "model_args": {}}
    found = validate_spec({**spec, "sequential_pipeline": [pointnet]}, base_dir=tmp_path)
    assert any("missing required key 'num_classes'" in str(issue) for issue in found), found


def test_model_args_random_state_seeds_the_forest_before_the_step_s_random_seed(tmp_path):
    """VL3D passes scikit-learn's random_state to its forest; before, validation refused it."""
    generate_urban_scene(seed=8, size_m=20.0).write(tmp_path / "scene.las")
    x = np.random.default_rng(1).normal(size=(200, 2))

    def probabilities(random_state, random_seed):
        train = {
            "train": "RandomForestClassifier",
            "random_seed": random_seed,
            "fnames": ["intensity", "height_above_ground"],
            "model_args": {"n_estimators": 4, "max_depth": 8, "n_jobs": 1, "random_state": random_state},
        }
        steps = [{"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}, train]
        spec_file = tmp_path / f"forest_{random_state}_{random_seed}.json"
        out = f"out_{random_state}_{random_seed}/*"
        spec_file.write_text(
            json.dumps({"in_pcloud": ["scene.las"], "out_pcloud": [out], "sequential_pipeline": steps})
        )
        return execute_pipeline(load_spec(spec_file)).bundle.model.predict_proba(x)

    np.testing.assert_array_equal(probabilities(5, 1), probabilities(5, 2))  # random_state decides the trees
    assert not np.array_equal(probabilities(None, 1), probabilities(None, 2))  # else random_seed does
    np.testing.assert_array_equal(probabilities(None, 5), probabilities(5, 1))


def test_forest_auto_class_weights_record_that_they_were_counted_on_the_training_points(tmp_path):
    """A forest's "auto" weights are N / (C n_c) of its training points; the record said null."""
    generate_urban_scene(seed=8, size_m=30.0).write(tmp_path / "scene.las")
    spec = _spec({"n_estimators": 2, "max_depth": 3, "model_handling": {"class_weight": "AUTO"}})
    spec["sequential_pipeline"] = spec["sequential_pipeline"][:3]  # classes, features, training
    (tmp_path / "forest.json").write_text(json.dumps(spec))
    state = execute_pipeline(load_spec(tmp_path / "forest.json"))
    codes = np.asarray(laspy.read(tmp_path / "scene.las").classification)
    counts = np.array([np.isin(codes, entry["codes"]).sum() for entry in DEMO_CLASSES], dtype=np.float64)
    saved = json.loads((tmp_path / "out/training/class_weights.json").read_text())
    names = [entry["name"] for entry in DEMO_CLASSES]
    assert saved["counted_on"] == "training points"
    assert saved["weight_counts"] == dict(zip(names, counts.astype(int).tolist())) == saved["class_counts"]
    np.testing.assert_allclose([saved["class_weight"][n] for n in names], counts.sum() / (len(counts) * counts))
    facts = state.facts.trainings[0]
    assert facts.class_weight_counted_on == "training points" and facts.class_weight_counts == counts.tolist()
