"""Progress of long loops: a bar on a terminal, log lines elsewhere, nothing for quick work (injected clock)."""

from __future__ import annotations

import io
import logging

import pytest

from vl3d_focal.progress import Progress, format_seconds


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def info(caplog):
    caplog.set_level(logging.INFO, logger="vl3d_focal.progress")
    return caplog


def test_quick_work_shows_nothing(info):
    clock, screen = Clock(), io.StringIO()
    with Progress("fields", total=10, clock=clock, terminal=screen) as progress:
        clock.now += 2.9
        progress.advance(10)
    assert screen.getvalue() == "" and not progress.shown


def test_bar_on_a_terminal_has_percent_counts_and_eta_then_is_erased(info):
    clock, screen = Clock(), io.StringIO()
    with Progress("prediction", total=400, unit="fields", clock=clock, terminal=screen) as progress:
        clock.now += 10.0
        progress.update(100)
        clock.now += 0.1  # within the redraw interval: not drawn again
        progress.update(150)
        clock.now += 10.0
        progress.update(300)
    frames = screen.getvalue().split("\r")[1:]
    assert frames[0] == "prediction [######..................]  25% 100/400 fields, 10 s, ETA 30 s\x1b[K"
    assert frames[1] == "prediction [##################......]  75% 300/400 fields, 20 s, ETA 7 s\x1b[K"
    assert frames[2] == "\x1b[K" and len(frames) == 3  # erased at the end
    assert info.records == []  # a terminal gets the bar, not log lines


def test_log_lines_every_few_seconds_without_a_terminal(info):
    clock = Clock()
    with Progress("writing x.laz", total=1_000_000, unit="points", clock=clock, terminal=None, log_every_s=10) as p:
        for _ in range(10):
            clock.now += 4.0
            p.advance(100_000)
    lines = [record.getMessage() for record in info.records]
    assert lines == [
        "writing x.laz: 10% (100,000/1,000,000 points), 4 s elapsed, ETA 36 s",
        "writing x.laz: 40% (400,000/1,000,000 points), 16 s elapsed, ETA 24 s",
        "writing x.laz: 70% (700,000/1,000,000 points), 28 s elapsed, ETA 12 s",
        "writing x.laz: 100% (1,000,000/1,000,000 points), 40 s elapsed, ETA 0 s",
    ]


def test_nothing_when_the_logger_is_quieter_than_info(caplog):
    caplog.set_level(logging.WARNING, logger="vl3d_focal.progress")
    clock, screen = Clock(), io.StringIO()
    with Progress("fields", total=10, clock=clock, terminal=screen) as progress:
        clock.now += 60
        progress.advance(5)
    assert screen.getvalue() == "" and caplog.records == []


def test_unknown_eta_before_any_progress(info):
    clock = Clock()
    progress = Progress("fields", total=10, clock=clock, terminal=None)
    clock.now += 5
    progress.update(0)
    assert info.records[0].getMessage() == "fields: 0% (0/10), 5 s elapsed, ETA ?"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0 s"), (59.6, "1 min 00 s"), (3599, "59 min 59 s"), (7260, "2 h 01 min")]
)
def test_durations_read_well(seconds, text):
    assert format_seconds(seconds) == text
