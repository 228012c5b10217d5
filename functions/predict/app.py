"""The predict Lambda: a FastAPI app, `handler = Mangum(app)` under Powertools.

The model is loaded once, at import (the cold start). Request bodies are read
as bytes and validated by pydantic-core straight from JSON (request_body.py),
and answers are written as JSON text (prediction_json.py): FastAPI's default
body and response path costs more than the network's forward pass.
"""

from __future__ import annotations

import asyncio
import gc
import os

# One image is ~1.4 M multiply-adds: waking a BLAS thread pool costs more than it saves, and on
# a busy or small (Lambda) CPU it costs milliseconds. Batches lose at most 2x.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import re
from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np
import observability as obs
from api_docs import ERRORS, docs_page, openapi_with_models, operation
from api_errors import ApiError, UnexpectedErrorMiddleware
from digitnet.imagefile import MAX_EDGE, MAX_JPEG_SCANS
from digitnet.preprocess import PREPROCESS_VERSION
from fastapi import FastAPI, Request
from inference import ModelState
from inputs import batch_inputs, model_input
from mangum import Mangum
from request_body import parse_body
from schemas import (
    BATCH_ADAPTER,
    MAX_BATCH,
    MAX_BATCH_PIXELS,
    MAX_BODY_BYTES,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_SIDE,
    PREDICT_ADAPTER,
    BatchRequest,
    BatchResponse,
    Health,
    ModelCard,
    Prediction,
    PredictRequest,
)
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_MODEL_DIR = "/opt/model"
DESCRIPTION = f"""Recognise a handwritten digit: 784 MNIST-style pixels or an image of a drawing.

Errors: 422 names the field and the rule; 413 when the body is over
{MAX_BODY_BYTES / 2**20:g} MiB or an image is over {MAX_IMAGE_BYTES:,} bytes or
{MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels or {MAX_EDGE:,} on a side (decompression bombs
included) or a JPEG of over {MAX_JPEG_SCANS} scans, or a batch's images over
{MAX_BATCH_PIXELS:,} pixels in all; 503 when the model could not be loaded.
"""
BATCH_DESCRIPTION = f"""Up to {MAX_BATCH} items, predicted together; one bad item refuses
the whole batch (the error's loc names it, e.g. ["body", "items", 3, "pixels"])."""


def create_app(state: ModelState) -> FastAPI:
    app = FastAPI(
        title="Digit recognizer", version="1.0.0", description=DESCRIPTION,
        # /predict/ is a 404, not a 307 to a URL without the stage (behind API_ROOT_PATH).
        redirect_slashes=False,
        docs_url=None, redoc_url=None,  # /docs below, with pinned files; no /redoc
        telemetry={"tracing": False, "metrics": False, "logs": False},  # Powertools does these
    )
    _add_prediction_routes(app, state)
    _add_docs_route(app)
    _add_model_routes(app, state)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_middleware(UnexpectedErrorMiddleware, on_error=_log_unexpected_error)
    app.openapi = openapi_with_models(app)
    _add_local_cors(app, os.environ.get("CORS_ALLOW_ORIGINS", ""))
    return app


def _add_prediction_routes(app: FastAPI, state: ModelState) -> None:
    """/predict and /predict/batch: each reads its JSON body, predicts, and writes the
    answer as JSON text (request_body.py, prediction_json.py)."""

    @app.post("/predict", openapi_extra=operation(Prediction, ERRORS, body=PredictRequest))
    async def predict(request: Request) -> Response:
        """Which digit a drawing is: `pixels` (784 numbers, MNIST-style) or `image` (a PNG,
        JPEG, WebP or GIF, base64 or a data: URL). `input` is the 28x28 picture the
        network saw."""
        started = perf_counter()
        _require_model(state)
        item = await parse_body(request, PREDICT_ADAPTER)
        image = model_input(item)[None]
        probabilities = state.predict(image)
        body = state.encoder.encode(probabilities, image)[0]
        _record_predictions([_input_kind(item)], probabilities, started)
        return Response(body, media_type="application/json")

    @app.post("/predict/batch", description=BATCH_DESCRIPTION,
              openapi_extra=operation(BatchResponse, ERRORS, body=BatchRequest))
    async def predict_batch(request: Request) -> Response:
        started = perf_counter()
        _require_model(state)
        batch = await parse_body(request, BATCH_ADAPTER)
        images = batch_inputs(batch.items)
        probabilities = state.predict(images)
        body = b",".join(state.encoder.encode(probabilities, images))
        _record_predictions([_input_kind(item) for item in batch.items], probabilities, started)
        return Response(b'{"predictions":[' + body + b"]}", media_type="application/json")


def _require_model(state: ModelState) -> None:
    if not state.ok:
        raise ApiError(503, [], f"model unavailable: {state.public_reason}",
                       "model_unavailable")


def _input_kind(item: PredictRequest) -> str:
    """The item's kind in the metrics (InputPixels, InputImage)."""
    return "image" if item.pixels is None else "pixels"


def _record_predictions(kinds: list[str], probabilities: np.ndarray, started: float) -> None:
    digits = probabilities.argmax(axis=1).tolist()
    obs.record_predictions(kinds, digits, (perf_counter() - started) * 1000)


def _add_docs_route(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")  # a named stage's prefix
        return docs_page(root + (app.openapi_url or ""), f"{app.title} - Swagger UI")


def _add_model_routes(app: FastAPI, state: ModelState) -> None:
    """/health and /model: whether a model is loaded, and what it is."""

    @app.get("/health", openapi_extra=operation(Health, {"503": (Health, "No model loaded")}))
    async def health() -> Response:
        """Whether the model is loaded, and which one: 503 when it is not."""
        if not state.ok:
            return JSONResponse({"ok": False, "reason": state.public_reason}, 503)
        return JSONResponse({"ok": True, "model": state.ref(),
                              "preprocess_version": PREPROCESS_VERSION})

    @app.head("/health", include_in_schema=False)
    async def health_head() -> Response:
        """Uptime checkers ask with HEAD (UptimeRobot by default): GET's status and
        headers, no body (neither Starlette's Response nor Mangum drops it)."""
        answer = await health()
        return Response(status_code=answer.status_code, headers=dict(answer.headers))

    @app.get("/model", openapi_extra=operation(ModelCard, {"503": ERRORS["503"]}))
    async def model_card() -> Response:
        """The model's manifest (architecture, training, metrics) and its card's figures."""
        _require_model(state)
        assert state.model is not None
        return JSONResponse({**state.ref(), "manifest": state.model.manifest,
                              "card": state.card})


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    obs.record_error(exc.status)
    return exc.response()


async def _method_not_allowed(request: Request, _exc: Exception) -> Response:
    """A 405's Allow lists every method the path takes (RFC 9110): Starlette names only
    the first route's, so GET, not HEAD, for /health."""
    allowed = {method for route in request.app.router.routes if isinstance(route, Route)
               and route.matches(request.scope)[0] is Match.PARTIAL for method in route.methods}
    return JSONResponse({"detail": "Method Not Allowed"}, 405,
                        headers={"Allow": ", ".join(sorted(allowed))})


def _log_unexpected_error(scope: dict[str, Any]) -> None:
    """The stack trace goes to the logs (with the request ids), never to the client."""
    obs.logger.exception("unhandled error", extra={"path": scope.get("path")})
    obs.record_error(500)


def _add_local_cors(app: FastAPI, origins: str) -> None:
    """Local development only (CORS_ALLOW_ORIGINS, comma-separated; `:*` = any port).

    Deployed, the HTTP API answers CORS itself: configured in one place only,
    or browsers see the header twice and refuse.
    """
    allowed = [o.strip() for o in origins.split(",") if o.strip()]
    if not allowed:
        return
    pattern = "|".join(re.escape(o).replace(r":\*", r"(:\d+)?") for o in allowed)
    app.add_middleware(CORSMiddleware, allow_origin_regex=pattern,
                       allow_methods=["GET", "POST"], allow_headers=["content-type"], max_age=600)


def with_root_path(app: ASGIApp, root_path: str) -> ASGIApp:
    """Behind a named stage (e.g. /prod), so /docs links to /prod/openapi.json. The
    server's job (FastAPI's own `root_path=` is deprecated), and Mangum does not do it."""
    if not root_path:
        return app

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        scope["root_path"] = root_path
        await app(scope, receive, send)

    return asgi


def with_event_loop(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Mangum runs each request on the thread's event loop, made once at import; an
    `asyncio.run()` elsewhere in the process leaves none, so make one when it's gone."""
    def call(event: dict[str, Any], context: Any) -> Any:
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            asyncio.set_event_loop(asyncio.new_event_loop())
        return handler(event, context)
    return call


MODEL_DIR = os.environ.get("MODEL_DIR") or DEFAULT_MODEL_DIR
STATE = ModelState.load(MODEL_DIR)
if STATE.ok:
    obs.logger.info("model loaded", extra={"model": STATE.ref(), "model_dir": MODEL_DIR})
else:
    obs.logger.error("model unavailable: every prediction will answer 503",
                     extra={"reason": STATE.reason, "model_dir": MODEL_DIR})

ROOT_PATH = os.environ.get("API_ROOT_PATH", "").rstrip("/")  # only for a named stage
app = create_app(STATE)
handler = obs.instrument(with_event_loop(Mangum(
    with_root_path(app, ROOT_PATH), lifespan="off", api_gateway_base_path=ROOT_PATH or "/")))
# The ~60k objects made at import live as long as the process: keep the cyclic
# garbage collector's full passes (a few ms each, a p99 spike) to request garbage.
gc.freeze()
