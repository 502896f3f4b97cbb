"""Class-weight strategies against hand-computed values; absent classes; spec resolution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vl3d_focal.errors import VL3DFocalError
from vl3d_focal.losses import CLASS_WEIGHT_STRATEGIES, compute_class_weight, resolve_class_weight
from vl3d_focal.losses.class_weights import ClassWeightError

COUNTS = [100, 200, 50, 10]  # the class counts of a blog post's Keras focal loss (seed 003), N = 360


def test_strategy_names():
    assert CLASS_WEIGHT_STRATEGIES == (
        "balanced",
        "inverse_frequency",
        "sqrt_inverse_frequency",
        "log",
        "effective_number",
        "median_frequency",
    )


def test_balanced_and_auto_alias_case_insensitive():
    want = [360 / (4 * 100), 360 / (4 * 200), 360 / (4 * 50), 360 / (4 * 10)]  # 0.9 0.45 1.8 9
    for name in ("balanced", "auto", "AUTO", "Balanced"):
        np.testing.assert_allclose(compute_class_weight(name, COUNTS), want)


def test_inverse_frequency_is_seed_003_weights():
    raw = [3.6, 1.8, 7.2, 36.0]
    np.testing.assert_allclose(compute_class_weight("inverse_frequency", COUNTS), [r / 48.6 for r in raw])
    assert sum(compute_class_weight("inverse_frequency", COUNTS)) == pytest.approx(1.0)


def test_sqrt_inverse_frequency():
    raw = [math.sqrt(3.6), math.sqrt(1.8), math.sqrt(7.2), 6.0]
    np.testing.assert_allclose(compute_class_weight("sqrt_inverse_frequency", COUNTS), [r / sum(raw) for r in raw])


def test_log_weights_with_k():
    got = compute_class_weight("log", [75, 25])
    np.testing.assert_allclose(got, [1 / math.log(1.02 + 0.75), 1 / math.log(1.02 + 0.25)])
    np.testing.assert_allclose(compute_class_weight("log", [75, 25], k=1.5), [1 / math.log(2.25), 1 / math.log(1.75)])


def test_effective_number_cui_2019():
    beta = 0.99
    raw = [(1 - beta) / (1 - beta**n) for n in COUNTS]
    want = [r * 4 / sum(raw) for r in raw]
    np.testing.assert_allclose(compute_class_weight("effective_number", COUNTS, beta=beta), want)
    # beta = 0 gives equal weights
    np.testing.assert_allclose(compute_class_weight("effective_number", COUNTS, beta=0.0), [1.0] * 4)


def test_median_frequency():
    f = np.array(COUNTS) / 360
    med = (100 / 360 + 50 / 360) / 2  # median of 4 values: mean of the middle two
    np.testing.assert_allclose(compute_class_weight("median_frequency", COUNTS), med / f)


@pytest.mark.parametrize("strategy", CLASS_WEIGHT_STRATEGIES)
def test_absent_class_is_an_error_by_default(strategy):
    with pytest.raises(ClassWeightError, match=r"class \[1\] has no points"):
        compute_class_weight(strategy, [10, 0, 5])


def test_absent_classes_are_named_in_the_plural():
    with pytest.raises(ClassWeightError, match=r"^classes \[1, 2\] have no points .* give them .* weight them 0$"):
        compute_class_weight("inverse_frequency", [10, 0, 0])


@pytest.mark.parametrize("strategy", CLASS_WEIGHT_STRATEGIES)
def test_absent_class_zero_weight_with_warning(strategy):
    with pytest.warns(RuntimeWarning, match="weighting it 0"):
        got = compute_class_weight(strategy, [10, 0, 5], on_absent_class="zero")
    assert got[1] == 0.0
    assert all(math.isfinite(w) and w > 0 for w in (got[0], got[2]))
    assert got[2] >= got[0]  # the rarer present class never weighs less


def test_numpy_scalars_are_accepted_as_options_and_bools_are_not():
    beta, k = np.float32(0.9), np.float32(1.5)
    raw = [(1 - float(beta)) / (1 - float(beta) ** n) for n in (3, 1)]
    np.testing.assert_allclose(
        compute_class_weight("effective_number", [3, 1], beta=beta), [r * 2 / sum(raw) for r in raw], rtol=1e-12
    )
    np.testing.assert_allclose(
        compute_class_weight("log", [3, 1], k=k), [1 / math.log(1.5 + 0.75), 1 / math.log(1.5 + 0.25)], rtol=1e-12
    )
    assert compute_class_weight("effective_number", [3, 1], beta=np.int64(0)) == [1.0, 1.0]
    with pytest.raises(ClassWeightError, match="beta"):
        compute_class_weight("effective_number", [3, 1], beta=False)
    with pytest.raises(ClassWeightError, match="`k`"):
        compute_class_weight("log", [3, 1], k=np.float64("nan"))
    names = ["a", "b"]
    assert resolve_class_weight([np.float32(0.5), np.int64(2)], class_names=names, counts=None) == [0.5, 2.0]
    with pytest.raises(ClassWeightError, match=r"class_weight\[0\]"):
        resolve_class_weight([True, 1.0], class_names=names, counts=None)


def test_the_counts_of_integer_labels_come_from_bincount():
    labels = np.array([0, 2, 2, 2, 0, 2])
    counts = np.bincount(labels, minlength=3)  # [2, 0, 4]: class 1 has no points
    with pytest.warns(RuntimeWarning, match=r"class \[1\] has no points"):
        got = compute_class_weight("balanced", counts, on_absent_class="zero")
    np.testing.assert_allclose(got, [6 / (3 * 2), 0.0, 6 / (3 * 4)])


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ClassWeightError, match="Did you mean 'balanced'"):
        compute_class_weight("balancd", COUNTS)
    with pytest.raises(ClassWeightError, match="non-negative"):
        compute_class_weight("balanced", [1, -2])
    with pytest.raises(ClassWeightError, match="no labelled point"):
        compute_class_weight("balanced", [0, 0])
    with pytest.raises(ClassWeightError, match="beta"):
        compute_class_weight("effective_number", COUNTS, beta=1.0)
    with pytest.raises(ClassWeightError, match="`k`"):
        compute_class_weight("log", COUNTS, k=1.0)
    with pytest.raises(ClassWeightError, match="on_absent_class"):
        compute_class_weight("log", COUNTS, on_absent_class="ignore")
    assert issubclass(ClassWeightError, VL3DFocalError)


NAMES = ["ground", "vegetation", "building", "pole"]


def test_resolve_every_spec_form():
    counts = np.array(COUNTS)
    assert resolve_class_weight(None, class_names=NAMES, counts=counts) is None
    assert resolve_class_weight([1, 2, 3, 4], class_names=NAMES, counts=None) == [1.0, 2.0, 3.0, 4.0]
    assert resolve_class_weight(
        {"pole": 4, "ground": 1, "building": 3, "vegetation": 2}, class_names=NAMES, counts=None
    ) == [1.0, 2.0, 3.0, 4.0]
    assert resolve_class_weight("AUTO", class_names=NAMES, counts=counts) == compute_class_weight("balanced", counts)
    assert resolve_class_weight(
        {"strategy": "effective_number", "beta": 0.9}, class_names=NAMES, counts=counts
    ) == compute_class_weight("effective_number", counts, beta=0.9)


def test_resolve_errors():
    with pytest.raises(ClassWeightError, match=r"expected 4 .* received 3"):
        resolve_class_weight([1, 2, 3], class_names=NAMES, counts=None)
    with pytest.raises(ClassWeightError, match="did you mean 'building'"):
        resolve_class_weight({"ground": 1, "vegetation": 1, "buildin": 1, "pole": 1}, class_names=NAMES, counts=None)
    with pytest.raises(ClassWeightError, match=r"missing \['pole'\]"):
        resolve_class_weight({"ground": 1, "vegetation": 1, "building": 1}, class_names=NAMES, counts=None)
    with pytest.raises(ClassWeightError, match="needs the per-class point counts"):
        resolve_class_weight("balanced", class_names=NAMES, counts=None)
    with pytest.raises(ClassWeightError, match="unknown"):
        resolve_class_weight({"strategy": "log", "kk": 2}, class_names=NAMES, counts=np.ones(4))
    with pytest.raises(ClassWeightError, match=r"class_weight\[1\]"):
        resolve_class_weight([1, -1, 1, 1], class_names=NAMES, counts=None)
    with pytest.raises(ClassWeightError, match="must be null"):
        resolve_class_weight(3.0, class_names=NAMES, counts=None)
