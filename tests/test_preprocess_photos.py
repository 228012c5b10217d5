"""Photos of paper under uneven lighting: the shaded paper is paper, not ink.

A phone photo's paper is lighter on one side than the other; read against one
background colour, the shaded part became ink, the crop spanned the whole image and
the digit was lost. decode_image fits the lighting on the border instead, but only
when the border says it is uneven, so evenly lit images and canvases are unchanged.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from api_helpers import SEVEN, ZERO, band_of_rows, data_url, encode
from digitnet import border, lighting
from digitnet import paper as paper_module
from digitnet.imagefile import decode_image
from digitnet.preprocess import normalize_digit
from digitnet.ruled_lines import widest_rule, without_rules
from PIL import Image, ImageDraw, ImageFilter

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")

SIDE = 560
BLUE_INK = (40, 45, 95)
PENCIL = (110, 110, 110)  # on paper 215 to 95 grey: the darkest paper is darker than it
# A "4" whose stroke runs off the left edge (ink touching the border).
FOUR_OFF_THE_EDGE = [[(0.55, 0.1), (-0.05, 0.6), (0.8, 0.6)], [(0.6, 0.3), (0.6, 0.95)]]


def strokes_mask(strokes: list, *, side: int = SIDE, width: float = 0.07) -> Image.Image:
    """The strokes' coverage (255 = ink), drawn in unit coordinates."""
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    for stroke in strokes:
        draw.line([(x * side, y * side) for x, y in stroke], fill=255,
                  width=round(width * side), joint="curve")
    return mask


def photo(strokes: list, *, grad: float, ink: tuple = BLUE_INK, noise: float = 5.0,
          specks: int = 0, fmt: str = "JPEG", shadow: tuple[float, int] = (0, 0)) -> bytes:
    """Ink on paper 215 grey lit from the top left: `grad` levels darker at the far
    corner, camera noise, a little blur; dust specks (`specks`) on the left edge; a shadow
    along the top edge, (levels darker at the edge, pixels it fades over)."""
    rng = np.random.default_rng(int(grad) * 7 + specks)
    cover = np.asarray(strokes_mask(strokes), np.float32) / 255
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    paper = 215 - grad * (0.7 * x + 0.3 * y) + rng.normal(0, noise, cover.shape)
    if shadow[0]:
        depth, width = shadow
        paper -= depth * np.clip(1 - y * SIDE / width, 0, 1)
    for row in rng.integers(20, SIDE - 20, specks):
        cover[row : row + 3, 0:3] = 1
    rgb = np.stack([paper * (1 - cover) + level * cover for level in ink], -1)
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    return encode(image.filter(ImageFilter.GaussianBlur(1.2)), fmt, **(
        {"quality": 80} if fmt == "JPEG" else {}))


def away_from(strokes: list, margin: int = 15) -> np.ndarray:
    """Where the paper is: farther than `margin` pixels from any stroke."""
    grown = strokes_mask(strokes).filter(ImageFilter.MaxFilter(2 * margin + 1))
    return np.asarray(grown) == 0


def constant_paper_ink(data: bytes) -> np.ndarray:
    """The ink as read against one paper colour (the border's median), in NumPy: what
    decode_image gives for an evenly lit opaque image of at most 1024 pixels a side."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("RGB")).astype(np.int16)
    ring = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    paper = np.round(np.median(ring, axis=0)).astype(np.int16)
    return np.abs(pixels - paper).max(axis=-1).astype(np.float32) * np.float32(1 / 255)


@pytest.mark.parametrize("grad", [80, 120])
@pytest.mark.parametrize("ink", [BLUE_INK, PENCIL], ids=["blue", "pencil"])
def test_shaded_paper_is_not_ink(grad: float, ink: tuple) -> None:
    ink_map = decode_image(photo(ZERO, grad=grad, ink=ink))
    paper = ink_map[away_from(ZERO)].max()
    assert paper < 0.1
    assert np.median(ink_map[~away_from(ZERO, margin=0)]) > 2 * paper  # the strokes are ink


@pytest.mark.parametrize(("strokes", "digit"), [(ZERO, 0), (SEVEN, 7), (FOUR_OFF_THE_EDGE, 4)],
                         ids=["0", "7", "4 off the edge"])
@pytest.mark.parametrize("grad", [80, 120])
@pytest.mark.parametrize("ink", [BLUE_INK, PENCIL], ids=["blue", "pencil"])
@pytest.mark.parametrize("shadow", [(0, 0), (60, 50)], ids=["", "shadow on top"])
def test_a_shaded_photo_is_read_right_through_the_api(client, strokes: list, digit: int,
                                                       grad: float, ink: tuple,
                                                       shadow: tuple[float, int]) -> None:
    data = photo(strokes, grad=grad, ink=ink, shadow=shadow)
    r = client.post("/predict", json={"image": data_url(data, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == digit, r.json()["probabilities"]


def test_ink_touching_the_edge_stays_ink_and_the_paper_paper() -> None:
    ink_map = decode_image(photo(FOUR_OFF_THE_EDGE, grad=120))
    assert ink_map[away_from(FOUR_OFF_THE_EDGE)].max() < 0.1
    on_edge = np.asarray(strokes_mask(FOUR_OFF_THE_EDGE))[:, 0] == 255
    assert on_edge.any()
    assert np.median(ink_map[on_edge, 0]) > 0.4


def test_dust_specks_on_the_edge_do_not_bend_the_paper() -> None:
    ink_map = decode_image(photo(ZERO, grad=120, specks=6))
    paper = away_from(ZERO)
    paper[:, :10] = False  # the specks themselves are dark, as they should be
    assert ink_map[paper].max() < 0.1


SHADOWS = {"60 on 60": (60, 60), "100 on 100": (100, 100)}  # levels of shadow on a trend's


@pytest.mark.parametrize(("depth", "grad"), SHADOWS.values(), ids=SHADOWS.keys())
@pytest.mark.parametrize("width", [20, 50])
def test_a_shadow_along_one_edge_leaves_the_paper_past_it_paper(depth, grad, width) -> None:
    """The ring's top side is in the shadow: the surface fitted to the ring alone bent to
    follow it, and the paper below the shadow read as ink up to 0.39."""
    ink_map = decode_image(photo(ZERO, grad=grad, shadow=(depth, width)))
    paper = away_from(ZERO)
    paper[: width + 10] = False  # the shadow itself may stay faint ink
    assert ink_map[paper].max() < 0.1


@pytest.mark.parametrize(
    "data",
    [
        photo(ZERO, grad=0, fmt="PNG"),
        photo(ZERO, grad=0),
        photo(FOUR_OFF_THE_EDGE, grad=0),
        photo(ZERO, grad=0, specks=6),
        photo(ZERO, grad=12),  # a trend fitted, under SHADING_LEVELS
        encode(Image.merge("RGB", [strokes_mask(SEVEN).point(lambda v: 255 - v)] * 3)),
    ],
    ids=["noisy PNG", "noisy JPEG", "ink on the edge", "specks on the edge", "slight trend",
         "white PNG"],
)
def test_evenly_lit_images_read_against_one_paper_colour_bit_for_bit(data: bytes) -> None:
    assert np.array_equal(decode_image(data), constant_paper_ink(data))


@pytest.fixture
def no_lighting_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fitting a lighting surface fails the test: for images that must cost no fit."""
    def no_fit(*args: object) -> None:
        raise AssertionError("the lighting was fitted")

    monkeypatch.setattr(lighting, "_robust_surface", no_fit)


def test_the_lighting_is_not_fitted_for_a_canvas_or_white_paper(no_lighting_fit: None) -> None:
    """A transparent canvas (its alpha is the ink) and an exactly even border cost no fit."""
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    canvas.putalpha(strokes_mask(SEVEN, side=280))
    alpha = np.asarray(canvas.getchannel("A"), np.float32) * np.float32(1 / 255)
    assert np.array_equal(decode_image(encode(canvas)), alpha)
    white = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(white).line([(140, 40), (140, 240)], fill="black", width=20)
    assert normalize_digit(decode_image(encode(white))).max() == pytest.approx(1.0)


def test_a_ring_shading_levels_off_its_median_is_not_fitted(no_lighting_fit: None) -> None:
    """Every ring pixel within SHADING_LEVELS (8) of the median, the bound included, is an
    evenly lit ring: one colour, no fit."""
    image = Image.new("RGB", (100, 100), (200, 200, 200))
    ImageDraw.Draw(image).line([(0, 0), (99, 0)], fill=(200, 192, 200))
    ring, colour = border.read_ring(image)
    assert lighting.shading(image, ring, colour) is None


def test_the_ring_s_pixels_sit_at_their_pixel_centres() -> None:
    """ring_where gives _border_ring's pixels, top, bottom, left and right, as fractions of
    the image at pixel centres: the lighting is fitted where the ring was read."""
    top = [[0.125, 0.25], [0.375, 0.25], [0.625, 0.25], [0.875, 0.25]]
    bottom = [[0.125, 0.75], [0.375, 0.75], [0.625, 0.75], [0.875, 0.75]]
    left, right = [[0.125, 0.25], [0.125, 0.75]], [[0.875, 0.25], [0.875, 0.75]]
    np.testing.assert_allclose(border.ring_where(4, 2), top + bottom + left + right)
    inset = border.ring_where(4, 2, (0, 0, 1, 0))  # the left side a column in
    np.testing.assert_allclose(inset[8:10], [[0.375, 0.25], [0.375, 0.75]])


def test_the_surface_is_the_fitted_quadratic_on_the_image_s_grid() -> None:
    """_surface sums the terms _design fits, at the grid's pixel centres: evaluated so, it
    must give what the fit saw, or the paper is another surface than the ring's."""
    coef = np.random.default_rng(0).normal(0, 50, (6, 2))
    grid = lighting._surface(coef, 5, 4)
    y, x = (np.mgrid[0:4, 0:5] + 0.5) / np.array([4, 5])[:, None, None]
    where = np.column_stack((x.ravel(), y.ravel()))
    np.testing.assert_allclose(grid.reshape(20, 2), lighting._design(where) @ coef, atol=1e-3)


def test_a_fit_trusting_under_half_the_ring_keeps_the_last_one() -> None:
    """Most of the ring ink (0, untrusted), the rest paper 30 levels off the median read:
    with under half the ring trusted, the fit stays where it started, the median's 100,
    not bent to the few pixels left."""
    where = border.ring_where(40, 40)
    paper = np.random.default_rng(0).random(len(where)) < 0.4
    points = lighting._Points(np.where(paper, 130.0, 0.0)[:, None], lighting._design(where))
    coef = lighting._robust_surface(points, np.array([100.0]))
    np.testing.assert_array_equal(lighting._surface(coef, 9, 9), np.full((9, 9, 1), 100))


def test_the_paper_s_surface_is_clipped_to_the_uint8_range() -> None:
    """A surface overshooting 0 or 255 (a steep fit's corner) is paper of 0 or 255, the
    bounds included: not 1 or 254, nor wrapped round to the other end by the uint8."""
    for level, paper in ((300.0, 255), (255.0, 255), (0.0, 0), (-40.0, 0)):
        coef = np.zeros((6, 1))
        coef[0] = level
        image = lighting.paper_image("L", (4, 3), np.array([level]), coef)
        np.testing.assert_array_equal(np.asarray(image), np.full((3, 4), paper))


def test_the_surface_s_strays_are_read_on_a_9x9_grid() -> None:
    """_uneven reads the surface at a 9x9 grid's centres, the outermost 4/9 of the way out
    from the middle: a slope straying 8.1 levels there is uneven, 7.95 not (SHADING_LEVELS
    is 8), across the image and down it."""
    for term in (1, 3):  # the x and the y slope
        for stray, uneven in ((8.1, True), (7.95, False)):
            coef = np.zeros((6, 1))
            coef[0], coef[term] = 200, stray / (4 / 9)
            assert lighting._uneven(coef, np.array([200.0])) == uneven


def test_a_shaded_opaque_rgba_photo_is_read_like_its_rgb() -> None:
    rgb = Image.open(io.BytesIO(photo(ZERO, grad=120, fmt="PNG")))
    rgba = rgb.convert("RGBA")
    np.testing.assert_array_equal(decode_image(encode(rgba)), decode_image(encode(rgb)))
    assert decode_image(encode(rgba))[away_from(ZERO)].max() < 0.1


def without_fit(monkeypatch: pytest.MonkeyPatch, data: bytes) -> np.ndarray:
    """decode_image with the lighting never fitted: the one-colour path."""
    with monkeypatch.context() as patch:
        patch.setattr(paper_module, "shading", lambda *args: None)
        return decode_image(data)


def test_a_vignette_is_paper_too() -> None:
    """Bright in the middle, darker by 90 levels in the corners (a phone's lens): no plane
    fits that; the surface's squared terms do."""
    cover = np.asarray(strokes_mask(ZERO), np.float32) / 255
    y, x = (np.mgrid[0:SIDE, 0:SIDE] + 0.5) / SIDE - 0.5
    paper = 215 - 180 * (x * x + y * y)
    rgb = np.stack([paper * (1 - cover) + level * cover for level in BLUE_INK], -1)
    data = encode(Image.fromarray(np.round(rgb).astype(np.uint8)))
    assert decode_image(data)[away_from(ZERO)].max() < 0.1


def test_a_surface_leaving_0_6_of_the_one_colour_s_misfit_is_lighting() -> None:
    """A trend with ink running off the edge fits only so well: the surface's misfit 0.6
    of the one colour's (a 20-level trend so) is still lighting, under SHADING_GAIN."""
    ones = np.ones((4, 6))
    samples = np.array([[8.0], [8.0], [8.0], [8.0]])  # 8 levels off one colour, 0
    points = lighting._Points(samples, ones)
    coef = np.zeros((6, 1))
    coef[0] = 8 - 8 * np.sqrt(0.6)  # leaves sqrt(0.6) of the residual: 0.6 of the misfit
    assert points.smooth(coef, np.zeros(1))
    coef[0] = 8 - 8 * np.sqrt(0.75)
    assert not points.smooth(coef, np.zeros(1))


def test_paper_of_two_tones_is_not_lighting(monkeypatch) -> None:
    """A long strip, its left third 105 levels darker (a table beside the paper): no
    lighting is fitted, and the table is no ink (digitnet.table; before, it was clear ink
    and the stroke beside it was dropped as a stray mark). (A grey only 45-55 levels
    darker is taken for lighting: see layers/model/README.md.)"""
    image = Image.new("RGB", (900, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([(0, 0), (299, 299)], fill=(150, 150, 150))
    draw.line([(600, 60), (600, 240)], fill="black", width=20)
    data = encode(image)
    ink = decode_image(data)
    assert np.array_equal(ink, without_fit(monkeypatch, data))
    rows, columns = np.nonzero(ink >= 0.1)  # the photo comes back cropped to its page
    assert (np.ptp(rows) + 1, np.ptp(columns) + 1) == (181, 20)  # the stroke, nothing else
    assert ink.max() == pytest.approx(1.0)


def test_a_see_through_hole_leaves_the_photo_to_its_alpha(monkeypatch) -> None:
    """An opaque border lit unevenly, but see-through pixels inside: read as before, by the
    alpha and one paper colour; without the hole, the lighting is fitted."""
    rgba = Image.open(io.BytesIO(photo(ZERO, grad=120, fmt="PNG"))).convert("RGBA")
    opaque = encode(rgba)
    alpha = np.full((SIDE, SIDE), 255, np.uint8)
    alpha[250:310, 250:310] = 0
    rgba.putalpha(Image.fromarray(alpha))
    holed = encode(rgba)
    assert np.array_equal(decode_image(holed), without_fit(monkeypatch, holed))
    assert not np.array_equal(decode_image(opaque), without_fit(monkeypatch, opaque))


def test_a_ring_pixel_of_alpha_254_is_see_through() -> None:
    """Only an alpha of 255 all round is opaque paper: one pixel a level short of it makes
    the ring see-through (the alpha is the ink), in RGBA and LA alike."""
    opaque = np.full((8, 4), 255, np.uint8)
    assert not border.see_through(opaque, "RGBA")
    opaque[3, -1] = 254
    assert border.see_through(opaque, "RGBA")
    assert border.see_through(opaque[:, 2:], "LA")
    assert not border.see_through(opaque[:, :3], "RGB")


def test_a_canvas_with_strokes_off_its_edge_is_read_by_its_alpha(no_lighting_fit: None) -> None:
    """Coloured ink on a transparent canvas, running off the edge: the ring's colours vary,
    but see-through paper means the alpha is the ink, with no fit."""
    canvas = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    canvas.paste(Image.new("RGBA", (SIDE, SIDE), (*BLUE_INK, 255)),
                 mask=strokes_mask(FOUR_OFF_THE_EDGE))
    alpha = np.asarray(canvas.getchannel("A"), np.float32) * np.float32(1 / 255)
    assert alpha[:, 0].max() == 1.0  # ink on the ring
    assert np.array_equal(decode_image(encode(canvas)), alpha)


RULE = (160, 190, 225)
EDGES = {"top": np.s_[:2], "bottom": np.s_[-2:], "left": np.s_[:, :2], "right": np.s_[:, -2:]}


def notebook(strokes: list, *, squared: bool, edges: tuple[str, ...] = (),
             blur: float = 0.0) -> tuple[bytes, bytes]:
    """Blue pen on a notebook page (ruled every 40 px, squared too; `edges`: cropped on a
    line along those sides; `blur`: a JPEG photo of it, blurred so), and on plain paper."""
    cover = np.asarray(strokes_mask(strokes), np.float32)[..., None] / 255
    pages = []
    for lines in (True, False):
        paper = np.full((SIDE, SIDE, 3), 250.0)
        if lines:
            paper[20::40] = paper[21::40] = RULE
            if squared:
                paper[:, 20::40] = paper[:, 21::40] = RULE
            for edge in edges:
                paper[EDGES[edge]] = RULE
        rgb = paper * (1 - cover) + np.array(BLUE_INK, np.float32) * cover
        page = Image.fromarray(np.round(rgb).astype(np.uint8))
        pages.append(encode(page.filter(ImageFilter.GaussianBlur(blur)), "JPEG", quality=85)
                     if blur else encode(page))
    return pages[0], pages[1]


@pytest.mark.parametrize("squared", [False, True], ids=["ruled", "squared"])
def test_a_notebook_page_s_printed_lines_are_not_ink(squared: bool) -> None:
    """Full-width thin lines are taken out, and a stroke crossing one stays whole: the page
    reads as the same digit on plain paper (ruled: 82.5% of 40 drawings read right before,
    squared 45%)."""
    lined, plain = notebook(SEVEN, squared=squared)
    ink, clean = decode_image(lined), decode_image(plain)
    assert ink[away_from(SEVEN)].max() < 0.1
    strokes = clean > 0.5  # a slanted stroke loses the line's 2 px where it crosses one
    assert np.mean(ink[strokes] > 0.5) > 0.97
    same = np.corrcoef(normalize_digit(ink).ravel(), normalize_digit(clean).ravel())[0, 1]
    assert same > 0.98


def test_a_notebook_photo_is_read_right_through_the_api(client) -> None:
    lined, _ = notebook(SEVEN, squared=True)
    r = client.post("/predict", json={"image": data_url(lined, "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 7, r.json()["probabilities"]


@pytest.mark.parametrize("edges", [("top",), ("top", "left"), ("bottom", "right"),
                                   ("top", "bottom", "left"), tuple(EDGES)], ids="-".join)
def test_a_page_cropped_on_its_printed_lines_is_read_past_them(edges: tuple[str, ...]) -> None:
    """Lines along two sides or more were half the border or all of it, and their colour was
    taken for the paper's: the page was ink (squared pages so cropped: 1 of 100 read right)."""
    lined, plain = notebook(SEVEN, squared=True, edges=edges)
    ink, clean, paper = decode_image(lined), decode_image(plain), away_from(SEVEN)
    if len(edges) == 4:  # lines all round are a frame, cut off (digitnet.frame)
        assert ink.shape == (SIDE - 4, SIDE - 4)
        clean, paper = clean[2:-2, 2:-2], paper[2:-2, 2:-2]
    assert ink[paper].max() < 0.1
    assert np.mean(ink[clean > 0.5] > 0.5) > 0.97


@pytest.mark.parametrize("blur", [0.5, 1.6, 2.4])
def test_a_photo_of_a_page_cropped_on_its_lines_is_read_past_them(blur: float) -> None:
    """JPEG's ringing and a photo's blur spread a line's edge over rows: with one blended
    row allowed, a review's squared JPEG pages cropped so were read right 283 of 416 times.
    Read past its edge lines, the photo reads as the same page cropped off its lines."""
    cropped_on_lines, _ = notebook(SEVEN, squared=True, edges=("top", "left"), blur=blur)
    cropped_off, _ = notebook(SEVEN, squared=True, blur=blur)
    ink, clean = decode_image(cropped_on_lines), decode_image(cropped_off)
    paper = away_from(SEVEN, margin=30)
    paper[:12] = paper[:, :12] = False  # the edge lines themselves, blurred: faint ink left
    assert np.abs(ink - clean)[paper].max() < 0.05
    same = np.corrcoef(normalize_digit(ink).ravel(), normalize_digit(clean).ravel())[0, 1]
    assert same > 0.99


def test_a_box_like_zero_by_the_edges_is_no_printed_line(client) -> None:
    """Paper, then a thick stroke a few pixels in on every side, is not a line along the
    edge with paper past it: the paper covers most of the image, the stroke does not."""
    image = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(image).rectangle([(3, 3), (276, 276)], outline="black", width=8)
    assert decode_image(encode(image))[140, 140] == 0.0
    r = client.post("/predict", json={"image": data_url(encode(image), "image/png")})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 0


def test_the_paper_between_the_edge_and_a_stroke_along_it_is_no_bar() -> None:
    """A 1 drawn along the edge of a page lit from the other side: the strip of paper
    between, darker than the paper read, then a steady colour, looks like a screenshot's
    bar (read past up to 12 % of the side). Past a bar lies the paper, past this the
    stroke: the border stands as read, no side of it read inside the ink."""
    levels = np.tile(np.linspace(200, 140, 280), (280, 1))  # lit from the left
    image = Image.fromarray(np.repeat(levels[..., None], 3, axis=2).astype(np.uint8))
    ImageDraw.Draw(image).line([(261, 34), (261, 246)], fill=(70, 70, 70), width=14)
    ring, _ = border.read_ring(image)
    assert np.array_equal(ring, border._border_ring(image))


def test_an_evenly_lit_border_is_not_searched_for_lines(monkeypatch) -> None:
    """Ink touching the edge and specks leave most of each side, and of the pixels just
    inside, like the paper: the border stands as read, at the cost of 16 pixel reads."""
    def no_search(*args: object) -> None:
        raise AssertionError("the edges were searched for printed lines")

    monkeypatch.setattr(border, "_past_edge_lines", no_search)
    for data in (photo(FOUR_OFF_THE_EDGE, grad=0), photo(ZERO, grad=0, specks=6),
                 notebook(SEVEN, squared=True)[0]):
        assert decode_image(data).max() > 0.5


@pytest.mark.parametrize(("unlike", "searched"), [(9, True), (8, False)])
def test_most_of_the_16_pixels_just_inside_unlike_the_ring_is_an_edge_unlike(unlike,
                                                                             searched) -> None:
    """Lines along all four sides make the whole ring one colour: only the 16 pixels just
    past the widest printed line (4 px in on a 100 px side), 17, 38, 61 and 84 % along
    each side (unevenly: evenly, a grid of squared paper hits them all), tell. Most of
    them (9) unlike the ring, and the edges are searched; 8, and they are not."""
    levels = np.full((100, 100), 250, np.uint8)
    inside = [(x, y) for x in (17, 38, 61, 84) for y in (4, 95)]
    inside += [(x, y) for y in (17, 38, 61, 84) for x in (4, 95)]
    for x, y in inside[:unlike]:  # the first 8 are at each point on the top and bottom
        levels[y, x] = 100
    image = Image.fromarray(levels)
    ring = border._border_ring(image)
    assert border._edge_unlike(image, ring, np.median(ring, axis=0)) == searched


def test_each_side_s_band_is_read_at_256_pixels_along_it_at_most() -> None:
    """EDGE_BAND_SAMPLES: a side of 257 pixels is read at 256 of them, one of 256 at all."""
    bands = list(border._edge_bands(Image.new("RGB", (257, 256), (250, 250, 250))))
    assert [band.shape[1] for band, _, _ in bands] == [256] * 4


def test_a_colour_edge_line_levels_off_the_paper_is_the_paper_s() -> None:
    """Within EDGE_LINE_LEVELS (16) of the paper, in the worst channel, is paper; one level
    more is unlike it, a line's colour or ink: the bound is the same on both sides."""
    paper = np.array([250.0, 250.0, 250.0])
    near, off = np.array([250.0, 234.0, 250.0]), np.array([250.0, 233.0, 250.0])
    assert not border._unlike(near, paper)
    assert border._unlike(off, paper)
    assert border._covers(np.stack([near, off, paper]), paper) == 2


def test_lines_all_round_are_read_past_though_a_rule_lies_just_inside_one() -> None:
    """Cropped on its lines all round, a ruled line just past the top one: the pixels read
    past the top and bottom lines are half that rule's colour, so those past the left and
    right lines must count too, else the lines' colour is taken for the paper's."""
    page = np.full((SIDE, SIDE, 3), 250, np.uint8)
    page[:2] = page[-2:] = page[:, :2] = page[:, -2:] = RULE
    page[widest_rule(SIDE) + 1] = RULE  # the row the pixels past the top line are read on
    _, colour = border.read_ring(Image.fromarray(page))
    np.testing.assert_array_equal(colour, [250, 250, 250])


def test_lines_as_wide_as_the_widest_rule_all_round_are_read_past() -> None:
    """Cropped on lines all round as wide as the widest printed line, and a row blended
    past them (blur): the pixels read past the lines lie a row beyond that width, on the
    paper, not on the line nor the blended row, so the lines are read past."""
    page = np.full((SIDE, SIDE, 3), 250, np.uint8)
    wide, blended = widest_rule(SIDE), np.add(RULE, 10)  # within EDGE_LINE_LEVELS of RULE
    page[: wide + 1] = page[-wide - 1 :] = page[:, : wide + 1] = page[:, -wide - 1 :] = blended
    page[:wide] = page[-wide:] = page[:, :wide] = page[:, -wide:] = RULE
    _, colour = border.read_ring(Image.fromarray(page))
    np.testing.assert_array_equal(colour, [250, 250, 250])


def test_an_edge_row_of_two_colours_is_no_printed_line() -> None:
    """A printed line is one colour along RULE_SPAN of the side: with a fifth of its edge
    row another colour (ink running along the edge), it is not one, whatever lies past."""
    band = band_of_rows([RULE] * 2 + [(250, 250, 250)] * 20)
    band[:2, :9] = BLUE_INK  # under a tenth of it: ink crossing the line
    assert border._edge_line(band, 11, 11) is not None
    band[:2, :20] = BLUE_INK
    assert border._edge_line(band, 11, 11) is None


def test_an_edge_line_gives_way_to_a_colour_that_holds() -> None:
    """Past the line, the colour must hold steady for RULE_ROWS rows or more: a gradient
    (lighting, a stroke's edge) is no paper past a line."""
    fading = [(250 - 12 * i,) * 3 for i in range(20)]
    assert border._edge_line(band_of_rows([RULE] * 2 + fading), 11, 11) is None
    assert border._edge_line(band_of_rows([RULE] * 2 + [(250, 250, 250)] * 2), 11, 11) is None
    # Held: read on the last row of those checked, the line's 2, 2 blended and 5 (11 // 2)
    assert border._edge_line(band_of_rows([RULE] * 2 + [(250, 250, 250)] * 20), 11, 11).depth == 8


def test_a_broad_band_of_ink_is_no_printed_line() -> None:
    """A black bar 30 px thick across the page is ink (the digit's, or no digit)."""
    image = Image.new("RGB", (SIDE, SIDE), "white")
    ImageDraw.Draw(image).rectangle([(0, 200), (SIDE - 1, 229)], fill="black")
    assert decode_image(encode(image))[200:230].min() == pytest.approx(1.0)


def test_edge_line_levels_off_is_one_colour_in_edge_line_too() -> None:
    """In _edge_line too, EDGE_LINE_LEVELS (16) off is the same colour and 17 another: along
    the edge row, from the line to the rows past it, and among the rows holding steady."""
    paper = [(250, 250, 250)]
    band = band_of_rows([RULE] * 2 + paper * 20)
    for level, same in ((16, True), (17, False)):
        near = (RULE[0] + level, *RULE[1:])
        band[:2, :30] = near  # 30 % of the edge row: one colour with the rest, or not
        assert (border._edge_line(band, 11, 11) is not None) == same
        going_on = band_of_rows([RULE] * 2 + [near] * 20)  # the line, or another colour past it
        assert (border._edge_line(going_on, 11, 11) is None) == same
        steady = band_of_rows([RULE] * 2 + paper * 2 + [(250 - level, 250, 250)] * 4 + paper * 12)
        assert (border._edge_line(steady, 11, 11) is not None) == same


def test_a_line_as_wide_as_the_widest_rule_is_a_line_and_one_wider_a_bar() -> None:
    """Only what is deeper than the widest printed line is a bar, whose colour past it is
    kept (past a bar must lie the paper); a line `most` rows wide is a printed line."""
    paper = [(250, 250, 250)]
    assert border._edge_line(band_of_rows([RULE] * 11 + paper * 20), 11, 20).past is None
    bar = border._edge_line(band_of_rows([RULE] * 12 + paper * 20), 11, 20)
    np.testing.assert_array_equal(bar.past, paper[0])


def test_the_rows_blended_past_a_line_are_two_or_a_quarter_of_the_widest() -> None:
    """JPEG ringing or blur blends two rows past a line however narrow (`most` 3), and a
    quarter of the widest line's rows when that is more (`most` 16: 4): rows stepping up
    to the paper there are not read as paper that fails to hold."""
    paper = [(250, 250, 250)] * 20
    band = band_of_rows([RULE] * 2 + [(200, 200, 200), (230, 230, 230)] + paper)
    assert border._edge_line(band, 3, 20).depth == 6  # the 2 + 2 blended + RULE_ROWS (3)
    band = band_of_rows([RULE] * 2 + [(200 + 10 * k,) * 3 for k in range(4)] + paper)
    assert border._edge_line(band, 16, 112).depth == 13  # 2 + 4 blended + 8 (16 // 2)


def test_a_bar_s_colour_past_it_is_read_where_the_ring_is() -> None:
    """The colour past a bar (checked to be the paper's) is that of its last row checked,
    the one the ring is then read on: rows 235 past it, then from that row on 245: 245."""
    band = band_of_rows([(120, 120, 120)] * 15 + [(235, 235, 235)] * 6 + [(245, 245, 245)] * 20)
    bar = border._edge_line(band, 11, 112)
    assert bar.depth == 21
    np.testing.assert_array_equal(bar.past, [245, 245, 245])


@pytest.mark.parametrize("width", [1, 2])
@pytest.mark.parametrize("edge", list(EDGES))
def test_a_printed_line_along_one_side_is_read_past_on_that_side(edge: str, width: int) -> None:
    """Each side's band runs from its very edge inward, the bottom and right ones turned so:
    a line 1 or 2 px wide along any one side is read past there (2 blended rows and 5 steady
    ones past it), the other sides as read."""
    page = np.full((SIDE, SIDE, 3), 250, np.uint8)
    page[EDGES[edge]] = RULE
    if width == 1:
        page[{"top": 1, "bottom": -2, "left": np.s_[:, 1], "right": np.s_[:, -2]}[edge]] = 250
    image = Image.fromarray(page)
    depths = tuple(width + 6 if side == edge else 0 for side in EDGES)
    ring, _ = border.read_ring(image)
    np.testing.assert_array_equal(ring, border._border_ring(image, depths))


def test_a_bar_just_within_its_reach_on_a_small_image_is_read_past() -> None:
    """A bar 19 rows deep on a 100 px side (MAX_BAR's reach: 20 rows): _edge_bands' band
    holds the rows past it, so the ring's top is read past it, on the paper."""
    page = np.full((100, 100, 3), 250, np.uint8)
    page[:19] = 120
    image = Image.fromarray(page)
    ring, _ = border.read_ring(image)
    np.testing.assert_array_equal(ring, border._border_ring(image, (23, 0, 0, 0)))


def test_a_bar_as_deep_as_max_bar_is_read_past_on_a_small_image_too() -> None:
    """Bars are read past "up to" MAX_BAR of the side: one exactly that deep, on sides
    whose widest printed line is 3 rows (under ~200 px), leaves the band the rows past it
    (it once ended a row short, and such bars were taken for the paper)."""
    for side in (60, 100, 140, 280):
        deep = int(border.MAX_BAR * side)
        page = np.full((side, side, 3), 250, np.uint8)
        page[:deep] = 120
        image = Image.fromarray(page)
        assert border.read_ring(image)[0][0].tolist() == [250, 250, 250], side


def test_a_line_covering_as_much_as_the_paper_is_the_paper() -> None:
    """A line along the edge is read past only when it covers less of the image than the
    paper past it does: a bar whose colour (a block inside too) covers half of the 32x32
    overview, as the paper does, is left as read; a pixel less of it, and it is read past."""
    page = np.full((64, 64, 3), 250, np.uint8)
    page[:6] = page[19:51, 6:58] = RULE  # 3 + 16 of the overview's 32 rows, 32 + 26 wide
    image = Image.fromarray(page)
    assert np.array_equal(border.read_ring(image)[0], border._border_ring(image))
    page[21, 7] = 250  # an overview pixel (odd row and column) less of the line's colour
    image = Image.fromarray(page)
    assert not np.array_equal(border.read_ring(image)[0], border._border_ring(image))


def test_a_bar_ends_within_its_reach() -> None:
    """A bar must give way within `reach` rows (MAX_BAR of the side, "up to" it): one 20
    rows deep is read past with a reach of 20, one 21 rows deep is not."""
    paper = [(250, 250, 250)] * 30
    assert border._edge_line(band_of_rows([(120, 120, 120)] * 20 + paper), 11, 20) is not None
    assert border._edge_line(band_of_rows([(120, 120, 120)] * 21 + paper), 11, 20) is None


def test_the_rows_past_a_line_hold_steady_about_the_last_one_checked() -> None:
    """Steady is within EDGE_LINE_LEVELS of the last row checked, the one the ring is read
    on: rows 232 and 250 both 9 levels from a last row of 241 hold, though 18 apart."""
    rows = [(250, 250, 250)] * 2 + [(level,) * 3 for level in (232, 250, 250, 250, 241)]
    line = border._edge_line(band_of_rows([RULE] * 2 + rows + [(241, 241, 241)] * 10), 11, 11)
    assert line.depth == 8


def stem_across(rows: slice, side: int = 100, level: float = 1.0, span: int = 0) -> np.ndarray:
    """side x side ink: a stem down columns 45-54 (ink 0.8), crossed by `rows` inked `level`
    across the first `span` columns (all by default): a printed line, or not."""
    ink = np.zeros((side, side), np.float32)
    ink[:, 45:55] = 0.8
    ink[rows, : span or side] = level
    return ink


@pytest.mark.parametrize("turned", [False, True], ids=["row", "column"])
def test_a_printed_line_is_inked_rule_ink_across_rule_span(turned: bool) -> None:
    """RULE_INK (0.1) across RULE_SPAN (90 of 100 px) is a printed line, a row's or a
    column's: it becomes the rows either side, the stem crossing it kept whole; fainter, or
    across 89 px, it is ink."""
    turn = np.transpose if turned else np.asarray
    ink = turn(stem_across(slice(50, 52), level=0.1, span=90))
    np.testing.assert_array_equal(without_rules(ink), turn(stem_across(slice(0))))
    np.testing.assert_array_equal(ink, turn(stem_across(slice(50, 52), level=0.1, span=90)))
    for ink in (stem_across(slice(50, 52), level=0.099), stem_across(slice(50, 52), span=89)):
        np.testing.assert_array_equal(without_rules(turn(ink)), turn(ink))


def test_no_printed_line_leaves_the_same_array_and_one_alone_is_taken_out() -> None:
    """Without a printed line, the ink is handed back as it is; a line across a drawing with
    no column inked across the page (no squared paper) is still a line."""
    blob = np.zeros((100, 100), np.float32)
    blob[40:60, 40:60] = 1.0
    assert without_rules(blob) is blob
    ink = blob.copy()
    ink[70] = 1.0
    np.testing.assert_array_equal(without_rules(ink), blob)


def test_a_printed_line_s_neighbours_are_the_rows_next_to_it() -> None:
    """The rows just above and below the line, not further: lines at rows 1-2 and 50-51 take
    the lesser of rows 0 and 3, 49 and 52; one from row 1 to the bottom of a 4-row image
    takes row 0."""
    ink = stem_across(slice(1, 3))
    ink[0, 0], ink[3, 0], ink[49, 0], ink[52, 0] = 0.6, 0.3, 0.3, 0.6
    ink[50:52] = 1.0
    out = without_rules(ink)
    assert out[1:3, 0].tolist() == out[50:52, 0].tolist() == [np.float32(0.3)] * 2
    short = np.ones((4, 20), np.float32)
    short[0] = 0.05  # under RULE_INK: no column is inked across
    np.testing.assert_array_equal(without_rules(short), np.full((4, 20), np.float32(0.05)))


@pytest.mark.parametrize(("side", "widest"), [(100, 3), (300, 6)])
def test_a_printed_line_is_at_most_rule_width_of_the_side_thick(side: int, widest: int) -> None:
    """RULE_ROWS (3) rows, or RULE_WIDTH (2%) of the side when more, are a printed line;
    a band one row thicker is ink."""
    assert widest_rule(side) == widest
    np.testing.assert_array_equal(without_rules(stem_across(slice(50, 50 + widest), side)),
                                  stem_across(slice(0), side))
    thick = stem_across(slice(50, 51 + widest), side)
    np.testing.assert_array_equal(without_rules(thick), thick)


def test_a_printed_line_becomes_the_lesser_of_the_rows_either_side() -> None:
    """The line's rows take the lesser ink of the row above and the row below, each pixel:
    a stroke ending at the line is not drawn across it; at the image's edge, the one row
    inside; a page all ruled is blank."""
    ink = stem_across(slice(50, 52))
    ink[:50, 20:30] = 0.5  # a stroke from the top down to the line
    expected = stem_across(slice(0))
    expected[:50, 20:30] = 0.5
    np.testing.assert_array_equal(without_rules(ink), expected)
    for rows, inside in ((slice(0, 2), 2), (slice(98, 100), 97)):
        ink = stem_across(rows)
        ink[inside, 0] = 0.3  # a speck beside the line: copied over it
        expected = ink.copy()
        expected[rows] = ink[inside]
        np.testing.assert_array_equal(without_rules(ink), expected)
    assert not without_rules(np.ones((3, 20), np.float32)).any()
