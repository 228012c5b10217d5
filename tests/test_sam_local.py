"""`sam local start-api` for real: a Docker engine, the stand-in Lambda image, HTTP requests.

The public Lambda images cannot be pulled here, so the image comes from
tools/standin_image.py and is passed with `--invoke-image`. The test starts
its own `dockerd` (as root) under a temporary folder and stops it at the end;
without dockerd or root it skips and says why, except in CI (.ci/run), where
`make test` installs docker.io as root and a missing engine fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from conftest import skip_or_fail
from infra_helpers import BIN, built_app, sam_env
from server_helpers import free_port

from tools.lambda_fakes import event_body
from tools.standin_image import build_image

pytestmark = [pytest.mark.slow, pytest.mark.docker]
IMAGE = "digits-lambda:python3.12-standin"
DEV_ORIGIN = "http://localhost:8000"


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait_s: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def docker_host() -> Iterator[str]:
    """A private dockerd for this module; its socket as a DOCKER_HOST URL."""
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        skip_or_fail("no Docker engine (install Debian's docker.io: tools/system-deps.sh)")
    if os.geteuid() != 0:
        skip_or_fail("dockerd must be started as root here")
    home = Path(tempfile.mkdtemp(prefix="dkr-", dir="/tmp"))  # unix socket paths are short
    host = f"unix://{home}/docker.sock"
    log = (home / "dockerd.log").open("w")
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(home / "data"), "--exec-root", str(home / "exec"),
         "-H", host, "--pidfile", str(home / "dockerd.pid")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        env = {**os.environ, "DOCKER_HOST": host}
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "info"], env=env, capture_output=True).returncode:
            if proc.poll() is not None or time.monotonic() > deadline:
                skip_or_fail(f"dockerd did not start: {(home / 'dockerd.log').read_text()[-800:]}")
            time.sleep(0.5)
        yield host
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def api_url(docker_host) -> Iterator[str]:
    build_dir = built_app()
    env = sam_env(DOCKER_HOST=docker_host)
    build_image(IMAGE, [build_dir / "PredictFunction", build_dir / "DepsLayer"], env=env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(BIN / "sam"), "local", "start-api", "-t", str(build_dir / "template.yaml"),
        "--invoke-image", IMAGE, "--skip-pull-image", "--warm-containers", "EAGER",
        "-p", str(port),
        "--parameter-overrides", f"Architecture=x86_64 ExtraCorsOrigin={DEV_ORIGIN}",
    ]
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(command, cwd=build_dir, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until_serving(url, proc, log)
            yield url
        finally:
            _stop(proc, signal.SIGINT)  # SAM removes its containers on Ctrl-C


def wait_until_serving(url: str, proc: subprocess.Popen, log, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx2.options(url + "/health", timeout=2)
            return
        except httpx2.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"sam local start-api did not come up:\n{log.read()[-3000:]}")
            time.sleep(0.5)


def test_health(api_url):
    r = httpx2.get(api_url + "/health", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True
    head = httpx2.head(api_url + "/health", timeout=60)
    assert (head.status_code, head.content) == (200, b"")


@pytest.mark.parametrize("event", ["v2-predict-pixels", "v2-predict-image", "v2-predict-photo"])
def test_predict_returns_the_digit(api_url, event):
    r = httpx2.post(api_url + "/predict", json=event_body(event), timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 7  # events/ draw a "7"


def test_preflight_is_answered_for_an_allowed_origin_only(api_url):
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}
    ok = httpx2.options(api_url + "/predict", headers={"Origin": DEV_ORIGIN, **asked}, timeout=30)
    assert ok.status_code in (200, 204)
    assert ok.headers.get("access-control-allow-origin") == DEV_ORIGIN
    assert "POST" in ok.headers.get("access-control-allow-methods", "")
    other = httpx2.options(api_url + "/predict",
                           headers={"Origin": "https://evil.example", **asked}, timeout=30)
    # Absent, not just another value: "*" would let any page read the answers.
    assert "access-control-allow-origin" not in other.headers, dict(other.headers)


def test_an_answer_to_an_allowed_origin_carries_one_cors_header(api_url):
    """CORS in one place only: API Gateway's settings add the header, the app none (two
    Access-Control-Allow-Origin headers make a browser refuse the answer)."""
    r = httpx2.post(api_url + "/predict", json=event_body("v2-predict-pixels"),
                    headers={"Origin": DEV_ORIGIN}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers.get_list("access-control-allow-origin") == [DEV_ORIGIN]


def test_unrouted_path_is_refused(api_url):
    r = httpx2.get(api_url + "/not-a-route", timeout=30)
    assert r.status_code in (403, 404)
