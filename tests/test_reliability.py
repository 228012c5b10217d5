"""Abuse and concurrency: hostile inputs get a clear 4xx, never a 5xx; answers don't race.

The inputs here are the ones an attacker or a broken client sends (huge or deep
bodies, image bombs, lying headers, animated or degenerate images), not the
everyday validation rules the API's own tests cover. Each must be answered with
a 4xx whose JSON names the problem, and must not take the process down.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from api_helpers import (
    SEVEN,
    app_module,
    b64,
    copy_model,
    data_url,
    encode,
    event_body,
    invoke,
    load_event,
    pixels_of,
    png_chunk,
    raw_png,
    run_fresh,
)
from digitnet.imagefile import decode_image
from PIL import ExifTags, Image, ImageDraw
from test_preprocess import progressive_jpeg

# /health adds no metric; Powertools warns about that on every invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")

# ---------------------------------------------------------------- crafted inputs


def drawn(size: tuple[int, int] = (280, 280), fmt: str = "PNG", **save) -> bytes:
    """A '7'-ish dark stroke on white, as a canvas would export it."""
    w, h = size
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).line([(w * 0.2, h * 0.2), (w * 0.8, h * 0.2), (w * 0.4, h * 0.9)],
                             fill="black", width=max(1, min(w, h) // 10))
    return encode(img, fmt, **save)


def animated(fmt: str) -> bytes:
    frames = [Image.new("L", (64, 64), 0) for _ in range(3)]
    for i, frame in enumerate(frames):
        ImageDraw.Draw(frame).line([(10 + 10 * i, 5), (10 + 10 * i, 60)], fill=255, width=6)
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real 16x16 JPEG whose frame header claims another size."""
    data = bytearray(drawn((16, 16), fmt="JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


BLANK_ROWS = zlib.compress(b"\0" * 29 * 28)
IMAGE_BOMBS = {
    # 30000x30000 declared in a 100-byte file: must be refused from the header.
    "declared_30000x30000": raw_png(30000, 30000, zlib.compress(b"\0" * 1000), bit_depth=1),
    # 65535x65535 one-bit image whose pixel data inflates 1000:1.
    "zlib_bomb_idat": raw_png(65535, 65535, zlib.compress(b"\0" * 20_000_000, 9), bit_depth=1),
    # A 28x28 image carrying 50 MB of compressed text / colour profile (48 kB on the wire).
    "zlib_bomb_ztxt": raw_png(28, 28, BLANK_ROWS, extra=(
        png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * 50_000_000, 9)),)),
    "zlib_bomb_iccp": raw_png(28, 28, BLANK_ROWS, extra=(
        png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(b"\0" * 50_000_000, 9)),)),
    "jpeg_65500_square": jpeg_declaring(65500, 65500),
    "gif_65535_square": b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00"
    + b",\x00\x00\x00\x00" + struct.pack("<HH", 65535, 65535) + b"\x00\x02\x02D\x01\x00;",
}

PNG_END = png_chunk(b"IEND", b"")
ZTXT_1MB = png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * 1_000_000, 9))
IMAGE_BOMBS |= {
    # Read by load(), after the pixels: once a 422, "damaged PNG image".
    "zlib_bomb_ztxt_after_idat": drawn((64, 64))[:-len(PNG_END)] + png_chunk(
        b"zTXt", b"k\0\0" + zlib.compress(b"a" * 2_000_000, 9)) + PNG_END,
    # 70 chunks, each under Pillow's per-chunk limit, 70 MB together.
    "zlib_bomb_70_ztxt": drawn((64, 64))[:-len(PNG_END)] + ZTXT_1MB * 70 + PNG_END,
}


# Small on the wire, long to decode: each progressive scan is decoded over the whole
# picture (a 1 MB 4096x4096 JPEG of 2,529 scans took 18 s, past the function's timeout).
CPU_BOMBS = {
    "jpeg_2000_scans": progressive_jpeg(Image.open(io.BytesIO(drawn((64, 64)))).convert("RGB"),
                                        scans=2000),
}


def exif_rotated_with_a_mistyped_tag() -> bytes:
    """Orientation 6 beside a NewSubfileType stored as BYTE: Pillow's exif_transpose raises
    struct.error, TypeError or AttributeError on such files."""
    entries = [(0x0112, 3, struct.pack("<HH", 6, 0)), (0x00FE, 1, b"A\0\0\0")]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, 1) + value for tag, kind, value in entries) + b"\0" * 4
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd


STILL_GIF = encode(Image.new("L", (8, 8), 0), "GIF")  # ends with the ";" trailer
DAMAGED = {  # each was a 500: Pillow raised IndexError, struct.error, TypeError...
    "gif_trailer_cut_to_a_descriptor": STILL_GIF[:-1] + b",",
    "gif_trailer_cut_to_an_extension": STILL_GIF[:-1] + b"!",
    "gif_one_byte_graphic_control": STILL_GIF[:-1] + b"!\xf9\x01\x00",
    "png_empty_iccp_after_idat": encode(Image.new("L", (8, 8), 0), "PNG")[:-len(PNG_END)]
    + png_chunk(b"iCCP", b"") + PNG_END,
}

NOT_IMAGES = {
    "text": b"hello, I am not an image",
    "pdf": b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L9 9"/></svg>',
    "random": np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "png_signature_only": b"\x89PNG\r\n\x1a\n",
    "png_truncated": drawn()[:200],
    "png_bad_crc": drawn()[:30] + b"\xff\xff" + drawn()[32:],
    "bmp": drawn(fmt="BMP"),
    "tiff": drawn(fmt="TIFF"),
    "ico": drawn((64, 64), fmt="ICO"),
}


# ---------------------------------------------------------------- helpers


def assert_client_error(response, *statuses: int) -> str:
    """A 4xx (one of `statuses` if given) whose JSON body says what was wrong."""
    code = response.status_code
    assert 400 <= code < 500, f"expected a 4xx, got {code}: {response.text[:300]}"
    if statuses:
        assert code in statuses, f"expected {statuses}, got {code}: {response.text[:300]}"
    body = response.json()
    message = json.dumps(body.get("detail", body))
    assert len(message) > 10, f"no useful message in {body}"
    assert "Traceback" not in response.text
    return message


def post_raw(client, body: bytes | str, path: str = "/predict",
             content_type: str = "application/json"):
    return client.post(path, content=body, headers={"content-type": content_type})


# ---------------------------------------------------------------- sizes and shapes of bodies


def test_huge_pixel_list_is_refused(client):
    body = json.dumps({"pixels": [1] * 500_000})
    assert_client_error(post_raw(client, body), 413, 422)


@pytest.mark.parametrize("depth", [50, 5_000, 200_000])
def test_deeply_nested_json_is_4xx(client, depth):
    body = '{"pixels": ' + "[" * depth + "]" * depth + "}"
    assert_client_error(post_raw(client, body), 400, 413, 422)


def test_deeply_nested_batch_is_4xx(client):
    body = '{"items": [{"pixels": ' + "[" * 100_000 + "]" * 100_000 + "}]}"
    assert_client_error(post_raw(client, body, "/predict/batch"), 400, 413, 422)


@pytest.mark.parametrize("body", [
    b"null", b"42", b'"pixels"', b"{}" * 3, b'{"pixels": [0]}{"pixels": [0]}',
    b'{"pixels": "' + b"0," * 783 + b'0"}',
    b'{"pixels": {"0": 1}}',
    b'{"pixels": [' + b'"1",' * 783 + b'"1"]}',
    b'{"pixels": [' + b"true," * 783 + b"true]}",
    b'{"pixels": [' + b"[0]," * 783 + b"[0]]}",
    b'{"pixels": [' + b"null," * 783 + b"null]}",
    b'{"image": 12345}', b'{"image": ["aGVsbG8="]}', b'{"image": null}',
    b'{"image": {"$ref": "#"}}',
    b'{"pixels": [' + b"0," * 783 + b'0], "__proto__": {}}',
], ids=lambda b: b[:24].decode("latin-1"))
def test_wrong_types_and_broken_json_are_4xx(client, body):
    assert_client_error(post_raw(client, body), 400, 422)


def test_absurdly_long_number_is_4xx(client):
    """Python's int parser refuses over 4300 digits with a ValueError: must not become a 500."""
    body = b'{"pixels": [1' + b"0" * 10_000 + b"," + b"0," * 782 + b"0]}"
    assert_client_error(post_raw(client, body), 400, 422)


def test_a_content_length_in_other_scripts_digits_is_no_server_error():
    """'²' passes str.isdigit() but not int(): a 500 before. (API Gateway and uvicorn never
    pass such a header on; an ASGI server might.)"""
    body = json.dumps({"pixels": pixels_of(SEVEN)}).encode()
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/predict", "raw_path": b"/predict",
             "root_path": "", "query_string": b"", "client": ("test", 1), "server": ("test", 80),
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", "²".encode("latin-1"))]}
    asyncio.run(app_module().app(scope, receive, send))
    assert sent[0]["status"] == 200


def test_a_byte_order_mark_before_the_json_is_ignored(client):
    """Windows PowerShell 5.1 writes one; RFC 8259 lets a parser ignore it. A 422 before."""
    seven = json.dumps({"pixels": pixels_of(SEVEN)}).encode()
    r = post_raw(client, b"\xef\xbb\xbf" + seven)
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 7


def test_an_image_url_is_refused_saying_urls_are_not_fetched(client):
    r = client.post("/predict", json={"image": "https://example.com/seven.png"})
    assert "URLs are not fetched" in assert_client_error(r, 422)


def test_an_image_url_in_capitals_is_refused_saying_urls_are_not_fetched(client):
    """URL schemes are case-insensitive (QR codes often hold them in capitals): told that
    URLs are not fetched, not that the text is bad base64."""
    for url in ("HTTPS://EXAMPLE.COM/SEVEN.PNG", "Http://example.com/7.png"):
        r = client.post("/predict", json={"image": url})
        assert "URLs are not fetched" in assert_client_error(r, 422), url


def test_lying_content_type_is_read_as_json(client):
    """README: the body is parsed as JSON whatever its Content-Type (the site sends
    text/plain to skip a CORS preflight)."""
    seven = json.dumps({"pixels": pixels_of(SEVEN)})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "image/png", ""):
        r = post_raw(client, seven, content_type=content_type)
        assert r.status_code == 200, (content_type, r.status_code, r.text[:200])
        assert r.json()["digit"] == 7, content_type


# ---------------------------------------------------------------- images


def test_truncated_base64_is_422(client):
    encoded = b64(drawn())
    for broken in (encoded[: len(encoded) // 2 + 1], encoded[:-3], "data:image/png;base64,"
                   + encoded[:101], "data:image/png;base64", "%%%%", "A", "\u00e9\u00e9"):
        assert_client_error(client.post("/predict", json={"image": broken}), 422)


def test_base64_of_truncated_png_is_422(client):
    assert_client_error(client.post("/predict", json={"image": b64(drawn()[:-40])}), 422)


def test_lone_surrogate_in_image_is_4xx(client):
    assert_client_error(post_raw(client, b'{"image": "\\ud800\\udfff\\ud800"}'), 400, 422)


@pytest.mark.parametrize("name", sorted(IMAGE_BOMBS))
def test_image_bombs_are_refused(client, name):
    r = client.post("/predict", json={"image": b64(IMAGE_BOMBS[name])})
    assert "bomb" in assert_client_error(r, 413)


@pytest.mark.parametrize("name", sorted(CPU_BOMBS))
def test_images_slow_to_decode_are_refused_unread(client, name):
    r = client.post("/predict", json={"image": b64(CPU_BOMBS[name])})
    assert "progressive scans" in assert_client_error(r, 413)


@pytest.mark.parametrize("name", sorted(NOT_IMAGES))
def test_non_images_are_422(client, name):
    r = client.post("/predict", json={"image": b64(NOT_IMAGES[name])})
    assert "PNG" in assert_client_error(r, 422)  # says what is accepted, or what is damaged


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_damaged_images_are_422_whatever_pillow_raises(client, name):
    r = client.post("/predict", json={"image": b64(DAMAGED[name])})
    assert "damaged" in assert_client_error(r, 422)
    batch = client.post("/predict/batch", json={"items": [{"image": b64(DAMAGED[name])}]})
    assert "damaged" in assert_client_error(batch, 422)


# Each EXIF Orientation, and the turn that stores an upright picture so (its inverse).
STORED_TURNED = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                 4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
                 8: Image.Transpose.ROTATE_270}


def turned_photo(fmt: str, orientation: int, exif: bytes | None = None) -> bytes:
    """A 7 stored turned, with the EXIF Orientation that turns it back upright."""
    image = Image.open(io.BytesIO(drawn((128, 128), fmt="PNG"))).convert("RGB")
    turn = STORED_TURNED[orientation]
    stored = image if turn is None else image.transpose(turn)
    if exif is None:
        tags = Image.Exif()
        tags[ExifTags.Base.Orientation] = orientation
        exif = tags.tobytes()
    return encode(stored, fmt, exif=exif, quality=95)


def read_upright(data: bytes) -> bool:
    """Whether the photo's ink is the upright 7's (a turned 7 still reads as 7 at times)."""
    ink, upright = decode_image(data), decode_image(drawn((128, 128), fmt="PNG"))
    return bool(np.corrcoef(ink.ravel(), upright.ravel())[0, 1] > 0.9)


@pytest.mark.parametrize("orientation", sorted(STORED_TURNED))
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a_photo_is_read_upright_as_its_exif_says(fmt, orientation):
    assert read_upright(turned_photo(fmt, orientation))


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_exif_with_a_mistyped_tag_is_read_upright_by_its_orientation(client, fmt):
    """Once a 500 (Pillow's exif_transpose raises on the mistyped tag), then read as stored:
    the Orientation tag itself is fine, and it is all that is read."""
    data = turned_photo(fmt, 6, exif=exif_rotated_with_a_mistyped_tag())
    assert client.post("/predict", json={"image": b64(data)}).status_code == 200
    assert read_upright(data)


def test_exif_bigger_than_a_jpeg_holds_is_not_read():
    """Pillow reads every tag of it: 65,000 in a 786 KB WebP took 0.6 s (a batch of six,
    4 s). Over 64 KB, the picture is read as stored."""
    tags = [tag for tag in range(0x1000, 0x3000) if tag not in ExifTags.TAGS][:6000]
    entries = [struct.pack("<HHIHH", ExifTags.Base.Orientation, 3, 1, 6, 0)]
    entries += [struct.pack("<HHIHH", tag, 3, 1, 1, 0) for tag in tags]
    exif = b"II*\0" + struct.pack("<IH", 8, len(entries)) + b"".join(entries) + b"\0" * 4
    assert len(exif) > 65_535
    data = turned_photo("WEBP", 6, exif=exif)
    stored = Image.open(io.BytesIO(drawn((128, 128), fmt="PNG"))).transpose(STORED_TURNED[6])
    ink, as_stored = decode_image(data), decode_image(encode(stored))
    assert np.corrcoef(ink.ravel(), as_stored.ravel())[0, 1] > 0.9  # read, as stored
    assert not read_upright(data)


def test_only_the_orientation_is_read_from_the_exif(monkeypatch):
    """exif_transpose also rewrote the whole EXIF without its Orientation: 2 s for a 786 KB
    WebP holding 65,000 tags, 0.14 s for the 5,400 of a JPEG (71 in one batch: 10 s)."""
    data = turned_photo("WEBP", 6)

    def no_rewrite(*args: object) -> bytes:
        raise AssertionError("the EXIF was rewritten")

    monkeypatch.setattr(Image.Exif, "tobytes", no_rewrite)
    assert read_upright(data)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_images_are_422(client, fmt):
    message = assert_client_error(client.post("/predict", json={"image": b64(animated(fmt))}), 422)
    assert "animat" in message.lower()


@pytest.mark.parametrize(("size", "fmt"), [((1, 1), "PNG"), ((10000, 10), "PNG"),
                                           ((10, 10000), "PNG"), ((2, 3000), "PNG"),
                                           ((3000, 2), "JPEG"), ((1025, 1), "JPEG")])
def test_degenerate_sizes_answer_cleanly(client, size, fmt):
    """A digit or a clear 4xx (e.g. an empty drawing), never a crash or a hang."""
    r = client.post("/predict", json={"image": b64(drawn(size, fmt=fmt))})
    if r.status_code == 200:
        body = r.json()
        assert 0 <= body["digit"] <= 9
        assert len(body["input"]) == 784
    else:
        assert_client_error(r, 422)


def test_a_side_over_16384_is_refused_from_the_header(client):
    """1 x 16,777,216 is within the pixel limit, but decoding its rows took 1.2 s."""
    r = client.post("/predict", json={"image": b64(raw_png(1, 16_777_216, b""))})
    assert "at most 16384" in assert_client_error(r, 413)


def test_one_white_pixel_is_an_empty_drawing(client):
    r = client.post("/predict", json={"image": b64(drawn((1, 1)))})
    # one pixel is all border: no ink can be told from the background
    assert "empty" in assert_client_error(r, 422).lower()


def test_large_but_legal_image_is_answered(client):
    """4000x4000 (under the pixel limit), 15 kB compressed: decoded within the limits."""
    ink = np.zeros((4000, 4000), np.uint8)
    ink[1000:3000, 1900:2100] = 255
    rows = b"".join(b"\0" + row.tobytes() for row in ink)
    r = client.post("/predict", json={"image": b64(raw_png(4000, 4000, zlib.compress(rows, 9)))})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["digit"] == 1


# ---------------------------------------------------------------- batches


def test_batch_with_one_bomb_is_refused_whole(client):
    good = {"pixels": pixels_of(SEVEN)}  # each read alone: a 7
    items = [good, {"image": b64(IMAGE_BOMBS["declared_30000x30000"])}, good]
    r = client.post("/predict/batch", json={"items": items})
    assert_client_error(r, 413)
    [problem] = r.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["body", "items", 1, "image"],
                                                 "image_too_large")


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({"items": []}, ["body", "items"], "too_short"),
    ({"items": None}, ["body", "items"], "list_type"),
    ({"items": {"pixels": []}}, ["body", "items"], "list_type"),
    ({"items": [[]]}, ["body", "items", 0], "model_type"),
    ({}, ["body", "items"], "missing"),
    # a good item: the extra field alone is wrong
    ({"items": [{"pixels": pixels_of(SEVEN)}], "extra": 1}, ["body", "extra"], "extra_forbidden"),
], ids=["empty", "null", "object", "list-item", "no-items", "extra-field"])
def test_malformed_batches_are_422(client, body, loc, kind):
    r = client.post("/predict/batch", json=body)
    assert_client_error(r, 422)
    assert [(p["loc"], p["type"]) for p in r.json()["detail"]] == [(loc, kind)]


def test_method_and_path_abuse_is_4xx(client):
    for r in (client.get("/predict"), client.put("/predict/batch"),
              client.post("/predict/../../etc/passwd"), client.post("/%00")):
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code)


# ---------------------------------------------------------------- through the Lambda handler

HOSTILE_BODIES = {
    "image_bomb": json.dumps({"image": b64(IMAGE_BOMBS["declared_30000x30000"])}),
    "ztxt_bomb": json.dumps({"image": b64(IMAGE_BOMBS["zlib_bomb_ztxt"])}),
    "jpeg_scans_bomb": json.dumps({"image": b64(CPU_BOMBS["jpeg_2000_scans"])}),
    "deep_json": '{"pixels": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "pixels_as_string": '{"pixels": "' + "0," * 783 + '0"}',
    "not_json": "\x00\x01 not json",
    "animated_gif": json.dumps({"image": b64(animated("GIF"))}),
    "over_6_mib": '{"image": "' + "A" * (7 * 1024 * 1024) + '"}',
}


@pytest.mark.parametrize("event_name", ["v2-predict-pixels", "v1-predict-pixels"])
@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_hostile_bodies_via_handler_are_4xx(event_name, name):
    """As API Gateway delivers them (v2 HTTP API and v1 REST), raw or base64-flagged."""
    event = load_event(event_name)
    event["body"] = HOSTILE_BODIES[name]
    status, headers, body = invoke(event)
    assert 400 <= status < 500, (status, body[:300])
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["detail"]
    if name == "deep_json":  # the same bytes base64-encoded, as API Gateway does for binary
        event["body"] = b64(HOSTILE_BODIES[name].encode())
        event["isBase64Encoded"] = True
        assert 400 <= invoke(event)[0] < 500


def test_handler_without_body_is_422():
    event = load_event("v2-predict-pixels")
    event.pop("body")
    status, _, body = invoke(event)
    assert status == 422, body[:300]


# ---------------------------------------------------------------- concurrency


def _digit_bodies(n: int) -> list[dict]:
    """Different digits (pixels and canvas PNGs) so a mix-up between requests would show."""
    rng = np.random.default_rng(42)
    bodies: list[dict] = []
    for i in range(n):
        if i % 4 == 3:
            w = int(rng.integers(60, 400))
            bodies.append({"image": data_url(drawn((w, int(rng.integers(60, 400)))))})
            continue
        img = np.zeros((28, 28), np.uint8)  # a stroked box (a solid one is no digit)
        r0, c0 = rng.integers(2, 14, 2)
        r1, c1 = r0 + rng.integers(6, 14), c0 + rng.integers(2, 12)
        img[r0:r1, c0:c1] = rng.integers(128, 256)
        img[r0 + 2 : r1 - 2, c0 + 2 : c1 - 2] = 0
        bodies.append({"pixels": img.ravel().tolist(), "normalize": bool(i % 2)})
    return bodies


def test_concurrent_answers_equal_sequential_ones(client):
    bodies = _digit_bodies(48)
    sequential = [client.post("/predict", json=b).json() for b in bodies]
    with ThreadPoolExecutor(max_workers=12) as pool:
        concurrent = list(pool.map(lambda b: client.post("/predict", json=b).json(), bodies * 2))
    assert concurrent == sequential * 2
    assert len({json.dumps(s["probabilities"]) for s in sequential}) > 10


async def _post_all(port: int, bodies: list[bytes], connections: int) -> list[bytes]:
    """POST every body over `connections` keep-alive connections; answers in body order."""
    from tools.loadtest import build_request, read_response

    answers: list[bytes] = [b""] * len(bodies)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                writer.write(build_request("127.0.0.1", port, "/predict", bodies[i],
                                           "application/json"))
                status, answers[i], _ = await asyncio.wait_for(read_response(reader), 30)
                assert status == 200, answers[i][:200]
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return answers


@pytest.fixture(scope="module")
def server_port():
    from tools.loadtest import SERVE_COMMAND, local_server

    with local_server(SERVE_COMMAND) as port:
        yield port


def test_local_server_concurrent_equals_sequential(server_port):
    bodies = [json.dumps(b).encode() for b in _digit_bodies(64)]
    sequential = asyncio.run(_post_all(server_port, bodies, 1))
    concurrent = asyncio.run(_post_all(server_port, bodies, 32))
    assert [json.loads(a) for a in concurrent] == [json.loads(a) for a in sequential]


def test_local_server_under_load_has_no_errors(server_port):
    from tools.loadtest import run_load

    body = json.dumps(event_body("v2-predict-pixels")).encode()
    count = 500  # a count, not a rate: the duration only bounds a hung server
    result = run_load("127.0.0.1", server_port, "/predict", body, connections=32,
                      duration_s=300.0, max_requests=count)
    assert result.errors == 0, result.error_samples
    assert result.statuses == {200: count}


def test_local_server_refuses_huge_chunked_body(server_port):
    """No Content-Length to check up front: the limit must hold while streaming."""
    import socket

    chunk = b" " * 65536  # JSON whitespace: read whole, this body would be a 422
    with socket.create_connection(("127.0.0.1", server_port), timeout=30) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            sock.sendall(b'c\r\n{"pixels": [\r\n')
            for _ in range(160):  # 10 MB
                sock.sendall(b"10000\r\n" + chunk + b"\r\n")
            sock.sendall(b'2\r\n]}\r\n0\r\n\r\n')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once the limit is passed
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]


def test_local_server_refuses_huge_declared_length_before_reading(server_port):
    """A 100 MB Content-Length is refused from the header, without waiting for the body."""
    import socket

    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000000\r\n\r\n{")
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]


# ---------------------------------------------------------------- corrupted model


class _Exploit:
    """Unpickling this runs a shell command: a model file must never be unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _corrupt(directory: Path, how: str) -> None:
    weights, manifest_path = directory / "model.npz", directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if how == "missing_weights":
        weights.unlink()
    elif how == "truncated_manifest":
        manifest_path.write_text(manifest_path.read_text()[:50])
    elif how == "shape_lie":  # checksum still right, the architecture claims other shapes
        layer = next(layer for layer in manifest["architecture"] if layer.get("arrays"))
        name = next(iter(layer["arrays"]))
        layer["arrays"][name] = [d + 1 for d in layer["arrays"][name]]
        manifest_path.write_text(json.dumps(manifest))
    elif how == "pickled_weights":  # a malicious npz whose checksum the manifest vouches for
        with np.load(weights) as npz:
            arrays = {k: npz[k] for k in npz.files}
        first = next(iter(arrays))
        arrays[first] = np.array([_Exploit(directory / "PWNED")], dtype=object)
        with weights.open("wb") as fh:
            np.savez(fh, **arrays)
        manifest["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
        manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(("how", "clue"), [
    ("missing_weights", "model.npz"), ("truncated_manifest", "manifest"),
    ("shape_lie", "shape"), ("pickled_weights", "pickle"),
])
def test_corrupted_model_is_refused_at_start(tmp_path, how, clue):
    """A fresh interpreter's handler (the app loads its model at import) on a damaged copy."""
    model_dir = copy_model(tmp_path)
    _corrupt(model_dir, how)
    results, logs = run_fresh(model_dir, "v2-health", "v2-predict-pixels")
    (health_status, health), (predict_status, predict) = results
    assert (health_status, health["ok"]) == (503, False), results
    assert predict_status == 503, results
    assert "model unavailable" in predict["detail"]
    assert "digit" not in predict
    error = next((r for r in logs if r.get("level") == "ERROR"), None)
    assert error is not None, f"no error log: {logs}"
    assert clue in error["reason"].lower(), f"the error log does not name the {clue}: {error}"
    kind = error["reason"].partition(":")[0]
    assert health["reason"] == (f"the model could not be loaded ({kind}); "
                                "the function's log says why")  # no paths, no checksums
    assert predict["detail"] == f"model unavailable: {health['reason']}"
    assert not (model_dir / "PWNED").exists()
