"""Shared by the predict API tests: the Lambda module, its events and drawn digits.

The app is imported once, as Lambda imports it, with MODEL_DIR pointing at the
shipped model unless set. Powertools stays quiet: metrics off (a test turns
them on), tracing off, warnings-only logs.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from events.generate import SEVEN as SEVEN_STROKE
from tools.lambda_fakes import LambdaContext, event_body, load_event  # noqa: F401 (for the tests)
from tools.paths import EVENTS_DIR, FUNCTION_DIR, ROOT, SHIPPED_MODEL

for key, value in {
    "MODEL_DIR": str(SHIPPED_MODEL),
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(key, value)

MANIFEST = json.loads((SHIPPED_MODEL / "manifest.json").read_text())  # the shipped model's


def app_module() -> Any:
    import app

    return app


@contextmanager
def api_client(*, raise_server_exceptions: bool = False) -> Iterator[Any]:
    """A TestClient on the app, once its /health answered 200: the model is committed, so
    one that does not load fails the tests that need it rather than skipping them."""
    from fastapi.testclient import TestClient

    with TestClient(app_module().app, raise_server_exceptions=raise_server_exceptions) as c:
        health = c.get("/health")
        if health.status_code != 200:
            pytest.fail(f"the shipped model did not load ({health.text})")
        yield c


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """The exported Lambda handler, as the runtime calls it: status, headers, body text."""
    response = app_module().handler(event, LambdaContext())
    body = response.get("body", "")
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
    return response["statusCode"], headers, body


COLD_SCRIPT = """
import json, sys
import app
from tools.lambda_fakes import LambdaContext
for name in sys.argv[1:]:
    r = app.handler(json.load(open(name)), LambdaContext())
    print("RESULT", json.dumps([r["statusCode"], r["body"]]))  # one line, whatever the body
"""


def run_fresh(model_dir: Path, *events: str | Path, env: dict[str, str] | None = None,
              raw: bool = False) -> tuple[list[tuple[int, Any]], list[dict]]:
    """The events (a sample event's name, or an event file) through a fresh interpreter's
    handler (the app loads its model at import, as on a cold start): (status, answer)s,
    each answer parsed from JSON unless `raw` (the docs page is HTML), and the JSON records
    it wrote to stdout (its CloudWatch log stream): Powertools logs and EMF, metrics on
    unless `env` says."""
    base = {**os.environ, "MODEL_DIR": str(model_dir), "POWERTOOLS_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(FUNCTION_DIR)}
    base.pop("POWERTOOLS_METRICS_DISABLED", None)
    env = {**base, **(env or {})}
    paths = [str(EVENTS_DIR / f"{e}.json" if isinstance(e, str) else e) for e in events]
    done = subprocess.run([sys.executable, "-c", COLD_SCRIPT, *paths], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    results = [json.loads(line.removeprefix("RESULT ")) for line in lines
               if line.startswith("RESULT ")]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return [(status, body if raw else json.loads(body)) for status, body in results], records


def copy_model(tmp_path: Path) -> Path:
    """The shipped model's files copied to tmp_path/model, for a test to damage."""
    model = tmp_path / "model"
    model.mkdir()
    for f in SHIPPED_MODEL.iterdir():
        if f.is_file():
            (model / f.name).write_bytes(f.read_bytes())
    return model


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    """The image as a file of the given format (Pillow's save options passed on)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def band_of_rows(rows: list[tuple[int, int, int]], along: int = 100) -> np.ndarray:
    """(rows from the edge inward, along, bands) uint8, each row one colour: a side's band
    as digitnet.border's edge lines and digitnet.frame's strips are read from."""
    return np.repeat(np.array(rows, np.uint8)[:, None], along, axis=1)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(png: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{b64(png)}"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, idat: bytes, *, bit_depth: int = 8,
            extra: tuple[bytes, ...] = ()) -> bytes:
    """A greyscale PNG written chunk by chunk, so its header can lie about its size."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + b"".join(extra)
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def drawn_digit(strokes: list[list[tuple[float, float]]], *, side: int = 280,
                width: int = 22, fmt: str = "PNG", mode: str = "RGBA") -> bytes:
    """Strokes (fractions of the side) drawn black on transparent, like the site's canvas."""
    background = (0, 0, 0, 0) if mode == "RGBA" else "white"
    image = Image.new(mode, (side, side), background)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line([(x * side, y * side) for x, y in stroke], fill="black", width=width,
                  joint="curve")
    return encode(image, fmt)


ONE = [[(0.5, 0.15), (0.5, 0.85)]]
SEVEN = [SEVEN_STROKE]  # the sample events' "7" (events/generate.py draws them)
ZERO = [[(0.5 + 0.22 * np.cos(t), 0.5 + 0.32 * np.sin(t))
         for t in np.linspace(0, 2 * np.pi, 40)]]


def pixels_of(strokes: list[list[tuple[float, float]]]) -> list[int]:
    """The strokes as MNIST-style 784 grey levels (light ink on black)."""
    image = Image.new("L", (28, 28), 0)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line([(x * 28, y * 28) for x, y in stroke], fill=255, width=3, joint="curve")
    return np.asarray(image).ravel().tolist()
