"""Ink as the distance from the paper: its colour, its lighting, its printed lines.

The paper is read on the image's border (digitnet.border: the outermost ring of pixels,
past printed lines along the edge), where a drawing leaves it bare: one colour, or on an
opaque photo lit unevenly a smooth surface fitted to the ring (digitnet.lighting). A
notebook page's printed lines are taken out of the ink afterwards (digitnet.ruled_lines).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops

from .bands import without_edge_bands
from .border import read_ring
from .lighting import paper_image, shading
from .masks import has_alpha, has_see_through
from .preprocess import EMPTY_PEAK
from .ruled_lines import without_rules

# A canvas whose opaque ink covers over half its border has the ink's alpha for the ring's
# median: read as opaque paper, its colours (the ink's own) drew nothing, and it was refused
# as empty. It is read by its alpha when this share of it or more is see-through (alpha
# under 128; _see_through_paper). Of 400 digits drawn with a thick pen and enlarged 1.3-2.2x
# past a 280 px canvas's edges, the 11 so refused were 0.29-0.82 see-through; opaque pictures
# with rounded corners or a hole (60 of them), 0.04 at most.
SEE_THROUGH_PAPER = 0.2
# Nor when the opaque part fills SOLID_OPAQUE of its own box: one block of paper with a hole
# cut in it (blank paper half cut away was an 8), not strokes (those 11 filled 0.21-0.70).
SOLID_OPAQUE = 0.85


@dataclass(frozen=True)
class Paper:
    """The paper under a drawing: its colour (the ring's median, per band), and when lit
    unevenly the lighting surface's (6, colour bands) coefficients (digitnet.lighting)."""

    colour: np.ndarray
    shading: np.ndarray | None


def find_paper(image: Image.Image) -> Paper:
    """Read from the image's border before it is reduced (reducing blurs the border); a
    page cropped off a table is read again, as cropped."""
    ring, colour = read_ring(image)
    return Paper(colour, shading(image, ring, colour))


def ink_on_paper(image: Image.Image, paper: Paper) -> np.ndarray:
    """A 2-D float32 ink map in [0, 1] (ink = 1): alpha x distance from the paper's colour
    per pixel; on a see-through background (a canvas `toDataURL()`), the alpha coverage,
    even under opaque ink along most of the border (_see_through_paper). An image with
    see-through pixels inside is left to its alpha, not to lighting (checked on the image
    as reduced: 21 ms on a 4096x4096 RGBA, 1 ms reduced)."""
    surface = paper.shading
    if surface is not None and has_see_through(image):
        surface = None
    return _ink_from_image(image, paper.colour, surface)


def _ink_from_image(image: Image.Image, colour: np.ndarray,
                    surface: np.ndarray | None = None) -> np.ndarray:
    """Ink = alpha x distance from the paper's `colour` (`surface`: lit unevenly), per pixel."""
    alpha = None
    if has_alpha(image.mode):
        levels = np.asarray(image.getchannel("A")).astype(np.float32)
        alpha = levels * np.float32(1 / 255)
        paper_alpha = np.float32(colour[-1])
        # See-through paper (a canvas toDataURL): coverage over the paper's is the ink,
        # unless the alpha draws nothing (a whole picture made see-through: its colours do).
        if paper_alpha < 128 and _alpha_draws(levels, paper_alpha):
            return _coverage(levels, alpha, paper_alpha)
        image, colour = image.convert(image.mode[:-1]), colour[:-1]
    # Largest per-channel distance; done in Pillow's C loops (NumPy's max over a
    # 3-long axis costs milliseconds on a 280x280 canvas).
    plain = paper_image(image.mode, image.size, colour, surface)
    channels = ImageChops.difference(image, plain).split()
    distance = functools.reduce(ImageChops.lighter, channels)
    ink = np.asarray(distance, dtype=np.float32) * np.float32(1 / 255)
    if alpha is not None:
        ink *= alpha
        see_through_alpha = _see_through_paper(levels, ink, paper_alpha)
        if see_through_alpha is not None:  # the ring was the ink's (SEE_THROUGH_PAPER)
            return _coverage(levels, alpha, see_through_alpha)
    return without_edge_bands(without_rules(ink))


def _solid(mask: np.ndarray) -> bool:
    """Whether the mask fills SOLID_OPAQUE of its bounding box or more. An empty one has no
    box, and is not: the ring is read before the image is reduced, so no pixel after may be
    as opaque as it (a 1 px border averaged with the see-through inside of a 2100x4 PNG)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return False
    box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
    return np.count_nonzero(mask) >= SOLID_OPAQUE * box


def _alpha_draws(levels: np.ndarray, paper_alpha: float) -> bool:
    """Whether alpha `levels` rise EMPTY_PEAK over the paper's alpha somewhere (or the
    paper is wholly see-through)."""
    return bool(paper_alpha == 0 or levels.max() - paper_alpha >= EMPTY_PEAK * 255)


def _coverage(levels: np.ndarray, alpha: np.ndarray, paper_alpha: float) -> np.ndarray:
    """Ink: the alpha coverage over the see-through paper's alpha."""
    if paper_alpha == 0:
        return alpha
    return np.clip((levels - paper_alpha) / (255 - paper_alpha), 0, 1)


def _see_through_paper(levels: np.ndarray, ink: np.ndarray,
                       ring_alpha: float) -> float | None:
    """The see-through paper's alpha (its median) under a ring that read opaque, when the
    ring was the ink's: a canvas whose opaque ink (a thick brush run off its edges, a box
    along them) covers over half its border. SEE_THROUGH_PAPER of it is see-through, its
    alpha draws, and its colours `ink` draw nothing where it is as opaque as the ring (all
    the ink's colour; partly see-through rims may carry the background's, blended in by a
    resize unaware of alpha). None for an opaque picture, blank or drawn in colour, with a
    few see-through pixels (rounded corners, a hole) or many: read by its colours."""
    if ring_alpha < 128 or levels.min() >= 128:
        return None  # see-through paper read as such; opaque all over (most RGBA pictures)
    see_through = levels < 128
    if np.count_nonzero(see_through) < SEE_THROUGH_PAPER * levels.size:
        return None  # a few see-through pixels: counted, not gathered
    opaque = levels >= ring_alpha
    as_opaque = ink[opaque]
    if (as_opaque.size and as_opaque.max() >= EMPTY_PEAK) or _solid(opaque):
        return None
    paper_alpha = float(np.median(levels[see_through]))
    return paper_alpha if _alpha_draws(levels, paper_alpha) else None

