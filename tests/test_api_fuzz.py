"""Fuzzing: every endpoint against its own OpenAPI schema, arbitrary bytes as images,
valid images of every format, mode and kind of content (valid_images), arbitrary pixels,
and random pen strokes.

No input may produce a 5xx, and every response must match the documented
status codes, content type and schema; strokes that span a digit's size are answered.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import schemathesis
from api_helpers import SEVEN, api_client, app_module, b64, data_url, drawn_digit, pixels_of
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from valid_images import valid_images

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")

schema = schemathesis.openapi.from_asgi("/openapi.json", app_module().app)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
def test_every_endpoint_conforms_to_its_schema(case):
    case.call_and_validate(checks=CHECKS)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """conftest's client, but a server error raises: a fuzzed 5xx shows its traceback."""
    with api_client(raise_server_exceptions=True) as c:
        yield c


PNG = drawn_digit(SEVEN, side=64, width=6)


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, or a real PNG cut short or with bytes flipped."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=2048))
    if kind == "truncated":
        return PNG[: draw(st.integers(1, len(PNG) - 1))]
    data = bytearray(PNG)
    for i in draw(st.lists(st.integers(0, len(PNG) - 1), min_size=1, max_size=8)):
        data[i] ^= draw(st.integers(1, 255))
    return bytes(data)


@given(data=image_bytes(), as_data_url=st.booleans(), normalize=st.booleans())
@FUZZ
def test_damaged_images_are_4xx_never_5xx(client, data, as_data_url, normalize):
    body = {"image": data_url(data) if as_data_url else b64(data), "normalize": normalize}
    r = client.post("/predict", json=body)
    assert r.status_code in (200, 413, 422), r.text
    if r.status_code != 200:
        assert r.json()["detail"][0]["loc"] == ["body", "image"]


@given(example=valid_images(), as_data_url=st.booleans(), normalize=st.booleans())
@settings(FUZZ, max_examples=60)
def test_valid_images_of_every_kind_are_answered_or_refused_never_5xx(
        client, example, as_data_url, normalize):
    """Decodable images through the photo and page heuristics (frame, paper, lighting,
    table, bands, ruled lines): a 200 whose probabilities sum to 1, or a 413/422 naming
    the image. `example` is the recipe (printed on failure) and the file's bytes. A
    campaign of 50,000 random examples of this strategy, half of them after sizes over
    MAX_SIDE and alpha rings were added, found no 5xx; reading the code for what it missed
    found one (test_see_through's border more opaque than any pixel once reduced)."""
    _, data = example
    body = {"image": data_url(data) if as_data_url else b64(data), "normalize": normalize}
    r = client.post("/predict", json=body)
    assert r.status_code in (200, 413, 422), r.text
    if r.status_code == 200:
        assert sum(r.json()["probabilities"]) == pytest.approx(1, abs=1e-6)
    else:
        assert r.json()["detail"][0]["loc"] == ["body", "image"]


@given(pixels=st.lists(st.integers(0, 255) | st.floats(0, 255), min_size=784, max_size=784))
@FUZZ
def test_any_valid_pixels_answer_or_say_empty(client, pixels):
    r = client.post("/predict", json={"pixels": pixels})
    if r.status_code == 422:
        assert r.json()["detail"][0]["type"] in ("empty_drawing", "no_digit")
    else:
        assert r.status_code == 200
        assert sum(r.json()["probabilities"]) == pytest.approx(1, abs=1e-6)


def extent(strokes: list[list[tuple[float, float]]]) -> tuple[float, float]:
    """How wide and how high the strokes' points reach, as shares of the field."""
    xs, ys = zip(*(point for stroke in strokes for point in stroke), strict=True)
    return max(xs) - min(xs), max(ys) - min(ys)


def spans_a_digit(strokes: list[list[tuple[float, float]]]) -> bool:
    """Ink at least 0.3 of the field across (8 of 28 pixels): shorter is a speck, no_digit."""
    return max(extent(strokes)) >= 0.3


def no_dot_or_dash(strokes: list[list[tuple[float, float]]]) -> bool:
    """Every stroke goes some way down (6 of 28 pixels): a dot is a speck, left out, and a
    dash (ink filling a box 1.5 times as wide as high) is no digit; and the drawing is 0.7
    as high as wide or more: a straight stroke under 30 degrees from level is no digit."""
    width, height = extent(strokes)
    return all(extent([s])[1] >= 0.2 for s in strokes) and height >= 0.7 * width


COORD = st.floats(0.1, 0.9)
STROKES = st.lists(st.lists(st.tuples(COORD, COORD), min_size=2, max_size=6),
                   min_size=1, max_size=3).filter(spans_a_digit).filter(no_dot_or_dash)


@given(strokes=STROKES)
@FUZZ
def test_drawn_strokes_are_answered_with_a_consistent_prediction(client, strokes):
    """Arbitrary pixels are mostly refused (no digit's shape): pen strokes reach the model.
    (4,500 random examples of this strategy, dots and dashes not yet left out, were all
    answered before dashes were refused.)"""
    r = client.post("/predict", json={"pixels": pixels_of(strokes)})
    assert r.status_code == 200, r.text
    answer = r.json()
    probabilities = answer["probabilities"]
    assert len(probabilities) == 10
    assert sum(probabilities) == pytest.approx(1, abs=1e-6)
    assert answer["digit"] == int(np.argmax(probabilities))
    assert answer["confidence"] == max(probabilities)
    assert len(answer["input"]) == 784
    assert all(isinstance(v, int) and 0 <= v <= 255 for v in answer["input"])
    assert max(answer["input"]) > 0  # the model saw the ink
