"""`python -m training train ...`: train, calibrate, test and write a model directory.

The defaults are the shipped recipe (`make train`); its weights differ from the shipped
model's since a later change to preprocessing (training/README.md, "Reproducibility").
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from digitnet.modelfile import CARD_FILE, save_model
from digitnet.network import Network

from .argtypes import batch_size, positive
from .calibrate import fit_and_apply
from .checkpoint import (
    Checkpoint,
    CheckpointError,
    check_run,
    checkpoint_dir,
    describe_checkpoint,
    has_checkpoint,
    load_checkpoint,
    remove_checkpoint,
    restore_state,
    save_checkpoint,
)
from .idx import IdxError, Split, download, load_split
from .outdir import OutError, check_out, missing_folders, remove_empty, write_when_complete
from .provenance import code_commit, model_version, record, run_settings
from .recipes import RECIPES, OptionError, arch_options, describe_options, parse_options
from .report import carried_notes, write_model_card
from .split import DEFAULT_SEED, DEFAULT_VAL, TINY, SplitError, split_data
from .train import (
    DivergedError,
    EpochRecord,
    TrainConfig,
    TrainState,
    start_state,
    train,
)


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
              "images. An --out that holds a model is refused unless --overwrite is given.", "",
              "A checkpoint is saved in --out/.checkpoint after each epoch, and removed once "
              "the model is written.", "An --out holding one (an interrupted run's) is "
              "refused unless --resume continues that run or", "--restart starts again."]
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
    again = t.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the interrupted run whose checkpoint --out holds, from "
                            "its last epoch (same arguments otherwise)")
    again.add_argument("--restart", action="store_true",
                       help="start again over the checkpoint of an interrupted run in --out "
                            "(this run's first checkpoint replaces it)")
    t.add_argument("--arch", choices=sorted(RECIPES), default="cnn",
                   help="architecture and its recipe (default: %(default)s)")
    t.add_argument("--epochs", type=positive(int), help="default: the recipe's")
    t.add_argument("--batch-size", type=batch_size, help="default: the recipe's")
    t.add_argument("--lr", type=positive(float), help="peak learning rate (default: the recipe's)")
    t.add_argument("--seed", type=positive(int, zero=True), default=DEFAULT_SEED,
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


def recipe_config(args: argparse.Namespace) -> TrainConfig:
    """The recipe as this run names it (architecture, seed, epochs, --tiny), before the
    flags that leave it. Every option recorded, the builder's defaults too: a changed
    default cannot change what a recorded command trains, nor hide what the network was."""
    cfg = replace(RECIPES[args.arch], seed=args.seed, arch_options=arch_options(args.arch))
    if args.tiny:
        cfg = replace(cfg, epochs=TINY["epochs"], warmup_epochs=0.5)
    return cfg if args.epochs is None else replace(cfg, epochs=args.epochs)


def make_config(args: argparse.Namespace) -> TrainConfig:
    cfg = recipe_config(args)
    overrides = {"batch_size": args.batch_size, "lr": args.lr}
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if args.no_augment:
        cfg = replace(cfg, augment=False)
    if args.no_renormalize:
        cfg = replace(cfg, renormalize=False)
    return replace(cfg, arch_options={**cfg.arch_options, **args.options})


@dataclass
class Progress:
    """How far a run got: what an interrupted run says about itself."""

    stage: str = "starting"  # what it was doing, as in "interrupted while ..."
    epochs_done: int = 0
    epochs: int = 0
    out_existed: bool = False
    written: bool = False  # the new model is in --out
    checkpoint_epoch: int = 0  # epochs in the checkpoint this run saved or resumed (0: none)

    def epoch_done(self, record: EpochRecord) -> None:
        self.epochs_done = record.epoch

    def interrupted(self, out: Path) -> str:
        if self.written:
            return f"interrupted after writing; {out} holds the new model"
        if self.stage == "training":
            where = f"at epoch {self.epochs_done + 1} of {self.epochs}"
        else:
            where = f"while {self.stage}"
        if self.checkpoint_epoch:  # --out has changed: it holds the checkpoint
            return (f"interrupted {where}; no new model written to {out}; its checkpoint after "
                    f"epoch {self.checkpoint_epoch} of {self.epochs} is kept: --resume "
                    "continues from there")
        return f"interrupted {where}; " + (f"{out} unchanged" if self.out_existed
                                           else f"nothing written to {out}")


class Data(NamedTuple):
    """A run's images (`split_data`) and the sha256 of the MNIST files they came from."""

    train: Split
    val: Split
    test: Split
    sha256: dict[str, str]


def run_train(args: argparse.Namespace, progress: Progress | None = None) -> dict[str, Any]:
    """Train (or go on training from the checkpoint, --resume), calibrate, score on the test
    split, and write the model directory."""
    progress = progress or Progress()
    cfg = make_config(args)
    made = missing_folders(args.out)  # before a checkpoint makes them
    settings = run_settings(args, cfg)
    resumed = _claim_out(args, cfg, settings, progress)
    # A checkpoint that does not fit this network fails here, before the data is read.
    state = restore_state(resumed, cfg) if resumed else start_state(cfg)
    if args.download:
        progress.stage = "downloading MNIST"
        download(args.data_dir)
    commit = code_commit()  # now: the code this process runs, not what HEAD is at the end
    data = _load_data(args, cfg.seed, progress)
    identity = _data_identity(data)
    if resumed:
        _announce_resume(resumed, state, identity, commit)
    run = {**settings, **identity}
    try:
        net, history, train_seconds = _train(cfg, data, progress, state,
                                              _checkpointer(args.out, cfg, run, commit, progress))
    except DivergedError:  # its checkpoint could only diverge again (not another run's)
        if progress.checkpoint_epoch:
            remove_checkpoint(checkpoint_dir(args.out))
        remove_empty(made)
        raise
    progress.stage = "calibrating and testing"
    cal, predictions = fit_and_apply(net, data.val, data.test)
    metrics = _metrics(data.test, predictions, history, cal, train_seconds)
    about = _about(args, cfg, metrics, record(args, cfg, run, commit, history))
    progress.stage = "writing the model"
    _write_out(args.out, about, net, predictions, data.test.labels, progress)
    print(f"test accuracy {metrics['test_accuracy']:.4f} ({metrics['test_errors']} errors), "
          f"T={cal['temperature']:.3f}, test ECE {cal['test_ece_before']:.4f} -> "
          f"{cal['test_ece_after']:.4f}; wrote {args.out}", flush=True)
    return metrics


def _claim_out(args: argparse.Namespace, cfg: TrainConfig, settings: dict[str, Any],
               progress: Progress) -> Checkpoint | None:
    """Check --out before anything else is done (`check_out`, and its checkpoint: the one
    --resume continues, checked against this run's `settings`); say what --overwrite
    replaces."""
    progress.stage, progress.epochs = "checking --out", cfg.epochs
    checkpoint = _held_checkpoint(args)
    replacing = check_out(args.out, args.overwrite)
    progress.out_existed = args.out.exists()
    resumed = None
    if args.resume:
        resumed = load_checkpoint(checkpoint_dir(args.out))
        check_run(resumed, settings)
        progress.epochs_done = progress.checkpoint_epoch = resumed.epoch
    elif checkpoint:
        print(f"--restart: {args.out} holds the checkpoint of an interrupted run "
              f"{checkpoint}; this run starts again, its first checkpoint replaces it",
              flush=True)
    if replacing:
        print(f"--overwrite: {args.out} holds {replacing}; the new model replaces it when "
              "training completes", flush=True)
    return resumed


def _held_checkpoint(args: argparse.Namespace) -> str | None:
    """'at epoch 7/20' if --out holds a checkpoint; refused without --resume or --restart
    (a run must not silently throw an interrupted one away), as --resume is without one."""
    directory = checkpoint_dir(args.out)
    if not has_checkpoint(directory):
        if args.resume:
            raise OutError(f"--resume: --out {args.out} holds no checkpoint to resume from")
        return None
    held = describe_checkpoint(directory)
    if not (args.resume or args.restart):
        raise OutError(f"--out {args.out} holds a checkpoint of an interrupted run {held}: "
                       "--resume to continue it, or --restart to start again")
    return held


def _data_identity(data: Data) -> dict[str, Any]:
    """The MNIST files read, and which of their images train and validate."""
    split = hashlib.sha256(data.train.labels.tobytes() + data.val.labels.tobytes())
    return {"data_sha256": data.sha256, "train_size": len(data.train.labels),
            "split_labels_sha256": split.hexdigest()}


def _announce_resume(checkpoint: Checkpoint, state: TrainState, identity: dict[str, Any],
                     commit: str | None) -> None:
    """Check the data against the checkpoint's (its settings were, before the data was
    read), then say where the run goes on from."""
    check_run(checkpoint, identity)
    print(f"--resume: continuing from the checkpoint after epoch {state.epoch} of "
          f"{checkpoint.about['epochs']} "
          f"(best val_acc so far {state.best[0]:.4f})", flush=True)
    if checkpoint.about.get("code_commit") != commit:
        print(f"--resume: the checkpoint was saved by code {checkpoint.about.get('code_commit')}"
              f", this is {commit}: the result may differ from an uninterrupted run's",
              flush=True)


def _checkpointer(out: Path, cfg: TrainConfig, run: dict[str, Any], commit: str | None,
                  progress: Progress) -> Callable[[TrainState], None]:
    """`train`'s checkpoint hook: save each epoch's state in --out, and count it as saved
    (and its epoch as done: a Ctrl-C before the epoch's line is then no epoch behind it).
    A save that fails (a full disk) is said once, and the run goes on without them: the
    model is smaller than its checkpoint, and the previous checkpoint is kept."""
    directory = checkpoint_dir(out)
    failed = False

    def saved(epoch: int) -> None:
        progress.checkpoint_epoch = progress.epochs_done = epoch

    def checkpoint(state: TrainState) -> None:
        nonlocal failed
        if failed:
            return
        try:
            save_checkpoint(directory, state, epochs=cfg.epochs, run=run, commit=commit,
                            on_saved=lambda: saved(state.epoch))
        except OSError as exc:
            failed = True
            kept = (f"the one after epoch {progress.checkpoint_epoch} is kept"
                    if progress.checkpoint_epoch else "there is none to resume from")
            print(f"warning: cannot save the checkpoint in {directory} ({exc}); training "
                  f"goes on without saving more ({kept})", file=sys.stderr, flush=True)

    return checkpoint


def _load_data(args: argparse.Namespace, seed: int, progress: Progress) -> Data:
    progress.stage = "loading data"
    full, full_test = load_split(args.data_dir, "train"), load_split(args.data_dir, "t10k")
    return Data(*split_data(full, full_test, args.val_size, seed, args.tiny),
                sha256={**full.sha256, **full_test.sha256})


def _train(cfg: TrainConfig, data: Data, progress: Progress, state: TrainState,
           checkpoint: Callable[[TrainState], None]) -> tuple[Network, list[EpochRecord], float]:
    """`train` from `state`, announced: the network, its history and the seconds it took
    (a resumed run's earlier sessions included)."""
    print(f"training {cfg.arch} on {len(data.train.labels)} images, validating on "
          f"{len(data.val.labels)}, config {asdict(cfg)}", flush=True)
    progress.stage = "training"
    net, history = train(cfg, data.train, data.val, log=lambda s: print(s, flush=True),
                         on_epoch=progress.epoch_done, state=state, checkpoint=checkpoint)
    return net, history, state.seconds


def _metrics(test: Split, predictions: np.ndarray, history: list[EpochRecord],
             cal: dict[str, float], train_seconds: float) -> dict[str, Any]:
    """The manifest's metrics: test and validation scores, calibration, training time."""
    return {
        "test_accuracy": float((predictions == test.labels).mean()),
        "test_errors": int((predictions != test.labels).sum()),
        "test_size": len(test.labels),
        "val_accuracy": max(r.val_acc for r in history),
        **cal,
        "train_seconds": round(train_seconds, 1),
    }


def _about(args: argparse.Namespace, cfg: TrainConfig, metrics: dict[str, Any],
           training: dict[str, Any]) -> dict[str, Any]:
    """`save_model`'s name, version, metrics and extra (the provenance `record`)."""
    return {"name": f"digitnet-{cfg.arch}",
            "version": model_version(cfg, recipe_config(args), args.tiny),
            "metrics": metrics, "extra": {"training": training}}


def _write_out(out: Path, about: dict[str, Any], net: Network, predictions: np.ndarray,
               labels: np.ndarray, progress: Progress) -> None:
    """Write the model directory whole (`write_when_complete`, `_write_model`); once it is
    in --out, the checkpoint has served and goes."""
    write = functools.partial(_write_model, net=net, about=about, predictions=predictions,
                              labels=labels, previous_card=out / CARD_FILE)

    def moved() -> None:
        progress.written = True
        remove_checkpoint(checkpoint_dir(out))

    write_when_complete(out, write, on_moved=moved)


def _write_model(directory: Path, *, net: Network, about: dict[str, Any],
                 predictions: np.ndarray, labels: np.ndarray, previous_card: Path) -> None:
    """model.npz and manifest.json (`about`: save_model's name, version, metrics, extra),
    then the card, keeping the previous card's hand-written notes if about these weights."""
    manifest = save_model(net, directory, **about)
    notes = _notes_to_keep(previous_card, manifest["weights_sha256"])
    write_model_card(directory, manifest, predictions, labels, notes)


def _notes_to_keep(previous_card: Path, weights_sha256: str) -> str | None:
    """`carried_notes` of the card being replaced; says so when its notes are left out."""
    previous = previous_card.read_text() if previous_card.is_file() else None
    notes, dropped = carried_notes(previous, weights_sha256)
    if dropped:
        print(f"the previous {CARD_FILE}'s hand-written notes describe weights "
              f"{dropped[:12]}…, not these: left out of the new card (git history keeps "
              "them)", flush=True)
    return notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress()
    try:
        if args.command == "train":
            run_train(args, progress)
    except (IdxError, OutError, SplitError, DivergedError, CheckpointError) as exc:  # says all
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: where it stopped and what --out holds, no traceback
        print(progress.interrupted(args.out), file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader is gone, so stop as Ctrl-C would
        _stdout_to_devnull()
        print(f"output's reader closed the pipe: {progress.interrupted(args.out)}", file=sys.stderr)
        return 141  # 128 + SIGPIPE, what a shell reports for a program the pipe stopped
    return 0


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so Python's flush at exit does not hit the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
