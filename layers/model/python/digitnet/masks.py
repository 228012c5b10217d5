"""Small helpers on masks, index runs and alpha, shared by the preprocessing modules
(one copy each: they were written three to five times)."""

from __future__ import annotations

import numpy as np
from PIL import Image

ALPHA_MODES = ("LA", "RGBA")  # the basic modes (imagefile._to_basic_mode) with an alpha band


def has_alpha(mode: str) -> bool:
    return mode in ALPHA_MODES


def has_see_through(image: Image.Image) -> bool:
    """Whether the image has an alpha band and a pixel not fully opaque in it."""
    return has_alpha(image.mode) and image.getchannel("A").getextrema()[0] < 255


def outer_ring(array: np.ndarray) -> np.ndarray:
    """A 2-D array's outermost ring of elements, each once: top and bottom rows, then the
    left and right columns between them."""
    return np.concatenate((array[0], array[-1], array[1:-1, 0], array[1:-1, -1]))


def grown(mask: np.ndarray) -> np.ndarray:
    """The mask and its 4-neighbours."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def within(mask: np.ndarray, by: int) -> np.ndarray:
    """The mask and every pixel within `by` pixels of it (a square around each), a row
    shift at a time then a column shift (Pillow's MaxFilter took 41 ms on 1024x1024)."""
    down = mask.copy()
    for shift in range(1, by + 1):
        down[shift:] |= mask[:-shift]
        down[:-shift] |= mask[shift:]
    out = down.copy()
    for shift in range(1, by + 1):
        out[:, shift:] |= down[:, :-shift]
        out[:, :-shift] |= down[:, shift:]
    return out


def runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive runs of sorted indices as (start, end) pairs, end exclusive."""
    breaks = np.flatnonzero(np.diff(indices) > 1)
    starts = np.concatenate((indices[:1], indices[breaks + 1])).tolist()
    ends = (np.concatenate((indices[breaks], indices[-1:])) + 1).tolist()
    return list(zip(starts, ends, strict=True))
