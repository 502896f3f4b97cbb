"""``vl3d-focal compare``'s rare classes' headline: per class rare in the reference, its training
share and each other run's (configuration's) difference in recall, IoU and F1, highlighted by the
tables' rule, first in the Markdown and on the page alike; one line where no class is rare, none
for one run; rare classes marked in the per-class tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_compare_groups import CE, FOCAL, _run

from vl3d_focal.reports.compare import compare_runs
from vl3d_focal.reports.compare_deltas import group_difference
from vl3d_focal.reports.compare_groups import is_finding
from vl3d_focal.reports.compare_page import render_comparison
from vl3d_focal.reports.compare_text import format_comparison

BADGE = '<span class="badge rare">rare</span>'


def _counts(folder: Path, counts: list[int]) -> Path:
    """The run with these training points per class (ground, vegetation, pole)."""
    record = json.loads((folder / "report.json").read_text())
    record["trainings"][0]["class_counts"] = counts
    (folder / "report.json").write_text(json.dumps(record))
    return folder


def _headline(page: str) -> list[list[str]]:
    """The cells of the page's headline table, as text."""
    section = page[page.index('<section id="rare">') :].split("</section>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", section)
    return [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)] for row in rows]


def _markdown_headline(text: str) -> list[list[str]]:
    lines = text.split("\n\n")[1].splitlines()
    return [
        [cell.strip().replace("**", "") for cell in line.strip("|").split("|")] for line in lines if "---" not in line
    ]


def test_the_headline_highlights_a_rare_class_s_rise_beyond_the_floor_only(tmp_path):
    ce, focal = (
        _counts(_run(tmp_path, n, seed=1, loss=loss), [950, 30, 20]) for n, loss in (("ce", CE), ("focal", FOCAL))
    )
    comparison = compare_runs([ce, focal])
    base, other = (run["per_class"] for run in comparison["runs"])
    other["pole"]["R"] = base["pole"]["R"] + 0.05  # beyond the floor of single runs (0.01)
    other["vegetation"]["R"] = base["vegetation"]["R"] + 0.005  # within it
    text = format_comparison(comparison, style="md")
    assert text.startswith("Rare classes (under 5% of the training points of ce): recall / IoU / F1 of ce and ")
    assert "| rare class | training share | ce: recall / IoU / F1 | focal |" in text
    assert "| vegetation | 3.00% | 0.800 / 0.741 / 0.851 | +0.005 / 0.000 / 0.000 |" in text
    assert "| pole | 2.00% | 0.500 / 0.200 / 0.333 | **+0.050** / 0.000 / 0.000 |" in text
    assert "| ground | 0.804 | 0.804 (0.000) |" in text and "| pole (rare) | 0.200 | 0.200 (0.000) |" in text
    page = render_comparison(comparison, folder=tmp_path)
    assert page.index('<section id="rare"><h2>Rare classes</h2>') < page.index('<section id="runs">')
    assert '<td><span class="up">+0.050</span> / 0.000 / 0.000</td>' in page
    assert "<td>+0.005 / 0.000 / 0.000</td>" in page
    assert f'<td class="l">pole {BADGE}</td>' in page and f"ground {BADGE}" not in page
    assert _headline(page) == _markdown_headline(text)  # the page and the Markdown agree


def test_with_seed_repeats_the_headline_compares_the_configurations(tmp_path):
    ce = [_run(tmp_path, f"ce{s}", seed=s, loss=CE, pole=pole) for s, pole in ((1, (2, 3, 5)), (2, (2, 4, 4)))]
    focal = [_run(tmp_path, f"focal{s}", seed=s, pole=pole) for s, pole in ((1, (1, 1, 8)), (2, (1, 2, 7)))]
    comparison = compare_runs([*ce, *focal])
    base, other = comparison["groups"]
    text = format_comparison(comparison, style="md")
    assert text.startswith("Rare classes (under 5% of the training points of ce1 + ce2): recall / IoU / F1 of ")
    _, recall, finding = group_difference(comparison, other, base, "R", "pole")
    assert recall == 0.3 and finding == is_finding(
        comparison, 0.3, a=base["name"], b=other["name"], key="R", name="pole"
    )
    rows = _markdown_headline(text)
    assert rows[0] == ["rare class", "training share", "ce1 + ce2: recall / IoU / F1", "focal1 + focal2"]
    assert rows[1][:3] == ["pole", "2.00%", "0.450 / 0.180 / 0.305"] and rows[1][3].startswith("+0.300 / ")
    assert text.index("\nConfigurations: ") < text.index("\nEach run. ")
    assert _headline(render_comparison(comparison, folder=tmp_path)) == rows


def test_no_rare_class_is_one_line_and_one_run_has_no_headline(tmp_path):
    ce, focal = (
        _counts(_run(tmp_path, n, seed=1, loss=loss), [600, 300, 100]) for n, loss in (("ce", CE), ("focal", FOCAL))
    )
    comparison = compare_runs([ce, focal])
    text = format_comparison(comparison, style="md")
    none = "Rare classes: none (each class is 5% or more of the training points of ce)."
    assert text.startswith(none + "\n\nDifferences (in brackets) are to ce") and "(rare)" not in text
    page = render_comparison(comparison, folder=tmp_path)
    assert f'<section id="rare"><h2>Rare classes</h2><p class="muted">{none}</p></section>' in page
    assert BADGE not in page
    alone = compare_runs([_run(tmp_path, "alone", seed=1)])
    text = format_comparison(alone, style="md")
    assert "Rare classes" not in text and "| pole (rare) | 0.200 |" in text  # the tables still mark it
    page = render_comparison(alone, folder=tmp_path)
    assert 'id="rare"' not in page and f"pole {BADGE}" in page
