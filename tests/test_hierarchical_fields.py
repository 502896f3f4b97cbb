"""Tests of vl3d_focal.data.hierarchical_fields: every index against brute force."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest

from vl3d_focal.data.hierarchical_fields import (
    HierarchySpec,
    build_hierarchy,
    depth0_field_spec,
    hierarchical_model_inputs,
    nearest_in_fields,
)
from vl3d_focal.errors import DataError, SpecError
from vl3d_focal.models.autoencoder_schema import hierarchical_fps_schema

SPEC = HierarchySpec(
    num_points_per_depth=(40, 20, 10, 5),
    num_pwise_neighbors=(8, 6, 4, 5),
    num_downsampling_neighbors=(1, 5, 3, 2),
    num_upsampling_neighbors=(1, 3, 4, 5),
)


def _fields(seed: int = 0, count: int = 6, points: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, points, 3)).astype(np.float32)


def _brute_nearest(query: np.ndarray, support: np.ndarray, k: int) -> np.ndarray:
    d2 = ((query.astype(np.float64)[:, :, None] - support.astype(np.float64)[:, None]) ** 2).sum(-1)
    return np.argsort(d2, axis=-1, kind="stable")[..., :k]


def _brute_fps(points: np.ndarray, k: int) -> list[int]:
    p = points.astype(np.float64)
    chosen = [int(np.argmin((p**2).sum(1)))]
    dist = np.full(len(p), np.inf)
    for _ in range(k - 1):
        dist = np.minimum(dist, ((p - p[chosen[-1]]) ** 2).sum(1))
        chosen.append(int(np.argmax(dist)))
    return chosen


def test_indices_equal_brute_force():
    coords = _fields()
    h = build_hierarchy(coords, SPEC)
    points = [coords]
    for d, count in enumerate(SPEC.num_points_per_depth[1:], start=1):
        expected = np.array([_brute_fps(field, count) for field in points[-1]])
        np.testing.assert_array_equal(h.subsample[d - 1], expected)
        points.append(np.take_along_axis(points[-1], expected[..., None], axis=1))
    for d in range(SPEC.depth):
        np.testing.assert_array_equal(h.pwise[d], _brute_nearest(points[d], points[d], SPEC.num_pwise_neighbors[d]))
    for d in range(1, SPEC.depth):
        np.testing.assert_array_equal(
            h.downsampling[d - 1], _brute_nearest(points[d], points[d - 1], SPEC.num_downsampling_neighbors[d])
        )
        np.testing.assert_array_equal(
            h.upsampling[d - 1], _brute_nearest(points[d - 1], points[d], SPEC.num_upsampling_neighbors[d])
        )
    # a depth-d point is a depth d-1 point: its nearest downsampling neighbour is itself
    for d in range(1, SPEC.depth):
        np.testing.assert_array_equal(h.downsampling[d - 1][..., 0], h.subsample[d - 1])
    assert all(a.dtype == np.int32 for a in h.arrays().values())


def test_shapes_and_names_follow_index_shapes():
    h = build_hierarchy(_fields(1), SPEC)
    arrays = h.arrays()
    assert list(arrays) == list(SPEC.index_shapes())
    assert {name: a.shape[1:] for name, a in arrays.items()} == SPEC.index_shapes()


def test_fields_are_independent_of_their_batch_and_deterministic():
    coords = _fields(2, count=5) * 3.0 + 100.0  # not centred, large values: still exact
    whole = build_hierarchy(coords, SPEC).arrays()
    again = build_hierarchy(coords, SPEC).arrays()
    single = build_hierarchy(coords[3:4], SPEC).arrays()
    for name in whole:
        np.testing.assert_array_equal(whole[name], again[name])
        np.testing.assert_array_equal(whole[name][3:4], single[name])


def test_padded_fields_with_repeated_points():
    coords = _fields(3, count=2)
    coords[1, 20:] = coords[1, :20]  # a field padded by repeating its points in order
    spec = HierarchySpec(
        num_points_per_depth=(40, 30),
        num_pwise_neighbors=(4, 4),
        num_downsampling_neighbors=(1, 3),
        num_upsampling_neighbors=(1, 2),
    )
    h = build_hierarchy(coords, spec)
    sub = coords[1][h.subsample[0][1]]
    # the 20 distinct points come first, then repeats
    assert len(np.unique(sub[:20], axis=0)) == 20
    d2 = ((coords[1][:, None] - coords[1][h.pwise[0][1]]) ** 2).sum(-1)
    expected = np.sort(((coords[1][:, None] - coords[1][None]) ** 2).sum(-1), axis=1)[:, :4]
    np.testing.assert_allclose(np.sort(d2, axis=1), expected, rtol=1e-6)


def test_nearest_in_fields_never_crosses_fields():
    query = np.zeros((3, 2, 3), np.float32)
    support = np.stack([np.full((4, 3), 10.0 * m, np.float32) + np.arange(4)[:, None] for m in range(3)])
    found = nearest_in_fields(query, support, k=4)
    assert found.min() >= 0 and found.max() <= 3
    np.testing.assert_array_equal(found[2, 0], [0, 1, 2, 3])


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"num_points_per_depth": [8, 16]}, "num_points_per_depth[1]"),
        ({"num_points_per_depth": [8, 4], "num_pwise_neighbors": [4]}, "num_pwise_neighbors"),
        (
            {
                "num_points_per_depth": [8, 4],
                "num_pwise_neighbors": [4, 5],
                "num_downsampling_neighbors": [1, 2],
                "num_upsampling_neighbors": [1, 2],
            },
            "num_pwise_neighbors[1]",
        ),
        (
            {
                "num_points_per_depth": [8, 4],
                "num_pwise_neighbors": [4, 2],
                "num_downsampling_neighbors": [1, 9],
                "num_upsampling_neighbors": [1, 2],
            },
            "num_downsampling_neighbors[1]",
        ),
        (
            {
                "num_points_per_depth": [8, 4],
                "num_pwise_neighbors": [4, 2],
                "num_downsampling_neighbors": [1, 2],
                "num_upsampling_neighbors": [1, 5],
            },
            "num_upsampling_neighbors[1]",
        ),
        (
            {
                "num_points_per_depth": [8, 4],
                "num_pwise_neighbors": [4, 2],
                "num_downsampling_neighbors": [1, 2],
                "num_upsampling_neighbors": [1, 2],
                "fast_flag_per_depth": [False],
            },
            "fast_flag_per_depth",
        ),
    ],
)
def test_spec_errors_name_the_key(config, path):
    with pytest.raises(SpecError) as err:
        HierarchySpec.from_config(config)
    assert f"model_args.pre_processing.{path}:" in str(err.value)


def test_data_errors():
    with pytest.raises(DataError, match=r"shape \(M, 40, 3\).*\(2, 39, 3\)"):
        build_hierarchy(np.zeros((2, 39, 3)), SPEC)
    bad = _fields(4)
    bad[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        build_hierarchy(bad, SPEC)


def test_vl3d_pre_processing_validates_and_maps_onto_the_field_builder():
    vl3d = {  # VL3D's KPConv example, report paths included
        "pre_processor": "hierarchical_fps",
        "support_strategy_num_points": 60000,
        "to_unit_sphere": False,
        "support_strategy": "fps",
        "support_chunk_size": 2000,
        "support_strategy_fast": True,
        "center_on_pcloud": True,
        "neighborhood": {"type": "sphere", "radius": 3.0, "separation_factor": 0.8},
        "num_points_per_depth": [512, 256, 128, 64, 32],
        "fast_flag_per_depth": [False] * 5,
        "num_downsampling_neighbors": [1, 16, 8, 8, 4],
        "num_pwise_neighbors": [32, 16, 16, 8, 4],
        "num_upsampling_neighbors": [1, 16, 8, 8, 4],
        "nthreads": 12,
        "training_receptive_fields_distribution_report_path": "*/a.log",
        "training_receptive_fields_distribution_plot_path": "*/a.svg",
        "training_receptive_fields_dir": None,
        "receptive_fields_distribution_report_path": "*/b.log",
        "receptive_fields_distribution_plot_path": "*/b.svg",
        "receptive_fields_dir": None,
        "training_support_points_report_path": "*/c.laz",
        "support_points_report_path": "*/d.laz",
    }
    jsonschema.Draft202012Validator.check_schema(hierarchical_fps_schema())
    jsonschema.validate(vl3d, hierarchical_fps_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**vl3d, "num_pwise_neighbours": [1]}, hierarchical_fps_schema())
    assert HierarchySpec.from_config(vl3d) == HierarchySpec(fast_flag_per_depth=(False,) * 5)
    field_spec = depth0_field_spec(vl3d)
    assert (field_spec.num_points, field_spec.radius, field_spec.scale) == (512, 3.0, False)
    assert field_spec.pre_processor == "furthest_point_subsampling"


def test_model_inputs_order():
    config = {
        "num_points_per_depth": [40, 20, 10, 5],
        "num_pwise_neighbors": [8, 6, 4, 5],
        "num_downsampling_neighbors": [1, 5, 3, 2],
        "num_upsampling_neighbors": [1, 3, 4, 5],
    }
    coords = _fields(5)
    feats = np.ones((6, 40, 2))
    arrays = hierarchical_model_inputs(config, coordinates=coords, features=feats)
    assert arrays[0].dtype == np.float32 and arrays[1].dtype == np.float32 and arrays[1].shape == (6, 40, 2)
    expected = build_hierarchy(coords, SPEC).arrays()
    assert len(arrays) == 2 + len(expected)
    for got, want in zip(arrays[2:], expected.values()):
        np.testing.assert_array_equal(got, want)
