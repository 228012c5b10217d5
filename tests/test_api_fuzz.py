"""Fuzzing: every endpoint against its own OpenAPI schema, and arbitrary bytes as images.

No input may produce a 5xx, and every response must match the documented
status codes, content type and schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from api_helpers import SEVEN, api_client, app_module, b64, data_url, drawn_digit
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


@given(pixels=st.lists(st.integers(0, 255) | st.floats(0, 255), min_size=784, max_size=784))
@FUZZ
def test_any_valid_pixels_answer_or_say_empty(client, pixels):
    r = client.post("/predict", json={"pixels": pixels})
    if r.status_code == 422:
        assert r.json()["detail"][0]["type"] in ("empty_drawing", "no_digit")
    else:
        assert r.status_code == 200
        assert sum(r.json()["probabilities"]) == pytest.approx(1, abs=1e-6)
