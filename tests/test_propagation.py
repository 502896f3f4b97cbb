"""Propagation of field predictions to every point: averaging and nearest-neighbour fallback."""

import numpy as np
import pytest

from vl3d_focal.data.propagation import propagate
from vl3d_focal.data.receptive_fields import FieldSpec, ReceptiveFields, build_fields
from vl3d_focal.errors import DataError


def test_hand_computed_average():
    # 4 points; field 0 = [0, 1, 1] (point 1 padded twice), field 1 = [1, 2, 2]
    fields = ReceptiveFields(indices=np.array([[0, 1, 1], [1, 2, 2]]), centers=np.zeros((2, 3)))
    probs = np.array([[[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]], [[0.6, 0.4], [0.1, 0.9], [0.3, 0.7]]])
    xyz = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [2.2, 0, 0]])
    out = propagate(probs, fields, 4, xyz=xyz)
    # point 1: field 0 mean of its two slots (0.3, 0.7), field 1 (0.6, 0.4) -> (0.45, 0.55)
    # point 2: field 1 mean (0.2, 0.8); point 3: in no field, nearest covered is point 2
    np.testing.assert_allclose(out, [[0.9, 0.1], [0.45, 0.55], [0.2, 0.8], [0.2, 0.8]], rtol=1e-6)
    assert out.dtype == np.float32


def test_chunking_gives_same_result():
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 20, (3000, 3))
    spec = FieldSpec(radius=3.0, num_points=32)
    fields = build_fields(xyz, spec, seed=0)
    probs = rng.dirichlet(np.ones(4), size=fields.indices.shape)
    a = propagate(probs, fields, len(xyz))
    b = propagate(probs, fields, len(xyz), chunk_fields=7)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-5)
    # points dropped by subsampling take the prediction of their nearest covered point
    covered = fields.covered_mask(len(xyz))
    assert not covered.all()
    dropped = np.flatnonzero(~covered)[0]
    source = np.flatnonzero(covered)
    nearest = source[np.argmin(np.linalg.norm(xyz[source] - xyz[dropped], axis=1))]
    np.testing.assert_array_equal(a[dropped], a[nearest])


def test_errors():
    fields = ReceptiveFields(indices=np.array([[0, 1]]), centers=np.zeros((1, 3)))
    with pytest.raises(DataError, match="shape"):
        propagate(np.ones((1, 3, 2)), fields, 2)
    with pytest.raises(DataError, match="no field"):
        propagate(np.ones((1, 2, 2)), fields, 3)


def test_sums_added_block_by_block_equal_one_pass():
    from vl3d_focal.data.propagation import PropagationSums

    rng = np.random.default_rng(4)
    xyz = rng.uniform(0, 20, (2500, 3))
    fields = build_fields(xyz, FieldSpec(radius=3.0, num_points=40), seed=0)
    probs = rng.dirichlet(np.ones(3), size=fields.indices.shape)
    whole = propagate(probs, fields, len(xyz))
    sums = PropagationSums(num_points_total=len(xyz), num_classes=3)
    order = rng.permutation(fields.num_fields)
    for block in np.array_split(order, 5):
        sums.add(probs[block], fields.indices[block], chunk_fields=9)
    with pytest.raises(DataError, match="shape"):
        sums.add(probs[:2, :, :2], fields.indices[:2])
    np.testing.assert_allclose(sums.finish(xyz=xyz), whole, rtol=0, atol=1e-6)
    with pytest.raises(DataError, match="finished"):
        sums.add(probs[:1], fields.indices[:1])
