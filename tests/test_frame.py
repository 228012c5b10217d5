"""A frame around a drawing (a screenshot keeps its canvas's border) is not paper, nor ink."""

from __future__ import annotations

import io

import numpy as np
import pytest
from api_helpers import SEVEN, ZERO, band_of_rows, encode
from digitnet import frame, imagefile
from digitnet.frame import without_frame
from digitnet.imagefile import decode_image
from PIL import Image, ImageDraw

INK = (17, 24, 39)


def framed(strokes: list, frame: tuple, width: int, *, sides: str = "tblr") -> Image.Image:
    """A 280x280 white canvas with `strokes`, inside a frame `width` px wide on `sides`."""
    canvas = Image.new("RGB", (280, 280), "white")
    draw = ImageDraw.Draw(canvas)
    for stroke in strokes:
        draw.line([(x * 280, y * 280) for x, y in stroke], fill=INK, width=18, joint="curve")
    image = Image.new("RGB", (280 + 2 * width, 280 + 2 * width), frame)
    image.paste(canvas, (width, width))
    plain = Image.new("RGB", image.size, "white")  # sides without a frame: the paper
    for side, box in {"t": (0, 0, image.width, width), "b": (0, image.height - width, *image.size),
                      "l": (0, 0, width, image.height),
                      "r": (image.width - width, 0, *image.size)}.items():
        if side not in sides:
            image.paste(plain.crop(box), box)
    return image


def ink_box(ink: np.ndarray) -> tuple[int, int]:
    rows, columns = np.nonzero(ink >= 0.1)
    return int(np.ptp(rows)) + 1, int(np.ptp(columns)) + 1


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("width", [1, 2, 8])
@pytest.mark.parametrize("frame", [(107, 114, 128), (0, 0, 0), (200, 200, 200)],
                         ids=["grey", "black", "light-grey"])
def test_a_frame_round_a_canvas_is_neither_paper_nor_ink(frame, width, fmt) -> None:
    """Read as the paper, a frame made the canvas ink: 13 of 64 such drawings read right."""
    data = encode(framed(SEVEN, frame, width), fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    unframed = encode(framed(SEVEN, frame, 0), "PNG")
    assert abs(np.subtract(ink_box(decode_image(data)), ink_box(decode_image(unframed)))).max() <= 2


@pytest.mark.parametrize("width", [20, 36])
@pytest.mark.parametrize("strokes", [SEVEN, [[(0.5, 0.005), (0.5, 0.995)]]],
                         ids=["7", "1-to-the-frame"])
def test_a_thick_frame_round_a_canvas_is_cut_off(strokes, width) -> None:
    """Up to 16 % of the side (was 5 %), and the paper inside may be crossed by the digit
    drawn up to 2 px from the frame: a review's thick-framed drawings 92 -> 108 of 134."""
    data = encode(framed(strokes, (107, 114, 128), width))
    unframed = encode(framed(strokes, (107, 114, 128), 0))
    assert decode_image(data).shape == (280, 280)
    assert abs(np.subtract(ink_box(decode_image(data)), ink_box(decode_image(unframed)))).max() <= 2


@pytest.mark.parametrize("image", [
    framed(ZERO, (0, 0, 0), 2, sides="tbl"),  # three sides: a frame goes all round
    framed(ZERO, (0, 0, 0), 0),
    Image.new("RGB", (280, 280), "white"),
], ids=["three-sides", "none", "blank"])
def test_what_has_no_frame_all_round_is_left_as_it_is(image) -> None:
    assert without_frame(image) is image


def test_a_drawing_without_a_frame_is_passed_in_a_few_pixels(monkeypatch) -> None:
    """Reading the four strips costs 0.3 ms a drawing; 3 of 4 edge pixels like the pixels
    past the deepest frame are no frame (0.05-0.12 ms a drawing of the canvas set)."""
    monkeypatch.setattr(frame, "_frame", lambda values, most: pytest.fail("strips read"))
    image = framed(SEVEN, (0, 0, 0), 0)
    assert without_frame(image) is image


def test_a_stroke_along_the_edge_is_no_frame() -> None:
    """A 7 cropped to its ink: its bar is the top rows, one colour over paper. Framed on
    one side only, it is kept (a frame goes all round)."""
    canvas = Image.new("RGB", (200, 240), "white")
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 199, 9), fill=INK)
    draw.line([(199, 5), (60, 239)], fill=INK, width=10)
    assert without_frame(canvas) is canvas


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_box_drawn_round_a_digit_is_no_frame(mode) -> None:
    """A box 14 px in from the canvas's edge, 8 px wide: the margin outside it was taken for
    a frame and the box's line for the paper (a transparent canvas then came out blank)."""
    image = Image.new(mode, (280, 280), (0, 0, 0, 0) if mode == "RGBA" else "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((14, 14, 265, 265), outline="black", width=8)
    draw.line([(140, 60), (140, 220)], fill="black", width=16)
    assert without_frame(image) is image


def test_a_frame_is_cut_off_before_the_paper_is_read(monkeypatch) -> None:
    data = encode(framed(ZERO, (200, 200, 200), 2))
    assert Image.open(io.BytesIO(data)).size == (284, 284)
    assert decode_image(data).shape == (280, 280)
    monkeypatch.setattr(imagefile, "without_frame", lambda image: image)
    assert decode_image(data).shape == (284, 284)


def test_a_frame_differs_from_the_paper_by_frame_levels_or_more() -> None:
    """A frame line FRAME_LEVELS (24) off the white paper inside it, the bound included, is
    a frame, cut off; 23 levels off is not one."""
    assert without_frame(framed(SEVEN, (231, 231, 231), 2)).size == (280, 280)
    faint = framed(SEVEN, (232, 232, 232), 2)
    assert without_frame(faint) is faint


def test_a_line_is_one_colour_but_for_a_few_outliers() -> None:
    """One colour: all but LINE_OUTLIERS (2 %) of a line within LINE_LEVELS (10) of its
    median. Of 100 pixels, 3 at 10 levels off are still its colour, at 11 off they are not;
    2 far off are outliers (JPEG noise, a corner), 3 are too many."""
    line = np.full((100, 3), 100, np.uint8)
    for off, count, one_colour in ((10, 3, True), (11, 3, False), (100, 2, True),
                                   (100, 3, False)):
        line[:] = 100
        line[:count, 0] = 100 + off
        assert frame._one_colour(line) == one_colour


def test_a_frame_is_looked_for_when_3_of_4_edge_pixels_differ_from_past_it() -> None:
    """The quick check reads 4 edge pixels against those past the deepest frame: ink of
    the frame's colour over one of those (at x = 94, y = 46 of 284) leaves 3 differing,
    enough to look for the frame, which is cut off."""
    image = framed([[(0.25, 0.157), (0.4, 0.157)], [(0.5, 0.3), (0.5, 0.9)]], INK, 2)
    assert image.getpixel((94, 46)) == INK
    assert without_frame(image).size == (280, 280)


def test_a_frame_as_deep_as_frame_share_allows_is_cut_off() -> None:
    """A 65 px frame round a 280 px canvas is FRAME_SHARE (16 %) of its 410 px side, the
    deepest there is: the strips read hold the paper's rows past it, and it is cut off.
    A 66 px one is too deep to be a frame."""
    assert without_frame(framed(SEVEN, (107, 114, 128), 65)).size == (280, 280)
    deeper = framed(SEVEN, (107, 114, 128), 66)
    assert without_frame(deeper) is deeper


def test_the_paper_inside_a_frame_goes_on_paper_rows_past_its_first() -> None:
    """Past a 2 px frame the paper must hold PAPER_ROWS (4) rows past its first: a printed
    line on the 4th (row 6) is no paper, so no frame; on the 5th (row 7) it is not read."""
    for at, depth in ((6, 0), (7, 2)):
        rows = [(0, 0, 0)] * 2 + [(255, 255, 255)] * 10
        rows[at] = (160, 190, 225)
        assert frame._frame(band_of_rows(rows), 5) == depth


def test_the_paper_inside_a_frame_may_be_30_percent_ink() -> None:
    """A digit drawn up to the frame crosses the paper's rows: PAPER_OUTLIERS (30 %) of
    each may be ink, the bound included; 31 % is no paper, so no frame."""
    for ink, depth in ((30, 2), (31, 0)):
        values = band_of_rows([(0, 0, 0)] * 2 + [(255, 255, 255)] * 10)
        values[2:, :ink] = 0
        assert frame._frame(values, 5) == depth


def test_the_middle_is_paper_under_frame_levels_from_the_inside_s_edge() -> None:
    """What lies inside a frame is paper in the middle too when the middle's median colour
    is under FRAME_LEVELS (24) from its edge's: 23 levels off it is, 24 off it is not."""
    for level, paper in ((232, True), (231, False)):
        inside = np.full((100, 100, 3), 255, np.uint8)
        inside[20:80, 20:80] = level
        assert frame._paper_in_the_middle(Image.fromarray(inside)) == paper


def test_a_1_px_frame_is_cut_off() -> None:
    """The thinnest frame, one row deep on each side, is a frame: cut off, 282 to 280."""
    assert without_frame(framed(SEVEN, (0, 0, 0), 1)).size == (280, 280)


def test_the_middle_is_the_inside_s_central_half() -> None:
    """Only the central half of what lies inside a frame is its middle: white there, with
    its right and bottom quarters black, it is paper in the middle."""
    inside = np.full((100, 100, 3), 255, np.uint8)
    inside[75:] = inside[:, 75:] = 0
    assert frame._paper_in_the_middle(Image.fromarray(inside))


def test_a_frame_line_is_found_by_its_worst_channel() -> None:
    """Rows are compared channel by channel: a frame (200, 100, 150) on paper (150, 100,
    200), as bright on average, is 50 levels off in red and blue, a frame 2 rows deep."""
    assert frame._frame(band_of_rows([(200, 100, 150)] * 2 + [(150, 100, 200)] * 10), 5) == 2


def test_the_paper_s_last_row_read_is_under_frame_levels_from_its_first() -> None:
    """The paper's row PAPER_ROWS past its first must be under FRAME_LEVELS (24) from it:
    23 levels off it is the paper going on (a frame, 2 rows), 24 off it is not."""
    for level, depth in ((232, 2), (231, 0)):
        rows = [(0, 0, 0)] * 2 + [(255, 255, 255)] * 10
        rows[6] = (level, level, level)
        assert frame._frame(band_of_rows(rows), 5) == depth


def test_a_frame_line_is_frame_levels_off_the_paper_bound_included() -> None:
    """Past the quick check too, _frame wants the line FRAME_LEVELS (24) off the paper:
    24 off (231 on 255) is a frame 2 rows deep, 15 off (240) is none."""
    for level, depth in ((231, 2), (240, 0)):
        assert frame._frame(band_of_rows([(level,) * 3] * 2 + [(255, 255, 255)] * 10), 5) == depth


@pytest.mark.parametrize("size", [20, 23])
def test_the_middle_is_the_inside_s_central_half_to_the_pixel(size) -> None:
    """The middle runs size // 4 in from each side, to the pixel: white by a bare majority
    there (black inside it, and all round it) it is paper in the middle; one more black
    pixel and it is not."""
    q = size // 4
    for extra, paper in ((0, True), (1, False)):
        inside = np.zeros((size, size, 3), np.uint8)
        inside[0] = 255  # the edge: white paper
        middle = inside[q:size - q, q:size - q]
        middle[:] = 255
        core = middle[1:-1, 1:-1]
        black = (middle.shape[0] * middle.shape[1] - 1) // 2 + extra
        core[np.unravel_index(np.arange(black), core.shape[:2])] = 0
        assert frame._paper_in_the_middle(Image.fromarray(inside)) == paper


def test_the_inside_s_edge_is_its_whole_first_row() -> None:
    """The edge is the median colour of the inside's whole first row: half white, half
    black, it is neither, so a black middle is no paper (127.5 levels off it)."""
    inside = np.zeros((100, 100, 3), np.uint8)
    inside[0, :50] = 255
    assert not frame._paper_in_the_middle(Image.fromarray(inside))


def test_where_a_frame_ends_is_screened_by_row_means_at_half_frame_levels() -> None:
    """The rows' means find where the frame ends at FRAME_LEVELS / 2 (12) off the first row:
    a second row 11 off it is still the frame (2 rows deep); a paper row 30 % crossed by
    ink, 21.5 off a (200) frame on average, is already the paper."""
    assert frame._frame(band_of_rows([(0, 0, 0), (11, 11, 11)] + [(255, 255, 255)] * 10), 5) == 2
    values = band_of_rows([(200, 200, 200)] * 2 + [(255, 255, 255)] * 10)
    values[2:, :30] = 0
    assert frame._frame(values, 5) == 2


@pytest.mark.parametrize("xy", [(94, 46), (189, 46), (46, 94), (46, 189)])
def test_each_of_the_4_pixels_past_the_frame_is_read_once(xy) -> None:
    """The quick check reads 4 pixels past the deepest frame (x = 94 and 189 of 284 below
    the top edge, y = 94 and 189 right of the left one), each once: ink of the frame's
    colour over any one of them leaves 3 differing, and the frame is cut off."""
    x, y = xy
    image = framed([], INK, 2)
    ImageDraw.Draw(image).rectangle((x - 3, y - 3, x + 3, y + 3), fill=INK)
    assert without_frame(image).size == (280, 280)


def reads_strips(image: Image.Image, monkeypatch) -> bool:
    """Whether without_frame gets past the quick check to read the sides' strips."""
    read = []
    monkeypatch.setattr(frame, "_frame", lambda values, most: read.append(most) or 0)
    without_frame(image)
    return bool(read)


@pytest.mark.parametrize("sides", ["blr", "tbr"])
def test_a_frame_without_its_top_or_left_side_is_passed_in_a_few_pixels(
        monkeypatch, sides) -> None:
    """The quick check reads the top and the left edges (not the bottom, the right, nor a
    corner): a frame without either differs in 2 of 4 pixels, and no strip is read."""
    image = framed([], (0, 0, 0), 2, sides=sides)
    assert not reads_strips(image, monkeypatch)
    assert without_frame(image) is image


@pytest.mark.parametrize("side", ["top", "left"])
@pytest.mark.parametrize(("ink_to", "read"), [(45, True), (46, False)])
def test_the_pixel_read_past_the_frame_is_the_first_past_the_deepest(
        monkeypatch, side, ink_to, read) -> None:
    """Past an edge the quick check reads the first pixel past the deepest frame (46 of
    284, FRAME_SHARE's 45 + 1). With the other side's first pixel under ink, ink of the
    frame's colour in from the edge to 45 leaves 3 of 4 differing, the strips are read;
    to 46 only 2, they are not."""
    image = framed([], INK, 2)
    draw = ImageDraw.Draw(image)
    if side == "top":
        draw.rectangle((43, 91, 49, 97), fill=INK)  # over the left side's (46, 94)
        draw.rectangle((91, 30, 97, ink_to), fill=INK)
    else:
        draw.rectangle((91, 43, 97, 49), fill=INK)  # over the top side's (94, 46)
        draw.rectangle((30, 91, ink_to, 97), fill=INK)
    assert reads_strips(image, monkeypatch) == read


@pytest.mark.parametrize("side", ["top", "left"])
def test_the_4_pixel_pairs_are_straight_in_from_the_edge_at_a_third_and_two(
        monkeypatch, side) -> None:
    """Each edge pixel is paired with the one straight in from it past the deepest frame,
    at 1/3 and 2/3 of the side (94 and 189 of 284): grey strokes over both pairs of one
    side, from its edge in, leave 2 of 4 differing, and no strip is read."""
    image = framed([], INK, 2)
    draw = ImageDraw.Draw(image)
    for at in (94, 189):
        box = (at - 3, 0, at + 3, 60) if side == "top" else (0, at - 3, 60, at + 3)
        draw.rectangle(box, fill=(107, 114, 128))
    assert not reads_strips(image, monkeypatch)
