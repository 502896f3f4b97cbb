"""The hierarchical autoencoder in the pipeline: trained, written, loaded and predicted in one go,
block by block and streamed, with the same result (issue 13, item 1)."""

from __future__ import annotations

import json

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, SCENE_HIERARCHY

from vl3d_focal.config import load_spec
from vl3d_focal.data.hierarchical_fields import depth0_field_spec
from vl3d_focal.data.receptive_fields import build_fields, field_centers
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.errors import SpecError
from vl3d_focal.inference import network, prediction
from vl3d_focal.models.autoencoder import TINY_FEATURE_EXTRACTION, build_conv_autoencoder_pwise_classifier
from vl3d_focal.models.model_file import load_bundle, read_metadata
from vl3d_focal.runner.pipeline import execute_pipeline


def _spec() -> dict:
    return {
        "in_pcloud": ["scene.las"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]},
            {
                "train": "ConvolutionalAutoencoderPwiseClassifier",
                "fnames": ["intensity", "height_above_ground"],
                "random_seed": 2,
                "model_args": {
                    "num_classes": 5,
                    "pre_processing": SCENE_HIERARCHY,
                    "feature_extraction": TINY_FEATURE_EXTRACTION,
                    "model_handling": {
                        "training_epochs": 2,
                        "batch_size": 8,
                        "checkpoint": False,
                        "predict_batch_size": 16,
                    },
                    "compilation_args": {
                        "loss": {
                            "function": "class_weighted_focal_categorical_crossentropy",
                            "gamma": 2.0,
                            "class_weight": "sqrt_inverse_frequency",
                        }
                    },
                },
            },
            {"writer": "PredictiveModelWriter", "out_model": "*model/model.keras"},
            {"predict": "PreviousModel", "chunk_points": None},
            {"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"},
        ],
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("autoencoder")
    generate_urban_scene(seed=3, size_m=40.0, density=8.0).write(folder / "scene.las")
    (folder / "train.json").write_text(json.dumps(_spec()))
    state = execute_pipeline(load_spec(folder / "train.json"))
    return folder, state


def test_trains_and_predicts_end_to_end(trained):
    folder, state = trained
    evaluation = json.loads((folder / "out/eval/evaluation.json").read_text())
    assert evaluation["OA"] > 0.5 and (folder / "out/training/history.csv").read_text().count("\n") == 3
    meta = read_metadata(folder / "out/model/model.keras")
    assert meta["model_name"] == "ConvolutionalAutoencoderPwiseClassifier"
    assert meta["pre_processing"]["num_points_per_depth"] == [32, 16, 8]  # the hierarchy travels with the model
    assert meta["field_spec"]["num_points"] == 32 and meta["field_spec"]["scale"] is False
    assert state.clouds[0].result.probabilities.shape == (state.clouds[0].num_points, 5)


def test_loaded_model_predicts_the_same_in_one_go_by_blocks_and_streamed(trained, monkeypatch):
    folder, state = trained
    bundle = load_bundle(folder / "out/model/model.keras")
    assert {k: bundle.pre_processing[k] for k in SCENE_HIERARCHY if k != "neighborhood"} == {
        k: v for k, v in SCENE_HIERARCHY.items() if k != "neighborhood"
    }
    chunks = []
    original = network.predict_fields

    def counting(model, inputs, **kwargs):  # the index arrays are built per chunk of fields, never for all
        chunks.append(len(inputs[0]))
        return original(model, inputs, **kwargs)

    monkeypatch.setattr(network, "predict_fields", counting)
    runs = {}
    for name, chunk_points in (("whole", None), ("blocks", 3000), ("streamed", 3000)):
        predict = {
            "in_pcloud": ["scene.las"],
            "out_pcloud": [f"{name}/*"],
            "sequential_pipeline": [
                {"predict": "ModelLoader", "model_path": "out/model/model.keras", "chunk_points": chunk_points}
            ],
        }
        (folder / f"{name}.json").write_text(json.dumps(predict))
        spec = load_spec(folder / f"{name}.json")
        if name == "blocks":  # the cloud is in memory (read by the run): predicted tile by tile
            from vl3d_focal.runner import inputs as runner_inputs

            state_in = runner_inputs.read_inputs(inputs=spec["in_pcloud"], prefixes=spec["out_pcloud"])
            record = state_in.clouds[0]
            _ = record.cloud  # read it whole
            prediction.predict_cloud(record, bundle, chunk_points=chunk_points)
            runs[name] = record.result.probabilities
            continue
        result = execute_pipeline(spec).clouds[0].result
        runs[name] = np.concatenate([probs for *_, probs in result.iter_chunks()])
    np.testing.assert_allclose(runs["blocks"], runs["whole"], atol=1e-5)
    np.testing.assert_allclose(runs["streamed"], runs["whole"], atol=1e-5)
    assert len(chunks) >= 3


def test_training_class_distribution_draws_the_autoencoders_training_fields(tmp_path, caplog):
    """VL3D's hierarchical_fps takes ``training_class_distribution`` as its other pre-processors do."""
    generate_urban_scene(seed=3, size_m=40.0, density=8.0).write(tmp_path / "scene.las")
    spec = _spec()
    spec["sequential_pipeline"] = spec["sequential_pipeline"][:2]
    model_args = spec["sequential_pipeline"][1]["model_args"]
    model_args["pre_processing"] = {**SCENE_HIERARCHY, "training_class_distribution": [8, 8, 8, 8, 8]}
    model_args["model_handling"].update(training_epochs=1, validation_split=0.2)
    (tmp_path / "train.json").write_text(json.dumps(spec))
    caplog.set_level("INFO", logger="vl3d_focal")
    execute_pipeline(load_spec(tmp_path / "train.json"))
    assert "training fields: 32, validation fields: 8" in caplog.text  # 5 x 8 drawn centres, not the grid's


def test_fps_support_strategy_places_the_autoencoders_fields(tmp_path, caplog):
    """VL3D's hierarchical_fps takes support_strategy 'fps' (any case) and its number of centres:
    the model trains on the fields of those centres only, predicts every point, and stores the strategy. Its
    receptive-field reports are written (the support points: those centres) and auto-validation
    runs on the validation fields, and the activations are written by the train step and by
    DLModelEvaluator (these failed or were ignored for the autoencoder)."""
    scene = generate_urban_scene(seed=3, size_m=40.0, density=8.0)
    scene.write(tmp_path / "scene.las")
    count = 12  # VL3D trains on these fields only
    pre_processing = {**SCENE_HIERARCHY, "support_strategy": "FPS", "support_strategy_num_points": count}
    reports = {
        "training_receptive_fields_distribution_report_path": "*training_eval/fields.log",
        "training_support_points_report_path": "*training_eval/support_points.laz",
        "receptive_fields_distribution_plot_path": "*eval/fields.svg",
        "support_points_report_path": "*eval/support_points.laz",
    }
    spec = _spec()
    spec["sequential_pipeline"][1]["autoval_metrics"] = ["OA", "MCC"]
    spec["sequential_pipeline"][1]["training_activations_path"] = "*training_eval/activations.laz"
    spec["sequential_pipeline"].append(
        {"eval": "DLModelEvaluator", "pointwise_model_activations_path": "*eval/activations.laz"}
    )
    spec["sequential_pipeline"][1]["model_args"]["pre_processing"] = {**pre_processing, **reports}
    spec["sequential_pipeline"][1]["model_args"]["model_handling"].update(training_epochs=1, validation_split=0.25)
    (tmp_path / "train.json").write_text(json.dumps(spec))
    caplog.set_level("INFO", logger="vl3d_focal")
    state = execute_pipeline(load_spec(tmp_path / "train.json"))
    field_spec = depth0_field_spec(pre_processing)
    fields = build_fields(scene.xyz, field_spec, training=True).indices
    assert len(fields) == count  # VL3D's training fields: the furthest points, no extra centre
    labelled = np.any(~np.isin(np.asarray(scene.classification)[fields], [0, 7]), axis=1)
    scored = int(labelled.sum())
    validation = round(0.25 * scored)  # fields of ignored points only are left out
    assert f"training fields: {scored - validation}, validation fields: {validation}" in caplog.text
    assert f"auto-validation on {validation} fields: OA=" in caplog.text
    training, centres = field_centers(scene.xyz, field_spec, training=True), field_centers(scene.xyz, field_spec)
    for support_points, expected in (("training_eval", training[labelled]), ("eval", centres)):
        written = laspy.read(tmp_path / "out" / support_points / "support_points.laz")
        np.testing.assert_allclose(np.stack([written.x, written.y, written.z], axis=1), expected, atol=0.01)
    assert "building" in (tmp_path / "out/training_eval/fields.log").read_text()
    width = TINY_FEATURE_EXTRACTION["feature_space_dims"][0]  # the last layer's input: depth 0's features
    for activations in ("training_eval/activations.laz", "eval/activations.laz"):
        written = laspy.read(tmp_path / "out" / activations)
        assert list(written.point_format.extra_dimension_names) == [f"f{k}" for k in range(1, width + 1)]
    assert (tmp_path / "out/eval/fields.svg").read_text().lstrip().startswith("<?xml")
    stored = load_bundle(tmp_path / "out/model/model.keras").field_spec
    assert (stored.support_strategy, stored.support_strategy_num_points) == ("fps", count)
    probabilities = state.clouds[0].result.probabilities  # prediction covers and classifies every point
    assert probabilities.shape == (len(scene.xyz), 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)


def test_dl_model_evaluator_outputs_a_models_predictions_from_mined_features(tmp_path):
    """DLModelEvaluator and the train step's activations compute the model's mined features (they
    failed with 'unknown feature(s)'), and the probabilities it writes are the predict step's."""
    generate_urban_scene(seed=3, size_m=40.0, density=8.0).write(tmp_path / "scene.las")
    spec = _spec()
    steps = spec["sequential_pipeline"]
    steps.insert(1, {"miner": "GeometricFeatures", "k": 8, "fnames": ["planarity"]})
    steps[2]["fnames"].append("planarity_k8")
    steps[2]["training_activations_path"] = "*training_eval/activations.laz"
    steps[2]["model_args"]["model_handling"]["training_epochs"] = 1
    steps.append({"writer": "ClassifiedPcloudWriter", "out_pcloud": "*predicted.laz", "probabilities": True})
    steps.append({"eval": "DLModelEvaluator", "pointwise_model_output_path": "*eval/outputs.laz"})
    (tmp_path / "train.json").write_text(json.dumps(spec))
    execute_pipeline(load_spec(tmp_path / "train.json"))
    predicted, evaluated = (laspy.read(tmp_path / "out" / name) for name in ("predicted.laz", "eval/outputs.laz"))
    names = [entry["name"] for entry in DEMO_CLASSES]  # VL3D's ClassifiedPcloudReport: named by the class
    assert list(evaluated.point_format.extra_dimension_names) == ["Prediction", "Success", *names]
    probabilities = np.stack([np.asarray(evaluated[name]) for name in names], axis=1)
    np.testing.assert_allclose(
        probabilities, np.stack([np.asarray(predicted[f"prob_{name}"]) for name in names], axis=1), atol=1e-5
    )
    np.testing.assert_array_equal(np.asarray(evaluated["Prediction"]), probabilities.argmax(axis=1))
    scene = laspy.read(tmp_path / "scene.las")
    np.testing.assert_array_equal(np.asarray(evaluated.classification), np.asarray(scene.classification))
    mapping = {code: k for k, entry in enumerate(DEMO_CLASSES) for code in entry["codes"]}
    reference = np.array([mapping.get(int(code), -1) for code in np.asarray(scene.classification)])
    np.testing.assert_array_equal(np.asarray(evaluated["Success"]), (reference == probabilities.argmax(axis=1)))
    width = TINY_FEATURE_EXTRACTION["feature_space_dims"][0]
    activations = laspy.read(tmp_path / "out/training_eval/activations.laz")
    assert list(activations.point_format.extra_dimension_names) == [f"f{k}" for k in range(1, width + 1)]
    np.testing.assert_array_equal(np.asarray(activations.classification), np.asarray(scene.classification))


def test_validation_finds_lists_of_the_wrong_length_before_any_work(tmp_path):
    # operations_per_depth [2, 1, 1] makes four operations: four-entry lists were caught only
    # when the model was built, after the clouds' features and fields (minutes on real tiles)
    spec = _spec()
    args = spec["sequential_pipeline"][1]["model_args"]
    args["feature_extraction"] = {**TINY_FEATURE_EXTRACTION, "operations_per_depth": [2, 1, 1]}
    args["pre_processing"] = {**SCENE_HIERARCHY, "num_upsampling_neighbors": [1, 2]}
    generate_urban_scene(seed=3, size_m=10.0, density=2.0).write(tmp_path / "scene.las")
    (tmp_path / "train.json").write_text(json.dumps(spec))
    with pytest.raises(SpecError) as raised:
        load_spec(tmp_path / "train.json")
    found = {issue.path: issue.message for issue in raised.value.issues}
    at = "$.sequential_pipeline[1].model_args"
    four = "expected 4 entries (one per operation, sum(operations_per_depth)), received 3"
    extraction = {path.rsplit(".", 1)[1]: message for path, message in found.items() if ".feature_extraction." in path}
    assert extraction == {key: four for key in ("feature_space_dims", "num_kernel_points", "kernel_radius", "sigma")}
    assert found[f"{at}.pre_processing.num_upsampling_neighbors"] == (
        "expected 3 entries (one per depth, as num_points_per_depth), received 2"
    )


def test_validation_finds_strided_kpconv_downsampling_of_pointnet_operations(tmp_path):
    # strided_kpconv, the default downsampling_filter, is a KPConv: the build refused it for
    # PointNet operations after the clouds' features and fields; validation finds it, with the
    # builder's message
    spec = _spec()
    args = spec["sequential_pipeline"][1]["model_args"]
    args["feature_extraction"] = {
        "type": "PointNet",
        "operations_per_depth": [1, 1, 1],
        "feature_space_dims": [8, 8, 16],
    }
    generate_urban_scene(seed=3, size_m=10.0, density=2.0).write(tmp_path / "scene.las")
    (tmp_path / "train.json").write_text(json.dumps(spec))
    with pytest.raises(SpecError) as raised:
        load_spec(tmp_path / "train.json")
    message = (
        "expected 'mean' or 'gaussian' with feature_extraction.type 'PointNet' (strided_kpconv, the default, "
        "needs KPConv), received 'strided_kpconv'"
    )
    found = {issue.path: issue.message for issue in raised.value.issues}
    assert found == {"$.sequential_pipeline[1].model_args.downsampling_filter": message}
    with pytest.raises(SpecError) as built:
        build_conv_autoencoder_pwise_classifier(
            num_points=32,
            num_features=0,
            num_classes=2,
            pre_processing=SCENE_HIERARCHY,
            feature_extraction=args["feature_extraction"],
        )
    assert [(i.path, i.message) for i in built.value.issues] == [("model_args.downsampling_filter", message)]
    args["downsampling_filter"] = "mean"
    (tmp_path / "train.json").write_text(json.dumps(spec))
    assert load_spec(tmp_path / "train.json")["sequential_pipeline"][1]["model_args"]["downsampling_filter"] == "mean"
