"""Eigenvalues and the smallest eigenvalue's eigenvector of many symmetric 3 x 3 matrices, in
closed form.

``np.linalg.eigh`` calls LAPACK once per matrix: about 2.5 us each, the largest cost of the
neighbourhood features after the neighbour search. Here every step is a NumPy operation over all
matrices at once, on the six distinct entries as contiguous arrays:

* eigenvalues by the trigonometric solution of the characteristic cubic (Smith 1961): with
  ``q = trace(A) / 3``, ``p = sqrt(|A - qI|_F^2 / 6)`` and ``B = (A - qI) / p``, the eigenvalues
  are ``q + 2 p cos(phi + 2 pi j / 3)``, ``phi = arccos(det(B) / 2) / 3``;
* the eigenvector of the smallest eigenvalue ``l`` as the longest of the three cross products of
  the rows of ``A - l I`` (each is orthogonal to the two rows, hence in the null space when the
  rank is 2); when the rows are parallel (the two smallest eigenvalues equal: a line) any unit
  vector orthogonal to the longest row is an eigenvector, and one is built from that row.

Precision: the cubic's roots lose up to about 1e-8 of the largest eigenvalue where two nearly
coincide (``arccos`` near +-1), and the smallest about 1e-16 of the largest to cancellation; the
smallest is therefore taken again as the Rayleigh quotient of its eigenvector (exact 0 for a
flat neighbourhood, about 1e-14 of the largest otherwise, measured against ``np.linalg.eigh``),
the middle one as the trace minus the other two. The eigenvector is as accurate as the problem's
conditioning allows (error about 1e-16 of the largest eigenvalue over the gap between the two
smallest).

Example:
    >>> values, normal = smallest_eigenvector(np.diag([3.0, 1.0, 2.0])[None])
    >>> values.round(12).tolist(), np.abs(normal).round(12).tolist()
    ([[1.0, 2.0, 3.0]], [[0.0, 1.0, 0.0]])
"""

from __future__ import annotations

import numpy as np

_ISOTROPIC = 1e-300
"""``p`` (the eigenvalues' spread) at or below which the matrix is ``q I``."""
_PARALLEL = 1e-30
"""Squared sine of the angle between two rows at or below which they count as parallel."""


def _eigenvalues(*entries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ascending eigenvalues ``(smallest, middle, largest)`` from the distinct entries
    ``a00, a11, a22, a01, a02, a12``."""
    a00, a11, a22, a01, a02, a12 = entries
    q = (a00 + a11 + a22) / 3.0
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    p = np.sqrt((b00 * b00 + b11 * b11 + b22 * b22 + 2.0 * (a01 * a01 + a02 * a02 + a12 * a12)) / 6.0)
    spread = p > _ISOTROPIC
    scale = np.divide(1.0, p, out=np.zeros_like(p), where=spread)
    half_det = (b00 * (b11 * b22 - a12 * a12) - a01 * (a01 * b22 - a12 * a02) + a02 * (a01 * a12 - b11 * a02)) * (
        0.5 * scale**3
    )
    phi = np.arccos(np.clip(half_det, -1.0, 1.0)) / 3.0
    largest = q + 2.0 * p * np.cos(phi)
    smallest = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    middle = np.clip(3.0 * q - largest - smallest, smallest, largest)
    return smallest, middle, largest


def _cross(u: tuple[np.ndarray, ...], v: tuple[np.ndarray, ...]) -> np.ndarray:
    return np.stack([u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]])


def _orthogonal_to(row: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to each ``(3, m)`` row: the row crossed with the axis it is least
    along (the x axis for a zero row)."""
    axis = np.zeros_like(row)
    axis[np.abs(row).argmin(axis=0), np.arange(row.shape[1])] = 1.0
    vector = _cross(tuple(row), tuple(axis))
    length = np.sqrt(np.einsum("im,im->m", vector, vector))
    unit = np.zeros_like(vector)
    unit[0] = 1.0
    return np.divide(vector, length, out=unit, where=length > 0)


def _eigenvector(entries: tuple[np.ndarray, ...], value: np.ndarray) -> np.ndarray:
    """``(3, m)`` a unit eigenvector of ``value`` (an eigenvalue of each matrix of distinct entries
    ``a00, a11, a22, a01, a02, a12``): the longest cross product of two rows of ``A - value I``,
    or, where the rows are parallel (``value`` is a double eigenvalue), a unit vector orthogonal
    to the longest row."""
    a00, a11, a22, a01, a02, a12 = entries
    rows = ((a00 - value, a01, a02), (a01, a11 - value, a12), (a02, a12, a22 - value))
    crosses = np.stack([_cross(rows[0], rows[1]), _cross(rows[0], rows[2]), _cross(rows[1], rows[2])])  # (3, 3, m)
    lengths = np.einsum("cim,cim->cm", crosses, crosses)
    first_two = lengths[0] >= lengths[1]
    vector = np.where(first_two, crosses[0], crosses[1])
    longest = np.where(first_two, lengths[0], lengths[1])
    third = lengths[2] > longest
    vector = np.where(third, crosses[2], vector)
    longest = np.where(third, lengths[2], longest)
    vector /= np.sqrt(np.maximum(longest, _ISOTROPIC))
    row_lengths = np.stack([r[0] * r[0] + r[1] * r[1] + r[2] * r[2] for r in rows])
    line = longest <= _PARALLEL * row_lengths.max(axis=0) ** 2
    if line.any():
        widest = row_lengths[:, line].argmax(axis=0)
        row = np.stack([np.stack(r)[:, line] for r in rows])[widest, :, np.arange(line.sum())].T
        vector[:, line] = _orthogonal_to(row)
    return vector


def _entries(a: np.ndarray) -> tuple[np.ndarray, ...]:
    """The distinct entries ``a00, a11, a22, a01, a02, a12`` of ``(m, 3, 3)`` matrices, contiguous."""
    a = np.asarray(a, dtype=np.float64)
    diagonal = tuple(np.ascontiguousarray(a[:, i, i]) for i in range(3))
    return diagonal + tuple(np.ascontiguousarray(a[:, i, j]) for i, j in ((0, 1), (0, 2), (1, 2)))


def smallest_eigenvector(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues of symmetric 3 x 3 matrices and a unit eigenvector of the smallest.

    Args:
        a: ``(m, 3, 3)`` symmetric matrices (only the upper triangle is read).

    Returns:
        ``(values (m, 3) ascending, vector (m, 3) of unit length)``; the vector's sign is
        arbitrary, as ``np.linalg.eigh``'s.

    Example:
        >>> plane = np.array([[[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]]])
        >>> values, normal = smallest_eigenvector(plane)
        >>> float(values[0, 0]), np.abs(normal).round(12).tolist()
        (0.0, [[0.0, 0.0, 1.0]])
    """
    entries = _entries(a)
    a00, a11, a22, a01, a02, a12 = entries
    smallest, middle, largest = _eigenvalues(*entries)
    vector = _eigenvector(entries, smallest)
    # The smallest eigenvalue again, as the Rayleigh quotient of its eigenvector: the cubic's
    # roots lose about 1e-16 of the largest to cancellation, which the cube root of omnivariance
    # would turn into 1e-6 for a flat neighbourhood; the quotient keeps an exact 0 exact.
    x, y, z = vector
    rayleigh = (a00 * x + a01 * y + a02 * z) * x + (a01 * x + a11 * y + a12 * z) * y + (a02 * x + a12 * y + a22 * z) * z
    smallest = np.minimum(rayleigh, middle)
    middle = np.clip((a00 + a11 + a22) - largest - smallest, smallest, largest)
    return np.stack([smallest, middle, largest], axis=1), vector.T


def eigenvectors(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues of symmetric 3 x 3 matrices and an orthonormal eigenvector of each:
    :func:`smallest_eigenvector`'s, the largest's (as the smallest's, from ``A - l1 I``) and their
    cross product.

    Args:
        a: ``(m, 3, 3)`` symmetric matrices (only the upper triangle is read).

    Returns:
        ``(values (m, 3) ascending, vectors (m, 3, 3))``: ``vectors[:, :, j]`` is the unit
        eigenvector of ``values[:, j]`` (signs arbitrary, as ``np.linalg.eigh``'s).

    Example:
        >>> values, vectors = eigenvectors(np.diag([3.0, 1.0, 2.0])[None])
        >>> values.round(12).tolist(), np.abs(vectors[0]).round(12).tolist()
        ([[1.0, 2.0, 3.0]], [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    """
    values, smallest = smallest_eigenvector(a)
    largest = _eigenvector(_entries(a), values[:, 2]).T
    middle = np.cross(largest, smallest)
    middle /= np.sqrt(np.maximum(np.einsum("mi,mi->m", middle, middle), _ISOTROPIC))[:, None]
    return values, np.stack([smallest, middle, largest], axis=2)
