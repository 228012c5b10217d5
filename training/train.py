"""The seeded training loop: augment, step, validate, keep the best epoch's weights."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
from digitnet.losses import cross_entropy, nll
from digitnet.network import Network
from digitnet.optim import SGD, Adam

from .augment import AugmentConfig, augment_batch
from .idx import Split

# A loss this high (guessing among 10 digits costs ln 10 = 2.3) or NaN: the weights blew
# up (as they do at --lr 1000).
DIVERGED_LOSS = 100.0


class DivergedError(ArithmeticError):
    """The loss blew up or became NaN: no model worth writing."""


@dataclass
class TrainConfig:
    """How to train an architecture. The defaults are generic, not any shipped recipe:
    `training.recipes.RECIPES` holds each architecture's recipe (`TrainConfig(arch="cnn")`
    is not the shipped cnn), so `arch` has no default."""

    arch: str
    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.02
    warmup_epochs: float = 1.0
    augment: bool = True
    renormalize: bool = False  # distorted digits back through normalize_batch (see augment)
    seed: int = 1
    arch_options: dict[str, int | float] = field(default_factory=dict)


def augment_config(cfg: TrainConfig) -> AugmentConfig | None:
    """The distortions a config trains with (augment.py's, renormalised as the config says),
    or None without augmentation."""
    return AugmentConfig(renormalize=cfg.renormalize) if cfg.augment else None


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    acc: float
    val_loss: float
    val_acc: float
    seconds: float
    lr: float


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """One-cycle: linear warm-up to the peak, then cosine decay to ~0."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(cfg: TrainConfig) -> SGD | Adam:
    if cfg.optimizer == "sgd":
        return SGD(cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return Adam(cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


def evaluate(net: Network, split: Split) -> tuple[float, float]:
    """(loss, accuracy) at temperature 1."""
    logits = net.logits(split.images)
    return nll(logits, split.labels), float((logits.argmax(axis=1) == split.labels).mean())


def _fmt_seconds(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s"


def train_step(net: Network, opt: SGD | Adam, x: np.ndarray,
               y: np.ndarray) -> tuple[float, np.ndarray]:
    """One optimiser step on the batch (x, y) at `opt`'s current learning rate: the batch's
    mean loss and its logits (train mode), both from before the step."""
    logits = net.forward(x, train=True)
    loss, dlogits = cross_entropy(logits, y)
    net.backward(dlogits)
    opt.step(net.parameters())
    return loss, logits


def _train_epoch(net: Network, opt: SGD | Adam, data: Split, rng: np.random.Generator,
                 batch_size: int, augment: AugmentConfig | None,
                 lrs: Iterator[float]) -> tuple[float, float]:
    """One pass over `data` in a fresh random order, a learning rate from `lrs` per step:
    (mean loss, accuracy) over the batches as trained (augmented, in train mode)."""
    n = len(data.labels)
    order = rng.permutation(n)
    loss_sum = correct = 0.0
    for start, stop in batch_bounds(n, batch_size):
        idx = order[start:stop]
        x = data.images[idx]
        if augment is not None:
            x = augment_batch(x, rng, augment)
        y = data.labels[idx]
        opt.lr = next(lrs)
        loss, logits = train_step(net, opt, x, y)
        loss_sum += loss * len(idx)
        correct += int((logits.argmax(axis=1) == y).sum())
    return loss_sum / n, correct / n


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """An epoch's batches as (start, stop). A last batch of one image joins the one before:
    batch norm cannot normalise one image (variance 0: its output is beta, its gradient
    nothing) and would shrink its running variance by a tenth just before validation."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, [*starts[1:], n], strict=True))


@dataclass
class TrainState:
    """What the loop carries from one epoch to the next: all a resumed run needs to go on
    exactly as the uninterrupted one (training.checkpoint saves it). The Dropout layers'
    generator is inside `net`."""

    net: Network
    opt: SGD | Adam
    rng: np.random.Generator  # the batch order and the augmentation
    epoch: int = 0  # epochs done
    history: list[EpochRecord] = field(default_factory=list)
    best: tuple[float, float] = (-1.0, 0.0)  # (val_acc, -val_loss) of the best epoch
    best_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0  # training time so far, earlier sessions of a resumed run included


def start_state(cfg: TrainConfig) -> TrainState:
    """Epoch 0 of a run: seeded initial weights, a fresh optimiser and generator."""
    rng = np.random.default_rng(cfg.seed)
    net = Network.build(cfg.arch, seed=cfg.seed, **cfg.arch_options)
    return TrainState(net, make_optimizer(cfg), rng, best_arrays=net.arrays())


def train(cfg: TrainConfig, train_split: Split, val_split: Split,
          log: Callable[[str], None] = print,
          on_epoch: Callable[[EpochRecord], None] | None = None,
          state: TrainState | None = None,
          checkpoint: Callable[[TrainState], None] | None = None,
          ) -> tuple[Network, list[EpochRecord]]:
    """Train from `state` (a resumed run's; by default epoch 0 of `cfg`); return the network
    holding the best-validation weights, and the history. `checkpoint` sees the state after
    each epoch, then `on_epoch` its record (the CLI's progress): neither draws from the
    generators, so a run that saves checkpoints trains as one that does not."""
    state = state or start_state(cfg)
    net, opt, rng = state.net, state.opt, state.rng
    augment = augment_config(cfg)
    lrs = _schedule(cfg, len(train_split.labels), state.epoch)
    start, before = time.perf_counter(), state.seconds
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss, acc = _train_epoch(net, opt, train_split, rng, cfg.batch_size, augment, lrs)
        val_loss, val_acc = evaluate(net, val_split)
        rec = EpochRecord(epoch, loss, acc, val_loss, val_acc, time.perf_counter() - t0, opt.lr)
        _check_diverged(rec, cfg.lr)
        state.history.append(rec)
        best = _keep_if_best(state, rec)
        state.epoch, state.seconds = epoch, before + time.perf_counter() - start
        if checkpoint is not None:
            checkpoint(state)
        if on_epoch is not None:  # before the line: whoever reads it sees the epoch counted
            on_epoch(rec)
        log(_epoch_line(rec, cfg.epochs, before + time.perf_counter() - start, best))
    net.set_arrays(state.best_arrays)
    return net, state.history


def _schedule(cfg: TrainConfig, n: int, epochs_done: int) -> Iterator[float]:
    """The learning rate of each step left after `epochs_done` epochs of `n` images: a
    resumed run goes on where the uninterrupted one would be."""
    steps_per_epoch = len(batch_bounds(n, cfg.batch_size))
    total = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    return (lr_at(step, total, warmup, cfg.lr)
            for step in range(epochs_done * steps_per_epoch, total))


def _check_diverged(rec: EpochRecord, lr: float) -> None:
    if not (rec.loss < DIVERGED_LOSS and rec.val_loss < DIVERGED_LOSS):  # NaN included
        raise DivergedError(f"training diverged at epoch {rec.epoch}: the loss is "
                            f"{rec.loss:.3g} (validation {rec.val_loss:.3g}); try a lower --lr "
                            f"(now {lr:g})")


def _keep_if_best(state: TrainState, rec: EpochRecord) -> bool:
    """Keep a copy of the weights if this epoch is the best yet (by val_acc, then val_loss:
    the weights the run returns); whether it is."""
    score = (rec.val_acc, -rec.val_loss)
    if score > state.best:
        state.best = score
        state.best_arrays = {k: v.copy() for k, v in state.net.arrays().items()}
    return state.best == score


def _epoch_line(rec: EpochRecord, epochs: int, elapsed: float, best: bool) -> str:
    """The progress line of an epoch; `elapsed`: the run's seconds so far (earlier
    sessions of a resumed run included), whence the estimate of the rest."""
    eta = elapsed / rec.epoch * (epochs - rec.epoch)
    return (f"epoch {rec.epoch:2d}/{epochs}  loss {rec.loss:.4f}  acc {rec.acc:.4f}  "
            f"val_loss {rec.val_loss:.4f}  val_acc {rec.val_acc:.4f}  time {rec.seconds:.0f}s  "
            f"elapsed {_fmt_seconds(elapsed)}  eta {_fmt_seconds(eta)}"
            + ("  *best" if best else ""))


def history_dicts(history: list[EpochRecord]) -> list[dict[str, float]]:
    return [asdict(r) for r in history]
