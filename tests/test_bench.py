"""The bench machinery keeps working: load generator, package sizes, table and JSON.

These check structure and counting, never timings: figures must be positive
numbers where measured, whatever this machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import zipfile
from pathlib import Path

import pytest
from digitnet.preprocess import PREPROCESS_VERSION

from tools import bench, package_size
from tools.bench_model import multiply_adds
from tools.bench_report import Row, render_table
from tools.loadtest import LoadResult, run_load_async

# ---------------------------------------------------------------- load generator


async def _serve_and_load(statuses: list[int], chunked: bool, **load) -> LoadResult:
    """A tiny keep-alive HTTP server answering `statuses` in turn, loaded by the generator."""
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                status = statuses[served % len(statuses)]
                served += 1
                if chunked:
                    body = b"5\r\nhello\r\n3\r\n!!!\r\n0\r\n\r\n"
                    writer.write(f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 .encode() + body)
                else:
                    writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        return await run_load_async("127.0.0.1", port, "/predict", b'{"pixels": []}', **load)


@pytest.mark.parametrize("chunked", [False, True])
def test_load_generator_counts_requests_and_latency(chunked) -> None:
    result = asyncio.run(_serve_and_load([200], chunked, connections=4, duration_s=5,
                                         max_requests=200))
    assert result.requests == 200  # bounded by requests, long before the 5 s
    assert result.errors == 0
    assert result.statuses == {200: 200}
    assert result.throughput_rps > 0
    assert 0 < result.p50_ms <= result.p99_ms


def test_load_generator_counts_error_statuses() -> None:
    result = asyncio.run(_serve_and_load([200, 500, 200, 404], False, connections=2,
                                         duration_s=5, max_requests=100))
    assert result.requests == 100
    assert result.errors == 50
    assert result.statuses == {200: 50, 500: 25, 404: 25}
    assert result.error_samples


def test_load_generator_stops_at_its_duration() -> None:
    """Bounded in time as well as in requests: `make bench` and `python -m tools.loadtest`
    ask for a million requests and rely on the duration to stop."""
    started = time.monotonic()
    load = _serve_and_load([200], False, connections=2, duration_s=0.5, max_requests=10**9)
    result = asyncio.run(asyncio.wait_for(load, 10))  # a TimeoutError here: it never stopped
    assert time.monotonic() - started < 5
    assert 0 < result.requests < 10**9
    assert result.errors == 0


def test_load_generator_survives_a_dead_port() -> None:
    async def go() -> LoadResult:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return await run_load_async("127.0.0.1", port, "/", b"", connections=2,
                                    duration_s=30, max_requests=20, timeout_s=1)  # 20 decides

    result = asyncio.run(go())
    assert result.requests == 0
    assert result.errors == 20
    assert math.isnan(result.p99_ms)


# ---------------------------------------------------------------- package sizes


def fake_build(tmp_path: Path) -> Path:
    """A `.aws-sam/build` lookalike: a function, a layer, and a resource that isn't code."""
    build = tmp_path / "build"
    (build / "PredictFunction").mkdir(parents=True)
    (build / "PredictFunction" / "app.py").write_text("x = 1\n" * 2000)
    (build / "ModelLayer" / "python" / "digitnet").mkdir(parents=True)
    (build / "ModelLayer" / "python" / "digitnet" / "w.bin").write_bytes(bytes(50_000))
    (build / "SiteBucket").mkdir()
    (build / "template.yaml").write_text(
        "Resources:\n"
        "  PredictFunction:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: PredictFunction\n      Layers: [!Ref ModelLayer]\n"
        "  ModelLayer:\n    Type: AWS::Serverless::LayerVersion\n"
        "    Properties:\n      ContentUri: ModelLayer\n"
        "  SiteBucket:\n    Type: AWS::S3::Bucket\n"
        "    Properties:\n      BucketName: !Sub '${AWS::StackName}-site'\n"
    )
    return build


def test_package_sizes_of_a_build(tmp_path) -> None:
    sizes = {p.name: p for p in package_size.measure_build(fake_build(tmp_path))}
    assert set(sizes) == {"PredictFunction", "ModelLayer"}
    fn, layer = sizes["PredictFunction"], sizes["ModelLayer"]
    assert (fn.kind, layer.kind) == ("function", "layer")
    assert (fn.unzipped_bytes, fn.files) == (12_000, 1)
    assert (layer.unzipped_bytes, layer.files) == (50_000, 1)
    assert 0 < fn.zipped_bytes < fn.unzipped_bytes
    assert 0 < layer.zipped_bytes < layer.unzipped_bytes
    build = tmp_path / "build"
    assert package_size.function_layers(build) == {"PredictFunction": ["ModelLayer"]}
    assert package_size.deployed_bytes(list(sizes.values()), build) == {
        "PredictFunction": 62_000}


def test_zip_is_a_real_archive_of_every_file(tmp_path) -> None:
    build = fake_build(tmp_path)
    measured = package_size.measure_dir(build / "ModelLayer", "ModelLayer", "layer")
    out = tmp_path / "check.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(build / "ModelLayer" / "python" / "digitnet" / "w.bin", "python/digitnet/w.bin")
    assert measured.zipped_bytes == out.stat().st_size


# ---------------------------------------------------------------- table


def test_multiply_adds_of_each_layer_at_its_own_size() -> None:
    """The compute ceiling's count: output positions x weights for a conv (same padding,
    then halved by each pool), weights for a dense layer, nothing for the rest."""
    from digitnet.network import Network

    assert multiply_adds(Network.build("seed")) == 784 * 10 + 10 * 10
    cnn = Network.build("cnn", c1=4, c2=8, hidden=16, k1=5, k2=3)
    conv1, conv2 = 28 * 28 * (5 * 5 * 1 * 4), 14 * 14 * (3 * 3 * 4 * 8)
    assert multiply_adds(cnn) == conv1 + conv2 + 7 * 7 * 8 * 16 + 16 * 10
    assert multiply_adds(cnn.for_inference()) == multiply_adds(cnn)  # batch norm folded


def test_table_has_a_line_per_row_and_ratios() -> None:
    rows = [Row("a", "latency", "ms", 0.5, 1.0), Row("b", "size", "MB", 12.3),
            Row("c", "broken", "", None, better="", note="failed: x")]
    lines = render_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert len({len(line) for line in lines}) == 1  # aligned columns
    assert "0.50x" in lines[2]
    assert rows[0].ratio == 0.5
    assert rows[1].ratio is None
    assert "failed: x" in lines[4]


# ---------------------------------------------------------------- the whole bench, tiny


def test_quick_bench_produces_the_table_and_json(tmp_path, capsys, mnist_dir) -> None:
    out = tmp_path / "bench.json"
    code = bench.main(["--quick", "--data-dir", str(mnist_dir), "--json", str(out),
                       "--build-dir", str(fake_build(tmp_path)),
                       "--seed-model", str(tmp_path / "seed-model")])
    data = json.loads(out.read_text())
    assert data["failures"] == []
    assert code == 0
    assert data["quick"] is True
    assert {"arch", "cpus", "cpu_model"} <= data["machine"].keys()
    keys = {row["key"] for row in data["rows"]}
    assert {"mnist_test_accuracy", "mnist_test_ece", "canvas_accuracy", "load_throughput",
            "load_p99", "load_errors", "size_PredictFunction_deployed", "model_forward_median",
            "api_pixels_median", "api_cold_start", "api_batch_ceiling",
            "api_batch_parse_ceiling", "api_batch_floor_ceiling"} <= keys
    for row in data["rows"]:
        assert isinstance(row["value"], int | float), row
        assert row["value"] >= 0, row
        if row["key"] not in {"load_errors", "mnist_test_ece"}:
            assert row["value"] > 0, row
        if row["baseline"]:
            assert row["ratio"] == pytest.approx(row["value"] / row["baseline"]), row
    printed = capsys.readouterr().out
    assert data["table"] in printed
    assert len(data["table"].splitlines()) == 2 + len(data["rows"])



# ---------------------------------------------------------------- seed baseline


def _settings(tmp_path: Path, quick: bool) -> bench.Settings:
    return bench.Settings(data_dir=tmp_path / "mnist", quick=quick, build_dir=None,
                          shipped_model=tmp_path / "shipped", seed_model=tmp_path / "seed",
                          load_connections=1, load_seconds=1.0)


@pytest.mark.parametrize("status", [0, 1])
def test_a_tiny_seed_model_is_replaced_for_a_full_bench(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    """A quick run leaves a tiny baseline; a full bench must retrain over it (training
    refuses an occupied --out without --overwrite), and say so when training fails."""
    import training.cli

    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "manifest.json").write_text(json.dumps(
        {"training": {"tiny": True}, "preprocess_version": PREPROCESS_VERSION}))
    calls: list[list[str]] = []
    monkeypatch.setattr(training.cli, "main", lambda argv: calls.append(argv) or status)
    bench.ensure_seed_model(_settings(tmp_path, quick=True))
    assert calls == []  # a quick bench is content with a tiny baseline
    if status:
        with pytest.raises(RuntimeError, match="exit 1"):
            bench.ensure_seed_model(_settings(tmp_path, quick=False))
    else:
        bench.ensure_seed_model(_settings(tmp_path, quick=False))
    assert "--overwrite" in calls[0]
    assert "--tiny" not in calls[0]


@pytest.mark.parametrize("quick", [True, False])
def test_a_seed_model_for_another_preprocessing_is_retrained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick: bool) -> None:
    """After a preprocessing change, the baseline left in build/ is one load_model refuses:
    the bench trains a new one rather than failing three sections."""
    import training.cli

    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "manifest.json").write_text(json.dumps(
        {"training": {"tiny": quick}, "preprocess_version": "an-older-one"}))
    calls: list[list[str]] = []
    monkeypatch.setattr(training.cli, "main", lambda argv: calls.append(argv) or 0)
    bench.ensure_seed_model(_settings(tmp_path, quick=quick))
    assert len(calls) == 1
    assert "--overwrite" in calls[0]
    assert ("--tiny" in calls[0]) == quick
