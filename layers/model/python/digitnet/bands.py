"""Bands of ink along a whole side of the image, apart from the drawing: not the digit's.

A scanner's shadow along one side, an app's toolbar in a screenshot: read against the
paper, each is ink across the image's width, and it stretched the digit's crop to the edge
(a review's screenshots with bars and scans with a shadow: 367 of 600 read right, 469 with
bands taken out). A band is the rows from an edge inked across RULE_SPAN of it, set apart
from the drawing by a row with no ink at all within MAX_BAND of the image. A digit cropped
tight (a 7's bar along the top) has no blank row below its edge stroke: it stays whole.
"""

from __future__ import annotations

import numpy as np

from .rules import RULE_INK, RULE_SPAN

MAX_BAND = 0.25
# A side this short is no screen or scan (an MNIST digit cropped to its ink, 20x4, has
# 'bands' across its width): left as it is.
MIN_SIDE = 64


def without_edge_bands(ink: np.ndarray) -> np.ndarray:
    """The ink with each side's band (if any) taken out; the same array when none is."""
    sides = (lambda a: a, lambda a: a[::-1], lambda a: a.T, lambda a: a.T[::-1])
    depths = [_band_depth(side(ink)) for side in sides]
    if not any(depths):
        return ink
    ink = ink.copy()
    for side, depth in zip(sides, depths, strict=True):
        side(ink)[:depth] = 0  # a view: rows (columns) cleared in place
    return ink


def _band_depth(ink: np.ndarray) -> int:
    """Rows from the top that are a band, 0 if none: from row 0 to the last row inked across
    RULE_SPAN of the width before a row with no ink at all, within MAX_BAND of the height.
    Rows between (a toolbar's icons) go with it; those after it (a shadow's fading edge, a
    digit touching it) stay."""
    if ink.shape[1] < MIN_SIDE or np.count_nonzero(ink[0] >= RULE_INK) < RULE_SPAN * ink.shape[1]:
        return 0
    rows = ink[: int(MAX_BAND * ink.shape[0]) + 1] >= RULE_INK
    blank = np.flatnonzero(~rows.any(axis=1))
    if len(blank) == 0:
        return 0  # no blank row: a stroke along the edge (a 7's bar cropped tight)
    full = np.count_nonzero(rows[: blank[0]], axis=1) >= RULE_SPAN * rows.shape[1]
    return int(np.flatnonzero(full)[-1]) + 1
