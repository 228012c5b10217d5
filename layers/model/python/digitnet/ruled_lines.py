"""A notebook page's printed lines: thin bands inked across the page, taken out of the ink.

Ruled or squared paper photographed: the lines are not the digit's. Each becomes the lesser
ink of the rows (columns) either side of it, so a pen stroke crossing one stays whole.
"""

from __future__ import annotations

import numpy as np

from .masks import runs

# Ruled or squared paper (a photo of a notebook page): a printed line is a band of rows
# (or columns) at most RULE_WIDTH of the image thick (RULE_ROWS at least), inked at RULE_INK
# or more across RULE_SPAN of the image; no pen stroke of a digit spans it so. On a notebook
# page 40 canvas drawings were read right 82.5% of the time, on squared paper 45%.
RULE_SPAN = 0.9
RULE_INK = 0.1
RULE_WIDTH = 0.02
RULE_ROWS = 3


def widest_rule(side: int) -> int:
    """The most rows (columns) a printed line takes on an image `side` pixels high (wide)."""
    return int(max(RULE_ROWS, RULE_WIDTH * side))


def without_rules(ink: np.ndarray) -> np.ndarray:
    """Ruled or squared paper's printed lines taken out of an opaque image's ink: thin bands
    of rows (columns) inked across RULE_SPAN of the width (height) or more. Each band
    becomes the lesser ink of the rows just above and below it (columns either side), so a
    pen stroke crossing the line stays whole."""
    inked = ink >= RULE_INK
    height, width = ink.shape
    rows = np.flatnonzero(np.count_nonzero(inked, axis=1) >= RULE_SPAN * width)
    cols = np.flatnonzero(np.count_nonzero(inked, axis=0) >= RULE_SPAN * height)
    if len(rows) == 0 and len(cols) == 0:
        return ink
    ink = ink.copy()
    _fill_lines(ink, rows)
    _fill_lines(ink.T, cols)  # a view: columns filled in place
    return ink


def _fill_lines(ink: np.ndarray, ruled: np.ndarray) -> None:
    """Each thin band of `ruled` rows, in place, as the lesser of the rows either side."""
    height = ink.shape[0]
    for top, bottom in runs(ruled):
        if bottom - top > widest_rule(height):
            continue  # a broad band of ink, not a printed line
        if top > 0 and bottom < height:
            ink[top:bottom] = np.minimum(ink[top - 1], ink[bottom])
        elif top > 0:
            ink[top:bottom] = ink[top - 1]
        elif bottom < height:
            ink[top:bottom] = ink[bottom]
        else:
            ink[top:bottom] = 0  # every row is ruled

