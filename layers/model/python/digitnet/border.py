"""The image's border, where a drawing leaves the paper bare: the ring the paper is read on.

Its outermost ring of pixels, sampled; a printed line lying along the image's edge (a
notebook photo cropped on a line) is read past, so its colour is not taken for the paper's.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from PIL import Image

from .masks import has_alpha
from .ruled_lines import RULE_ROWS, RULE_SPAN, widest_rule

RING_SAMPLES = 4096  # border pixels a side read to find the background colour
# A printed line can lie along the image's very edge (a notebook photo cropped on a line).
# On two sides (squared paper) it is half the ring, and its colour was taken for the
# paper's: the page became ink, 1 of 100 squared pages read right. So when most of a side
# of the ring, or of the 16 pixels just past the widest printed line, is unlike the paper
# read, each side that is one colour (RULE_SPAN of it within EDGE_LINE_LEVELS of its
# median) and gives way to another colour within the widest line's rows (MAX_BAR of the
# side, for a bar), which then holds for max(RULE_ROWS, half the widest line) rows past the
# blended ones, is read past it (_edge_line).
EDGE_LINE_LEVELS = 16
INSIDE_POINTS = (0.17, 0.38, 0.61, 0.84)  # where along each side the pixels past it are read
EDGE_BAND_SAMPLES = 256  # pixels along a side read for its rows' colours (a median each)
# A screenshot's bar (status, tool or navigation) is read past like a printed line, however
# deep, up to this share of the side: on two sides or three, the bars were most of the ring
# and their colour was taken for the paper's. At 12 % of the side, bars deeper were mostly
# misread (a review's screenshots: 284 of 600 right, 357 at a fifth). A slope of lighting can
# be read past like a bar too, which left the unevenly lit photos reviewed as they were.
MAX_BAR = 0.2


class EdgeLine(NamedTuple):
    depth: int  # how deep the paper past it is read
    colour: np.ndarray  # the line's
    past: np.ndarray | None = None  # a bar's (deeper than a printed line): the colour past it


def read_ring(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The ring as (n, bands) and its colour (the median, per band); read past printed
    lines along the edge where there are some."""
    ring = _border_ring(image)
    colour = np.median(ring, axis=0)
    if not see_through(ring, image.mode) and _edge_unlike(image, ring, colour):
        ring, colour = _past_edge_lines(image, ring, colour)
    return ring, colour


def _border_ring(image: Image.Image, depths: tuple[int, ...] = (0, 0, 0, 0)) -> np.ndarray:
    """The outermost ring of pixels as (n, bands): top, bottom, left and right sides, each
    `depths` rows (columns) in from its edge (past a printed line along it).

    Each side is sampled at most RING_SAMPLES times, evenly (a nearest-pixel resize of the
    strip, no copy of it): on a 1 x 16,777,216 image the ring is the whole image.
    """
    width, height = image.size
    top, bottom, left, right = depths
    strips = [(0, top, width, top + 1), (0, height - 1 - bottom, width, height - bottom),
              (left, 0, left + 1, height), (width - 1 - right, 0, width - right, height)]
    return np.concatenate([_sampled(image, box) for box in strips])


def ring_where(width: int, height: int, depths: tuple[int, ...] = (0, 0, 0, 0)) -> np.ndarray:
    """Where _border_ring's pixels sit, (n, 2): x and y as fractions of the width and
    height, at pixel centres (`depths` in from the edges, as there)."""
    across, down = min(width, RING_SAMPLES), min(height, RING_SAMPLES)
    x = (np.arange(across) + 0.5) / across
    y = (np.arange(down) + 0.5) / down
    top, bottom, left, right = depths
    sides = [(x, np.full(across, (top + 0.5) / height)),
             (x, np.full(across, 1 - (bottom + 0.5) / height)),
             (np.full(down, (left + 0.5) / width), y),
             (np.full(down, 1 - (right + 0.5) / width), y)]
    return np.concatenate([np.column_stack(side) for side in sides])


def inset_ring(image: Image.Image, share: float) -> tuple[np.ndarray, np.ndarray]:
    """A ring `share` of the height (width) in from the top and bottom (left and right)
    edges, as (n, bands), and where its pixels sit (as ring_where)."""
    width, height = image.size
    down, across = int(share * height), int(share * width)
    depths = (down, down, across, across)
    return _border_ring(image, depths), ring_where(width, height, depths)


def _sampled(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    """Up to RING_SAMPLES evenly spaced pixels of a one-pixel strip, as (n, bands)."""
    left, top, right, bottom = box
    size = (min(right - left, RING_SAMPLES), min(bottom - top, RING_SAMPLES))
    strip = image.resize(size, Image.Resampling.NEAREST, box=box)
    return np.asarray(strip).reshape(-1, len(image.getbands()))


def see_through(ring: np.ndarray, mode: str) -> bool:
    """Whether the paper on the ring is see-through somewhere (a canvas `toDataURL()`)."""
    return has_alpha(mode) and ring[:, -1].min() < 255


def worst_channel(residuals: np.ndarray, axis: int = -1) -> np.ndarray:
    """Largest |residual| over the bands (`axis`: the last, as in (n, bands) rows), pairwise:
    max(axis=1) over 3 columns took 41 us a call on 1024 rows, this 2.5."""
    return functools.reduce(np.maximum, np.moveaxis(np.abs(residuals), axis, 0))


def _edge_unlike(image: Image.Image, ring: np.ndarray, colour: np.ndarray) -> bool:
    """Whether most of a side of _border_ring's ring, or of 16 pixels just past where a
    printed line along the edge would end, is over EDGE_LINE_LEVELS from `colour`, the
    ring's: a line along 1-3 sides, or all four. On most images neither is (ink, a speck),
    and the ring stands as read. The 16 are spaced unevenly: evenly, a grid hits them all."""
    width, height = image.size
    down, across = (min(widest_rule(side) + 1, side - 1) for side in (height, width))
    points = [(int(width * f), y) for f in INSIDE_POINTS for y in (down, height - 1 - down)]
    points += [(x, int(height * f)) for f in INSIDE_POINTS for x in (across, width - 1 - across)]
    inside = np.array([image.getpixel(xy) for xy in points]).reshape(len(points), -1)
    unlike = worst_channel(np.concatenate((ring, inside)) - colour) > EDGE_LINE_LEVELS
    along = min(width, RING_SAMPLES), min(height, RING_SAMPLES)
    sizes = np.array([along[0], along[0], along[1], along[1], len(points)])
    return bool((np.add.reduceat(unlike, np.cumsum(sizes) - sizes) * 2 > sizes).any())


def _past_edge_lines(image: Image.Image, ring: np.ndarray,
                     colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ring and its colour, each side that is a printed line read past it: one colour
    giving way, within the widest line, to another that holds (_edge_line), unlike the
    paper so read, and covering less of the image than that paper does (else the line is
    the paper, with a printed line or a thick stroke, a box-like 0, just inside)."""
    lines = [_edge_line(band, most, reach) for band, most, reach in _edge_bands(image)]
    if any(lines):
        paper_colour = np.median(_border_ring(image, _depths(lines)), axis=0)
        pixels = _overview(image)
        covered = _covers(pixels, paper_colour)
        lines = [line if line and _unlike(line.colour, paper_colour)
                 and _covers(pixels, line.colour) < covered and _paper_past(line, paper_colour)
                 else None for line in lines]
    if not any(lines):
        return ring, colour
    ring = _border_ring(image, _depths(lines))
    return ring, np.median(ring, axis=0)


def _paper_past(line: EdgeLine, paper_colour: np.ndarray) -> bool:
    """Past a bar lies the paper (a stroke running along the edge, the paper between them
    taken for a bar, has ink past it)."""
    return line.past is None or not _unlike(line.past, paper_colour)


def _unlike(colour: np.ndarray, other: np.ndarray) -> bool:
    return bool(worst_channel(colour - other) > EDGE_LINE_LEVELS)


def _overview(image: Image.Image, side: int = 32) -> np.ndarray:
    """A side x side grid of the image's pixels, as (n, bands): what covers most of it."""
    grid = np.asarray(image.resize((side, side), Image.Resampling.NEAREST), np.float64)
    return grid.reshape(side * side, -1)


def _covers(pixels: np.ndarray, colour: np.ndarray) -> int:
    """How many of the (n, bands) pixels are within EDGE_LINE_LEVELS of `colour`."""
    return int(np.count_nonzero(worst_channel(pixels - colour) <= EDGE_LINE_LEVELS))


def _depths(lines: list[EdgeLine | None]) -> tuple[int, ...]:
    return tuple(line.depth if line else 0 for line in lines)


def _edge_bands(image: Image.Image) -> Iterator[tuple[np.ndarray, int, int]]:
    """Each side's band (top, bottom, left, right) as (rows from the edge inward, along,
    bands), deep enough to hold a bar and the rows past it; the widest printed line; and
    the rows within which a line or a bar must end."""
    width, height = image.size
    for side, (along, deep) in enumerate(((width, height), (width, height),
                                          (height, width), (height, width))):
        most = widest_rule(deep)
        reach = max(most, int(MAX_BAR * deep))
        blended, steady = _rows_past(most)
        rows = min(reach + blended + steady, deep)  # a bar ending at `reach`, rows past it
        box = ((0, 0, width, rows), (0, height - rows, width, height),
               (0, 0, rows, height), (width - rows, 0, width, height))[side]
        samples = min(along, EDGE_BAND_SAMPLES)
        size = (samples, rows) if side < 2 else (rows, samples)
        band = np.asarray(image.resize(size, Image.Resampling.NEAREST, box=box))
        band = band if band.ndim == 3 else band[..., None]
        band = band.transpose(1, 0, 2) if side >= 2 else band
        yield (band[::-1] if side % 2 else band), most, reach


def _rows_past(most: int) -> tuple[int, int]:
    """Past the first row unlike a line (or bar): how many rows a blurred edge blends
    (JPEG ringing, a photo's blur; as for a line `most` rows wide), then how many must
    hold steady."""
    return max(2, most // 4), max(RULE_ROWS, most // 2)


def _edge_line(band: np.ndarray, most: int, reach: int) -> EdgeLine | None:
    """A printed line or a bar along the edge of a _edge_bands band: its first row one
    colour, which gives way within `reach` rows to another, that (past the rows a blurred
    edge blends, as for a line `most` rows wide) holds steady for a few rows; None if not."""
    edge = band[0].astype(np.int16)
    line = np.median(edge, axis=0)
    off = worst_channel(edge - line) > EDGE_LINE_LEVELS
    if np.count_nonzero(off) > (1 - RULE_SPAN) * len(edge):
        return None
    profile = np.median(band, axis=1)  # ink or crossing lines in under half a row: unmoved
    changed = np.flatnonzero(worst_channel(profile[: reach + 1] - line) > EDGE_LINE_LEVELS)
    if len(changed) == 0:
        return None
    first = int(changed[0])
    blended, steady = _rows_past(most)
    start = first + blended
    past = profile[start : start + steady]
    if len(past) < RULE_ROWS or np.abs(past - past[-1]).max() > EDGE_LINE_LEVELS:
        return None  # not steady: lighting, a stroke, another line close by
    return EdgeLine(start + len(past) - 1, line, past[-1] if first > most else None)

