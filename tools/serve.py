"""Local server: the Lambda's own FastAPI app, with `static_site/` at `/`, on one port."""

from __future__ import annotations

import argparse
import os
import sys

from tools.paths import ROOT, SHIPPED_MODEL

FUNCTION_DIR = ROOT / "functions" / "predict"
SITE_DIR = ROOT / "static_site"
LOCAL_ENV = {
    "MODEL_DIR": str(SHIPPED_MODEL),  # the Lambda reads /opt/model, where the layer unzips
    # The site on any localhost port may call the API (deployed, API Gateway does CORS).
    "CORS_ALLOW_ORIGINS": "http://localhost:*,http://127.0.0.1:*,http://[::1]:*",
    "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines mean nothing outside Lambda
}


def create_app():
    """Import the same app the Lambda runs and add the static site under it."""
    from fastapi.staticfiles import StaticFiles

    for key, value in LOCAL_ENV.items():
        os.environ.setdefault(key, value)

    if str(FUNCTION_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTION_DIR))
    from app import app  # the Lambda's module: same code, same model files

    app.mount("/", StaticFiles(directory=SITE_DIR, html=True), name="site")
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    url = f"http://{args.host}:{args.port}/"
    print(f"Digit recognizer: open {url}  (API docs at {url}docs)", flush=True)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
