"""The spread over random seeds of the quality benchmark's metrics.

With ``python -m benchmarks.quality --seeds 7,8,9`` every variant runs once per seed (the train
step's ``random_seed``: weights, field sampling, batch order); this module names those runs and
sums them up: per variant and metric, the mean, the sample standard deviation and the range.
Seeds run separately (``--seeds 7`` one day, ``--seeds 8,9`` the next) are summed up together
from their result files::

    python -m benchmarks.seed_spread q7.json q89.json

Example:
    >>> summary = summarise(runs={"ce_seed1": {"evaluation": {"mIoU": 0.5}}, "ce_seed2": {"evaluation": {"mIoU": 0.7}}},
    ...                     variants=["ce"], seeds=[1, 2], rare=[])
    >>> [round(v, 2) for v in summary["ce"]["mIoU"]]
    [0.5, 0.7]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.quality_tiles import pooled_evaluation

OVERALL: tuple[tuple[str, str], ...] = (("OA", "OA"), ("mIoU", "mIoU"), ("macro_F1", "macro-F1"))


def parse_seeds(text: str) -> list[int]:
    """Comma-separated integers, e.g. ``"7,8,9"``.

    Raises:
        ValueError: a part that is not an integer, or no seed at all.

    Example:
        >>> parse_seeds("7, 8,9")
        [7, 8, 9]
    """
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.lstrip("-").isdigit() for part in parts):
        raise ValueError(f"expected comma-separated integer seeds such as 7,8,9; got {text!r}")
    return [int(part) for part in parts]


def run_name(variant: str, seed: int) -> str:
    """The name (and folder) of one variant's run with one seed.

    Example:
        >>> run_name("focal_g2", 8)
        'focal_g2_seed8'
    """
    return f"{variant}_seed{seed}"


def summarise(
    *,
    runs: Mapping[str, Mapping[str, Any]],
    variants: Sequence[str],
    seeds: Sequence[int],
    rare: Sequence[str],
    per_class: Sequence[str] = (),
) -> dict[str, dict[str, list[float]]]:
    """Per variant, each metric's values over the seeds whose run produced an evaluation.

    Metrics: OA, mIoU, macro-F1, the recall of each rarest class, F1 and IoU of each class of
    ``per_class``, and the fit time.

    Example:
        >>> summarise(runs={"a_seed1": {"evaluation": None}}, variants=["a"], seeds=[1], rare=[])
        {'a': {'OA': [], 'mIoU': [], 'macro-F1': [], 'fit s': []}}
    """
    summary: dict[str, dict[str, list[float]]] = {}
    for variant in variants:
        values: dict[str, list[float]] = {label: [] for _, label in OVERALL}
        values.update({f"recall {c}*": [] for c in rare})
        values.update({f"{metric} {c}": [] for c in per_class for metric in ("F1", "IoU")})
        values["fit s"] = []
        for seed in seeds:
            run = runs.get(run_name(variant, seed)) or {}
            evaluation = run.get("evaluation")
            if not evaluation:
                continue
            for key, label in OVERALL:
                if evaluation.get(key) is not None:
                    values[label].append(float(evaluation[key]))
            for c in rare:
                values[f"recall {c}*"].append(float(evaluation["per_class"][c]["R"]))
            for c in per_class:
                for metric in ("F1", "IoU"):
                    if evaluation["per_class"][c][metric] is not None:
                        values[f"{metric} {c}"].append(float(evaluation["per_class"][c][metric]))
            if run.get("fit_s") is not None:
                values["fit s"].append(float(run["fit_s"]))
        summary[variant] = values
    return summary


def _spread(values: Sequence[float], digits: int) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def format_summary(summary: Mapping[str, Mapping[str, Sequence[float]]], *, seeds: Sequence[int]) -> str:
    """A Markdown table: metrics by row, variants by column, cells ``mean ± sd (min-max)``.

    Example:
        >>> print(format_summary({"ce": {"mIoU": [0.5, 0.7]}}, seeds=[1, 2]))
        | metric (2 seeds: 1, 2) | ce |
        |---|---:|
        | mIoU | 0.600 ± 0.141 (0.500-0.700) |
    """
    variants = list(summary)
    labels = list(next(iter(summary.values()), {}))
    header = f"| metric ({len(seeds)} seeds: {', '.join(str(s) for s in seeds)}) | " + " | ".join(variants) + " |"
    lines = [header, "|---|" + "---:|" * len(variants)]
    for label in labels:
        digits = 1 if label.endswith(" s") else 3
        lines.append(f"| {label} | " + " | ".join(_spread(summary[v][label], digits) for v in variants) + " |")
    return "\n".join(lines)


def merge_results(results: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[str], list[int]]:
    """The runs of several ``benchmarks.quality`` result files (each run's evaluation pooled
    over its ``evaluations``), and the variants and seeds their names hold, in order of appearance.

    Example:
        >>> runs, variants, seeds = merge_results([{"runs": {"ce_seed7": {"evaluations": {"t": {"mIoU": 0.6}}}}},
        ...                                        {"runs": {"ce_seed8": {"evaluations": {"t": None}}}}])
        >>> variants, seeds, runs["ce_seed7"]["evaluation"], runs["ce_seed8"]["evaluation"]
        (['ce'], [7, 8], {'mIoU': 0.6}, None)
    """
    runs: dict[str, Any] = {}
    variants: list[str] = []
    seeds: list[int] = []
    for result in results:
        for name, run in result["runs"].items():
            match = re.fullmatch(r"(.+)_seed(-?\d+)", name)
            if match is None:
                continue
            variant, seed = match.group(1), int(match.group(2))
            variants += [variant] if variant not in variants else []
            seeds += [seed] if seed not in seeds else []
            evaluations = run.get("evaluations") or {}
            runs[name] = {**run, "evaluation": pooled_evaluation(evaluations)}
    return runs, variants, seeds


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the seed summary of the runs of ``benchmarks.quality`` result files, with each class's F1 and IoU."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seed_spread", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="result JSON files of benchmarks.quality --seeds")
    args = parser.parse_args(argv)
    results = [json.loads(path.read_text(encoding="utf-8")) for path in args.results]
    runs, variants, seeds = merge_results(results)
    rare = list(results[0].get("rarest_classes") or [])
    classes = next((list(r["evaluation"]["class_names"]) for r in runs.values() if r.get("evaluation")), [])
    summary = summarise(runs=runs, variants=variants, seeds=seeds, rare=rare, per_class=classes)
    print(format_summary(summary, seeds=seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
