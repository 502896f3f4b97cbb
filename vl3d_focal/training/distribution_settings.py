"""The settings of a train step's ``distribution`` (no TensorFlow here, so the step's schema
can name the strategies): strategy, devices, collective communication.

Example:
    >>> DistributionSettings.from_config(None).strategy
    'one_device'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vl3d_focal.errors import DataError

STRATEGIES: tuple[str, ...] = ("one_device", "mirrored", "multi_worker_mirrored")
"""Names accepted by ``distribution.strategy``."""

COMMUNICATIONS: tuple[str, ...] = ("auto", "ring", "nccl")
"""Collective implementations of ``multi_worker_mirrored``."""


@dataclass(frozen=True)
class DistributionSettings:
    """The train step's ``distribution`` object.

    Attributes:
        strategy: one of :data:`STRATEGIES`.
        devices: devices of ``one_device`` (one) or ``mirrored`` (several), e.g.
            ``["/gpu:0", "/gpu:1"]``; None: TensorFlow's choice (every GPU, else the CPU).
        communication: collective implementation of ``multi_worker_mirrored``.
    """

    strategy: str = "one_device"
    devices: tuple[str, ...] | None = None
    communication: str = "auto"

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> DistributionSettings:
        """Settings from the spec's ``distribution`` object (None: one device).

        Raises:
            DataError: for an unknown strategy or communication, or a device list that
                does not fit the strategy.

        Example:
            >>> DistributionSettings.from_config({"strategy": "mirrored",
            ...                                   "devices": ["/cpu:0", "/cpu:1"]}).devices
            ('/cpu:0', '/cpu:1')
        """
        config = dict(config or {})
        strategy = config.get("strategy", "one_device")
        if strategy not in STRATEGIES:
            raise DataError(f"distribution.strategy: expected one of {list(STRATEGIES)}, got {strategy!r}")
        communication = config.get("communication", "auto")
        if communication not in COMMUNICATIONS:
            raise DataError(
                f"distribution.communication: expected one of {list(COMMUNICATIONS)}, got {communication!r}"
            )
        devices = config.get("devices")
        devices = None if devices is None else tuple(str(device) for device in devices)
        problem = devices_problem(strategy, devices)
        if problem:
            raise DataError(f"distribution.devices: {problem}")
        return cls(strategy=strategy, devices=devices, communication=communication)


def devices_problem(strategy: Any, devices: Sequence[Any] | None) -> str | None:
    """Why ``distribution.devices`` does not fit the strategy (validation reports it too).

    Example:
        >>> devices_problem("one_device", ["/cpu:0", "/cpu:1"])
        "expected one device with 'one_device', got ['/cpu:0', '/cpu:1']"
    """
    if devices is not None and strategy == "one_device" and len(devices) != 1:
        return f"expected one device with 'one_device', got {list(devices)}"
    if devices is not None and strategy == "multi_worker_mirrored":
        return (
            "expected no device list with 'multi_worker_mirrored' "
            f"(each worker uses all its GPUs, else its CPU), got {list(devices)}"
        )
    return None


def step_distribution(step: Mapping[str, Any]) -> DistributionSettings:
    """The distribution settings of a train step.

    They are the step's ``distribution`` object; none means one device.

    Example:
        >>> step_distribution({"model_args": {"model_handling": {}}}).strategy
        'one_device'
    """
    return DistributionSettings.from_config(step.get("distribution"))
