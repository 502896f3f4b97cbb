"""``pre_processing.training_receptive_fields_dir``: after training, every training field is written
as its own cloud (as the prediction fields are); a model loaded from a file writes its prediction
fields where its stored ``receptive_fields_dir`` says; a re-run that writes fewer fields leaves
only its own files."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, run_steps, tiny_pointnet_args

from vl3d_focal.inference.classified_output import PREDICTION
from vl3d_focal.inference.field_clouds import FIELDS_DIR, TRAINING_FIELDS_DIR, field_points
from vl3d_focal.inference.network import field_probabilities
from vl3d_focal.training.fields import labelled_fields

MAPPING = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from vl3d_focal.data.synthetic import write_demo_scene

    folder = tmp_path_factory.mktemp("training_field_clouds")
    path = write_demo_scene(folder / "scene.las", seed=3, size_m=12.0, density=2.0)
    args = tiny_pointnet_args(5)
    args["pre_processing"].update({FIELDS_DIR: "*fields/", TRAINING_FIELDS_DIR: "*training_fields/"})
    args["model_handling"]["validation_split"] = 0.0  # every field a training field
    steps = [
        MAPPING,
        {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "random_seed": 1, "model_args": args},
        {"predict": "PreviousModel", "chunk_points": None},
        {"writer": "PredictiveModelWriter", "out_model": "*model.keras"},
    ]
    state = run_steps(folder, "train", [path], "out", steps)
    return folder, path, state


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _numbered(count: int) -> list[str]:
    return sorted(f"receptive_field_{i}.laz" for i in range(count))


def test_each_training_field_is_written_with_its_points_probabilities_prediction_and_reference(run):
    folder, path, state = run
    record, bundle = state.clouds[0], state.bundle
    data = labelled_fields(
        [record],
        field_spec=bundle.field_spec,
        seed=bundle.random_seed,
        feature_names=bundle.feature_names,
        normalizer=bundle.normalizer,
    )  # the fields the model trained on
    assert data.origins is not None
    probabilities = np.asarray(field_probabilities(bundle, data.coordinates, data.features), dtype=np.float64)
    written = folder / "out" / "training_fields"
    assert _names(written) == _numbered(len(data.labels)) and len(data.labels) > 1
    source, names, labels = laspy.read(path), list(bundle.class_names), np.asarray(record.labels)
    ground: list[int] = []  # the codes of class 0's points
    for i, (indices, field) in enumerate(zip(data.origins.indices, probabilities)):
        las = laspy.read(written / f"receptive_field_{i}.laz")
        ids, mean = field_points(field, indices)
        for dimension in ("X", "Y", "Z", "intensity"):  # the cloud's own points with their dimensions
            np.testing.assert_array_equal(np.asarray(las[dimension]), np.asarray(source[dimension])[ids])
        got = np.stack([np.asarray(las[name], dtype=np.float64) for name in names], axis=1)
        np.testing.assert_allclose(got, mean, atol=1e-5)  # the trained model's probabilities
        np.testing.assert_array_equal(np.asarray(las[PREDICTION]), np.argmax(got, axis=1))
        # the cloud's LAS codes as read, as the training's classified cloud keeps them
        np.testing.assert_array_equal(np.asarray(las.classification), np.asarray(source.classification)[ids])
        ground.extend(np.asarray(las.classification)[labels[ids] == 0].tolist())
    assert set(ground) == {2}  # class 0's points read their code, not the class index


def test_the_run_manifest_lists_the_training_fields(run):
    folder, _, _ = run
    manifest = json.loads((folder / "out" / "run.json").read_text())
    assert "training_fields/receptive_field_*.laz" in manifest["planned_numbered"]
    listed = sorted(name for name in manifest["files"] if name.startswith("training_fields/"))
    assert listed == sorted(f"training_fields/{name}" for name in _names(folder / "out" / "training_fields"))


def _predict(folder: Path, model: Path, cloud: Path, *, separation: float | None, overwrite: bool = False):
    from vl3d_focal.config import load_spec
    from vl3d_focal.runner.pipeline import execute_pipeline

    step = {"predict": "ModelLoader", "model_path": str(model), "chunk_points": None, "separation_factor": separation}
    spec = {"in_pcloud": [str(cloud)], "out_pcloud": [f"{folder / 'pred'}/*"], "sequential_pipeline": [step]}
    (folder / "predict.json").write_text(json.dumps(spec), encoding="utf-8")
    return execute_pipeline(load_spec(folder / "predict.json"), overwrite=overwrite)


def test_a_loaded_model_writes_the_fields_of_its_stored_folder_as_the_trained_model(run, tmp_path):
    folder, path, _ = run
    _predict(tmp_path, folder / "out" / "model.keras", path, separation=None)
    trained, loaded = folder / "out" / "fields", tmp_path / "pred" / "fields"
    assert _names(loaded) == _names(trained) and len(_names(loaded)) > 1
    codes = set()
    for name in _names(trained):
        a, b = laspy.read(trained / name), laspy.read(loaded / name)
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(np.asarray(a[PREDICTION]), np.asarray(b[PREDICTION]))
        np.testing.assert_array_equal(np.asarray(a.classification), np.asarray(b.classification))  # one coding
        codes.update(np.asarray(a.classification).tolist())
    assert 7 in codes and 2 in codes  # ignored and ground points, each its own code in both
    manifest = json.loads((tmp_path / "pred" / "run.json").read_text())
    assert manifest["planned_numbered"] == ["fields/receptive_field_*.laz"]
    assert sorted(n for n in manifest["files"] if n.startswith("fields/")) == [f"fields/{n}" for n in _names(loaded)]


def test_a_rerun_with_fewer_fields_leaves_only_its_own_field_files(run, tmp_path):
    from vl3d_focal.data.synthetic import write_demo_scene

    folder, path, _ = run
    model, fields, cloud = folder / "out" / "model.keras", tmp_path / "pred" / "fields", tmp_path / "scene.las"
    cloud.write_bytes(path.read_bytes())
    _predict(tmp_path, model, cloud, separation=0.4)
    first = len(_names(fields))
    _predict(tmp_path, model, cloud, separation=1.0, overwrite=True)  # another spec: --overwrite
    second = len(_names(fields))
    assert 1 < second < first and _names(fields) == _numbered(second)
    write_demo_scene(tmp_path / "small.las", seed=3, size_m=6.0, density=2.0).replace(cloud)
    _predict(tmp_path, model, cloud, separation=1.0)  # a re-run of the same spec on a smaller cloud
    third = len(_names(fields))
    assert 0 < third < second and _names(fields) == _numbered(third)
    manifest = json.loads((tmp_path / "pred" / "run.json").read_text())
    assert sorted(n for n in [*manifest["files"], *manifest["earlier_files"]] if n.startswith("fields/")) == [
        f"fields/{n}" for n in _numbered(third)
    ]


def test_a_class_that_cannot_name_its_probability_dimension_is_refused_for_the_training_fields(tmp_path):
    from vl3d_focal.config import check_spec

    classes = [{**item, "name": "Red"} if item["name"] == "vehicle" else item for item in DEMO_CLASSES]
    args = tiny_pointnet_args(5)
    args["pre_processing"][TRAINING_FIELDS_DIR] = "*training_fields/"
    train = {"train": "PointNetPwiseClassifier", "model_args": args}
    spec = {
        "in_pcloud": [str(tmp_path / "a.las")],
        "out_pcloud": [f"{tmp_path / 'out'}/"],
        "sequential_pipeline": [{**MAPPING, "classes": classes}, train],
    }
    at = f"$.sequential_pipeline[1].model_args.pre_processing.{TRAINING_FIELDS_DIR}"
    issues = {issue.path: issue.message for issue in check_spec(spec, check_files=False).issues}
    assert "'Red' is a standard LAS dimension" in issues[at], issues
