"""Latency of the predict Lambda through its Mangum handler, beside the bare forward pass.

    .venv/bin/python -m tools.bench_api [--model-dir DIR] [--quick]

The warm figures are taken in one worker process (in-process calls, no HTTP) with the
API Gateway v2 events from `events/` (the body swapped where needed), through the
exported, Powertools-wrapped `handler`; stdout (logs and EMF metrics) goes to /dev/null
while timing. The naive seed-style app (FastAPI, a pydantic `list[float]` body, a sync
endpoint, a 784-10-10 forward, FastAPI's JSON response) is measured in the same run.
Cold start is a fresh interpreter: import of the app and the first response.
`seed_app` is also a uvicorn factory for `tools.bench`'s load test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from tools.bench_model import multiply_adds
from tools.lambda_fakes import LambdaContext, event_body, load_event
from tools.paths import EVENTS_DIR, FUNCTION_DIR, ROOT, SHIPPED_MODEL
from tools.serve import import_lambda_module
from tools.timing import Timing, interleaved

if TYPE_CHECKING:
    from tools.bench_report import Row

BATCH = 256
PEAK_SIDE = 1024  # the square float32 matmul that measures this CPU's peak (2.1 GFLOP)


@contextlib.contextmanager
def stdout_silenced() -> Iterator[None]:
    """Logs and EMF lines still get written (their cost counts), to /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def import_app(model_dir: Path) -> Any:
    """The Lambda module, imported as Lambda would, quietly; it must have its model."""
    with stdout_silenced():
        app = import_lambda_module(model_dir)
    if not app.STATE.ok:
        raise RuntimeError(f"model unavailable: {app.STATE.reason}")
    return app


def invoke(handler: Callable[..., dict[str, Any]], event: dict[str, Any]) -> dict[str, Any]:
    response = handler(event, LambdaContext())
    if response["statusCode"] != 200:
        raise RuntimeError(f"{response['statusCode']}: {response.get('body', '')[:300]}")
    return response


# ---------------------------------------------------------------- the naive app


class SeedBody(BaseModel):
    pixels: list[float]


def seed_app() -> Any:
    """The seed demo's style: pydantic list[float] body, sync endpoint, dict answer."""
    from digitnet.network import IMAGE_SHAPE, Network
    from fastapi import FastAPI

    network = Network.build("seed")  # 784-10-10; weights don't change the timing

    app = FastAPI(title="seed-style baseline")

    @app.post("/predict")
    def predict(body: SeedBody) -> dict[str, Any]:
        x = np.asarray(body.pixels, dtype=np.float32).reshape(1, *IMAGE_SHAPE) / 255.0
        probabilities = network.predict_proba(x)[0]
        return {"digit": int(probabilities.argmax()), "probabilities": probabilities.tolist()}

    return app


# ---------------------------------------------------------------- measurements


# A bare interpreter, timed from its first line: its own fake context (not
# tools.lambda_fakes), so that importing one adds nothing to, or before, the clock.
COLD_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
{setup}
class Context:
    aws_request_id, function_name, memory_limit_in_mb = "cold", "bench", 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
r = handler(json.load(open(sys.argv[1])), Context())
assert r["statusCode"] == 200, r
sys.stderr.write(f"COLD {{time.perf_counter() - t0}}\\n")
"""
APP_SETUP = "from app import handler"
NAIVE_SETUP = "from mangum import Mangum\nfrom tools.bench_api import seed_app\n" \
    "handler = Mangum(seed_app(), lifespan='off')"


def cold_start_s(model_dir: Path, runs: int, setup: str = APP_SETUP) -> tuple[float, float]:
    """Median (import + first response, whole process wall time) over fresh interpreters."""
    path = [str(FUNCTION_DIR), str(ROOT), str(ROOT / "layers" / "model" / "python")]
    env = {**os.environ, "MODEL_DIR": str(model_dir), "PYTHONPATH": os.pathsep.join(path)}
    script = COLD_SCRIPT.format(setup=setup)
    inner, outer = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", script, str(EVENTS_DIR / "v2-predict-pixels.json")],
            env=env, capture_output=True, text=True, check=True, cwd=ROOT,
        )
        outer.append(time.perf_counter() - t0)
        inner.append(float(done.stderr.rsplit("COLD ", 1)[1].split()[0]))
    return statistics.median(inner), statistics.median(outer)


@dataclass(frozen=True)
class Results:
    forward_1: Timing
    forward_batch: Timing
    pixels: Timing
    image: Timing
    batch: Timing
    naive: Timing
    prep_pixels: Timing
    prep_image: Timing
    prep_batch: Timing
    parse_batch: Timing
    matmul_peak: Timing
    multiply_adds: int
    cold_inner_s: float
    cold_process_s: float
    naive_cold_inner_s: float

    @property
    def pixels_overhead_ms(self) -> float:
        """What the API adds around parse + preprocessing + forward (framework, JSON, logs)."""
        return self.pixels.median_ms - self.prep_pixels.median_ms - self.forward_1.median_ms

    @property
    def batch_speedup(self) -> float:
        """Throughput of one 256-item batch over 256 single calls."""
        return BATCH * self.pixels.median_ms / self.batch.median_ms

    @property
    def batch_ceiling(self) -> float:
        """The speedup if a batch cost nothing but its forward pass: no parse, no
        preprocessing, no encoding. The model sets this bound, not the framework."""
        return BATCH * self.pixels.median_ms / self.forward_batch.median_ms

    @property
    def parse_ceiling(self) -> float:
        """The same bound from reading the request alone: 256 x 784 JSON numbers."""
        return BATCH * self.pixels.median_ms / self.parse_batch.median_ms

    @property
    def peak_gflops(self) -> float:
        """This CPU's float32 matmul speed on one BLAS thread: no forward pass does better."""
        return 2 * PEAK_SIDE**3 / self.matmul_peak.median_ms / 1e6

    @property
    def peak_forward_ms(self) -> float:
        """The batch's forward pass at `peak_gflops`: no implementation of this model is
        faster on this CPU."""
        return BATCH * 2 * self.multiply_adds / self.peak_gflops / 1e6

    @property
    def floor_ceiling(self) -> float:
        """The bound on any batch of this API and model: its JSON read, its forward pass at
        the CPU's peak, nothing else (no preprocessing, no answer)."""
        return BATCH * self.pixels.median_ms / (self.parse_batch.median_ms + self.peak_forward_ms)

    @property
    def batch_rest_ms(self) -> float:
        """The batch minus parse, preprocessing and forward: encoding and framework."""
        return self.batch.median_ms - self.prep_batch.median_ms - self.forward_batch.median_ms


def measure(model_dir: Path = SHIPPED_MODEL, *, quick: bool = False) -> Results:
    """Run the measurements in a fresh interpreter, configured as the Lambda runs.

    The app is imported first, as Lambda imports it, into a process holding nothing else
    (a caller such as tools.bench has MNIST and other models loaded), with one BLAS thread
    unless OPENBLAS_NUM_THREADS says otherwise.
    """
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    env.pop("POWERTOOLS_METRICS_DISABLED", None)  # measure with metrics on, as deployed
    command = [sys.executable, "-m", "tools.bench_api", "--worker", "--model-dir", str(model_dir)]
    done = subprocess.run([*command, *(["--quick"] if quick else [])], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench worker failed:\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    multiply_adds = data.pop("multiply_adds")
    timings = {k: Timing(**v) for k, v in data.items()}
    runs = 3 if quick else 5
    inner, outer = cold_start_s(model_dir, runs)
    naive_inner, _ = cold_start_s(model_dir, runs, NAIVE_SETUP)
    return Results(**timings, multiply_adds=multiply_adds, cold_inner_s=inner, cold_process_s=outer,
                   naive_cold_inner_s=naive_inner)


def measure_here(model_dir: Path, quick: bool) -> tuple[dict[str, Timing], int]:
    """The warm figures, in this process (the app first, as Lambda imports it), and the
    network's multiply-adds for one image."""
    from mangum import Mangum

    n = 200 if quick else 2000
    app = import_app(model_dir)
    network = app.STATE.model.network
    pixels = load_event("v2-predict-pixels")
    image = load_event("v2-predict-image")
    batch = load_event("v2-predict-batch", {"items": [event_body("v2-predict-pixels")] * BATCH})
    naive = Mangum(seed_app(), lifespan="off")
    from digitnet.network import IMAGE_SHAPE
    from inputs import batch_inputs, model_input
    from schemas import BATCH_ADAPTER, PREDICT_ADAPTER

    pixels_json, image_json = pixels["body"].encode(), image["body"].encode()
    batch_json = batch["body"].encode()
    one = np.random.default_rng(0).random((1, *IMAGE_SHAPE), dtype=np.float32)
    many = np.random.default_rng(0).random((BATCH, *IMAGE_SHAPE), dtype=np.float32)
    few = max(10, n // 40)
    square = np.random.default_rng(0).random((PEAK_SIDE, PEAK_SIDE), dtype=np.float32)
    with stdout_silenced():
        timings = interleaved({
            "forward_1": (lambda: network.predict_proba(one), n),
            "forward_batch": (lambda: app.STATE.predict(many), few),  # as the API runs it
            "pixels": (lambda: invoke(app.handler, pixels), n),
            "image": (lambda: invoke(app.handler, image), n // 4),
            "batch": (lambda: invoke(app.handler, batch), few),
            "naive": (lambda: invoke(naive, pixels), n),
            "prep_pixels": (lambda: model_input(PREDICT_ADAPTER.validate_json(pixels_json)), n),
            "prep_image": (lambda: model_input(PREDICT_ADAPTER.validate_json(image_json)), n // 4),
            "prep_batch": (lambda: batch_inputs(BATCH_ADAPTER.validate_json(batch_json).items),
                           few),
            "parse_batch": (lambda: BATCH_ADAPTER.validate_json(batch_json), few),
            "matmul_peak": (lambda: square @ square, few),
        }, rounds=10)
    return timings, multiply_adds(network)


def table(r: Results) -> str:
    f1 = r.forward_1.median_ms
    lines = [
        ("bare forward, 1 image", r.forward_1, f1),
        (f"bare forward, {BATCH} images (in the API's passes)", r.forward_batch,
         r.forward_batch.median_ms),
        ("/predict pixels (Mangum, v2)", r.pixels, f1),
        ("  of which: JSON parse + preprocessing", r.prep_pixels, f1),
        ("/predict 280x280 canvas PNG", r.image, f1),
        ("  of which: JSON parse + base64 + decode + preprocessing", r.prep_image, f1),
        (f"/predict/batch of {BATCH} pixels", r.batch, r.forward_batch.median_ms),
        (f"  of which: JSON parse + preprocessing of {BATCH} items", r.prep_batch,
         r.forward_batch.median_ms),
        (f"    of which: JSON parse of {BATCH} x 784 numbers", r.parse_batch,
         r.forward_batch.median_ms),
        ("naive seed-style app, pixels (784-10-10)", r.naive, None),
    ]
    out = ["| figure | median ms | p99 ms | vs bare forward |", "| --- | --- | --- | --- |"]
    for label, t, forward in lines:
        ratio = f"{t.median_ms / forward:.1f}x" if forward else "-"
        out.append(f"| {label} | {t.median_ms:.3f} | {t.p99_ms:.3f} | {ratio} |")
    out += [
        f"| /predict pixels minus parse, preprocessing, forward (framework, Powertools, "
        f"encoding, cold caches) | {r.pixels_overhead_ms:.3f} "
        "| | |",
        f"| /predict pixels vs naive app | {r.pixels.median_ms / r.naive.median_ms:.2f}x "
        "| | (below 1 is faster) |",
        f"| /predict/batch minus parse, preprocessing, forward (encoding, framework) "
        f"| {r.batch_rest_ms:.3f} | | |",
        f"| batch of {BATCH} vs {BATCH} single calls, throughput | {r.batch_speedup:.1f}x | | |",
        f"| ceiling: {BATCH} single calls vs the batch's bare forward alone "
        f"| {r.batch_ceiling:.1f}x | | (no batch can beat this) |",
        f"| ceiling: {BATCH} single calls vs parsing the batch's JSON alone "
        f"| {r.parse_ceiling:.1f}x | | (nor this) |",
        f"| the batch's forward pass at this CPU's matmul peak ({r.peak_gflops:.0f} GFLOP/s, "
        f"{r.multiply_adds:,} multiply-adds an image) | {r.peak_forward_ms:.3f} | | |",
        f"| ceiling: {BATCH} single calls vs parsing the batch's JSON + that peak forward "
        f"| {r.floor_ceiling:.1f}x | | (nor any rewrite of the forward pass) |",
        f"| cold start: import + first response | {r.cold_inner_s * 1e3:.0f} | | "
        f"{r.cold_inner_s * 1e3 / f1:.0f}x |",
        f"| cold start: whole fresh process | {r.cold_process_s * 1e3:.0f} | | |",
        f"| cold start of the naive app: import + first response "
        f"| {r.naive_cold_inner_s * 1e3:.0f} | | |",
    ]
    return "\n".join(out)


def rows(model_dir: Path = SHIPPED_MODEL, *, quick: bool = False) -> list[Row]:
    """The figures as `tools.bench_report.Row`s (baseline: the naive app where it exists)."""
    from tools.bench_report import Row

    r = measure(model_dir, quick=quick)
    f1 = r.forward_1.median_ms
    note = f"bare forward {f1:.3f} ms"
    return [
        Row("api_pixels_median", "/predict pixels via Mangum, warm median", "ms",
            r.pixels.median_ms, r.naive.median_ms, note=note),
        Row("api_pixels_p99", "/predict pixels via Mangum, warm p99", "ms",
            r.pixels.p99_ms, r.naive.p99_ms),
        Row("api_pixels_overhead", "/predict pixels minus parse, preprocessing, forward", "ms",
            r.pixels_overhead_ms),
        Row("api_image_median", "/predict 280x280 PNG via Mangum, warm median", "ms",
            r.image.median_ms, note=note),
        Row("api_image_p99", "/predict 280x280 PNG via Mangum, warm p99", "ms", r.image.p99_ms),
        Row("api_batch_items_per_s", f"/predict/batch of {BATCH}: items per second "
            "(baseline: naive app, single calls)", "items/s",
            BATCH * 1000 / r.batch.median_ms, 1000 / r.naive.median_ms, better="higher"),
        Row("api_batch_speedup", f"/predict/batch of {BATCH} vs {BATCH} singles, throughput",
            "x", r.batch_speedup, better="higher"),
        Row("api_batch_ceiling", f"{BATCH} singles vs the batch's bare forward alone "
            "(the model's bound on that speedup)", "x", r.batch_ceiling, better="higher"),
        Row("api_batch_parse_ceiling", f"{BATCH} singles vs parsing the batch's JSON alone "
            "(the request format's bound)", "x", r.parse_ceiling, better="higher"),
        Row("api_batch_floor_ceiling", f"{BATCH} singles vs parsing the batch's JSON + its "
            f"forward at this CPU's matmul peak ({r.peak_gflops:.0f} GFLOP/s)", "x",
            r.floor_ceiling, better="higher"),
        Row("api_cold_start", "cold start: import + first response", "s", r.cold_inner_s,
            r.naive_cold_inner_s),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_api",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        timings, multiply_adds = measure_here(args.model_dir, args.quick)
        print(json.dumps({**{k: v.__dict__ for k, v in timings.items()},
                          "multiply_adds": multiply_adds}))
        return
    print(table(measure(args.model_dir, quick=args.quick)))


if __name__ == "__main__":
    main()
