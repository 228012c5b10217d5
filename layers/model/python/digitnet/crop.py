"""Where the digit is in an ink map: its box of clear ink, without what is no part of it.

An XY cut splits the clear ink into patches set apart by blank rows or columns; stray marks
(specks, taps of the pen), lines apart from the digit (a rule under it) and a box or a ring
drawn round it are left out, and ink in no digit's shape is refused. Decoding's helpers need
none of this: normalising (digitnet.preprocess) calls it.
"""

from __future__ import annotations

import numpy as np

from .errors import NoDigitError
from .masks import outer_ring, runs, within

BBOX_REL = 0.25  # ink under this fraction of the peak doesn't stretch the bounding box
# Clear ink (BBOX_REL of the peak and over) that no digit makes: over this share of the
# image (its longer side squared) and of its outermost ring of pixels, where the paper
# should be (no background: a uniform field, noise), or within a box under MIN_EXTENT
# pixels a side (a speck). Each became a confident wrong digit, an 8 at 0.81-1.00.
# Either share alone refuses real digits cropped tight: 64% of a thick 0 with a 5%
# margin is ink; 86% of the edge of a thin 1 with none.
MAX_INK_SHARE = 0.6
MIN_EXTENT = 3
NOISE_REL = 0.08  # ink under this fraction of the peak is background noise
# A patch of ink set apart from the rest by blank rows or columns and holding under this
# share of the largest patch's ink is a stray mark (a tap of the pen, a dust speck), not
# part of the digit: left in, it stretched the crop, and a small digit beside one dot
# shrank to ~8 px and was read right 43% of the time (87% without the dot).
SPECK_REL = 0.08
# A line under the digit and apart from it (a rule of the page, a 6 or a 9 underlined) is no
# part of it either: left in, a 0 over a rule was a 2 at 0.996. A patch is one when it lies
# below all the others, is UNDERLINE_ASPECT times as wide as high or more, and
# UNDERLINE_WIDER times as wide as the rest: a 2's base drawn apart is about as wide as its
# curve (without it the 2 is a 7). No MNIST digit has one (two are underlined, a 9 and a 5,
# by lines no wider than them). Above the digit, a line is one only when it also spans
# OVERLINE_SPAN of the image and the rest stops short of its bottom edge: a 7's bar drawn
# apart from its stem is many times as wide as the stem, but within the drawing, or it is a
# photo cropped to the 7.
UNDERLINE_ASPECT = 4
UNDERLINE_WIDER = 1.5
OVERLINE_SPAN = 0.9
# A box or a ring drawn round the digit (a form's box, a digit circled) is no part of it: the
# ink inside it and clear of it is the digit, when it spans ENCLOSED_SHARE of the box's
# longer side or more (a dot in a ring stays: a 0), holds ENCLOSED_INK of the ink or more,
# and the box is ENCLOSURE_WIDTH as wide as high or more (boxes and rings round a digit are
# round or square; a 0 is taller than wide, so one with a short stroke inside stays a 0).
# Boxed digits in a review: 0.5 of the box across or more, 0.15 of the ink.
ENCLOSED_SHARE = 0.4
ENCLOSED_INK = 0.1
ENCLOSURE_WIDTH = 0.85
SAMPLED_CROSSINGS = 3
BOXED_CROSSINGS = 6  # runs a row through a box crosses at most: 2 of the box, 4 of a digit
MARK_RIM = 2  # pixels around a stray mark's clear ink whose faint ink (its rim) goes with it
# Patches the cut finds at most: past that (texture, a dusty scan) the regions left are
# split no further; it bounds the cut's work (a 1024x1024 staircase of 62 patches: 18 ms).
MAX_PATCHES = 256


Box = tuple[int, int, int, int]  # top, bottom, left, right, as slices: ink[top:bottom, left:right]


def crop_to_ink(ink: np.ndarray, peak: float, *, strict: bool,
                 unbox: bool = True) -> np.ndarray:
    """Crop to the bounding box of clear ink; faint noise and stray marks are dropped, not
    boxed. `strict`: NoDigitError when that ink covers too much (no background) or too
    little. `unbox`: what encloses the digit is left out (once: boxes nested a few pixels
    apart would be unboxed one by one, 6 s on a 1024 px image)."""
    clear = ink >= BBOX_REL * peak
    if strict:
        refuse_without_background(clear)
    (top, bottom, left, right), marks = _digit_and_marks(clear, ink)
    if strict and max(bottom - top, right - left) < MIN_EXTENT:
        raise NoDigitError(f"the ink is a speck, under {MIN_EXTENT} pixels across: too "
                           "small to be a digit")
    crop = ink[top:bottom, left:right].copy()
    crop_clear = clear[top:bottom, left:right]
    for mark in marks:  # only those between pieces of the digit are inside its box
        _erase(crop, crop_clear, (mark[0] - top, mark[1] - top, mark[2] - left, mark[3] - left))
    crop[crop < NOISE_REL * peak] = 0
    inside = _enclosed(crop_clear) if unbox else None
    if inside is not None:  # the digit, and its faint rim, without what encloses it
        return crop_to_ink(np.where(within(inside, MARK_RIM), crop, 0), peak, strict=strict,
                           unbox=False)
    return crop


def refuse_without_background(clear: np.ndarray) -> None:
    """NoDigitError when the clear ink covers MAX_INK_SHARE of the image and of its edge:
    nothing, or dark ink on white read as light on dark, all ink (a confident 8 before)."""
    share = np.count_nonzero(clear) / max(clear.shape) ** 2
    if share > MAX_INK_SHARE and _ring_share(clear) > MAX_INK_SHARE:
        raise NoDigitError(f"ink covers {share:.0%} of the image, its edge too: there is "
                           "no background to tell a digit from")


def _enclosed(clear: np.ndarray) -> np.ndarray | None:
    """The clear ink inside a box or a ring drawn round the digit (see ENCLOSED_SHARE), or
    None. Inside means in no first or last run of ink of its row nor of its column: all of a
    digit's own strokes are in one, but a stroke across a loop, which touches it."""
    height, width = clear.shape
    if width < ENCLOSURE_WIDTH * height or not _boxed_maybe(clear):
        return None  # most drawings, for a few dozen microseconds
    shell = _outer_runs(clear) | _outer_runs(clear.T).T
    inside = clear & ~shell
    if not inside.any() or (within(inside, 1) & shell).any():
        return None
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    across = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    if across < ENCLOSED_SHARE * max(height, width):
        return None
    return inside if np.count_nonzero(inside) >= ENCLOSED_INK * np.count_nonzero(clear) else None


def _boxed_maybe(clear: np.ndarray) -> bool:
    """Whether SAMPLED_CROSSINGS of the rows read (a twentieth of the way apart) cross from
    three to BOXED_CROSSINGS runs of ink, as rows through a box and the digit in it do, and
    a column does too; a digit's own rows cross two at most, but for a few (3 % of the
    canvas set's drawings pass), noise and texture many more. Its columns are all read: a 1
    in a box is a few of them."""
    rows = _crossings(clear[:: max(1, len(clear) // 20)])
    if np.count_nonzero((rows >= 3) & (rows <= BOXED_CROSSINGS)) < SAMPLED_CROSSINGS:
        return False
    columns = _crossings(clear.T)
    return bool(((columns >= 3) & (columns <= BOXED_CROSSINGS)).any())


def _crossings(lines: np.ndarray) -> np.ndarray:
    """The runs of ink each row crosses: its run starts, counted by a sum (np.count_nonzero
    along an axis is that sum behind two more calls, 1.4 us on a drawing)."""
    return (lines[:, 1:] > lines[:, :-1]).sum(axis=1) + lines[:, 0]


def _outer_runs(clear: np.ndarray) -> np.ndarray:
    """Each row's first and last run of ink: from its first ink pixel to the blank after
    it, and the same from the other end."""
    return clear & (_first_runs(clear) | _first_runs(clear[:, ::-1])[:, ::-1])


def _first_runs(clear: np.ndarray) -> np.ndarray:
    columns = np.arange(clear.shape[1])
    start = clear.argmax(axis=1)[:, None]  # 0 in a blank row: its run, anded with no ink, none
    blank_after = ~clear & (columns > start)
    end = np.where(blank_after.any(axis=1), blank_after.argmax(axis=1), clear.shape[1])
    return (columns >= start) & (columns < end[:, None])


def _erase(crop: np.ndarray, clear: np.ndarray, box: Box) -> None:
    """Zero a stray mark (its box, in the crop's coordinates) and its anti-aliased rim, the
    faint ink within MARK_RIM pixels of it: clear ink there is the digit's, and stays."""
    top, bottom, left, right = box
    rim = (slice(max(top - MARK_RIM, 0), max(bottom + MARK_RIM, 0)),
           slice(max(left - MARK_RIM, 0), max(right + MARK_RIM, 0)))
    crop[rim][~clear[rim]] = 0
    crop[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = 0


def _digit_and_marks(clear: np.ndarray, ink: np.ndarray) -> tuple[Box, list[Box]]:
    """The box around the digit's patches of clear ink, and the stray marks (under
    SPECK_REL of the largest patch's ink) left out of it."""
    patches = _ink_patches(clear)
    if len(patches) == 1:
        return patches[0], []
    mass = [float(ink[top:bottom, left:right].sum()) for top, bottom, left, right in patches]
    least = SPECK_REL * max(mass)
    digit = [box for box, m in zip(patches, mass, strict=True) if m >= least]
    marks = [box for box, m in zip(patches, mass, strict=True) if m < least]
    for line in _lines_apart(digit, clear.shape):
        digit.remove(line)
        marks.append(line)
    tops, bottoms, lefts, rights = zip(*digit, strict=True)
    return (min(tops), max(bottoms), min(lefts), max(rights)), marks


def _lines_apart(patches: list[Box], shape: tuple[int, int]) -> list[Box]:
    """The patches that are lines apart from the rest (see UNDERLINE_ASPECT): below it, or
    above it and across the image while the rest stops short of its bottom edge."""
    if len(patches) < 2:
        return []
    lines = []
    lowest = max(patches, key=lambda box: box[0])
    rest = [box for box in patches if box is not lowest]
    if lowest[0] >= max(box[1] for box in rest) and _line_like(lowest, rest):
        lines.append(lowest)
    highest = min(patches, key=lambda box: box[1])
    rest = [box for box in patches if box is not highest]
    if (highest[1] <= min(box[0] for box in rest) and _line_like(highest, rest)
            and highest[3] - highest[2] >= OVERLINE_SPAN * shape[1]
            and max(box[1] for box in rest) < shape[0] - 1):
        lines.append(highest)
    return lines


def _line_like(line: Box, rest: list[Box]) -> bool:
    """UNDERLINE_ASPECT times as wide as high or more, and UNDERLINE_WIDER times as wide as
    the rest."""
    top, bottom, left, right = line
    rest_width = max(box[3] for box in rest) - min(box[2] for box in rest)
    return right - left >= max(UNDERLINE_ASPECT * (bottom - top), UNDERLINE_WIDER * rest_width)


def _ink_patches(clear: np.ndarray) -> list[Box]:
    """Boxes of ink set apart by blank rows or columns (a recursive XY cut, as page layout
    is split into blocks): projections only, so a digit with no gap costs two `any`s. Past
    MAX_PATCHES (a texture) the regions left are split no further, each one patch."""
    patches: list[Box] = []
    todo = [(0, clear.shape[0], 0, clear.shape[1])]
    while todo:
        box, rows, cols = _tight(clear, todo.pop())
        top, bottom, left, right = box
        if rows[-1] - rows[0] != len(rows) - 1:  # a blank row inside
            todo += [(top + a, top + b, left, right) for a, b in runs(rows - rows[0])]
        elif cols[-1] - cols[0] != len(cols) - 1:  # a blank column inside
            todo += [(top, bottom, left + a, left + b) for a, b in runs(cols - cols[0])]
        else:
            patches.append(box)  # one patch (most digits: the first region is the last)
            continue
        if len(patches) + len(todo) > MAX_PATCHES:
            return patches + [_tight(clear, region)[0] for region in todo]
    return patches


def _tight(clear: np.ndarray, region: Box) -> tuple[Box, np.ndarray, np.ndarray]:
    """The box around the clear ink of a region (which has some), and the indices of its
    inked rows and columns, counted from that box."""
    top, bottom, left, right = region
    part = clear[top:bottom, left:right]
    rows = part.any(axis=1).nonzero()[0]  # np.flatnonzero's, without its ravel: 1 us less
    cols = part.any(axis=0).nonzero()[0]
    box = (top + int(rows[0]), top + int(rows[-1]) + 1, left + int(cols[0]),
           left + int(cols[-1]) + 1)
    return box, rows, cols


def _ring_share(clear: np.ndarray) -> float:
    """The share of the outermost ring that is clear ink; 0 for a strip too thin to have
    an inside (a 1-pixel-high line is all edge)."""
    if min(clear.shape) < MIN_EXTENT:
        return 0.0
    ring = outer_ring(clear)
    return np.count_nonzero(ring) / ring.size
