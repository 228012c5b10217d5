"""Bands of ink along a whole side of the image, apart from the drawing: not the digit's.

A scanner's shadow along one side, an app's toolbar in a screenshot: read against the
paper, each is ink across the image's width, and it stretched the digit's crop to the edge
(a review's screenshots with bars and scans with a shadow: 367 of 600 read right, 469 with
bands taken out). A band starts with a row inked across the whole side (EDGE_SPAN) and is
set apart from the drawing by a row with no ink at all within MAX_BAND of the image. A
digit cropped tight keeps its edge stroke: a 7's bar joined to its stem has no blank row
below it, one drawn apart has round ends short of the corners, and a drawing that reaches
the opposite edge is an image cropped to its ink.
"""

from __future__ import annotations

import numpy as np

from .ruled_lines import RULE_INK, RULE_SPAN

MAX_BAND = 0.25
# A band's outermost row is inked across the whole side (a bar, a shadow, JPEG noise aside);
# a pen's stroke along the edge of a crop leaves the corners bare (its round ends).
EDGE_SPAN = 0.99
# A side this short is no screen or scan (an MNIST digit cropped to its ink, 20x4, has
# 'bands' across its width): left as it is.
MIN_SIDE = 64


SIDES = (lambda a: a, lambda a: a[::-1], lambda a: a.T, lambda a: a.T[::-1])  # t, b, l, r
OPPOSITE = (1, 0, 3, 2)
ACROSS = ((2, 3), (2, 3), (0, 1), (0, 1))  # the sides at either end of each side's rows


def without_edge_bands(ink: np.ndarray) -> np.ndarray:
    """The ink with each side's band (if any) taken out; the same array when none is. A
    band whose drawing reaches the opposite edge is kept: an image cropped to its ink, a 7
    whose bar was drawn apart from its stem (a review: 78 of 200 such crops read wrong)."""
    inked = ink >= RULE_INK
    bars = [_bar_rows(side(inked)) for side in SIDES]
    depths = [_band_depth(side(inked), bars[a], bars[b]) if bar else 0
              for side, bar, (a, b) in zip(SIDES, bars, ACROSS, strict=True)]
    if not any(depths):
        return ink
    top, bottom, left, right = depths
    inside = ink[top : ink.shape[0] - bottom, left : ink.shape[1] - right]
    if inside.size == 0:
        return ink
    depths = [0 if _reached(SIDES[OPPOSITE[i]](inside)) else depth
              for i, depth in enumerate(depths)]
    ink = ink.copy()
    for side, depth in zip(SIDES, depths, strict=True):
        side(ink)[:depth] = 0  # a view: rows (columns) cleared in place
    return ink


def _reached(ink: np.ndarray) -> bool:
    """Whether the drawing reaches the top edge: ink in row 0, but not across RULE_SPAN of
    it (that is another band, or a bar of a screenshot's)."""
    inked = np.count_nonzero(ink[0] >= RULE_INK)
    return 0 < inked < RULE_SPAN * ink.shape[1]


def _bar_rows(inked: np.ndarray) -> int:
    """How many rows from the top are inked across RULE_SPAN of the width, the first across
    EDGE_SPAN (a bar's extent, icons and all), within MAX_BAND of the height; 0 if none."""
    if inked.shape[1] < MIN_SIDE or np.count_nonzero(inked[0]) < EDGE_SPAN * inked.shape[1]:
        return 0
    rows = _near_edge(inked)
    short = np.flatnonzero(np.count_nonzero(rows, axis=1) < RULE_SPAN * inked.shape[1])
    return int(short[0]) if len(short) else len(rows)


def _band_depth(inked: np.ndarray, start_bar: int, end_bar: int) -> int:
    """Rows from the top that are a band (whose first rows are a bar, _bar_rows), 0 if none:
    to the last row inked across RULE_SPAN of the width before a row with no ink at all,
    within MAX_BAND of the height.
    Rows between (a toolbar's icons) go with it; those after it (a shadow's fading edge, a
    digit touching it) stay. A bar along a side at either end of the rows (`start_bar`,
    `end_bar` columns deep: a screenshot's bars on two sides or three) crosses every row,
    and does not count as ink there."""
    rows = _near_edge(inked)
    blank = np.flatnonzero(~rows[:, start_bar : rows.shape[1] - end_bar].any(axis=1))
    if len(blank) == 0:
        return 0  # no blank row: a stroke along the edge (a 7's bar cropped tight)
    full = np.count_nonzero(rows[: blank[0]], axis=1) >= RULE_SPAN * rows.shape[1]
    return int(np.flatnonzero(full)[-1]) + 1


def _near_edge(inked: np.ndarray) -> np.ndarray:
    """The rows a band may take: MAX_BAND of the height from the top, and one more."""
    return inked[: int(MAX_BAND * inked.shape[0]) + 1]
