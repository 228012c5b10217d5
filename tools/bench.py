"""`make bench`: where the product stands, measured on this machine, beside the seed baseline.

Prints one table (Markdown) and writes it as JSON (build/bench.json). Each section
measures the shipped product and the seed-style baseline in the same run; a
section that fails is reported in its rows and in the JSON, and the others still run.
`--quick` shrinks every workload so the machinery can be smoke-tested in seconds (all
but sizes, which still runs `sam build` unless --build-dir names a build).

One BLAS thread, as the product runs (functions/predict/app.py sets it before
NumPy loads): set here before NumPy loads, and inherited by the served apps.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import contextlib
import functools
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tools import loadtest, package_size
from tools.bench_report import Row, render_table, report, write_json
from tools.paths import ROOT, SHIPPED_MODEL
from tools.sam_build import make_build

if TYPE_CHECKING:  # annotations only: the functions import what they use
    from digitnet.network import Network

    from training.idx import Split

SEED_MODEL = ROOT / "build" / "seed-model"
SEED_MODEL_TINY = ROOT / "build" / "seed-model-tiny"  # --quick's; never a full run's baseline
MB = package_size.MB


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    quick: bool
    build_dir: Path | None  # None: a fresh `sam build` of the working tree
    shipped_model: Path
    seed_model: Path
    load_connections: int
    load_seconds: float

    @property
    def test_items(self) -> int | None:
        """How many MNIST test digits to score (None: all 10,000)."""
        return 300 if self.quick else None


# ---------------------------------------------------------------- accuracy


@functools.cache
def _test_split(data_dir: Path) -> Split:
    """The MNIST test split, read once per run (`run` clears the cache)."""
    from training.idx import load_split

    return load_split(data_dir, "t10k")


@functools.cache
def _network(model_dir: Path) -> Network:
    """A model's network, loaded once per run (after `ensure_seed_model`; `run` clears it).
    The model section times its own loads (tools.bench_model)."""
    from digitnet.modelfile import load_model

    return load_model(model_dir).network


def ensure_seed_model(s: Settings) -> None:
    """Train the seed baseline with the committed recipe if it isn't there (tiny when quick),
    or was trained for another preprocessing (load_model would refuse it)."""
    from digitnet.modelfile import MANIFEST_FILE, read_manifest
    from digitnet.preprocess import PREPROCESS_VERSION

    from training.cli import main as train_main

    if (s.seed_model / MANIFEST_FILE).is_file():
        manifest = read_manifest(s.seed_model)
        tiny = manifest.get("training", {}).get("tiny", False)
        current = manifest.get("preprocess_version") == PREPROCESS_VERSION
        if current and (s.quick or not tiny):
            return
    argv = ["train", "--data-dir", str(s.data_dir), "--arch", "seed", "--out", str(s.seed_model),
            "--overwrite"]  # a tiny or stale model is replaced
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the table
        status = train_main(argv + (["--tiny"] if s.quick else []))
    if status != 0:
        raise RuntimeError(f"training the seed baseline failed (exit {status})")


def accuracy_rows(s: Settings) -> list[Row]:
    """MNIST test accuracy and calibration of both models on the same digits."""
    from training.calibrate import expected_calibration_error

    ensure_seed_model(s)
    test = _test_split(s.data_dir)
    images, labels = test.images[: s.test_items], test.labels[: s.test_items]
    shipped = _network(s.shipped_model).predict_proba(images)
    seed = _network(s.seed_model).predict_proba(images)
    n = f"{len(labels):,} digits"
    return [
        Row("mnist_test_accuracy", f"MNIST test accuracy ({n})", "%",
            _accuracy(shipped, labels), _accuracy(seed, labels), "higher"),
        Row("mnist_test_ece", "expected calibration error, MNIST test", "%",
            100 * expected_calibration_error(shipped, labels),
            100 * expected_calibration_error(seed, labels), "lower"),
    ]


def _accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(100 * np.mean(probs.argmax(axis=1) == labels))


def canvas_rows(s: Settings) -> list[Row]:
    """Canvas-style drawings: the product's preprocessing vs the seed demo's whole-canvas resize."""
    from training.canvas_eval import demo_input, evaluate
    from training.canvas_set import build_canvas_set, find_fonts

    ensure_seed_model(s)
    test = _test_split(s.data_dir)
    fonts = find_fonts()
    samples = build_canvas_set(test.images, test.labels, seed=0,
                               mnist_count=60 if s.quick else 2000,
                               font_variants=1 if s.quick else 4,
                               fonts=fonts[:2] if s.quick else fonts)
    shipped = evaluate(samples, _network(s.shipped_model))["overall"]
    seed = evaluate(samples, _network(s.seed_model), demo_input)["overall"]
    return [Row("canvas_accuracy", f"canvas-style set accuracy ({len(samples):,} drawings)", "%",
                100 * shipped, 100 * seed, "higher")]


# ---------------------------------------------------------------- model and API


def model_rows(s: Settings) -> list[Row]:
    """The bare network, shipped vs seed: load + verify, one image, batched."""
    from tools.bench_model import bench as bench_model

    ensure_seed_model(s)
    runs, batch = (50, 100) if s.quick else (1000, 1000)
    shipped = bench_model(s.shipped_model, runs, batch)
    seed = bench_model(s.seed_model, runs, batch)
    return [
        Row("model_load_ms", "model load + verify (sha256, shapes)", "ms",
            shipped["load_ms"], seed["load_ms"]),
        Row("model_forward_median", "model inference, 1 image, median", "ms",
            shipped["median_ms"], seed["median_ms"]),
        Row("model_forward_p99", "model inference, 1 image, p99", "ms",
            shipped["p99_ms"], seed["p99_ms"]),
        Row("model_forward_batched", f"model inference, batch of {batch}, per image", "ms",
            shipped["batched_ms_per_image"], seed["batched_ms_per_image"]),
    ]


def api_rows(s: Settings) -> list[Row]:
    """Warm latency, batch throughput and cold start: tools.bench_api's figures, in the same run."""
    from tools.bench_api import rows

    return rows(s.shipped_model, quick=s.quick)


# ---------------------------------------------------------------- package sizes


def size_rows(s: Settings) -> list[Row]:
    """Sizes as `make build` leaves them (sam build + post_build); no seed package to compare."""
    build_dir, rows = s.build_dir, []
    if build_dir is None:
        build_dir = package_size.BENCH_BUILD_DIR
        freed = make_build(build_dir)
        rows.append(Row("size_trimmed", "removed from the build by tools.post_build", "MB",
                        freed / MB, better="higher"))
    sizes = package_size.measure_build(build_dir)
    if not sizes:
        raise RuntimeError(f"no built function or layer in {build_dir}")
    for p in sizes:
        rows.append(Row(f"size_{p.name}_unzipped", f"{p.kind} {p.name}, unzipped", "MB",
                        p.unzipped_bytes / MB))
        rows.append(Row(f"size_{p.name}_zipped", f"{p.kind} {p.name}, zipped", "MB",
                        p.zipped_bytes / MB))
    for fn, total in package_size.deployed_bytes(sizes, build_dir).items():
        rows.append(Row(f"size_{fn}_deployed", f"{fn} + its layers, unzipped (limit 250)", "MB",
                        total / MB))
    return rows


# ---------------------------------------------------------------- load test


def load_rows(s: Settings) -> list[Row]:
    """The local server under load beside a seed-style FastAPI app served the same way."""
    body = json.dumps({"pixels": sample_pixels(s.data_dir)}).encode()
    shipped = _load_one(loadtest.SERVE_COMMAND, body, s, {"MODEL_DIR": str(s.shipped_model)})
    seed = _load_one(SEED_SERVE_COMMAND, body, s)
    c, t = s.load_connections, s.load_seconds
    where = f"{c} connections, {t:g} s"
    return [
        Row("load_throughput", f"local server /predict pixels throughput ({where})", "req/s",
            shipped.throughput_rps, seed.throughput_rps, "higher"),
        Row("load_p50", "local server latency under load, median", "ms",
            shipped.p50_ms, seed.p50_ms),
        Row("load_p99", "local server latency under load, p99", "ms", shipped.p99_ms, seed.p99_ms),
        Row("load_errors", "local server errors under load", "count",
            float(shipped.errors), float(seed.errors)),
    ]


SEED_SERVE_COMMAND = (
    sys.executable, "-m", "uvicorn", "--factory", "tools.bench_api:seed_app",
    "--port", "{port}", "--log-level", "warning",
)


def _load_one(command: tuple[str, ...], body: bytes, s: Settings,
              env: dict[str, str] | None = None) -> loadtest.LoadResult:
    with loadtest.local_server(command, env=env) as port:
        warm = loadtest.run_load("127.0.0.1", port, "/predict", body, connections=1,
                                 duration_s=2.0, max_requests=50)
        if warm.errors:
            raise RuntimeError(f"{command[2:5]} answers errors: {warm.error_samples}")
        return loadtest.run_load("127.0.0.1", port, "/predict", body,
                                 connections=s.load_connections, duration_s=s.load_seconds)


# ---------------------------------------------------------------- driver


def sample_pixels(data_dir: Path) -> list[int]:
    """A real MNIST test digit as the 784 ints a client posts."""
    image = _test_split(data_dir).images[0]
    return np.rint(image * 255).astype(int).ravel().tolist()


def run_section(name: str, fn: Callable[[], list[Row]],
                failures: list[dict[str, str]]) -> list[Row]:
    t0 = time.perf_counter()
    try:
        rows = fn()
    except Exception as exc:  # a broken section must not hide the others' figures
        traceback.print_exc(file=sys.stderr)
        failures.append({"section": name, "error": f"{type(exc).__name__}: {exc}"})
        return [Row(f"{name}_failed", name, "", None, better="", note=f"failed: {exc}"[:120])]
    print(f"bench: {name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return rows


SECTIONS: dict[str, Callable[[Settings], list[Row]]] = {
    "accuracy": accuracy_rows,
    "canvas": canvas_rows,
    "model": model_rows,
    "api": api_rows,
    "sizes": size_rows,
    "load": load_rows,
}


def run(s: Settings, only: list[str] | None = None) -> dict[str, object]:
    t0 = time.perf_counter()
    _test_split.cache_clear()  # a run reads its data and models afresh, once
    _network.cache_clear()
    failures: list[dict[str, str]] = []
    rows = [
        row
        for name, fn in SECTIONS.items() if not only or name in only
        for row in run_section(name, lambda fn=fn: fn(s), failures)
    ]
    data = report(rows, quick=s.quick, elapsed_s=time.perf_counter() - t0)
    data["settings"] = {
        "load_connections": s.load_connections, "load_seconds": s.load_seconds,
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "shipped_model": str(s.shipped_model), "seed_model": str(s.seed_model),
    }
    data["failures"] = failures
    data["table"] = render_table(rows)
    return data


def parse_args(argv: list[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m tools.bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="MNIST IDX directory")
    parser.add_argument("--quick", action="store_true", help="tiny workloads (smoke test)")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench.json")
    parser.add_argument("--build-dir", type=Path,
                        help="measure this sam build output (default: build the tree afresh)")
    parser.add_argument("--shipped-model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--seed-model", type=Path,
                        help=f"seed baseline (default {SEED_MODEL}; trained there if missing)")
    parser.add_argument("--connections", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run these sections")
    args = parser.parse_args(argv)
    return Settings(
        data_dir=args.data_dir, quick=args.quick, build_dir=args.build_dir,
        shipped_model=args.shipped_model,
        seed_model=args.seed_model or (SEED_MODEL_TINY if args.quick else SEED_MODEL),
        load_connections=args.connections or (8 if args.quick else 64),
        load_seconds=args.seconds or (1.5 if args.quick else 30.0),
    ), args


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)
    json_path = args.json
    data = run(settings, args.only)
    print(data["table"])
    print(f"\n{data['machine']['cpu_model']}, {data['machine']['cpus']} CPUs, "
          f"{data['machine']['arch']}; {data['date']}; {data['elapsed_s']} s")
    write_json(data, json_path)
    print(f"wrote {json_path}")
    return 1 if data["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
