"""Paper lit unevenly (a phone photo): a smooth surface fitted to the border's ring.

Read against one colour, the shaded side of a photo's paper became ink. Only when the ring
says the lighting is uneven is a quadratic fitted to it, robust to ink and specks on the
edge (and, where it fits the paper nearer the digit better, to a ring inside it as well:
a shadow along one edge); evenly lit images and canvases keep the one colour.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image

from .border import inset_ring, ring_where, see_through, worst_channel
from .masks import has_alpha

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
# A shadow along one edge (the phone's, a hand's) darkens that side of the ring alone, and
# the quadratic bent to follow it, leaving the paper beside it as faint ink (33 of 146 such
# photos in a review read wrong). A second ring this share of each side further in sees
# the paper past it: the surface fitted to both rings, from the inner ring's own fit
# outwards, is taken when it fits the inner ring better than the outer ring's fit does, is
# uneven, and fits the inner ring far better than its median colour (SHADING_GAIN: a
# paper of two tones runs through both rings); else the outer ring's, as before.
INNER_RING = 0.2


def shading(image: Image.Image, ring: np.ndarray, colour: np.ndarray) -> np.ndarray | None:
    """The paper's lighting as a quadratic surface ((6, colour bands) coefficients over
    _design's terms) when it is uneven on an opaque image; None otherwise, and then the
    paper is `colour`, one colour, as always. An evenly lit ring (every pixel within
    SHADING_LEVELS of the median, as on a drawn canvas) costs one comparison."""
    bands = len(image.getbands())
    if see_through(ring, image.mode):  # a canvas: its alpha is the ink
        return None
    if has_alpha(image.mode):
        bands -= 1
    samples, paper_colour = ring[:, :bands], colour[:bands]
    if np.abs(samples - paper_colour).max() <= SHADING_LEVELS:
        return None
    step = math.ceil(len(samples) / SHADING_FIT_SAMPLES)
    outer = _Points(samples[::step].astype(np.float64), _design(ring_where(*image.size)[::step]))
    inner_samples, inner_where = inset_ring(image, INNER_RING)
    inner = _Points(inner_samples[::step, :bands].astype(np.float64),
                    _design(inner_where[::step]))
    outer_fit = _robust_surface(outer, paper_colour)
    both = _Points(np.concatenate((outer.samples, inner.samples)),
                   np.concatenate((outer.design, inner.design)))
    both_fit = _robust_surface(both, paper_colour, start=_robust_surface(inner, paper_colour))
    if (inner.misfit(both_fit) < inner.misfit(outer_fit) and _uneven(both_fit, paper_colour)
            and inner.smooth(both_fit, np.median(inner.samples, axis=0))):
        return both_fit
    if _uneven(outer_fit, paper_colour) and outer.smooth(outer_fit, paper_colour):
        return outer_fit
    return None


class _Points(NamedTuple):
    """Ring pixels as (n, colour bands) float64 and their quadratic's terms (_design)."""

    samples: np.ndarray
    design: np.ndarray

    def misfit(self, coef: np.ndarray) -> float:
        return _misfit(self.samples - self.design @ coef)

    def smooth(self, coef: np.ndarray, colour: np.ndarray) -> bool:
        """Whether the surface fits these pixels far better than one colour does
        (SHADING_GAIN): else they are paper of two tones, not lit unevenly."""
        return self.misfit(coef) <= SHADING_GAIN * _misfit(self.samples - colour)


def _uneven(coef: np.ndarray, paper_colour: np.ndarray) -> bool:
    """Whether the surface strays from one colour by over SHADING_LEVELS somewhere."""
    return bool(np.abs(_surface(coef, 9, 9) - paper_colour).max() > SHADING_LEVELS)


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
    off = worst_channel(residuals) / SHADING_TOLERANCES[-1]
    return float(np.minimum(off * off, 1).mean())


def _robust_surface(points: _Points, paper_colour: np.ndarray, *,
                    start: np.ndarray | None = None) -> np.ndarray:
    """Least squares with Tukey's biweight, from the constant median outwards through
    SHADING_TOLERANCES: a ring pixel far from the current fit in any channel (ink touching
    the edge, a dust speck, a scanner's dark band) weighs nothing; a smooth trend is
    followed a tolerance at a time. Under half the ring trusted keeps the last fit.
    `start`: another fit to begin from instead (the inner ring's, past a shadow)."""
    samples, design = points
    if start is None:
        start = np.zeros((design.shape[1], samples.shape[1]))
        start[0] = paper_colour
    coef = start
    for tolerance in SHADING_TOLERANCES:
        off = worst_channel(samples - design @ coef) / tolerance
        weight = np.clip(1 - off * off, 0, None) ** 2
        if np.count_nonzero(weight) < len(weight) // 2:
            break
        weighted = design.T * weight  # the 6x6 normal equations, a ridge too small to
        normal = weighted @ design  # matter but for a ring of one row (terms in y all 0)
        normal[np.diag_indices_from(normal)] += 1e-9 * len(weight)
        coef = np.linalg.solve(normal, weighted @ samples)
    return coef


def paper_image(mode: str, size: tuple[int, int], colour: np.ndarray,
                shading: np.ndarray | None) -> Image.Image:
    """The paper alone, in uint8: one colour, or the shading surface on a grid of at most
    SHADING_GRID points a side enlarged to the image by nearest pixel."""
    if shading is None:
        return Image.new(mode, size, tuple(int(v) for v in np.round(colour)))
    columns, rows = (min(SHADING_GRID, side) for side in size)
    levels = np.clip(np.round(_surface(shading, columns, rows)), 0, 255).astype(np.uint8)
    grid = Image.fromarray(levels[..., 0] if mode == "L" else levels)
    return grid if grid.size == size else grid.resize(size, Image.Resampling.NEAREST)

