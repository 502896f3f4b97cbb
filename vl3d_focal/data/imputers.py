"""VL3D's imputers: feature values equal to a target value filled or their points left out.

An :class:`Imputer` is the recipe of one ``imputer`` step, stored with the model (like the
miners' recipes and the normaliser) so that prediction imputes as training did:

- ``UnivariateImputer``: in each feature of ``fnames``, the values equal to ``target_val`` are
  replaced by one fill value per feature, fitted once on the training clouds' points (their
  other values): their ``mean``, ``median`` or ``most_frequent`` value (the smallest of equally
  frequent ones), or ``constant_val`` (scikit-learn's ``SimpleImputer``);
- ``RemovalImputer``: the points holding ``target_val`` in a feature of ``fnames`` are left out
  (of training; at prediction they take their nearest kept point's prediction,
  :mod:`vl3d_focal.data.model_view`).

Imputers apply in the order of their steps, after the features are extracted and before the
check that they are finite and before the normalisation. A target of ``"NaN"`` matches NaN
values only: infinities still stop the run.

Example:
    >>> imputer = Imputer.from_step({"imputer": "UnivariateImputer", "fnames": ["AUTO"], "strategy": "mean"})
    >>> fitted = fit_imputers([np.array([[1.0], [np.nan], [3.0]])], ["i"], [imputer.for_features(["i"])])
    >>> apply_imputers(np.array([[np.nan], [5.0]]), ["i"], fitted)[0].ravel().tolist()
    [2.0, 5.0]
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vl3d_focal.data.recipe_options import AUTO, one_of, step_fnames
from vl3d_focal.errors import DataError

logger = logging.getLogger(__name__)

UNIVARIATE = "UnivariateImputer"
REMOVAL = "RemovalImputer"
IMPUTER_KINDS = (UNIVARIATE, REMOVAL)
"""The ``imputer`` values these recipes describe."""
STRATEGIES = ("mean", "median", "most_frequent", "constant")
"""A ``UnivariateImputer``'s ``strategy`` (scikit-learn's ``SimpleImputer``)."""


def parse_target(value: Any) -> float:
    """``target_val`` as a number: ``"NaN"`` (any case, as VL3D) is NaN.

    Example:
        >>> parse_target("nan"), parse_target(-1)
        (nan, -1.0)
    """
    if isinstance(value, str):
        if value.lower() != "nan":
            raise DataError(f"imputer target_val: expected 'NaN' or a number, received {value!r}")
        return math.nan
    return float(value)


def _target_text(target: float) -> str | float:
    return "NaN" if math.isnan(target) else target


@dataclass(frozen=True)
class Imputer:
    """The recipe of one imputer step.

    Attributes:
        imputer: ``UnivariateImputer`` or ``RemovalImputer``.
        fnames: the features it acts on (``("AUTO",)`` until :meth:`for_features` resolves it).
        target: the value imputed (NaN for VL3D's ``"NaN"``).
        strategy: how a ``UnivariateImputer`` computes its fill values.
        constant: the fill value of the ``constant`` strategy.
        fills: the fitted fill value of each of ``fnames`` (a ``UnivariateImputer`` once fitted).
    """

    imputer: str
    fnames: tuple[str, ...] = (AUTO,)
    target: float = math.nan
    strategy: str = "mean"
    constant: float = 0.0
    fills: tuple[float, ...] | None = None

    @classmethod
    def from_step(cls, step: Mapping[str, Any]) -> Imputer:
        """The recipe of an imputer step (missing keys take VL3D's defaults).

        Example:
            >>> Imputer.from_step({"imputer": "RemovalImputer", "fnames": ["i"], "target_val": -1}).target
            -1.0
        """
        kind = str(step["imputer"])
        if kind not in IMPUTER_KINDS:
            raise DataError(f"imputer: unknown imputer {kind!r}; expected one of {list(IMPUTER_KINDS)}")
        strategy = one_of(str(step.get("strategy", "mean")), STRATEGIES, what="imputer strategy")
        return cls(
            imputer=kind,
            fnames=step_fnames(step),
            target=parse_target(step.get("target_val", "NaN")),
            strategy=strategy,
            constant=float(step.get("constant_val", 0.0)),
        )

    @property
    def removes(self) -> bool:
        """Whether it leaves points out (a ``RemovalImputer``)."""
        return self.imputer == REMOVAL

    def describe(self) -> str:
        """A short text for logs: ``UnivariateImputer (mean of the values other than NaN)``.

        Example:
            >>> Imputer(REMOVAL, ("i",), target=0.0).describe()
            'RemovalImputer (points holding 0.0)'
        """
        target = _target_text(self.target)
        if self.removes:
            return f"{self.imputer} (points holding {target})"
        how = f"constant {self.constant:g}" if self.strategy == "constant" else self.strategy
        return f"{self.imputer} ({how} in place of {target})"

    def for_features(self, feature_names: Sequence[str]) -> Imputer | None:
        """This recipe acting on the features of ``feature_names`` it names (all of them for
        ``AUTO``), in their order (a fitted one keeps their fill values); None when it names none.

        Example:
            >>> Imputer(UNIVARIATE).for_features(["a", "b"]).fnames, Imputer(REMOVAL, ("b", "c")).for_features(["a", "b"]).fnames
            (('a', 'b'), ('b',))
            >>> Imputer(UNIVARIATE, ("a", "b"), fills=(1.0, 2.0)).for_features(["b"]).fills
            (2.0,)
        """
        wanted = set(feature_names) if self.fnames == (AUTO,) else set(self.fnames)
        names = tuple(name for name in feature_names if name in wanted)
        fills = None if self.fills is None else tuple(self.fills[self.fnames.index(name)] for name in names)
        return replace(self, fnames=names, fills=fills) if names else None

    def matches(self, values: np.ndarray) -> np.ndarray:
        """Where ``values`` hold the target (compared in the values' own precision).

        Example:
            >>> Imputer(REMOVAL, target=0.1).matches(np.array([0.1, 0.2], dtype="float32")).tolist()
            [True, False]
        """
        values = np.asarray(values)
        if math.isnan(self.target):
            return np.isnan(values)
        return values == np.asarray(self.target, dtype=values.dtype if values.dtype.kind == "f" else np.float64)

    def to_config(self) -> dict[str, Any]:
        """JSON-ready dict (stored in the model file)."""
        return {
            "imputer": self.imputer,
            "fnames": list(self.fnames),
            "target_val": _target_text(self.target),
            "strategy": self.strategy,
            "constant_val": self.constant,
            "fills": None if self.fills is None else list(self.fills),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Imputer:
        """The inverse of :meth:`to_config`.

        Example:
            >>> recipe = Imputer(UNIVARIATE, ("i",), fills=(2.5,))
            >>> Imputer.from_config(json.loads(json.dumps(recipe.to_config()))) == recipe
            True
        """
        fills = config.get("fills")
        return replace(
            cls.from_step(config),
            fnames=tuple(config["fnames"]),
            fills=None if fills is None else tuple(float(value) for value in fills),
        )

    def key(self) -> str:
        """A text that tells recipes apart."""
        return json.dumps(self.to_config(), sort_keys=True)


def model_imputers(imputers: Sequence[Imputer], feature_names: Sequence[str]) -> tuple[Imputer, ...]:
    """The imputers acting on a model's features (:meth:`Imputer.for_features`), in order; a
    feature an imputer names that the model does not use is left out with a WARNING.

    Example:
        >>> [i.fnames for i in model_imputers([Imputer(UNIVARIATE), Imputer(REMOVAL, ("b",))], ["a"])]
        [('a',)]
    """
    found = []
    for imputer in imputers:
        unused = [name for name in imputer.fnames if name != AUTO and name not in feature_names]
        if unused:
            logger.warning(
                "%s: %s not among the features of the model trained after it (%s): no effect on them",
                imputer.describe(),
                ", ".join(repr(name) for name in unused),
                ", ".join(feature_names),
            )
        resolved = imputer.for_features(feature_names)
        if resolved is not None:
            found.append(resolved)
    return tuple(found)


def fill_value(values: np.ndarray, *, strategy: str, constant: float = 0.0, name: str = "?") -> float:
    """The fill value of a ``UnivariateImputer`` from the values other than the target.

    Raises:
        DataError: no value to compute it from (every value is the target), or values that are
            not finite.

    Example:
        >>> [fill_value(np.array([1.0, 2.0, 2.0, 7.0]), strategy=s) for s in ("mean", "median", "most_frequent")]
        [3.0, 2.0, 2.0]
    """
    values = np.asarray(values, dtype=np.float64)
    if strategy == "constant":
        return float(constant)
    if values.size == 0:
        raise DataError(
            f"UnivariateImputer: every training value of feature {name!r} is the target: no value to compute its "
            f"{strategy} from; use strategy 'constant' or leave the feature out of the imputer's fnames"
        )
    if not np.isfinite(values).all():
        bad = int(np.sum(~np.isfinite(values)))
        raise DataError(
            f"UnivariateImputer: feature {name!r} has {bad} NaN or infinite training values besides the target; "
            "expected finite values to compute its fill value from"
        )
    if strategy == "mean":
        return float(np.mean(values))
    if strategy == "median":
        return float(np.median(values))
    found, counts = np.unique(values, return_counts=True)
    return float(found[int(np.argmax(counts))])  # the smallest of the most frequent, as scikit-learn


def _columns(imputer: Imputer, fnames: Sequence[str]) -> list[tuple[int, int]]:
    """``(position in imputer.fnames, column in fnames)`` of the features both name."""
    return [(i, list(fnames).index(name)) for i, name in enumerate(imputer.fnames) if name in fnames]


def fit_imputers(
    parts: Sequence[np.ndarray], fnames: Sequence[str], imputers: Sequence[Imputer]
) -> tuple[Imputer, ...]:
    """The imputers with the fill values of the ``UnivariateImputer`` ones fitted on ``parts``
    (the training clouds' ``(n, F)`` raw features of ``fnames``), each on the values the
    imputers before it leave (points left out, values filled).

    Raises:
        DataError: a feature whose every training value is the target (strategies other than
            ``constant``).

    Example:
        >>> removal, mean = Imputer(REMOVAL, ("a",), target=0.0), Imputer(UNIVARIATE, ("b",))
        >>> part = np.array([[0.0, 10.0], [1.0, np.nan], [2.0, 4.0]])
        >>> fit_imputers([part], ["a", "b"], [removal, mean])[1].fills  # the left-out point's 10 not counted
        (4.0,)
    """
    values = [np.asarray(part, dtype=np.float32) for part in parts]
    kept = [np.ones(len(part), dtype=bool) for part in values]
    fitted = []
    for imputer in imputers:
        if not imputer.removes:  # its fill values, from the kept points' values other than the target
            fills = list(imputer.fills) if imputer.fills is not None else [math.nan] * len(imputer.fnames)
            for position, column in _columns(imputer, fnames):
                sample = [part[keep, column] for part, keep in zip(values, kept)]
                present = np.concatenate(sample) if sample else np.zeros(0)
                fills[position] = fill_value(
                    present[~imputer.matches(present)],
                    strategy=imputer.strategy,
                    constant=imputer.constant,
                    name=imputer.fnames[position],
                )
            imputer = replace(imputer, fills=tuple(fills))
        fitted.append(imputer)
        for index, part in enumerate(values):  # the values the next imputers are fitted on
            values[index], keep = apply_imputers(part, fnames, [imputer])
            kept[index] &= keep
    return tuple(fitted)


@dataclass
class ImputationTally:
    """What imputers did to one cloud (its tiles added up), for its log lines.

    Attributes:
        imputers: the imputers.
        points: points imputed.
        counts: per imputer, per feature: the values filled (``UnivariateImputer``) or the
            points holding the target (``RemovalImputer``).
        removed: per imputer, the points it left out.
    """

    imputers: tuple[Imputer, ...]
    points: int = 0
    counts: list[dict[str, int]] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = self.counts or [{} for _ in self.imputers]
        self.removed = self.removed or [0 for _ in self.imputers]

    def add(self, other: ImputationTally) -> None:
        """Adds ``other``'s counts (another part of the same cloud) to these.

        Example:
            >>> tally = ImputationTally((Imputer(REMOVAL, ("a",)),), points=1, counts=[{"a": 1}], removed=[1])
            >>> tally.add(tally); tally.points, tally.counts, tally.removed
            (2, [{'a': 2}], [2])
        """
        self.points += other.points
        for mine, theirs in zip(self.counts, other.counts):
            for name, count in list(theirs.items()):
                mine[name] = mine.get(name, 0) + count
        self.removed = [a + b for a, b in zip(self.removed, other.removed)]

    def log(self, source: str) -> None:
        """One INFO line per imputer that acts on the cloud's features.

        Example:
            >>> tally = ImputationTally((Imputer(REMOVAL, ("a",)),), points=10, counts=[{"a": 2}], removed=[2])
            >>> with logged():
            ...     tally.log("a.laz")
            INFO: a.laz: RemovalImputer (points holding NaN) left out 2 of 10 points (a: 2)
        """
        for imputer, counts, removed in zip(self.imputers, self.counts, self.removed):
            if not counts:
                continue
            if imputer.removes:
                listing = ", ".join(f"{name}: {count}" for name, count in counts.items())
                logger.info(
                    "%s: %s left out %d of %d points (%s)", source, imputer.describe(), removed, self.points, listing
                )
                continue
            fills = dict(zip(imputer.fnames, imputer.fills or ()))
            filled = [f"{count} of {name!r} with {fills[name]:.6g}" for name, count in counts.items() if count]
            logger.info("%s: %s filled %s", source, imputer.describe(), "; ".join(filled) or "no value")


def apply_imputers(
    features: np.ndarray,
    fnames: Sequence[str],
    imputers: Sequence[Imputer],
    *,
    source: str | None = None,
    tally: ImputationTally | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Imputes ``(n, F)`` features of ``fnames``: returns them with the target values of the
    ``UnivariateImputer`` features filled (a copy when any is), and the ``(n,)`` mask of the points
    a ``RemovalImputer`` keeps (the values of the others are left as they are). With ``source``
    (a cloud's name) logs what was filled and left out; ``tally`` adds it up instead.

    Raises:
        DataError: a ``UnivariateImputer`` not fitted (:func:`fit_imputers`).

    Example:
        >>> fill, drop = Imputer(UNIVARIATE, ("a",), fills=(9.0,)), Imputer(REMOVAL, ("b",), target=-1.0)
        >>> out, kept = apply_imputers(np.array([[np.nan, 1.0], [2.0, -1.0]]), ["a", "b"], [fill, drop])
        >>> out.tolist(), kept.tolist()
        ([[9.0, 1.0], [2.0, -1.0]], [True, False])
    """
    features = np.asarray(features)
    kept = np.ones(len(features), dtype=bool)
    done = ImputationTally(tuple(imputers)) if tally is None else tally
    done.points += len(features)
    copied = False
    for number, imputer in enumerate(imputers):
        columns = _columns(imputer, fnames)
        if not columns:
            continue
        hits = kept[:, None] & imputer.matches(features[:, [c for _, c in columns]])
        counts = done.counts[number]
        for j, (_, column) in enumerate(columns):
            counts[fnames[column]] = counts.get(fnames[column], 0) + int(hits[:, j].sum())
        if imputer.removes:
            gone = hits.any(axis=1)
            kept &= ~gone
            done.removed[number] += int(gone.sum())
            continue
        if imputer.fills is None:
            raise DataError(f"{imputer.describe()}: not fitted; fit it on the training clouds first")
        if hits.any() and not copied:
            features, copied = np.array(features, copy=True), True
        for j, (position, column) in enumerate(columns):
            features[hits[:, j], column] = imputer.fills[position]
    if source is not None and tally is None:
        done.log(source)
    return features, kept
