"""Per-cloud scaling, the robust standardisation, their storage, and the distribution-shift check."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from vl3d_focal.data.feature_shift import RANGE_FACTOR, feature_shifts, shift_messages
from vl3d_focal.data.normalization import SAMPLE_POINTS, FeatureNormalizer, sample_stride
from vl3d_focal.errors import DataError

NAMES = ["intensity", "height_above_ground"]


def _cloud(rng: np.random.Generator, n: int, gain: float) -> np.ndarray:
    return np.column_stack([rng.gamma(3.0, 300.0, n) * gain, rng.exponential(4.0, n)])


@pytest.mark.parametrize("method", ["percentile", "robust", "rank"])
def test_per_cloud_scaling_removes_a_sensor_gain(method):
    rng = np.random.default_rng(0)
    scaling = {"intensity": {"method": method, "percentile": 99.0}}
    norm = FeatureNormalizer(fnames=NAMES, cloud_scaling=scaling)
    clouds = [_cloud(rng, 4000, 1.0), _cloud(rng, 3000, 1.3)]
    norm.fit(np.concatenate([norm.per_cloud(c) for c in clouds]), fnames=NAMES)
    test = _cloud(rng, 5000, 1.0)
    out, out17 = norm.transform(test), norm.transform(test * np.array([17.0, 1.0]))
    np.testing.assert_allclose(out17, out, rtol=1e-5, atol=1e-5)  # the gain is gone
    np.testing.assert_array_equal(out[:, 1], norm.transform(test * np.array([2.0, 1.0]))[:, 1])  # others untouched
    assert abs(float(np.median(out[:, 0]))) < 0.1  # centred like the training clouds
    assert feature_shifts(norm, test * np.array([17.0, 1.0])) == []


def test_per_cloud_methods_by_hand():
    values = np.array([[0.0], [10.0], [20.0], [30.0], [40.0]])

    def scaled(config):
        return FeatureNormalizer(fnames=["f"], cloud_scaling={"f": config}).per_cloud(values).ravel().tolist()

    assert scaled({"method": "percentile", "percentile": 50.0}) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert scaled({"method": "robust"}) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert scaled({"method": "rank"}) == [0.1, 0.3, 0.5, 0.7, 0.9]
    zeros = FeatureNormalizer(fnames=["f"], cloud_scaling={"f": {"method": "percentile", "percentile": 99.0}})
    assert zeros.per_cloud(np.zeros((3, 1))).ravel().tolist() == [0.0, 0.0, 0.0]  # never divided by 0
    with pytest.raises(DataError, match="unknown method"):
        FeatureNormalizer(fnames=["f"], cloud_scaling={"f": {"method": "zscore"}})


def test_tile_of_a_cloud_is_scaled_by_the_cloud_statistics():
    rng = np.random.default_rng(1)
    norm = FeatureNormalizer(fnames=NAMES, cloud_scaling={"intensity": {"method": "rank"}})
    norm.fit(norm.per_cloud(_cloud(rng, 2000, 1.0)), fnames=NAMES)
    cloud = _cloud(rng, 3000, 1.0)
    statistics = norm.cloud_statistics(cloud)
    np.testing.assert_array_equal(norm.transform(cloud[:700], cloud=statistics), norm.transform(cloud)[:700])


def test_normaliser_is_stored_and_reused_unchanged():
    rng = np.random.default_rng(2)
    norm = FeatureNormalizer(fnames=NAMES, cloud_scaling={"intensity": {"method": "percentile", "percentile": 95.0}})
    norm.fit(norm.per_cloud(_cloud(rng, 2000, 1.0)), fnames=NAMES)
    again = FeatureNormalizer.from_config(norm.to_config())
    test = _cloud(rng, 500, 3.0)
    np.testing.assert_array_equal(again.transform(test), norm.transform(test))
    assert again.cloud_scaling == norm.cloud_scaling and again.reference == norm.reference
    old = FeatureNormalizer.from_config({"fnames": NAMES, "center": [0.0, 0.0], "scale": [1.0, 1.0]})
    assert old.reference is None and feature_shifts(old, test) == []  # files of earlier versions: no check


def test_shift_check_names_the_feature_and_the_factor():
    rng = np.random.default_rng(3)
    norm = FeatureNormalizer().fit(_cloud(rng, 6000, 1.0), fnames=NAMES)
    assert feature_shifts(norm, _cloud(rng, 3000, 1.0)) == []
    assert feature_shifts(norm, _cloud(rng, 3000, 1.5)) == []  # a gain within the training spread
    [shift] = feature_shifts(norm, _cloud(rng, 3000, 17.0))
    assert shift.feature == "intensity" and 15.0 < shift.factor < 19.0 and shift.factor > RANGE_FACTOR
    [message] = shift_messages(norm, _cloud(rng, 3000, 17.0), source="other_survey.laz")
    assert message.startswith("other_survey.laz: feature 'intensity' lies far outside")
    assert "x the training range" in message and '"cloud_normalization": {"intensity"' in message
    flat = _cloud(rng, 3000, 1.0)
    flat[:, 0] = 0.0  # a point format without intensity
    [constant] = feature_shifts(norm, flat)
    assert constant.factor == 0.0 and "it is constant (0) on this cloud" in constant.message("f.las")


def test_sample_is_a_bounded_stride():
    assert sample_stride(SAMPLE_POINTS) == 1 and sample_stride(SAMPLE_POINTS + 1) == 2
    assert len(range(0, 7 * SAMPLE_POINTS, sample_stride(7 * SAMPLE_POINTS))) <= SAMPLE_POINTS


def test_the_fitted_normaliser_logs_one_compact_line_and_warns_of_a_constant_feature(caplog):
    features = np.column_stack([np.linspace(0.0, 100.0, 50), np.full(50, 3.0), np.ones(50)] + [np.arange(50.0)] * 12)
    names = ["z", "flat", "ones"] + [f"f{j}" for j in range(12)]
    with caplog.at_level(logging.INFO, logger="vl3d_focal.data.normalization"):
        FeatureNormalizer().fit(features, fnames=names)
    [info] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert "\n" not in info
    assert info.startswith("feature normaliser fitted (name=centre/scale): z=50/37.06, flat=3/1, ones=1/1, f0=24.5/")
    assert info.endswith("f8=24.5/18.16 … (15 features)")
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("feature normaliser: flat (3) has the same value at every training point")
