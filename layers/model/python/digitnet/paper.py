"""Ink as the distance from the paper: its colour, its lighting, its printed lines.

The paper is read on the image's border (the outermost ring of pixels), where a drawing
leaves it bare: one colour, or on an opaque photo lit unevenly a smooth surface fitted to
the ring. A notebook page's printed lines are taken out of the ink afterwards; one lying
along the image's edge is read past.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops

from .preprocess import EMPTY_PEAK, runs

RING_SAMPLES = 4096  # border pixels a side read to find the background colour
# Uneven lighting (a phone photo: paper 215 grey on one side, 95 on the other) is read
# from the same ring: a quadratic surface fitted to it, ink touching the edge left out.
# When that surface strays from the ring's median by over SHADING_LEVELS somewhere on a
# 9x9 grid over the image, the paper is the surface, else the median, as before. Evenly
# lit photos (noise of 5 to 12 levels, JPEG, ink and specks on the edge) strayed by 3.2 at
# most; a trend of 40 levels across the page strays by 20, and made pencil unreadable.
SHADING_LEVELS = 8.0
# The fit starts at the median and trusts ring pixels within these many levels of it,
# then of each new fit (Tukey's biweight): a smooth trend is followed a step at a time;
# ink on the ring, far from the paper, weighs nothing, nor a dark band on one side.
SHADING_TOLERANCES = (64.0, 48.0, 32.0, 24.0, 16.0)
# Lighting is smooth: the surface must cut the ring's misfit (squared, each pixel's capped
# at SHADING_TOLERANCES[-1]) to this share of the median's or less. Lighting trends of
# 20+ levels gave 0.57 at most, with ink and specks on the edge; a grey third of a long
# strip of white paper, 0.88: left to the median. (On a square the quadratic follows a
# grey third partly, 0.39: a hard edge of paper is not what it is for.)
SHADING_GAIN = 0.7
SHADING_FIT_SAMPLES = 1024  # ring pixels the fit reads at most (a smooth trend needs few)
# The surface is evaluated on at most this many points a side, then enlarged to the image
# by nearest pixel: within 0.74 of a level of the exact surface (uint8 rounding included)
# on a 1024x1024 photo, 1.3 ms in all; Pillow's bilinear enlarging from 33 points took
# 4.9 ms alone.
SHADING_GRID = 256
# Ruled or squared paper (a photo of a notebook page): a printed line is a band of rows
# (or columns) at most RULE_WIDTH of the image thick (RULE_ROWS at least), inked at RULE_INK
# or more across RULE_SPAN of the image; no pen stroke of a digit spans it so. On a notebook
# page 40 canvas drawings were read right 82.5% of the time, on squared paper 45%.
RULE_SPAN = 0.9
RULE_INK = 0.1
RULE_WIDTH = 0.02
RULE_ROWS = 3
# A printed line can lie along the image's very edge (a notebook photo cropped on a line).
# On two sides (squared paper) it is half the ring, and its colour was taken for the
# paper's: the page became ink, 1 of 100 squared pages read right. So when the pixels just
# past the widest printed line are unlike the paper read, each side that is one colour
# (RULE_SPAN of it within EDGE_LINE_LEVELS of its median) and gives way to another colour
# within the widest line's rows, which then holds as many rows more, is read past it.
EDGE_LINE_LEVELS = 16
INSIDE_POINTS = (0.17, 0.38, 0.61, 0.84)  # where along each side the pixels past it are read
EDGE_BAND_SAMPLES = 256  # pixels along a side read for its rows' colours (a median each)


EdgeLine = tuple[int, np.ndarray]  # how deep the paper past it is read; the line's colour


@dataclass(frozen=True)
class Paper:
    """The paper under a drawing: its colour (the ring's median, per band), and when lit
    unevenly the lighting surface's (6, colour bands) coefficients (see _design)."""

    colour: np.ndarray
    shading: np.ndarray | None


def find_paper(image: Image.Image) -> Paper:
    """Read from the full-size image's border (reducing it first blurs the border)."""
    ring = _border_ring(image)
    colour = np.median(ring, axis=0)
    if not _see_through(ring, image.mode) and _edge_unlike(image, ring, colour):
        ring, colour = _past_edge_lines(image, ring, colour)
    return Paper(colour, _shading(image, ring, colour))


def ink_on_paper(image: Image.Image, paper: Paper) -> np.ndarray:
    """A 2-D float32 ink map in [0, 1] (ink = 1): alpha x distance from the paper's colour
    per pixel; on a see-through background (a canvas `toDataURL()`), the alpha coverage.
    An image with see-through pixels inside is left to its alpha, not to lighting (checked
    on the image as reduced: 21 ms on a 4096x4096 RGBA, 1 ms reduced)."""
    shading = paper.shading
    if shading is not None and _see_through_inside(image):
        shading = None
    return _ink_from_image(image, paper.colour, shading)


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


def _ring_where(width: int, height: int) -> np.ndarray:
    """Where _border_ring's pixels sit, (n, 2): x and y as fractions of the width and
    height, at pixel centres."""
    across, down = min(width, RING_SAMPLES), min(height, RING_SAMPLES)
    x = (np.arange(across) + 0.5) / across
    y = (np.arange(down) + 0.5) / down
    sides = [(x, np.full(across, 0.5 / height)), (x, np.full(across, 1 - 0.5 / height)),
             (np.full(down, 0.5 / width), y), (np.full(down, 1 - 0.5 / width), y)]
    return np.concatenate([np.column_stack(side) for side in sides])


def _widest_rule(side: int) -> int:
    """The most rows (columns) a printed line takes on an image `side` pixels high (wide)."""
    return int(max(RULE_ROWS, RULE_WIDTH * side))


def _edge_unlike(image: Image.Image, ring: np.ndarray, colour: np.ndarray) -> bool:
    """Whether most of a side of _border_ring's ring, or of 16 pixels just past where a
    printed line along the edge would end, is over EDGE_LINE_LEVELS from `colour`, the
    ring's: a line along 1-3 sides, or all four. On most images neither is (ink, a speck),
    and the ring stands as read. The 16 are spaced unevenly: evenly, a grid hits them all."""
    width, height = image.size
    down, across = (min(_widest_rule(side) + 1, side - 1) for side in (height, width))
    points = [(int(width * f), y) for f in INSIDE_POINTS for y in (down, height - 1 - down)]
    points += [(x, int(height * f)) for f in INSIDE_POINTS for x in (across, width - 1 - across)]
    inside = np.array([image.getpixel(xy) for xy in points]).reshape(len(points), -1)
    unlike = _worst_channel(np.concatenate((ring, inside)) - colour) > EDGE_LINE_LEVELS
    along = min(width, RING_SAMPLES), min(height, RING_SAMPLES)
    sizes = np.array([along[0], along[0], along[1], along[1], len(points)])
    return bool((np.add.reduceat(unlike, np.cumsum(sizes) - sizes) * 2 > sizes).any())


def _past_edge_lines(image: Image.Image, ring: np.ndarray,
                     colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ring and its colour, each side that is a printed line read past it: one colour
    giving way, within the widest line, to another that holds (_edge_line), unlike the
    paper so read, and covering less of the image than that paper does (else the line is
    the paper, with a printed line or a thick stroke, a box-like 0, just inside)."""
    lines = [_edge_line(band, most) for band, most in _edge_bands(image)]
    if any(lines):
        paper = np.median(_border_ring(image, _depths(lines)), axis=0)
        pixels = _overview(image)
        covered = _covers(pixels, paper)
        lines = [line if line and _unlike(line[1], paper) and _covers(pixels, line[1]) < covered
                 else None for line in lines]
    if not any(lines):
        return ring, colour
    ring = _border_ring(image, _depths(lines))
    return ring, np.median(ring, axis=0)


def _unlike(colour: np.ndarray, other: np.ndarray) -> bool:
    return bool(np.abs(colour - other).max() > EDGE_LINE_LEVELS)


def _overview(image: Image.Image, side: int = 32) -> np.ndarray:
    """A side x side grid of the image's pixels, as (n, bands): what covers most of it."""
    grid = np.asarray(image.resize((side, side), Image.Resampling.NEAREST), np.float64)
    return grid.reshape(side * side, -1)


def _covers(pixels: np.ndarray, colour: np.ndarray) -> int:
    """How many of the (n, bands) pixels are within EDGE_LINE_LEVELS of `colour`."""
    return int(np.count_nonzero(_worst_channel(pixels - colour) <= EDGE_LINE_LEVELS))


def _depths(lines: list[EdgeLine | None]) -> tuple[int, ...]:
    return tuple(line[0] if line else 0 for line in lines)


def _edge_bands(image: Image.Image) -> Iterator[tuple[np.ndarray, int]]:
    """Each side's band (top, bottom, left, right) as (rows from the edge inward, along,
    bands), twice the widest printed line deep and one more row; and that widest line."""
    width, height = image.size
    for side, (along, deep) in enumerate(((width, height), (width, height),
                                          (height, width), (height, width))):
        most = _widest_rule(deep)
        rows = min(2 * most + 1, deep)
        box = ((0, 0, width, rows), (0, height - rows, width, height),
               (0, 0, rows, height), (width - rows, 0, width, height))[side]
        samples = min(along, EDGE_BAND_SAMPLES)
        size = (samples, rows) if side < 2 else (rows, samples)
        band = np.asarray(image.resize(size, Image.Resampling.NEAREST, box=box))
        band = band if band.ndim == 3 else band[..., None]
        band = band.transpose(1, 0, 2) if side >= 2 else band
        yield (band[::-1] if side % 2 else band), most


def _edge_line(band: np.ndarray, most: int) -> EdgeLine | None:
    """A printed line along the edge of a _edge_bands band: its first row one colour, which
    gives way within `most` rows to another, that (past the rows a blurred edge blends)
    holds steady for a few rows; None if not."""
    edge = band[0].astype(np.int16)
    line = np.median(edge, axis=0)
    off = _worst_channel(edge - line) > EDGE_LINE_LEVELS
    if np.count_nonzero(off) > (1 - RULE_SPAN) * len(edge):
        return None
    profile = np.median(band, axis=1)  # ink or crossing lines in under half a row: unmoved
    changed = np.flatnonzero(np.abs(profile[: most + 1] - line).max(axis=1) > EDGE_LINE_LEVELS)
    if len(changed) == 0:
        return None
    start = int(changed[0]) + max(2, most // 4)  # JPEG ringing, a photo's blur
    past = profile[start : start + max(RULE_ROWS, most // 2)]
    if len(past) < RULE_ROWS or np.abs(past - past[-1]).max() > EDGE_LINE_LEVELS:
        return None  # not steady: lighting, a stroke, another line close by
    return start + len(past) - 1, line


def _sampled(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    """Up to RING_SAMPLES evenly spaced pixels of a one-pixel strip, as (n, bands)."""
    left, top, right, bottom = box
    size = (min(right - left, RING_SAMPLES), min(bottom - top, RING_SAMPLES))
    strip = image.resize(size, Image.Resampling.NEAREST, box=box)
    return np.asarray(strip).reshape(-1, len(image.getbands()))


def _shading(image: Image.Image, ring: np.ndarray, background: np.ndarray) -> np.ndarray | None:
    """The paper's lighting as a quadratic surface ((6, colour bands) coefficients over
    _design's terms) when it is uneven on an opaque image; None otherwise, and then the
    paper is the one colour `background`, as always. An evenly lit ring (every pixel within
    SHADING_LEVELS of the median, as on a drawn canvas) costs one comparison."""
    colours = len(image.getbands())
    if _see_through(ring, image.mode):  # a canvas: its alpha is the ink
        return None
    if image.mode in ("LA", "RGBA"):
        colours -= 1
    samples, paper = ring[:, :colours], background[:colours]
    if np.abs(samples - paper).max() <= SHADING_LEVELS:
        return None
    step = -(-len(samples) // SHADING_FIT_SAMPLES)
    samples = samples[::step].astype(np.float64)
    design = _design(_ring_where(*image.size)[::step])
    coef = _robust_surface(samples, design, paper)
    if np.abs(_surface(coef, 9, 9) - paper).max() <= SHADING_LEVELS:
        return None
    if _misfit(samples - design @ coef) > SHADING_GAIN * _misfit(samples - paper):
        return None  # no smoother than one colour: a paper of two tones, not lighting
    return coef


def _see_through(ring: np.ndarray, mode: str) -> bool:
    """Whether the paper on the ring is see-through somewhere (a canvas `toDataURL()`)."""
    return mode in ("LA", "RGBA") and ring[:, -1].min() < 255


def _see_through_inside(image: Image.Image) -> bool:
    """Whether an image with an alpha band has a pixel not fully opaque."""
    return image.mode in ("LA", "RGBA") and image.getchannel("A").getextrema()[0] < 255


def _design(where: np.ndarray) -> np.ndarray:
    """The quadratic's terms at (n, 2) points, as _surface orders its coefficients."""
    x, y = where[:, 0] - 0.5, where[:, 1] - 0.5  # centred: a well-conditioned fit
    return np.column_stack((np.ones_like(x), x, x * x, y, x * y, y * y))


def _surface(coef: np.ndarray, columns: int, rows: int) -> np.ndarray:
    """The surface at the centres of a rows x columns grid over the image, (rows, columns,
    bands), summed a power of y at a time (no (rows x columns, 6) matrix of terms)."""
    coef = coef.astype(np.float32)
    x = ((np.arange(columns, dtype=np.float32) + 0.5) / columns - 0.5)[:, None]
    y = ((np.arange(rows, dtype=np.float32) + 0.5) / rows - 0.5)[:, None, None]
    constant = coef[0] + x * coef[1] + x * x * coef[2]  # (columns, bands), as _design
    linear = coef[3] + x * coef[4]
    return constant + y * linear + y * y * coef[5]


def _misfit(residuals: np.ndarray) -> float:
    """Mean squared misfit over ring pixels (worst channel), each capped at the last
    tolerance: ink on the ring counts once, however dark."""
    off = _worst_channel(residuals) / SHADING_TOLERANCES[-1]
    return float(np.minimum(off * off, 1).mean())


def _worst_channel(residuals: np.ndarray) -> np.ndarray:
    """Largest |residual| of each (n, bands) row, pairwise: max(axis=1) over 3 columns
    took 41 us a call on 1024 rows, this 2.5."""
    return functools.reduce(np.maximum, np.abs(residuals).T)


def _robust_surface(samples: np.ndarray, design: np.ndarray,
                    background: np.ndarray) -> np.ndarray:
    """Least squares with Tukey's biweight, from the constant median outwards through
    SHADING_TOLERANCES: a ring pixel far from the current fit in any channel (ink touching
    the edge, a dust speck, a scanner's dark band) weighs nothing; a smooth trend is
    followed a tolerance at a time. Under half the ring trusted keeps the last fit."""
    coef = np.zeros((design.shape[1], samples.shape[1]))
    coef[0] = background
    for tolerance in SHADING_TOLERANCES:
        off = _worst_channel(samples - design @ coef) / tolerance
        weight = np.clip(1 - off * off, 0, None) ** 2
        if np.count_nonzero(weight) < len(weight) // 2:
            break
        weighted = design.T * weight  # the 6x6 normal equations, a ridge too small to
        normal = weighted @ design  # matter but for a ring of one row (terms in y all 0)
        normal[np.diag_indices_from(normal)] += 1e-9 * len(weight)
        coef = np.linalg.solve(normal, weighted @ samples)
    return coef


def _paper_image(mode: str, size: tuple[int, int], background: np.ndarray,
                 shading: np.ndarray | None) -> Image.Image:
    """The paper alone, in uint8: one colour, or the shading surface on a grid of at most
    SHADING_GRID points a side enlarged to the image by nearest pixel."""
    if shading is None:
        return Image.new(mode, size, tuple(int(v) for v in np.round(background)))
    columns, rows = (min(SHADING_GRID, side) for side in size)
    levels = np.clip(np.round(_surface(shading, columns, rows)), 0, 255).astype(np.uint8)
    grid = Image.fromarray(levels[..., 0] if mode == "L" else levels)
    return grid if grid.size == size else grid.resize(size, Image.Resampling.NEAREST)


def _ink_from_image(image: Image.Image, background: np.ndarray,
                    shading: np.ndarray | None = None) -> np.ndarray:
    """Ink = alpha x distance from the paper's colour (`shading`: lit unevenly), per pixel."""
    alpha = None
    if image.mode in ("LA", "RGBA"):
        levels = np.asarray(image.getchannel("A")).astype(np.float32)
        alpha = levels * np.float32(1 / 255)
        paper = np.float32(background[-1])
        # See-through paper (a canvas toDataURL): coverage over the paper's is the ink,
        # unless the alpha draws nothing (a whole picture made see-through: its colours do).
        if paper < 128 and (paper == 0 or levels.max() - paper >= EMPTY_PEAK * 255):
            return alpha if paper == 0 else np.clip((levels - paper) / (255 - paper), 0, 1)
        image, background = image.convert(image.mode[:-1]), background[:-1]
    # Largest per-channel distance; done in Pillow's C loops (NumPy's max over a
    # 3-long axis costs milliseconds on a 280x280 canvas).
    plain = _paper_image(image.mode, image.size, background, shading)
    channels = ImageChops.difference(image, plain).split()
    distance = functools.reduce(ImageChops.lighter, channels)
    ink = np.asarray(distance, dtype=np.float32) * np.float32(1 / 255)
    if alpha is not None:
        ink *= alpha
    return _without_rules(ink)


def _without_rules(ink: np.ndarray) -> np.ndarray:
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
        if bottom - top > _widest_rule(height):
            continue  # a broad band of ink, not a printed line
        above = ink[top - 1] if top > 0 else None
        below = ink[bottom] if bottom < height else None
        edge = above if below is None else below if above is None else np.minimum(above, below)
        ink[top:bottom] = 0 if edge is None else edge
