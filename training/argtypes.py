"""argparse types shared by the training and evaluation CLIs."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def positive[T: (int, float)](kind: type[T], *, zero: bool = False) -> Callable[[str], T]:
    """An argparse type: a finite number above 0, or 0 and above with `zero` (a negative
    batch size or learning rate once trained to a useless model without a word; a negative
    seed failed after the data was read, a negative count in numpy)."""
    def parse(text: str) -> T:
        value = kind(text)
        if not (value >= 0 if zero else value > 0) or not value < math.inf:
            kind_of = "a number 0 or over" if zero else "a positive number"
            raise argparse.ArgumentTypeError(f"must be {kind_of}, got {text}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def batch_size(text: str) -> int:
    """An argparse type: 2 images or more (batch norm learns nothing from one: its variance
    is 0; train.batch_bounds joins a last batch of one to the one before for that reason)."""
    value = positive(int)(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be 2 or more (batch norm cannot learn from one "
                                         f"image a batch), got {text}")
    return value
