"""The OpenAPI document, built from the schema models by reference.

The routes read raw bytes and write JSON text themselves (see app.py), so
FastAPI cannot infer their bodies; these helpers publish the same pydantic
models that validate the requests, without building response validators.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    Health,
    ModelCard,
    Prediction,
    PredictRequest,
)

# /docs runs Swagger UI from a CDN on the API's own origin: pinned to one release, and each
# file checked by the browser against its digest (FastAPI's default loads whatever
# `swagger-ui-dist@5` is today). To upgrade: `npm pack swagger-ui-dist@VERSION`, then
# `openssl dgst -sha384 -binary FILE | openssl base64 -A` for each file.
SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0"
SWAGGER_UI_DIGESTS = {
    "swagger-ui-bundle.js":
        "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
    "swagger-ui.css":
        "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
}
# The tab's icon inline, as the site's (static_site/index.html): FastAPI's default is fetched
# from fastapi.tiangolo.com, unpinned, on every visit.
FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E"
           "%3Crect width='32' height='32' rx='7' fill='%231d4ed8'/%3E%3Ctext x='16' y='24' "
           "font-size='22' font-family='sans-serif' font-weight='700' text-anchor='middle' "
           "fill='white'%3E7%3C/text%3E%3C/svg%3E")
# The page is the API's own HTML: no other site may frame it (clickjacking its Try it out).
DOCS_HEADERS = {"Content-Security-Policy": "frame-ancestors 'none'",
                "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}

ErrorDocs = dict[str, tuple[type[BaseModel], str]]
ERRORS: ErrorDocs = {
    "413": (ErrorResponse, "Body or image over a size limit"),
    "422": (ErrorResponse, "Invalid input: the field and the rule"),
    "503": (ErrorResponse, "The model is not loaded"),
}
DOCUMENTED_MODELS: list[type[BaseModel]] = [
    PredictRequest, BatchRequest, Prediction, BatchResponse, Health, ModelCard, ErrorResponse,
]


def operation(answer: type[BaseModel], errors: ErrorDocs, *,
              body: type[BaseModel] | None = None) -> dict[str, Any]:
    """An operation's `openapi_extra`, by reference to DOCUMENTED_MODELS.

    Not `response_model=`: that builds response validators at import (a cold
    start cost, pydantic.v1 included) for answers the app writes itself.
    """
    responses = {"200": {"description": "Successful Response", "content": _content(answer)}}
    responses |= {code: {"description": text, "content": _content(model)}
                  for code, (model, text) in errors.items()}
    extra: dict[str, Any] = {"responses": responses}
    if body is not None:
        extra["requestBody"] = {"required": True, "content": _content(body)}
    return extra


def _content(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def openapi_with_models(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi`, built on the first /openapi.json request (which the /docs page
    makes), not at cold start."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)  # caches it in app.openapi_schema
            _, defs = models_json_schema([(m, "validation") for m in DOCUMENTED_MODELS],
                                         ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        return app.openapi_schema
    return openapi


def docs_page(openapi_url: str, title: str) -> HTMLResponse:
    """FastAPI's Swagger UI page, with the pinned files and their integrity digests."""
    html = get_swagger_ui_html(
        openapi_url=openapi_url, title=title,
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url=FAVICON,
    ).body.decode()
    for name, digest in SWAGGER_UI_DIGESTS.items():
        url = f'"{SWAGGER_UI}/{name}"'
        if html.count(url) != 1:  # FastAPI changed its page: say so rather than load unchecked
            raise RuntimeError(f"Swagger UI page without exactly one {url}")
        html = html.replace(url, f'{url} integrity="{digest}" crossorigin="anonymous"')
    bundle_end = html.index("</script>", html.index("swagger-ui-bundle.js")) + len("</script>")
    return HTMLResponse(html[:bundle_end] + _fallback(openapi_url) + html[bundle_end:],
                        headers=DOCS_HEADERS)


def _fallback(openapi_url: str) -> str:
    """Offline, or with the CDN blocked, the page was blank: it says so, and where the schema
    is (only when Swagger UI did not load)."""
    url = json.dumps(openapi_url).replace("</", "<\\/")
    return f"""
    <script>
    if (!window.SwaggerUIBundle) {{
      const p = document.createElement("p"), a = document.createElement("a");
      a.href = a.textContent = {url};
      p.append("Swagger UI (from cdn.jsdelivr.net) did not load. The API's schema is at ", a);
      p.style.cssText = "font: 16px/1.5 system-ui, sans-serif; margin: 2rem";
      document.getElementById("swagger-ui").append(p);
    }}
    </script>"""
