"""Small inline SVG charts for the HTML pages: lines, grouped bars, horizontal bars, a tile map.

Pure Python (no plotting library), so the pages and ``vl3d-focal compare`` need nothing heavy;
every chart is one ``<svg>`` string with a ``<title>``, drawn in the page's font, with no
script and no external reference. Missing values (None) are left out of lines and shown as
"n/a" at the foot of their bar (written upwards where the bar is narrower than the word).

Example:
    >>> svg = bar_chart(categories=["ground", "pole"], groups={"IoU": [0.9, None]}, title="IoU")
    >>> svg.startswith("<svg") and "n/a" in svg
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
"""Colours of series without their own (matplotlib's tab10)."""
FONT = 11
CHAR_PX = 6.5
"""Average advance of a character at :data:`FONT` px, to size margins without measuring text."""
LABEL_FONT = 9
"""The font size of the values written on bars."""
LABEL_CHAR_PX = 5.5
"""The advance of one character of a bar's value at :data:`LABEL_FONT` px (at most; digits are narrower)."""
MISSING = "n/a"
"""What a bar without a value shows, at its foot."""
LEGEND_ROW = 16
"""The height of one row of a legend."""


def nice_ticks(low: float, high: float, *, count: int = 5, integer: bool = False) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]``; whole numbers only with ``integer``
    (a step of 1, 2 or 5 times a power of ten, at least 1: epochs).

    Example:
        >>> import numpy as np
        >>> nice_ticks(0, 0.93), nice_ticks(np.float32(6.28e6), np.float32(6.28e6) + np.float32(0.5))
        ([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], [6280000.0, 6280000.1, 6280000.2, 6280000.3, 6280000.4, 6280000.5])
        >>> nice_ticks(1, 2, count=6, integer=True), nice_ticks(1, 37, count=6, integer=True)
        ([1.0, 2.0], [0.0, 10.0, 20.0, 30.0, 40.0])
    """
    low, high = float(low), float(high)  # a float32 coordinate would not advance by a small step
    if not math.isfinite(low):
        low = 0.0
    if not math.isfinite(high) or high <= low:
        high = low + max(1.0, abs(low) * 1e-9)
    raw = (high - low) / max(count, 1)
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in ((1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)) if m * step >= raw)
    step = max(step, 1) if integer else step
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    digits = max(0, 1 - math.floor(math.log10(step)))  # a step of 2.5 or 0.25 has one more
    return [float(round(number * step, digits)) for number in range(first, max(last, first + 1) + 1)]


def format_number(value: float) -> str:
    """A tick label: short, no needless zeros, whole thousands with a separator.

    Example:
        >>> format_number(0.25), format_number(1000.0), format_number(12000.0), format_number(2e-05)
        ('0.25', '1,000', '12k', '2e-05')
    """
    if value == 0:
        return "0"
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    if abs(value) >= 1e3 and value == round(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def value_label(value: float, *, count: bool) -> str:
    """A bar's value in one readable format: from 10,000 on, one decimal of k or M; below, a
    ``count`` in full (with a thousands separator), any other value with 2 significant decimals.

    Example:
        >>> [value_label(v, count=True) for v in (3995, 21975, 73036, 1234567, 866, 5)]
        ['3,995', '22.0k', '73.0k', '1.2M', '866', '5']
        >>> [value_label(v, count=False) for v in (0.5, 1.0, 56.25)]
        ['0.50', '1.00', '56.2']
    """
    size = abs(value)
    if size >= 999_950:
        return f"{value / 1e6:,.1f}M"
    if size >= 1e4:
        return f"{value / 1e3:.1f}k"
    if count:
        return f"{value:,.0f}"
    return f"{value:.1f}" if size >= 10 else f"{value:.2f}"


class _Frame:
    """The plotting area of a chart and its value-to-pixel mapping."""

    def __init__(
        self, *, width: int, height: int, left: int, bottom: int, low: float, high: float, log: bool, top: int = 28
    ) -> None:
        self.width, self.height, self.left, self.bottom = width, height, left, bottom
        self.top, self.right = top, width - 12
        self.log = log and low > 0
        self.low, self.high = (math.log10(low), math.log10(high)) if self.log else (low, high)

    def y(self, value: float) -> float:
        v = math.log10(max(value, 10**self.low)) if self.log else value
        share = (v - self.low) / ((self.high - self.low) or 1.0)
        return self.height - self.bottom - share * (self.height - self.bottom - self.top)

    def axis(self, title: str, y_label: str) -> list[str]:
        parts = [
            f'<text x="{self.width / 2:.0f}" y="16" text-anchor="middle" font-weight="bold">{escape(title)}</text>'
        ]
        if self.log:
            ticks = [10.0**e for e in range(math.floor(self.low), math.ceil(self.high) + 1)]
        else:
            ticks = nice_ticks(self.low, self.high)
        for tick in ticks:
            y = self.y(tick)
            if self.top - 1 <= y <= self.height - self.bottom + 1:
                parts.append(
                    f'<line x1="{self.left}" x2="{self.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e3e3"/>'
                    f'<text x="{self.left - 4}" y="{y + 4:.1f}" text-anchor="end">{format_number(tick)}</text>'
                )
        if y_label:
            parts.append(
                f'<text transform="translate(12 {(self.height - self.bottom + self.top) / 2:.0f}) rotate(-90)" '
                f'text-anchor="middle">{escape(y_label)}</text>'
            )
        base = self.height - self.bottom
        parts.append(f'<line x1="{self.left}" x2="{self.right}" y1="{base}" y2="{base}" stroke="#555"/>')
        return parts


def svg_document(width: int, height: int, title: str, parts: Sequence[str], *, font_family: str | None = None) -> str:
    """One ``<svg>`` element of ``width`` x ``height`` pixels holding ``parts``, titled ``title``.

    Inline in a page, the text takes the page's font; a stand-alone file names one
    (``font_family``).

    Example:
        >>> svg = svg_document(10, 10, "empty", [], font_family="sans-serif")
        >>> svg.startswith("<svg") and 'font-family="sans-serif"' in svg and "<title>empty</title>" in svg
        True
    """
    font = f' font-family="{escape(font_family)}"' if font_family else ""
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" font-size="{FONT}"{font} role="img"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


def _legend(
    names: Sequence[str], colors: Sequence[str], *, x: float, y: float, right: float = math.inf
) -> tuple[list[str], float]:
    """One swatch and name per series from ``x`` along the baseline ``y`` (an entry that would pass
    ``right`` starts a new row, :data:`LEGEND_ROW` lower), and the baseline of its last row."""
    parts, offset = ['<g class="legend">'], x
    for name, color in zip(names, colors):
        size = 22 + CHAR_PX * len(name)
        if offset > x and offset + size - 9 > right:
            offset, y = x, y + LEGEND_ROW
        parts.append(
            f'<rect x="{offset:.0f}" y="{y - 9:.0f}" width="10" height="10" fill="{color}"/>'
            f'<text x="{offset + 13:.0f}" y="{y:.0f}">{escape(name)}</text>'
        )
        offset += size
    return [*parts, "</g>"], y


def line_chart(
    *,
    x: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    x_label: str = "",
    y_label: str = "",
    log_y: bool = False,
    width: int = 420,
    height: int = 260,
) -> str:
    """Lines of ``series`` (name: one value per ``x``, None for missing), with a legend above the
    plot, never on it (in rows as many as the names need; the chart grows by their height).

    Where every ``x`` is a whole number (epochs), so is every x tick; a single ``x`` is centred.

    Example:
        >>> "polyline" in line_chart(x=[1, 2, 3], series={"loss": [0.9, 0.5, 0.4]}, title="loss")
        True
    """
    values = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    log = log_y and low > 0 and high > 10 * low  # a log axis only where values span a decade
    if not log:
        if high - low <= 1e-9 * max(abs(high), 1e-30):  # a constant: centre it
            pad = abs(high) * 0.5 or 1.0
            low, high = low - pad, high + pad
        low = min(low, 0.0) if low >= 0 and high > 0 and low < 0.25 * high else low
        low, high = nice_ticks(low, high)[0], nice_ticks(low, high)[-1]
    colors = [PALETTE[k % len(PALETTE)] for k in range(len(series))]
    legend, last_row = _legend(list(series), colors, x=48, y=32, right=width - 12)
    top = round(last_row) + 12 if series else 28
    height += top - 28
    frame = _Frame(width=width, height=height, left=48, bottom=36, low=low, high=high, log=log, top=top)
    parts = frame.axis(title, y_label)
    x_low, x_high = (min(x), max(x)) if x else (0, 1)
    if x_high == x_low:
        x_low, x_high = x_low - 0.5, x_high + 0.5
    span = x_high - x_low

    def px(value: float) -> float:
        return frame.left + (value - x_low) / span * (frame.right - frame.left)

    for tick in nice_ticks(x_low, x_high, count=6, integer=all(float(a).is_integer() for a in x)):
        if x_low <= tick <= x_high:
            parts.append(
                f'<text x="{px(tick):.1f}" y="{height - 20}" text-anchor="middle">{format_number(tick)}</text>'
            )
    if x_label:
        parts.append(
            f'<text x="{(frame.left + frame.right) / 2:.0f}" y="{height - 5}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
        )
    for ys, color in zip(series.values(), colors):
        points = [f"{px(a):.1f},{frame.y(b):.1f}" for a, b in zip(x, ys) if b is not None and math.isfinite(b)]
        if len(points) > 1:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{" ".join(points)}"/>')
        parts += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2" fill="{color}"/>' for p in points]
    parts += legend
    return svg_document(width, height, title, parts)


def bar_chart(
    *,
    categories: Sequence[str],
    groups: Mapping[str, Sequence[float | None]],
    title: str,
    y_label: str = "",
    colors: Sequence[str] | None = None,
    bar_colors: Sequence[str] | None = None,
    log_y: bool = False,
    y_max: float | None = None,
    labels: bool = True,
    height: int = 280,
    font_family: str | None = None,
    missing: str = MISSING,
) -> str:
    """Grouped bars: one group of bars per category, one bar per series of ``groups``.

    Args:
        categories: the x-axis labels (classes).
        groups: series name -> one value per category (None: "n/a").
        title: the chart's title.
        y_label: the y axis' name.
        colors: one colour per series (default palette).
        bar_colors: with a single series, one colour per category (the classes' colours).
        log_y: logarithmic y axis (counts).
        y_max: top of the y axis (default: the largest value).
        labels: write each bar's value above it.
        height: pixels.
        font_family: the text's font (stand-alone files; inline, the page's).
        missing: what a bar without a value shows.

    Example:
        >>> svg = bar_chart(categories=["a", "b"], groups={"run 1": [1, 2], "run 2": [2, 1]}, title="t")
        >>> svg.count("<rect") >= 4
        True
    """
    names = list(groups)
    colors = list(colors or [PALETTE[k % len(PALETTE)] for k in range(len(names))])
    values = [v for vs in groups.values() for v in vs if v is not None]
    high = y_max if y_max is not None else max(values + [1e-12])
    low = 0.0
    if log_y:
        positive = [v for v in values if v > 0]
        low, high = (
            (10 ** math.floor(math.log10(min(positive))), 10 ** math.ceil(math.log10(max(positive))))
            if positive
            else (1.0, 10.0)
        )
    else:
        high = nice_ticks(0, high)[-1] if y_max is None else high
    slot = max(16 * len(names) + 14, int(CHAR_PX * max((len(c) for c in categories), default=1)) + 10, 44)
    width = max(300, 56 + slot * len(categories) + 12)
    slot = max(slot, (width - 68) // max(len(categories), 1))  # the groups fill the axis
    labelled = labels and len(names) <= 4
    bar = (slot - 12) / max(len(names), 1)
    count = all(v == round(v) for v in values)  # points per class, not scores
    texts = {name: [None if v is None else value_label(v, count=count) for v in groups[name]] for name in names}
    longest = LABEL_CHAR_PX * max((len(t) for ts in texts.values() for t in ts if t), default=0)
    upright = longest > bar - 2  # wider than its bar: written upwards, so that no two labels meet
    frame = _Frame(
        width=width,
        height=height,
        left=52,
        bottom=54 if len(names) > 1 else 40,
        low=low,
        high=high,
        log=log_y,
        top=(28 + math.ceil(longest) if upright else 40) if labelled else 28,  # the tallest bar's label fits
    )
    parts = frame.axis(title, y_label)
    base = height - frame.bottom
    for c, category in enumerate(categories):
        x0 = frame.left + c * slot + 6
        for g, name in enumerate(names):
            value = groups[name][c]
            x = x0 + g * bar
            if value is None:  # upwards where it is wider than its bar, so that no two meet
                place = (
                    f'transform="translate({x + bar / 2 + 3:.1f} {base - 3}) rotate(-90)"'
                    if LABEL_CHAR_PX * len(missing) > bar - 2
                    else f'x="{x + bar / 2:.1f}" y="{base - 3}" text-anchor="middle"'
                )
                parts.append(f'<text {place} font-size="{LABEL_FONT}" fill="#888">{escape(missing)}</text>')
                continue
            top = frame.y(value) if value > 0 or not frame.log else base
            fill = bar_colors[c] if bar_colors is not None and len(names) == 1 else colors[g]
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(bar - 1, 1):.1f}" height="{max(base - top, 0):.1f}" '
                f'fill="{fill}"><title>{escape(f"{category}, {name}: {value:.4g}")}</title></rect>'
            )
            if labelled and upright:
                parts.append(
                    f'<text transform="translate({x + bar / 2 + 3:.1f} {top - 3:.1f}) rotate(-90)" '
                    f'font-size="{LABEL_FONT}">{texts[name][c]}</text>'
                )
            elif labelled:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{top - 2:.1f}" text-anchor="middle" font-size="{LABEL_FONT}">'
                    f"{texts[name][c]}</text>"
                )
        parts.append(
            f'<text x="{x0 + (slot - 12) / 2:.1f}" y="{base + 14}" text-anchor="middle">{escape(category)}</text>'
        )
    if len(names) > 1:
        parts += _legend(names, colors, x=frame.left, y=height - 8)[0]
    return svg_document(width, height, title, parts, font_family=font_family)


def hbar_chart(*, labels: Sequence[str], values: Sequence[float], title: str, unit: str = "s", width: int = 560) -> str:
    """Horizontal bars with their values (e.g. the seconds of each step).

    Example:
        >>> "12.0 s" in hbar_chart(labels=["train"], values=[12.0], title="steps")
        True
    """
    row, left = 22, min(8 + 7 * max((len(label) for label in labels), default=4), 260)
    height = 34 + row * len(labels)
    top_value = max(list(values) + [1e-9])
    parts = [f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
    for k, (label, value) in enumerate(zip(labels, values)):
        y = 28 + k * row
        length = (width - left - 80) * value / top_value
        parts.append(
            f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{max(length, 1):.1f}" height="{row - 6}" fill="{PALETTE[0]}"/>'
            f'<text x="{left + length + 4:.1f}" y="{y + 13}">{value:.1f} {escape(unit)}</text>'
        )
    return svg_document(width, height, title, parts)
