"""The frame of the HTML pages (run report, comparison): one self-contained file, no script.

Styles are inline, pictures are ``data:`` URIs or inline SVG, links to the run's files are
relative to the page; the page requests nothing when it opens.

Example:
    >>> text = page(title="t", sections=[("a", "A", "<p>x</p>")])
    >>> text.startswith("<!DOCTYPE html>") and 'href="#a"' in text
    True
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from vl3d_focal.io.atomic import write_text

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#24364b;color:#fff;padding:14px 24px}header h1{margin:0;font-size:21px}
header p{margin:4px 0 0;color:#d6dde6;font-size:13px}nav{padding:6px 24px;background:#e9edf2;font-size:13px}
nav a{margin-right:14px;color:#24364b}main{max-width:1280px;padding:8px 24px 40px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:14px 0;padding:8px 18px 14px}
h2{font-size:17px;margin:8px 0}h3{font-size:14px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #dde2e8;padding:3px 8px;text-align:right}
th{background:#f0f3f6}td.l,th.l{text-align:left}.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #dde2e8;border-radius:6px;padding:6px 12px;min-width:120px;background:#fbfcfd}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#555}
.badge{display:inline-block;border-radius:4px;padding:1px 7px;font-size:12px;color:#fff;background:#6b7785}
.finished{background:#2e7d32}.failed{background:#c62828}.running,.interrupted{background:#ef6c00}
.rare{background:#8e24aa}.warn{background:#fff8e1;border-left:4px solid #ef6c00;padding:4px 10px;margin:4px 0;font-size:13px}
.error{background:#ffebee;border-left:4px solid #c62828;padding:6px 12px}.swatch{display:inline-block;width:10px;
height:10px;margin-right:5px;border:1px solid #0003}pre{background:#f4f5f7;padding:8px;overflow:auto;font-size:12px;
max-height:420px}.charts{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}.muted{color:#666;font-size:13px}
.up{color:#2e7d32}.down{color:#c62828}img.picture{max-width:100%;border:1px solid #dde2e8}
"""


def esc(value: Any) -> str:
    """``value`` as HTML text.

    Example:
        >>> esc("<a & b>")
        '&lt;a &amp; b&gt;'
    """
    return escape(str(value))


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: ``n/a`` for None, thousands separated for integers.

    Example:
        >>> fmt(None), fmt(0.98765), fmt(12345)
        ('n/a', '0.988', '12,345')
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned; cells are HTML already.

    Example:
        >>> table(["a", "b"], [["x", "1"]])
        '<table><tr><th class="l">a</th><th>b</th></tr><tr><td class="l">x</td><td>1</td></tr></table>'
    """

    def cells(values: Sequence[Any], tag: str) -> str:
        return "".join(
            f'<{tag} class="l">{v}</{tag}>' if k < left else f"<{tag}>{v}</{tag}>" for k, v in enumerate(values)
        )

    return (
        f"<table><tr>{cells(header, 'th')}</tr>" + "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows) + "</table>"
    )


def relative(path: str | os.PathLike[str], *, folder: Path) -> str:
    """``path`` relative to the page's ``folder``, with forward slashes.

    Example:
        >>> relative("/runs/a/eval/e.json", folder=Path("/runs/b"))
        '../a/eval/e.json'
    """
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(folder))).as_posix()


def link(path: str | os.PathLike[str] | None, *, folder: Path, text: str | None = None) -> str:
    """A link to a file, relative to the page's ``folder`` (the text: that relative path).

    Example:
        >>> link("/runs/a/eval/evaluation.json", folder=Path("/runs/a"))
        '<a href="eval/evaluation.json">eval/evaluation.json</a>'
    """
    if not path:
        return ""
    target = relative(path, folder=folder)
    return f'<a href="{esc(quote(target))}">{esc(text if text is not None else target)}</a>'


def cloud_link(path: str | os.PathLike[str], *, folder: Path) -> str:
    """A link to an input cloud's file, or its name as text where no such file exists (a cloud
    made in memory, such as ``in_pcloud_concat(<stems>)``, or a file moved since the run).

    Example:
        >>> cloud_link("/runs/in_pcloud_concat(a+b)", folder=Path("/runs/out"))
        '../in_pcloud_concat(a+b)'
    """
    if Path(path).is_file():
        return link(path, folder=folder)
    return esc(relative(path, folder=folder))


def swatch(color: str | None) -> str:
    """A small square of a class's colour.

    Example:
        >>> swatch("#ff0000")
        '<span class="swatch" style="background:#ff0000"></span>'
    """
    return f'<span class="swatch" style="background:{esc(color)}"></span>' if color else ""


def picture_uri(path: str | os.PathLike[str]) -> str | None:
    """An SVG picture (e.g. the evaluation's top-down map) as a ``data:`` URI for an ``<img>``;
    None when the file is missing, unreadable or not an SVG document.

    Example:
        >>> import tempfile
        >>> svg = Path(tempfile.mkdtemp()) / "p.svg"
        >>> _ = svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
        >>> picture_uri(svg)[:26], picture_uri("no/such.svg")
        ('data:image/svg+xml;base64,', None)
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if b"<svg" not in data[:512]:
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")


def generator_mark(command: str) -> str:
    """The tag that says which command wrote a page (a later run checks it before replacing the page).

    Example:
        >>> generator_mark("vl3d-focal compare")
        '<meta name="generator" content="vl3d-focal compare">'
    """
    return f'<meta name="generator" content="{esc(command)}">'


def page(*, title: str, sections: Sequence[tuple[str, str, str]], subtitle: str = "", generator: str = "") -> str:
    """A whole page: a header, a menu of the sections, then each ``(id, heading, html)``;
    ``generator`` names the command that wrote it (:func:`generator_mark`).

    Example:
        >>> "<h2>A</h2>" in page(title="t", sections=[("a", "A", "")])
        True
    """
    nav = "".join(f'<a href="#{esc(key)}">{esc(heading)}</a>' for key, heading, _ in sections)
    body = "".join(
        f'<section id="{esc(key)}"><h2>{esc(heading)}</h2>{content}</section>' for key, heading, content in sections
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{generator_mark(generator) if generator else ''}"
        f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        f"style-src 'unsafe-inline'\">"
        f'<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body><header><h1>{esc(title)}</h1>"
        f"<p>{subtitle}</p></header><nav>{nav}</nav><main>{body}</main></body></html>\n"
    )


def write_page(text: str, *, path: str | os.PathLike[str]) -> Path:
    """Writes a page atomically.

    Example:
        >>> import tempfile
        >>> write_page("<!DOCTYPE html>", path=Path(tempfile.mkdtemp()) / "p.html").suffix
        '.html'
    """
    return write_text(path, text, log=False)
