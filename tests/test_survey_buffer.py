"""Buffered prediction of a survey's tiles (issue 14): the neighbours' points as context."""

from __future__ import annotations

import laspy
import numpy as np
import pytest
from helpers import random_bundle, split_scene

from vl3d_focal.data.normalization import sample_stride
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.inference.buffered import buffer_box, predict_buffered, read_buffer
from vl3d_focal.inference.prediction import predict_cloud
from vl3d_focal.io.chunks import read_within
from vl3d_focal.io.footprints import TileIndex, read_footprint
from vl3d_focal.io.las import read_cloud

FNAMES = ["intensity", "return_number"]


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    root = tmp_path_factory.mktemp("buffer")
    las = generate_urban_scene(seed=3, size_m=48.0)
    las.write(root / "scene.las")
    tiles, members = split_scene(las, root / "tiles")
    return root, tiles, members


def _whole(root, bundle) -> CloudRecord:
    record = CloudRecord(path=root / "scene.las", cloud=read_cloud(root / "scene.las"), prefix=str(root / "whole_"))
    predict_cloud(record, bundle, chunk_points=None)
    return record


def _buffered(tile, bundle, *, buffer, index):
    record = CloudRecord(
        path=tile, cloud=None, prefix=str(tile.parent / f"{tile.stem}_"), num_points=read_footprint(tile).points
    )
    result = predict_buffered(record, bundle, buffer=buffer, index=index, chunk_points=None)
    parts = list(result.iter_chunks())
    result.close()
    return np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]), record


def test_buffered_tiles_predict_as_the_whole_scene_and_unbuffered_borders_differ(survey):
    root, tiles, members = survey
    bundle = random_bundle(fnames=FNAMES)
    whole = _whole(root, bundle)
    index = TileIndex.read(tiles)
    # a point's receptive field: its fields' centres within one reach of it, their points within two
    buffer = 2 * bundle.field_spec.reach
    assert 0 < buffer < np.inf
    xy = whole.cloud.xyz[:, :2]
    middle = (xy.min(axis=0) + xy.max(axis=0)) / 2  # the inner tile edges
    same = {"buffered": [], "alone": []}
    gaps = {"buffered": [], "alone": []}
    border = []
    for tile, rows in zip(tiles, members):
        classes, probabilities, _ = _buffered(tile, bundle, buffer=buffer, index=index)
        alone = CloudRecord(path=tile, cloud=read_cloud(tile), prefix=str(root / "alone_"))
        predict_cloud(alone, bundle, chunk_points=None)
        for name, (got, probs) in {
            "buffered": (classes, probabilities),
            "alone": (alone.result.classes, alone.result.probabilities),
        }.items():
            same[name].append(got == whole.result.classes[rows])
            gaps[name].append(np.abs(probs - whole.result.probabilities[rows]).max(axis=1))
        border.append(np.abs(xy[rows] - middle).min(axis=1) < bundle.field_spec.radius)
    border = np.concatenate(border)
    agree = {name: np.concatenate(values) for name, values in same.items()}
    gap = {name: np.concatenate(values) for name, values in gaps.items()}
    assert len(agree["buffered"]) == whole.num_points and border.sum() > 1000
    assert agree["buffered"].mean() >= 0.999, agree["buffered"].mean()
    assert agree["buffered"][border].mean() >= 0.999
    # without the buffer, points near the tile edges are predicted without their context
    assert agree["alone"][border].mean() < 0.99, agree["alone"][border].mean()
    assert np.median(gap["alone"][border]) > 100 * max(np.median(gap["buffered"][border]), 1e-7)


def test_a_neighbour_without_a_model_feature_is_left_out_with_a_warning(survey, tmp_path):
    root, tiles, _ = survey
    stripped = tmp_path / "tile_1_0.las"
    source = laspy.read(tiles[2])
    out = laspy.create(point_format=1, file_version="1.2")  # no RGB, no NIR: fine; intensity kept
    out.header.offsets, out.header.scales = source.header.offsets, source.header.scales
    out.x, out.y, out.z = source.x, source.y, source.z
    out.classification = np.minimum(np.asarray(source.classification), 31)
    out.write(stripped)
    index = TileIndex.read([tiles[0], tiles[1], stripped, tiles[3]])
    warnings: list[str] = []
    parts = read_buffer(
        tiles[0],
        index=index,
        buffer=3.0,
        feature_names=["intensity", "gps_time", "scanner_channel"],
        chunk_points=5000,
        warnings=warnings,
    )
    assert [p.path.name for p in parts] == ["tile_0_1.las", "tile_1_1.las"]
    assert len(warnings) == 1 and "tile_1_0.las" in warnings[0] and "['scanner_channel']" in warnings[0]


def test_the_buffer_holds_only_the_neighbours_points_near_the_tile(survey):
    root, tiles, _ = survey
    index = TileIndex.read(tiles)
    own = index.get(tiles[0])
    assert [f.path for f in index.neighbours(tiles[0], margin=1.0)] == [str(t) for t in tiles[1:]]
    low, high = buffer_box(own, buffer=2.5)
    parts = read_buffer(tiles[0], index=index, buffer=2.5, feature_names=FNAMES, chunk_points=3000, warnings=[])
    for part in parts:
        xyz = np.column_stack([part.points.x, part.points.y, part.points.z])
        assert len(xyz) > 0 and np.all(xyz[:, :2] >= low[:2]) and np.all(xyz[:, :2] <= high[:2])
        every = read_cloud(part.path).xyz
        inside = np.all((every[:, :2] >= low[:2]) & (every[:, :2] <= high[:2]), axis=1)
        assert len(xyz) == inside.sum()  # every point of the strip, read in chunks of 3000
    strip = read_within(tiles[1], low=np.array([np.inf] * 3), high=np.array([-np.inf] * 3))
    assert len(strip) == 0


def test_a_buffered_tile_is_scaled_by_its_own_points_statistics(survey, monkeypatch):
    root, tiles, _ = survey
    bundle = random_bundle(fnames=FNAMES)
    bundle.normalizer.cloud_scaling = {"intensity": {"method": "percentile", "percentile": 99.0}}
    samples = []
    measure = type(bundle.normalizer).cloud_statistics
    monkeypatch.setattr(
        type(bundle.normalizer),
        "cloud_statistics",
        lambda self, sample: samples.append(sample) or measure(self, sample),
    )
    _buffered(tiles[0], bundle, buffer=2 * bundle.field_spec.reach, index=TileIndex.read(tiles))
    own = np.asarray(laspy.read(tiles[0]).intensity)[:: sample_stride(read_footprint(tiles[0]).points)]
    assert len(samples) == 1
    np.testing.assert_array_equal(np.sort(samples[0][:, 0]), np.sort(own.astype(np.float32)))


def test_neighbours_need_only_the_features_read_from_files_not_the_mined_ones(survey, monkeypatch):
    import dataclasses

    from vl3d_focal.data.miners import MinedFeatures
    from vl3d_focal.inference import buffered

    _, tiles, _ = survey
    recipe = MinedFeatures.from_step({"miner": "GeometricFeatures", "k": 16, "fnames": ["planarity"]})
    bundle = dataclasses.replace(random_bundle(fnames=FNAMES), feature_names=[*FNAMES, *recipe.names], miners=(recipe,))
    asked = []

    def spy(path, *, feature_names, **options):  # what a neighbour must hold to be read
        asked.append(feature_names)
        raise RuntimeError("stop after the check")

    monkeypatch.setattr(buffered, "read_buffer", spy)
    record = CloudRecord(path=tiles[0], cloud=None, prefix="unused_", num_points=read_footprint(tiles[0]).points)
    with pytest.raises(RuntimeError, match="stop after the check"):
        predict_buffered(record, bundle, buffer=3.0, index=TileIndex.read(tiles), chunk_points=None)
    assert recipe.names == ("planarity_k16",) and asked == [FNAMES]  # mined for the buffer as for the tile
