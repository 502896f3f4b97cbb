"""A hint for training on imbalanced labels without class weights.

When the largest present class of the training labels has more than :data:`IMBALANCE_RATIO`
times the points of the smallest present class and no class weights are given, the rare
classes barely count in an unweighted loss. :func:`imbalance_note` words one log line that
names the rarest classes with their shares and the spec key that would weight them.

Example:
    >>> import numpy as np
    >>> imbalance_note(class_names=["ground", "pole"], counts=np.array([990, 10]), where="model_args")
    'imbalanced training labels: the largest class has 99x the points of the smallest (rarest: pole 1%) and no class weights are given; consider "class_weight": "balanced" in model_args'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IMBALANCE_RATIO = 10.0
"""Largest / smallest present-class ratio above which training without class weights is hinted at."""
RAREST_NAMED = 3
"""How many of the rarest classes the hint names."""


def imbalance_note(*, class_names: Sequence[str], counts: np.ndarray, where: str) -> str | None:
    """The hint for training labels whose largest/smallest present-class ratio exceeds
    :data:`IMBALANCE_RATIO` (``counts``: training points per class, absent classes 0; ``where``: the
    spec object whose ``class_weight`` would weight them), or None for balanced enough labels.

    Example:
        >>> imbalance_note(class_names=["a", "b"], counts=np.array([50, 10]), where="model_args") is None
        True
    """
    n = np.asarray(counts, dtype=np.float64)
    present = np.flatnonzero(n > 0)
    if present.size < 2 or n[present].max() <= IMBALANCE_RATIO * n[present].min():
        return None
    ratio = n[present].max() / n[present].min()
    rare = [int(i) for i in present[np.argsort(n[present], kind="stable")] if n[i] * IMBALANCE_RATIO < n.max()]
    shares = ", ".join(f"{class_names[i]} {100.0 * n[i] / n.sum():.2g}%" for i in rare[:RAREST_NAMED])
    return (
        f"imbalanced training labels: the largest class has {ratio:.0f}x the points of the smallest "
        f'(rarest: {shares}) and no class weights are given; consider "class_weight": "balanced" in {where}'
    )
