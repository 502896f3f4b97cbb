"""What the recipes of the steps acting on a model's features (imputers, feature selectors, the
``PCATransformer``) read alike from their step: the features they act on, a name among those
they know.

Example:
    >>> step_fnames({"fnames": ["intensity"]}), step_fnames({})
    (('intensity',), ('AUTO',))
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from vl3d_focal.errors import DataError

AUTO = "AUTO"
"""``fnames: ["AUTO"]``: every feature of the model trained after the step."""


def step_fnames(step: Mapping[str, Any]) -> tuple[str, ...]:
    """The step's ``fnames``; ``("AUTO",)`` when it gives none."""
    return tuple(step.get("fnames") or (AUTO,))


def one_of(value: str, known: Collection[str], *, what: str) -> str:
    """``value`` when it is among ``known``.

    Raises:
        DataError: it is not; ``what`` names it.

    Example:
        >>> one_of("median", ("mean", "median"), what="imputer strategy")
        'median'
        >>> one_of("mode", ("mean", "median"), what="imputer strategy")
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: imputer strategy: expected one of ['mean', 'median'], received 'mode'
    """
    if value not in known:
        raise DataError(f"{what}: expected one of {list(known)}, received {value!r}")
    return value
