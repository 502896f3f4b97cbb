"""Feature normalisation: per-cloud scaling of sensor-dependent features, then a robust
standardisation fitted on the training data, both stored with the model.

1. **Per cloud** (``cloud_scaling``, chosen in the train step's ``cloud_normalization``): a
   feature whose scale depends on the sensor or survey (intensity: 8 to 16 bits, gains) is
   rescaled by statistics of the cloud it belongs to, training and prediction alike:

   - ``percentile``: value / the cloud's ``percentile``-th percentile (default 99);
   - ``robust``: (value - the cloud's median) / its IQR (1 when the IQR is 0);
   - ``rank``: the value's mid-rank among the cloud's values, in [0, 1] (any monotonic change
     of scale leaves it unchanged).

   A cloud's statistics come from a deterministic sample (every ``stride``-th point, at most
   :data:`SAMPLE_POINTS`), the same whether the cloud is in memory or streamed tile by tile; a
   tile predicted with a buffer is scaled by its own points' statistics, not its neighbours'.
   A percentile of 0 (a feature that is 0 almost everywhere) leaves the values unscaled.
2. **Standardisation**: (value - median) / scale over the training points, the scale being the
   IQR / 1.349, the standard deviation when the IQR is 0, and 1 when both are 0 (a constant
   feature, standardised to 0: a warning names it, unless it is ``ones``, constant by design).

A model trained after a ``MinmaxNormalizer`` with ``clip`` (:mod:`vl3d_focal.data.minmax_normalization`)
keeps its ``clip`` bounds: each such feature is clipped to them between the two steps, training
and prediction alike, so a feature scaled per cloud is clipped in its scaled units (the bounds
were fitted on the scaled training values); a model without has no ``clip`` in its file.

The fitted normaliser also keeps reference percentiles of what it was fitted on (scaled per
cloud, before clipping), against which :mod:`vl3d_focal.data.feature_shift` compares each
predicted cloud's values (scaled per cloud, before clipping: a cloud far beyond the training range
is not hidden by the clip).

Example:
    >>> norm = FeatureNormalizer(fnames=["i"], cloud_scaling={"i": {"method": "percentile", "percentile": 50.0}})
    >>> a, b = np.array([[1.0], [2.0], [3.0]]), np.array([[10.0], [20.0], [30.0]])
    >>> norm = norm.fit(np.concatenate([norm.per_cloud(a), norm.per_cloud(b)]), fnames=["i"])
    >>> norm.transform(b).ravel().tolist() == norm.transform(a).ravel().tolist()
    True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vl3d_focal.data.minmax_normalization import clip_to
from vl3d_focal.errors import DataError
from vl3d_focal.wording import noun

logger = logging.getLogger(__name__)

CLOUD_SCALINGS = ("percentile", "robust", "rank")
SAMPLE_POINTS = 1_000_000
"""At most this many points of a cloud give its statistics."""
REFERENCE_PERCENTILES = (1.0, 25.0, 50.0, 75.0, 99.0)


SUMMARY_FEATURES = 12
"""At most this many features in the normaliser's fitted summary (:func:`fitted_summary`)."""


def fitted_summary(names: Sequence[str], center: np.ndarray, scale: np.ndarray) -> str:
    """``name=centre/scale`` of the first :data:`SUMMARY_FEATURES` features, 4 significant digits.

    Example:
        >>> fitted_summary(["z", "intensity"], np.array([12.3456, 800.0]), np.array([2.5, 1234.5678]))
        'z=12.35/2.5, intensity=800/1235'
        >>> fitted_summary([f"f{j}" for j in range(14)], np.zeros(14), np.ones(14)).endswith("f11=0/1 … (14 features)")
        True
    """
    shown = [f"{name}={c:.4g}/{s:.4g}" for name, c, s in zip(names[:SUMMARY_FEATURES], center, scale)]
    more = f" … ({len(names)} features)" if len(names) > SUMMARY_FEATURES else ""
    return ", ".join(shown) + more


def sample_stride(num_points: int) -> int:
    """Every ``stride``-th point (ids 0, stride, 2 stride...) is in a cloud's sample.

    Example:
        >>> sample_stride(10), sample_stride(2_500_000)
        (1, 3)
    """
    return max(1, math.ceil(int(num_points) / SAMPLE_POINTS))


@dataclass
class CloudStatistics:
    """What the per-cloud scaling of one cloud needs: per scaled feature, its parameters.

    Attributes:
        sample: ``(s, F)`` the cloud's sampled raw features.
        params: per scaled column: ``(offset, divisor)`` (percentile, robust) or the sorted
            sample (rank).
    """

    sample: np.ndarray
    params: dict[int, Any] = field(default_factory=dict)


class FeatureNormalizer:
    """Per-cloud scaling then robust standardisation (module docstring).

    Args:
        fnames: feature names, in column order.
        center, scale: the standardisation (None before :meth:`fit`).
        cloud_scaling: ``{feature name: {"method": ..., "percentile": ...}}``.
        reference: ``{"percentiles": [...], "values": [[one per feature] per percentile]}`` of
            the (per-cloud scaled) training values.
        stored: the derived feature names the training clouds stored as dimensions (read from
            their files, not computed; :func:`~vl3d_focal.data.feature_names.stored_derived`);
            None where not recorded (model files written before it).
        clip: ``{feature name: (low, high)}``: values clipped to it after the per-cloud scaling (a
            ``MinmaxNormalizer``'s bounds).

    Example:
        >>> norm = FeatureNormalizer().fit(np.array([[1.0], [2.0], [3.0]]), fnames=["i"])
        >>> norm.transform(np.array([[2.0]])).tolist()
        [[0.0]]
    """

    def __init__(
        self,
        *,
        fnames: Sequence[str] | None = None,
        center: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        cloud_scaling: Mapping[str, Mapping[str, Any]] | None = None,
        reference: Mapping[str, Any] | None = None,
        stored: Sequence[str] | None = None,
        clip: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self.fnames = list(fnames) if fnames is not None else None
        self.center = None if center is None else np.asarray(center, dtype=np.float64)
        self.scale = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.cloud_scaling = {name: dict(config) for name, config in (cloud_scaling or {}).items()}
        self.reference = None if reference is None else dict(reference)
        self.stored = None if stored is None else list(stored)
        self.clip = {name: (float(low), float(high)) for name, (low, high) in (clip or {}).items()}
        unknown = sorted({c.get("method") for c in self.cloud_scaling.values()} - set(CLOUD_SCALINGS), key=str)
        if unknown:
            raise DataError(
                f"cloud normalisation: unknown {noun(len(unknown), 'method')} {unknown}; expected one of {list(CLOUD_SCALINGS)}"
            )

    @property
    def fitted(self) -> bool:
        """Whether centre and scale are known."""
        return self.center is not None and self.scale is not None

    def _scaled_columns(self, width: int) -> list[tuple[int, Mapping[str, Any]]]:
        if not self.cloud_scaling:
            return []
        names = self.fnames or []
        if len(names) != width:
            raise DataError(f"cloud normalisation: expected {len(names)} feature columns ({names}), received {width}")
        return [(j, self.cloud_scaling[name]) for j, name in enumerate(names) if name in self.cloud_scaling]

    def cloud_statistics(self, sample: np.ndarray) -> CloudStatistics:
        """The per-cloud scaling parameters of a cloud, from its sample (:func:`sample_stride`).

        Example:
            >>> norm = FeatureNormalizer(fnames=["i"], cloud_scaling={"i": {"method": "robust"}})
            >>> norm.cloud_statistics(np.array([[1.0], [2.0], [3.0]])).params
            {0: (2.0, 1.0)}
        """
        sample = np.asarray(sample, dtype=np.float64)
        stats = CloudStatistics(sample=sample)
        for j, config in self._scaled_columns(sample.shape[1]):
            values = sample[:, j]
            method = config["method"]
            if method == "rank":
                stats.params[j] = np.sort(values)
            elif method == "percentile":
                divisor = float(np.percentile(values, float(config["percentile"]))) if len(values) else 0.0
                stats.params[j] = (0.0, divisor if abs(divisor) > 1e-12 else 1.0)
            else:
                q25, q50, q75 = np.percentile(values, [25, 50, 75]) if len(values) else (0.0, 0.0, 0.0)
                stats.params[j] = (float(q50), float(q75 - q25) if q75 - q25 > 1e-12 else 1.0)
        return stats

    def per_cloud(
        self, features: np.ndarray, *, cloud: CloudStatistics | None = None, clipped: bool = True
    ) -> np.ndarray:
        """Features of one cloud (or part of it) after the per-cloud scaling, then clipped to
        :attr:`clip`; float64.

        Args:
            features: ``(n, F)`` raw features.
            cloud: the cloud's statistics; None: those of ``features`` (a whole cloud).
            clipped: False: not clipped (what the reference percentiles are of).

        Example:
            >>> norm = FeatureNormalizer(fnames=["i"], cloud_scaling={"i": {"method": "rank"}})
            >>> norm.per_cloud(np.array([[5.0], [1.0], [9.0], [1.0]])).ravel().tolist()
            [0.625, 0.25, 0.875, 0.25]
            >>> FeatureNormalizer(fnames=["i"], cloud_scaling={"i": {"method": "percentile", "percentile": 50.0}},
            ...     clip={"i": (0.0, 1.5)}).per_cloud(np.array([[10.0], [20.0], [40.0]])).ravel().tolist()
            [0.5, 1.0, 1.5]
            >>> FeatureNormalizer(fnames=["i"], clip={"i": (0.0, 1.5)}).per_cloud(np.array([[4.0]]), clipped=False).tolist()
            [[4.0]]
        """
        out, names = np.array(features, dtype=np.float64), self.fnames or []
        if self.cloud_scaling:
            cloud = cloud if cloud is not None else self.cloud_statistics(out[:: sample_stride(len(out))])
            for j, params in cloud.params.items():
                if self.cloud_scaling[names[j]]["method"] == "rank":
                    size = max(len(params), 1)
                    out[:, j] = (
                        np.searchsorted(params, out[:, j], "left") + np.searchsorted(params, out[:, j], "right")
                    ) / (2.0 * size)
                else:
                    out[:, j] = (out[:, j] - params[0]) / params[1]
        return clip_to(out, names, self.clip) if clipped else out

    def fit(self, features: np.ndarray, *, fnames: Sequence[str] | None = None) -> FeatureNormalizer:
        """Learn the per-feature median and robust scale of ``(N, F)`` features (already scaled
        per cloud, :meth:`per_cloud`) clipped to :attr:`clip`, and the reference percentiles of
        the features as given (before clipping, as :mod:`~vl3d_focal.data.feature_shift` compares).

        Example:
            >>> FeatureNormalizer().fit(np.ones((4, 2))).scale.tolist()
            [1.0, 1.0]
            >>> clipped = FeatureNormalizer(fnames=["i"], clip={"i": (0.0, 1.0)}).fit(np.array([[0.0], [1.0], [9.0]]))
            >>> clipped.center.tolist(), clipped.reference["values"][-1]
            ([1.0], [8.84])
        """
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] == 0:
            raise DataError(f"normaliser: expected (N, F) features with N > 0, received {features.shape}")
        self.fnames = list(fnames) if fnames is not None else self.fnames
        kept = clip_to(features, self.fnames or [], self.clip) if self.clip else features
        q25, q50, q75 = np.percentile(kept, [25, 50, 75], axis=0)
        scale = (q75 - q25) / 1.349
        std = kept.std(axis=0)
        constant = (scale <= 1e-12) & (std <= 1e-12)
        scale = np.where(scale > 1e-12, scale, np.where(std > 1e-12, std, 1.0))
        self.center, self.scale = q50, scale
        reference = np.percentile(features[:: sample_stride(len(features))], REFERENCE_PERCENTILES, axis=0)
        self.reference = {"percentiles": list(REFERENCE_PERCENTILES), "values": reference.tolist()}
        names = self.fnames if self.fnames and len(self.fnames) == len(q50) else [f"#{j}" for j in range(len(q50))]
        logger.info("feature normaliser fitted (name=centre/scale): %s", fitted_summary(names, q50, scale))
        logger.debug("feature normaliser fitted: centre %s scale %s", q50.tolist(), scale.tolist())
        flat = [  # ones: VL3D's feature for a model without features, constant by design
            f"{name} ({value:.4g})" for name, value, same in zip(names, q50, constant) if same and name != "ones"
        ]
        if flat:
            logger.warning(
                "feature normaliser: %s %s the same value at every training point: standardised to 0, "
                "it tells the model nothing",
                ", ".join(flat),
                noun(len(flat), "has", "have"),
            )
        return self

    def transform(self, features: np.ndarray, *, cloud: CloudStatistics | None = None) -> np.ndarray:
        """Scale ``(N, F)`` raw features per cloud, then standardise them; float32.

        Args:
            features: raw features of a cloud (or of part of it, with ``cloud`` given).
            cloud: the cloud's statistics (:meth:`cloud_statistics`); None: those of ``features``.

        Example:
            >>> FeatureNormalizer(center=[1.0], scale=[2.0]).transform(np.array([[5.0]])).tolist()
            [[2.0]]
            >>> FeatureNormalizer(fnames=["i"], center=[1.0], scale=[2.0], clip={"i": (0.0, 3.0)}).transform(
            ...     np.array([[5.0]])).tolist()
            [[1.0]]
        """
        center, scale = self.center, self.scale
        if center is None or scale is None:
            raise DataError("feature normaliser used before fit (no centre/scale)")
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != center.shape[0]:
            raise DataError(f"normaliser: expected (N, {center.shape[0]}) features, received {features.shape}")
        return ((self.per_cloud(features, cloud=cloud) - center) / scale).astype(np.float32)

    def to_config(self) -> dict[str, Any]:
        """JSON-able state.

        Example:
            >>> FeatureNormalizer(fnames=["i"], center=[0.0], scale=[1.0]).to_config()["center"]
            [0.0]
        """
        return {
            "fnames": self.fnames,
            "center": None if self.center is None else [float(v) for v in self.center],
            "scale": None if self.scale is None else [float(v) for v in self.scale],
            "cloud_scaling": self.cloud_scaling,
            "reference": self.reference,
            "stored": self.stored,
            **({"clip": {name: list(bounds) for name, bounds in self.clip.items()}} if self.clip else {}),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FeatureNormalizer:
        """Inverse of :meth:`to_config` (files written before per-cloud scaling have neither it
        nor a reference).

        Example:
            >>> FeatureNormalizer.from_config({"fnames": [], "center": [], "scale": []}).fitted
            True
        """
        return cls(
            fnames=config.get("fnames"),
            center=config.get("center"),
            scale=config.get("scale"),
            cloud_scaling=config.get("cloud_scaling"),
            reference=config.get("reference"),
            stored=config.get("stored"),
            clip=config.get("clip"),
        )
