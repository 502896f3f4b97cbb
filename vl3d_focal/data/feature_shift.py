"""Is a cloud's feature distribution far from what the model was trained on?

For each feature, the cloud's sampled values (after the model's per-cloud scaling, before its
clipping to a ``MinmaxNormalizer``'s bounds, which would hide how far they lie) are compared
with the percentiles the normaliser kept of its training values (``reference``): with ``range``
the 1st-99th percentile range, a feature is **shifted** when the cloud's range is more than
:data:`RANGE_FACTOR` times the training range or less than 1 / :data:`RANGE_FACTOR` of it, or
when its median moved by more than :data:`MEDIAN_SHIFT` training ranges. A model fed such
values predicts from inputs it never saw (another sensor's 16-bit intensities, a point format
without intensity or returns): the finding names the feature, the factor and what to do.

A derived feature the cloud gets another way than the training clouds did (read from a dimension
of its file where training computed it, or the reverse) is reported too (:func:`source_messages`).

Example:
    >>> training = np.random.default_rng(0).gamma(4.0, 250.0, (5000, 1))      # 8-bit-like intensities
    >>> norm = FeatureNormalizer().fit(training, fnames=["intensity"])
    >>> feature_shifts(norm, training[:1000]), [round(s.factor, 1) for s in feature_shifts(norm, 17 * training)]
    ([], [17.0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vl3d_focal.data.feature_names import DERIVED_DEFINITIONS, stored_derived
from vl3d_focal.data.normalization import FeatureNormalizer

RANGE_FACTOR = 3.0
MEDIAN_SHIFT = 0.5


@dataclass(frozen=True)
class FeatureShift:
    """One feature of a cloud far from the training data.

    Attributes:
        feature: its name.
        factor: the cloud's 1st-99th percentile range over the training one (0 for a constant).
        median: the cloud's median; ``training_median``, ``training_low``, ``training_high``:
            the training median and 1st and 99th percentiles (all after per-cloud scaling).
        per_cloud: whether the model already scales this feature per cloud.
    """

    feature: str
    factor: float
    median: float
    training_median: float
    training_low: float
    training_high: float
    per_cloud: bool

    def message(self, source: str) -> str:
        """The warning, with what to do.

        Example:
            >>> FeatureShift("intensity", 17.0, 14534.0, 858.0, 100.0, 2000.0, False).message("a.laz")[:60]
            "a.laz: feature 'intensity' lies far outside the model's trai"
        """
        if self.factor == 0.0:
            what = f"it is constant ({self.median:.4g}) on this cloud"
        else:
            what = f"its 1st-99th percentile range is {self.factor:.1f}x the training range"
        scaled = ", values scaled per cloud" if self.per_cloud else ""
        detail = (
            f"{what}; median {self.median:.4g} against {self.training_median:.4g} in training "
            f"(training 1st-99th percentiles {self.training_low:.4g} to {self.training_high:.4g}{scaled})"
        )
        if self.per_cloud:
            hint = (
                "the model already normalises it per cloud, so the cloud itself differs: check its point "
                "format and that the feature is really recorded"
            )
        else:
            hint = (
                f"if its scale depends on the sensor or survey, retrain with it normalised per cloud (train "
                f'step "cloud_normalization": {{"{self.feature}": {{"method": "percentile"}}}}) or without '
                "it in fnames; otherwise check the cloud's point format and scaling"
            )
        return (
            f"{source}: feature {self.feature!r} lies far outside the model's training data: {detail}. "
            f"Predictions on this cloud may be wrong; {hint}."
        )


def feature_shifts(normalizer: FeatureNormalizer | None, sample: np.ndarray) -> list[FeatureShift]:
    """The shifted features of a cloud, from its sampled raw features (module docstring).

    Args:
        normalizer: the model's normaliser (None, or one without ``reference``: nothing to compare).
        sample: ``(s, F)`` the cloud's sampled raw features (``normalization.sample_stride``).

    Example:
        >>> feature_shifts(None, np.zeros((3, 0)))
        []
    """
    if normalizer is None or not normalizer.reference or not len(sample):
        return []
    scaled = normalizer.per_cloud(sample, cloud=normalizer.cloud_statistics(sample), clipped=False)
    percentiles = list(normalizer.reference["percentiles"])
    reference = np.asarray(normalizer.reference["values"], dtype=np.float64)
    low, median, high = (reference[percentiles.index(p)] for p in (1.0, 50.0, 99.0))
    c_low, c_median, c_high = np.percentile(scaled, [1.0, 50.0, 99.0], axis=0)
    found = []
    for j, name in enumerate(normalizer.fnames or []):
        spread, c_spread = high[j] - low[j], c_high[j] - c_low[j]
        if spread > 1e-12:
            factor, moved = c_spread / spread, abs(c_median[j] - median[j]) / spread
        else:
            factor, moved = (
                (1.0 if c_spread <= 1e-12 else np.inf),
                (0.0 if abs(c_median[j] - median[j]) <= 1e-12 else np.inf),
            )
        if factor > RANGE_FACTOR or factor < 1.0 / RANGE_FACTOR or moved > MEDIAN_SHIFT:
            found.append(
                FeatureShift(
                    feature=name,
                    factor=float(factor) if c_spread > 1e-12 else 0.0,
                    median=float(c_median[j]),
                    training_median=float(median[j]),
                    training_low=float(low[j]),
                    training_high=float(high[j]),
                    per_cloud=name in normalizer.cloud_scaling,
                )
            )
    return found


def shift_messages(normalizer: FeatureNormalizer | None, sample: np.ndarray, *, source: str) -> list[str]:
    """The warnings of :func:`feature_shifts` for a cloud called ``source``.

    Example:
        >>> shift_messages(None, np.zeros((2, 0)), source="a.laz")
        []
    """
    return [shift.message(source) for shift in feature_shifts(normalizer, sample)]


def source_messages(
    normalizer: FeatureNormalizer | None, dimension_names: Sequence[str], *, mined: Sequence[str] = (), source: str
) -> list[str]:
    """Warnings for the derived features a cloud gets another way than the model's training
    clouds did: read from a dimension of its file where training computed them, or computed
    where training read them (:func:`~vl3d_focal.data.feature_names.stored_derived`). The two
    are different definitions under one name (another tool's radius or formula). A model file
    that did not record it was trained before stored dimensions were read: it computed them all.

    Example:
        >>> norm = FeatureNormalizer(fnames=["intensity", "planarity"], stored=["planarity"])
        >>> source_messages(norm, ["intensity"], source="a.laz")[0][:70]
        "a.laz: feature 'planarity' was read from the training clouds' 'planari"
        >>> source_messages(norm, ["intensity", "planarity"], source="a.laz")
        []
    """
    if normalizer is None:
        return []
    names, trained = normalizer.fnames or [], normalizer.stored or []
    stored_here = stored_derived(dimension_names, names, mined=mined)
    messages = []
    for name in names:
        if name in trained and name not in stored_here:
            what = (
                f"was read from the training clouds' {name!r} dimension, but this cloud has none: vl3d_focal "
                f"computes it here ({DERIVED_DEFINITIONS[name]})"
            )
        elif name in stored_here and name not in trained:
            what = (
                f"was computed by vl3d_focal for the training clouds ({DERIVED_DEFINITIONS[name]}), but this cloud "
                f"stores a {name!r} dimension, which is read instead"
            )
        else:
            continue
        messages.append(
            f"{source}: feature {name!r} {what}. The two need not be the same definition; predictions on this "
            "cloud may be wrong: give it the same dimension as the training clouds had, or retrain."
        )
    return messages
