"""The optimizer and learning-rate schedule of ``compilation_args.optimizer``.

Example:
    >>> opt = build_optimizer({"algorithm": "SGD", "learning_rate": 0.01})
    >>> type(opt).__name__
    'SGD'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from vl3d_focal.errors import DataError

OPTIMIZERS = {"Adam": keras.optimizers.Adam, "SGD": keras.optimizers.SGD}
SCHEDULES = {"exponential_decay": keras.optimizers.schedules.ExponentialDecay}


def build_learning_rate(value: float | Mapping[str, Any]) -> Any:
    """A constant learning rate, or a schedule from ``{"schedule": .., "schedule_args": {..}}``.

    Example:
        >>> lr = build_learning_rate({"schedule": "exponential_decay", "schedule_args":
        ...     {"initial_learning_rate": 0.01, "decay_steps": 10, "decay_rate": 0.5}})
        >>> round(float(lr(10)), 6)
        0.005
    """
    if not isinstance(value, Mapping):
        return float(value)
    name = value.get("schedule")
    schedule = SCHEDULES.get(name) if isinstance(name, str) else None
    if schedule is None:
        raise DataError(f"learning_rate.schedule: expected one of {sorted(SCHEDULES)}, got {name!r}")
    return schedule(**dict(value["schedule_args"]))


def build_optimizer(spec: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    """The optimizer of ``compilation_args.optimizer``.

    Args:
        spec: ``{"algorithm": "Adam" | "SGD", "learning_rate": number | schedule object}``
            (both present in a normalised spec); a ``schedule``/``schedule_args`` pair at
            this level is accepted too.

    Example:
        >>> round(float(build_optimizer({"algorithm": "Adam", "learning_rate": 0.002}).learning_rate), 6)
        0.002
    """
    algorithm = spec["algorithm"]
    optimizer = OPTIMIZERS.get(algorithm)
    if optimizer is None:
        raise DataError(f"optimizer.algorithm: expected one of {sorted(OPTIMIZERS)}, got {algorithm!r}")
    rate = spec["schedule_args"] if "schedule" in spec else spec["learning_rate"]
    if "schedule" in spec:
        rate = {"schedule": spec["schedule"], "schedule_args": rate}
    return optimizer(learning_rate=build_learning_rate(rate))
