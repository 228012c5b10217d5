"""A training run's checkpoint, saved after each epoch so that an interrupted run can go on
(`--resume`) to the very weights the uninterrupted run gives.

`--out/.checkpoint/` holds `epoch-NNN.npz` (the network's arrays, BatchNorm's running
statistics included, the best epoch's, the optimiser's: no pickles) and `checkpoint.json`
(the generators' states, the history, the run's settings, the sha256 of the .npz). They
are written as a model is (`outdir.write_when_complete`), the JSON last: a Ctrl-C or a
crash while saving leaves the previous checkpoint whole. A dot-folder: neither the model
check of --out (`check_out`) nor the layer build looks in it. Removed once the model is in.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from digitnet.modelfile import (
    ModelFileError,
    array_mismatch,
    array_value_problem,
    is_number,
    npz_bytes,
    read_weights,
    sha256_hex,
    shapes_of,
)
from digitnet.network import Network, unprefixed

from .outdir import write_when_complete
from .train import EpochRecord, TrainConfig, TrainState, history_dicts, start_state

CHECKPOINT_DIR = ".checkpoint"
STATE_FILE = "checkpoint.json"
FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be resumed: unreadable, corrupt, or another run's."""


def checkpoint_dir(out: Path) -> Path:
    return out / CHECKPOINT_DIR


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as read from disk, its arrays verified against their sha256."""

    directory: Path
    about: dict[str, Any]  # checkpoint.json
    arrays: dict[str, np.ndarray]

    @property
    def epoch(self) -> int:
        return self.about["epoch"]


def save_checkpoint(directory: Path, state: TrainState, *, epochs: int, run: dict[str, Any],
                    commit: str | None, on_saved: Callable[[], None] | None = None) -> None:
    """Save `state` as the checkpoint in `directory`, replacing the one there. `run`: the
    settings a resume must match (`check_run`); `on_saved` is told, Ctrl-C held off, once
    the new checkpoint is the one in place."""
    data = npz_bytes(_arrays(state))
    name = f"epoch-{state.epoch:03d}.npz"
    about = {"format_version": FORMAT_VERSION, "epoch": state.epoch, "epochs": epochs,
             "run": run, "code_commit": commit, "arrays_file": name,
             "arrays_sha256": sha256_hex(data), **_loop_state(state)}

    def write(scratch: Path) -> None:
        _write_synced(scratch / name, data)
        _write_synced(scratch / STATE_FILE, (json.dumps(about, indent=1) + "\n").encode())

    def saved() -> None:
        _sync_folder(directory)  # the moves on the disk before the old arrays go
        for stale in directory.glob("epoch-*.npz"):  # the previous epoch's, or another run's
            if stale.name != name:
                stale.unlink()
        if on_saved is not None:
            on_saved()

    write_when_complete(directory, write, on_moved=saved, last=STATE_FILE)


def _arrays(state: TrainState) -> dict[str, np.ndarray]:
    return {**{f"net:{k}": v for k, v in state.net.arrays().items()},
            **{f"best:{k}": v for k, v in state.best_arrays.items()},
            **{f"opt:{k}": v for k, v in state.opt.state().items()}}


def _loop_state(state: TrainState) -> dict[str, Any]:
    """The state's scalars, as JSON: a generator's state is a dict of integers."""
    return {"rng": state.rng.bit_generator.state,
            "layer_rngs": {str(i): rng.bit_generator.state
                           for i, rng in _layer_rngs(state.net).items()},
            "best": list(state.best), "history": history_dicts(state.history),
            "seconds": state.seconds}


def _layer_rngs(net: Network) -> dict[int, np.random.Generator]:
    """The generators layers draw from while training (Dropout's masks), by layer index."""
    return {i: layer.rng for i, layer in enumerate(net.layers)
            if isinstance(getattr(layer, "rng", None), np.random.Generator)}


def _write_synced(path: Path, data: bytes) -> None:
    """Write and flush to the disk: a checkpoint must outlive the machine going away."""
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sync_folder(directory: Path) -> None:
    """Flush a folder's entries (the files just moved in) to the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def has_checkpoint(directory: Path) -> bool:
    return (directory / STATE_FILE).is_file()


def read_about(directory: Path) -> dict[str, Any] | None:
    """The checkpoint.json in `directory`, None if there is none."""
    path = directory / STATE_FILE
    if not has_checkpoint(directory):
        return None
    try:
        about = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise CheckpointError(f"checkpoint {path} is unreadable: {exc}") from None
    if not isinstance(about, dict) or about.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} is not a format-{FORMAT_VERSION} checkpoint")
    return about


def describe_checkpoint(directory: Path) -> str:
    """'at epoch 7/20', or that the checkpoint in `directory` cannot be read (and why)."""
    try:
        about = read_about(directory) or {}
        return f"at epoch {about['epoch']}/{about['epochs']}"
    except CheckpointError as exc:
        return f"({exc})"
    except KeyError as exc:
        return f"(unreadable: it lacks {exc})"


def load_checkpoint(directory: Path) -> Checkpoint:
    """The checkpoint in `directory`, its arrays checked against their sha256."""
    about = read_about(directory)
    if about is None:
        raise CheckpointError(f"no checkpoint in {directory}")
    name = about.get("arrays_file")
    if not isinstance(name, str) or Path(name).name != name:
        raise CheckpointError(f"checkpoint {directory / STATE_FILE} names no arrays file")
    try:
        arrays = read_weights(directory / name, str(about.get("arrays_sha256")))
    except ModelFileError as exc:
        raise CheckpointError(f"checkpoint {directory} is corrupt: {exc}") from None
    return Checkpoint(directory, about, arrays)


def check_run(checkpoint: Checkpoint, run: dict[str, Any]) -> None:
    """Refuse to resume with other settings than the checkpoint's: its weights, schedule
    and generators only go on to the uninterrupted run's result under its own."""
    saved = checkpoint.about.get("run")
    if not isinstance(saved, dict):
        raise CheckpointError(f"checkpoint {checkpoint.directory} does not say its run's settings")
    differ = differences({k: saved.get(k) for k in run}, _as_saved(run))
    if differ:
        raise CheckpointError(f"--resume: the checkpoint in {checkpoint.directory} is of a run "
                              f"with other settings: {', '.join(differ)}; resume it with the "
                              "same arguments, or start again with --restart instead of "
                              "--resume")


def _as_saved(run: dict[str, Any]) -> dict[str, Any]:
    """`run` as checkpoint.json holds it, to compare like with like: JSON has no tuples
    (they come back lists) and only string keys."""
    return json.loads(json.dumps(run))


def differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """'lr 0.003 (now 0.01)' for each setting that differs, nested ones dotted."""
    found = []
    for key in [*saved, *(k for k in now if k not in saved)]:
        a, b = saved.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key} {_shown(a)} (now {_shown(b)})")
    return found


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 24 else text[:20] + "…"


def restore_state(checkpoint: Checkpoint, cfg: TrainConfig) -> TrainState:
    """The state the checkpoint saved, rebuilt for `cfg` (whose settings it was saved with)."""
    state = start_state(cfg)
    about, arrays = checkpoint.about, checkpoint.arrays
    net_shapes = shapes_of(state.net.arrays())
    opt_shapes = state.opt.state_shapes(state.net.parameter_shapes())
    try:
        state.net.set_arrays(_part(arrays, "net", net_shapes, "network", weights=True))
        state.best_arrays = _part(arrays, "best", net_shapes, "network", weights=True)
        state.opt.load_state(_part(arrays, "opt", opt_shapes, "optimiser"))
        state.rng.bit_generator.state = about["rng"]
        for i, rng in _layer_rngs(state.net).items():
            rng.bit_generator.state = about["layer_rngs"][str(i)]
        state.history = [EpochRecord(**r) for r in about["history"]]
        state.best, state.seconds = _best(about["best"]), float(about["seconds"])
        state.epoch = int(about["epoch"])
    except KeyError as exc:
        raise CheckpointError(f"checkpoint {checkpoint.directory} lacks {exc}") from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {checkpoint.directory} does not fit this run: "
                              f"{exc}") from None
    if not 0 < state.epoch <= cfg.epochs or len(state.history) != state.epoch:
        raise CheckpointError(f"checkpoint {checkpoint.directory} is of epoch {state.epoch} "
                              f"of {cfg.epochs}, with {len(state.history)} epochs of history")
    return state


def _part(arrays: dict[str, np.ndarray], part: str, expected: dict[str, tuple[int, ...]],
          what: str, *, weights: bool = False) -> dict[str, np.ndarray]:
    """The arrays saved under `part:`, checked to have the keys and shapes `what` (the
    network, the optimiser) expects: a missing moment silently restarted at zero. `weights`:
    also float32 and finite, as a model file's (a NaN weight trained on, to a 'diverged'
    epochs later); the optimiser's step count is an integer."""
    found = unprefixed(arrays, f"{part}:")
    problem = array_mismatch(expected, found, what)
    if problem:
        raise ValueError(f"its {part} arrays are not the {what}'s: {problem}")
    if weights:
        problem = array_value_problem(found)
        if problem:
            raise ValueError(f"its {part} arrays: {problem}")
    return found


def _best(value: Any) -> tuple[float, float]:
    """checkpoint.json's `best`, (val_acc, -val_loss) of the best epoch, checked: the
    run compares each epoch's with it."""
    if not (isinstance(value, list) and len(value) == 2 and all(map(is_number, value))):
        raise ValueError(f"best must be [val_acc, -val_loss], two numbers, got {value!r}")
    return float(value[0]), float(value[1])


def remove_checkpoint(directory: Path) -> None:
    """Delete the checkpoint, its JSON first: what is left of a removal that fails half way
    is no checkpoint."""
    (directory / STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)
