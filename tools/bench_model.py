"""Model benchmarks: load time and single-image latency of a model directory, and
training throughput of an architecture.

`python -m tools.bench_model [--model DIR] [--runs N]` prints inference figures;
`--train-arch cnn [--option k2=5 ...]` adds images/s for forward + backward +
optimiser step (`training.train.train_step`) for the network, optimiser and batch size
of that architecture's training recipe
(`training.recipes.RECIPES`: for cnn, the shipped lean CNN), options over the
recipe's. A benchmark, not a test. BLAS threads follow OPENBLAS_NUM_THREADS as
usual (training uses 1); run with 1 and the default to compare.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tools.paths import SHIPPED_MODEL
from tools.timing import interleaved

if TYPE_CHECKING:
    from digitnet.network import Network


def multiply_adds(network: Network) -> int:
    """Multiply-adds of one image's forward pass: convolutions and dense layers (the rest
    is elementwise, next to nothing beside them)."""
    from digitnet.layers import Conv2D, Dense, MaxPool2
    from digitnet.network import IMAGE_SHAPE

    (height, width), total = IMAGE_SHAPE, 0
    for layer in network.layers:
        if isinstance(layer, Conv2D):
            height, width = layer.output_size(height, width)
            total += height * width * layer.params["W"].size
        elif isinstance(layer, MaxPool2):
            height, width = height // 2, width // 2
        elif isinstance(layer, Dense):
            total += layer.params["W"].size
    return total


def bench(model_dir: Path, runs: int, batch: int) -> dict[str, float]:
    from digitnet.modelfile import load_model
    from digitnet.network import IMAGE_SHAPE

    t0 = time.perf_counter()
    net = load_model(model_dir).network
    load_ms = (time.perf_counter() - t0) * 1e3
    rng = np.random.default_rng(0)
    image = rng.random((1, *IMAGE_SHAPE), dtype=np.float32)
    images = rng.random((batch, *IMAGE_SHAPE), dtype=np.float32)
    # 20 warm-up calls (caches, BLAS); for a batch, one: it pays for fresh memory.
    one = interleaved({"one": (lambda: net.predict_proba(image), runs)}, rounds=1, warmup=20)
    many = interleaved({"many": (lambda: net.predict_proba(images), 5)}, rounds=1, warmup=1)
    return {"load_ms": load_ms, "median_ms": one["one"].median_ms, "p99_ms": one["one"].p99_ms,
            "batched_ms_per_image": many["many"].median_ms / batch}


def train_throughput(arch: str, options: dict[str, int | float], batch: int | None = None,
                     steps: int = 10) -> float:
    """Images per second for a full training step on random data (first step excluded),
    for `arch`'s recipe network (its options, then `options`) and optimiser, at the
    recipe's batch size unless `batch` is given."""
    from digitnet.network import IMAGE_SHAPE, N_CLASSES, Network

    from training.recipes import RECIPES
    from training.train import make_optimizer, train_step

    recipe = RECIPES[arch]
    batch = batch or recipe.batch_size
    net = Network.build(arch, seed=0, **{**recipe.arch_options, **options})
    opt = make_optimizer(recipe)
    rng = np.random.default_rng(0)
    x = rng.random((batch, *IMAGE_SHAPE), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, batch)
    start = 0.0
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        train_step(net, opt, x, y)
    return batch * steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    from digitnet.modelfile import ModelFileError

    from training.recipes import RECIPES, OptionError, parse_options  # the trainer's own

    parser = argparse.ArgumentParser(prog="python -m tools.bench_model", description=__doc__)
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--train-arch", choices=sorted(RECIPES),
                        help="also measure training throughput of this arch's recipe network")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="architecture option over the recipe's, e.g. k2=5 or c2=96")
    args = parser.parse_args(argv)
    if args.option and not args.train_arch:
        parser.error("--option sets the network --train-arch trains; give --train-arch too")
    if args.train_arch:
        try:
            options = parse_options(args.train_arch, args.option)
        except OptionError as exc:
            parser.error(str(exc))
        recipe = RECIPES[args.train_arch]
        rate = train_throughput(args.train_arch, options)
        network = {**recipe.arch_options, **options}
        print(f"training {args.train_arch} {network or ''}: {rate:.0f} images/s "
              f"(forward + backward + {recipe.optimizer} step, batch {recipe.batch_size})")
    try:
        r = bench(args.model, args.runs, args.batch)
    except ModelFileError as exc:
        sys.exit(f"error: {exc}")
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"model {args.model} (OPENBLAS_NUM_THREADS={threads}, {os.cpu_count()} CPUs)")
    print(f"  load + verify        {r['load_ms']:8.1f} ms")
    print(f"  predict_proba, 1 image over {args.runs} runs: median {r['median_ms']:.3f} ms, "
          f"p99 {r['p99_ms']:.3f} ms")
    print(f"  batched ({args.batch} images) {r['batched_ms_per_image']:.4f} ms per image")


if __name__ == "__main__":
    main()
