"""What the recipes of the steps acting on a model's features (imputers, feature selectors, the
``Standardizer``, the ``PCATransformer``) read alike from their step: the features they act on,
a name among those they know.

Example:
    >>> step_fnames({"fnames": ["intensity"]}), step_fnames({})
    (('intensity',), ('AUTO',))
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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


def named_features(fnames: Sequence[str], feature_names: Sequence[str], *, owner: str) -> tuple[str, ...]:
    """The features of ``feature_names`` that ``fnames`` names, in the model's order (all of
    them for ``["AUTO"]``).

    Raises:
        DataError: a name that is not among ``feature_names``; ``owner`` describes the step.

    Example:
        >>> named_features(("b", "a"), ["a", "b", "c"], owner="S")
        ('a', 'b')
        >>> named_features(("d",), ["a"], owner="S")
        Traceback (most recent call last):
        ...
        vl3d_focal.errors.DataError: S: 'd' not among the features of the model trained after it (a); name only features the model has
    """
    if tuple(fnames) == (AUTO,):
        return tuple(feature_names)
    absent = [name for name in fnames if name not in feature_names]
    if absent:
        raise DataError(
            f"{owner}: {', '.join(repr(name) for name in absent)} not among the features of the model trained after "
            f"it ({', '.join(feature_names)}); name only features the model has"
        )
    return tuple(name for name in feature_names if name in fnames)
