"""Rebuild the API Gateway sample events: `sam local generate-event`, adapted to this API.

    .venv/bin/python events/generate.py

The HTTP API (v2) and REST (v1) proxy events come from SAM's generator; this
script points them at our routes and puts in bodies: a "7" drawn as 28x28
pixels, the same "7" as a 280x280 canvas PNG with a transparent
background (a bare canvas's `toDataURL()`: the site paints white paper under its
strokes, so it sends an opaque one; also written as seven.png), and as a JPEG
photo of paper lit from one side (an opaque image takes the photo and page code).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tools.sam_build import BIN, sam_env

HERE = Path(__file__).resolve().parent
# The "7", as fractions of the side; the tests draw theirs from this too (tests/api_helpers.py).
SEVEN = [(0.22, 0.22), (0.78, 0.22), (0.42, 0.82)]


def sam_event(kind: str) -> dict:
    out = subprocess.run([str(BIN / "sam"), "local", "generate-event", "apigateway", kind],
                         check=True, capture_output=True, text=True, env=sam_env()).stdout
    return json.loads(out)


def drawing(side: int, width: int, mode: str) -> Image.Image:
    """A "7": white ink on black in "L" mode, black ink on transparent in "RGBA"."""
    image = Image.new(mode, (side, side), 0 if mode == "L" else (0, 0, 0, 0))
    ink = 255 if mode == "L" else (0, 0, 0, 255)
    points = [(x * side, y * side) for x, y in SEVEN]
    ImageDraw.Draw(image).line(points, fill=ink, width=width, joint="curve")
    return image


def seven_pixels() -> list[int]:
    return np.asarray(drawing(28, 3, "L")).ravel().tolist()


def seven_png() -> bytes:
    """The canvas "7" as a file too (events/seven.png), for the README's curl example."""
    buffer = io.BytesIO()
    drawing(280, 24, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def seven_data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(seven_png()).decode()


def seven_photo_data_url() -> str:
    """The "7" in dark ink on paper lit from one side, as a phone's JPEG: the opaque path."""
    ink = np.asarray(drawing(280, 14, "L"), dtype=np.float32) / 255
    paper = np.linspace(150, 225, 280, dtype=np.float32)[None, :]  # brighter to the right
    grey = (paper * (1 - 0.75 * ink)).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey).convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def v2(template: dict, method: str, path: str, body: object | None = None, *,
       base64_body: bool = False) -> dict:
    event = json.loads(json.dumps(template))
    text = None if body is None else json.dumps(body, separators=(",", ":"))
    event.update(routeKey="$default", rawPath=path, rawQueryString="", cookies=[],
                 headers={"content-type": "application/json", "host": "id.execute-api"
                          ".us-east-1.amazonaws.com", "user-agent": "agent"},
                 queryStringParameters={}, pathParameters={}, isBase64Encoded=base64_body)
    event["requestContext"]["http"].update(method=method, path=path)
    if text is None:
        event.pop("body", None)
        event["headers"].pop("content-type")
    else:
        event["body"] = base64.b64encode(text.encode()).decode() if base64_body else text
    return event


def v1(template: dict, method: str, path: str, body: object | None = None) -> dict:
    event = json.loads(json.dumps(template))
    event.update(path=path, httpMethod=method, resource="/{proxy+}", isBase64Encoded=False,
                 pathParameters={"proxy": path.lstrip("/")}, queryStringParameters=None,
                 multiValueQueryStringParameters=None,
                 body=None if body is None else json.dumps(body, separators=(",", ":")))
    event["headers"]["Content-Type"] = "application/json"
    event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    event["requestContext"].update(httpMethod=method, path="/prod" + path)
    return event


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                            epilog="Writes events/*.json and events/seven.png.").parse_args()
    http, rest = sam_event("http-api-proxy"), sam_event("aws-proxy")
    pixels = {"pixels": seven_pixels()}
    image = {"image": seven_data_url()}
    events = {
        "v2-predict-pixels": v2(http, "POST", "/predict", pixels),
        "v2-predict-image": v2(http, "POST", "/predict", image),
        "v2-predict-photo": v2(http, "POST", "/predict", {"image": seven_photo_data_url()}),
        "v2-predict-base64-body": v2(http, "POST", "/predict", pixels, base64_body=True),
        "v2-predict-batch": v2(http, "POST", "/predict/batch", {"items": [pixels, image]}),
        "v2-predict-invalid": v2(http, "POST", "/predict", {"pixels": [0] * 3}),
        "v2-health": v2(http, "GET", "/health"),
        "v2-model": v2(http, "GET", "/model"),
        "v2-docs": v2(http, "GET", "/docs"),
        "v2-openapi": v2(http, "GET", "/openapi.json"),
        "v1-predict-pixels": v1(rest, "POST", "/predict", pixels),
        "v1-health": v1(rest, "GET", "/health"),
    }
    for name, event in events.items():
        (HERE / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")
        print(f"wrote events/{name}.json")
    (HERE / "seven.png").write_bytes(seven_png())
    print("wrote events/seven.png")


if __name__ == "__main__":
    main()
