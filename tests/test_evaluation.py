"""Tests of vl3d_focal.reports.metrics against hand-computed confusion matrices and NumPy formulas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vl3d_focal.errors import DataError
from vl3d_focal.reports.metrics import classification_metrics, cohen_kappa, confusion_matrix, matthews_corrcoef

# 3 classes, two ignored points (-1) at the end
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, -1, -1])
Y_PRED = np.array([0, 0, 1, 2, 1, 1, 0, 2, 1, 0, 2])
# by hand: rows reference, columns predicted
HAND_CM = [[2, 1, 1], [1, 2, 0], [0, 1, 1]]
NAMES = ["ground", "building", "pole"]


def test_confusion_matrix_by_hand_ignores_points():
    cm = confusion_matrix(Y_TRUE, Y_PRED, num_classes=3)
    assert cm.dtype == np.int64
    assert cm.tolist() == HAND_CM
    assert cm.sum() == 9  # the two ignored points are not counted


def test_other_ignore_label():
    cm = confusion_matrix([1, 255, 0], [1, 0, 1], num_classes=2, ignore_label=255)
    assert cm.tolist() == [[0, 1], [0, 1]]


def test_metrics_by_hand():
    m = classification_metrics(confusion_matrix(Y_TRUE, Y_PRED, num_classes=3), class_names=NAMES)
    assert list(m) == ["OA", "mIoU", "macro_F1", "MCC", "Kappa", "class_names", "confusion_matrix", "per_class"]
    assert m["OA"] == pytest.approx(5 / 9)
    # support (4, 3, 2), predicted (3, 4, 2), hits (2, 2, 1)
    per = m["per_class"]
    assert [per[n]["support"] for n in NAMES] == [4, 3, 2]
    assert [per[n]["P"] for n in NAMES] == pytest.approx([2 / 3, 2 / 4, 1 / 2])
    assert [per[n]["R"] for n in NAMES] == pytest.approx([2 / 4, 2 / 3, 1 / 2])
    assert [per[n]["F1"] for n in NAMES] == pytest.approx([4 / 7, 4 / 7, 1 / 2])
    assert [per[n]["IoU"] for n in NAMES] == pytest.approx([2 / 5, 2 / 5, 1 / 3])
    assert all(list(per[n]) == ["P", "R", "F1", "IoU", "support"] for n in NAMES)
    assert m["mIoU"] == pytest.approx(17 / 45)
    assert m["macro_F1"] == pytest.approx(23 / 42)
    # MCC: c=5, s=9, sum p_k t_k = 28, sum p_k^2 = sum t_k^2 = 29 -> (45-28)/sqrt(52*52)
    assert m["MCC"] == pytest.approx(17 / 52)
    # Kappa: p_o = 5/9, p_e = 28/81 -> (17/81)/(53/81)
    assert m["Kappa"] == pytest.approx(17 / 53)
    assert m["class_names"] == NAMES and m["confusion_matrix"] == HAND_CM
    json.dumps(m, allow_nan=False)  # plain JSON types, no NaN


def _mcc_by_covariance(t: np.ndarray, p: np.ndarray, k: int) -> float:
    """MCC as the correlation of the one-hot indicator matrices (another derivation)."""
    x, y = np.eye(k)[t], np.eye(k)[p]
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    return float(np.sum(x * y) / np.sqrt(np.sum(x * x) * np.sum(y * y)))


def _kappa_from_labels(t: np.ndarray, p: np.ndarray, k: int) -> float:
    observed = np.mean(t == p)
    expected = sum(np.mean(t == c) * np.mean(p == c) for c in range(k))
    return float((observed - expected) / (1 - expected))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mcc_and_kappa_match_independent_formulas(seed):
    rng = np.random.default_rng(seed)
    k = 5
    t = rng.integers(0, k, 2000)
    p = np.where(rng.random(2000) < 0.6, t, rng.integers(0, k, 2000))
    cm = confusion_matrix(t, p, num_classes=k)
    assert matthews_corrcoef(cm) == pytest.approx(_mcc_by_covariance(t, p, k), rel=1e-9)
    assert cohen_kappa(cm) == pytest.approx(_kappa_from_labels(t, p, k), rel=1e-9)


def test_confusion_matrix_matches_loop():
    rng = np.random.default_rng(3)
    t = rng.integers(-1, 4, 500)
    p = rng.integers(0, 4, 500)
    expected = np.zeros((4, 4), dtype=np.int64)
    for a, b in zip(t, p):
        if a != -1:
            expected[a, b] += 1
    np.testing.assert_array_equal(confusion_matrix(t, p, num_classes=4), expected)


def test_perfect_inverse_and_single_class():
    perfect = classification_metrics([[3, 0], [0, 2]], class_names=["a", "b"])
    assert (perfect["OA"], perfect["MCC"], perfect["Kappa"], perfect["mIoU"]) == (1.0, 1.0, 1.0, 1.0)
    inverse = classification_metrics([[0, 3], [3, 0]], class_names=["a", "b"])
    assert inverse["MCC"] == pytest.approx(-1.0) and inverse["OA"] == 0.0
    single = classification_metrics([[4, 0], [0, 0]], class_names=["a", "b"])
    # one class in reference and prediction: MCC and Kappa are undefined -> None, not NaN
    assert single["OA"] == 1.0 and single["MCC"] is None and single["Kappa"] is None
    assert single["mIoU"] == 1.0


def test_absent_classes():
    # classes: 0 present, 1 present but never predicted, 2 absent but predicted, 3 absent and never predicted
    cm = np.array([[3, 0, 1, 0], [1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    m = classification_metrics(cm, class_names=["a", "b", "c", "d"])
    per = m["per_class"]
    assert per["a"] == pytest.approx({"P": 3 / 4, "R": 3 / 4, "F1": 6 / 8, "IoU": 3 / 5, "support": 4})
    assert per["b"] == {"P": None, "R": 0.0, "F1": 0.0, "IoU": 0.0, "support": 2}
    assert per["c"] == {"P": 0.0, "R": None, "F1": 0.0, "IoU": 0.0, "support": 0}
    assert per["d"] == {"P": None, "R": None, "F1": None, "IoU": None, "support": 0}
    # averages over the classes present in the reference (a, b) only
    assert m["mIoU"] == pytest.approx((3 / 5 + 0.0) / 2)
    assert m["macro_F1"] == pytest.approx((6 / 8 + 0.0) / 2)
    text = json.dumps(m, allow_nan=False)
    assert "NaN" not in text and '"P": null' in text


@pytest.mark.parametrize(
    ("t", "p", "message"),
    [
        ([0, 1], [0], "same length"),
        ([0, 3], [0, 1], "y_true must hold classes in [0, 3)"),
        ([0, 1], [0, -1], "y_pred must hold classes"),
        ([0.5, 1], [0, 1], "integer class indices"),
    ],
)
def test_confusion_matrix_errors(t, p, message):
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace(")", r"\)")):
        confusion_matrix(t, p, num_classes=3)


def test_metrics_errors():
    with pytest.raises(DataError, match="counts no point"):
        classification_metrics(confusion_matrix([-1, -1], [0, 1], num_classes=2), class_names=["a", "b"])
    with pytest.raises(DataError, match="name the 2 classes"):
        classification_metrics([[1, 0], [0, 1]], class_names=["a"])
    with pytest.raises(DataError, match="square"):
        classification_metrics([[1, 0, 0], [0, 1, 0]], class_names=["a", "b"])
