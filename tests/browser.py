"""Headless Chromium driven over the DevTools protocol, for the tests and screenshots of the HTML pages.

Chromium is started with ``--remote-debugging-pipe`` (the protocol's JSON messages, each ended
by a NUL byte, on file descriptors 3 and 4), so no port, no websocket and no Python dependency
are needed. :func:`open_page` loads a local file and returns what a person would see and what
a developer would check: the console errors, every request the page made, and a screenshot.

Example:
    >>> chromium() is None or Path(chromium()).name.startswith(("chromium", "google-chrome"))
    True
"""

from __future__ import annotations

import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
TIMEOUT_S = 120.0
"""A safety net for a browser that hangs, not a speed limit: pages load in about a second."""


def chromium() -> str | None:
    """The Chromium executable on PATH (Debian's ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageVisit:
    """What loading a page gave.

    Attributes:
        url: the page's address.
        title: the document's title.
        errors: console errors, uncaught exceptions and error log entries, as text.
        requests: the URL of every request the page made (the page itself first).
        screenshot: a PNG of the page (its top ``max_height`` pixels).
    """

    url: str
    title: str = ""
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshot: bytes = b""


class _Pipe:
    """The protocol's messages over the two pipes of a Chromium process."""

    def __init__(self, executable: str, profile: str) -> None:
        to_browser_r, self._write = os.pipe()
        self._read, from_browser_w = os.pipe()

        def child_fds() -> None:  # runs in the child between fork and exec
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            pass_fds=(3, 4),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> dict[str, Any]:
        """Sends a command and returns its result (events that come meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The first event named ``method`` (already received or coming)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._receive()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _receive(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                raise TimeoutError(f"Chromium sent nothing for {TIMEOUT_S} s")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit status {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        """Closes the browser and the pipes."""
        try:
            self.send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)


def _error_text(event: dict[str, Any]) -> str | None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return "console: " + " ".join(
            str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])
        )
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return "exception: " + str(details.get("exception", {}).get("description") or details.get("text"))
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        return "log: " + str(params["entry"].get("text"))
    if method == "Network.loadingFailed":
        return "failed request: " + str(params.get("errorText"))
    return None


def open_page(
    path: str | os.PathLike[str], *, width: int = 1280, height: int = 900, max_height: int = 6000
) -> PageVisit:
    """Loads a local HTML file in headless Chromium and returns a :class:`PageVisit`.

    The screenshot covers the page's full height up to ``max_height`` pixels.

    Raises:
        FileNotFoundError: no Chromium on PATH.
    """
    executable = chromium()
    if executable is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    url = Path(path).resolve().as_uri()
    visit = PageVisit(url=url)
    with tempfile.TemporaryDirectory(prefix="vl3d-chromium-") as profile:
        pipe = _Pipe(executable, profile)
        try:
            target = next(t for t in pipe.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
            session = pipe.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            pipe.events.clear()
            pipe.send("Page.navigate", {"url": url}, session=session)
            pipe.wait_for("Page.loadEventFired")
            visit.title = pipe.send(
                "Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session=session
            )["result"].get("value", "")
            size = pipe.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            shot = pipe.send(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": width, "height": min(size["height"], max_height), "scale": 1},
                },
                session=session,
            )
            import base64

            visit.screenshot = base64.b64decode(shot["data"])
            for event in pipe.events:
                if event.get("method") == "Network.requestWillBeSent":
                    visit.requests.append(event["params"]["request"]["url"])
                text = _error_text(event)
                if text:
                    visit.errors.append(text)
        finally:
            pipe.close()
    return visit


def distinct_colours(png: bytes) -> int:
    """How many different colours a PNG has (a blank page has one or two).

    Example:
        >>> import matplotlib.pyplot as plt, numpy as np
        >>> buffer = io.BytesIO(); plt.imsave(buffer, np.zeros((4, 4, 3)), format="png")
        >>> distinct_colours(buffer.getvalue())
        1
    """
    import matplotlib.pyplot as plt
    import numpy as np

    image = plt.imread(io.BytesIO(png), format="png")
    pixels = (np.asarray(image)[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3)
    return int(len(np.unique(pixels, axis=0)))
