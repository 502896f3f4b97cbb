"""Receptive fields: every point covered, exact size, determinism, neighbourhood shapes."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from vl3d_focal.data.receptive_fields import NEIGHBORHOODS, FieldSpec, build_fields, field_centers, field_coordinates
from vl3d_focal.errors import DataError, SpecError


@pytest.fixture(scope="module")
def xyz():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 30, (6000, 2))
    z = 0.3 * np.sin(xy[:, 0] / 4) + np.where(rng.random(6000) < 0.2, rng.uniform(0, 8, 6000), 0)
    return np.column_stack([xy, z])


@pytest.mark.parametrize("hood", list(NEIGHBORHOODS))
def test_centres_cover_every_point(xyz, hood):
    spec = FieldSpec(neighborhood=hood, radius=2.0, separation_factor=1.2, num_points=64)
    dims, p = NEIGHBORHOODS[hood]
    centres = field_centers(xyz, spec)
    distance, _ = cKDTree(centres[:, :dims]).query(xyz[:, :dims], p=p)
    assert distance.max() <= spec.radius


@pytest.mark.parametrize("pre", ["furthest_point_subsampling", "grid_subsampling"])
def test_large_fields_cover_every_point_with_exact_size(xyz, pre):
    spec = FieldSpec(pre_processor=pre, radius=2.0, num_points=256)
    fields = build_fields(xyz, spec, seed=0)
    assert fields.indices.shape == (len(fields.centers), 256) and fields.indices.dtype == np.int64
    # num_points well above the neighbourhood size: nothing is dropped, every point is in a field
    assert fields.covered_mask(len(xyz)).all()
    # every index lies in its field's sphere
    d = np.linalg.norm(xyz[fields.indices] - fields.centers[:, None, :], axis=2)
    assert d.max() <= 2.0 + 1e-9


def test_subsampled_fields_are_exact_deterministic_and_spread(xyz):
    spec = FieldSpec(radius=3.0, num_points=32)
    a, b = build_fields(xyz, spec, seed=7), build_fields(xyz, spec, seed=7)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.indices.shape[1] == 32
    # FPS picks distinct points when the field has more than num_points of them
    sizes = cKDTree(xyz).query_ball_point(a.centers, r=3.0, return_length=True)
    distinct = np.array([len(np.unique(row)) for row in a.indices])
    assert (distinct[sizes > 32] == 32).all() and (distinct[sizes <= 32] == sizes[sizes <= 32]).all()
    covered = a.covered_mask(len(xyz)).mean()
    assert 0.3 < covered < 1.0  # subsampling drops points: propagation covers them


def test_fps_matches_a_reference_loop():
    rng = np.random.default_rng(3)
    pts = rng.uniform(-1, 1, (200, 3))
    spec = FieldSpec(radius=10.0, separation_factor=100.0, num_points=20)
    fields = build_fields(pts, spec, seed=0)
    assert fields.indices.shape == (1, 20)
    centre = pts.mean(axis=0)
    chosen = [int(np.argmin(np.linalg.norm(pts - centre, axis=1)))]
    dist = np.linalg.norm(pts - pts[chosen[0]], axis=1)
    for _ in range(19):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(pts - pts[chosen[-1]], axis=1))
    assert fields.indices[0].tolist() == chosen


def test_grid_subsampling_seed_changes_choice(xyz):
    spec = FieldSpec(pre_processor="grid_subsampling", radius=3.0, num_points=32)
    a, b = build_fields(xyz, spec, seed=1), build_fields(xyz, spec, seed=2)
    np.testing.assert_array_equal(a.indices, build_fields(xyz, spec, seed=1).indices)
    assert not np.array_equal(a.indices, b.indices)


def test_padding_repeats_points_in_order():
    pts = np.array([[0.0, 0, 0], [0.5, 0, 0], [0, 0.5, 0]])
    fields = build_fields(pts, FieldSpec(radius=2.0, num_points=7), seed=0)
    assert fields.indices.tolist() == [[0, 1, 2, 0, 1, 2, 0]]


def test_field_coordinates_centred_and_scaled(xyz):
    spec = FieldSpec(radius=2.0, num_points=16, neighborhood="rectangular3D")
    fields = build_fields(xyz, spec, seed=0)
    coords = field_coordinates(xyz, fields, spec)
    assert coords.dtype == np.float32 and coords.shape == (len(fields.centers), 16, 3)
    assert np.abs(coords).max() <= 1.0 + 1e-6
    expected = (xyz[fields.indices[3]] - fields.centers[3]) / 2.0
    np.testing.assert_allclose(coords[3], expected, rtol=1e-5, atol=1e-6)
    unscaled = field_coordinates(xyz, fields, FieldSpec(radius=2.0, num_points=16, scale=False))
    np.testing.assert_allclose(unscaled[3], expected * 2.0, rtol=1e-5, atol=1e-6)


def test_spec_config_round_trip_and_errors():
    config = {
        "pre_processor": "grid_subsampling",
        "neighborhood": {"type": "cylinder", "radius": 1.5, "separation_factor": 0.5},
        "num_points": 128,
        "scale": False,
    }
    spec = FieldSpec.from_config(config)
    assert spec.to_config() == {
        **config,
        "support_strategy": "grid",
        "support_strategy_num_points": 1000,
        "center_on_pcloud": False,
        "to_unit_sphere": False,
        "num_encoding_neighbors": 1,
    }
    vl3d = FieldSpec.from_config(
        {
            **config,
            "neighborhood": {"type": "Rectangular3d", "radius": 1.0},
            "support_strategy": "FPS",
            "num_encoding_neighbors": 3,
        }
    )
    assert (vl3d.neighborhood, vl3d.support_strategy) == ("rectangular3D", "fps")  # VL3D ignores the case
    assert FieldSpec.from_config(vl3d.to_config()) == vl3d
    with pytest.raises(SpecError) as info:
        FieldSpec(neighborhood="cube", radius=-1.0)
    assert {i.path for i in info.value.issues} == {"$.neighborhood.type", "$.neighborhood.radius"}
    with pytest.raises(DataError):
        build_fields(np.zeros((0, 3)), FieldSpec(), seed=0)
