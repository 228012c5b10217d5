"""The local server (`make serve`) answers over real HTTP: site at /, API beside it."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.serve", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.1)
        else:
            pytest.fail("local server did not start in 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_site_served_at_root(server_url):
    r = httpx.get(server_url + "/")
    assert r.status_code == 200
    assert "Digit recognizer" in r.text


def test_api_on_same_port(server_url):
    r = httpx.get(server_url + "/health")
    assert r.status_code == 200
    assert "ok" in r.json()
