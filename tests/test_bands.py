"""Bands of ink along a whole side, apart from the drawing (a scanner's shadow, a
screenshot's toolbar), are not the digit's ink (digitnet.bands)."""

from __future__ import annotations

import numpy as np
import pytest
from api_helpers import SEVEN, data_url, encode
from digitnet import paper
from digitnet.bands import without_edge_bands
from digitnet.imagefile import decode_image
from digitnet.ruled_lines import RULE_INK
from PIL import Image, ImageDraw

INK = (17, 24, 39)


def drawn(size: tuple[int, int], strokes: list, *, paper_colour: tuple = (255, 255, 255),
          width: int = 16) -> Image.Image:
    image = Image.new("RGB", size, paper_colour)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line([(x * size[0], y * size[1]) for x, y in stroke], fill=INK, width=width,
                  joint="curve")
    return image


def screenshot(bars: str, deep: int = 40) -> Image.Image:
    """A 7 on an app's white canvas, with dark bars `deep` px deep along `bars` (t, b: a
    phone's status and navigation bars; l, r: a tool bar), a light icon in each."""
    image = drawn((300, 400), [[(0.3, 0.3), (0.7, 0.3), (0.43, 0.75)]])
    draw = ImageDraw.Draw(image)
    boxes = {"t": (0, 0, 299, deep - 1), "b": (0, 400 - deep, 299, 399),
             "l": (0, 0, deep - 1, 399), "r": (300 - deep, 0, 299, 399)}
    for bar, box in boxes.items():
        if bar in bars:
            draw.rectangle(box, fill=(32, 33, 36))
            icon = (box[0] + 12, box[1] + 12, box[0] + 28, box[1] + 28)
            draw.rectangle(icon, fill=(200, 200, 200))
    return image


def shadowed(side: str, strokes: list = SEVEN) -> Image.Image:
    """A scan: a 7 on grey-white paper, a scanner's shadow 36 px wide along one side,
    darkest at the edge."""
    image = drawn((280, 280), strokes, paper_colour=(236, 236, 232))
    pixels = np.asarray(image).astype(np.float32)
    shade = np.linspace(150, 0, 36)[None, :, None]  # levels darker, edge -> inward
    view = {"l": pixels, "r": pixels[:, ::-1], "t": pixels.transpose(1, 0, 2),
            "b": pixels.transpose(1, 0, 2)[:, ::-1]}[side]
    view[:, :36] -= shade
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("image", [screenshot("t"), screenshot("b"), screenshot("tb"),
                                   screenshot("tl"), screenshot("tbr"), shadowed("l"),
                                   shadowed("r"), shadowed("t")],
                         ids=["status bar", "navigation bar", "status and navigation bars",
                              "status and tool bars", "three bars", "shadow left",
                              "shadow right", "shadow top"])
def test_a_band_along_a_side_is_not_the_digit(client, image: Image.Image) -> None:
    """Left in, the band stretched the crop to the image's side: the 7 was read as a 1 or
    another digit, at 0.6 or less. Bars on two sides or three were most of the border: their
    colour was taken for the paper's (digitnet.border reads past them), and each crossed
    the other's rows, so no blank row set either apart (a probe's 960 screenshots of a
    drawing app, bars 12-96 px on 1-3 sides: 781 read right before, 959 after)."""
    ink = decode_image(encode(image))
    rows, columns = np.nonzero(ink >= 0.25)
    height, width = ink.shape  # the band is gone, whichever side it was on
    assert min(rows) > 20
    assert min(columns) > 20
    assert height - max(rows) > 20
    assert width - max(columns) > 20
    r = client.post("/predict", json={"image": data_url(encode(image), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 7


@pytest.mark.parametrize("bars", ["tb", "tl", "tbr"])
def test_bars_up_to_a_fifth_of_the_side_are_read_past(client, bars: str) -> None:
    """Bars 56 px deep (14 % of the height, 19 % of the width): deeper than the 12 % once
    read past, their colour was the paper's, and the 7 was refused or misread."""
    r = client.post("/predict", json={"image": data_url(encode(screenshot(bars, 56)))})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 7


def test_a_stroke_along_the_edge_of_a_tight_crop_stays(monkeypatch) -> None:
    """A 7 cropped tight: its bar runs along the top edge, but no blank row parts it from the
    rest of the digit, so it is no band."""
    image = drawn((200, 260), [[(0.0, 0.02), (1.0, 0.02), (0.3, 1.0)]], width=14)
    with_bands = decode_image(encode(image))
    assert with_bands[0, 20:180].min() > 0.5  # the bar is on the edge
    monkeypatch.setattr(paper, "without_edge_bands", lambda ink: ink)
    assert np.array_equal(with_bands, decode_image(encode(image)))


def two_stroke_seven(*, stem_top: int, stem_to_edge: bool) -> Image.Image:
    """A 7 drawn in two strokes, a gap between bar and stem, cropped to its ink (with a
    margin below, unless `stem_to_edge`)."""
    image = Image.new("RGB", (300, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(60, 60), (240, 60)], fill=INK, width=16)
    draw.line([(stem_top, 84), (120, 250)], fill=INK, width=16)
    ink = np.asarray(image.convert("L")) < 128
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    bottom_edge = rows[-1] + 1 if stem_to_edge else rows[-1] + 20
    return image.crop((columns[0], rows[0], columns[-1] + 1, bottom_edge))


@pytest.mark.parametrize(("stem_top", "stem_to_edge"), [(248, False), (232, True)],
                         ids=["the bar short of a corner", "the stem to the far edge"])
def test_a_tight_crop_of_a_seven_drawn_in_two_strokes_keeps_its_bar(
        client, stem_top: int, stem_to_edge: bool) -> None:
    """Its bar runs along the top edge with a blank row below, as a status bar does: a
    review's 500 such crops read right 490 times, 395 when the bar was taken for a band. A
    band is inked to the corners, and a drawing reaching the far edge is cropped to its ink."""
    image = two_stroke_seven(stem_top=stem_top, stem_to_edge=stem_to_edge)
    assert decode_image(encode(image))[2:10].max(axis=1).min() > 0.5  # the bar is there
    r = client.post("/predict", json={"image": data_url(encode(image), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 7


def test_a_digit_against_a_shadow_keeps_its_ink(client) -> None:
    """Only the rows inked across half the side go: a 1 touching the shadow's fading edge,
    no blank column between them, is not cut with it (it was, in a review: refused)."""
    image = shadowed("r", [[(0.865, 0.2), (0.865, 0.8)]])
    ink = decode_image(encode(image))
    assert ink[80:200, 236:246].max(axis=1).min() > 0.5  # the 1, whole
    r = client.post("/predict", json={"image": data_url(encode(image), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 1


def bar_over_blob(width: int, height: int = 100, bar: int = 10) -> np.ndarray:
    """Ink (0-1): a bar `bar` rows deep across the whole top, blank rows, a blob in the
    middle: a status bar over a drawing, as without_edge_bands reads it."""
    ink = np.zeros((height, width), np.float32)
    ink[:bar] = 1.0
    ink[height // 2 - 10 : height // 2 + 10, width // 2 - 10 : width // 2 + 10] = 1.0
    return ink


def test_a_band_goes_from_a_side_of_64_px_and_stays_on_a_shorter_one() -> None:
    """MIN_SIDE: a side under 64 px is no screen or scan (an MNIST digit cropped to its
    ink has 'bands' across its width); from 64 on, the bar is taken out."""
    wide, narrow = bar_over_blob(64), bar_over_blob(63)
    without = without_edge_bands(wide)
    assert not without[:10].any()
    np.testing.assert_array_equal(without[10:], wide[10:])
    np.testing.assert_array_equal(wide, bar_over_blob(64))  # a copy: the caller's ink stays
    assert without_edge_bands(narrow) is narrow  # no band: the same array


def bar_over_stem(far_edge: int) -> np.ndarray:
    """100x100 ink: a bar along the top, blank rows, a stem down to the bottom edge, whose
    last row is `far_edge` px inked (the stem's 10, or a wider run along that edge)."""
    ink = bar_over_blob(100)
    ink[40:, 45:55] = 1.0
    ink[99, 50 - far_edge // 2 : 50 + (far_edge + 1) // 2] = 1.0
    return ink


@pytest.mark.parametrize("turns", [0, 1, 2, 3], ids=["top", "left", "bottom", "right"])
def test_a_band_is_kept_when_the_drawing_reaches_the_opposite_edge(turns: int) -> None:
    """An image cropped to its ink (a 7 whose bar was drawn apart from its stem) touches the
    edge opposite its 'band', whichever side that is: the bar stays."""
    ink = np.rot90(bar_over_stem(10), turns)
    np.testing.assert_array_equal(without_edge_bands(ink), ink)


def test_ink_along_the_opposite_edge_across_rule_span_is_no_reach() -> None:
    """The far edge inked across RULE_SPAN (90 of 100 px) is another band or a bar, not a
    drawing cropped to its ink: the top band goes. One pixel fewer is a drawing: it stays."""
    assert not without_edge_bands(bar_over_stem(90))[:10].any()
    assert without_edge_bands(bar_over_stem(89))[:10].all()


def test_ink_at_rule_ink_is_ink() -> None:
    """Ink of RULE_INK (0.1) exactly is ink (>= RULE_INK): such a bar is a band, and a stem
    reaching the far edge at that level reaches it."""
    ink = bar_over_blob(64) * np.float32(RULE_INK)
    assert not without_edge_bands(ink)[:10].any()
    ink = bar_over_stem(10)
    ink[99] *= np.float32(RULE_INK)
    np.testing.assert_array_equal(without_edge_bands(ink), ink)


def test_a_band_s_rows_inked_across_rule_span_go_with_it() -> None:
    """A band is its rows inked across RULE_SPAN (90 of 100 px) or more: a toolbar's rows
    with its icons' gaps go whole, not just the first row."""
    ink = bar_over_blob(100)
    ink[1:10, 90:] = 0  # rows 1-9 inked across 90 px exactly
    assert not without_edge_bands(ink)[:10].any()


def test_a_stroke_along_an_edge_stays_when_the_far_side_s_band_goes() -> None:
    """The left edge inked top to bottom, joined to the drawing (no blank column): no band;
    the bar along the right goes, and the left edge's ink stays whole."""
    ink = np.zeros((100, 100), np.float32)
    ink[:, :10] = ink[50:60, :40] = 1.0  # the stroke along the left edge, and the drawing
    ink[:, 90:] = 1.0  # the right side's bar
    without = without_edge_bands(ink)
    assert not without[:, 90:].any()
    np.testing.assert_array_equal(without[:, :90], ink[:, :90])


@pytest.mark.parametrize(("top", "left"), [(10, 20), (20, 10)])
@pytest.mark.parametrize("turns", [0, 1, 2, 3], ids=["top, left", "left, bottom",
                                                     "bottom, right", "right, top"])
def test_bars_on_two_sides_that_meet_both_go(turns: int, top: int, left: int) -> None:
    """Each bar crosses the other's rows (columns), so no row is blank there: a bar along a
    side at either end of the rows does not count as ink on them (ACROSS), as deep as that
    bar is (bars of two depths, so that one is not taken for the other)."""
    ink = bar_over_blob(100, bar=top)
    ink[:, :left] = 1.0
    without = without_edge_bands(np.rot90(ink, turns))
    expected = np.rot90(ink, turns).copy()
    for k, deep in ((turns, top), (turns + 1, left)):  # the top and left bars, turned
        np.rot90(expected, -k)[:deep] = 0
    np.testing.assert_array_equal(without, expected)


def test_a_bar_s_first_row_is_inked_across_edge_span() -> None:
    """EDGE_SPAN: a bar is inked to the corners, 99 of 100 px; 98 is a pen's stroke along the
    edge, its round ends short of the corners: kept."""
    bar, stroke = bar_over_blob(100), bar_over_blob(100)
    bar[0, :1] = stroke[0, :2] = 0
    assert not without_edge_bands(bar)[:10].any()
    assert without_edge_bands(stroke) is stroke


def test_a_band_reaches_max_band_of_the_side_and_no_further() -> None:
    """A band and the blank row after it lie within MAX_BAND of the height and one row
    more: 25 rows of 100 deep go, 26 (no blank row within reach) stay; so do 30 of 100
    on an image 200 wide (the height it is, not the width)."""
    assert not without_edge_bands(bar_over_blob(100, bar=25))[:25].any()
    for deeper in (bar_over_blob(100, bar=26), bar_over_blob(200, bar=30)):
        assert without_edge_bands(deeper) is deeper


def test_a_band_ends_at_its_first_blank_row() -> None:
    """A row inked across the side past the band's blank row (a printed line, another bar)
    is not the band's: it stays."""
    ink = bar_over_blob(100)
    ink[12] = 1.0
    without = without_edge_bands(ink)
    assert not without[:10].any()
    np.testing.assert_array_equal(without[10:], ink[10:])


def test_rows_past_the_band_s_last_full_row_stay() -> None:
    """A shadow's fading edge (a row inked across half the side) below the bar is not the
    band's: only rows inked across RULE_SPAN go."""
    ink = bar_over_blob(100)
    ink[10, :50] = 1.0
    without = without_edge_bands(ink)
    assert not without[:10].any()
    np.testing.assert_array_equal(without[10:], ink[10:])


def test_a_bar_s_extent_is_its_rows_inked_across_rule_span() -> None:
    """A bar down the left, its columns past the first inked across 90 of 100 px (RULE_SPAN,
    a toolbar's icons between): all are the bar, which the top bar's rows then cross. Ink
    beside it, short of RULE_SPAN (a stroke touching it), is not, and joins the top bar to
    the drawing: that bar stays."""
    ink = bar_over_blob(100)
    ink[:, 0] = ink[:90, 1:20] = 1.0
    without = without_edge_bands(ink)
    assert not without[:10].any()
    assert not without[:, :20].any()
    ink[10:30, 20:23] = 1.0
    assert without_edge_bands(ink)[:10, 20:].all()
