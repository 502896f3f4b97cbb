"""VL3D users' specs run here: a corpus written from VL3D's documentation (tests/specs/vl3d/documented)
and VL3D's own spec files adapted only in paths, classes, loss and epochs (tests/specs/vl3d/adapted),
validated and run on small synthetic tiles whose classification holds VL3D class values. Every
key of them is known: a spec validates with no issue at all.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import write_vl3d_cloud

from vl3d_focal.cli import main
from vl3d_focal.config import check_spec, read_spec_file
from vl3d_focal.errors import SpecIssue
from vl3d_focal.registry import MODELS

CORPUS = Path(__file__).parent / "specs" / "vl3d"
AUTOENCODER = "ConvolutionalAutoencoderPwiseClassifier"
_PART = re.compile(r"\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\['([^']*)'\]")


def _parts(path: str) -> list[str | int]:
    return [int(m[2]) if m[2] else (m[1] or m[3]) for m in _PART.finditer(path[1:])]


def _issues(path: Path) -> list[SpecIssue]:
    """The spec's issues, input files aside (models are written by the corpus' training specs)."""
    return check_spec(read_spec_file(path), file=str(path), base_dir=path.parent, check_files=False).issues


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A copy of tests/specs/vl3d with the synthetic tiles its specs read."""
    root = tmp_path_factory.mktemp("vl3d") / "vl3d"
    shutil.copytree(CORPUS, root)
    for kind in ("documented", "adapted"):
        data = root / kind / "data"
        for name, seed in (("leafwood_train", 0), ("leafwood_test_a", 1), ("leafwood_test_b", 2)):
            write_vl3d_cloud(
                data / f"{name}.laz",
                classes="leafwood",
                seed=seed,
                scale=0.1,
                extra=("linearity_r0_05", "planarity_r0_1"),
            )
        for name, seed in (("hessigheim_train", 3), ("hessigheim_val", 4)):
            write_vl3d_cloud(data / f"{name}.laz", classes="hessigheim", seed=seed, size_m=30.0, density=5.0)
    return root


def _run(path: Path, caplog: pytest.LogCaptureFixture, restore_logging: None) -> list[str]:
    caplog.clear()
    assert main(["run", str(path)]) == 0
    return [record.getMessage() for record in caplog.records]


DOCUMENTED_VALID = [
    "pointnet_train.json",
    "pointnet_further_training.json",
    "class_reducer_train_pipeline.json",
    "predictive_pipeline_eval.json",
    "reduce_predictions.json",
    "rbfnet_train.json",
]


@pytest.mark.parametrize("name", DOCUMENTED_VALID)
def test_documented_specs_are_valid(corpus, name):
    assert _issues(corpus / "documented" / name) == []


@pytest.mark.parametrize(
    ("name", "path", "message"),
    [
        (
            "unavailable_miner.json",
            "$.sequential_pipeline[0].miner",
            "'TakeClosestMiner' is a VL3D data miner this project does not have; available: 'GeometricFeatures', "
            "'HeightFeatures', 'SmoothFeatures', 'HSVFromRGB'",
        )
    ],
)
def test_an_unavailable_component_is_one_issue(corpus, name, path, message):
    issues = _issues(corpus / "documented" / name)
    assert [i.path for i in issues] == [path]
    assert issues[0].message.startswith(message)


@pytest.mark.parametrize(
    "name",
    [
        "pointnet_train.json",
        "pointnet_predict_and_eval_pipeline.json",
        "pointnet_train_hessigheim_reduced.json",
        "pointnet_predict_and_eval_hessigheim_reduced_pipeline.json",  # with a ClassificationUncertaintyEvaluator
    ],
)
def test_vl3d_spec_files_validate(corpus, name):
    issues = _issues(corpus / "adapted" / name)
    assert [str(i) for i in issues] == []


@pytest.mark.parametrize(
    "name", ["hierarchical_autoencoder_training_T1.json", "hierarchical_autoencoder_training_T2.json"]
)
def test_autoencoder_trainings_validate(corpus, name):
    assert AUTOENCODER in MODELS.names()
    assert [str(i) for i in _issues(corpus / "adapted" / name)] == []


def test_vl3d_autoencoder_trainings_run(corpus, caplog, restore_logging):
    """VL3D's own hierarchical autoencoder training, then its further training from the pipeline
    file the first one wrote (VL3D's T1 and T2 specs)."""
    folder = corpus / "adapted"
    _run(folder / "hierarchical_autoencoder_training_T1.json", caplog, restore_logging)
    pipeline = folder / "out" / "hae" / "T1" / "pipe" / "HAE_T1.pipe"
    assert pipeline.is_file() and (folder / "out" / "hae" / "T1" / "training_eval" / "evaluation.log").is_file()
    messages = _run(folder / "hierarchical_autoencoder_training_T2.json", caplog, restore_logging)
    assert "training starts from the pretrained model's weights" in messages
    assert (folder / "out" / "hae" / "T2" / "training" / "history.csv").is_file()


def test_vl3d_pointnet_training_and_prediction_run(corpus, caplog, restore_logging):
    """VL3D's own PointNet training (single-component form) and predict-and-eval pipeline."""
    folder = corpus / "adapted"
    messages = _run(folder / "pointnet_train.json", caplog, restore_logging)
    model = folder / "out" / "PointnetPwiseClassifier_T1" / "pnet_pwise_classif.model"
    assert model.is_file()
    assert "fnames AUTO: linearity_r0_05, planarity_r0_1" in messages
    _run(folder / "pointnet_predict_and_eval_pipeline.json", caplog, restore_logging)
    tiles = ("PinSyl_KA09_T048_2019-08-20_q1_TLS-on_c_t", "PinSyl_KA10_03_2019-07-30_q2_TLS-on_c_t")
    for tile, cloud in zip(tiles, ("leafwood_test_a", "leafwood_test_b")):
        out = folder / "out" / "PointnetPwiseClassifier_T1" / "predict" / tile
        for name in (
            "predicted.laz",
            "predictions.lbl",
            "pwise_out.laz",
            "pwise_activations.laz",
            "pwise_activations_ANOVA.csv",
            "global_eval.log",
            "class_eval.log",
            "confusion_matrix.log",
            "confusion_matrix.svg",
            "class_distribution.log",
            "class_distribution.svg",
        ):
            assert (out / name).is_file(), name
        predicted = laspy.read(out / "predicted.laz")
        labels = np.loadtxt(out / "predictions.lbl", dtype=np.int64)
        assert np.array_equal(np.asarray(predicted["prediction"]), labels)
        reference = np.asarray(predicted.classification)
        confusion = np.array([[np.sum((reference == t) & (labels == p)) for p in (0, 1)] for t in (0, 1)])
        rows = (out / "confusion_matrix.log").read_text().splitlines()[1:]
        assert [[int(v) for v in row.split(",")[1:]] for row in rows] == confusion.tolist()
        outputs = laspy.read(out / "pwise_out.laz")  # VL3D's ClassifiedPcloudReport layout after the input's
        source = laspy.read(folder / "data" / f"{cloud}.laz")
        kept = list(source.point_format.extra_dimension_names)
        assert list(outputs.point_format.extra_dimension_names) == [*kept, "Prediction", "Success", "wood", "leaf"]
        np.testing.assert_array_equal(np.asarray(outputs.classification), np.asarray(source.classification))
        np.testing.assert_array_equal(np.asarray(outputs["Prediction"]), labels)
        np.testing.assert_array_equal(np.asarray(outputs["Success"]), (reference == labels).astype(np.int64))
        activations = laspy.read(out / "pwise_activations.laz")
        np.testing.assert_array_equal(np.asarray(activations.classification), np.asarray(source.classification))
        names = [f"f{k}" for k in range(1, 17)]  # the 16 activations (num_pwise_feats)
        assert list(activations.point_format.extra_dimension_names) == [*kept, *names]
        anova_names = [row.split(",")[0] for row in (out / "pwise_activations_ANOVA.csv").read_text().splitlines()]
        assert anova_names == ["activation", *names]
    training = folder / "out" / "PointnetPwiseClassifier_T1" / "training_eval"
    classified = laspy.read(training / "classified_point_cloud.laz")
    assert list(classified.point_format.extra_dimension_names)[-4:] == ["Prediction", "Success", "wood", "leaf"]
    train = laspy.read(folder / "data" / "leafwood_train.laz")
    np.testing.assert_array_equal(np.asarray(classified.classification), np.asarray(train.classification))


def test_vl3d_class_reducer_training_runs(corpus, caplog, restore_logging):
    """VL3D's own ClassReducer + PointNet training (rectangular fields of 4096 points), then its
    predict-and-eval pipeline with its ClassificationUncertaintyEvaluator."""
    folder = corpus / "adapted"
    _run(folder / "pointnet_train_hessigheim_reduced.json", caplog, restore_logging)
    out = folder / "out" / "Rect3D_5m_T1"
    assert (out / "pipe" / "Rect3D_5m_T1.pipe").is_file()
    report = (out / "class_reduction.log").read_text()
    assert "11 classes -> 5" in report and "Roof, Facade, Vertical surface, Chimney" in report
    assert (out / "class_reduction.svg").read_text().lstrip().startswith("<?xml")
    _run(folder / "pointnet_predict_and_eval_hessigheim_reduced_pipeline.json", caplog, restore_logging)
    validation = out / "validation"
    uncertainty = laspy.read(validation / "uncertainty" / "uncertainty.laz")
    assert {"Success", "Urban furniture", "WeightedEntropy", "ClassAmbiguity"} <= set(
        uncertainty.point_format.extra_dimension_names
    )
    assert (validation / "uncertainty" / "point_wise_entropy_figure.svg").is_file()
    names = (validation / "report" / "class_eval.log").read_text().splitlines()
    assert [line.split(",")[0].strip() for line in names[1:]] == [
        "Ground",
        "Vegetation",
        "Building",
        "Urban furniture",
        "Vehicle",
    ]
    assert (validation / "plot" / "confusion_matrix.svg").is_file()


def test_documented_training_logs_each_note_once_and_strict_refuses_it(corpus, caplog, restore_logging, capsys):
    path = corpus / "documented" / "pointnet_train.json"
    assert main(["validate", "--strict", "--no-check-files", str(path)]) == 2
    strict = capsys.readouterr().err.splitlines()
    noted = [
        "$.model_args.include_transf_feats_X",
        "$.model_args.pre_processing.fast",
        "$.model_args.pre_processing.nthreads",
        "$.model_args.skip_link_features_X",
    ]
    assert [line.split(": ")[1] for line in strict] == noted
    assert all(": accepted, no effect here: " in line for line in strict)
    messages = _run(path, caplog, restore_logging)
    for where in noted:
        assert sum(where in m and "accepted, no effect here" in m for m in messages) == 1, where
    assert (corpus / "documented" / "out" / "leafwood" / "pnet_pwise_classif.model").is_file()
    assert (corpus / "documented" / "out" / "leafwood" / "training" / "history.csv").is_file()
    messages = _run(corpus / "documented" / "pointnet_further_training.json", caplog, restore_logging)
    assert "training starts from the pretrained model's weights" in messages
    assert (corpus / "documented" / "out" / "leafwood_further" / "pnet_pwise_classif.model").is_file()


def test_documented_pipelines_run(corpus, caplog, restore_logging):
    """ClassReducer, every VL3D writer and evaluator, the predictive pipeline and a reduction of predictions."""
    folder = corpus / "documented"
    _run(folder / "class_reducer_train_pipeline.json", caplog, restore_logging)
    out = folder / "out" / "reduced"
    written = laspy.read(out / "predicted.laz")
    source = laspy.read(folder / "data" / "hessigheim_train.laz")
    groups = {0: 1, 1: 1, 8: 1, 6: 2, 7: 2, 4: 3, 5: 3, 9: 3, 10: 3, 3: 4, 2: 5}  # value -> reduced class + 1
    expected = np.array([groups[int(v)] - 1 for v in np.asarray(source.classification)])
    assert np.array_equal(np.asarray(written.classification), expected)
    labels = np.loadtxt(out / "predictions.lbl", dtype=np.int64)
    assert np.array_equal(np.asarray(written["prediction"]), labels) and labels.max() < 5
    classified = laspy.read(out / "classified.laz")
    assert np.array_equal(np.asarray(classified.classification), labels)  # VL3D values: the code is the index
    assert (out / "plot" / "class_distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    activations = laspy.read(out / "pwise_activations.laz")
    assert [n for n in activations.point_format.extra_dimension_names] == [f"f{k}" for k in range(1, 9)]

    _run(folder / "predictive_pipeline_eval.json", caplog, restore_logging)
    evaluation = json.loads((folder / "out" / "reduced_validation" / "eval" / "evaluation.json").read_text())
    val = laspy.read(folder / "data" / "hessigheim_val.laz")
    val_reference = np.array([groups[int(v)] - 1 for v in np.asarray(val.classification)])
    assert evaluation["per_class"]["Vehicle"]["support"] == 0  # ignore_classes
    assert sum(row["support"] for row in evaluation["per_class"].values()) == int(np.sum(val_reference != 4))

    _run(folder / "reduce_predictions.json", caplog, restore_logging)
    ground = laspy.read(folder / "out" / "ground" / "ground.laz")
    assert np.array_equal(np.asarray(ground.classification), (val_reference != 0).astype(np.int64))
    assert set(np.unique(np.asarray(ground["prediction"]))) <= {0, 1}
    report = (folder / "out" / "ground" / "global_eval.log").read_text().split()
    assert report[:3] == ["OA,", "F1,", "MCC"]


@pytest.mark.parametrize("path", sorted((CORPUS / "adapted").glob("*.json")), ids=lambda p: p.name)
def test_an_adapted_spec_s_comment_says_which_loss_it_swapped_for_its_own(path):
    """A comment that says the loss was adapted names VL3D's loss and the one the spec now has
    (before, the autoencoder specs said only "-> class_weighted_focal_categorical_crossentropy")."""
    text = path.read_text()
    spec = json.loads(text)
    swap = re.search(r"the loss \(([^()]*)\)", spec["_comment"])
    if swap is None:
        return
    functions = set(re.findall(r'"function":\s*"([^"]+)"', text))
    source, _, target = swap[1].partition(" -> ")
    assert source and functions == {target}, (swap[1], functions)
