"""The summary of a run's page (:mod:`~vl3d_focal.reports.html_report`): cards of the scores
(:data:`SCORE_CARDS`, all evaluated clouds together), the loss, its gamma and class weights, a
network's epochs run and the one it keeps, the training and run times, a line per evaluated
model when a run evaluates several, and when and how the run was started.

Example:
    >>> record = {"evaluations": [], "trainings": [], "steps": [{"kind": "train", "seconds": 3.0}]}
    >>> "training step (wall)" in summary_section(record, folder=Path("."))
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vl3d_focal.io.timestamps import readable
from vl3d_focal.reports.html_page import esc, fmt, link
from vl3d_focal.reports.run_summary import (
    evaluated_model_source,
    first_training,
    loss_summary,
    model_evaluations,
    summed_metrics,
)

SCORE_CARDS = (("mIoU", "mIoU"), ("OA", "overall accuracy"), ("macro_F1", "macro F1"))
"""The scores of the summary: (key in the metrics, label)."""


def summary_section(record: Mapping[str, Any], *, folder: Path) -> str:
    """The summary of a run record as HTML; links are relative to ``folder`` (where the page goes).

    Example:
        >>> html = summary_section({"started": "2026-01-01T10:00", "seconds": 12.5}, folder=Path("."))
        >>> "12.5 s" in html, "Started 2026-01-01 10:00:00" in html
        (True, True)
    """
    metrics = summed_metrics(record)
    models = model_evaluations(record) if not metrics else []  # several models: one line each (_model_line)
    loss = loss_summary(None if len(models) > 1 else first_training(record))
    cards = []
    if metrics:
        cards += [(fmt(metrics.get(key)), label) for key, label in SCORE_CARDS]
    if loss["loss"]:
        cards += [
            (esc(loss["loss"]), "loss"),
            (fmt(loss["gamma"], 2), "gamma"),
            (esc(loss["class_weight"] or "none"), "class weights"),
        ]
    train_steps = [s for s in record.get("steps") or [] if s["kind"] == "train" and s.get("seconds") is not None]
    trainings = record.get("trainings") or []
    resumed = any(t.get("resumed_finished") for t in trainings)  # not fitted again: the fit is the earlier runs'
    if train_steps:  # the whole step (its data preparation too), and the fitting alone
        wall = "training step (wall, this run: no fit)" if resumed else "training step (wall)"
        cards.append((f"{sum(s['seconds'] for s in train_steps):.1f} s", wall))
    epochs = [t["epochs"] for t in trainings if t.get("epochs")]
    if len(epochs) == 1:  # one network trained: its epochs and the one it keeps
        stopping = epochs[0].get("early_stopping") or {}
        ran = "epochs (early stopping ended it)" if stopping.get("stopped") else "epochs"
        run, planned = epochs[0]["run"], epochs[0]["planned"]
        cards.append((f"{run} of {planned}" if run <= planned else str(run), ran))
        cards.append((str(epochs[0]["kept"]["epoch"]), "epoch kept"))
    fits = [t["fit_seconds"] for t in trainings if t.get("fit_seconds") is not None]
    if fits:
        cards.append((f"{sum(fits):.1f} s", "fit (earlier runs)" if resumed else "fit"))
    if record.get("seconds") is not None:
        cards.append((f"{record['seconds']:.1f} s", "whole run"))
    html = '<div class="cards">' + "".join(f'<div class="card"><b>{v}</b><span>{k}</span></div>' for v, k in cards)
    html += "</div>"
    if metrics and len(record.get("evaluations") or []) > 1:
        html += '<p class="muted">Scores of all evaluated clouds together (confusion matrices summed).</p>'
    html += "".join(_model_line(record, group) for group in models)
    command = " ".join(record.get("command") or [])
    html += (
        f'<p class="muted">Started {esc(readable(record.get("started", "?")))}, finished {esc(readable(record.get("finished") or "-"))}'
        + (f"; command: <code>{esc(command)}</code>" if command else "")
        + ". Record: "
        + link(record.get("files", {}).get("json"), folder=folder)
        + "</p>"
    )
    return html


def _model_line(record: Mapping[str, Any], group: Mapping[str, Any]) -> str:
    """One evaluated model's scores (its clouds' confusion matrices summed) and loss, in a line."""
    loss = loss_summary(evaluated_model_source(record, group["model"]))
    clouds = len(group["evaluations"])
    return (
        f"<p><b>{esc(group['label'] or 'model not recorded')}</b>: "
        + ", ".join(f"{label} {fmt(group['metrics'].get(key))}" for key, label in SCORE_CARDS)
        + (f"; loss {esc(loss['loss'])}, gamma {fmt(loss['gamma'], 2)}" if loss["loss"] else "")
        + f' <span class="muted">({clouds} evaluated cloud{"s, confusion matrices summed" if clouds > 1 else ""})'
        + "</span></p>"
    )
