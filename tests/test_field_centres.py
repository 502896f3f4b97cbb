"""VL3D's receptive-field keys: training_class_distribution, center_on_pcloud, support strategies,
to_unit_sphere, num_encoding_neighbors, the four neighbourhood shapes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from vl3d_focal.data.field_centres import draw_class_centres, fps_centres
from vl3d_focal.data.field_encoding import encode_features, encode_labels, encoding_neighbours
from vl3d_focal.data.field_inputs import cloud_fields
from vl3d_focal.data.receptive_fields import NEIGHBORHOODS, FieldSpec, build_fields, field_centers, field_coordinates
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud


@pytest.fixture(scope="module")
def xyz():
    rng = np.random.default_rng(4)
    xy = rng.uniform(0, 20, (4000, 2))
    z = np.where(rng.random(4000) < 0.25, rng.uniform(0, 6, 4000), 0.1 * rng.random(4000))
    return np.round(np.column_stack([xy, z]), 2)  # LAS-like: centimetres, so distances tie


def _covered(xyz, centres, spec) -> bool:
    dims, p = NEIGHBORHOODS[spec.neighborhood]
    distance, _ = cKDTree(centres[:, :dims]).query(xyz[:, :dims], p=p)
    return bool(distance.max() <= spec.radius)


def test_training_class_distribution_draws_the_asked_centres_per_class_seeded():
    labels = [np.array([0] * 50 + [1] * 30 + [2] * 5 + [-1] * 10), np.array([1] * 40 + [2] * 3 + [-1] * 7)]
    drawn = draw_class_centres(labels, counts=[20, 25, 100], seed=3)
    classes = np.concatenate([y[rows] for y, rows in zip(labels, drawn)])
    assert np.bincount(classes, minlength=3).tolist() == [20, 25, 8]  # class 2 has only 8 points: all taken
    assert all(len(np.unique(rows)) == len(rows) for rows in drawn)  # no point twice
    again = draw_class_centres(labels, counts=[20, 25, 100], seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(drawn, again))
    other = draw_class_centres(labels, counts=[20, 25, 100], seed=4)
    assert not all(np.array_equal(a, b) for a, b in zip(drawn, other))
    assert len(drawn[1]) > 0 and len(drawn[0]) > 0  # both clouds contribute
    with pytest.raises(DataError, match="one count per class"):
        draw_class_centres(labels, counts=[1, 1], seed=0)
    with pytest.raises(DataError, match="no training field centre"):
        draw_class_centres(labels, counts=[0, 0, 0], seed=0)


@pytest.mark.parametrize("hood", list(NEIGHBORHOODS))
def test_center_on_pcloud_puts_every_centre_on_a_point_and_still_covers_the_cloud(xyz, hood):
    spec = FieldSpec(neighborhood=hood, radius=1.5, separation_factor=1.2, num_points=32, center_on_pcloud=True)
    centres = field_centers(xyz, spec)
    distance, _ = cKDTree(xyz).query(centres)
    assert distance.max() == 0.0
    assert _covered(xyz, centres, spec)
    means = field_centers(xyz, FieldSpec(neighborhood=hood, radius=1.5, separation_factor=1.2, num_points=32))
    assert cKDTree(xyz).query(means)[0].max() > 0.0  # the default centres are cell means


@pytest.mark.parametrize("hood", ["sphere", "rectangular2D"])
def test_fps_support_strategy_spreads_the_asked_number_of_centres_and_covers_the_cloud(xyz, hood):
    spec = FieldSpec(
        neighborhood=hood, radius=1.5, num_points=32, support_strategy="fps", support_strategy_num_points=40
    )
    centres = field_centers(xyz, spec)
    first = centres[:40]
    np.testing.assert_array_equal(first, field_centers(xyz, spec, training=True))  # VL3D's training centres
    assert cKDTree(xyz).query(first)[0].max() == 0.0  # cloud points
    assert _covered(xyz, centres, spec) and len(centres) > 40  # at prediction, extra centres fill the gaps
    dims = NEIGHBORHOODS[hood][0]
    gaps = cKDTree(first[:, :dims]).query(first[:, :dims], k=2)[0][:, 1]
    random = xyz[np.random.default_rng(0).choice(len(xyz), 40, replace=False)]
    assert gaps.min() > cKDTree(random[:, :dims]).query(random[:, :dims], k=2)[0][:, 1].min()  # spread out


def test_fps_training_fields_are_the_support_points_only_and_prediction_covers_every_point(caplog):
    xyz = np.random.default_rng(1).uniform(0, 10, (600, 3))
    spec = FieldSpec(radius=1.0, num_points=16, support_strategy="fps", support_strategy_num_points=16)
    caplog.set_level("INFO", logger="vl3d_focal")
    training = build_fields(xyz, spec, seed=0, training=True)
    assert training.num_fields == 16 and not _covered(xyz, training.centers, spec)  # VL3D: no extra field
    assert "extra fields" not in caplog.text
    predicted = build_fields(xyz, spec, seed=0)
    np.testing.assert_array_equal(predicted.centers[:16], training.centers)
    assert predicted.num_fields > 16 and bool(predicted.covered_mask(len(xyz)).all())
    extra = predicted.num_fields - 16
    assert re.search(
        rf"\d+ points farther than the radius from the 16 support points: {extra} extra fields "
        r"so that every point is predicted",
        caplog.text,
    )
    few = FieldSpec(radius=1.0, num_points=16, support_strategy="fps", support_strategy_num_points=1000)
    assert len(field_centers(xyz[:50], few, training=True)) == 50  # fewer points than asked: all of them
    caplog.clear()
    caplog.set_level("DEBUG", logger="vl3d_focal")
    field_centers(xyz, FieldSpec(radius=1.0, num_points=16, separation_factor=3.0))  # cells wider than fields
    told = [record.levelname for record in caplog.records if "extra fields" in record.getMessage()]
    assert told == ["DEBUG"]  # a grid's extra fields: usual, told at DEBUG only


@pytest.mark.parametrize("strategy", ["grid", "FPS"])
def test_only_fps_training_fields_differ_from_prediction_fields_and_only_they_are_cached_apart(strategy):
    xyz = np.random.default_rng(1).uniform(0, 10, (600, 3))
    spec = FieldSpec(radius=1.0, num_points=16, support_strategy=strategy, support_strategy_num_points=16)
    differs = strategy == "FPS"
    assert spec.training_differs is differs
    assert np.array_equal(field_centers(xyz, spec, training=True), field_centers(xyz, spec)) is not differs
    record = CloudRecord(path=Path("a.las"), cloud=PointCloud(xyz=xyz, las=None))
    training = cloud_fields(record, field_spec=spec, seed=0, training=True)
    assert (cloud_fields(record, field_spec=spec, seed=0) is training) is not differs  # grid: one entry for both
    # the key's "training" entry, as caches written before keep it
    assert [json.loads(key)["training"] for key in record.fields_cache] == ([True, False] if differs else [False])


def test_fps_centres_are_the_furthest_points():
    line = np.column_stack([np.arange(11.0), np.zeros(11), np.zeros(11)])
    assert sorted(fps_centres(line, count=3, dims=3)[:, 0].tolist()) == [0.0, 5.0, 10.0]
    assert len(fps_centres(line, count=50, dims=3)) == 11


def test_to_unit_sphere_puts_each_fields_farthest_point_at_distance_one(xyz):
    spec = FieldSpec(radius=1.5, num_points=32, to_unit_sphere=True)
    fields = build_fields(xyz, spec, seed=0)
    norms = np.linalg.norm(field_coordinates(xyz, fields, spec), axis=2).max(axis=1)
    extent = np.linalg.norm(xyz[fields.indices] - fields.centers[:, None, :], axis=2).max(axis=1)
    np.testing.assert_allclose(norms[extent > 0], 1.0, rtol=1e-6)
    assert (norms[extent == 0] == 0).all() and (extent > 0).mean() > 0.9  # a one-point field stays at 0
    scaled = field_coordinates(xyz, fields, FieldSpec(radius=1.5, num_points=32))
    assert np.linalg.norm(scaled, axis=2).max(axis=1).min() < 0.95  # the radius scaling leaves room


@pytest.mark.parametrize("hood", ["sphere", "cylinder"])
def test_encoding_neighbours_are_the_k_nearest_neighbourhood_points(xyz, hood):
    spec = FieldSpec(neighborhood=hood, radius=1.5, num_points=16)
    fields = build_fields(xyz, spec, seed=0)
    dims, p = NEIGHBORHOODS[hood]
    near = encoding_neighbours(xyz, fields.indices, fields.centers, k=4, radius=1.5, dims=dims, p=p)
    for m in range(0, len(fields.centers), 7):
        members = np.flatnonzero(np.linalg.norm(xyz[:, :dims] - fields.centers[m, :dims], ord=p, axis=1) <= 1.5)
        for j in range(16):
            gaps = np.linalg.norm(xyz[members] - xyz[fields.indices[m, j]], axis=1)
            expected = members[np.lexsort((members, gaps))[:4]].tolist()  # nearest first, ties to the lower index
            assert near[m, j].tolist() == expected + expected[-1:] * (4 - len(expected))  # few: the last repeated
    assert (near[..., 0] == fields.indices).all()  # a point is its own nearest neighbour
    # a subset holding the neighbourhoods (in the cloud's order) gives the same neighbours
    keep = np.flatnonzero(cKDTree(fields.centers[:20, :dims]).query(xyz[:, :dims], p=p)[0] <= 1.5 + 1e-9)
    local = np.searchsorted(keep, fields.indices[:20])
    subset = encoding_neighbours(xyz[keep], local, fields.centers[:20], k=4, radius=1.5, dims=dims, p=p)
    assert (keep[subset] == near[:20]).all()


def test_encoded_values_are_neighbour_means_and_majority_labels():
    features = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    near = np.array([[[0, 1, 2], [2, 2, 1]]])
    np.testing.assert_allclose(encode_features(features, near), [[[3.0, 30.0], [13 / 3, 130 / 3]]])
    assert encode_labels(np.array([0, 1, -1]), near, num_classes=2).tolist() == [[0, 1]]  # tie: lower class
    assert encode_labels(np.array([-1, -1, -1]), near, num_classes=2).tolist() == [[-1, -1]]
