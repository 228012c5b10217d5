"""The local server (`make serve`'s `python -m tools.serve`) as a test fixture."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tools.loadtest import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVE_CMD = [sys.executable, "-m", "tools.serve"]

__all__ = ["free_port", "local_server"]


@contextmanager
def local_server(port: int | None = None, env: dict[str, str] | None = None) -> Iterator[str]:
    """`python -m tools.serve` in a subprocess, ready when /health answers; yields its URL."""
    port = port or free_port()
    proc = subprocess.Popen(
        [*SERVE_CMD, "--port", str(port)],
        cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    raise RuntimeError(f"local server exited:\n{proc.stdout.read()}") from None
                time.sleep(0.1)
        else:
            raise RuntimeError("local server did not start in 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
