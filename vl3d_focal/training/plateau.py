"""The learning-rate reduction on plateau of ``model_handling``: its keys and its settings (no
Keras here, so validation reads the same keys as the training).

Example:
    >>> PLATEAU_KEYS
    ('learning_rate_on_plateau', 'reduce_lr_on_plateau')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PLATEAU_KEYS = ("learning_rate_on_plateau", "reduce_lr_on_plateau")
"""The keys of ``model_handling`` that reduce the learning rate on plateau (VL3D's first)."""


def plateau_settings(model_handling: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The learning-rate reduction on plateau: VL3D's ``learning_rate_on_plateau``, else
    ``reduce_lr_on_plateau`` (validation refuses both), or None.

    Example:
        >>> plateau_settings({"learning_rate_on_plateau": None, "reduce_lr_on_plateau": {"factor": 0.5}})
        {'factor': 0.5}
    """
    return next((model_handling[key] for key in PLATEAU_KEYS if model_handling.get(key)), None)
