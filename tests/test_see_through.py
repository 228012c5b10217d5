"""A see-through canvas whose opaque ink covers most of its border: read by its alpha.

A canvas `toDataURL()` has see-through paper and its ink in the alpha, whatever the
colours. Drawn with a thick brush run off the edges, its opaque ink was over half of the
ring the paper is read on: the ink's alpha and colour were taken for the paper's, its
colours drew nothing, and it was refused as empty. Opaque pictures with see-through
pixels (rounded corners, a hole) are still read by their colours.
"""

from __future__ import annotations

import numpy as np
import pytest
from api_helpers import encode
from digitnet import paper as paper_module
from digitnet.errors import EmptyDrawingError
from digitnet.imagefile import decode_image
from digitnet.preprocess import normalize_digit
from PIL import Image, ImageDraw

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")

SIDE = 280
BLACK, WHITE, BLUE = (0, 0, 0), (255, 255, 255), (30, 64, 175)
Colour = tuple[int, int, int]


def brush(shape: str, scale: int = 1) -> Image.Image:
    """The coverage (255 = ink) of a thick brush run off the canvas's edges, `scale` times
    the canvas's size: a 0 off all four sides, or a 7 along the top and the left."""
    side = SIDE * scale
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "zero":
        draw.ellipse((-20 * scale, -20 * scale, side + 20 * scale, side + 20 * scale),
                     outline=255, width=60 * scale)
    else:
        draw.line([(0, 20 * scale), (side, 20 * scale), (120 * scale, side)], fill=255,
                  width=60 * scale)
        draw.line([(0, 20 * scale), (0, side)], fill=255, width=60 * scale)
    return mask


def canvas(mask: Image.Image, ink: Colour, paper: Colour) -> Image.Image:
    """As `toDataURL()` makes it: the ink's colour wherever it has coverage, `paper` (any
    colour: the alpha hides it) where it has none."""
    coverage = np.asarray(mask)[..., None]
    rgb = np.where(coverage > 0, ink, paper).astype(np.uint8)
    return Image.fromarray(np.dstack((rgb, coverage)))


def ring_ink(alpha: np.ndarray) -> float:
    """The share of the outermost ring of pixels that is opaque (alpha in [0, 1])."""
    ring = np.concatenate((alpha[0], alpha[-1], alpha[1:-1, 0], alpha[1:-1, -1]))
    return float(np.mean(ring == 1))


@pytest.mark.parametrize("shape", ["zero", "seven"])
@pytest.mark.parametrize(("ink", "paper"), [(BLACK, BLACK), (BLACK, WHITE), (WHITE, BLACK),
                                            (BLUE, BLACK), (BLUE, WHITE)],
                         ids=["black-on-black", "black-on-white", "white-on-black",
                              "blue-on-black", "blue-on-white"])
def test_a_canvas_inked_along_most_of_its_border_is_read_by_its_alpha(
        shape: str, ink: Colour, paper: Colour) -> None:
    """Once refused as empty: "the drawing is empty: no ink found"."""
    image = canvas(brush(shape), ink, paper)
    alpha = np.asarray(image.getchannel("A"), np.float32) * np.float32(1 / 255)
    assert ring_ink(alpha) > 0.5  # the ring's median is the ink's
    assert np.mean(alpha == 0) > 0.4
    ink_map = decode_image(encode(image))
    assert np.array_equal(ink_map, alpha)
    np.testing.assert_array_equal(normalize_digit(ink_map), normalize_digit(alpha))


@pytest.mark.parametrize(("ink", "paper"), [(BLACK, WHITE), (WHITE, BLACK)],
                         ids=["black-on-white", "white-on-black"])
def test_rims_blended_with_the_background_do_not_hide_the_alpha(
        ink: Colour, paper: Colour) -> None:
    """Reduced by a resize unaware of alpha, the strokes' partly see-through rims take on
    the background's colour; read by the colours, the rims alone were ink (an outline)."""
    alpha = np.asarray(brush("zero", scale=4).resize((SIDE, SIDE), Image.Resampling.BOX),
                       np.float32) * np.float32(1 / 255)
    rgb = np.array(paper) * (1 - alpha[..., None]) + np.array(ink) * alpha[..., None]
    image = Image.fromarray(np.dstack((rgb, alpha * 255)).round().astype(np.uint8))
    np.testing.assert_allclose(decode_image(encode(image)), alpha, atol=0.5 / 255)


def test_opaque_paper_with_a_large_see_through_hole_is_read_by_its_colours() -> None:
    """Nearly half the paper cut out, a 7 drawn on the rest: the hole is no ink, the 7 is."""
    image = Image.new("RGBA", (SIDE, SIDE), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.line([(150, 60), (260, 60), (190, 250)], fill=(0, 0, 0, 255), width=20)
    draw.rectangle((0, 0, 130, SIDE), fill=(0, 0, 0, 0))
    ink = decode_image(encode(image))
    assert ink[:, :131].max() == 0.0
    assert ink[55:65, 160:250].min() == pytest.approx(1.0)


def test_blank_opaque_paper_with_rounded_corners_is_still_empty() -> None:
    """A blank screenshot's rounded corners are see-through, a few of its pixels: no ink."""
    image = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    ImageDraw.Draw(image).rounded_rectangle((0, 0, SIDE - 1, SIDE - 1), 30,
                                            fill=(240, 240, 240, 255))
    with pytest.raises(EmptyDrawingError):
        normalize_digit(decode_image(encode(image)))


@pytest.mark.parametrize("paper", [(255, 255, 255), (120, 90, 60)], ids=["white", "brown"])
def test_blank_opaque_paper_with_a_large_see_through_hole_is_still_empty(
        paper: Colour) -> None:
    """Nearly half the paper cut away and nothing drawn: one opaque block, not a brush's
    strokes, so not read by its alpha (it was answered, an 8 at 0.34)."""
    image = Image.new("RGBA", (SIDE, SIDE), (*paper, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 130, SIDE), fill=(0, 0, 0, 0))
    with pytest.raises(EmptyDrawingError):
        normalize_digit(decode_image(encode(image)))


@pytest.mark.parametrize("size", [(2100, 4), (4, 2100)], ids=["wide", "tall"])
def test_a_border_more_opaque_than_any_pixel_once_reduced_is_read_by_its_alpha(
        size: tuple[int, int]) -> None:
    """See-through, with a 1 px border of alpha 200: the ring's alpha, read before the
    image is reduced to 1024 px, is over every pixel's after (the border averaged with the
    inside), so no pixel is as opaque as the ring. That raised IndexError (a 500); the
    border is read by its alpha, as unreduced: its ends are ink, nothing between."""
    alpha = np.zeros(size[::-1], np.uint8)
    alpha[[0, -1]] = alpha[:, [0, -1]] = 200
    image = Image.fromarray(np.dstack((np.zeros((*size[::-1], 3), np.uint8), alpha)))
    ink = decode_image(encode(image), whole=True)
    ink = ink if size[0] > size[1] else ink.T
    assert ink.shape == (2, 1024)
    assert ink[:, [0, -1]].min() > 0.25
    assert ink[:, 1:-1].max() == 0.0


def alpha_with_a_hole(share: float, level: int, opaque: int = 128) -> np.ndarray:
    """A 10x10 alpha, `opaque` but for `share` of it at `level`, across its middle rows."""
    levels = np.full(100, opaque, np.float32)
    levels[40 : 40 + round(share * 100)] = level
    return levels.reshape(10, 10)


def test_see_through_paper_is_alpha_under_128_on_a_fifth_of_the_image() -> None:
    """_see_through_paper's bounds: an alpha of 127 is see-through (a ring so was read as
    see-through paper already), 128 opaque, and a fifth of the image see-through
    (SEE_THROUGH_PAPER) is enough, a pixel fewer is not: a few see-through pixels are no
    see-through paper."""
    clear = np.zeros((10, 10), np.float32)  # the colours draw nothing
    assert paper_module._see_through_paper(alpha_with_a_hole(0.2, 0), clear, 128.0) == 0.0
    assert paper_module._see_through_paper(alpha_with_a_hole(0.2, 0), clear, 127.0) is None
    assert paper_module._see_through_paper(alpha_with_a_hole(0.19, 0), clear, 128.0) is None
    hole = alpha_with_a_hole(0.2, 127, opaque=255)
    assert paper_module._see_through_paper(hole, clear, 255.0) == 127.0


def test_a_canvas_s_ink_is_its_alpha_bit_for_bit_at_every_level() -> None:
    """On wholly see-through paper the ink is the alpha itself, levels x float32(1 / 255),
    at all 256 levels: the same map as the alpha read anywhere else, to the bit."""
    levels = np.zeros((20, 20), np.uint8)
    levels[2:18, 2:18] = np.arange(256).reshape(16, 16)
    image = Image.fromarray(np.dstack((np.full((20, 20, 3), 90, np.uint8), levels)))
    np.testing.assert_array_equal(decode_image(encode(image)), levels * np.float32(1 / 255))


def test_an_opaque_part_filling_85_percent_of_its_box_is_solid() -> None:
    """_solid's bound (SOLID_OPAQUE) is inclusive, and the box spans both its end rows and
    columns: 170 pixels of a 10x20 box is one solid block, 169 is not; nothing is none."""
    mask = np.zeros((30, 30), bool)
    mask[2:12, 3:23] = True
    mask[5:8, 5:15] = False  # 30 cut out of the box's 200, its edges kept
    assert paper_module._solid(mask)
    mask[8, 5] = False
    assert not paper_module._solid(mask)
    assert not paper_module._solid(np.zeros((5, 5), bool))


def test_ink_over_partly_see_through_paper_is_the_coverage_past_its_alpha() -> None:
    """Over see-through paper of alpha 50 the ink is how far each alpha goes from 50 to
    opaque, (alpha - 50) / 205: none at 50 or under (no negative ink), all at 255."""
    levels = np.array([0, 50, 100, 255], np.float32)
    coverage = paper_module._coverage(levels, levels * np.float32(1 / 255), 50.0)
    np.testing.assert_allclose(coverage, [0, 0, 50 / 205, 1], rtol=1e-6)


def test_paper_of_alpha_128_is_read_by_its_colours() -> None:
    """A ring of alpha 128 is opaque paper, as in _see_through_paper: black on black, an
    opaque block on it draws nothing (read by its alpha over 128, it was all ink)."""
    alpha = np.full((20, 20), 128, np.uint8)
    alpha[5:15, 8:12] = 255
    image = Image.fromarray(np.dstack((np.zeros((20, 20, 3), np.uint8), alpha)))
    assert decode_image(encode(image)).max() == 0.0


def test_on_wholly_see_through_paper_faint_alpha_is_ink_too() -> None:
    """Paper of alpha 0 is see-through paper whatever the alpha inside rises to: strokes of
    alpha 20 (under EMPTY_PEAK's 25.5 over it), black on black, are ink of 20 / 255."""
    alpha = np.zeros((20, 20), np.uint8)
    alpha[5:15, 8:12] = 20
    image = Image.fromarray(np.dstack((np.zeros((20, 20, 3), np.uint8), alpha)))
    np.testing.assert_array_equal(decode_image(encode(image)), alpha * np.float32(1 / 255))


def test_the_alpha_draws_from_empty_peak_over_the_paper_s() -> None:
    """_alpha_draws: an alpha rising EMPTY_PEAK x 255 (25.5) over the paper's draws, the
    bound included (paper alpha is a median: 100.5); 25 does not; paper of 0 always does."""
    assert paper_module._alpha_draws(np.array([100.0, 126.0]), 100.5)
    assert not paper_module._alpha_draws(np.array([100.0, 125.0]), 100.0)
    assert paper_module._alpha_draws(np.zeros(3), 0.0)
