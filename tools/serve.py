"""Local server: the Lambda's own FastAPI app, with `static_site/` at `/`, on one port."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from tools.paths import FUNCTION_DIR, ROOT, SHIPPED_MODEL

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import Receive, Scope, Send

SITE_DIR = ROOT / "static_site"
LOCAL_ENV = {
    # The site on any localhost port may call the API (deployed, API Gateway does CORS).
    "CORS_ALLOW_ORIGINS": "http://localhost:*,http://127.0.0.1:*,http://[::1]:*",
    "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines mean nothing outside Lambda
}


def import_lambda_module(model_dir: Path = SHIPPED_MODEL) -> ModuleType:
    """The predict Lambda's module (functions/predict/app.py), imported as Lambda imports it:
    settings from the environment, MODEL_DIR defaulting to `model_dir` (the Lambda reads
    /opt/model, where the model layer unzips). Shared by this server and tools.bench_api."""
    os.environ.setdefault("MODEL_DIR", str(model_dir))
    if str(FUNCTION_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTION_DIR))
    import app

    return app


def create_app() -> FastAPI:
    """Import the same app the Lambda runs and add the static site under it."""
    from fastapi.staticfiles import StaticFiles

    for key, value in LOCAL_ENV.items():
        os.environ.setdefault(key, value)
    app = import_lambda_module().app  # the Lambda's module: same code, same model files

    @app.get("/config.json", include_in_schema=False)
    async def site_config() -> dict[str, str]:
        """What the deploy writes beside the page; here the API is on the page's origin."""
        return {"apiUrl": ""}

    # The site answers what no API route matches (a mount at / would also take GET
    # /predict, a 404 there; as the router's default, a method a route refuses is a 405).
    site, not_found = StaticFiles(directory=SITE_DIR, html=True), app.router.default

    async def site_or_not_found(scope: Scope, receive: Receive, send: Send) -> None:
        """The site is read with GET and HEAD; a POST to a path no route takes (/predict/)
        is the API's 404, as deployed, not the files' 405."""
        reads = scope["type"] != "http" or scope["method"] in ("GET", "HEAD")
        await (site if reads else not_found)(scope, receive, send)

    app.router.default = site_or_not_found
    return app


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen there, said before the 'open ...' line (uvicorn
    would log it after, as a bare errno). Every address the host names is tried, as
    uvicorn binds them all (localhost: ::1 and 127.0.0.1)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"cannot listen on {host}: the name does not resolve ({exc.strerror or exc})."
    try:
        for family, kind, _, _, address in addresses:
            with socket.socket(family, kind) as probe:
                # As asyncio binds for uvicorn: address reuse, and IPv6 sockets IPv6-only.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                probe.bind(address)
    except OSError as exc:
        return (f"cannot listen on {host}:{port}: {exc.strerror or exc}. Another server may "
                f"hold the port: stop it, or pick another (make serve PORT={port + 1}).")
    return None


def browser_url(host: str, port: int) -> str:
    """The page's address for a browser on this machine: a server on every interface
    (0.0.0.0, ::) is not at http://0.0.0.0/; an IPv6 address goes in brackets."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tools.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                        help="a line per request (default; the load test turns it off)")
    args = parser.parse_args(argv)
    if problem := port_problem(args.host, args.port):
        raise SystemExit(problem)
    url = browser_url(args.host, args.port)
    print(f"Digit recognizer: open {url}  (API docs at {url}docs)", flush=True)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_config=_log_config(),
                log_level=None, access_log=args.access_log)


def _log_config() -> dict[str, Any]:
    """Uvicorn's default logging, its own lines at warning (its start-up lines say nothing
    the line above does not) and its access lines, when on, at info."""
    from uvicorn.config import LOGGING_CONFIG

    return {**LOGGING_CONFIG, "loggers": {**LOGGING_CONFIG["loggers"],
                                          "uvicorn.error": {"level": "WARNING"}}}


if __name__ == "__main__":
    main()
