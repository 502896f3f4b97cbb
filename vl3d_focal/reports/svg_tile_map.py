"""A survey's tiles as an inline SVG map: rectangles coloured by score, failed tiles hatched
and outlined (told apart without colour), a label inside a tile only where it fits, the full
name in each tile's tooltip, and a legend under the map. The failed tiles' hatching is a pattern
of the map's own id (a hash of the map), so that maps inlined in one page keep theirs apart.

A label is the tile's name where it fits the tile at :data:`FONT_SIZES` (a glyph is taken as
:data:`GLYPH_WIDTH` of the font size wide), else the part of the name that tells it from the
other tiles (:func:`short_labels`: the ``_``-separated words all names share at their start and
end left out), else none.

Example:
    >>> svg = tile_map(tiles=[{"bounds": [0, 0, 10, 10], "label": "a", "color": "#2ca02c"},
    ...                       {"bounds": [10, 0, 20, 10], "label": "b", "failed": True}], title="survey",
    ...                legend=[("failed", FAILED_FILL)])
    >>> own = svg.split('<pattern id="')[1].split('"')[0]
    >>> own.startswith("failed-tile-") and f'fill="url(#{own})"' in svg and ">a<" in svg and ">failed<" in svg
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from html import escape

from vl3d_focal.reports.svg_charts import svg_document

FAILED_FILL = "url(#failed-tile)"
"""The fill that stands for a failed tile's hatching in a legend entry: :func:`tile_map` draws it
as black diagonal hatching on white, a pattern of id ``failed-tile-`` and a hash of the map."""
FAILED_STROKE = 'stroke="#000" stroke-width="2.5"'
FONT_SIZES = (11, 10, 9, 8, 7)
"""The label's font sizes tried, largest first (pixels)."""
GLYPH_WIDTH = 0.62
"""A glyph's width, as a share of the font size (a generous estimate for sans-serif)."""
_PATTERN = (
    '<defs><pattern id="{id}" patternUnits="userSpaceOnUse" width="6" height="6" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-width="2.5"/></pattern></defs>'
)


def short_labels(labels: Sequence[str]) -> list[str]:
    """The labels without the ``_``-separated words that all of them share at their start and end.

    Example:
        >>> short_labels(["test_data_77050_627760_LA93_IGN69", "test_data_77050_627761_LA93_IGN69"])
        ['627760', '627761']
        >>> short_labels(["a_1", "a_1"]), short_labels(["alone"])
        (['a_1', 'a_1'], ['alone'])
    """
    words = [label.split("_") for label in labels]
    if len(set(labels)) < 2:
        return list(labels)
    shortest = min(len(w) for w in words)
    start = next((k for k in range(shortest) if len({w[k] for w in words}) > 1), shortest)
    end = next((k for k in range(shortest - start) if len({w[-1 - k] for w in words}) > 1), shortest - start)
    return ["_".join(w[start : len(w) - end]) or label for w, label in zip(words, labels)]


def fitted_label(names: Sequence[str], *, width: float, height: float) -> tuple[str, int] | None:
    """The first of ``names`` (and font size) that fits a box of ``width`` x ``height`` pixels.

    Example:
        >>> fitted_label(["a_long_tile_name", "07"], width=40, height=20)
        ('07', 11)
        >>> fitted_label(["a_long_tile_name"], width=10, height=20) is None
        True
    """
    for name in names:
        for size in FONT_SIZES:
            if name and len(name) * size * GLYPH_WIDTH <= width - 4 and size + 2 <= height:
                return name, size
    return None


def _legend(entries: Sequence[tuple[str, str]], *, top: float) -> list[str]:
    parts, x = [], 10.0
    for text, fill in entries:
        stroke = FAILED_STROKE if fill == FAILED_FILL else 'stroke="#333"'
        parts.append(f'<rect x="{x:.0f}" y="{top:.0f}" width="16" height="12" fill="{fill}" {stroke}/>')
        parts.append(f'<text x="{x + 21:.0f}" y="{top + 10:.0f}" font-size="11">{escape(text)}</text>')
        x += 36 + len(text) * 11 * GLYPH_WIDTH
    return parts


def tile_map(*, tiles: Sequence[Mapping], title: str, width: int = 560, legend: Sequence[tuple[str, str]] = ()) -> str:
    """Tiles as rectangles, with their names where they fit, colour and link (a survey's map).

    Each tile: ``bounds`` (xmin, ymin, xmax, ymax), ``label``, ``color``, optional ``failed``
    (hatched, outlined: :data:`FAILED_FILL`), ``href`` and ``tooltip`` (the label leads it).
    ``legend``: (text, fill) entries drawn under the map.

    Example:
        >>> svg = tile_map(tiles=[{"bounds": [0, 0, 10, 10], "label": "a", "color": "#2ca02c"}], title="survey")
        >>> "<rect" in svg and ">a<" in svg
        True
    """
    boxes = [tile for tile in tiles if tile.get("bounds")]
    xmin = min((t["bounds"][0] for t in boxes), default=0.0)
    ymin = min((t["bounds"][1] for t in boxes), default=0.0)
    xmax = max((t["bounds"][2] for t in boxes), default=1.0)
    ymax = max((t["bounds"][3] for t in boxes), default=1.0)
    scale = (width - 20) / max(xmax - xmin, ymax - ymin, 1e-9)
    bottom = 30 + (ymax - ymin) * scale
    height = int(bottom + (34 if legend else 10))
    parts = [f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
    shorts = short_labels([str(t.get("label", "")) for t in boxes])
    for tile, short in zip(boxes, shorts):
        x0, y0, x1, y1 = (float(v) for v in tile["bounds"])
        x, y, w, h = 10 + (x0 - xmin) * scale, 30 + (ymax - y1) * scale, (x1 - x0) * scale, (y1 - y0) * scale
        label, tooltip = str(tile.get("label", "")), str(tile.get("tooltip", ""))
        tooltip = tooltip if tooltip.startswith(label) else f"{label}: {tooltip}" if tooltip else label
        fill, stroke = (
            (FAILED_FILL, FAILED_STROKE) if tile.get("failed") else (tile.get("color", "#ccc"), 'stroke="#333"')
        )
        shape = (
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" {stroke}>'
            f"<title>{escape(tooltip)}</title></rect>"
        )
        fitted = fitted_label([label, short], width=w, height=h)
        if fitted is not None:
            backing = ' stroke="#fff" stroke-width="3" paint-order="stroke"' if tile.get("failed") else ""
            shape += (
                f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + fitted[1] / 3:.1f}" text-anchor="middle" '
                f'font-size="{fitted[1]}"{backing}><title>{escape(tooltip)}</title>{escape(fitted[0])}</text>'
            )
        href = tile.get("href")
        parts.append(f'<a href="{escape(href)}">{shape}</a>' if href else shape)
    parts += _legend(legend, top=bottom + 12)
    body = "".join(parts)  # FAILED_FILL is a placeholder; escaped text and links cannot match it
    own = f"failed-tile-{hashlib.sha256(body.encode()).hexdigest()[:12]}"
    body = body.replace(f'fill="{FAILED_FILL}"', f'fill="url(#{own})"')
    return svg_document(width, height, title, [_PATTERN.format(id=own), body])
