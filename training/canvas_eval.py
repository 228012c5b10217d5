"""Accuracy on canvas-style digits: the product's preprocessing vs the demo's.

    python -m training.canvas_eval --data-dir ../shared/datasets/mnist \\
        --model layers/model/model --baseline build/seed-model

By default the drawings are of MNIST *test* digits (the set whose figures the
README and the model card report). To compare recipes without choosing on the
test set, `--digits val` draws the validation digits of the model's training run
instead (its manifest's seed and validation size, or `--val-seed` and `--val-size`):
digits the run never trained on, and that no test figure depends on. `--mishaps N` adds N
digits spoilt in each way of training/mishaps.py (a pen tap beside a small digit, dust
specks, an unevenly lit photo, a notebook page, a page on a table), counted apart from the
set's own groups.

Every digit of the set (training/canvas_set.py) goes through
`decode_image` + `normalize_digit`, exactly as the API does, and the model
predicts. The baseline is measured the seed demo's way: the whole canvas (decode_image's
ink) resized to 28x28, no cropping to the digit, no scaling or centring.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from digitnet.errors import InputError
from digitnet.imagefile import decode_image
from digitnet.modelfile import ModelFileError, load_model
from digitnet.network import Network
from digitnet.preprocess import SIZE, normalize_digit, pixels_to_ink
from PIL import Image

from .argtypes import positive
from .canvas_set import CanvasDigit, build_canvas_set
from .idx import IdxError, load_split
from .mishaps import KINDS, build_mishap_set
from .split import DEFAULT_SEED, DEFAULT_VAL, validation_indices

Preprocess = Callable[[bytes], np.ndarray]
# The page shows an answer under this top probability as unsure (static_site/result.js's
# UNSURE_BELOW, which says why; a test keeps the two equal).
UNSURE_BELOW = 0.9


def product_input(png: bytes) -> np.ndarray:
    """What the API feeds the network for an uploaded image."""
    return normalize_digit(decode_image(png))


def demo_input(png: bytes) -> np.ndarray:
    """The seed demo's way: the whole canvas shrunk to 28x28 (decode_image's ink: polarity,
    frames and ruled lines handled; no crop to the digit, no centring)."""
    ink = Image.fromarray(decode_image(png))
    return np.asarray(ink.resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.float32)


def prepare(samples: list[CanvasDigit], preprocess: Preprocess) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, 28, 28) and a mask of the samples preprocessing refused (counted wrong)."""
    inputs = np.zeros((len(samples), SIZE, SIZE), dtype=np.float32)
    refused = np.zeros(len(samples), dtype=bool)
    for i, sample in enumerate(samples):
        try:
            inputs[i] = preprocess(sample.png)
        except InputError:
            refused[i] = True
    return inputs, refused


def _labels(probabilities: np.ndarray, refused: np.ndarray) -> np.ndarray:
    """Predicted labels, -1 where preprocessing refused the drawing."""
    return np.where(refused, -1, probabilities.argmax(axis=1))


def unsure_line(samples: list[CanvasDigit], probabilities: np.ndarray, refused: np.ndarray,
                below: float = UNSURE_BELOW) -> str:
    """How many answers (mishaps apart) the page would show as unsure, and how many of the
    wrong ones: what the threshold is for."""
    drawings = np.array([s.source != "mishap" for s in samples], dtype=bool)
    wrong = _labels(probabilities, refused) != np.array([s.label for s in samples])
    unsure = ~refused & (probabilities.max(axis=1) < below)
    answered = drawings & ~refused
    return (f"answers under {below:.0%} (shown as unsure by the page): "
            f"{np.count_nonzero(unsure & drawings)} of {np.count_nonzero(answered)}; "
            f"{np.count_nonzero(unsure & drawings & wrong)} of the "
            f"{np.count_nonzero(answered & wrong)} read wrong")


def _groups(sample: CanvasDigit) -> list[str]:
    """overall, the source (mnist, font), the look, and the MNIST stroke class; a mishap
    counts only among the mishaps, by its kind."""
    stroke, look = sample.style.split("/")
    if sample.source == "mishap":
        return ["mishaps", f"mishap:{stroke}"]
    names = ["overall", sample.source, f"look:{look}"]
    return [*names, f"mnist:{stroke}"] if sample.source == "mnist" else names


def accuracy_by_group(samples: list[CanvasDigit], predicted: np.ndarray) -> dict[str, float]:
    hits: dict[str, list[bool]] = defaultdict(list)
    for sample, guess in zip(samples, predicted, strict=True):
        for name in _groups(sample):
            hits[name].append(bool(guess == sample.label))
    return {name: float(np.mean(values)) for name, values in hits.items()}


GROUP_ORDER = ("overall", "mnist", "mnist:thin", "mnist:medium", "mnist:thick", "font",
               "look:paper", "look:transparent", "look:dark",
               "mishaps", *(f"mishap:{kind}" for kind in KINDS))


def group_sizes(samples: list[CanvasDigit]) -> dict[str, int]:
    """Samples per group, in GROUP_ORDER (the table's row order)."""
    sizes: dict[str, int] = defaultdict(int)
    for sample in samples:
        for name in _groups(sample):
            sizes[name] += 1
    return {name: sizes[name] for name in GROUP_ORDER if name in sizes}


def evaluate(
    samples: list[CanvasDigit], network: Network, preprocess: Preprocess = product_input
) -> dict[str, float]:
    return scores(samples, network, preprocess)[0]


def scores(samples: list[CanvasDigit], network: Network, preprocess: Preprocess = product_input
           ) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Accuracy by group, and the probabilities and refusals behind it (for unsure_line)."""
    inputs, refused = prepare(samples, preprocess)
    probabilities = network.predict_proba(inputs)
    return accuracy_by_group(samples, _labels(probabilities, refused)), probabilities, refused


def _median_once_ms(calls: list[Callable[[], object]]) -> float:
    """Median ms of the calls, each made once, no warm-up: what an upload costs, each
    drawing being new to the API. Not tools.timing's latency figure (repeated calls after
    a warm-up), so never a row of the benchmark tables."""
    times = []
    for call in calls:
        start = time.perf_counter()
        with contextlib.suppress(InputError):
            call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def preprocess_timing_ms(samples: list[CanvasDigit], count: int = 300) -> dict[str, float]:
    """Median wall time per digit of the API's two input paths, on the set's drawings,
    each drawing preprocessed once (`_median_once_ms`).

    png: decode_image + normalize_digit of the 280x280 canvas PNG;
    pixels: pixels_to_ink + normalize_digit of the same digit as a 784-int JSON list.
    """
    pngs = [s.png for s in samples[:count]]
    lists = [(product_input(png) * 255).round().astype(int).ravel().tolist() for png in pngs]
    return {
        "png": _median_once_ms([lambda png=png: product_input(png) for png in pngs]),
        "pixels": _median_once_ms([lambda px=px: normalize_digit(pixels_to_ink(px))
                                   for px in lists]),
    }


def _table(columns: dict[str, dict[str, float]], counts: dict[str, int]) -> str:
    names = list(counts)
    header = f"{'group':<20}{'n':>6}" + "".join(f"{title:>28}" for title in columns)
    lines = [header, "-" * len(header)]
    for name in names:
        cells = "".join(f"{col.get(name, float('nan')):>28.4f}" for col in columns.values())
        lines.append(f"{name:<20}{counts[name]:>6}{cells}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.canvas_eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="directory with the MNIST IDX files")
    parser.add_argument("--model", default="layers/model/model", help="model directory")
    parser.add_argument("--baseline", help="seed baseline model directory (demo preprocessing)")
    parser.add_argument("--seed", type=int, default=0, help="the drawings' seed (default: 0)")
    parser.add_argument("--digits", choices=("test", "val"), default="test",
                        help="MNIST test digits (default; the reported set) or a training "
                             "run's validation digits, for choosing a recipe cleanly")
    parser.add_argument("--val-seed", type=int,
                        help="with --digits val: the training run's --seed (default: the "
                             f"model manifest's, else {DEFAULT_SEED})")
    parser.add_argument("--val-size", type=int,
                        help="with --digits val: its --val-size (default: the model "
                             f"manifest's, else {DEFAULT_VAL})")
    parser.add_argument("--mnist-count", type=positive(int, zero=True), default=2000,
                        help="MNIST digits to redraw, at most as many as there are "
                             "(default: %(default)s)")
    parser.add_argument("--font-variants", type=positive(int, zero=True), default=4,
                        help="drawings of each font digit (default: %(default)s; 0: none)")
    parser.add_argument("--mishaps", type=positive(int, zero=True), default=0, metavar="N",
                        help="also N digits spoilt in each way of training/mishaps.py (a pen "
                             "tap, dust specks, an unevenly lit photo, a notebook page, a page "
                             "on a table), reported apart")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--save-pngs", type=Path, help="write every canvas PNG here (to look)")
    return parser.parse_args(argv)


def _digits(args: argparse.Namespace, manifest: dict[str, Any]
            ) -> tuple[np.ndarray, np.ndarray, list[str] | None, str]:
    """The MNIST digits to draw: images, labels, their origins (None: t10k[i]) and a name.
    A run's validation digits are those of the model's own run (its manifest's seed and
    validation size) unless told: the defaults' would hold digits a --tiny run trained on."""
    if args.digits == "test":
        test = load_split(args.data_dir, "t10k")
        return test.images, test.labels, None, "MNIST test digits"
    run = manifest.get("training", {})
    seed = args.val_seed if args.val_seed is not None else run.get("seed", DEFAULT_SEED)
    size = args.val_size if args.val_size is not None else run.get("val_size", DEFAULT_VAL)
    full = load_split(args.data_dir, "train")
    index = np.sort(validation_indices(len(full.labels), size, seed))
    return (full.images[index], full.labels[index], [f"train[{i}]" for i in index],
            f"validation digits of training seed {seed}, val size {size}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return _run(args)
    except (IdxError, ModelFileError) as exc:  # bad data or model: the message says it all
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    model = load_model(args.model)  # first: a wrong --model fails before the set is built
    base = load_model(args.baseline) if args.baseline else None
    samples, mishap_count, digits = _build_samples(args, model.manifest)
    if args.save_pngs:
        _save_pngs(samples, args.save_pngs)
    accuracy, probabilities, refused = scores(samples, model.network)
    columns = {f"{model.name} (product)": accuracy}
    if base is not None:
        columns[f"{base.name} (demo way)"] = evaluate(samples, base.network, demo_input)
        columns[f"{base.name} (product)"] = evaluate(samples, base.network)
    print(_table(columns, group_sizes(samples)))
    print(unsure_line(samples, probabilities, refused))
    timing = preprocess_timing_ms(samples)
    print("preprocessing, median per digit (each once, no warm-up): 280x280 canvas PNG "
          f"{timing['png']:.2f} ms (decode_image + normalize_digit), 784-pixel list "
          f"{timing['pixels']:.3f} ms (pixels_to_ink + normalize_digit)")
    if args.json:
        figures = {"seed": args.seed, "digits": digits, "count": len(samples) - mishap_count,
                   "mishaps": mishap_count, "accuracy": columns, "preprocess_ms_median": timing}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def _build_samples(args: argparse.Namespace, manifest: dict[str, Any]
                   ) -> tuple[list[CanvasDigit], int, str]:
    """The canvas set, then any mishaps (--mishaps), as one list; how many mishaps it ends
    with; and the name of the digits drawn. Says on stderr that it is building (~20 s for
    the default set), and how long it took."""
    images, labels, origins, digits = _digits(args, manifest)
    if args.mnist_count > len(labels):
        print(f"--mnist-count {args.mnist_count}: there are {len(labels)} of these digits; "
              "all are drawn", file=sys.stderr)
    print("building the canvas set...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    samples = build_canvas_set(images, labels, seed=args.seed, mnist_count=args.mnist_count,
                               font_variants=args.font_variants, origins=origins)
    mishaps = build_mishap_set(images, labels, seed=args.seed, count=args.mishaps,
                               origins=origins) if args.mishaps else []
    print(f"canvas set: {len(samples)} digits" + (f" and {len(mishaps)} mishaps" if mishaps
                                                  else "")
          + f" (seed {args.seed}, {digits}) built in {time.perf_counter() - start:.1f} s")
    return samples + mishaps, len(mishaps), digits


def _save_pngs(samples: list[CanvasDigit], folder: Path) -> None:
    """Every drawing's PNG, named by its index, label, source and style (--save-pngs)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(samples):
        name = f"{i:05d}-{s.label}-{s.source}-{s.style.replace('/', '-')}.png"
        (folder / name).write_bytes(s.png)


if __name__ == "__main__":
    sys.exit(main())
