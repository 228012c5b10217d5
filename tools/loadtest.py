"""Load generator for the local server: HTTP/1.1 keep-alive POSTs on loopback, pure asyncio.

Pure Python so `make bench` needs no root and no extra tool (wrk). Bounded both in
time and in requests, so a hung server cannot hang the caller. One process drives
all the connections; the server under test runs in another (see `local_server`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tools.lambda_fakes import event_body
from tools.paths import ROOT
from tools.timing import Timing


@dataclass(frozen=True)
class LoadResult:
    """What a load run saw. `errors` counts transport failures and non-2xx answers."""

    connections: int
    duration_s: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)

    @property
    def throughput_rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "throughput_rps": self.throughput_rps}


@dataclass
class _Tally:
    """Shared, single-threaded (asyncio) counters of one run."""

    deadline: float
    max_requests: int
    started: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def may_start(self) -> bool:
        if self.started >= self.max_requests or time.monotonic() >= self.deadline:
            return False
        self.started += 1
        return True

    def record_error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


def build_request(host: str, port: int, path: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one HTTP/1.1 response: (status, body, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close"


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _connection(host: str, port: int, request: bytes, tally: _Tally, timeout: float):
    """One keep-alive connection sending requests back to back; reconnects after a failure."""
    writer = None
    try:
        while tally.may_start():
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(host, port), timeout
                    )
                t0 = time.perf_counter()
                writer.write(request)
                status, _, keep = await asyncio.wait_for(read_response(reader), timeout)
                tally.latencies.append(time.perf_counter() - t0)
                tally.statuses[status] += 1
                if not 200 <= status < 300:
                    tally.record_error(f"HTTP {status}")
                if not keep:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                tally.record_error(f"{type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()


async def run_load_async(
    url_host: str,
    port: int,
    path: str,
    body: bytes,
    *,
    connections: int = 64,
    duration_s: float = 30.0,
    max_requests: int = 1_000_000,
    content_type: str = "application/json",
    timeout_s: float = 10.0,
) -> LoadResult:
    request = build_request(url_host, port, path, body, content_type)
    tally = _Tally(deadline=time.monotonic() + duration_s, max_requests=max_requests)
    t0 = time.perf_counter()
    await asyncio.gather(
        *(_connection(url_host, port, request, tally, timeout_s) for _ in range(connections))
    )
    elapsed = time.perf_counter() - t0
    timing = Timing.from_samples(tally.latencies)
    return LoadResult(
        connections=connections,
        duration_s=elapsed,
        requests=len(tally.latencies),
        errors=tally.errors,
        p50_ms=timing.median_ms,
        p99_ms=timing.p99_ms,
        statuses=dict(tally.statuses),
        error_samples=tally.error_samples,
    )


def run_load(host: str, port: int, path: str, body: bytes, **kwargs: Any) -> LoadResult:
    """Blocking wrapper around `run_load_async` (same keyword arguments)."""
    return asyncio.run(run_load_async(host, port, path, body, **kwargs))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port: int, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Return once the port accepts connections; fail early if the server died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on port {port} within {timeout_s:.0f} s")


@contextmanager
def local_server(
    command: Sequence[str], *, env: dict[str, str] | None = None,
    log_path: Path | None = None, port: int | None = None,
) -> Iterator[int]:
    """Run `command` (with `{port}` filled in) as a subprocess on `port` (default: a free
    one); yield the port. `env` overrides entries of this process's environment.

    The server's output goes to `log_path` (or is discarded) so a chatty server
    cannot block on a full pipe while it is under load; if the server fails to
    start, the error quotes the end of that log. Stopped with SIGTERM, then SIGKILL.
    """
    port = port or free_port()
    argv = [part.format(port=port) for part in command]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        try:
            wait_until_listening(port, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}{_log_tail(log_path)}") from None
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log is not subprocess.DEVNULL:
            log.close()


def _log_tail(log_path: Path | None, size: int = 4000) -> str:
    """The last `size` bytes of a server's log, to say why it did not start."""
    if log_path is None or not log_path.is_file():
        return ""
    return "\n" + log_path.read_bytes()[-size:].decode(errors="replace")


# No access log: a line per request would cost the server under load (and the naive app
# it is compared with logs none).
SERVE_COMMAND = (sys.executable, "-m", "tools.serve", "--port", "{port}", "--no-access-log")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.loadtest",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help="an already running server (default: start one)")
    parser.add_argument("--path", default="/predict")
    parser.add_argument("--body", help="JSON body (default: events/v2-predict-pixels.json's)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    body = (args.body or json.dumps(event_body("v2-predict-pixels"))).encode()

    def go(port: int) -> LoadResult:
        return run_load(
            "127.0.0.1", port, args.path, body, connections=args.connections,
            duration_s=args.duration, max_requests=args.max_requests,
        )

    if args.port:
        result = go(args.port)
    else:
        with local_server(SERVE_COMMAND) as port:
            result = go(port)
    print(json.dumps(result.as_dict(), indent=2))


if __name__ == "__main__":
    main()
