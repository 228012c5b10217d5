"""A frame around a drawing: thin lines of one colour all round the image, not paper.

A screenshot of a canvas keeps its border. Read as the paper's colour (digitnet.paper
reads the border), such a frame made the paper itself ink: a canvas with a 2 px light
grey or black border was read wrong. The outer rows (columns) are a frame when they are
one colour and the rows inside them another, itself one colour (paper) for PAPER_ROWS + 1
rows, but for the digit crossing them, on all four sides: a photo cropped tight to a 7 has its
bar, one colour over paper, on one side only. And what lies inside is most of the
image's middle: a box drawn round a digit near the canvas's edge is no frame.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .border import worst_channel

FRAME_SHARE = 0.16  # a frame is at most this share of the image's side, on each side
LINE_LEVELS = 10  # a line is one colour: all but LINE_OUTLIERS of it within these levels
LINE_OUTLIERS = 0.02  # of its median (JPEG noise, a corner)
FRAME_LEVELS = 24  # the frame line and the paper inside it differ by this much or more
# The paper inside goes on, one colour, this many rows past its first: a notebook's printed
# line a few rows in from the edge is not paper (the rows outside it were taken for a frame).
PAPER_ROWS = 4
# The paper's rows may cross the digit, drawn up to the frame: this share of them may be ink.
PAPER_OUTLIERS = 0.3


def without_frame(image: Image.Image) -> Image.Image:
    """The image with its frame lines cut off each side; any other image as it is."""
    width, height = image.size
    most_down, most_across = int(FRAME_SHARE * height), int(FRAME_SHARE * width)
    past_down, past_across = min(most_down + 1, height - 1), min(most_across + 1, width - 1)
    pairs = (*(((width * k // 3, 0), (width * k // 3, past_down)) for k in (1, 2)),
             *(((0, height * k // 3), (past_across, height * k // 3)) for k in (1, 2)))
    if sum(_edge_differs(image, edge, inside) for edge, inside in pairs) < 3:
        return image  # the common case, in a few pixels: the edge is what lies inside it
    down, across = most_down + PAPER_ROWS + 1, most_across + PAPER_ROWS + 1
    # Each side's strip leaves out the corners, where the other sides' frames are.
    wide, tall = (most_across, width - most_across), (most_down, height - most_down)
    top = _frame(_strip(image, (wide[0], 0, wide[1], down)), most_down)
    bottom = _frame(_strip(image, (wide[0], height - down, wide[1], height))[::-1], most_down)
    left = _frame(_strip(image, (0, tall[0], across, tall[1])).transpose(1, 0, 2), most_across)
    right = _strip(image, (width - across, tall[0], width, tall[1])).transpose(1, 0, 2)
    right = _frame(right[::-1], most_across)
    if 0 in (top, bottom, left, right):  # a frame goes all round: one line may be a stroke
        return image
    inside = image.crop((left, top, width - right, height - bottom))
    return inside if _paper_in_the_middle(inside) else image


def _paper_in_the_middle(inside: Image.Image) -> bool:
    """Whether what lies inside the frame (its edge, the paper) is also most of the image's
    middle: a box drawn round a digit near the edge of a canvas has the margin outside it
    for its frame, and its own line for paper."""
    edge = np.median(_strip(inside, (0, 0, inside.width, 1))[0], axis=0)
    width, height = inside.size
    middle = _strip(inside, (width // 4, height // 4, width - width // 4, height - height // 4))
    return bool(np.abs(np.median(middle.reshape(-1, middle.shape[-1]), axis=0) - edge).max()
                < FRAME_LEVELS)


def _edge_differs(image: Image.Image, edge: tuple[int, int], inside: tuple[int, int]) -> bool:
    """Whether the pixel on the edge and the one past where a frame could end differ."""
    at_edge, past = (np.atleast_1d(image.getpixel(xy)).astype(int) for xy in (edge, inside))
    return bool(np.abs(at_edge - past).max() >= FRAME_LEVELS)


def _strip(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    values = np.asarray(image.crop(box))
    return values if values.ndim == 3 else values[..., None]


def _frame(values: np.ndarray, most: int) -> int:
    """How many rows at the top (at most `most`) are frame lines: rows of the first row's
    colour, followed by PAPER_ROWS + 1 of another, all of them each one colour. The rows'
    mean colours screen out the common case, a paper edge, in one pass."""
    rows = values.mean(axis=1)
    differs = np.flatnonzero(worst_channel(rows[: most + 1] - rows[0]) >= FRAME_LEVELS / 2)
    if len(differs) == 0 or differs[0] == 0:
        return 0
    depth = int(differs[0])
    if depth + PAPER_ROWS >= len(values):
        return 0
    lines = [values[k] for k in range(depth + PAPER_ROWS + 1)]
    if not (all(_one_colour(line) for line in lines[:depth])
            and all(_one_colour(line, PAPER_OUTLIERS) for line in lines[depth:])):
        return 0
    frame, paper, deeper = (np.median(lines[k], axis=0) for k in (0, depth, -1))
    gap = np.abs(paper - frame).max()
    return depth if gap >= FRAME_LEVELS and np.abs(deeper - paper).max() < FRAME_LEVELS else 0


def _one_colour(line: np.ndarray, outliers: float = LINE_OUTLIERS) -> bool:
    off = worst_channel(line.astype(np.int16) - np.median(line, axis=0).astype(np.int16))
    return bool(np.count_nonzero(off > LINE_LEVELS) <= outliers * len(line))
