"""VL3D's evaluation metrics (scikit-learn's conventions) against per-point references, and its reports."""

from __future__ import annotations

import numpy as np
import pytest

from vl3d_focal.errors import DataError
from vl3d_focal.reports.metrics import confusion_matrix
from vl3d_focal.reports.vl3d_evaluation import REPORT_KEYS, format_class_report, write_vl3d_evaluation
from vl3d_focal.reports.vl3d_metrics import CLASS_METRICS, GLOBAL_METRICS, global_metrics, per_class_metrics


def _reference(t: np.ndarray, p: np.ndarray, k: int) -> dict[str, float]:
    """scikit-learn's definitions written point by point: labels are those in t or p, 0 for 0/0."""
    labels = sorted(set(t.tolist()) | set(p.tolist()))
    per: dict[str, list[float]] = {"P": [], "R": [], "F1": [], "IoU": []}
    support = []
    for c in labels:
        tp = sum(1 for a, b in zip(t, p) if a == c and b == c)
        fp = sum(1 for a, b in zip(t, p) if a != c and b == c)
        fn = sum(1 for a, b in zip(t, p) if a == c and b != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        per["P"].append(precision)
        per["R"].append(recall)
        per["F1"].append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        per["IoU"].append(tp / (tp + fp + fn))
        support.append(tp + fn)
    weights = np.array(support) / len(t)
    out = {"OA": float(np.mean(t == p))}
    for key, values in per.items():
        out[key] = float(np.mean(values))
        out["w" + key] = float(np.dot(weights, values))
    x, y = np.eye(k)[t], np.eye(k)[p]  # MCC: the correlation of the one-hot indicators
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    out["MCC"] = float(np.sum(x * y) / np.sqrt(np.sum(x * x) * np.sum(y * y)))
    chance = sum(np.mean(t == c) * np.mean(p == c) for c in range(k))
    out["Kappa"] = float((out["OA"] - chance) / (1 - chance))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_global_metrics_match_the_point_wise_reference(seed):
    rng = np.random.default_rng(seed)
    k = 6
    t = rng.integers(0, k - 1, 400)  # class 5 never in the reference
    p = np.where(rng.random(400) < 0.55, t, rng.integers(0, k, 400))
    p[p == 3] = 2  # class 3 never predicted
    got = global_metrics(confusion_matrix(t, p, num_classes=k))
    assert list(got) == list(GLOBAL_METRICS)
    assert got == pytest.approx(_reference(t, p, k), abs=1e-12)


def test_scikit_learn_documentation_values():
    # precision_score / recall_score / f1_score examples: macro 0.22..., 0.33..., 0.26...
    cm = confusion_matrix([0, 1, 2, 0, 1, 2], [0, 2, 1, 0, 0, 1], num_classes=3)
    got = global_metrics(cm, names=["P", "wP", "R", "F1", "wF1"])
    assert got == pytest.approx({"P": 2 / 9, "wP": 2 / 9, "R": 1 / 3, "F1": 4 / 15, "wF1": 4 / 15})
    # jaccard_score example: per class [1, 0, 1/3], macro 4/9
    cm = confusion_matrix([0, 1, 2, 2], [0, 2, 1, 2], num_classes=3)
    assert per_class_metrics(cm)["IoU"] == pytest.approx([1.0, 0.0, 1 / 3])
    assert global_metrics(cm, names=["IoU"])["IoU"] == pytest.approx(4 / 9)
    # matthews_corrcoef example: -0.33...
    cm = confusion_matrix([1, 1, 1, 0], [1, 0, 1, 1], num_classes=2)
    assert global_metrics(cm, names=["MCC"])["MCC"] == pytest.approx(-1 / 3)


def test_undefined_values_follow_scikit_learn():
    constant = confusion_matrix([0, 0, 0], [0, 0, 0], num_classes=3)
    got = global_metrics(constant)
    assert got["OA"] == 1.0 and got["P"] == 1.0 and got["wIoU"] == 1.0  # only class 0 is counted
    assert got["MCC"] == 0.0 and got["Kappa"] is None
    never_predicted = confusion_matrix([0, 1, 1], [0, 0, 0], num_classes=2)
    assert per_class_metrics(never_predicted)["P"] == [1 / 3, 0.0]
    with pytest.raises(DataError, match="unknown VL3D metrics"):
        global_metrics(constant, names=["OA", "mIoU"])
    with pytest.raises(DataError, match="at least one point"):
        global_metrics(np.zeros((2, 2)))


def test_class_report_and_the_files(tmp_path):
    cm = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    text = format_class_report({"R": per_class_metrics(cm)["R"]}, class_names=["ground", "pole", "car"])
    assert [line.split(",") for line in text.splitlines()][1:] == [
        ["ground          ", "     80.000"],
        ["pole            ", "     75.000"],
        ["car             ", "      0.000"],
    ]
    paths = {key: tmp_path / f"{key}.{'svg' if 'plot' in key else 'log'}" for key in REPORT_KEYS}
    written = write_vl3d_evaluation(
        cm,
        class_names=["ground", "pole", "car"],
        metrics=list(GLOBAL_METRICS),
        class_metrics=list(CLASS_METRICS),
        paths=paths,
    )
    assert written == [paths[key] for key in REPORT_KEYS]
    header, values = paths["report_path"].read_text().splitlines()
    assert [h.strip() for h in header.split(",")] == list(GLOBAL_METRICS)
    expected = global_metrics(cm)
    assert [float(v) for v in values.split(",")] == pytest.approx(
        [round(100 * expected[m], 3) for m in GLOBAL_METRICS], abs=1e-9
    )
    distribution = paths["class_distribution_report_path"].read_text().splitlines()[1]
    assert [c.strip() for c in distribution.split(",")] == ["ground", "10", "71.429", "9", "64.286"]
    assert paths["confusion_matrix_plot_path"].read_text().lstrip().startswith("<?xml")
    assert (
        write_vl3d_evaluation(
            cm, class_names=["a", "b", "c"], metrics=["OA"], class_metrics=[], paths={"report_path": None}
        )
        == []
    )
