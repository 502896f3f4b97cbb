"""``pre_processing.receptive_fields_dir``: a predict step with the model trained in the pipeline
writes every prediction field of the cloud as its own cloud (the cloud's points of the field, the
field's probabilities, its predicted class, the reference classes), in one go, block by block or
streamed tile by tile (the same fields); the run manifest lists them, so that ``--overwrite``
deletes them."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import laspy
import numpy as np
import pytest
from helpers import DEMO_CLASSES, SCENE_HIERARCHY, run_steps, tiny_pointnet_args

from vl3d_focal.config import check_spec
from vl3d_focal.inference.classified_output import PREDICTION
from vl3d_focal.inference.field_clouds import FIELDS_DIR
from vl3d_focal.inference.network import field_probabilities
from vl3d_focal.inference.prediction import cloud_probabilities, model_field_inputs
from vl3d_focal.runner.manifest import RunManifest

MAPPING = {"class_mapping": "LASClassMapping", "classes": DEMO_CLASSES, "ignore_codes": [0, 7]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from vl3d_focal.data.synthetic import write_demo_scene

    folder = tmp_path_factory.mktemp("receptive_field_clouds")
    path = write_demo_scene(folder / "scene.las", seed=3, size_m=12.0, density=2.0)
    args = tiny_pointnet_args(5)
    args["pre_processing"][FIELDS_DIR] = "*fields/"
    args["pre_processing"]["neighborhood"] = {"radius": 1.5}  # streamed: tiles of 2 x 2 on the 12 m scene
    steps = [
        MAPPING,
        {"train": "PointNetPwiseClassifier", "fnames": ["intensity"], "random_seed": 1, "model_args": args},
        {"predict": "PreviousModel", "chunk_points": None},
    ]
    state = run_steps(folder, "spec", [path], "out", steps)
    return folder, path, state


def _fields(record, bundle):
    """The fields the one-shot prediction builds and their probabilities (float64)."""
    inputs = model_field_inputs(record, bundle)
    return inputs.indices, np.asarray(field_probabilities(bundle, *inputs.as_inputs()), dtype=np.float64)


def _read(folder, count):
    return [laspy.read(folder / f"receptive_field_{i}.laz") for i in range(count)]


def test_each_field_is_written_with_its_points_probabilities_prediction_and_reference(run):
    folder, path, state = run
    record, bundle = state.clouds[0], state.bundle
    source = laspy.read(path)
    indices, probabilities = _fields(record, bundle)
    names = list(bundle.class_names)
    files = sorted((folder / "out" / "fields").iterdir())
    assert len(files) == len(indices) > 1
    codes = np.arange(len(names))  # a class step: the classes are written as their indices (VL3D's)
    assert bundle.mapping.prediction_values(codes).tolist() == codes.tolist()
    for field, written in zip(indices, _read(folder / "out" / "fields", len(indices))):
        ids = np.unique(field)
        np.testing.assert_array_equal(written.X, source.X[ids])  # the cloud's own points, raw coordinates
        np.testing.assert_array_equal(written.Y, source.Y[ids])
        np.testing.assert_array_equal(written.Z, source.Z[ids])
        assert list(written.header.scales) == list(source.header.scales)
        assert list(written.header.offsets) == list(source.header.offsets)
        assert list(written.point_format.extra_dimension_names)[-len(names) - 1 :] == [*names, PREDICTION]
        got = np.stack([np.asarray(written[name], dtype=np.float64) for name in names], axis=1)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(written[PREDICTION]), codes[np.argmax(got, axis=1)])
        # the cloud's LAS codes as read (an ignored point's too), as the classified clouds keep them
        np.testing.assert_array_equal(np.asarray(written.classification), np.asarray(source.classification)[ids])
    first = indices[0]
    ids, inverse = np.unique(first, return_inverse=True)
    mean = np.zeros((len(ids), len(names)))
    np.add.at(mean, inverse, probabilities[0])
    mean /= np.bincount(inverse)[:, None]  # a point padding repeats: the mean of its probabilities
    got = np.stack([np.asarray(_read(folder / "out" / "fields", 1)[0][name], np.float64) for name in names], axis=1)
    np.testing.assert_allclose(got, mean, atol=1e-6)


@pytest.mark.parametrize("raw_codes", [False, True])
def test_a_field_keeps_the_codes_as_read_so_an_ignored_point_never_reads_as_a_class(tmp_path, raw_codes):
    from vl3d_focal.data.labels import ClassMapping
    from vl3d_focal.inference.field_clouds import FieldClouds

    las = laspy.create(point_format=3, file_version="1.4")
    las.x, las.y, las.z = np.arange(4.0), np.zeros(4), np.zeros(4)
    las.classification = np.array([0, 7, 2, 5])  # unlabelled, ignored, ground (class 0), vegetation (class 1)
    if raw_codes:  # no class step: the classes are the codes present, predictions written as codes
        mapping = ClassMapping.from_codes(np.array([2, 5]), ignore_codes=[0, 7])
    else:
        mapping = ClassMapping(names=["ground", "vegetation"], codes=[[2], [5]], ignore_codes=[0, 7])
    clouds = FieldClouds(tmp_path, las=las, class_names=mapping.names, mapping=mapping)
    clouds.add(np.array([[[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.2, 0.8]]]), np.array([[0, 1, 2, 3]]))
    written = laspy.read(tmp_path / "receptive_field_0.laz")
    assert np.asarray(written.classification).tolist() == [0, 7, 2, 5]  # as the classified clouds keep it
    assert np.asarray(written[PREDICTION]).tolist() == ([2, 2, 2, 5] if raw_codes else [0, 0, 0, 1])


def test_block_by_block_prediction_writes_the_same_fields_numbered_on(run, tmp_path, caplog):
    folder, path, state = run
    caplog.set_level("INFO", logger="vl3d_focal")
    record, bundle = state.clouds[0], state.bundle
    indices, _ = _fields(record, bundle)
    paths = {FIELDS_DIR: tmp_path / "fields"}
    _, num_fields = cloud_probabilities(
        record, dataclasses.replace(bundle, field_reports=lambda _prefix: paths), chunk_points=record.num_points // 4
    )
    assert num_fields == len(indices)
    assert "block 2/" in caplog.text  # several blocks
    assert sorted(p.name for p in paths[FIELDS_DIR].iterdir()) == sorted(
        f"receptive_field_{i}.laz" for i in range(num_fields)
    )

    def contents(files):
        """Each field's points and probabilities, in the order of their points."""
        found = [
            (tuple(las.X), np.stack([np.asarray(las[name]) for name in bundle.class_names], axis=1)) for las in files
        ]
        return sorted(found, key=lambda item: (item[0], tuple(item[1].ravel())))

    blocks, whole = (
        contents(_read(paths[FIELDS_DIR], num_fields)),
        contents(_read(folder / "out" / "fields", num_fields)),
    )
    assert [points for points, _ in blocks] == [points for points, _ in whole]
    for (_, got), (_, expected) in zip(blocks, whole):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_run_manifest_lists_the_fields_it_wrote(run):
    folder, _, state = run
    manifest = json.loads((folder / "out" / "run.json").read_text())
    assert manifest["planned_numbered"] == ["fields/receptive_field_*.laz"]
    written = sorted(name for name in manifest["files"] if name.startswith("fields/"))
    assert written == sorted(f"fields/{p.name}" for p in (folder / "out" / "fields").iterdir())
    assert len(written) == len(_fields(state.clouds[0], state.bundle)[0])


def _spec(root: Path, fields: str | None) -> dict:
    args = tiny_pointnet_args(5)
    args["pre_processing"][FIELDS_DIR] = fields
    return {
        "in_pcloud": [str(root / "a.las")],
        "out_pcloud": [f"{root / 'out'}/"],
        "sequential_pipeline": [{"train": "PointNetPwiseClassifier", "model_args": args}],
    }


@pytest.mark.parametrize("killed", [False, True])
def test_overwrite_deletes_the_fields_of_the_previous_run_and_only_those(tmp_path, killed):
    first = RunManifest(_spec(tmp_path, "*fields/"), spec_file="first.json")
    first.claim()
    fields = tmp_path / "out" / "fields"
    fields.mkdir(parents=True)
    for i in range(3):
        (fields / f"receptive_field_{i}.laz").write_bytes(b"x")
        os.utime(fields / f"receptive_field_{i}.laz", (first.started, first.started))
    (fields / "notes.txt").write_text("not the run's")
    if not killed:  # a killed run never says what it wrote: its planned files changed since it started
        first.finish("done")
        assert sorted(n for n in json.loads((tmp_path / "out" / "run.json").read_text())["files"] if "field" in n) == [
            f"fields/receptive_field_{i}.laz" for i in range(3)
        ]
    else:
        first.lock.release()
    second = RunManifest(_spec(tmp_path, None), spec_file="second.json", overwrite=True)
    second.claim()
    second.finish("done")
    assert [p.name for p in fields.iterdir()] == ["notes.txt"]


def test_a_class_that_cannot_name_its_probability_dimension_is_refused_before_the_run(tmp_path):
    classes = [{**item, "name": "Red"} if item["name"] == "vehicle" else item for item in DEMO_CLASSES]
    spec = _spec(tmp_path, "*fields/")
    spec["sequential_pipeline"].insert(0, {**MAPPING, "classes": classes})
    at = "$.sequential_pipeline[1].model_args.pre_processing.receptive_fields_dir"
    issues = {issue.path: issue.message for issue in check_spec(spec, check_files=False).issues}
    assert "'Red' is a standard LAS dimension" in issues[at], issues
    spec["sequential_pipeline"][1]["model_args"]["pre_processing"][FIELDS_DIR] = None
    assert at not in {issue.path for issue in check_spec(spec, check_files=False).issues}


def test_the_hierarchical_autoencoder_writes_its_fields_too(tmp_path):
    from vl3d_focal.data.synthetic import write_demo_scene
    from vl3d_focal.models.autoencoder import TINY_FEATURE_EXTRACTION

    path = write_demo_scene(tmp_path / "scene.las", seed=4, size_m=10.0, density=2.0)
    pre_processing = {**SCENE_HIERARCHY, FIELDS_DIR: "*fields/"}
    train = {
        "train": "ConvolutionalAutoencoderPwiseClassifier",
        "fnames": ["intensity"],
        "random_seed": 2,
        "model_args": {
            "num_classes": 5,
            "pre_processing": pre_processing,
            "feature_extraction": TINY_FEATURE_EXTRACTION,
            "model_handling": {"training_epochs": 1, "batch_size": 8, "checkpoint": False},
            "compilation_args": {"loss": {"function": "sparse_categorical_crossentropy"}},
        },
    }
    state = run_steps(tmp_path, "spec", [path], "out", [MAPPING, train, {"predict": "PreviousModel"}])
    indices, _ = _fields(state.clouds[0], state.bundle)
    source = laspy.read(path)
    written = _read(tmp_path / "out" / "fields", len(indices))
    assert len(list((tmp_path / "out" / "fields").iterdir())) == len(indices) > 1
    for field, las in zip(indices, written):
        ids = np.unique(field)
        np.testing.assert_array_equal(np.stack([las.X, las.Y, las.Z]), np.stack([source.X, source.Y, source.Z])[:, ids])
        got = np.stack([np.asarray(las[name], dtype=np.float64) for name in state.bundle.class_names], axis=1)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(las[PREDICTION]), np.argmax(got, axis=1))


def test_a_streamed_cloud_writes_the_fields_of_the_cloud_predicted_in_memory(run, tmp_path, caplog):
    from vl3d_focal.data.records import CloudRecord
    from vl3d_focal.inference.streaming import predict_streamed

    folder, path, state = run
    caplog.set_level("INFO", logger="vl3d_focal")
    record = CloudRecord(path=path, prefix=f"{tmp_path}/", num_points=state.clouds[0].num_points)
    record.pending_mapping = state.mapping  # the labels a streamed cloud never maps whole
    paths = {FIELDS_DIR: tmp_path / "fields"}
    bundle = dataclasses.replace(state.bundle, field_reports=lambda _prefix: paths)
    predict_streamed(record, bundle, chunk_points=record.num_points // 6).close()
    assert "tile 2/" in caplog.text and not record.loaded  # several tiles, never read whole
    assert "not written for a streamed cloud" not in caplog.text
    count = len(list((folder / "out" / "fields").iterdir()))
    assert sorted(p.name for p in paths[FIELDS_DIR].iterdir()) == sorted(
        f"receptive_field_{i}.laz" for i in range(count)
    )
    assert not list(tmp_path.glob(".*/records_*")) and not list(tmp_path.glob(".*/field_*"))  # temporary files gone
    names = list(bundle.class_names)

    def by_points(files):
        """Each field's points (every dimension but the probabilities and ``Prediction``), probabilities and
        predictions, grouped by its points' sorted coordinate tuples (fields of the same points: by probabilities)."""
        found: dict[tuple, list] = {}
        for las in files:
            order = np.lexsort((las.Z, las.Y, las.X))
            key = tuple(zip(las.X[order].tolist(), las.Y[order].tolist(), las.Z[order].tolist()))
            kept = [n for n in las.point_format.dimension_names if n not in {*names, PREDICTION}]
            probabilities = np.stack([np.asarray(las[n], dtype=np.float64)[order] for n in names], axis=1)
            dims = {n: np.asarray(las[n])[order] for n in kept}
            found.setdefault(key, []).append((dims, probabilities, np.asarray(las[PREDICTION])[order]))
        return {key: sorted(group, key=lambda item: tuple(item[1].ravel())) for key, group in found.items()}

    streamed = by_points(_read(paths[FIELDS_DIR], count))
    whole = by_points(_read(folder / "out" / "fields", count))
    assert streamed.keys() == whole.keys() and count > 1
    for key, group in streamed.items():
        assert len(group) == len(whole[key])  # as many fields of those points
        for (dims, probabilities, prediction), (expected_dims, expected, _) in zip(group, whole[key]):
            assert dims.keys() == expected_dims.keys()  # every dimension of the cloud, classification the reference
            for name, values in dims.items():
                np.testing.assert_array_equal(values, expected_dims[name], err_msg=name)
            np.testing.assert_allclose(probabilities, expected, atol=1e-5)
            np.testing.assert_array_equal(prediction, np.argmax(probabilities, axis=1))
