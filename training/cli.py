"""`python -m training train ...`: train, calibrate, test and write a model directory.

The defaults are the shipped recipe, so `make train` reproduces the shipped model.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from digitnet.losses import softmax
from digitnet.modelfile import (
    CARD_FILE,
    MANIFEST_FILE,
    WEIGHTS_FILE,
    ModelFileError,
    read_manifest,
    save_model,
)
from digitnet.network import Network

from .calibrate import calibration_summary
from .idx import IdxError, Split, download, load_split
from .recipes import RECIPES, OptionError, describe_options, parse_options
from .report import carried_notes, write_model_card
from .train import EpochRecord, TrainConfig, history_dicts, train

# --tiny: a small subset for CI and pipeline checks. --val-size, if given, replaces "val".
TINY = {"train": 1200, "val": 300, "test": 1000, "epochs": 2}
DEFAULT_SEED = 1
DEFAULT_VAL = 5000


def positive[T: (int, float)](kind: type[T]) -> Callable[[str], T]:
    """An argparse type: a finite number above 0 (a negative batch size or learning rate
    once trained to a useless model without a word)."""
    def parse(text: str) -> T:
        value = kind(text)
        if not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def recipes_help() -> str:
    """The --help epilog: each recipe, the options its architecture takes, and the seed."""
    lines = ["recipes (what each --arch trains with; the flags above override them):"]
    for arch, r in sorted(RECIPES.items()):
        extras = ("augment + renormalize" if r.renormalize else "augment") if r.augment \
            else "no augmentation"
        lines += [f"  {arch:5} {r.epochs} epochs, batch {r.batch_size}, {r.optimizer} lr {r.lr:g}, "
                  f"weight decay {r.weight_decay:g}, {extras}",
                  f"        --option names and the recipe's values: {describe_options(arch)}"]
    lines += ["", "--seed seeds everything random in a run: the initial weights, the batch order, "
              "the augmentation", "and which training images are held out for validation.",
              f"--tiny trains {TINY['epochs']} epochs on {TINY['train']} images, validates on "
              f"{TINY['val']} (or --val-size) and tests on", f"the first {TINY['test']} test "
              "images. An --out that holds a model is refused unless --overwrite is given."]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model and write model.npz, manifest and card",
                       description=__doc__, epilog=recipes_help(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--data-dir", required=True, type=Path, help="directory of the MNIST IDX files")
    t.add_argument("--out", required=True, type=Path,
                   help="model directory to write (refused if it holds a model, see --overwrite)")
    t.add_argument("--overwrite", action="store_true",
                   help="replace the model already in --out (named when the run starts)")
    t.add_argument("--arch", choices=sorted(RECIPES), default="cnn",
                   help="architecture and its recipe (default: %(default)s)")
    t.add_argument("--epochs", type=positive(int), help="default: the recipe's")
    t.add_argument("--batch-size", type=positive(int), help="default: the recipe's")
    t.add_argument("--lr", type=positive(float), help="peak learning rate (default: the recipe's)")
    t.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="seed of every random choice, the validation split included "
                        "(default: %(default)s)")
    t.add_argument("--val-size", type=positive(int),
                   help=f"training images held out for validation (default: {DEFAULT_VAL}; "
                        f"{TINY['val']} with --tiny)")
    t.add_argument("--no-augment", action="store_true", help="train on the digits as they are")
    t.add_argument("--no-renormalize", action="store_true",
                   help="do not re-run MNIST normalisation on augmented digits")
    t.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="architecture option over the recipe's, e.g. c1=32 or dropout=0.3 "
                        "(names below)")
    t.add_argument("--tiny", action="store_true", help="a few seconds on a small subset (CI)")
    t.add_argument("--download", action="store_true", help="fetch MNIST into --data-dir first")
    args = parser.parse_args(argv)
    if args.val_size is None:
        args.val_size = TINY["val"] if args.tiny else DEFAULT_VAL
    try:
        args.options = parse_options(args.arch, args.option)
    except OptionError as exc:
        t.error(str(exc))
    return args


def make_config(args: argparse.Namespace) -> TrainConfig:
    cfg = replace(RECIPES[args.arch], seed=args.seed)
    if args.tiny:
        cfg = replace(cfg, epochs=TINY["epochs"], warmup_epochs=0.5)
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if args.no_augment:
        cfg = replace(cfg, augment=False)
    if args.no_renormalize:
        cfg = replace(cfg, renormalize=False)
    if args.options:
        cfg = replace(cfg, arch_options={**cfg.arch_options, **args.options})
    return cfg


def split_data(full: Split, test: Split, val_size: int, seed: int,
               tiny: bool) -> tuple[Split, Split, Split]:
    """A seeded validation split held out of the training set (with --tiny, the next
    TINY["train"] images of the same order train)."""
    if val_size >= len(full.labels):
        raise SystemExit(f"--val-size {val_size} leaves no training images (the training set "
                         f"has {len(full.labels)})")
    order = _split_order(len(full.labels), seed)
    val_idx, train_idx = order[:val_size], order[val_size:]
    if tiny:
        train_idx = train_idx[:TINY["train"]]
        test = Split(test.images[:TINY["test"]], test.labels[:TINY["test"]])
    pick = lambda idx: Split(full.images[np.sort(idx)], full.labels[np.sort(idx)])  # noqa: E731
    return pick(train_idx), pick(val_idx), test


class OutError(Exception):
    """--out cannot take the new model, or holds one that --overwrite did not release."""


@dataclass
class Progress:
    """How far a run got: what an interrupted run says about itself."""

    stage: str = "starting"  # what it was doing, as in "interrupted while ..."
    epochs_done: int = 0
    epochs: int = 0
    out_existed: bool = False
    written: bool = False  # the new model is in --out

    def epoch_done(self, record: EpochRecord) -> None:
        self.epochs_done = record.epoch

    def interrupted(self, out: Path) -> str:
        if self.written:
            return f"interrupted after writing; {out} holds the new model"
        if self.stage == "training":
            where = f"at epoch {self.epochs_done + 1} of {self.epochs}"
        else:
            where = f"while {self.stage}"
        return f"interrupted {where}; " + (f"{out} unchanged" if self.out_existed
                                           else f"nothing written to {out}")


def describe_model(directory: Path) -> str:
    """'digitnet-cnn cnn-e20-s1, weights sha256 79d2342fb5e1…', from its manifest."""
    if not (directory / MANIFEST_FILE).exists():
        return f"{WEIGHTS_FILE} without {MANIFEST_FILE}"
    try:
        m = read_manifest(directory)
        return f"{m['name']} {m['version']}, weights sha256 {m['weights_sha256'][:12]}…"
    except (ModelFileError, OSError, KeyError, TypeError) as exc:
        return f"unreadable {MANIFEST_FILE}: {exc}"


def check_out(out: Path, overwrite: bool) -> str | None:
    """Before any data is loaded: refuse an --out the model cannot be written to, or one
    holding a model unless `overwrite`. Return what will be replaced, if anything."""
    if out.is_symlink() and not out.exists():
        raise OutError(f"--out {out} is a broken symbolic link")
    if out.exists() and not out.is_dir():
        raise OutError(f"--out {out} is a file, not a model directory")
    existing = next(p for p in (out, *out.parents) if p.exists())  # '.' or '/' at worst
    if not existing.is_dir():
        raise OutError(f"--out {out}: {existing} is a file, not a directory")
    try:  # what write_when_complete will do first, in the folder it will do it in
        os.rmdir(tempfile.mkdtemp(prefix=".partial-", dir=existing))
    except OSError as exc:
        raise OutError(f"--out {out}: cannot write in {existing} ({exc.strerror or exc})") from None
    if not any((out / name).exists() for name in (MANIFEST_FILE, WEIGHTS_FILE)):
        return None
    held = describe_model(out)
    if not overwrite:
        raise OutError(f"--out {out} already holds a model ({held}); pass --overwrite to "
                       "replace it")
    return held


def _split_order(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 10_000).permutation(n)


def validation_indices(n: int, val_size: int, seed: int) -> np.ndarray:
    """Which of the `n` training images a run with this --seed and --val-size validates on
    (the canvas evaluation can draw them: `--digits val`)."""
    return _split_order(n, seed)[:val_size]


def run_train(args: argparse.Namespace, progress: Progress | None = None) -> dict[str, Any]:
    """Train, calibrate, score on the test split, and write the model directory."""
    progress = progress or Progress()
    progress.stage = "checking --out"
    replacing = check_out(args.out, args.overwrite)
    progress.out_existed = args.out.exists()
    if replacing:
        print(f"--overwrite: {args.out} holds {replacing}; the new model replaces it when "
              "training completes", flush=True)
    cfg = make_config(args)
    if args.download:
        progress.stage = "downloading MNIST"
        download(args.data_dir)
    commit = code_commit()  # now: the code this process runs, not what HEAD is at the end
    progress.stage = "loading data"
    full, full_test = load_split(args.data_dir, "train"), load_split(args.data_dir, "t10k")
    train_split, val_split, test = split_data(full, full_test, args.val_size, cfg.seed,
                                              args.tiny)
    print(f"training {cfg.arch} on {len(train_split.labels)} images, validating on "
          f"{len(val_split.labels)}, config {asdict(cfg)}", flush=True)
    progress.stage, progress.epochs = "training", cfg.epochs
    t0 = time.perf_counter()
    net, history = train(cfg, train_split, val_split, log=lambda s: print(s, flush=True),
                         on_epoch=progress.epoch_done)
    train_seconds = time.perf_counter() - t0
    progress.stage = "calibrating and testing"
    cal, predictions = calibrate(net, val_split, test)
    metrics = {
        "test_accuracy": float((predictions == test.labels).mean()),
        "test_errors": int((predictions != test.labels).sum()),
        "test_size": len(test.labels),
        "val_accuracy": max(r.val_acc for r in history),
        **cal,
        "train_seconds": round(train_seconds, 1),
    }
    record = {"command": reproduce_command(args, cfg), "seed": cfg.seed, "code_commit": commit,
              "config": asdict(cfg), "val_size": len(val_split.labels),
              "train_size": len(train_split.labels), "tiny": args.tiny,
              "data_sha256": {**full.sha256, **full_test.sha256}, "versions": versions(),
              "history": history_dicts(history)}
    version = f"{cfg.arch}-e{cfg.epochs}-s{cfg.seed}" + ("-tiny" if args.tiny else "")

    def write(directory: Path) -> None:
        manifest = save_model(net, directory, name=f"digitnet-{cfg.arch}", version=version,
                              metrics=metrics, extra={"training": record})
        sha = manifest["weights_sha256"]
        previous = args.out / CARD_FILE
        notes, dropped = carried_notes(previous.read_text() if previous.is_file() else None, sha)
        if dropped:
            print(f"the previous {CARD_FILE}'s hand-written notes describe weights "
                  f"{dropped[:12]}…, not these: left out of the new card (git history keeps "
                  "them)", flush=True)
        write_model_card(directory, manifest, predictions, test.labels, notes)

    progress.stage = "writing the model"
    write_when_complete(args.out, write, on_moved=lambda: setattr(progress, "written", True))
    print(f"test accuracy {metrics['test_accuracy']:.4f} ({metrics['test_errors']} errors), "
          f"T={cal['temperature']:.3f}, test ECE {cal['test_ece_before']:.4f} -> "
          f"{cal['test_ece_after']:.4f}; wrote {args.out}", flush=True)
    return metrics


def write_when_complete(out: Path, write: Callable[[Path], None],
                        on_moved: Callable[[], None] | None = None) -> None:
    """Have `write` fill a scratch folder inside `out`, then move its files up, the manifest
    last: a run that fails or is stopped while writing (the card's plots take seconds)
    leaves the previous model whole, not new weights beside an old manifest. Inside, the
    moves stay on one file system (`out` may be a link or a mount) and need no more than
    write access to `out`; the layer build skips dot-folders. A Ctrl-C during the moves
    waits for them (and `on_moved`, told the model is in); folders made here for a model
    that never came are removed."""
    made, folder = [], out  # out and the parents it lacks, deepest first
    while not os.path.lexists(folder):
        made.append(folder)
        folder = folder.parent
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".partial-", dir=out) as tmp:
            write(Path(tmp))
            with _interrupt_deferred():
                for path in sorted(Path(tmp).iterdir(), key=lambda p: p.name == MANIFEST_FILE):
                    os.replace(path, out / path.name)
                if on_moved is not None:
                    on_moved()
    except BaseException:
        for folder in made:
            with contextlib.suppress(OSError):  # not empty: the model did come
                folder.rmdir()
        raise


@contextlib.contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) until the block is done, then raise it."""
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    except ValueError:  # not the main thread, which is the one Ctrl-C interrupts
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def calibrate(net: Network, val: Split, test: Split) -> tuple[dict[str, float], np.ndarray]:
    """Fit the softmax temperature on validation (set on `net`): the calibration figures,
    and the calibrated network's test predictions."""
    cal = calibration_summary(net.logits(val.images), val.labels,
                              test_logits := net.logits(test.images), test.labels)
    net.temperature = cal["temperature"]
    return cal, softmax(test_logits, net.temperature).argmax(axis=1)


def versions() -> dict[str, str]:
    """The interpreter and libraries a model was trained with."""
    return {"python": platform.python_version(), "numpy": np.__version__,
            "pillow": PIL.__version__}


def code_commit(root: Path | None = None) -> str | None:
    """The git commit of the training code, if known, with '-dirty' if a file under
    training/ or layers/model/python/ differs from it or is new (untracked, not ignored):
    a new module the run imports is code the commit does not hold."""
    root = root or Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        status = ["git", "status", "--porcelain", "--untracked-files=all", "--", "training",
                  "layers/model/python"]
        dirty = subprocess.run(status, cwd=root, capture_output=True, text=True, check=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def reproduce_command(args: argparse.Namespace, cfg: TrainConfig) -> str:
    """The explicit command line that retrains this model."""
    parts = ["python", "-m", "training", "train", "--data-dir", str(args.data_dir),
             "--arch", cfg.arch, "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size),
             "--lr", str(cfg.lr), "--seed", str(cfg.seed), "--val-size", str(args.val_size)]
    parts += ["--no-augment"] if not cfg.augment and RECIPES[cfg.arch].augment else []
    parts += ["--no-renormalize"] if not cfg.renormalize and RECIPES[cfg.arch].renormalize else []
    parts += [f"--option={k}={v}" for k, v in sorted(cfg.arch_options.items())]
    parts += ["--tiny"] if args.tiny else []
    parts += ["--overwrite"] if args.overwrite else []
    return shlex.join([*parts, "--out", str(args.out)])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress()
    try:
        if args.command == "train":
            run_train(args, progress)
    except (IdxError, OutError) as exc:  # bad data or --out: the message is the whole story
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: where it stopped and what --out holds, no traceback
        print(progress.interrupted(args.out), file=sys.stderr)
        return 130
    return 0
