"""VL3D's vocabulary in the steps: classes from classification values, fnames AUTO and ones, model
files under any name, predictive pipelines, VL3D's Writer, final_shared_mlps, model outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import keras
import laspy
import numpy as np
import pytest

from vl3d_focal.data.feature_names import header_feature_names
from vl3d_focal.data.features import extract_features
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.receptive_fields import FieldSpec
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.inference.classified_output import source_chunks, write_state_cloud
from vl3d_focal.io.las import read_cloud
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.models.model_file import load_bundle, read_pipeline, save_bundle
from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier
from vl3d_focal.steps.model_writers import run_pipeline_writer
from vl3d_focal.steps.predict import check_previous_model
from vl3d_focal.steps.state import PipelineState
from vl3d_focal.steps.train_checks import check_train
from vl3d_focal.steps.train_inputs import resolve_feature_names, step_mapping

NUM_POINTS = 16


def _cloud(path: Path, codes, *, point_format: int = 6, extra: tuple[str, ...] = ()) -> Path:
    las = laspy.create(point_format=point_format, file_version="1.4" if point_format >= 6 else "1.2")
    for name in extra:
        las.add_extra_dim(laspy.ExtraBytesParams(name=name, type=np.float32))
    n = len(codes)
    las.x, las.y, las.z = np.arange(n, dtype=float), np.arange(n, dtype=float) % 3, np.zeros(n)
    las.classification = np.asarray(codes, dtype=np.uint8)
    las.write(path)
    return path


def _bundle(*, tnet: bool, mapping: ClassMapping) -> ModelBundle:
    model = build_pointnet_pwise_classifier(
        num_points=NUM_POINTS,
        num_features=0,
        num_classes=mapping.num_classes,
        num_pwise_feats=4,
        pretransf_feats_spec=[{"filters": 4}],
        postransf_feats_spec=[{"filters": 4}],
        tnet_pre_filters_spec=[4] if tnet else [],
        tnet_post_filters_spec=[4] if tnet else [],
        random_seed=1,
    )
    return ModelBundle(
        model=model,
        feature_names=[],
        normalizer=None,
        field_spec=FieldSpec.from_config({"num_points": NUM_POINTS}),
        mapping=mapping,
        class_names=list(mapping.names),
    )


def test_classes_are_the_classification_values_without_class_step(tmp_path):
    mapping = step_mapping({"num_classes": 2, "class_names": ["wood", "leaf"]}, mapping=None)
    assert mapping.map(np.array([1, 0])).tolist() == [1, 0] and mapping.vl3d_values
    assert step_mapping({"num_classes": 3}, mapping=None).names == ["class_0", "class_1", "class_2"]
    with pytest.raises(DataError) as caught:
        mapping.map(np.array([0, 1, 5, 5, 9]), source=str(tmp_path / "tree.laz"))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'tree.laz'}: classification values outside 0..1 (5: 2 points, 9: 1 points)")
    assert "ClassReducer" in message
    restored = ClassMapping.from_config(mapping.to_config())
    assert restored == mapping and ClassMapping.from_config({"names": ["g"], "codes": [[2]]}).vl3d_values is False


def test_a_class_step_stays_authoritative():
    mapping = ClassMapping(names=["ground", "building"], codes=[[2], [6]])
    assert step_mapping({"num_classes": 2}, mapping=mapping) is mapping
    with pytest.raises(DataError, match="class_names: expected the class step's names"):
        step_mapping({"num_classes": 2, "class_names": ["a", "b"]}, mapping=mapping)
    with pytest.raises(DataError, match="num_classes: expected 2"):
        step_mapping({"num_classes": 3}, mapping=mapping)


def test_fnames_auto_takes_the_extra_dimensions_every_training_cloud_has(tmp_path, caplog):
    a = read_cloud(_cloud(tmp_path / "a.las", [0, 1], extra=("planarity", "prediction", "prob_leaf", "linearity")))
    b = read_cloud(_cloud(tmp_path / "b.las", [0, 1], extra=("linearity", "planarity")))
    records = [types.SimpleNamespace(cloud=cloud, path=cloud.path) for cloud in (a, b)]
    assert resolve_feature_names(["AUTO"], records=records) == ["planarity", "linearity"]
    assert resolve_feature_names(["AUTO"], records=records[1:] + records[:1]) == ["linearity", "planarity"]
    c = read_cloud(_cloud(tmp_path / "c.las", [0, 1], extra=("linearity",)))
    assert resolve_feature_names(["AUTO"], records=[*records, types.SimpleNamespace(cloud=c, path=c.path)]) == [
        "linearity"
    ]
    assert "lacks ['planarity']" in caplog.text
    assert resolve_feature_names(["intensity", "ones"], records=records) == ["intensity", "ones"]
    assert extract_features(a, ["ones"]).tolist() == [[1.0], [1.0]]


def test_fnames_auto_that_a_cloud_to_predict_lacks_is_caught_at_validation(tmp_path):
    training = [
        str(_cloud(tmp_path / name, [0, 1], extra=extra))
        for name, extra in (
            ("a.las", ("density", "prob_leaf", "planarity", "linearity")),
            ("b.las", ("linearity", "planarity", "density")),
        )
    ]
    predicted = str(_cloud(tmp_path / "c.las", [0, 1], extra=("linearity",)))  # planarity: derived there
    step = {
        "train": "PointNetPwiseClassifier",
        "fnames": ["AUTO"],
        "model_args": {"model_handling": {"training_pcloud": training}},
    }

    def issues(clouds: list[str], *, predict: bool) -> list:
        known = {"cloud_features": {path: header_feature_names(path) for path in clouds}}
        found = [issue for issue in check_train(step, ("sequential_pipeline", 1), known) if "AUTO" in issue[1]]
        if predict:  # the step that predicts the input clouds with the trained model reports them
            found += list(check_previous_model({"predict": "PreviousModel"}, ("sequential_pipeline", 3), known))
        return found

    assert issues([predicted], predict=True) == [
        (
            ("sequential_pipeline", 1, "fnames"),
            f"AUTO takes density, planarity, linearity from the training clouds, but {predicted} lacks density: "
            "predicting it with this model would fail after the training; name the features every cloud has "
            "instead of AUTO",
        )
    ]
    assert issues([predicted], predict=False) == []  # no step predicts it: the spec runs
    assert issues([training[1]], predict=True) == []  # it has all three


def test_model_files_have_any_name_and_tnet_models_load_in_a_new_process(tmp_path):
    bundle = _bundle(tnet=True, mapping=ClassMapping.from_values(["wood", "leaf"]))
    path = save_bundle(bundle, tmp_path / "pnet_pwise_classif.model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pnet_pwise_classif.model"]
    assert read_pipeline(path) is None
    script = (
        "import sys; from vl3d_focal.models.model_file import load_bundle; "
        "b = load_bundle(sys.argv[1]); print(b.class_names, b.mapping.vl3d_values)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['wood', 'leaf'] True"


def test_a_predictive_pipeline_keeps_or_drops_the_class_steps(tmp_path):
    mapping = ClassMapping(names=["ground", "vegetation"], codes=[[2], [3, 4, 5]])
    state = PipelineState(clouds=[], model_prefix=str(tmp_path) + "/", bundle=_bundle(tnet=False, mapping=mapping))
    run_pipeline_writer({"out_pipeline": "*with.pipe", "include_class_transformer": True}, state)
    run_pipeline_writer({"out_pipeline": "*without.pipe", "include_class_transformer": False}, state)
    kept, dropped = load_bundle(tmp_path / "with.pipe"), load_bundle(tmp_path / "without.pipe")
    assert kept.mapping == mapping
    assert dropped.mapping == ClassMapping.from_values(["ground", "vegetation"])
    assert read_pipeline(tmp_path / "without.pipe") == {
        "include_class_transformer": False,
        "class_names": ["ground", "vegetation"],
    }


def test_a_predictive_pipeline_of_raw_codes_keeps_its_codes_without_class_transformer(tmp_path):
    mapping = ClassMapping.from_codes(np.array([2, 5, 6]))  # a model trained with no class step
    state = PipelineState(clouds=[], model_prefix=str(tmp_path) + "/", bundle=_bundle(tnet=False, mapping=mapping))
    run_pipeline_writer({"out_pipeline": "*without.pipe", "include_class_transformer": False}, state)
    kept = load_bundle(tmp_path / "without.pipe").mapping
    assert kept == mapping and kept.prediction_values(np.array([0, 1, 2])).tolist() == [2, 5, 6]


@pytest.mark.parametrize(("point_format", "unclassified"), [(6, 255), (1, 31)])
def test_vl3d_writer_writes_reduced_classes(tmp_path, point_format, unclassified):
    source = _cloud(tmp_path / "in.las", [0, 3, 1, 2], point_format=point_format)
    out = tmp_path / "out.las"
    table = np.array([-1, 0, 1, 1])
    write_state_cloud(
        out,
        source=source,
        header=None,
        chunks=source_chunks(CloudRecord(path=source)),
        classes=lambda codes: table[codes],
        predictions=None,
    )
    written = laspy.read(out)
    assert np.asarray(written.classification).tolist() == [unclassified, 1, 0, 1]
    assert np.array_equal(np.asarray(written.x), np.asarray(laspy.read(source).x))


def test_final_shared_mlps_and_layer_names():
    model = build_pointnet_pwise_classifier(
        num_points=8,
        num_features=1,
        num_classes=3,
        pretransf_feats_spec=[{"filters": 4, "name": "prefeats_4"}],
        postransf_feats_spec=[{"filters": 6, "name": "posfeats_6"}],
        final_shared_mlps=[12, 10],
        tnet_pre_filters_spec=[],
        tnet_post_filters_spec=[],
        num_pwise_feats=5,
    )
    names = [layer.name for layer in model.layers]
    assert {"prefeats_4", "posfeats_6", "final_mlp1", "final_mlp2"} <= set(names)
    assert (
        names.index("pwise_concat") < names.index("final_mlp1") < names.index("final_mlp2") < names.index("pwise_feats")
    )
    assert model.get_layer("final_mlp1").units == 12 and model.get_layer("final_mlp2").units == 10
    assert model.get_layer("pwise_feats").input.shape[-1] == 10


def test_model_outputs_and_activations_of_a_cloud(tmp_path):
    from vl3d_focal.inference.activations import pointwise_outputs

    path = _cloud(tmp_path / "c.las", [0, 1] * 40)
    bundle = _bundle(tnet=False, mapping=ClassMapping.from_values(["a", "b"]))
    record = CloudRecord(path=path, cloud=read_cloud(path), prefix="")
    probabilities, activations = pointwise_outputs(record, bundle)
    assert probabilities.shape == (80, 2) and activations.shape == (80, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    hidden = keras.Model(bundle.model.inputs, bundle.model.get_layer("pwise_feats_relu").output)
    assert hidden.output.shape[-1] == activations.shape[1]  # the input of the logits layer
    assert np.all(activations >= 0)  # after the ReLU


def test_further_training_starts_from_a_model_with_the_same_network(tmp_path):
    from vl3d_focal.steps.train_inputs import pretrained_bundle
    from vl3d_focal.training.job import start_from

    mapping = ClassMapping.from_values(["wood", "leaf"])
    path = save_bundle(_bundle(tnet=False, mapping=mapping), tmp_path / "pretrained.model")
    bundle = pretrained_bundle(str(path), class_names=["wood", "leaf"], feature_names=[])
    fresh = _bundle(tnet=False, mapping=mapping).model
    start_from(fresh, pretrained=bundle.model)
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), bundle.model.get_weights()))
    with pytest.raises(DataError, match="its network differs from the one model_args builds"):
        start_from(_bundle(tnet=True, mapping=mapping).model, pretrained=bundle.model)
    with pytest.raises(DataError, match=r"its classes are \['wood', 'leaf'\], this train step's \['a', 'b'\]"):
        pretrained_bundle(str(path), class_names=["a", "b"], feature_names=[])
    with pytest.raises(DataError, match="its features are"):
        pretrained_bundle(str(path), class_names=["wood", "leaf"], feature_names=["intensity"])


def test_an_evaluators_unknown_ignore_class_is_named_at_validation_and_at_run_time(tmp_path):
    """The classes of a loaded model are read from its file at validation; a run that meets an
    unknown name anyway (a model file changed after validation) says so (it raised ValueError)."""
    from vl3d_focal.config import load_spec
    from vl3d_focal.errors import SpecError
    from vl3d_focal.runner.pipeline import execute_pipeline
    from vl3d_focal.steps.evaluate import run_eval

    save_bundle(_bundle(tnet=False, mapping=ClassMapping.from_values(["wood", "leaf"])), tmp_path / "m.keras")
    _cloud(tmp_path / "c.las", [0, 1] * 40)
    spec = {
        "in_pcloud": ["c.las"],
        "out_pcloud": ["out/*"],
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": "m.keras"},
            {"eval": "ClassificationEvaluator", "report_path": "*eval.json", "ignore_classes": ["lef"]},
        ],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(SpecError, match=r"ignore_classes\[0\]: unknown class 'lef'; .* did you mean 'leaf'\?"):
        load_spec(tmp_path / "spec.json")
    spec["sequential_pipeline"][1]["ignore_classes"] = ["leaf"]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    state = execute_pipeline(load_spec(tmp_path / "spec.json"))
    step = {**load_spec(tmp_path / "spec.json")["sequential_pipeline"][1], "ignore_classes": ["lef"]}
    with pytest.raises(DataError, match=r"ignore_classes \['lef'\] are not classes .* did you mean 'leaf'\?"):
        run_eval(step, state)


@pytest.mark.parametrize(
    ("metrics", "monitor", "valid"),
    [
        (["accuracy"], "val_accuracy", True),
        (["accuracy"], "loss", True),
        (["accuracy"], "val_acc", False),
        (["accuracy"], "learning_rate", False),  # joins the logs after the callbacks that monitor
        (["precision"], "val_precision", True),
        (["precision"], "val_accuracy", False),
    ],
)
def test_monitors_name_what_the_training_gives_its_callbacks(metrics, monitor, valid):
    handling = {"checkpoint_monitor": monitor, "early_stopping": {"monitor": monitor, "patience": 1}}
    step = {
        "train": "PointNetPwiseClassifier",
        "fnames": ["intensity"],
        "model_args": {"model_handling": handling, "compilation_args": {"metrics": metrics}},
    }
    found = [at for at, message in check_train(step, ("sequential_pipeline", 1), {}) if "is not logged" in message]
    handling_at = ("sequential_pipeline", 1, "model_args", "model_handling")
    assert found == (
        [] if valid else [(*handling_at, "checkpoint_monitor"), (*handling_at, "early_stopping", "monitor")]
    )


def test_validation_finds_a_pretrained_model_of_other_classes_or_features(tmp_path):
    # before, the spec validated and the training refused the model after the clouds' features
    from vl3d_focal.config import load_spec
    from vl3d_focal.data.synthetic import generate_urban_scene
    from vl3d_focal.errors import SpecError

    save_bundle(_bundle(tnet=False, mapping=ClassMapping.from_values(["wood", "leaf"])), tmp_path / "pre.model")
    generate_urban_scene(seed=3, size_m=10.0, density=2.0).write(tmp_path / "scene.las")

    def issues(names: list[str], fnames: list[str]) -> dict[str, str]:
        classes = [{"name": names[0], "codes": [2]}, {"name": names[1], "codes": [3, 4, 5, 6, 64, 68]}]
        train = {
            "train": "PointNetPwiseClassifier",
            "fnames": fnames,
            "pretrained_model": "pre.model",
            "model_args": {
                "num_classes": 2,
                "pre_processing": {"num_points": NUM_POINTS, "neighborhood": {"radius": 3.0}},
                "compilation_args": {"loss": {"function": "categorical_crossentropy"}},
            },
        }
        spec = {
            "in_pcloud": ["scene.las"],
            "out_pcloud": ["out/*"],
            "sequential_pipeline": [
                {"class_mapping": "LASClassMapping", "classes": classes, "ignore_codes": [0, 7]},
                train,
            ],
        }
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        try:
            load_spec(tmp_path / "spec.json")
        except SpecError as err:
            return {issue.path: issue.message for issue in err.issues}
        return {}

    model = f"model {tmp_path / 'pre.model'}"
    assert issues(["wood", "leaf"], ["intensity"]) == {
        "$.sequential_pipeline[1].pretrained_model": (
            f"{model}: its features are [], this train step's ['intensity']; further training keeps the features"
        )
    }
    assert issues(["leaf", "wood"], []) == {
        "$.sequential_pipeline[1].pretrained_model": (
            f"{model}: its classes are ['wood', 'leaf'], this train step's ['leaf', 'wood']; further training "
            "keeps the classes"
        )
    }
    assert issues(["wood", "leaf"], []) == {}
