"""The page of one run, ``report.html``, built from its run record (``report.json``) alone.

Sections: summary (status, scores, loss, class weights), the error of a failed run, warnings,
per-class results (rarest classes marked), confusion matrices (counts, row-normalised),
top-down maps, training (curves, class weights and how they came), clouds and class
distributions, the survey's tiles and map when the run has one, step times, output files, the
spec as run, versions and machine. A survey of more than :data:`DETAILED_CLOUDS` evaluated tiles
shows that many in detail, those of lowest mIoU (the page of 225 tiles was 23 MB, and each
top-down map is read and re-encoded); every tile stays in the survey's table and map.

Example:
    >>> record = {"status": "failed", "output_prefix": "out/", "steps": [], "warnings": [],
    ...           "error": {"step": None, "type": "DataError", "message": "no such file"}}
    >>> "no such file" in render_report(record, folder=Path("out"))
    True
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vl3d_focal.reports import svg_charts
from vl3d_focal.reports.html_page import cloud_link, esc, fmt, link, page, picture_uri, swatch, table, write_page
from vl3d_focal.reports.html_training import loaded_model_section, training_section, training_title
from vl3d_focal.reports.run_summary import (
    RARE_SHARE,
    class_shares,
    evaluated_model_source,
    first_training,
    model_evaluations,
    rare_classes,
    share_basis,
)
from vl3d_focal.reports.summary_section import summary_section
from vl3d_focal.reports.survey_section import survey_section
from vl3d_focal.reports.uncertainty_section import uncertainty_section

DETAILED_CLOUDS = 12
"""Most evaluated clouds shown in detail (per-class results, confusion matrix, top-down map,
class distribution)."""


def detailed_evaluations(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The evaluations shown in detail: all of them, or the :data:`DETAILED_CLOUDS` of lowest
    mIoU (undefined last), worst first.

    Example:
        >>> evaluations = [{"metrics": {"mIoU": v}} for v in [0.9] * 12 + [0.2, None]]
        >>> [e["metrics"]["mIoU"] for e in detailed_evaluations({"evaluations": evaluations})][:2]
        [0.2, 0.9]
    """
    evaluations = list(record.get("evaluations") or [])
    if len(evaluations) <= DETAILED_CLOUDS:
        return evaluations
    scores = [evaluation["metrics"].get("mIoU") for evaluation in evaluations]
    order = sorted(range(len(evaluations)), key=lambda k: (scores[k] is None, scores[k] or 0.0, k))
    return [evaluations[k] for k in order[:DETAILED_CLOUDS]]


def _step_place(record: Mapping[str, Any], index: int | None) -> str:
    """Where in the run: ``in step 2 (eval ClassificationEvaluator)``, or, without a step, before
    the first step, after the last one (a survey whose tiles failed) or after the last one that ran.

    Example:
        >>> steps = [{"kind": "predict", "name": "ModelLoader", "status": "done"},
        ...          {"kind": "writer", "name": "ClassifiedPcloudWriter", "status": "done"}]
        >>> _step_place({"steps": steps}, 1), _step_place({"steps": steps}, None), _step_place({"steps": []}, None)
        ('in step 2 (writer ClassifiedPcloudWriter)', 'after the last step', 'before the first step')
    """
    steps = record.get("steps") or []
    if index is not None and index < len(steps):
        return f"in {_step_label(steps, index)}"
    ran = [number for number, step in enumerate(steps) if step.get("status") not in (None, "pending")]
    if not ran:
        return "before the first step"
    return "after the last step" if len(ran) == len(steps) else f"after {_step_label(steps, ran[-1])}"


def _warning_place(record: Mapping[str, Any], warning: Mapping[str, Any]) -> str:
    """The step a warning came in, or the per-cloud phase (``steps 1-3 (per cloud)``) whose steps ran together."""
    steps, index, phase = record.get("steps") or [], warning.get("step"), warning.get("phase")
    if phase:
        return f"steps {phase[0] + 1}-{phase[1] + 1} (per cloud)"
    return _step_label(steps, index) if index is not None and index < len(steps) else "before the first step"


def _step_label(steps: list[Mapping[str, Any]], index: int) -> str:
    step = steps[index]
    origin = f"{step['origin']}: " if step.get("origin") else ""  # where VL3D's forms rewrote the steps
    return f"step {index + 1} ({origin}{step['kind']} {step['name']})"


def _error(record: Mapping[str, Any]) -> str:
    error = record["error"]
    html = (
        f'<div class="error"><b>{esc(error["type"])}</b> {esc(_step_place(record, error.get("step")))}: '
        f"{esc(error['message'])}</div>"
    )
    if error.get("traceback"):
        html += f"<pre>{esc(error['traceback'])}</pre>"
    return html


def _warnings(record: Mapping[str, Any]) -> str:
    warnings = record.get("warnings") or []
    if not warnings:
        return '<p class="muted">No warning was logged during the run.</p>'
    return "".join(
        f'<div class="warn"><b>{esc(w["level"])}</b> {esc(_warning_place(record, w))}, '
        f"<code>{esc(w['logger'])}</code>: {esc(w['message'])}</div>"
        for w in warnings
    )


def _per_class(record: Mapping[str, Any], evaluation: Mapping[str, Any], rare: list[str]) -> str:
    """The scores of one evaluated cloud, each class with its share of the cloud's scored points and,
    where the rare badge is counted on other points, its share of those."""
    metrics = evaluation["metrics"]
    names, colors = metrics["class_names"], evaluation.get("class_colors") or [None] * len(metrics["class_names"])
    total = sum(metrics["per_class"][n]["support"] for n in names) or 1
    source = evaluated_model_source(record, evaluation["model"]) if evaluation.get("model") else None
    if source is not None:  # the scored model's training points (a run may evaluate several models)
        rare = rare_classes(record, source=source)
    basis = share_basis(record, source=source)
    own = basis == "scored points of the cloud"  # the badge's share is this table's share
    column = f"share of the {basis}"
    shares = dict(zip(*(class_shares(record, source=source) or ([], []))))
    rows = []
    for name, color in zip(names, colors):
        row = metrics["per_class"][name]
        mark = ' <span class="badge rare">rare</span>' if name in rare else ""
        rows.append(
            [
                f"{swatch(color)}{esc(name)}{mark}",
                fmt(row["support"]),
                f"{100 * row['support'] / total:.2f}%",
                *([] if own else [f"{100 * shares[name]:.2f}%" if name in shares else "n/a"]),
                *(fmt(row[key]) for key in ("P", "R", "F1", "IoU")),
            ]
        )
    chart = svg_charts.bar_chart(
        categories=names,
        groups={key: [metrics["per_class"][n][key] for n in names] for key in ("P", "R", "F1", "IoU")},
        title="Per-class precision, recall, F1, IoU",
        y_max=1.0,
        labels=False,
    )
    overall = ", ".join(f"{key} {fmt(metrics.get(key))}" for key in ("OA", "mIoU", "macro_F1", "MCC", "Kappa"))
    return (
        f"<p>{overall}</p>"
        + table(
            [
                "class",
                "support",
                "share of the scored points of the cloud",
                *([] if own else [esc(column)]),
                *("precision", "recall", "F1", "IoU"),
            ],
            rows,
        )
        + f'<p class="muted">rare: under {RARE_SHARE:.0%} of the {esc(basis)} (the column '
        f"&ldquo;{esc(column)}&rdquo;).</p>" + chart
    )


def _confusion(metrics: Mapping[str, Any]) -> str:
    names = metrics["class_names"]
    counts = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    peak = max(int(counts.max()), 1)

    def cell(text: str, strength: float) -> str:
        color = "#fff" if strength > 0.55 else "#222"
        return f'<span style="display:block;background:rgba(31,119,180,{strength:.2f});color:{color}">{text}</span>'

    rows_counts = [
        [esc(name), *(cell(fmt(int(v)), np.sqrt(v / peak)) for v in row)] for name, row in zip(names, counts)
    ]
    rows_shares = [[esc(name), *(cell(f"{100 * v:.1f}%", v) for v in row)] for name, row in zip(names, shares)]
    header = ["reference \\ predicted", *map(esc, names)]
    return (
        '<div class="charts"><div><h3>Counts</h3>' + table(header, rows_counts) + "</div><div><h3>Row-normalised "
        "(each row is a reference class; the diagonal is its recall)</h3>" + table(header, rows_shares) + "</div></div>"
    )


def _evaluations(record: Mapping[str, Any], folder: Path) -> list[tuple[str, str, str]]:
    rare = rare_classes(record)
    shown, total = detailed_evaluations(record), len(record.get("evaluations") or [])
    sections = []
    if len(shown) < total:
        note = (
            f"{total} clouds were evaluated: the {len(shown)} of lowest mIoU are shown below, worst first; "
            "every tile's scores are in the Survey section's table and map, and in its own evaluation files."
        )
        sections.append(("results", "Results", f'<p class="muted">{esc(note)}</p>'))
    labels = {id(e): g["label"] for g in model_evaluations(record) for e in g["evaluations"]}
    several = len(set(labels.values())) > 1
    for number, evaluation in enumerate(shown, start=1):
        name = Path(evaluation["cloud"]).name
        if several and labels.get(id(evaluation)):  # e.g. "test.laz — RandomForestClassifier (step 7)"
            name += f" \u2014 {labels[id(evaluation)]}"
        files = link(evaluation["report_path"], folder=folder)
        if evaluation.get("earlier_run"):
            files = "evaluated by an earlier run of this spec, which this resumed run kept (its files were kept too)"
        sections.append(
            (
                f"results-{number}",
                f"Results: {name}",
                f'<p class="muted">{files}</p>' + _per_class(record, evaluation, rare),
            )
        )
        sections.append((f"confusion-{number}", f"Confusion matrix: {name}", _confusion(evaluation["metrics"])))
        topdown = (evaluation.get("pictures") or {}).get("topdown_svg")
        uri = picture_uri(topdown) if topdown else None
        if uri:
            sections.append(
                (
                    f"map-{number}",
                    f"Top-down maps: {name}",
                    f'<img class="picture" alt="reference, prediction and errors seen from above" src="{uri}">'
                    f'<p class="muted">{link(topdown, folder=folder)}</p>',
                )
            )
    return sections


def _clouds(record: Mapping[str, Any], folder: Path) -> str:
    rows = [
        [cloud_link(c["path"], folder=folder), fmt(c.get("points")), esc(c.get("prefix") or "")]
        for c in record.get("clouds") or []
    ]
    html = table(["input cloud", "points", "output prefix"], rows)
    training = first_training(record)
    for evaluation in detailed_evaluations(record):
        metrics = evaluation["metrics"]
        counts = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
        groups = {"reference": counts.sum(axis=1).tolist(), "predicted": counts.sum(axis=0).tolist()}
        if training and training["class_names"] == metrics["class_names"]:
            groups = {"training": list(training["class_counts"]), **groups}
        html += svg_charts.bar_chart(
            categories=metrics["class_names"],
            groups=groups,
            log_y=True,
            labels=False,
            title=f"Class distribution: {Path(evaluation['cloud']).name} (points, log scale)",
        )
    return html


def _step_rows(steps: list[Mapping[str, Any]]) -> list[tuple[str, str, list[tuple[str, str]], float | None]]:
    """The Steps table's rows: (number, name, (kind, status) of each step, seconds); the steps of a per-cloud phase,
    which are timed together, make one row of the phase's time.

    Example:
        >>> phase = {"phase": [0, 1], "seconds": 3.0, "phase_seconds": 4.0, "status": "done"}
        >>> _step_rows([{**phase, "index": 0, "kind": "predict", "name": "ModelLoader"},
        ...             {**phase, "index": 1, "kind": "writer", "name": "W", "seconds": 1.0}])
        [('1-2 (per cloud)', 'predict ModelLoader, writer W', [('predict', 'done'), ('writer', 'done')], 4.0)]
    """
    rows: list[tuple[str, str, list[tuple[str, str]], float | None]] = []
    for s in steps:
        first, last = s.get("phase") or (s["index"], s["index"])
        if s["index"] > first:
            continue  # in the row of its phase
        if last == first:
            origin = f" ({s['origin']})" if s.get("origin") else ""
            rows.append(
                (f"{s['index'] + 1}. {s['kind']}{origin}", s["name"], [(s["kind"], s["status"])], s.get("seconds"))
            )
            continue
        members = steps[first : last + 1]
        named = ", ".join(f"{m['kind']} {m['name']}" for m in members)
        seconds = s.get("phase_seconds", s.get("seconds"))  # the first step's time is the phase's until split
        rows.append(
            (f"{first + 1}-{last + 1} (per cloud)", named, [(m["kind"], m["status"]) for m in members], seconds)
        )
    return rows


def _steps(record: Mapping[str, Any]) -> str:
    rows = _step_rows(list(record.get("steps") or []))
    cells = [
        [
            esc(number),
            esc(name),
            f'<span class="badge {esc(statuses[0][1])}">{esc(statuses[0][1])}</span>'
            if len({status for _, status in statuses}) == 1
            else ", ".join(f'{esc(kind)} <span class="badge {esc(st)}">{esc(st)}</span>' for kind, st in statuses),
            fmt(seconds, 1),
        ]
        for number, name, statuses, seconds in rows
    ]
    timed = [row for row in rows if row[3] is not None]
    chart = (
        svg_charts.hbar_chart(
            labels=[
                f"{n}: {', '.join(k for k, _ in st)}" if len(st) > 1 else f"{n} {name}" for n, name, st, _ in timed
            ],
            values=[row[3] or 0.0 for row in timed],
            title="Seconds per step (a per-cloud phase: its steps together)",
        )
        if timed
        else ""
    )
    return table(["step", "name", "status", "seconds"], cells, left=3) + chart


def _outputs(record: Mapping[str, Any], folder: Path) -> str:
    present = [path for path in record.get("outputs") or [] if os.path.exists(path)]
    if not present:
        return '<p class="muted">No output file of the run exists (yet).</p>'
    return "<ul>" + "".join(f"<li>{link(path, folder=folder)}</li>" for path in present) + "</ul>"


def _environment(record: Mapping[str, Any]) -> str:
    versions = [[esc(k), esc(v)] for k, v in (record.get("versions") or {}).items()]
    machine = [
        [esc(k), esc(", ".join(v) if isinstance(v, list) else v)] for k, v in (record.get("machine") or {}).items()
    ]
    return (
        '<div class="charts"><div>'
        + table(["package", "version"], versions)
        + "</div><div>"
        + table(["machine", ""], machine)
        + "</div></div>"
    )


def render_report(record: Mapping[str, Any], *, folder: Path) -> str:
    """The HTML page of a run record; links are relative to ``folder`` (where the page goes).

    Example:
        >>> render_report({"status": "finished", "steps": []}, folder=Path(".")).count("<section")
        7
    """
    status = record.get("status", "?")
    sections = [("summary", "Summary", summary_section(record, folder=folder))]
    if record.get("error"):
        sections.append(("error", "Error", _error(record)))
    sections.append(("warnings", f"Warnings ({len(record.get('warnings') or [])})", _warnings(record)))
    sections += _evaluations(record, folder)
    if record.get("uncertainties"):
        sections.append(("uncertainty", "Uncertainty", uncertainty_section(record["uncertainties"], folder=folder)))
    for number, training in enumerate(record.get("trainings") or [], start=1):
        title = training_title(record, number, folder=folder)
        sections.append((f"training-{number}", title, training_section(record, training, folder=folder)))
    for number, loaded in enumerate(record.get("loaded_models") or [], start=1):
        sections.append((f"loaded-model-{number}", "Loaded model", loaded_model_section(loaded, folder=folder)))
    sections.append(("clouds", "Clouds", _clouds(record, folder)))
    if record.get("survey"):
        earlier = record.get("survey_earlier")
        title = f"Survey (an earlier run's, {earlier})" if earlier else "Survey"
        sections.append(("survey", title, survey_section(record, folder=folder)))
    sections += [
        ("steps", "Steps", _steps(record)),
        ("outputs", "Output files", _outputs(record, folder)),
        (
            "spec",
            "Spec as run",
            f"<details><summary>the normalised spec (defaults filled in, paths resolved)"
            f"</summary><pre>{esc(json.dumps(record.get('spec'), indent=1))}</pre></details>",
        ),
        ("environment", "Versions and machine", _environment(record)),
    ]
    subtitle = (
        f'<span class="badge {esc(status)}">{esc(status)}</span> output prefix '
        f"<code>{esc(record.get('output_prefix', ''))}</code>"
    )
    return page(
        title=f"vl3d_focal run: {Path(str(record.get('output_prefix', 'run'))).name or 'run'}",
        subtitle=subtitle,
        sections=sections,
    )


def write_report(record: Mapping[str, Any], *, path: str | os.PathLike[str]) -> Path:
    """Renders a run record (:func:`render_report`) to ``path`` (atomically).

    Example:
        >>> import tempfile
        >>> out = write_report({"status": "running", "steps": []}, path=Path(tempfile.mkdtemp()) / "report.html")
        >>> out.read_text().startswith("<!DOCTYPE html>")
        True
    """
    target = Path(path)
    return write_page(render_report(record, folder=target.parent), path=target)
