"""Where the repository keeps what the tools and tests share, so each path is spelled once."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "layers" / "model" / "model"  # the committed model the layer ships
EVENTS_DIR = ROOT / "events"  # API Gateway sample events (events/generate.py makes them)
FUNCTION_DIR = ROOT / "functions" / "predict"  # the predict Lambda's code (app.py)
SAM_BUILD_DIR = ROOT / ".aws-sam" / "build"  # where a plain `sam build` (`make build`) writes
