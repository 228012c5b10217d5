"""Which MNIST training images a run trains on and which it holds out for validation.

The split is seeded by the run's --seed, so a validation set can be drawn again later
(`validation_indices`: the canvas evaluation's `--digits val`).
"""

from __future__ import annotations

import numpy as np

from .idx import Split

# --tiny: a small subset for CI and pipeline checks. --val-size, if given, replaces "val".
TINY = {"train": 1200, "val": 300, "test": 1000, "epochs": 2}
DEFAULT_SEED = 1
DEFAULT_VAL = 5000


class SplitError(ValueError):
    """A split the training set cannot give."""


def split_data(full: Split, test: Split, val_size: int, seed: int,
               tiny: bool) -> tuple[Split, Split, Split]:
    """A seeded validation split held out of the training set (with --tiny, the next
    TINY["train"] images of the same order train)."""
    if val_size >= len(full.labels):
        raise SplitError(f"--val-size {val_size} leaves no training images (the training set "
                         f"has {len(full.labels)})")
    order = _split_order(len(full.labels), seed)
    val_idx, train_idx = order[:val_size], order[val_size:]
    if tiny:
        train_idx = train_idx[:TINY["train"]]
        test = Split(test.images[:TINY["test"]], test.labels[:TINY["test"]])

    def pick(idx: np.ndarray) -> Split:  # in file order, whatever the seed's order
        return Split(full.images[np.sort(idx)], full.labels[np.sort(idx)])

    return pick(train_idx), pick(val_idx), test


def _split_order(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed + 10_000).permutation(n)


def validation_indices(n: int, val_size: int, seed: int) -> np.ndarray:
    """Which of the `n` training images a run with this --seed and --val-size validates on
    (the canvas evaluation can draw them: `--digits val`)."""
    return _split_order(n, seed)[:val_size]
