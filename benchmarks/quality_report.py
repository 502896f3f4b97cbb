"""The quality benchmark's report: the rarest classes, the issue's targets per run, the Markdown table.

Variants are named ``<model>_<loss>`` (:func:`variant_name`); a model without a loss by its name.

Example:
    >>> variant_name("autoencoder", "focal_g2")
    'autoencoder_focal_g2'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.sensor_copies import INTENSITY_FACTOR

TARGET_MIOU = 0.72
TARGET_TRAIN_S = 15 * 60.0


def rarest_classes(*, counts: Mapping[str, int], k: int = 2) -> list[str]:
    """The ``k`` classes with the fewest training points (ties by name).

    Example:
        >>> rarest_classes(counts={"a": 10, "b": 3, "c": 5, "d": 3})
        ['b', 'd']
    """
    return sorted(counts, key=lambda name: (counts[name], name))[:k]


def mark_targets(*, runs: Mapping[str, Mapping[str, Any]], rare: list[str], cores: int) -> dict[str, Any]:
    """Whether each focal run meets the issue's targets, against the same model's ``ce`` run
    (measured, not asserted). Variants are named ``<model>_<loss>`` (:func:`variant_name`).

    Args:
        runs: by variant: ``evaluation`` (the evaluation JSON, or None) and ``train_s``.
        rare: the rarest classes (by training counts).
        cores: the CPU cores the runs had (the time target is for 2).

    Example:
        >>> ev = lambda m, r: {"mIoU": m, "per_class": {"x": {"R": r}}}
        >>> t = mark_targets(runs={"pointnet_ce": {"evaluation": ev(0.6, 0.2), "train_s": 10.0},
        ...     "pointnet_focal_g2": {"evaluation": ev(0.73, 0.3), "train_s": 10.0}}, rare=["x"], cores=2)
        >>> t["pointnet_focal_g2"]["miou_in_budget"], t["pointnet_focal_g2"]["rare_recall_above_ce"]
        (True, {'x': True})
    """
    marks: dict[str, Any] = {
        "miou_target": TARGET_MIOU,
        "train_s_target": TARGET_TRAIN_S,
        "cores": cores,
        "rarest_classes": list(rare),
    }
    for name, run in runs.items():
        evaluation = run.get("evaluation")
        model, _, loss = name.partition("_")
        if not loss.startswith("focal") or evaluation is None:
            continue
        ce = (runs.get(variant_name(model, "ce")) or {}).get("evaluation")
        train_s = run.get("train_s")
        in_time = train_s is not None and train_s <= TARGET_TRAIN_S
        above = {c: (None if ce is None else evaluation["per_class"][c]["R"] > ce["per_class"][c]["R"]) for c in rare}
        marks[name] = {
            "miou": evaluation["mIoU"],
            "train_s": train_s,
            "miou_in_budget": bool(evaluation["mIoU"] >= TARGET_MIOU and in_time),
            "rare_recall_above_ce": above,
        }
    return marks


def variant_name(model: str, loss: str | None) -> str:
    """A variant's name: ``<model>_<loss>``, or the model's alone when it takes no loss.

    Example:
        >>> variant_name("pointnet", "focal_g2"), variant_name("forest", None)
        ('pointnet_focal_g2', 'forest')
    """
    return model if loss is None else f"{model}_{loss}"


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


SENSOR_ROWS = {f"_intensity_x{INTENSITY_FACTOR:g}": f"intensity x{INTENSITY_FACTOR:g}", "_format0": "LAS 1.2 format 0"}
"""The copies of the evaluated tile ``--sensors`` adds (:mod:`benchmarks.sensor_copies`), by name suffix."""


def format_table(*, runs: Mapping[str, Mapping[str, Any]], class_names: list[str], rare: list[str]) -> str:
    """A Markdown table: metrics by row, variants by column (``*`` marks the rarest classes).

    Example:
        >>> format_table(runs={"ce": {"train_s": 1.0}}, class_names=[], rare=[]).splitlines()[0]
        '| metric | ce |'
    """
    names = list(runs)
    evals = [runs[n].get("evaluation") or {} for n in names]
    rows: list[tuple[str, list[Any], int]] = [
        (label, [e.get(key) for e in evals], 3)
        for key, label in (("OA", "OA"), ("mIoU", "mIoU"), ("macro_F1", "macro-F1"))
    ]
    for measure, label in (("F1", "F1"), ("IoU", "IoU"), ("R", "recall")):
        for c in class_names:
            values = [e.get("per_class", {}).get(c, {}).get(measure) for e in evals]
            rows.append((f"{label} {c}{'*' if c in rare else ''}", values, 3))
    for key, label, digits in (
        ("train_s", "train spec s (read+fields+fit+write)", 1),
        ("fit_s", "fit s", 1),
        ("epochs_run", "epochs run", 0),
        ("predict_s", "predict+eval spec s", 1),
        ("predict_points_per_s", "prediction points/s", 0),
    ):
        rows.append((label, [runs[n].get(key) for n in names], digits))
    for suffix, label in SENSOR_ROWS.items():  # the --sensors copies of the evaluated tiles, pooled as they are
        found = [(runs[n].get("copies") or {}).get(suffix) for n in names]
        if any(found):
            rows.append((f"mIoU, {label}", [None if e is None else e["mIoU"] for e in found], 3))
            rows.append(
                (
                    f"feature warnings, {label}",
                    [None if e is None else len(e.get("feature_warnings", [])) for e in found],
                    0,
                )
            )
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {label} | " + " | ".join(_cell(v, digits) for v in values) + " |" for label, values, digits in rows]
    return "\n".join(lines)


def targets_text(marks: Mapping[str, Any]) -> str:
    """The marks of :func:`mark_targets` as lines of text ("MET" or "not met" per target).

    Example:
        >>> targets_text({"cores": 2})
        'Targets (measured, on 2 cores):'
    """
    lines = [f"Targets (measured, on {marks['cores']} cores):"]
    for name, mark in marks.items():
        if not isinstance(mark, dict):
            continue
        minutes = "-" if mark["train_s"] is None else f"{mark['train_s'] / 60:.1f} min"
        lines.append(
            f"  {name}: mIoU {mark['miou']:.3f} >= {TARGET_MIOU} within {TARGET_TRAIN_S / 60:.0f} min "
            f"({minutes}): {'MET' if mark['miou_in_budget'] else 'not met'}"
        )
        for c, above in mark["rare_recall_above_ce"].items():
            state = "unknown (no ce run)" if above is None else ("MET" if above else "not met")
            lines.append(f"  {name}: recall {c} above ce: {state}")
    return "\n".join(lines)
