"""Helpers for the browser tests: servers, Chromium, and drawing MNIST digits as strokes."""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np

from tools.paths import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, never a downloaded one (no `playwright install`).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

Stroke = list[tuple[float, float]]  # points in canvas fractions, 0..1
CLOCK_START = datetime(2024, 1, 1, tzinfo=UTC)  # any fixed time: the page shows no dates
# In the template's Content-Security-Policy, the API origin (which the test replaces).
DEPLOYED_API_SOURCE = "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}"


def site_csp(api_origin: str) -> str:
    """The Content-Security-Policy CloudFront sends with the page (template.yaml), with the
    API at api_origin instead of API Gateway."""
    from samtranslator.yaml_helper import yaml_parse

    resources = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]
    config = resources["SiteHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    csp = config["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    text = csp["Fn::Sub"]
    assert DEPLOYED_API_SOURCE in text, text
    return text.replace(DEPLOYED_API_SOURCE, api_origin)


def stop_clock(page) -> None:
    """Before the page opens: its clock (setTimeout, Date, performance...) is Playwright's
    fake one, stopped. No timer of the page fires until the test moves the clock on with
    page.clock.run_for(ms), so a delay is passed, or not yet, whatever the machine's speed."""
    page.clock.install(time=CLOCK_START)
    page.clock.pause_at(CLOCK_START + timedelta(seconds=1))


class _QuietHandler(SimpleHTTPRequestHandler):
    extra_headers: ClassVar[dict[str, str]] = {}

    def end_headers(self) -> None:
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def static_server(directory: Path, port: int,
                  headers: dict[str, str] | None = None) -> Iterator[str]:
    """A plain file server: the page on an origin of its own, as S3 + CloudFront serve it,
    with the response headers CloudFront adds."""
    handler_class = type("Handler", (_QuietHandler,), {"extra_headers": headers or {}})
    handler = functools.partial(handler_class, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


class _StallingHandler(BaseHTTPRequestHandler):
    """Answers any POST with 200 and half a JSON body, then nothing until released."""

    server: _StallingServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        head = b'{"digit": 7, '
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + 100))
        self.end_headers()
        self.wfile.write(head)
        self.wfile.flush()
        self.server.stalled.set()
        self.server.release.wait(timeout=30)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _StallingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _StallingHandler)
        self.stalled = threading.Event()  # set once a body has been started
        self.release = threading.Event()  # lets the stalled handlers end


@contextmanager
def stalling_server(port: int) -> Iterator[_StallingServer]:
    """A server whose answers stop in the middle of the body: headers sent, JSON never ends."""
    server = _StallingServer(port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def _row_runs(image: np.ndarray, threshold: float) -> list[tuple[int, int, int]]:
    """(row, first column, last column) of every run of ink pixels."""
    runs = []
    for row, values in enumerate(image >= threshold):
        cols = np.flatnonzero(values)
        if cols.size:
            breaks = np.flatnonzero(np.diff(cols) > 1)
            starts, ends = np.r_[cols[0], cols[breaks + 1]], np.r_[cols[breaks], cols[-1]]
            runs += [(row, int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
    return runs


def digit_strokes(image: np.ndarray, threshold: float = 0.4) -> list[Stroke]:
    """The digit's ink as hand-like strokes: zig-zags through runs of ink in successive rows.

    A run joins the stroke of the run above it when they overlap, so the pen only
    travels over ink; each stroke alternates direction, as a hand filling a shape does.
    """
    size = image.shape[0]
    strokes: list[list[tuple[int, int, int]]] = []
    for run in _row_runs(image, threshold):
        row, a, b = run
        open_stroke = next(
            (s for s in strokes if s[-1][0] == row - 1 and s[-1][1] <= b and a <= s[-1][2]), None
        )
        if open_stroke is None:
            strokes.append([run])
        else:
            open_stroke.append(run)
    paths: list[Stroke] = []
    for stroke in strokes:
        path: Stroke = []
        for i, (row, a, b) in enumerate(stroke):
            ends = [(a + 0.5) / size, (b + 0.5) / size]
            y = (row + 0.5) / size
            path += [(x, y) for x in (ends if i % 2 == 0 else ends[::-1])]
        paths.append(path)
    return paths


def moves_between(a: tuple[float, float], b: tuple[float, float]) -> int:
    """Moves from a to b: one every ~3 pixels of a 28-pixel digit, so no gap shows."""
    return max(1, round(np.hypot(b[0] - a[0], b[1] - a[1]) * 28 / 3))


def draw(page, strokes: list[Stroke], selector: str = "#pad") -> None:
    """Real pointer strokes (down, moves through every few pixels, up), whatever the CSS size,
    on the canvas scrolled into view (as a hand draws on what it sees)."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()

    def at(p: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    for stroke in strokes:
        page.mouse.move(*at(stroke[0]))
        page.mouse.down()
        for a, b in itertools.pairwise(stroke):
            page.mouse.move(*at(b), steps=moves_between(a, b))
        if len(stroke) == 1:
            page.mouse.move(*at(stroke[0]), steps=1)
        page.mouse.up()


def touch_draw(page, strokes: list[Stroke], selector: str = "#pad") -> None:
    """The same strokes as a finger: raw touch events through the DevTools protocol, on the
    canvas scrolled into view (touches off the screen land nowhere)."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, p: tuple[float, float] | None) -> None:
        points = [] if p is None else [{
            "x": box["x"] + p[0] * box["width"], "y": box["y"] + p[1] * box["height"],
        }]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    for stroke in strokes:
        touch("touchStart", stroke[0])
        for a, b in itertools.pairwise(stroke):
            for t in np.linspace(0, 1, moves_between(a, b) + 1)[1:]:
                touch("touchMove", (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
        touch("touchEnd", None)
    cdp.detach()


def settle(page) -> None:
    """Waits for CSS transitions (the probability bars grow) to end; a spinner never does."""
    page.wait_for_function(
        """document.getAnimations().every(a => a.playState !== 'running'
             || a.effect.getComputedTiming().iterations === Infinity)"""
    )


def read_canvas(page, selector: str) -> np.ndarray:
    """A small canvas's pixels as (H, W, 4) uint8, read back in the page."""
    data = page.eval_on_selector(
        selector,
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
                  return {w: c.width, h: c.height, px: Array.from(d.data)}; }""",
    )
    return np.array(data["px"], dtype=np.uint8).reshape(data["h"], data["w"], 4)


def dark_pixels(page, selector: str = "#pad") -> int:
    """How many pixels of a canvas are dark (ink), counted in the page: no bulk transfer."""
    return page.eval_on_selector(
        selector,
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0;
                  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 128 && d[i] < 128) n++;
                  return n; }""",
    )


def ink_centre(page, selector: str = "#pad") -> tuple[float, float]:
    """(x, y) of a drawing canvas's ink, weighted by darkness, in its 280x280 units
    (the backing store may be larger), counted in the page."""
    return tuple(page.eval_on_selector(
        selector,
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let [m, x, y] = [0, 0, 0];
                  for (let i = 0; i < d.length; i += 4) {
                    const w = 255 - d[i], p = i / 4;
                    m += w; x += w * (p % c.width + 0.5); y += w * (Math.floor(p / c.width) + 0.5);
                  }
                  const unit = c.width / 280;
                  return [x / m / unit, y / m / unit]; }""",
    ))


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of an ink image's centre of mass, in pixel-index units."""
    mass = image.sum()
    rows, cols = np.indices(image.shape)
    return float((rows * image).sum() / mass), float((cols * image).sum() / mass)


def css_rgb(color: str) -> tuple[int, int, int]:
    """A computed CSS colour ("rgb(r, g, b)" or "rgba(r, g, b, 1)") as (r, g, b)."""
    inside = color[color.index("(") + 1:color.index(")")]
    r, g, b = (round(float(v)) for v in inside.replace(",", " ").split()[:3])
    return r, g, b


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two opaque sRGB colours, 1 to 21."""
    def luminance(rgb: tuple[int, int, int]) -> float:
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
