"""Closed-form eigen-decomposition of symmetric 3 x 3 matrices against np.linalg.eigh."""

import numpy as np
import pytest

from vl3d_focal.data.symmetric3x3 import smallest_eigenvector


def _covariances(points: np.ndarray) -> np.ndarray:
    offsets = points - points.mean(axis=1, keepdims=True)
    return np.einsum("qki,qkj->qij", offsets, offsets) / points.shape[1]


def _check(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, vector = smallest_eigenvector(matrices)
    expected = np.linalg.eigh(matrices)[0]
    scale = np.abs(expected).max(axis=1, keepdims=True) + 1e-300
    np.testing.assert_allclose(values / scale, expected / scale, atol=1e-13, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(vector, axis=1), 1.0, atol=1e-14)
    residual = np.einsum("mij,mj->mi", matrices, vector) - values[:, :1] * vector
    assert np.linalg.norm(residual, axis=1).max() <= 1e-7 * scale.max()
    return values, vector


def test_random_neighbourhoods_match_eigh_values_and_normals():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(20_000, 16, 3)) * rng.uniform(0.01, 3.0, (20_000, 1, 3))
    rotation, _ = np.linalg.qr(rng.normal(size=(20_000, 3, 3)))
    matrices = np.einsum("mij,mjk,mlk->mil", rotation, _covariances(points), rotation)
    _, vector = _check(matrices)
    values, vectors = np.linalg.eigh(matrices)
    separated = (values[:, 1] - values[:, 0]) > 1e-6 * values[:, 2]
    cosine = np.abs(np.einsum("mi,mi->m", vector, vectors[:, :, 0]))
    np.testing.assert_allclose(cosine[separated], 1.0, atol=1e-8)  # the same normal, up to sign


def test_flat_neighbourhood_has_an_exact_zero_and_the_vertical_normal():
    rng = np.random.default_rng(1)
    xy = np.round(rng.uniform(0, 2, (500, 16, 2)), 2)
    plane = np.concatenate([xy, np.zeros((500, 16, 1))], axis=2) + np.array([7.7e5, 6.3e6, 50.0])
    values, vector = _check(_covariances(plane))
    assert (values[:, 0] == 0.0).all()
    np.testing.assert_allclose(np.abs(vector[:, 2]), 1.0)


@pytest.mark.parametrize(
    "matrix",
    [
        np.zeros((3, 3)),  # one spot
        2.0 * np.eye(3),  # isotropic
        np.diag([1.0, 1.0, 2.0]),  # the two smallest equal
        np.outer([1.0, 2.0, 2.0], [1.0, 2.0, 2.0]),  # a line: rank 1
        np.diag([3.0, 1.0, 2.0]),
    ],
)
def test_degenerate_matrices_give_a_unit_eigenvector_of_the_smallest(matrix):
    _check(matrix[None])
