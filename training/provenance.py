"""What a model directory says about the run that made it: its settings (those a resumed
run must share with its checkpoint), the code and libraries, the command that trains it
again, and the version /health reports."""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shlex
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import PIL

from .recipes import RECIPES
from .train import EpochRecord, TrainConfig, augment_config, history_dicts


def run_settings(args: argparse.Namespace, cfg: TrainConfig) -> dict[str, Any]:
    """What a resumed run must share with the checkpoint's, known before the data is read."""
    return {"config": asdict(cfg), "augmentation": augmentation(cfg),
            "val_size": args.val_size, "tiny": args.tiny}


def augmentation(cfg: TrainConfig) -> dict[str, Any] | None:
    """The distortions a run trained with (training/augment.py's settings), recorded: a
    changed default there trains differently under the same config and command."""
    distortions = augment_config(cfg)
    return None if distortions is None else asdict(distortions)


def record(args: argparse.Namespace, cfg: TrainConfig, run: dict[str, Any], commit: str | None,
           history: list[EpochRecord]) -> dict[str, Any]:
    """The manifest's "training" entry: how to retrain this model, and what it was fed.
    `run`: the settings and data a checkpoint of the run holds (`run_settings`, and the
    data's data_sha256 and train_size), in the order manifests have always listed them."""
    return {"command": reproduce_command(args, cfg), "seed": cfg.seed, "code_commit": commit,
            "config": run["config"], "augmentation": run["augmentation"],
            "val_size": run["val_size"], "train_size": run["train_size"], "tiny": run["tiny"],
            "data_sha256": run["data_sha256"], "versions": versions(),
            "history": history_dicts(history)}


def model_version(cfg: TrainConfig, recipe: TrainConfig, tiny: bool) -> str:
    """Architecture, epochs and seed (and -tiny); a run off its `recipe` (as the run names
    it, before the flags that leave it) in anything else (a learning rate, an option) adds
    a hash of what differs: `--option c1=32` was the shipped model's version, and /health
    could not tell them apart."""
    version = f"{cfg.arch}-e{cfg.epochs}-s{cfg.seed}" + ("-tiny" if tiny else "")
    expected = asdict(recipe)
    changed = {k: v for k, v in asdict(cfg).items() if v != expected[k]}
    if not changed:
        return version
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()
    return f"{version}-{digest[:6]}"


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
