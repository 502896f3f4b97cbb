"""A streamed tile computes the fields within one radius, and of the ring beyond only those its
points in no field need, with the whole cloud's probabilities (issue 14, predict throughput)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import random_bundle

from vl3d_focal.data.features import extract_features
from vl3d_focal.data.receptive_fields import field_centers
from vl3d_focal.data.records import CloudRecord
from vl3d_focal.data.synthetic import generate_urban_scene
from vl3d_focal.inference.prediction import cloud_probabilities
from vl3d_focal.inference.tile_buckets import bucket_dtype
from vl3d_focal.inference.tile_fields import TileFields
from vl3d_focal.inference.tile_geometry import SLACK, inside, tile_margin
from vl3d_focal.io.las import PointCloud


@pytest.fixture(scope="module")
def scene():
    cloud = PointCloud.from_las(generate_urban_scene(seed=3, size_m=48.0))
    bundle = random_bundle(fnames=["intensity"], fit_on=cloud)
    whole, _ = cloud_probabilities(
        CloudRecord(path=Path("scene.las"), cloud=cloud, prefix="whole_"), bundle, chunk_points=None
    )
    return cloud, bundle, whole


def _tile(cloud, bundle, corner: tuple[float, float], side: float):
    """The rows of the tile of xy ``[corner, corner + side)`` with its margin, which are its own,
    its box, and the whole cloud's centres within two radii of that box."""
    xyz = cloud.xyz
    start = xyz[:, :2].min(axis=0) + np.asarray(corner)
    mine = np.all((xyz[:, :2] >= start) & (xyz[:, :2] < start + side), axis=1)
    low, high = xyz[mine, :2].min(axis=0), xyz[mine, :2].max(axis=0)
    keep = np.flatnonzero(inside(xyz, low, high, -tile_margin(bundle.field_spec)))
    rows = np.zeros(len(keep), dtype=bucket_dtype(1))
    rows["id"], rows["xyz"] = keep, xyz[keep]
    features = bundle.normalizer.transform(extract_features(cloud, bundle.feature_names)[keep])
    radius = bundle.field_spec.radius
    centres = field_centers(xyz, bundle.field_spec)
    centres = centres[inside(centres, low - 2.0 * radius, high + 2.0 * radius, 0.0)]
    return rows, np.flatnonzero(mine[keep]), low, high, np.asarray(features, dtype=np.float32), centres


@pytest.mark.parametrize("corner,side", [((16.0, 16.0), 16.0), ((0.0, 20.0), 10.0), ((30.0, 0.0), 18.0)])
def test_inner_fields_and_the_needed_ring_give_the_whole_cloud_probabilities(scene, corner, side):
    cloud, bundle, whole = scene
    rows, own, low, high, features, centres = _tile(cloud, bundle, corner, side)
    radius = bundle.field_spec.radius
    inner = inside(centres, low - SLACK * radius, high + SLACK * radius, 0.0)
    fields = TileFields(rows, features, bundle)
    fields.add(centres[inner])
    probabilities, covered, far = fields.own_probabilities(own, low=low, high=high, ring=centres[~inner])

    ring_used = fields.count - int(inner.sum())
    assert 0 < ring_used < int((~inner).sum())  # some of the ring, not all of it
    assert (~covered).sum() > 100 and np.isnan(far).all()
    expected = whole[rows["id"][own]]
    np.testing.assert_array_equal(probabilities.argmax(axis=1), expected.argmax(axis=1))
    differ = np.flatnonzero(np.abs(probabilities - expected).max(axis=1) > 1e-6)
    assert not covered[differ].any() and len(differ) <= 3, differ  # equidistant nearest points only


def test_all_fields_at_once_equal_the_lazy_ring(scene):
    cloud, bundle, _ = scene
    rows, own, low, high, features, centres = _tile(cloud, bundle, (16.0, 16.0), 16.0)
    radius = bundle.field_spec.radius
    inner = inside(centres, low - SLACK * radius, high + SLACK * radius, 0.0)
    lazy = TileFields(rows, features, bundle)
    lazy.add(centres[inner])
    eager = TileFields(rows, features, bundle)
    eager.add(centres)
    got = lazy.own_probabilities(own, low=low, high=high, ring=centres[~inner])
    want = eager.own_probabilities(own, low=low, high=high, ring=np.zeros((0, 3)))
    assert lazy.count < eager.count == len(centres)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], atol=1e-6)


def test_a_tile_without_covered_points_reports_them_far(scene):
    cloud, bundle, _ = scene
    rows, own, low, high, features, centres = _tile(cloud, bundle, (16.0, 16.0), 16.0)
    fields = TileFields(rows, features, bundle)  # no field added and an empty ring: nothing covered
    probabilities, covered, far = fields.own_probabilities(own, low=low, high=high, ring=np.zeros((0, 3)))
    assert not covered.any() and np.isinf(far).all()
    assert not probabilities.any()
