"""The local server (`make serve`) answers over real HTTP: site at /, API beside it."""

import os
import re
import shutil
import socket
import subprocess
import sys

import httpx2
import pytest
from api_helpers import ONE, SEVEN, data_url, drawn_digit, pixels_of
from conftest import skip_or_fail
from server_helpers import local_server

from tools.paths import ROOT


@pytest.fixture(scope="module")
def server_url():
    with local_server() as url:
        yield url


def test_site_served_at_root(server_url):
    r = httpx2.get(server_url + "/")
    assert r.status_code == 200
    assert "Digit recognizer" in r.text


def test_site_config_points_at_this_origin(server_url):
    """The deploy writes config.json; locally the server answers it (no 404 on each load)."""
    r = httpx2.get(f"{server_url}/config.json")
    assert r.status_code == 200
    assert r.json() == {"apiUrl": ""}


def test_api_on_same_port(server_url):
    r = httpx2.get(server_url + "/health")
    assert r.status_code == 200
    assert r.json()["ok"] is True  # tools/serve.py points MODEL_DIR at the shipped model
    head = httpx2.head(server_url + "/health")
    assert (head.status_code, head.content) == (200, b"")


def test_predict_over_http(server_url):
    r = httpx2.post(server_url + "/predict", json={"pixels": pixels_of(SEVEN)})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 7
    r = httpx2.post(server_url + "/predict", json={"image": data_url(drawn_digit(ONE))})
    assert r.json()["digit"] == 1
    r = httpx2.post(server_url + "/predict/batch",
                    json={"items": [{"pixels": pixels_of(SEVEN)}, {"image": data_url(
                        drawn_digit(ONE))}]})
    assert [p["digit"] for p in r.json()["predictions"]] == [7, 1]


def test_errors_over_http(server_url):
    r = httpx2.post(server_url + "/predict", json={"pixels": [1, 2, 3]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "pixels"]
    r = httpx2.post(server_url + "/predict", content=b"x" * (7 * 1024 * 1024))
    assert r.status_code == 413


def test_a_method_an_api_route_refuses_is_a_405_as_on_lambda(server_url):
    """GET /predict (an address typed in a browser) is refused as the Lambda's app refuses
    it, with the method it takes; the site still answers every other path."""
    for path in ("/predict", "/predict/batch"):
        r = httpx2.get(server_url + path)
        assert (r.status_code, r.headers["allow"]) == (405, "POST"), path
    script = httpx2.get(server_url + "/app.js")
    assert (script.status_code, script.text) == (200, (ROOT / "static_site/app.js").read_text())
    assert httpx2.get(server_url + "/no-such-page").status_code == 404


@pytest.mark.parametrize("path", ["/predict/", "/predict/batch/", "/nowhere", "/index.html"])
def test_a_post_to_a_path_no_route_takes_is_the_apis_404_as_deployed(server_url, path):
    """Not the site's 405 "Method Not Allowed", which says POST is wrong rather than the path."""
    r = httpx2.post(server_url + path, json={"pixels": pixels_of(SEVEN)})
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})


def test_docs_over_http(server_url):
    assert httpx2.get(server_url + "/docs").status_code == 200
    assert "/predict/batch" in httpx2.get(server_url + "/openapi.json").json()["paths"]


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:8000"])
def test_local_cors_allows_localhost(server_url, origin):
    r = httpx2.options(server_url + "/predict", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == origin
    r = httpx2.post(server_url + "/predict", json={"pixels": pixels_of(SEVEN)},
                    headers={"Origin": origin})
    assert r.headers["access-control-allow-origin"] == origin


def test_local_cors_refuses_other_origins(server_url):
    r = httpx2.options(server_url + "/predict", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = httpx2.post(server_url + "/predict", json={"pixels": pixels_of(SEVEN)},
                    headers={"Origin": "http://localhost.evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_every_address_of_a_host_name_is_checked(monkeypatch):
    """localhost is often ::1 then 127.0.0.1; uvicorn binds both, so both must be free."""
    from tools.serve import port_problem

    real = socket.getaddrinfo

    def ipv6_first(host, port, *args, **kwargs):
        v4 = real("127.0.0.1", port, *args, **kwargs)
        v6 = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]
        return v6 + v4 if socket.has_ipv6 else v4

    monkeypatch.setattr(socket, "getaddrinfo", ipv6_first)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert f"cannot listen on localhost:{port}" in port_problem("localhost", port)


def test_a_host_name_that_does_not_resolve_says_so():
    from tools.serve import port_problem

    problem = port_problem("no-such-host.invalid", 8000)
    assert problem.startswith("cannot listen on no-such-host.invalid: the name does not resolve")
    assert "PORT=" not in problem  # not a port problem


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8000/"), ("localhost", "http://localhost:8000/"),
    ("0.0.0.0", "http://127.0.0.1:8000/"), ("::", "http://127.0.0.1:8000/"),
    ("::1", "http://[::1]:8000/"),
])
def test_the_address_printed_opens_in_a_browser(host, url):
    from tools.serve import browser_url

    assert browser_url(host, 8000) == url


def test_a_port_in_use_is_one_clear_line_before_anything_else():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "tools.serve", "--port", str(port)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""  # no "open http://..." for a server that never listened
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert f"PORT={port + 1}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("flags", [(), ("--no-access-log",)])
def test_make_serve_logs_each_request_and_the_load_test_none(tmp_path, flags):
    """`make serve` shows who asked what (uvicorn's access line), and nothing of uvicorn's
    start-up chatter; the load test's server writes no line per request."""
    from tools.loadtest import SERVE_COMMAND
    from tools.loadtest import local_server as serve_command

    command = (*SERVE_COMMAND[:SERVE_COMMAND.index("--no-access-log")], *flags)
    log = tmp_path / "server.log"
    with serve_command(command, log_path=log) as port:
        httpx2.get(f"http://127.0.0.1:{port}/health")
        httpx2.post(f"http://127.0.0.1:{port}/predict", json={"pixels": [0]})
    text = log.read_text()
    assert text.startswith("Digit recognizer: open http://127.0.0.1:")
    assert "Started server process" not in text
    assert "Uvicorn running" not in text
    lines = ['"GET /health HTTP/1.1" 200', '"POST /predict HTTP/1.1" 422']
    assert all(line in text for line in lines) == (not flags), text


def test_the_readmes_python_client_works(server_url):
    """The README's standard-library example, as written, against the real server."""
    readme = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "def predict" in b]
    done = subprocess.run([sys.executable, "-c", block], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "API": server_url})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["7", "1.0"]
    broken = block.replace('open("events/seven.png", "rb")', 'open("README.md", "rb")')
    done = subprocess.run([sys.executable, "-c", broken], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "API": server_url})
    assert "ValueError: 422: [{'loc': ['body', 'image']" in done.stderr


def test_the_readmes_javascript_client_works(server_url, tmp_path):
    """The README's Node example, as written (an ES module), against the real server."""
    node = shutil.which("node")
    if node is None:
        skip_or_fail("node is not installed (tools/system-deps.sh installs nodejs)")
    readme = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```js\n(.*?)```", readme, re.S) if "function predict" in b]
    for source, expected in [(block, "7 1.000"),
                             (block.replace('"events/seven.png"', '"README.md"'), None)]:
        script = tmp_path / "client.mjs"
        script.write_text(source)
        done = subprocess.run([node, str(script)], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, env={**os.environ, "API": server_url})
        if expected:
            assert (done.returncode, done.stdout.strip()) == (0, expected), done.stderr
        else:  # a file that is no image: the 422's detail, naming the field
            assert done.returncode == 1
            assert 'Error: 422: [{"loc":["body","image"]' in done.stderr


def test_make_serve_listens_on_this_machine_only_by_default(monkeypatch):
    """The local server has no authentication: on 0.0.0.0 anyone on the network reaches it.
    Port 8000 is the one the README and ExtraCorsOrigin's example name."""
    from tools import serve

    done = subprocess.run(["make", "-n", "--no-print-directory", "serve"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (command,) = [line for line in done.stdout.splitlines() if "tools.serve" in line]
    assert command.endswith("-m tools.serve --host 127.0.0.1 --port 8000"), command
    seen = {}
    monkeypatch.setattr(serve, "port_problem",
                        lambda host, port: seen.update(host=host, port=port) or "stop here")
    with pytest.raises(SystemExit, match="stop here"):
        serve.main([])  # python -m tools.serve, as the README's other commands run it
    assert seen == {"host": "127.0.0.1", "port": 8000}
