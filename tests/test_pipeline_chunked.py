"""Tile-by-tile prediction and chunked writing give the one-shot results (issue 6, big clouds)."""

from __future__ import annotations

from pathlib import Path

import laspy
import numpy as np
import pytest

from vl3d_focal.data.features import extract_features
from vl3d_focal.data.labels import ClassMapping
from vl3d_focal.data.miners import MinedFeatures
from vl3d_focal.data.normalization import FeatureNormalizer
from vl3d_focal.data.receptive_fields import FieldSpec, build_fields, fields_at_centers
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.inference.classified_output import probability_dimension
from vl3d_focal.inference.prediction import group_by_tile, predict_cloud
from vl3d_focal.inference.scoring import plot_sample
from vl3d_focal.io.las import PointCloud, write_cloud
from vl3d_focal.models.bundle import ModelBundle
from vl3d_focal.models.pointnet import build_pointnet_pwise_classifier
from vl3d_focal.steps.predict import predict_clouds
from vl3d_focal.steps.state import PipelineState
from vl3d_focal.steps.writers import run_pcloud_writer

FNAMES = ["intensity", "return_number"]
MAPPING = {
    "class_mapping": "LASClassMapping",
    "ignore_codes": [0, 1, 7],
    "classes": [
        {"name": "ground", "codes": [2]},
        {"name": "vegetation", "codes": [3, 4, 5]},
        {"name": "building", "codes": [6]},
        {"name": "vehicle", "codes": [68]},
        {"name": "pole", "codes": [64]},
    ],
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    las = generate_urban_scene(seed=3, size_m=48.0)
    path = tmp_path_factory.mktemp("chunked") / "scene.las"
    las.write(path)
    return path


def _with_defaults(step: dict) -> dict:
    """``step`` as a normalised spec holds it: every key its schema has a default for is present."""
    from vl3d_focal.config import apply_defaults

    return apply_defaults({"in_pcloud": [], "out_pcloud": ["o/"], "sequential_pipeline": [step]})[
        "sequential_pipeline"
    ][0]


def _record(path: Path, prefix: str) -> CloudRecord:
    cloud = PointCloud.from_las(laspy.read(path), path=path)
    return CloudRecord(path=path, cloud=cloud, prefix=prefix)


def _bundle(record: CloudRecord, pre_processor: str, fnames: list[str] = FNAMES) -> ModelBundle:
    spec = FieldSpec(pre_processor=pre_processor, radius=2.0, separation_factor=0.8, num_points=48)
    miners = MINERS.get(tuple(fnames), ())
    normalizer = FeatureNormalizer().fit(extract_features(record.cloud, fnames, miners=miners), fnames=fnames)
    model = build_pointnet_pwise_classifier(
        num_points=48,
        num_features=len(fnames),
        num_classes=5,
        num_pwise_feats=8,
        pretransf_feats_spec=[{"filters": 8}],
        postransf_feats_spec=[{"filters": 8}],
        tnet_pre_filters_spec=[],
        tnet_post_filters_spec=[],
        random_seed=5,
    )
    mapping = ClassMapping.from_spec(MAPPING)
    return ModelBundle(
        model=model,
        feature_names=fnames,
        normalizer=normalizer,
        field_spec=spec,
        mapping=mapping,
        class_names=list(mapping.names),
        random_seed=11,
        predict_batch_size=64,
        miners=miners,
    )


@pytest.mark.parametrize("pre_processor", ["furthest_point_subsampling", "grid_subsampling"])
def test_tiled_prediction_equals_one_shot(scene, tmp_path, pre_processor, caplog):
    whole, tiled = _record(scene, str(tmp_path / "a_")), _record(scene, str(tmp_path / "b_"))
    bundle = _bundle(whole, pre_processor)
    predict_cloud(whole, bundle, chunk_points=None)
    with caplog.at_level("INFO", logger="vl3d_focal.inference.prediction"):
        predict_cloud(tiled, bundle, chunk_points=4000)
    blocks = [r.getMessage() for r in caplog.records if "block" in r.getMessage()]
    assert len(blocks) >= 6, blocks  # the ~30k-point cloud really went tile by tile
    assert not tiled.fields_cache  # tiles do not keep their fields
    np.testing.assert_allclose(tiled.result.probabilities, whole.result.probabilities, rtol=0, atol=2e-6)
    np.testing.assert_array_equal(tiled.result.classes, whole.result.classes)
    np.testing.assert_allclose(whole.result.probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_predict_reads_chunk_points_and_writer_equals_one_shot_file(scene, tmp_path):
    record = _record(scene, str(tmp_path / "out_"))
    state = PipelineState(clouds=[record], model_prefix=str(tmp_path / "out_"))
    state.bundle = _bundle(record, "furthest_point_subsampling")
    predict_clouds({"chunk_points": 5000, "buffer": None}, state, state.bundle)
    tiled_probabilities = record.result.probabilities.copy()
    predict_clouds({"chunk_points": None, "buffer": None}, state, state.bundle)
    np.testing.assert_allclose(tiled_probabilities, record.result.probabilities, atol=2e-6)

    run_pcloud_writer(
        {
            "writer": "ClassifiedPcloudWriter",
            "out_pcloud": "*chunked.laz",
            "probabilities": True,
            "prediction_dimension": None,
            "keep_codes": [],
        },
        state,
    )
    codes = state.bundle.mapping.to_las_codes(record.result.classes)
    extra = {
        probability_dimension(name): record.result.probabilities[:, c].astype(np.float32)
        for c, name in enumerate(state.bundle.class_names)
    }
    write_cloud(record.cloud, tmp_path / "one_shot.laz", classification=codes, extra_dims=extra)
    chunked, one_shot = laspy.read(tmp_path / "out_chunked.laz"), laspy.read(tmp_path / "one_shot.laz")
    assert list(chunked.point_format.dimension_names) == list(one_shot.point_format.dimension_names)
    assert chunked.points.array.tobytes() == one_shot.points.array.tobytes()
    wkt = [v.string for v in one_shot.header.vlrs if hasattr(v, "string")]
    assert wkt and wkt == [v.string for v in chunked.header.vlrs if hasattr(v, "string")]  # the CRS
    np.testing.assert_array_equal(chunked.classification, codes)
    np.testing.assert_allclose(chunked["prob_ground"], record.result.probabilities[:, 0])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp left


def test_fields_on_a_subset_are_the_whole_cloud_fields(scene):
    xyz = PointCloud.from_las(laspy.read(scene)).xyz
    for pre in ("furthest_point_subsampling", "grid_subsampling"):
        spec = FieldSpec(pre_processor=pre, radius=2.0, num_points=32)
        fields = build_fields(xyz, spec, seed=4)
        chosen = np.arange(0, len(fields.centers), 7)
        centres = fields.centers[chosen]
        lo, hi = centres.min(axis=0) - 2.0, centres.max(axis=0) + 2.0
        subset = np.flatnonzero(np.all((xyz >= lo) & (xyz <= hi), axis=1))
        local = fields_at_centers(xyz[subset], centres, spec, seed=4, point_ids=subset)
        np.testing.assert_array_equal(subset[local], fields.indices[chosen])


def test_group_by_tile_and_plot_sample():
    groups = group_by_tile(np.array([5, 2, 5, 2, 9]))
    assert [g.tolist() for g in groups] == [[1, 3], [0, 2], [4]]
    assert len(range(1_000_000)[plot_sample(1_000_000, limit=300_000)]) <= 300_000
    assert plot_sample(1000).step == 1


def _lazy_state(path: Path, prefix: str, bundle: ModelBundle) -> PipelineState:
    from vl3d_focal.runner.inputs import read_inputs

    state = read_inputs(inputs=[path], prefixes=[prefix])
    state.bundle = bundle
    return state


NEIGHBOURHOOD_FNAMES = FNAMES + ["height_above_ground", "planarity", "verticality"]
SMOOTHED_FNAMES = ["intensity", "number_of_returns_mean_r1.5"]
"""A model that uses the smoothed number of returns, not the number itself: streamed buckets
keep the smoothing's input beside the model's features."""
CHAINED_FNAMES = ["return_number", "floor_distance_r4.0_sep0.5_mean_r1.5", "intensity_mean_r1.5"]
"""A model of a smoothed mined feature (HeightFeatures -> SmoothFeatures): the tiles compute the
height feature where the smoothing reads it, beyond the tile's edge."""
MINERS = {
    tuple(SMOOTHED_FNAMES): (
        MinedFeatures.from_step(
            {
                "miner": "SmoothFeatures",
                "input_fnames": ["number_of_returns"],
                "fnames": ["mean"],
                "neighborhood": {"type": "sphere", "radius": 1.5},
                "weighted_mean_omega": 0.0001,
                "gaussian_rbf_omega": 1.0,
                "nan_policy": "propagate",
            }
        ),
    ),
    tuple(CHAINED_FNAMES): (
        MinedFeatures.from_step(
            {
                "miner": "HeightFeatures",
                "fnames": ["floor_distance"],
                "neighborhood": {"type": "Rectangular2D", "radius": 4.0, "separation_factor": 0.5},
            }
        ),
        MinedFeatures.from_step(
            {
                "miner": "SmoothFeatures",
                "input_fnames": ["floor_distance_r4.0_sep0.5", "intensity"],
                "fnames": ["mean"],
                "neighborhood": {"type": "sphere", "radius": 1.5},
                "weighted_mean_omega": 0.0001,
                "gaussian_rbf_omega": 1.0,
                "nan_policy": "propagate",
            }
        ),
    ),
}


VL3D_FIELDS = {"center_on_pcloud": True, "num_encoding_neighbors": 3, "to_unit_sphere": True}
"""VL3D's receptive-field options that change centres, features and coordinates."""


@pytest.mark.parametrize(
    "pre_processor,neighborhood,fnames,options",
    [
        ("furthest_point_subsampling", "sphere", FNAMES, {}),
        ("grid_subsampling", "cylinder", FNAMES, {}),
        ("furthest_point_subsampling", "sphere", NEIGHBOURHOOD_FNAMES, {}),  # features of a neighbourhood
        ("furthest_point_subsampling", "sphere", SMOOTHED_FNAMES, {}),  # a mined feature of another one
        ("furthest_point_subsampling", "sphere", CHAINED_FNAMES, {}),  # a smoothed mined feature
        ("furthest_point_subsampling", "rectangular3D", FNAMES, VL3D_FIELDS),
    ],
)
def test_streamed_predict_eval_write_equal_one_shot(
    scene, tmp_path, pre_processor, neighborhood, fnames, options, caplog
):
    from dataclasses import replace

    from vl3d_focal.steps.evaluate import run_eval

    whole = _record(scene, str(tmp_path / "whole_"))
    bundle = _bundle(whole, pre_processor, fnames)
    bundle.field_spec = replace(bundle.field_spec, neighborhood=neighborhood, **options)
    one_shot = PipelineState(
        clouds=[whole], model_prefix=str(tmp_path / "whole_"), bundle=bundle, mapping=bundle.mapping
    )
    predict_clouds({"chunk_points": None, "buffer": None}, one_shot, one_shot.bundle)
    state = _lazy_state(scene, str(tmp_path / "lazy_"), bundle)
    record = state.clouds[0]
    with caplog.at_level("INFO", logger="vl3d_focal.inference.streaming"):
        predict_clouds({"chunk_points": 3000, "buffer": None}, state, state.bundle)
    assert len([r for r in caplog.records if "tile" in r.getMessage()]) >= 6
    assert not record.loaded and record.streamed
    parts = list(record.result.iter_chunks())
    assert [start for start, *_ in parts] == list(range(0, whole.num_points, 3000))
    classes = np.concatenate([p[2] for p in parts])
    probabilities = np.concatenate([p[3] for p in parts])
    np.testing.assert_array_equal(classes, whole.result.classes)
    # points in no field too: equidistant nearest covered points resolve to the lowest id in both paths
    np.testing.assert_allclose(probabilities, whole.result.probabilities, rtol=0, atol=1e-6)

    step = _with_defaults({"eval": "ClassificationEvaluator", "report_path": "*eval/evaluation.json"})
    state.mapping = bundle.mapping
    run_eval(step, one_shot)
    run_eval(step, state)
    assert not record.loaded
    import json

    streamed_report = json.loads((tmp_path / "lazy_eval" / "evaluation.json").read_text())
    whole_report = json.loads((tmp_path / "whole_eval" / "evaluation.json").read_text())
    assert streamed_report["confusion_matrix"] == whole_report["confusion_matrix"]
    assert streamed_report["mIoU"] == whole_report["mIoU"]
    assert (tmp_path / "lazy_eval" / "evaluation_topdown.svg").stat().st_size > 0

    writer = {
        "writer": "ClassifiedPcloudWriter",
        "out_pcloud": "*pred.las",
        "probabilities": True,
        "prediction_dimension": None,
        "keep_codes": [],
    }
    run_pcloud_writer(writer, one_shot)
    run_pcloud_writer(writer, state)
    assert not record.loaded
    streamed_las, whole_las = laspy.read(tmp_path / "lazy_pred.las"), laspy.read(tmp_path / "whole_pred.las")
    assert list(streamed_las.point_format.dimension_names) == list(whole_las.point_format.dimension_names)
    np.testing.assert_array_equal(streamed_las.classification, whole_las.classification)
    np.testing.assert_array_equal(streamed_las.X, whole_las.X)
    np.testing.assert_array_equal(streamed_las["prob_ground"], probabilities[:, 0])
    np.testing.assert_allclose(streamed_las["prob_ground"], whole_las["prob_ground"], atol=1e-6)
    folder = record.result.folder
    record.result.close()
    assert not folder.exists()


def test_lazy_record_reads_on_first_use_and_maps_pending_labels(scene, tmp_path):
    from vl3d_focal.steps.class_mapping import run_class_mapping

    state = _lazy_state(scene, str(tmp_path / "x_"), None)
    record = state.clouds[0]
    count = laspy.read(scene).header.point_count
    assert not record.loaded and record.num_points == count
    run_class_mapping(MAPPING, state)
    assert not record.loaded  # mapping deferred
    labels = record.labels
    assert record.loaded and labels.shape == (count,)
    np.testing.assert_array_equal(
        labels, ClassMapping.from_spec(MAPPING).map(np.asarray(laspy.read(scene).classification))
    )


@pytest.mark.parametrize("fnames", [NEIGHBOURHOOD_FNAMES, SMOOTHED_FNAMES])
def test_streamed_tiles_in_parallel_give_the_one_thread_result_bit_for_bit(scene, tmp_path, fnames, monkeypatch):
    # the terrain, the features, the field centres and the predictions of several tiles at once
    from vl3d_focal.data.parallel import THREADS_VARIABLE

    bundle = _bundle(_record(scene, str(tmp_path / "fit_")), "furthest_point_subsampling", fnames)
    results = {}
    for threads in ("1", "3"):
        monkeypatch.setenv(THREADS_VARIABLE, threads)
        state = _lazy_state(scene, str(tmp_path / f"threads{threads}_"), bundle)
        predict_clouds({"chunk_points": 3000, "buffer": None}, state, state.bundle)
        parts = list(state.clouds[0].result.iter_chunks())
        results[threads] = np.concatenate([p[3] for p in parts]), np.concatenate([p[2] for p in parts])
        state.clouds[0].result.close()
    assert len(results["1"][0]) == _record(scene, "x_").num_points
    np.testing.assert_array_equal(results["3"][0], results["1"][0])
    np.testing.assert_array_equal(results["3"][1], results["1"][1])


def test_blocks_of_a_cloud_in_memory_in_parallel_give_the_one_thread_result_bit_for_bit(scene, tmp_path, monkeypatch):
    from vl3d_focal.data.parallel import THREADS_VARIABLE

    bundle = _bundle(_record(scene, str(tmp_path / "fit_")), "furthest_point_subsampling", NEIGHBOURHOOD_FNAMES)
    results = {}
    for threads in ("1", "3"):
        monkeypatch.setenv(THREADS_VARIABLE, threads)
        record = _record(scene, str(tmp_path / f"threads{threads}_"))
        predict_cloud(record, bundle, chunk_points=4000)
        results[threads] = record.result.probabilities
    assert results["1"].shape == (_record(scene, "x_").num_points, 5)
    np.testing.assert_array_equal(results["3"], results["1"])
