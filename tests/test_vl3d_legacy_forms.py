"""VL3D's legacy single-component specs (spec/dev/legacy/1), adapted only in their paths
(tests/specs/vl3d/adapted): the random forest trained with ``training_type`` 'base' (its
``autoval_metrics`` a no-effect note, as VL3D's base training never reads them) and the predict
form of ``vl3d.py --predict`` (``in_model``, ``out_pcloud``, ``out_preds``), run on synthetic tiles.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import write_vl3d_cloud

from vl3d_focal.cli import main
from vl3d_focal.config import check_spec, read_spec_file

ADAPTED = Path(__file__).parent / "specs" / "vl3d" / "adapted"
FOREST_SPECS = ("random_forest_train_base.json", "random_forest_predict.json")


def _checked(path: Path):
    return check_spec(read_spec_file(path), file=str(path), base_dir=path.parent, check_files=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The forest's adapted specs beside two leaf/wood tiles holding its 13 features."""
    for name in FOREST_SPECS:
        shutil.copy(ADAPTED / name, tmp_path / name)
    names = tuple(json.loads((ADAPTED / FOREST_SPECS[0]).read_text())["fnames"])
    for name, seed in (("leafwood_train", 0), ("leafwood_test_a", 1)):
        write_vl3d_cloud(tmp_path / "data" / f"{name}.laz", classes="leafwood", seed=seed, scale=0.1, extra=names)
    return tmp_path


def test_the_forest_s_autoval_metrics_of_a_base_training_are_a_note():
    checked = _checked(ADAPTED / "random_forest_train_base.json")
    assert checked.issues == []
    assert [(note.path, note.message.split(":")[0]) for note in checked.notes] == [
        ("$.autoval_metrics", "accepted, no effect here")
    ]
    assert "training_type 'base' fits the RandomForestClassifier on every point" in checked.notes[0].message


def test_the_predict_form_is_a_model_loader_and_its_two_writers():
    checked = _checked(ADAPTED / "random_forest_predict.json")
    assert checked.issues == [] and checked.notes == []
    assert checked.pipeline is not None
    assert checked.pipeline["out_pcloud"] == "out/RandomForest_base/predict/"
    assert checked.pipeline["sequential_pipeline"] == [
        {"predict": "ModelLoader", "model_path": "out/RandomForest_base/RandomForest_QuePet_BR01.model"},
        {"writer": "Writer", "out_pcloud": "out/RandomForest_base/predict/test_tree_predictions.laz"},
        {"writer": "PredictionsWriter", "out_preds": "out/RandomForest_base/predict/test_tree_predictions.lbl"},
    ]
    assert checked.step_origins == ("spec's predict", "spec's out_pcloud", "spec's out_preds")


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"out_pcloud": "o/p.laz"}, ["$: missing required key 'in_model' (the model file the predict form applies)"]),
        (
            {"in_model": "m.model"},
            [
                "$: missing required key 'out_pcloud' or 'out_preds' (the predict form writes the cloud with its "
                "predicted classes to out_pcloud, the predicted classes one per line to out_preds)"
            ],
        ),
        (
            {"in_model": "m.model", "out_preds": "*p.lbl", "chunk_points": 5},
            [
                "$.chunk_points: 5 is less than the minimum of 1000",
                "$.out_preds: the single-component form has no output prefix; expected a path without a leading "
                "'*'; got '*p.lbl'",
            ],
        ),
    ],
)
def test_predict_form_mistakes_are_reported_at_the_user_s_paths(doc, expected):
    found = check_spec({"predict": "ModelLoader", "in_pcloud": "a.laz", **doc}, check_files=False).issues
    assert [str(issue) for issue in found] == expected


def test_vl3d_forest_training_and_predict_form_run(folder, caplog, restore_logging):
    assert main(["run", str(folder / "random_forest_train_base.json")]) == 0
    model = folder / "out" / "RandomForest_base" / "RandomForest_QuePet_BR01.model"
    assert model.is_file()
    assert main(["run", str(folder / "random_forest_predict.json")]) == 0
    out = folder / "out" / "RandomForest_base" / "predict"
    source = laspy.read(folder / "data" / "leafwood_test_a.laz")
    predicted = laspy.read(out / "test_tree_predictions.laz")
    labels = np.loadtxt(out / "test_tree_predictions.lbl", dtype=np.int64)
    # VL3D's --predict: the input cloud with a 'prediction' dimension, and the same classes one per line
    assert len(labels) == len(source.points) and set(np.unique(labels)) <= {0, 1}
    assert np.array_equal(np.asarray(predicted["prediction"]), labels)
    assert np.array_equal(np.asarray(predicted.classification), np.asarray(source.classification))
    assert np.array_equal(np.asarray(predicted.x), np.asarray(source.x))
    # the same classes as the pipeline form's ModelLoader and PredictionsWriter
    pipeline = {
        "in_pcloud": "data/leafwood_test_a.laz",
        "out_pcloud": "out/pipeline/*",
        "sequential_pipeline": [
            {"predict": "ModelLoader", "model_path": str(model)},
            {"writer": "PredictionsWriter", "out_preds": "*predictions.lbl"},
        ],
    }
    (folder / "pipeline.json").write_text(json.dumps(pipeline))
    assert main(["run", str(folder / "pipeline.json")]) == 0
    assert np.array_equal(np.loadtxt(folder / "out" / "pipeline" / "predictions.lbl", dtype=np.int64), labels)


def test_vl3d_grid_subsampling_layout_is_a_sphere_neighbourhood_of_cell_count_points():
    checked = _checked(ADAPTED / "pointnet_train_rfgs_base.json")
    assert checked.issues == []
    assert "$.model_args.pre_processing.interpolate" in [note.path for note in checked.notes]
    from vl3d_focal.data.receptive_fields import FieldSpec

    pre_processing = checked.pipeline["sequential_pipeline"][0]["model_args"]["pre_processing"]
    spec = FieldSpec.from_config({**pre_processing, "num_points": 512})  # a default num_points is not read
    assert (spec.pre_processor, spec.neighborhood, spec.radius, spec.separation_factor) == (
        "grid_subsampling",
        "sphere",
        0.2,
        0.86,
    )
    assert spec.num_points == round(np.prod(2.0 / np.array([0.5, 0.5, 0.5])))  # VL3D's cells per field
    defaults = FieldSpec.from_config({"pre_processor": "grid_subsampling"})  # VL3D's own defaults
    assert (defaults.radius, defaults.separation_factor, defaults.num_points) == (1.0, np.sqrt(3) / 4, 8000)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"num_points": 64}, ["$.model_args.pre_processing.num_points: VL3D's grid_subsampling layout sizes"]),
        (
            {"pre_processor": "furthest_point_subsampling", "interpolate": None},
            [
                "$.model_args.pre_processing.cell_size: cell_size is VL3D's grid_subsampling layout; "
                "furthest_point_subsampling takes neighborhood",
                "$.model_args.pre_processing.separation_factor: separation_factor is",
                "$.model_args.pre_processing.sphere_radius: sphere_radius is",
            ],
        ),
        (
            {"neighborhood": {"radius": 1.0}, "cell_size": None, "separation_factor": None, "interpolate": None},
            [
                "$.model_args.pre_processing.sphere_radius: sphere_radius is VL3D's grid_subsampling layout, "
                "which stands for neighborhood; give one of them"
            ],
        ),
        (
            {"sphere_radius": None, "cell_size": None, "separation_factor": None, "interpolate": None},
            [
                "$.model_args.pre_processing: missing required key 'neighborhood' (or VL3D's grid_subsampling "
                "layout: sphere_radius, separation_factor, cell_size)"
            ],
        ),
    ],
)
def test_a_mix_of_the_two_field_layouts_is_refused(change, expected):
    doc = read_spec_file(ADAPTED / "pointnet_train_rfgs_base.json")
    pre_processing = doc["model_args"]["pre_processing"]
    for key, value in change.items():
        if value is None:
            del pre_processing[key]
        else:
            pre_processing[key] = value
    found = [str(issue) for issue in check_spec(doc, base_dir=ADAPTED, check_files=False).issues]
    assert len(found) == len(expected) and all(f.startswith(e) for f, e in zip(found, expected)), found


def test_vl3d_grid_subsampling_training_and_pointnet_predict_form_run(tmp_path, caplog, restore_logging):
    from vl3d_focal.models.model_file import load_bundle

    for name in ("pointnet_train_rfgs_base.json", "pointnet_predict.json"):
        shutil.copy(ADAPTED / name, tmp_path / name)
    for name, seed in (("leafwood_train", 0), ("leafwood_test_a", 1)):
        write_vl3d_cloud(tmp_path / "data" / f"{name}.laz", classes="leafwood", seed=seed, scale=0.1)
    assert main(["run", str(tmp_path / "pointnet_train_rfgs_base.json")]) == 0
    out = tmp_path / "out" / "PointnetPwiseClassifier_GSfill"
    spec = load_bundle(out / "pnet_pwise_classif.model", with_model=False).field_spec
    assert spec.to_config()["neighborhood"] == {"type": "sphere", "radius": 0.2, "separation_factor": 0.86}
    assert (spec.pre_processor, spec.num_points) == ("grid_subsampling", 64)
    assert (out / "eval" / "evaluation.log").is_file()
    assert main(["run", str(tmp_path / "pointnet_predict.json")]) == 0
    stem = out / "predict" / "PinSyl_KA10_03_2019-07-30_q2_TLS-on_c_t_pred"
    labels = np.loadtxt(stem.with_suffix(".lbl"), dtype=np.int64)
    predicted = laspy.read(stem.with_suffix(".laz"))
    assert len(labels) == len(predicted.points) and np.array_equal(np.asarray(predicted["prediction"]), labels)


def test_a_zero_radius_field_is_the_whole_cloud_about_its_mean():
    from vl3d_focal.data.receptive_fields import FieldSpec, build_fields, field_coordinates

    xyz = np.random.default_rng(0).uniform(0.0, 10.0, (300, 3))
    spec = FieldSpec.from_config({"neighborhood": {"radius": 0.0}, "num_points": 300})
    fields = build_fields(xyz, spec, seed=0)
    assert fields.indices.shape == (1, 300) and sorted(fields.indices[0].tolist()) == list(range(300))
    np.testing.assert_allclose(fields.centers[0], xyz.mean(axis=0))
    coordinates = field_coordinates(xyz, fields, spec)  # centred only, as VL3D's furthest point fields
    np.testing.assert_allclose(coordinates[0], (xyz - xyz.mean(axis=0))[fields.indices[0]], rtol=1e-6)
    assert build_fields(xyz, FieldSpec(radius=0.0, num_points=64), seed=0).indices.shape == (1, 64)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"pre_processor": "grid_subsampling"},
            "$.model_args.pre_processing.neighborhood.radius: 0 (the whole cloud) is for furthest_point_subsampling; "
            "grid_subsampling needs a radius > 0",
        ),
        (
            {"training_class_distribution": [10, 10]},
            "$.model_args.pre_processing.training_class_distribution: a field of radius 0 is the whole cloud, one "
            "per cloud: there are no centres to draw per class (VL3D ignores them); remove "
            "training_class_distribution",
        ),
    ],
)
def test_what_a_whole_cloud_field_cannot_take_is_refused(change, expected):
    doc = read_spec_file(ADAPTED / "pointnet_train_rffps_one_base.json")
    doc["model_args"]["pre_processing"].update(change)
    found = [str(issue) for issue in check_spec(doc, base_dir=ADAPTED, check_files=False).issues]
    assert found == [expected]


def test_vl3d_whole_cloud_training_runs_and_predicts_each_cloud_in_one_go(tmp_path, caplog, restore_logging):
    from vl3d_focal.models.model_file import load_bundle

    assert _checked(ADAPTED / "pointnet_train_rffps_one_base.json").issues == []
    shutil.copy(ADAPTED / "pointnet_train_rffps_one_base.json", tmp_path / "train.json")
    for name, seed in (("leafwood_train", 0), ("leafwood_test_a", 1)):
        write_vl3d_cloud(tmp_path / "data" / f"{name}.laz", classes="leafwood", seed=seed, scale=0.1)
    assert main(["run", str(tmp_path / "train.json")]) == 0
    model = tmp_path / "out" / "PointnetPwiseClassifier_FPSone" / "pnet_pwise_classif.model"
    spec = load_bundle(model, with_model=False).field_spec
    assert (spec.radius, spec.whole_cloud, spec.num_points) == (0.0, True, 512)
    labels = {}
    for chunk_points in (None, 1000):  # the cloud has more points than 1000: still one field, in one go
        pipeline = {
            "in_pcloud": "data/leafwood_test_a.laz",
            "out_pcloud": f"out/predict_{chunk_points}/*",
            "sequential_pipeline": [
                {"predict": "ModelLoader", "model_path": str(model), "chunk_points": chunk_points},
                {"writer": "PredictionsWriter", "out_preds": "*predictions.lbl"},
            ],
        }
        (tmp_path / "predict.json").write_text(json.dumps(pipeline))
        caplog.clear()
        assert main(["run", str(tmp_path / "predict.json")]) == 0
        assert any("from 1 fields" in record.getMessage() for record in caplog.records)
        labels[chunk_points] = np.loadtxt(tmp_path / "out" / f"predict_{chunk_points}" / "predictions.lbl")
    assert len(labels[None]) == len(laspy.read(tmp_path / "data" / "leafwood_test_a.laz").points)
    assert np.array_equal(labels[None], labels[1000])


def test_a_predict_form_of_a_previous_model_names_the_user_s_in_model():
    doc = {"predict": "PreviousModel", "in_pcloud": "a.laz", "in_model": "m.model", "out_preds": "p.lbl"}
    found = [str(issue) for issue in check_spec(doc, check_files=False).issues]
    assert found[0].startswith("$.in_model: unknown key 'in_model'; allowed keys: 'predict'"), found
    assert not any("model_path" in message for message in found), found


def test_a_buffer_on_a_whole_cloud_model_is_a_validation_error_at_the_buffer(tmp_path):
    from helpers import random_bundle, tiny_pointnet_args

    from vl3d_focal.errors import DataError
    from vl3d_focal.models.model_file import save_bundle
    from vl3d_focal.steps.predict import predict_clouds
    from vl3d_focal.steps.state import PipelineState

    message = (
        "buffer adds the neighbouring clouds' points to a cloud's fields, but this model's field is the whole cloud "
        "(neighborhood.radius 0); remove buffer"
    )
    whole, local = random_bundle(fnames=["intensity"], radius=0.0), random_bundle(fnames=["intensity"])
    models = {radius: save_bundle(b, tmp_path / f"r{radius}.keras") for radius, b in ((0, whole), (2, local))}

    def issues(steps: list[dict]) -> list[str]:
        spec = {"in_pcloud": "a.las", "out_pcloud": "o/", "sequential_pipeline": steps}
        return [str(issue) for issue in check_spec(spec, check_files=False).issues]

    loader = {"predict": "ModelLoader", "model_path": str(models[0]), "buffer": 5.0}
    assert issues([loader]) == [f"$.sequential_pipeline[0].buffer: {message}"]
    assert issues([{**loader, "buffer": None}]) == []
    assert issues([{**loader, "model_path": str(models[2])}]) == []
    args = tiny_pointnet_args(2)
    train = {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "model_args": args}
    whole_train = {**train, "model_args": {**args, "pre_processing": {"neighborhood": {"radius": 0}, "num_points": 32}}}
    previous = {"predict": "PreviousModel", "buffer": 5.0}
    assert f"$.sequential_pipeline[1].buffer: {message}" in issues([whole_train, previous])
    assert not any(".buffer" in issue for issue in issues([train, previous]))
    state = PipelineState(clouds=[], model_prefix=f"{tmp_path}/")  # the run still refuses it (the backstop)
    with pytest.raises(DataError, match=r"predict: buffer adds .* remove buffer"):
        predict_clouds({"chunk_points": None, "buffer": 5.0}, state, whole)
