"""Uncertainty measures of predicted class probabilities (VL3D's ``ClassificationUncertaintyEvaluator``).

On the ``(m, C)`` probabilities ``Z`` of the evaluated points:

- point-wise entropy ``e_i = -sum_j z_ij log2 z_ij`` (``0 log 0 = 0``);
- weighted entropy ``e_i = -sum_j w_j z_ij log2 z_ij``, ``w_j = 1 - m_j / m`` with ``m_j`` the
  points of class ``j`` among ``m`` counted points (:func:`class_weights`): rare classes weigh more;
- class ambiguity ``a_i = 1 - z*_i + z**_i``, the highest probability ``z*`` and the second ``z**``;
- cluster-wise entropy: the points clustered on their features (scikit-learn's
  ``MiniBatchKMeans``, :func:`cluster_labels`), each point given its cluster's entropies reduced
  by one of :data:`REDUCE_FUNCTIONS` (:func:`cluster_entropy`).

Example:
    >>> z = np.array([[1.0, 0.0], [0.5, 0.5]])
    >>> pointwise_entropy(z).tolist(), class_ambiguity(z).tolist()
    ([0.0, 1.0], [0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

REDUCE_FUNCTIONS: dict[str, Callable[[np.ndarray], float]] = {
    "mean": np.mean,
    "median": np.median,
    "Q1": partial(np.quantile, q=0.25),
    "Q3": partial(np.quantile, q=0.75),
    "min": np.min,
    "max": np.max,
}
"""``clustering_reduce_function`` name -> how a cluster's entropies become its one value."""
CLUSTER_SEED = 0
"""``random_state`` of the clustering: the same clusters on every run."""


def _entropy_terms(probabilities: np.ndarray) -> np.ndarray:
    """``-z log2 z`` of every probability, 0 where it is 0 (or below)."""
    z = np.asarray(probabilities, dtype=np.float64)
    return -z * np.log2(np.where(z > 0, z, 1.0))


def pointwise_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon's entropy (bits) of each row of ``(m, C)`` probabilities.

    Example:
        >>> pointwise_entropy(np.array([[0.25, 0.25, 0.25, 0.25]])).tolist()
        [2.0]
    """
    return _entropy_terms(probabilities).sum(axis=1)


def class_weights(counts: np.ndarray) -> np.ndarray:
    """``w_j = 1 - m_j / m`` of the points per class ``m_j`` (``m`` their sum); all 1 without points.

    Example:
        >>> class_weights(np.array([3, 1, 0])).tolist()
        [0.25, 0.75, 1.0]
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return 1.0 - counts / total if total > 0 else np.ones_like(counts)


def weighted_entropy(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The entropy of each row with each class's term weighted (:func:`class_weights`).

    Example:
        >>> weighted_entropy(np.array([[0.5, 0.5]]), np.array([0.25, 0.75])).tolist()
        [0.5]
    """
    return (_entropy_terms(probabilities) * np.asarray(weights, dtype=np.float64)).sum(axis=1)


def class_ambiguity(probabilities: np.ndarray) -> np.ndarray:
    """``1 - z* + z**`` of each row: 0 for a sure prediction, 1 for a tie of the top two.

    Example:
        >>> class_ambiguity(np.array([[0.7, 0.2, 0.1]])).round(6).tolist()
        [0.5]
    """
    z = np.asarray(probabilities, dtype=np.float64)
    if z.shape[1] < 2:
        return 1.0 - z[:, 0]
    top = np.partition(z, z.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - top[:, 1] + top[:, 0]


def cluster_labels(
    features: np.ndarray, *, num_clusters: int, max_iter: int, batch_size: int, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """The cluster of each point: scikit-learn's ``MiniBatchKMeans`` on its ``(m, F)`` features,
    seeded (:data:`CLUSTER_SEED`); at most one cluster per point.

    Example:
        >>> cluster_labels(np.array([[0.0], [0.1], [9.0], [9.1]]), num_clusters=2, max_iter=16, batch_size=4).tolist()
        [1, 1, 0, 0]
    """
    from sklearn.cluster import MiniBatchKMeans

    kmeans = MiniBatchKMeans(
        n_clusters=min(int(num_clusters), len(features)),
        max_iter=int(max_iter),
        batch_size=int(batch_size),
        n_init="auto",
        random_state=CLUSTER_SEED,
    )
    kmeans.fit(features, sample_weight=sample_weight)
    return np.asarray(kmeans.predict(features), dtype=np.int64)


def cluster_entropy(entropy: np.ndarray, labels: np.ndarray, *, reduce: str) -> np.ndarray:
    """Each point's cluster's entropies (of its points) reduced by ``reduce`` (:data:`REDUCE_FUNCTIONS`).

    Example:
        >>> cluster_entropy(np.array([0.2, 0.4, 1.0]), np.array([0, 0, 1]), reduce="mean").round(6).tolist()
        [0.3, 0.3, 1.0]
    """
    function = REDUCE_FUNCTIONS[reduce]
    values = np.zeros(int(labels.max()) + 1 if len(labels) else 0, dtype=np.float64)
    for cluster in np.unique(labels):
        values[cluster] = function(entropy[labels == cluster])
    return values[labels]
