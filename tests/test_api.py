"""The predict API through FastAPI's TestClient: answers, errors, limits, CORS."""

from __future__ import annotations

import asyncio
import base64
import gzip
import itertools
import json
import re
import string
import tracemalloc

import numpy as np
import pytest
from api_helpers import (
    MANIFEST,
    ONE,
    SEVEN,
    SHIPPED_MODEL,
    ZERO,
    app_module,
    b64,
    copy_model,
    data_url,
    drawn_digit,
    encode,
    pixels_of,
)
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageOps

from tools.paths import ROOT

# /health adds no metric; Powertools warns about that on every invocation.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")


def assert_prediction(answer: dict, digit: int | None = None) -> None:
    assert set(answer) == {"digit", "confidence", "probabilities", "model", "input"}
    probabilities = answer["probabilities"]
    assert len(probabilities) == 10
    assert all(0 <= p <= 1 for p in probabilities)
    assert sum(probabilities) == pytest.approx(1, abs=1e-6)
    assert answer["digit"] == int(np.argmax(probabilities))
    assert answer["confidence"] == max(probabilities)
    assert answer["model"] == {"name": MANIFEST["name"], "version": MANIFEST["version"]}
    assert len(answer["input"]) == 784
    assert all(isinstance(v, int) and 0 <= v <= 255 for v in answer["input"])
    if digit is not None:
        assert answer["digit"] == digit, answer["probabilities"]


def test_health_names_the_shipped_model(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["ok"] is True
    assert r.json()["model"] == {"name": MANIFEST["name"], "version": MANIFEST["version"]}


def test_head_health_answers_like_get_without_a_body(client):
    """Uptime checkers ask with HEAD (UptimeRobot by default): a 405 reads as "down"."""
    get, head = client.get("/health"), client.head("/health")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == "application/json"


def test_a_405_lists_every_method_the_path_takes(client):
    """RFC 9110: Allow names all of them, HEAD /health's route included (not only the first)."""
    for path, allowed in [("/health", "GET, HEAD"), ("/model", "GET"), ("/predict", "POST"),
                          ("/predict/batch", "POST"), ("/openapi.json", "GET, HEAD")]:
        r = client.delete(path)
        assert (r.status_code, r.headers["allow"]) == (405, allowed), path
        assert r.json() == {"detail": "Method Not Allowed"}


@pytest.fixture
def client_without_model():
    """The app as it starts when the weights could not be loaded (an OSError)."""
    from inference import ModelState

    with TestClient(app_module().create_app(ModelState(None, "OSError: gone"))) as c:
        yield c


def test_head_health_is_503_without_a_model(client_without_model):
    r = client_without_model.head("/health")
    assert (r.status_code, r.content) == (503, b"")


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_predictions_are_503_without_a_model(client_without_model, path):
    """A batch too is told the model is unavailable (the kind of failure, no path), not
    answered a 500 when the missing model is reached."""
    item = {"pixels": pixels_of(SEVEN)}
    body = item if path == "/predict" else {"items": [item, item]}
    r = client_without_model.post(path, json=body)
    assert r.status_code == 503, r.text
    assert r.json() == {"detail": "model unavailable: the model could not be loaded (OSError); "
                                  "the function's log says why"}


def test_health_is_503_with_weights_that_answer_nan(tmp_path):
    """One NaN weight, its checksum re-computed by whoever wrote it: /health said ok while
    every /predict was a 500 (the probabilities are not finite)."""
    from digitnet.modelfile import npz_bytes, sha256_hex
    from inference import ModelState

    model = copy_model(tmp_path)
    with np.load(model / "model.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["0.W"].flat[0] = np.nan
    (model / "model.npz").write_bytes(data := npz_bytes(arrays))
    manifest = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps({**manifest,
                                                     "weights_sha256": sha256_hex(data)}))
    app = app_module().create_app(ModelState.load(model))
    with TestClient(app, raise_server_exceptions=False) as c:
        health, predict = c.get("/health"), c.post("/predict", json={"pixels": pixels_of(SEVEN)})
    assert (health.status_code, health.json()["ok"]) == (503, False), health.text
    assert "(ModelFileError)" in health.json()["reason"]
    assert predict.status_code == 503, predict.text


@pytest.mark.parametrize(("strokes", "digit"), [(ONE, 1), (SEVEN, 7), (ZERO, 0)])
def test_pixels_are_recognised(client, strokes, digit):
    r = client.post("/predict", json={"pixels": pixels_of(strokes)})
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), digit)


@pytest.mark.parametrize(("strokes", "digit"), [(ONE, 1), (SEVEN, 7), (ZERO, 0)])
def test_canvas_data_url_is_recognised(client, strokes, digit):
    r = client.post("/predict", json={"image": data_url(drawn_digit(strokes))})
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), digit)


@pytest.mark.parametrize(("strokes", "digit"), [(SEVEN, 7), (ZERO, 0)])
@pytest.mark.parametrize("width", [10, 22])
@pytest.mark.parametrize("at", [0.95, 0.05], ids=["under", "over"])
def test_a_digit_by_a_rule_across_the_page_is_read_without_it(client, strokes, digit, width,
                                                               at):
    """A rule across the page under or over the digit (it was read as another digit, at up
    to 0.996)."""
    rule = [(0.02, at), (0.98, at)]
    r = client.post("/predict", json={"image": data_url(drawn_digit([*strokes, rule],
                                                                    width=width))})
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), digit)


BOX = [(0.05, 0.05), (0.95, 0.05), (0.95, 0.95), (0.05, 0.95), (0.05, 0.05)]
RING = [(0.5 + 0.46 * np.cos(t), 0.5 + 0.46 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 60)]


@pytest.mark.parametrize(("strokes", "digit"), [(ONE, 1), (SEVEN, 7), (ZERO, 0)])
@pytest.mark.parametrize("around", [BOX, RING], ids=["box", "ring"])
def test_a_digit_in_a_box_or_a_ring_is_read(client, strokes, digit, around):
    """Drawn round the digit on the canvas: read as a 0 or an 8, or refused as blank."""
    r = client.post("/predict", json={"image": data_url(drawn_digit([*strokes, around],
                                                                    width=12))})
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), digit)


def test_data_url_scheme_and_media_type_in_any_case(client):
    url = data_url(drawn_digit(SEVEN))
    r = client.post("/predict", json={"image": "DATA:IMAGE/PNG;BASE64," + url.partition(",")[2]})
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), 7)


def test_a_trailing_slash_is_not_found_not_redirected(client):
    r = client.post("/predict/", json={"pixels": SEVEN_PIXELS}, follow_redirects=False)
    assert r.status_code == 404


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF", "PNG"])
def test_raw_base64_in_every_format(client, fmt):
    image = drawn_digit(SEVEN, fmt=fmt, mode="RGB")  # dark ink on white, no alpha
    r = client.post("/predict", json={"image": b64(image)})
    assert r.status_code == 200, r.text
    assert_prediction(r.json(), 7)


def spaced(data: bytes, every: int = 76) -> bytes:
    """Base64 in groups with spaces between."""
    text = base64.b64encode(data)
    return b" ".join(text[i : i + every] for i in range(0, len(text), every))


@pytest.mark.parametrize("encode_base64", [base64.encodebytes, base64.urlsafe_b64encode, spaced],
                         ids=["wrapped in lines", "url-safe", "spaced"])
def test_base64_as_other_tools_write_it_is_read(client, encode_base64):
    """GNU base64 and Python's encodebytes wrap lines; some write the URL-safe alphabet."""
    image = drawn_digit(SEVEN, mode="RGB")
    text = encode_base64(image).decode()
    assert text != b64(image)  # what the strict decoder refuses
    r = client.post("/predict", json={"image": text})
    assert r.status_code == 200, r.text
    assert r.json()["input"] == client.post("/predict", json={"image": b64(image)}).json()["input"]


def test_input_is_what_the_model_saw(client):
    pixels = pixels_of(SEVEN)
    raw = client.post("/predict", json={"pixels": pixels, "normalize": False}).json()
    assert raw["input"] == pixels  # unnormalised: exactly the pixels sent
    normalised = client.post("/predict", json={"pixels": pixels}).json()
    assert normalised["input"] != pixels  # default normalize=true: cropped, scaled, centred
    again = client.post("/predict", json={"pixels": normalised["input"], "normalize": False})
    assert again.json()["digit"] == normalised["digit"]
    fractional = [p * 0.8 + 0.6 if p else 0 for p in pixels]  # ink at levels like 204.6
    rounded = client.post("/predict", json={"pixels": fractional, "normalize": False}).json()
    assert any(p % 1 > 0.5 for p in fractional)
    assert rounded["input"] == [round(p) for p in fractional]  # nearest level, not cut off


def test_every_grey_level_is_echoed_in_the_input(client):
    """The encoder writes levels from a padded table and deletes the pad: each of 0..255
    comes back as it was sent, one to four digits, in every row of a batch."""
    levels = [i % 256 for i in range(784)]
    items = [{"pixels": pixels, "normalize": False} for pixels in (levels, levels[::-1])]
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 200, r.text
    assert [p["input"] for p in r.json()["predictions"]] == [levels, levels[::-1]]


def test_a_28x28_image_with_normalize_false_is_read_as_is(client):
    """normalize=false takes a 28x28 image pixel for pixel: its ink is the `input`, and the
    answer is the one its pixels get; in a batch too."""
    pixels = pixels_of(SEVEN)
    mnist_like = Image.fromarray(np.array(pixels, np.uint8).reshape(28, 28))  # light on black
    on_paper = ImageOps.invert(mnist_like)  # dark on white: ink is the distance from white
    as_pixels = client.post("/predict", json={"pixels": pixels, "normalize": False}).json()
    items = [{"image": b64(encode(image)), "normalize": False} for image in (mnist_like, on_paper)]
    for item in items:
        r = client.post("/predict", json=item)
        assert r.status_code == 200, r.text
        assert_prediction(r.json(), as_pixels["digit"])
        assert r.json()["input"] == pixels
        assert r.json()["probabilities"] == pytest.approx(as_pixels["probabilities"], abs=1e-6)
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 200, r.text
    assert [p["input"] for p in r.json()["predictions"]] == [pixels, pixels]


def test_normalize_false_keeps_a_28x28_image_whole(client):
    """A frame round a 28x28 image is not cut off when the caller vouches for its framing:
    it was refused as 'not 28x28' (the frame cut off first)."""
    pixels = np.array(pixels_of(SEVEN), np.uint8).reshape(28, 28)
    framed = Image.fromarray(255 - pixels)  # dark ink on white, then a grey frame
    ImageDraw.Draw(framed).rectangle([0, 0, 27, 27], outline=128, width=2)
    r = client.post("/predict", json={"image": b64(encode(framed)), "normalize": False})
    assert r.status_code == 200, r.text
    seen = np.array(r.json()["input"]).reshape(28, 28)
    assert ((seen > 127) == (pixels > 127)).all()  # the digit where it was, frame or not
    as_pixels = client.post("/predict", json={"pixels": pixels.ravel().tolist(),
                                              "normalize": False}).json()
    assert r.json()["digit"] == as_pixels["digit"]


def png(size: tuple[int, int], mode: str = "1") -> bytes:
    return encode(Image.new(mode, size))


def animated_gif() -> bytes:
    frames = [Image.new("L", (28, 28), c) for c in (0, 255)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:])



def test_a_batchs_images_share_a_pixel_budget(client, monkeypatch):
    """Decoding is the slow part of a batch: past its budget it is refused (413) naming the
    item, before that item is decoded, rather than running into the function's timeout."""
    import inputs

    seven = {"image": data_url(drawn_digit(SEVEN, side=280))}  # 78,400 pixels
    monkeypatch.setattr(inputs, "MAX_BATCH_PIXELS", 3 * 280 * 280)
    r = client.post("/predict/batch", json={"items": [seven] * 3})
    assert r.status_code == 200
    assert [p["digit"] for p in r.json()["predictions"]] == [7, 7, 7]
    pixels = {"pixels": pixels_of(SEVEN)}  # no image: spends nothing
    r = client.post("/predict/batch", json={"items": [seven, seven, pixels, seven, seven]})
    assert r.status_code == 413
    (error,) = r.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "items", 4, "image"], "batch_too_large")
    assert "235,200 pixels" in error["msg"]


def test_readme_states_the_batch_pixel_budget():
    """The README's figure and its examples are the constant, whatever it is set to."""
    from schemas import MAX_BATCH_PIXELS

    stated = re.search(r"over ([\d,]+) pixels in all, i\.e\. (\d+) of (\d+)x(\d+) or "
                       r"(\d+) of (\d+)x(\d+)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert stated, "README no longer states the batch's pixel budget"
    figure, *examples = stated.groups()
    assert int(figure.replace(",", "")) == MAX_BATCH_PIXELS
    for count, width, height in (examples[:3], examples[3:]):
        assert int(count) * int(width) * int(height) == MAX_BATCH_PIXELS


def test_a_batch_too_big_is_refused_before_any_image_is_decoded(client, monkeypatch):
    """From the headers alone: 16 huge images once cost seconds of decoding before the 413,
    and a blank first image answered empty_drawing instead."""
    import inputs

    decoded = []
    monkeypatch.setattr(inputs.imagefile, "decode_image",
                        lambda *args, **kwargs: decoded.append(1))
    monkeypatch.setattr(inputs, "MAX_BATCH_PIXELS", 2 * 280 * 280)
    seven = {"image": data_url(drawn_digit(SEVEN, side=280))}
    blank = {"image": data_url(drawn_digit([], side=280))}
    r = client.post("/predict/batch", json={"items": [blank, {"image": "%%"}, seven, seven]})
    assert r.status_code == 413
    (error,) = r.json()["detail"]
    assert (error["loc"], error["type"]) == (["body", "items", 3, "image"], "batch_too_large")
    assert decoded == []


def test_a_batch_of_photos_that_would_outlast_the_timeout_is_refused(client):
    """Images up to 1024 px are read whole: 256 framed 1024x1024 page-on-table photos took
    5.9 s here, 217 as 16-bit interlaced PNGs 9.3 s, within the budget of the time; 256
    ruled 512x512 pages 6.6 s within the next. 32 of 1024x1024 (2.7 s) are the most a
    batch holds now, and 256 canvas drawings still fit."""
    photo = {"image": data_url(drawn_digit(SEVEN, side=1024, mode="RGB"))}
    r = client.post("/predict/batch", json={"items": [photo] * 33})
    assert r.status_code == 413
    assert r.json()["detail"][0]["loc"] == ["body", "items", 32, "image"]
    canvas = {"image": data_url(drawn_digit(SEVEN))}  # 280x280, as the site sends
    assert client.post("/predict/batch", json={"items": [canvas] * 256}).status_code == 200


SEVEN_PIXELS = pixels_of(SEVEN)
CASES = {
    "short pixels": ({"pixels": [0] * 783}, ["body", "pixels"], "too_short"),
    "long pixels": ({"pixels": [0] * 785}, ["body", "pixels"], "too_long"),
    "pixel over 255": ({"pixels": [256, *SEVEN_PIXELS[1:]]}, ["body", "pixels", 0],
                       "less_than_equal"),
    "negative pixel": ({"pixels": [*SEVEN_PIXELS[:5], -1, *SEVEN_PIXELS[6:]]},
                       ["body", "pixels", 5], "greater_than_equal"),
    "string pixel": ({"pixels": ["3", *SEVEN_PIXELS[1:]]}, ["body", "pixels", 0], "float_type"),
    "boolean pixel": ({"pixels": [True, *SEVEN_PIXELS[1:]]}, ["body", "pixels", 0],
                      "float_type"),
    "both inputs": ({"pixels": SEVEN_PIXELS, "image": "AAAA"}, ["body"], "value_error"),
    "neither input": ({"normalize": True}, ["body"], "value_error"),
    "unknown field": ({"pixels": SEVEN_PIXELS, "pixel": 1}, ["body", "pixel"], "extra_forbidden"),
    "normalize not a bool": ({"pixels": SEVEN_PIXELS, "normalize": "yes"}, ["body", "normalize"],
                             "bool_type"),
    "blank pixels": ({"pixels": [0] * 784}, ["body", "pixels"], "empty_drawing"),
    "blank raw pixels": ({"pixels": [0] * 784, "normalize": False}, ["body", "pixels"],
                         "empty_drawing"),
    "ink everywhere": ({"pixels": [255] * 784}, ["body", "pixels"], "no_digit"),
    "raw ink everywhere": ({"pixels": [255] * 784, "normalize": False}, ["body", "pixels"],
                           "no_digit"),
    "a lone speck": ({"pixels": [0] * 400 + [200] + [0] * 383}, ["body", "pixels"], "no_digit"),
    "not base64": ({"image": "not base64!"}, ["body", "image"], "invalid_base64"),
    "base64 with a stray *": ({"image": "iVBORw0K\nGg*o"}, ["body", "image"], "invalid_base64"),
    "an image's base64 with a stray *": ({"image": "*" + b64(png((28, 28)))}, ["body", "image"],
                                         "invalid_base64"),
    "not an image": ({"image": b64(b"hello, world")}, ["body", "image"], "image_decode"),
    "unsupported format": ({"image": b64(_bmp := b"BM" + bytes(64))}, ["body", "image"],
                           "image_decode"),
    "animated gif": ({"image": b64(animated_gif())}, ["body", "image"], "image_decode"),
    "blank canvas": ({"image": data_url(png((280, 280), "RGBA"))}, ["body", "image"],
                     "empty_drawing"),
    "text data URL": ({"image": "data:text/plain;base64,aGVsbG8="}, ["body", "image"],
                      "invalid_data_url"),
    "data URL not base64": ({"image": "data:image/png,iVBORw0KGgo="}, ["body", "image"],
                            "invalid_data_url"),
    "raw canvas not 28x28": ({"image": data_url(drawn_digit(SEVEN)), "normalize": False},
                             ["body", "image"], "wrong_size"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_client_mistakes_are_422_naming_field_and_rule(client, case):
    body, loc, kind = CASES[case]
    r = client.post("/predict", json=body)
    assert r.status_code == 422, r.text
    assert {"loc": loc, "type": kind} in [
        {"loc": d["loc"], "type": d["type"]} for d in r.json()["detail"]
    ], r.json()
    assert all(d["msg"] for d in r.json()["detail"])


def test_an_image_refused_as_no_digit_says_what_helps(client):
    """A photo of a black square on white (a blob, no pen strokes): crop to the digit."""
    image = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(image).rectangle((60, 60, 220, 220), fill="black")
    r = client.post("/predict", json={"image": data_url(encode(image))})
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert (detail["loc"], detail["type"]) == (["body", "image"], "no_digit")
    assert "crop a photo to the digit" in detail["msg"]


SEVEN_LEVELS = np.array(pixels_of(SEVEN), dtype=float)


@pytest.mark.parametrize(("pixels", "normalize", "kind", "hint"), [
    ((SEVEN_LEVELS / 255).tolist(), True, "empty_drawing", "multiply 0..1 values by 255"),
    ((SEVEN_LEVELS / 255).tolist(), False, "empty_drawing", "multiply 0..1 values by 255"),
    ((255 - SEVEN_LEVELS).tolist(), True, "no_digit", "send 255 - level"),
    ((255 - SEVEN_LEVELS).tolist(), False, "no_digit", "send 255 - level"),
], ids=["levels scaled to 0..1", "levels scaled to 0..1, as they are", "dark ink on white",
        "dark ink on white, as it is"])
def test_pixels_refused_say_the_likely_mistake(client, pixels, normalize, kind, hint):
    """The two commonest ways to get MNIST pixels wrong are named, not just "empty"."""
    r = client.post("/predict", json={"pixels": pixels, "normalize": normalize})
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert (detail["loc"], detail["type"]) == (["body", "pixels"], kind)
    assert hint in detail["msg"]


def test_blank_pixels_get_no_hint(client):
    r = client.post("/predict", json={"pixels": [0] * 784})
    assert r.json()["detail"][0]["msg"] == "the drawing is empty: no ink found"


def test_faint_pixels_over_1_get_no_hint_to_scale_them(client):
    """The 0..1 hint is for levels all 1 or less: faint levels up to 2 are refused as
    blank, without telling the client they are all 1 or less."""
    faint = (SEVEN_LEVELS * 2 / 255).tolist()  # levels 0..2
    r = client.post("/predict", json={"pixels": faint})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["msg"] == "the drawing is empty: no ink found"


def test_rows_of_pixels_are_one_problem_saying_flatten(client):
    """numpy's .tolist() of a 28x28 image: one clear item, not 28 "not a number"."""
    rows = SEVEN_LEVELS.reshape(28, 28).tolist()
    r = client.post("/predict", json={"pixels": rows})
    assert r.status_code == 422
    (detail,) = r.json()["detail"]
    assert (detail["loc"], detail["type"]) == (["body", "pixels"], "pixels_not_flat")
    assert "ravel()" in detail["msg"]
    assert "[0.0" not in r.text  # inputs never echoed
    items = [{"pixels": SEVEN_LEVELS.tolist()}, {"pixels": rows}, {"pixels": rows}]
    batch = client.post("/predict/batch", json={"items": items}).json()["detail"]
    assert [(d["loc"], d["type"]) for d in batch] == [
        (["body", "items", i, "pixels"], "pixels_not_flat") for i in (1, 2)]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(client, token):
    body = '{"pixels": [' + token + ",0" * 783 + "]}"
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0] == {"loc": ["body", "pixels", 0],
                                     "msg": "Input should be a finite number",
                                     "type": "finite_number"}


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"pixels": [1,', b"\xff\xfe"])
def test_malformed_bodies_are_422(client, body):
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body"]


SEVEN_PNG = drawn_digit(SEVEN)


@pytest.mark.parametrize(("request_args", "hint"), [
    ({"content": SEVEN_PNG, "headers": {"content-type": "image/png"}},
     'the body is a PNG file, not JSON: send {"image": "<the file in base64>"}'),
    ({"content": SEVEN_PNG, "headers": {"content-type": "application/octet-stream"}},
     "the body is a PNG file"),
    ({"content": drawn_digit(SEVEN, fmt="WEBP"),
      "headers": {"content-type": "application/octet-stream"}}, "the body is a WebP file"),
    ({"content": b"\0\1", "headers": {"content-type": "image/heic"}},
     "the body is an image file"),
    ({"files": {"file": ("seven.png", SEVEN_PNG, "image/png")}},
     "the body is a file upload (curl -F, requests' files=), not JSON"),
    ({"data": {"image": "abc"}},
     "the body is form fields (curl -d k=v, requests' data=), not JSON"),
    ({"content": SEVEN_PNG.replace(b"\r", b"").replace(b"\n", b""),  # curl -d @a.png
      "headers": {"content-type": "application/x-www-form-urlencoded"}},
     'the body is a PNG file, not JSON'),
    ({"content": b" ", "headers": {"content-type": "application/json"}},
     'the body is empty: send {"pixels": [784 numbers]}'),
    ({"content": gzip.compress(b'{"pixels": []}'), "headers": {"content-encoding": "gzip"}},
     "the body is compressed (gzip): send the JSON uncompressed, with no Content-Encoding"),
    ({"content": gzip.compress(b'{"pixels": []}')}, "the body is compressed (gzip)"),
    ({"content": b"\x8b\x01\x02", "headers": {"content-encoding": "br"}},
     "the body is compressed (br)"),
    ({"content": b"\x8b\x01\x02", "headers": {"content-encoding": "x" * 8000}},  # cut short
     f"the body is compressed ({'x' * 63}\N{HORIZONTAL ELLIPSIS}): send the JSON"),
    ({"content": '{"pixels": [0]}'.encode("utf-16")},  # PowerShell 5.1's Out-File
     "the body is UTF-16 text (Windows PowerShell 5.1's Out-File and > write it): send it as "
     "UTF-8"),
    ({"content": b"\xfe\xff" + '{"pixels": [0]}'.encode("utf-16-be")}, "the body is UTF-16 text"),
], ids=["curl --data-binary @a.png", "as octet-stream", "a WebP as octet-stream", "image/heic",
        "files=", "data=", "curl -d @a.png", "empty", "gzip", "gzip unsaid", "brotli",
        "8,000-character encoding", "UTF-16", "UTF-16 big-endian"])
@pytest.mark.parametrize("route", ["/predict", "/predict/batch"])
def test_a_body_that_is_no_json_says_what_it_is(client, route, request_args, hint):
    """An image file posted as it is, or a form, is the usual first try: the 422 says so."""
    r = client.post(route, **request_args)
    assert r.status_code == 422
    (detail,) = r.json()["detail"]
    assert detail["type"] == "json_invalid"
    assert detail["msg"].startswith("Invalid JSON: ")
    assert hint in detail["msg"]


@pytest.mark.parametrize(("route", "body", "hint"), [
    ("/predict", b'[{"pixels": [0]}]', 'a list of them goes to POST /predict/batch as '
                                       '{"items": [...]}'),
    ("/predict", b'"seven"', 'send one object, {"pixels": [...]} or {"image": "..."}'),
    ("/predict/batch", b'[{"pixels": [0]}]', 'a batch is one object: {"items": [...]}'),
])
def test_json_that_is_no_object_says_what_each_route_takes(client, route, body, hint):
    r = client.post(route, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    (detail,) = r.json()["detail"]
    assert (detail["loc"], detail["type"]) == (["body"], "model_type")
    assert detail["msg"].startswith("Input should be an object: ")
    assert hint in detail["msg"]


@pytest.mark.parametrize("content_type", ["application/json",
                                          "application/x-www-form-urlencoded"])  # curl -d
def test_plain_bad_json_gets_no_guess(client, content_type):
    for encoding in ("", "utf-8"):  # Content-Encoding misused for a charset: still a typo
        r = client.post("/predict", content=b"{bad", headers={"content-type": content_type,
                                                              "content-encoding": encoding})
        msg = r.json()["detail"][0]["msg"]
        assert msg == "Invalid JSON: key must be a string at line 1 column 2", encoding


def test_an_unknown_fields_huge_name_is_not_echoed_whole(client, monkeypatch):
    """A 4 MB name, escaped to 8 MB in the answer, passed Lambda's 6 MB response limit (a
    5xx, the alarms); guessing the field meant from it took a second."""
    import validation_errors

    guessed = []
    monkeypatch.setattr(validation_errors.difflib, "get_close_matches",
                        lambda word, *args, **kwargs: guessed.append(len(word)) or [])
    r = client.post("/predict", content=b'{"' + b"\\" * 2_000_000 + b'": 1}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    (problem,) = r.json()["detail"]
    assert problem["type"] == "extra_forbidden"
    assert problem["msg"] == "Extra inputs are not permitted"
    assert guessed == []  # no field meant is looked for
    assert problem["loc"] == ["body", "\\" * 63 + "\N{HORIZONTAL ELLIPSIS}"]
    assert len(r.content) < 1000


@pytest.mark.parametrize(("length", "echoed"), [
    (64, "k" * 64), (65, "k" * 63 + "\N{HORIZONTAL ELLIPSIS}"),
])
def test_an_unknown_fields_name_is_echoed_whole_up_to_64_characters(client, length, echoed):
    """MAX_NAME characters are echoed back as sent; only a longer name is cut (to 63 and
    an ellipsis)."""
    r = client.post("/predict", json={"pixels": SEVEN_PIXELS, "k" * length: 1})
    assert r.status_code == 422
    (problem,) = r.json()["detail"]
    assert (problem["type"], problem["loc"]) == ("extra_forbidden", ["body", echoed])


@pytest.mark.parametrize(("route", "body", "loc", "hint"), [
    ("/predict", {"pixel": [0] * 784}, ["body", "pixel"], "did you mean 'pixels'?"),
    ("/predict", {"items": [{"image": "abc"}]}, ["body", "items"],
     "a batch's items go to POST /predict/batch"),
    ("/predict/batch", {"image": "abc"}, ["body", "image"],
     'one image goes to POST /predict; a batch is {"items": [...]}'),
    ("/predict/batch", {"items": [{"Image": "abc"}]}, ["body", "items", 0, "Image"],
     "did you mean 'image'?"),
    ("/predict/batch", {"items": [{"items": []}]}, ["body", "items", 0, "items"], None),
    ("/predict", {"pixels": [0] * 784, "normalise": False}, ["body", "normalise"],
     "did you mean 'normalize'?"),
    ("/predict", {"img": "abc"}, ["body", "img"], "did you mean 'image'?"),
], ids=["typo", "batch-to-single", "single-to-batch", "typo-in-item", "no-guess",
        "british-spelling", "abbreviated"])
def test_an_unknown_field_names_the_one_meant(client, route, body, loc, hint):
    r = client.post(route, json=body)
    assert r.status_code == 422
    problem = next(p for p in r.json()["detail"] if p["loc"] == loc)
    assert problem["type"] == "extra_forbidden"
    expected = "Extra inputs are not permitted"
    assert problem["msg"] == (f"{expected}: {hint}" if hint else expected)


def test_size_limits_are_413(client):
    from schemas import MAX_BODY_BYTES, MAX_IMAGE_BYTES

    for size in (MAX_IMAGE_BYTES + 1, MAX_IMAGE_BYTES + 3):  # +1: same base64 length as max
        r = client.post("/predict", json={"image": b64(bytes(size))})
        assert (r.status_code, r.json()["detail"][0]["type"]) == (413, "image_too_large")
        assert r.json()["detail"][0]["msg"] == (
            "image is larger than 1,000,000 bytes (base64-decoded): send it smaller, e.g. 1024 "
            "px on its longer side, or as a JPEG")
        jpeg = b"\xff\xd8\xff\xe0" + bytes(size - 4)  # already a JPEG: not told to send one
        for text in (b64(jpeg), spaced(jpeg, every=4).decode()):
            r = client.post("/predict", json={"image": text})
            assert r.json()["detail"][0]["msg"].endswith("e.g. 1024 px on its longer side")
    for encode_base64 in (b64, lambda data: spaced(data).decode(),
                          lambda data: base64.encodebytes(data).decode()):
        r = client.post("/predict", json={"image": encode_base64(bytes(MAX_IMAGE_BYTES))})
        error = r.json()["detail"][0]["type"]
        assert error == "image_decode", encode_base64  # at the limit: read, not refused
    # 5000x5000 pixels in a tiny file: refused from the header, before decoding.
    r = client.post("/predict", json={"image": b64(png((5000, 5000)))})
    assert (r.status_code, r.json()["detail"][0]["type"]) == (413, "image_too_large")
    assert "pixels" in r.json()["detail"][0]["msg"]
    r = client.post("/predict", content=b" " * (MAX_BODY_BYTES + 1))
    assert (r.status_code, r.json()["detail"][0]["type"]) == (413, "body_too_large")
    assert r.json()["detail"][0]["msg"] == "request body is larger than 6 MiB (6,291,456 bytes)"
    streamed = (b" " * 2**16 for _ in range(MAX_BODY_BYTES // 2**16 + 1))  # no Content-Length
    r = client.post("/predict", content=streamed)
    assert (r.status_code, r.json()["detail"][0]["type"]) == (413, "body_too_large")


def test_a_body_of_exactly_6_mib_is_read_not_refused(client):
    """413 is for a body larger than 6 MiB: one of exactly MAX_BODY_BYTES (a request padded
    with white space) is answered, whether its length is declared or streamed."""
    from schemas import MAX_BODY_BYTES

    body = json.dumps({"pixels": SEVEN_PIXELS}).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    r = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text[:200]
    streamed = (body[i : i + 2**16] for i in range(0, len(body), 2**16))  # no Content-Length
    r = client.post("/predict", content=streamed, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text[:200]
    assert_prediction(r.json(), 7)


def test_an_oversized_base64_text_is_refused_before_it_is_decoded(client, monkeypatch):
    """Base64 longer than an image of MAX_IMAGE_BYTES can be (white space apart) is a 413
    from its length alone: up to 6 MiB of text is not decoded only to be refused."""
    import inputs
    from schemas import MAX_IMAGE_BYTES

    decoded = []
    decode = inputs._decoded_base64
    monkeypatch.setattr(inputs, "_decoded_base64",
                        lambda text, loc: decoded.append(len(text)) or decode(text, loc))
    for text in (b64(bytes(MAX_IMAGE_BYTES + 3)), spaced(bytes(MAX_IMAGE_BYTES + 3)).decode()):
        r = client.post("/predict", json={"image": text})
        assert (r.status_code, r.json()["detail"][0]["type"]) == (413, "image_too_large")
    assert decoded == []
    r = client.post("/predict", json={"image": b64(bytes(MAX_IMAGE_BYTES))})  # at the limit
    assert r.json()["detail"][0]["type"] == "image_decode"
    assert decoded == [len(b64(bytes(MAX_IMAGE_BYTES)))]


@pytest.mark.parametrize("image", ["", "data:image/png;base64,"], ids=["raw", "data URL"])
def test_an_empty_image_is_422_saying_so(client, image):
    r = client.post("/predict", json={"image": image})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == [{"loc": ["body", "image"], "msg": "image is empty",
                                   "type": "image_decode"}]


def test_batch_matches_single_calls(client):
    items = [{"pixels": pixels_of(SEVEN)}, {"image": data_url(drawn_digit(ONE))},
             {"pixels": pixels_of(ZERO), "normalize": True}]
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert [p["digit"] for p in predictions] == [7, 1, 0]
    for item, batched in zip(items, predictions, strict=True):
        assert_prediction(batched)
        single = client.post("/predict", json=item).json()
        assert batched["input"] == single["input"]
        assert batched["probabilities"] == pytest.approx(single["probabilities"], abs=1e-5)


def test_probabilities_add_up_to_one_in_float64(client):
    """A float32 softmax's ten add up to 1 only within ~1e-7: the answer re-normalises them
    in float64, so a client summing them gets 1 to within rounding."""
    items = [{"pixels": pixels_of(strokes)} for strokes in (SEVEN, ONE, ZERO)]
    items += [{"image": data_url(drawn_digit(strokes))} for strokes in (SEVEN, ONE, ZERO)]
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 200, r.text
    for answer in r.json()["predictions"]:
        assert sum(answer["probabilities"]) == pytest.approx(1, abs=1e-14)


def test_batch_error_names_the_item(client):
    items = [{"pixels": SEVEN_PIXELS}] * 3 + [{"pixels": [0] * 784}, {"image": "%%"}]
    r = client.post("/predict/batch", json={"items": items})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "items", 3, "pixels"]
    too_short = [{"pixels": SEVEN_PIXELS}, {"pixels": [1]}]
    r = client.post("/predict/batch", json={"items": too_short})
    assert r.json()["detail"][0]["loc"] == ["body", "items", 1, "pixels"]


def test_twenty_problems_are_all_listed_with_no_count(client):
    pixels = ["0"] * 20 + [0] * 764
    detail = client.post("/predict", json={"pixels": pixels}).json()["detail"]
    assert len(detail) == 20
    assert all(item["type"] == "float_type" for item in detail)


def test_a_flood_of_problems_is_listed_in_part_and_counted(client):
    """256 items of 784 strings: 200,704 problems, once a 20 MB answer (Lambda caps 6 MB)."""
    r = client.post("/predict/batch", json={"items": [{"pixels": ["0"] * 784}] * 256})
    assert r.status_code == 422
    assert len(r.content) < 10_000
    *listed, rest = r.json()["detail"]
    assert len(listed) == 20
    assert listed[0] == {"loc": ["body", "items", 0, "pixels", 0], "type": "float_type",
                         "msg": listed[0]["msg"]}
    assert rest["type"] == "too_many_errors"
    assert "200,684 more" in rest["msg"]


def test_a_flood_of_unknown_fields_is_counted_without_reading_each(client):
    """300,000 unknown fields in 2.4 MB were as many Python dicts to list 20 of them (a 6 MB
    body: 780,000, 0.8 s and 420 MB more, 950 MB at peak); only the first are read now."""
    keys = ("".join(k) for k in itertools.product(string.ascii_letters + string.digits, repeat=4))
    body = "{" + ",".join(f'"{k}":0' for k in itertools.islice(keys, 300_000)) + "}"
    tracemalloc.start()
    try:
        r = client.post("/predict", content=body.encode())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.status_code == 422
    *listed, rest = r.json()["detail"]
    assert [p["loc"] for p in listed[:2]] == [["body", "aaaa"], ["body", "aaab"]]
    assert len(listed) == 20
    assert all(p["type"] == "extra_forbidden" for p in listed)
    assert rest["type"] == "too_many_errors"
    assert "and 299,980 more problems" in rest["msg"]
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB"


@pytest.mark.parametrize(("count", "kind"), [(0, "too_short"), (257, "too_long")])
def test_batch_size_is_1_to_256(client, count, kind):
    r = client.post("/predict/batch", json={"items": [{"pixels": SEVEN_PIXELS}] * count})
    assert r.status_code == 422
    assert r.json()["detail"][0] == {"loc": ["body", "items"], "type": kind,
                                     "msg": r.json()["detail"][0]["msg"]}


def test_model_card(client):
    r = client.get("/model")
    assert r.status_code == 200
    card = r.json()
    assert (card["name"], card["version"]) == (MANIFEST["name"], MANIFEST["version"])
    assert card["manifest"]["weights_sha256"] == MANIFEST["weights_sha256"]
    shipped_card = SHIPPED_MODEL / "MODEL_CARD.md"
    assert shipped_card.is_file(), "the shipped model must come with its MODEL_CARD.md"
    assert card["card"] == shipped_card.read_text(encoding="utf-8")


def test_openapi_documents_requests_and_responses(client):
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    pixels = components["PredictRequest"]["properties"]["pixels"]["anyOf"][0]
    assert (pixels["minItems"], pixels["maxItems"]) == (784, 784)
    assert pixels["items"]["maximum"] == 255
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/PredictRequest"}
    assert set(schema["paths"]["/predict"]["post"]["responses"]) >= {"200", "413", "422", "503"}
    assert client.get("/docs").status_code == 200


def test_openapi_documents_the_answers_ranges(client):
    """The answer is written as JSON text, not through the Prediction model: its schema is
    what a client generated from /openapi.json checks answers against, so it must state
    the ranges the answers keep (digit 0..9, ten probabilities, 784 levels 0..255)."""
    answer = client.get("/openapi.json").json()["components"]["schemas"]["Prediction"]
    fields = answer["properties"]
    assert (fields["digit"]["minimum"], fields["digit"]["maximum"]) == (0, 9)
    assert (fields["confidence"]["minimum"], fields["confidence"]["maximum"]) == (0, 1)
    probabilities, levels = fields["probabilities"], fields["input"]
    assert (probabilities["minItems"], probabilities["maxItems"]) == (10, 10)
    assert (probabilities["items"]["minimum"], probabilities["items"]["maximum"]) == (0, 1)
    assert (levels["minItems"], levels["maxItems"]) == (784, 784)
    assert (levels["items"]["minimum"], levels["items"]["maximum"]) == (0, 255)
    assert set(answer["required"]) == {"digit", "confidence", "probabilities", "model", "input"}


def test_openapi_describes_every_operation(client):
    """/docs shows what each route is for, not just its name."""
    paths = client.get("/openapi.json").json()["paths"]
    operations = [(path, verb, op) for path, verbs in paths.items() for verb, op in verbs.items()]
    assert {(path, verb) for path, verb, _ in operations} == {
        ("/predict", "post"), ("/predict/batch", "post"), ("/health", "get"), ("/model", "get")}
    for path, verb, op in operations:
        assert len(op.get("description", "")) > 20, (path, verb)


def test_docs_load_one_pinned_swagger_ui_release_checked_by_the_browser(client):
    """The page runs on the API's origin: no floating `@5`, and each file with its digest."""
    import re

    from api_docs import SWAGGER_UI_DIGESTS

    docs = client.get("/docs")
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert docs.headers["x-frame-options"] == "DENY"
    page = docs.text
    sources = re.findall(r'(?:src|href)="(https?://[^"]+)"([^>]*)>', page)
    assert len(sources) == len(SWAGGER_UI_DIGESTS) == 2  # nothing else fetched (the icon)
    for url, attributes in sources:
        assert url.startswith("https://cdn.jsdelivr.net/"), url
        assert re.search(r"@\d+\.\d+\.\d+/", url), url  # an exact release
        digest = SWAGGER_UI_DIGESTS[url.rsplit("/", 1)[1]]
        assert f'integrity="{digest}"' in attributes
        assert 'crossorigin="anonymous"' in attributes
    assert client.get("/redoc").status_code == 404  # its own floating CDN script


def test_unknown_route_is_404_json(client):
    r = client.get("/nope")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


def test_unexpected_error_is_500_without_trace(client, monkeypatch):
    app = app_module()

    def broken(images):
        raise RuntimeError("secret internals /var/task/app.py line 1")

    monkeypatch.setattr(app.STATE.model.network, "predict_proba", broken)
    r = client.post("/predict", json={"pixels": SEVEN_PIXELS})
    assert r.status_code == 500
    assert r.json() == {"detail": "Internal server error"}
    assert "secret" not in r.text
    assert "Traceback" not in r.text


def test_an_error_after_the_answer_started_is_raised_not_answered_again():
    """Once the status line is sent, a 500 cannot follow: the error is logged and raised
    (the server cuts the connection), and nothing more is sent."""
    from api_errors import UnexpectedErrorMiddleware

    async def answer_then_fail(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("after the status line")

    async def receive():
        return {"type": "http.request", "body": b""}

    sent, logged = [], []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": "/predict"}
    middleware = UnexpectedErrorMiddleware(answer_then_fail, on_error=logged.append)
    with pytest.raises(RuntimeError, match="after the status line"):
        asyncio.run(middleware(scope, receive, send))
    assert logged == [scope]
    assert [m["type"] for m in sent] == ["http.response.start"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize(("path", "body"), [
    ("/predict", {"pixels": SEVEN_PIXELS}),
    ("/predict/batch", {"items": [{"pixels": SEVEN_PIXELS}] * 3}),
])
def test_non_finite_probabilities_are_500_not_a_digit(client, monkeypatch, path, body, bad):
    """A numerically broken network (one bad row is enough) must not answer a digit."""

    def broken(images: np.ndarray) -> np.ndarray:
        probabilities = np.full((len(images), 10), 0.1)
        probabilities[-1, 3] = bad
        return probabilities

    monkeypatch.setattr(app_module().STATE.model.network, "predict_proba", broken)
    r = client.post(path, json=body)
    assert r.status_code == 500
    assert r.json() == {"detail": "Internal server error"}
    assert "digit" not in r.text
    assert "Traceback" not in r.text


def test_no_cors_headers_unless_configured(monkeypatch):
    """Deployed, API Gateway answers CORS: the app must not add a second set of headers."""
    app = app_module()
    monkeypatch.delenv("CORS_ALLOW_ORIGINS", raising=False)
    plain = TestClient(app.create_app(app.STATE))
    r = plain.post("/predict", json={"pixels": SEVEN_PIXELS},
                   headers={"Origin": "http://localhost:5173"})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://site.example, http://localhost:*")
    local = TestClient(app.create_app(app.STATE))
    for origin, allowed in [("https://site.example", True), ("http://localhost:3000", True),
                            ("https://site.example.evil", False), ("http://localhost", True),
                            ("https://site-example", False)]:  # "." is not a wildcard
        r = local.post("/predict", json={"pixels": SEVEN_PIXELS}, headers={"Origin": origin})
        assert (r.headers.get("access-control-allow-origin") == origin) is allowed, origin
    preflight = local.options("/predict", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]


def test_model_state_reasons(tmp_path):
    """Any damage leaves a reason and no model; a missing or unreadable card does not."""
    from inference import ModelState

    model = copy_model(tmp_path)
    assert ModelState.load(model).card  # the shipped card, read
    for card in (None, b"\xff\xfe not utf-8"):
        if card is None:
            (model / "MODEL_CARD.md").unlink()
        else:
            (model / "MODEL_CARD.md").write_bytes(card)
        state = ModelState.load(model)
        assert (state.ok, state.card, state.reason) == (True, None, None), card
    manifest = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps({**manifest, "preprocess_version": "old"}))
    state = ModelState.load(model)
    assert not state.ok
    assert "preprocessing 'old'" in state.reason
    (model / "manifest.json").write_text("{")
    assert "not valid JSON" in ModelState.load(model).reason


def test_chunked_forward_equals_one_pass():
    from digitnet.network import INFERENCE_CHUNK

    state = app_module().STATE
    images = np.random.default_rng(3).random((2 * INFERENCE_CHUNK + 5, 28, 28), dtype=np.float32)
    chunked = state.predict(images)
    assert chunked.shape == (len(images), 10)
    np.testing.assert_allclose(chunked, state.model.network.predict_proba(images, chunk=None),
                               atol=1e-6)
