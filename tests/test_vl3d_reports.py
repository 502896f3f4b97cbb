"""VL3D's evaluation metrics and reports: values, tables, formats chosen by the path's suffix."""

from __future__ import annotations

import laspy
import numpy as np
import pytest

from vl3d_focal.errors import DataError
from vl3d_focal.io.las import PointCloud, write_points
from vl3d_focal.reports.field_reports import FieldClassCounts, distribution_text, write_field_distribution
from vl3d_focal.reports.vl3d_evaluation import format_distribution_report, write_vl3d_evaluation
from vl3d_focal.reports.vl3d_metrics import global_metrics

CONFUSION = np.array([[50, 5, 0], [10, 30, 0], [0, 0, 0]])  # a third class absent from reference and predictions


def test_named_metrics_average_the_present_classes_plainly_and_by_support():
    m = global_metrics(CONFUSION)
    p = [50 / 60, 30 / 35]
    r = [50 / 55, 30 / 40]
    f1 = [100 / 115, 60 / 75]
    iou = [50 / 65, 30 / 45]
    support = [55, 40]
    assert m["OA"] == pytest.approx(80 / 95)
    for key, values in (("P", p), ("R", r), ("F1", f1), ("IoU", iou)):
        assert m[key] == pytest.approx(np.mean(values)), key
        assert m[f"w{key}"] == pytest.approx(np.average(values, weights=support)), key
    assert m["wR"] == pytest.approx(m["OA"])  # recall weighted by support is the overall accuracy
    observed, expected = 80 / 95, (55 * 60 + 40 * 35) / 95**2
    assert m["Kappa"] == pytest.approx((observed - expected) / (1 - expected))
    assert list(global_metrics(CONFUSION, names=["MCC", "OA"])) == ["MCC", "OA"]
    with pytest.raises(DataError, match="mIoU"):
        global_metrics(CONFUSION, names=["mIoU"])


def test_reports_take_their_format_from_the_suffix(tmp_path):
    outputs = {
        "report_path": tmp_path / "e" / "evaluation.log",
        "class_report_path": tmp_path / "e" / "class_evaluation.txt",
        "confusion_matrix_report_path": tmp_path / "e" / "confusion.log",
        "confusion_matrix_plot_path": tmp_path / "e" / "confusion.svg",
        "class_distribution_report_path": tmp_path / "e" / "class_distribution.log",
        "class_distribution_plot_path": tmp_path / "e" / "class_distribution.png",
    }
    written = write_vl3d_evaluation(
        CONFUSION,
        class_names=["ground", "building", "water"],
        metrics=["OA", "wIoU"],
        class_metrics=["P", "IoU"],
        paths=outputs,
    )
    assert sorted(written) == sorted(outputs.values())
    lines = outputs["report_path"].read_text().splitlines()
    assert [c.strip() for c in lines[0].split(",")] == ["OA", "wIoU"]
    assert float(lines[1].split(",")[0]) == pytest.approx(100 * 80 / 95, abs=1e-3)  # percent, as VL3D
    rows = [line.split(",") for line in outputs["class_report_path"].read_text().splitlines()]
    assert [r[0].strip() for r in rows] == ["class", "ground", "building", "water"]
    assert float(rows[3][1]) == 0.0  # undefined: 0, scikit-learn's zero_division as in VL3D
    confusion = [
        [c.strip() for c in line.split(",")]
        for line in outputs["confusion_matrix_report_path"].read_text().splitlines()
    ]
    assert confusion[0] == ["reference \\ predicted", "ground", "building", "water"] and confusion[2] == [
        "building",
        "10",
        "30",
        "0",
    ]
    assert outputs["confusion_matrix_plot_path"].read_text()[:200].lstrip().startswith(("<?xml", "<svg"))
    assert outputs["class_distribution_plot_path"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (tmp_path / "e").iterdir() if ".partial" in p.name]


def test_class_distribution_table_counts_points():
    rows = [
        [c.strip() for c in line.split(",")]
        for line in format_distribution_report(CONFUSION, class_names=["g", "b", "w"]).splitlines()
    ]
    assert rows[1] == ["g", "55", f"{100 * 55 / 95:.3f}", "60", f"{100 * 60 / 95:.3f}"]  # reference, predicted


def test_field_distribution_counts_points_and_fields_per_class(tmp_path):
    predicted = FieldClassCounts.of(np.array([[0, 0, 1], [0, 0, 0]]), num_classes=3)
    reference = FieldClassCounts.of(np.array([[0, 1, 1], [0, -1, 2]]), num_classes=3)
    assert (predicted.points.tolist(), predicted.fields.tolist()) == ([5, 1, 0], [2, 1, 0])
    assert (reference.points.tolist(), reference.fields.tolist()) == ([2, 2, 1], [2, 1, 1])
    rows = [
        [c.strip() for c in line.split(",")]
        for line in distribution_text(predicted, reference, class_names=["a", "b", "c"]).splitlines()
    ]
    assert rows[0][:3] == ["CLASS", "PRED COUNT", "PRED FREQ (%)"] and rows[0][5] == "TRUE COUNT"
    assert rows[1][1:5] == ["5", f"{100 * 5 / 6:.4f}", "2", "100.0000"]
    write_field_distribution(
        predicted,
        reference,
        class_names=["a", "b", "c"],
        report_path=tmp_path / "rf.log",
        plot_path=tmp_path / "rf.svg",
    )
    assert (tmp_path / "rf.log").read_text().startswith("CLASS") and "<svg" in (tmp_path / "rf.svg").read_text()


def test_support_points_are_a_cloud_with_the_templates_crs(tmp_path):
    las = laspy.LasData(laspy.LasHeader(point_format=6, version="1.4"))
    las.header.vlrs.append(
        laspy.VLR(
            user_id="LASF_Projection",
            record_id=2112,
            description="OGC WKT",
            record_data=b'PROJCS["RGF93 v1 / Lambert-93"]\x00',
        )
    )
    las.x, las.y, las.z = np.array([650000.0]), np.array([6860000.0]), np.array([30.0])
    centres = np.array([[650001.25, 6860002.5, 31.0], [650003.0, 6860004.0, 35.5]])
    for name in ("support.laz", "support.las"):
        out = write_points(tmp_path / name, centres, template=PointCloud.from_las(las))
        read = laspy.read(out)
        np.testing.assert_allclose(read.xyz, centres, atol=1e-3)
        assert [(v.record_id, v.description) for v in read.header.vlrs] == [(2112, "OGC WKT")]
    with pytest.raises(DataError, match=".las or .laz"):
        write_points(tmp_path / "support.txt", centres, template=PointCloud.from_las(las))
