"""A photo of a page lying on a table: the table is not ink (digitnet.table).

Read against the border's colour, the table's, the whole page was ink: a digit on a page
on a dark desk was refused as "no digit" or read as a blob. The table is painted in the
page's colour first; images that are not a page on a table are left as they are.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from api_helpers import SEVEN, ZERO, data_url, encode
from digitnet import table
from digitnet.imagefile import decode_image
from digitnet.table import without_table
from PIL import Image, ImageDraw, ImageFilter
from test_preprocess_photos import BLUE_INK, SIDE, strokes_mask

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics")

PAGE = (236, 234, 228)
TABLES = {"wood": (150, 105, 65), "dark desk": (45, 45, 50), "green mat": (40, 95, 70),
          "grey": (150, 150, 155)}


def page_on_table(strokes: list, table: tuple, *, angle: float = 0.0, page: float = 0.6,
                  at: tuple[float, float] = (0.5, 0.5), ruled: bool = False,
                  paper: tuple = PAGE) -> tuple[bytes, np.ndarray]:
    """A JPEG photo of `strokes` on a page `page` of the photo's side (`ruled`: a notebook's,
    every 24 px) of colour `paper`, turned by `angle` degrees, centred `at`, on a table with
    grain; and where the strokes are in the photo."""
    rng = np.random.default_rng(len(strokes) + int(angle) + sum(table))
    inner = round(SIDE * page)
    cover = strokes_mask(strokes, side=inner, width=0.05).rotate(angle, expand=True)
    sheet = Image.new("L", (inner, inner), 255).rotate(angle, expand=True)
    grain = rng.normal(0, 8, (SIDE, 1, 1)) + rng.normal(0, 4, (SIDE, SIDE, 1))
    photo = Image.fromarray(np.clip(np.array(table) + grain, 0, 255).astype(np.uint8))
    corner = tuple(round(c * SIDE - s / 2) for c, s in zip(at, sheet.size, strict=True))
    photo.paste(paper, corner, sheet)
    if ruled:
        lines = Image.new("L", (inner, inner), 0)
        for y in range(12, inner, 24):
            ImageDraw.Draw(lines).line([(0, y), (inner, y)], fill=255, width=2)
        photo.paste((160, 190, 225), corner, lines.rotate(angle, expand=True))
    photo.paste(BLUE_INK, corner, cover)
    where = Image.new("L", (SIDE, SIDE), 0)
    where.paste(cover, corner, cover)
    data = encode(photo.filter(ImageFilter.GaussianBlur(0.8)), "JPEG", quality=85)
    return data, np.asarray(where)


def box_size(mask: np.ndarray) -> tuple[int, int]:
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(columns[-1] - columns[0] + 1)


def strokes_alone(ink: np.ndarray, where: np.ndarray, slack: float = 6) -> bool:
    """Whether the ink (10% and over) is the strokes' and nothing else's, none lost: its box
    is the strokes' box, within `slack` px (the photo may come back cropped to its page)."""
    drawn, got = box_size(where >= 26), box_size(ink >= 0.1)
    return all(abs(a - b) <= slack for a, b in zip(drawn, got, strict=True))


@pytest.mark.parametrize("table", TABLES.values(), ids=TABLES.keys())
@pytest.mark.parametrize(("angle", "at"), [(0, (0.5, 0.5)), (9, (0.45, 0.55)),
                                           (-12, (0.62, 0.4))], ids=["square", "turned", "aside"])
def test_the_table_around_a_page_is_not_ink(table, angle, at) -> None:
    data, where = page_on_table(ZERO, table, angle=angle, at=at)
    assert strokes_alone(decode_image(data), where)  # neither the page nor the table is ink


@pytest.mark.parametrize("table", TABLES.values(), ids=TABLES.keys())
@pytest.mark.parametrize(("page", "angle"), [(0.92, 0), (0.94, 4)])
def test_a_table_showing_only_past_the_page_s_edges_too(table, page, angle) -> None:
    """3-4% of the photo a side is table: on the page finder's thumbnail a third of it
    blends into the page, which is no reason to take it for lighting."""
    data, where = page_on_table(ZERO, table, page=page, angle=angle)
    assert strokes_alone(decode_image(data), where)


DIM_PAGE = (165, 165, 160)  # a white page in dim light


@pytest.mark.parametrize("table", [(125, 104, 84), (85, 122, 122)], ids=["wood", "teal"])
def test_a_dim_page_on_a_table_of_another_hue_is_found(table) -> None:
    """55-60 levels darker: lighting can leave that much, but it keeps the page's hue."""
    data, where = page_on_table(ZERO, table, paper=DIM_PAGE)
    assert strokes_alone(decode_image(data), where)


def test_a_table_as_dark_but_of_the_page_s_hue_may_be_lighting() -> None:
    data, _ = page_on_table(ZERO, (112, 112, 108), paper=DIM_PAGE)
    photo = Image.open(io.BytesIO(data)).convert("RGB")
    assert without_table(photo) is photo


def thumbnail(page: float | tuple = 200, table_level: float | tuple = 100, *,
              box: tuple[int, int, int, int] = (2, 8, 2, 7)) -> tuple[np.ndarray, np.ndarray]:
    """A 10x10 thumbnail (bands first, as the page finder reads it; grey unless the levels
    are colours) of a page of level `page` over rows box[0]:box[1] and columns
    box[2]:box[3], on a table of `table_level`; and the page's region."""
    page, table_level = np.atleast_1d(page), np.atleast_1d(table_level)
    colours = np.repeat(table_level[:, None, None], 100, axis=1).reshape(-1, 10, 10)
    colours = colours.astype(np.float32)
    region = np.zeros((10, 10), bool)
    region[box[0] : box[1], box[2] : box[3]] = True
    colours[:, region] = page[:, None]
    return colours, region


def table_colour_of(colours: np.ndarray, region: np.ndarray,
                    page: float | tuple = 200) -> np.ndarray | None:
    page = np.atleast_1d(np.array(page, np.float32))
    page_coloured = table._distance(colours, page) <= table.PAGE_LEVELS
    return table._table_colour(colours, page_coloured, region, page)


def test_a_page_of_a_tenth_to_page_area_s_most_of_the_photo_is_a_page() -> None:
    """PAGE_AREA: a page on a tenth of the photo to 0.95 of it, both ends included."""
    colours, region = thumbnail(box=(2, 4, 2, 7))  # 10 of 100 pixels
    assert table_colour_of(colours, region) is not None
    region[3, 6] = False  # 9
    assert table_colour_of(colours, region) is None
    colours, region = thumbnail(box=(0, 10, 0, 10))
    colours[0, 0, :5], region[0, :5] = 100, False  # 95 of 100 pixels, the table on 5
    assert table_colour_of(colours, region) is not None
    region[0, 4] = True
    assert table_colour_of(colours, region) is None


def test_a_table_a_tenth_in_the_page_s_colour_is_a_table_and_more_is_not() -> None:
    """TABLE_PAGE is the most of the table that may be of the page's colour."""
    colours, region = thumbnail()  # 70 pixels of table
    colours[0, 0, :7] = 200  # 7 of them: a tenth
    assert table_colour_of(colours, region) is not None
    colours[0, 9, 0] = 200
    assert table_colour_of(colours, region) is None


def test_a_page_half_in_its_colour_is_a_page_and_less_is_not() -> None:
    """PAGE_FILL: the page's colour on half of the page at least, ink on the rest."""
    colours, region = thumbnail()  # 30 pixels of page
    colours[0, 2:5, 2:7] = 20  # 15 of them ink
    assert table_colour_of(colours, region) is not None
    colours[0, 5, 2] = 20
    assert table_colour_of(colours, region) is None


def test_a_table_page_lighter_levels_darker_is_a_table_and_one_less_is_not() -> None:
    """PAGE_LIGHTER levels darker or more (grey: no hue to tell them apart)."""
    assert table_colour_of(*thumbnail(table_level=200 - table.PAGE_LIGHTER)) is not None
    assert table_colour_of(*thumbnail(table_level=201 - table.PAGE_LIGHTER)) is None


def test_colours_whose_shares_differ_by_hue_share_are_of_another_hue() -> None:
    """The red share 0.04 apart (the sums are 256: the shares are exact): HUE_SHARE or more
    is another hue, which need only be HUED_PAGE_LIGHTER levels darker, 0.035 apart is not;
    either way round (a red table under a grey page: the page's shares are the lower)."""
    page, teal = np.array([10.24, 122.88, 122.88], np.float32), np.array([0, 128, 128], np.float32)
    assert table._levels_apart(page, teal) == table.HUED_PAGE_LIGHTER
    assert table._levels_apart(page, page) == table.PAGE_LIGHTER
    under = np.array([8.96, 123.52, 123.52], np.float32)  # a red share 0.035 from teal's
    assert table._levels_apart(under, teal) == table.PAGE_LIGHTER
    grey, red = np.array([100, 100, 100], np.float32), np.array([120, 90, 90], np.float32)
    hued = table.HUED_PAGE_LIGHTER
    assert table._levels_apart(grey, red) == table._levels_apart(red, grey) == hued


@pytest.mark.parametrize(("darker", "found"), [(32, True), (31, False)])
def test_a_table_of_another_hue_hued_page_lighter_levels_darker_is_a_table(darker,
                                                                            found) -> None:
    """HUED_PAGE_LIGHTER: a reddish table under a grey page (a red share of 0.4, the page's
    a third) need only be 32 levels darker (mean of bands); at 31 it may be lighting."""
    reddish = np.array([200, 152, 152]) + 32 - darker
    colours, region = thumbnail((200, 200, 200), reddish)
    assert (table_colour_of(colours, region, (200, 200, 200)) is not None) == found


def test_a_table_within_table_levels_of_its_median_is_one_colour() -> None:
    """A third of the table TABLE_LEVELS lighter than its median is still of its colour;
    a level more, and it is not one colour (a trend of lighting)."""
    colours, region = thumbnail()
    colours[0, 0, :], colours[0, 9, 2:8] = 124, 124  # 16 of the 48 pixels past its edge
    assert table_colour_of(colours, region) is not None
    colours[0, 0, :] = 125
    assert table_colour_of(colours, region) is None


def test_a_table_four_fifths_of_its_colour_is_one_colour_and_less_is_not() -> None:
    """TABLE_UNIFORM of the table past the page's edge within TABLE_LEVELS of its median."""
    colours, region = thumbnail(box=(2, 8, 2, 8))
    rows, columns = np.nonzero(table._off_edge(~region))  # 40 pixels
    colours[0, rows[:8], columns[:8]] = 60
    assert table_colour_of(colours, region) is not None
    colours[0, rows[8], columns[8]] = 60
    assert table_colour_of(colours, region) is None


def test_a_grey_photo_of_a_page_on_a_table_too() -> None:
    data, where = page_on_table(ZERO, TABLES["wood"], angle=5)
    grey = encode(Image.open(io.BytesIO(data)).convert("L"), "JPEG", quality=85)
    assert strokes_alone(decode_image(grey), where)


def test_a_page_cut_off_by_the_photo_s_edge_is_found_too() -> None:
    """Only part of the table shows: on the left and the top."""
    data, where = page_on_table(SEVEN, TABLES["wood"], page=0.9, at=(0.6, 0.58))
    assert strokes_alone(decode_image(data), where)


def test_a_notebook_page_on_a_table_loses_its_lines_too() -> None:
    """The photo comes back cropped to its page, across which the printed lines run (on the
    whole photo they spanned too little of it to be told from strokes). A crop whose edge
    falls on a line still misleads the paper's colour, as any such image does
    (layers/model/README.md)."""
    data, where = page_on_table(SEVEN, TABLES["dark desk"], page=0.9, ruled=True)
    assert strokes_alone(decode_image(data), where)


WHITE_DESK = (244, 244, 240)
NOTES = {"yellow note": (250, 222, 95), "pink note": (245, 170, 200), "grey card": (150, 150, 150)}


@pytest.mark.parametrize("paper", NOTES.values(), ids=NOTES.keys())
@pytest.mark.parametrize("angle", [0, 8])
def test_a_sheet_darker_than_what_lies_round_it_is_found(paper, angle) -> None:
    """A sticky note on white paper: only a page lighter than its table was looked for, and
    the whole note was ink (a review's coloured sheets with white all round: 3 of 51 read
    right). Its ink is then what is darker than the note."""
    data, where = page_on_table(ZERO, WHITE_DESK, paper=paper, angle=angle)
    assert strokes_alone(decode_image(data), where)


def test_ink_is_halfway_to_a_darker_table_else_ink_darker_below_the_page() -> None:
    """_ink_below: halfway from the page's grey to a darker table's, one a level darker
    too; INK_DARKER below a page as light as its table or darker (a sheet on paper)."""
    def below(page: float, table_level: float) -> float:
        return table._ink_below(np.array([page]), np.array([table_level]))

    assert below(201, 100) == 150.5
    assert below(151, 150) == 150.5
    assert below(150, 150) == below(150, 244) == 150 - table.INK_DARKER


@pytest.mark.parametrize(("table", "paper"), [(TABLES["wood"], PAGE), (TABLES["dark desk"], PAGE),
                                              (WHITE_DESK, NOTES["yellow note"])],
                         ids=["wood", "dark desk", "note on white"])
def test_a_page_on_a_table_is_read_right_through_the_api(client, table, paper) -> None:
    data, _ = page_on_table(SEVEN, table, angle=7, page=0.5, paper=paper)
    r = client.post("/predict", json={"image": data_url(data, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["digit"] == 7, r.json()["probabilities"]


def drawing(background: str, ink: str, width: int) -> Image.Image:
    image = Image.new("RGB", (280, 280), background)
    ImageDraw.Draw(image).line([(140, 30), (140, 250)], fill=ink, width=width)
    return image


def lit_unevenly(grad: float) -> Image.Image:
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    paper = 215 - grad * (0.7 * x + 0.3 * y)
    image = Image.fromarray(np.repeat(paper[..., None], 3, -1).astype(np.uint8))
    image.paste(BLUE_INK, (0, 0), strokes_mask(ZERO))
    return image


@pytest.mark.parametrize("image", [
    drawing("white", "black", 16),  # the page fills the photo
    drawing("white", "black", 120),  # a bold stroke, a large dark region: darker, not page
    drawing("white", (40, 90, 200), 120),  # a bold marker's: no ink darker than it on it
    drawing("black", "white", 16),  # chalk on a board
    drawing("black", "white", 120),  # a bold light stroke on dark: one colour around it?
    lit_unevenly(60), lit_unevenly(120),  # lighting trends are no table
    Image.new("RGB", (280, 280), "white"),
], ids=["paper", "bold-stroke", "bold-marker", "chalk", "bold-chalk", "lit-60", "lit-120", "blank"])
def test_what_is_no_page_on_a_table_is_left_as_it_is(image: Image.Image) -> None:
    assert without_table(image) is image


def test_a_see_through_canvas_is_left_to_its_alpha() -> None:
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    canvas.paste((20, 20, 20, 255), (100, 100, 180, 200))
    assert without_table(canvas) is canvas


def test_ink_away_from_the_page_s_middle_is_kept() -> None:
    """The page is all that is not the table: a stroke running to the page's edge keeps
    its end (wood: the blue ink is far from the table's colour)."""
    stroke = [[(0.5, 0.2), (0.5, 0.97)]]
    data, where = page_on_table(stroke, TABLES["wood"], page=0.6)
    assert strokes_alone(decode_image(data), where, slack=0.03 * SIDE)  # at most its edge lost


def test_the_page_loses_page_edge_thumbnail_pixels_all_round_and_the_photo_s_edge() -> None:
    """_shrunk: PAGE_EDGE pixels off the page's edge (blurred on the thumbnail); a page cut
    off by the photo's edge loses that edge's outermost pixels too."""
    page = np.zeros((12, 12), bool)
    page[2:10, 3:10] = True
    shrunk = np.zeros((12, 12), bool)
    edge = table.PAGE_EDGE
    shrunk[2 + edge : 10 - edge, 3 + edge : 10 - edge] = True
    np.testing.assert_array_equal(table._shrunk(page), shrunk)
    page[:, :] = True  # cut off all round
    shrunk[:, :] = False
    shrunk[1:-1, 1:-1] = True
    np.testing.assert_array_equal(table._shrunk(page), shrunk)


def bold_light_zero(fmt: str) -> bytes:
    """A thick light "0" on a dark canvas: a region of one colour around a hole of the
    other, on a background of one colour, as a page on a table is."""
    image = Image.new("RGB", (280, 280), (17, 24, 39))
    ImageDraw.Draw(image).ellipse((60, 30, 220, 250), outline=(250, 250, 245), width=50)
    return encode(image, fmt, **({"quality": 80} if fmt == "JPEG" else {}))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_bold_light_digit_on_dark_is_no_page(monkeypatch, fmt) -> None:
    """It has no ink of its own (every pixel is one of its two colours or a blend): left as
    it is. Without that check its background was painted light and the hole read as ink."""
    from digitnet import imagefile, table

    data = bold_light_zero(fmt)
    with monkeypatch.context() as patch:
        patch.setattr(imagefile, "without_table", lambda image: image)
        as_drawn = decode_image(data)
    assert np.array_equal(decode_image(data), as_drawn)
    monkeypatch.setattr(table, "_holds_ink", lambda *args: True)
    assert not np.array_equal(decode_image(data), as_drawn)


EIGHT = [[(0.5 + 0.17 * np.cos(t), 0.3 + 0.17 * np.sin(t)) for t in np.linspace(0, 6.3, 40)],
         [(0.5 + 0.21 * np.cos(t), 0.68 + 0.2 * np.sin(t)) for t in np.linspace(0, 6.3, 40)]]


def on_colour(strokes: list, background: tuple, ink: tuple, width: int) -> Image.Image:
    image = Image.new("RGB", (280, 280), background)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line([(x * 280, y * 280) for x, y in stroke], fill=ink, width=width, joint="curve")
    return image


def tight_crop(strokes: list, ink: tuple, texture: float, bar: float = 0) -> Image.Image:
    """A photo of a digit cropped to its ink, so that a stroke (a 7's bar) is the border;
    `bar`: the first stroke's first segment (a 7's bar) that many levels lighter."""
    rng = np.random.default_rng(3)
    cover = np.asarray(strokes_mask(strokes, side=560, width=0.08), np.float32)[..., None] / 255
    lighter = np.asarray(strokes_mask([strokes[0][:2]], side=560, width=0.08))[..., None] > 0
    pen = np.array(ink) + rng.normal(0, texture, (560, 560, 1)) + bar * lighter
    rgb = np.array(PAGE) * (1 - cover) + pen * cover + rng.normal(0, 3, (560, 560, 3))
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    rows, columns = np.nonzero(cover[..., 0] > 0.5)
    return image.crop((columns.min(), rows.min(), columns.max() + 1, rows.max() + 1))


@pytest.mark.parametrize("image", [
    tight_crop(SEVEN, BLUE_INK, 12),  # the bar was painted out: read as a 1
    tight_crop(SEVEN, (110, 110, 110), 25),  # pencil
    tight_crop(SEVEN, BLUE_INK, 12, bar=20),  # the bar lighter (less pressure): its own colour
    on_colour(EIGHT, (0, 0, 0), (255, 220, 0), 30),  # JPEG colour bleed: read as a 2
    on_colour(EIGHT, (20, 20, 30), (255, 255, 255), 30),
], ids=["tight-ballpoint-7", "tight-pencil-7", "tight-7-light-bar", "yellow-8", "white-8"])
def test_a_stroke_or_a_hole_of_the_table_s_colour_is_no_table(image: Image.Image) -> None:
    """Taken for a page on a table at first: a photo cropped to the digit (its bar on the
    border, the "table"), a light 8 on dark (its loops' holes). The digit's strokes run
    into the "table", or the page's dark pixels are the table's own colour: left as they
    are (JPEG as sent)."""
    data = encode(image, "JPEG", quality=85)
    assert without_table(Image.open(io.BytesIO(data)).convert("RGB")).tobytes() == \
        Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def holds_ink(pixels: list[tuple[int, ...]], page: tuple[int, ...] = (200, 200, 200),
              table_colour: tuple[int, ...] = (100, 100, 100)) -> bool:
    """_holds_ink on a page of colour `page` whose only pixels read are `pixels`, each as
    exactly its colour (the middle of a 3x3 block of it, the block's other pixels off the
    page mask, the paper on it); a table of `table_colour` (one band: a grey image)."""
    image = np.full((3, 4 * len(pixels) + 1, len(page)), page, np.uint8)
    mask = np.ones(image.shape[:2], bool)
    for i, colour in enumerate(pixels):
        image[:, 4 * i + 1 : 4 * i + 4], mask[:, 4 * i + 1 : 4 * i + 4] = colour, False
        mask[1, 4 * i + 2] = True
    return table._holds_ink(Image.fromarray(image.squeeze(-1) if len(page) == 1 else image), mask,
                            np.array(page, np.float32), np.array(table_colour, np.float32))


def test_ink_pixels_of_ink_are_ink_and_fewer_are_not() -> None:
    """INK_PIXELS (8) pixels of ink make a page's own ink (a pen's dot); 7 are noise."""
    assert holds_ink([(80, 80, 80)] * 8)
    assert not holds_ink([(80, 80, 80)] * 7)


def test_a_pixel_at_the_ink_level_is_not_read() -> None:
    """Ink is darker than halfway from the page's grey to the table's: 50 here, exactly; a
    pixel of grey 50 is not read, however far off the line its colour is."""
    page, black = (100, 100, 100), (0, 0, 0)
    assert holds_ink([(0, 68, 80)] * 8, page, black)  # grey 49
    assert not holds_ink([(0, 70, 80)] * 8, page, black)  # grey 50


def test_ink_is_more_than_ink_darker_levels_darker_than_the_table() -> None:
    """Along the line from the page's colour to a darker table's, past the table by over
    INK_DARKER levels (grey: the line is the grey axis, the levels exact)."""
    grey = {"page": (200,), "table_colour": (100,)}
    assert holds_ink([(83,)] * 8, **grey)
    assert not holds_ink([(84,)] * 8, **grey)


def test_ink_is_more_than_ink_colour_levels_off_the_line_from_table_to_page() -> None:
    """A page redder than the table: ink as red as the table but INK_COLOUR levels less
    green is on neither's line; it is ink past INK_COLOUR levels."""
    page, wood = (200, 100, 100), (100, 100, 100)
    assert holds_ink([(100, 67, 100)] * 8, page, wood)
    assert not holds_ink([(100, 68, 100)] * 8, page, wood)


def test_dark_pixels_of_the_table_s_colour_hold_no_ink() -> None:
    """Their median within INK_UNLIKE levels of the table's: holes of the table in a light
    stroke, however many darker pixels there are besides."""
    grey = {"page": (200,), "table_colour": (100,)}
    assert holds_ink([(91,)] * 9 + [(60,)] * 8, **grey)
    assert not holds_ink([(92,)] * 9 + [(60,)] * 8, **grey)


def test_pixels_between_the_table_s_colour_and_the_page_s_are_no_ink() -> None:
    """Blends of the two (a light drawing on a dark canvas is all on that line): not ink,
    only what lies past the table's end of the line by INK_DARKER levels."""
    blends = [(130, 130, 130)] * 9
    assert holds_ink(blends + [(90, 90, 90)] * 8)
    assert not holds_ink(blends + [(94, 94, 94)] * 8)


def test_a_blurred_light_digit_on_dark_holds_no_ink() -> None:
    """A light 8 on dark, blurred: its holes are blends of its two colours, far enough from
    the dark one to pass for ink of another colour, but on the line between them."""
    image = on_colour(EIGHT, (20, 20, 30), (255, 255, 255), 40).filter(ImageFilter.GaussianBlur(6))
    assert without_table(image) is image


@pytest.fixture
def samples_read(monkeypatch) -> list[int]:
    """How many dark pixels each _holds_ink call reads (as their 3x3 means)."""
    read, mean_around = [], table._mean_around
    monkeypatch.setattr(table, "_mean_around", lambda values, rows, columns: (
        read.append(len(rows)) or mean_around(values, rows, columns)))
    return read


def test_a_bold_digit_s_dark_pixels_are_read_at_most_ink_samples(samples_read) -> None:
    """A square drawn on a page: of its 9000 dark pixels an evenly spread INK_SAMPLES at
    most are read (a median and a count need no more; a 1024 px page's bold digit has
    50,000+)."""
    square = [[(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7), (0.3, 0.3)]]
    photo = Image.open(io.BytesIO(page_on_table(square, TABLES["wood"])[0])).convert("RGB")
    assert without_table(photo) is not photo
    assert 0 < samples_read[0] <= table.INK_SAMPLES


@pytest.mark.parametrize(("dark", "read"), [(4096, 4096), (4097, 2049)])
def test_up_to_4096_dark_pixels_are_all_read_and_more_every_other_or_sparser(samples_read,
                                                                             dark, read) -> None:
    """INK_SAMPLES (4096): that many dark pixels are all read; one more, every other one."""
    assert holds_ink([(80, 80, 80)] * dark)
    assert samples_read == [read]


def test_the_mean_around_a_pixel_is_its_3x3_mean_edges_repeated() -> None:
    """_holds_ink reads each dark pixel as its 3x3 mean (a JPEG's ringing averages out),
    the image's edge pixels repeated past it."""
    values = np.random.default_rng(0).integers(0, 256, (4, 5, 3)).astype(np.uint8)
    rows, columns = np.mgrid[0:4, 0:5].reshape(2, -1)
    padded = np.pad(values.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    means = sum(padded[dy : dy + 4, dx : dx + 5] for dy in range(3) for dx in range(3)) / 9
    np.testing.assert_allclose(table._mean_around(values, rows, columns),
                               means.reshape(-1, 3), rtol=1e-6)


def test_an_opaque_rgba_photo_of_a_page_on_a_table_is_found() -> None:
    data, where = page_on_table(ZERO, TABLES["wood"], angle=5)
    rgba = encode(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert strokes_alone(decode_image(rgba), where)


def test_a_stroke_running_to_the_page_s_edge_leaves_the_photo_as_it_is(monkeypatch) -> None:
    """A page on a table whose digit's stroke runs to the page's edge: painting the table
    and the page's edge would cut it, so nothing is painted (without that check, it was)."""
    from digitnet import table

    data, _ = page_on_table([[(0.5, 0.3), (0.5, 1.4)]], TABLES["wood"], page=0.6)
    photo = Image.open(io.BytesIO(data)).convert("RGB")
    assert without_table(photo) is photo
    monkeypatch.setattr(table, "_ink_runs_off", lambda *args: False)
    assert without_table(photo) is not photo


def test_a_thumbnail_pixel_halfway_from_page_to_table_does_not_lead_ink_off_the_page() -> None:
    """_ink_runs_off follows pixels darker than halfway from the page's grey to the table's:
    a row at that level from the table into the page is no stroke running off it; a level
    darker, it is."""
    colours, region = thumbnail(box=(1, 9, 1, 9))
    page = table._shrunk(region)
    colours[0, 5, :6] = 150  # halfway from 200 to 100, from the table to the page's middle
    args = np.array([200], np.float32), np.array([100], np.float32)
    assert not table._ink_runs_off(colours, region, page, *args)
    colours[0, 5, :6] = 149
    assert table._ink_runs_off(colours, region, page, *args)


def test_grey_levels_are_pillow_s() -> None:
    """_grey of colours (bands first) is convert("L")'s luma (to its rounding), and a grey
    thumbnail's own band."""
    rng = np.random.default_rng(0)
    rgb = np.concatenate([np.eye(3) * 255, rng.integers(0, 256, (61, 3))]).astype(np.uint8)
    luma = np.asarray(Image.fromarray(rgb[None]).convert("L"), np.float32)[0]
    assert np.abs(table._grey(rgb.T.astype(np.float32)) - luma).max() <= 0.5
    grey = rng.integers(0, 256, (1, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(table._grey(grey), grey[0])


@pytest.mark.parametrize(("size", "read"), [((64, 64), (64, 64)), ((65, 30), (33, 15)),
                                            ((192, 129), (64, 43))])
def test_the_page_is_found_on_a_thumbnail_of_at_most_64_pixels_a_side(size, read) -> None:
    """THUMB_SIDE: an image 64 px a side or less is read as it is; a larger one is reduced
    by the least whole factor that brings its longer side to 64 or under (2 for 65: 33, the
    last box a column short; 3 for 192), its bands first."""
    grey = table._thumbnail(Image.new("L", size, 7))
    colour = table._thumbnail(Image.new("RGB", size, (7, 8, 9)))
    assert grey.shape == (1, read[1], read[0])
    assert colour.shape == (3, read[1], read[0])
    np.testing.assert_array_equal(colour[:, -1, -1], (7, 8, 9))


@pytest.mark.parametrize(("shape", "middle"), [((12, 16), (3, 9, 4, 12)),
                                               ((13, 18), (3, 10, 4, 14))])
def test_the_centre_is_the_middle_half_of_the_image_each_way(shape, middle) -> None:
    """_centre: a quarter of the height off the top and the bottom, of the width off either
    side (rounded down: the middle half or a pixel more)."""
    values = np.arange(2 * shape[0] * shape[1]).reshape(2, *shape)
    top, bottom, left, right = middle
    np.testing.assert_array_equal(table._centre(values), values[:, top:bottom, left:right])


def test_the_page_s_colour_is_the_median_of_the_lighter_half() -> None:
    """_lighter_half: of the pixels as light as their median or lighter, the median per
    band: for grey 10 to 50 in steps of 10, 40 (the 75th percentile); a pixel's lightness
    is the mean of its bands (a bright red is darker than a mid grey)."""
    grey = np.array([[50, 10, 40, 20, 30]], np.float32)
    np.testing.assert_array_equal(table._lighter_half(grey), [40])
    red, greys = np.array([[200], [10], [10]]), np.array([[60, 80, 100, 120]] * 3)
    np.testing.assert_array_equal(table._lighter_half(np.hstack([red, greys])), [100] * 3)


def test_rows_of_three_kinds_span_the_page_s_columns() -> None:
    """_spans: a row with ROW_PAGE of the width on the page (2 of 10 pixels) spans from its
    first page pixel to its last; one with fewer between two such rows spans the whole
    width (a stroke across the page); one with fewer above or below them all spans nothing."""
    page = np.zeros((7, 10), bool)
    page[0, 4] = page[3, 8] = page[5, 2] = True  # 1 pixel: fewer than ROW_PAGE
    page[1, [3, 6]] = True
    page[4, 1:8] = True
    spans = np.zeros((7, 10), bool)
    spans[1, 3:7] = spans[4, 1:8] = True
    spans[2:4] = True  # rows 2 and 3, between rows 1 and 4
    np.testing.assert_array_equal(table._spans(page), spans)


PAGE_BOX = (2, 19, 2, 19)  # top, bottom, left, right (exclusive) of grey_photo's page


def grey_photo(*areas: tuple[tuple[int, int, int, int], float]) -> Image.Image:
    """A grey photo 21 px a side (the page finder's thumbnail as it is) of a table of level
    100 with `areas` (top, bottom, left, right: the last two exclusive) painted on it in
    that order, then a page's ink: a black 4x4 block in the middle (rows, columns 9-12)."""
    levels = np.full((21, 21), 100, np.uint8)
    for (top, bottom, left, right), level in areas:
        levels[top:bottom, left:right] = level
    levels[9:13, 9:13] = 0
    return Image.fromarray(levels)


def test_a_page_on_a_table_in_a_grey_photo_is_cropped_to_its_page() -> None:
    """The page less PAGE_EDGE pixels all round (the photo is its own thumbnail)."""
    painted = without_table(grey_photo((PAGE_BOX, 200)))
    side = PAGE_BOX[1] - PAGE_BOX[0] - 2 * table.PAGE_EDGE
    assert painted.size == (side, side)


@pytest.mark.parametrize(("darker", "found"), [(40, True), (41, False)])
def test_a_page_s_edge_page_levels_darker_than_its_middle_is_still_the_page(darker,
                                                                           found) -> None:
    """PAGE_LEVELS: lighting darkens a page's edge (here 3 px wide, round its middle half) by
    up to 40 levels, and the page is found; a level more, and its edge is not the page's
    colour, nor a table's (the rest is then no one colour)."""
    photo = grey_photo((PAGE_BOX, 200 - darker), ((5, 16, 5, 16), 200))
    assert (without_table(photo) is not photo) == found


@pytest.mark.parametrize(("notch", "fills"), [(8, True), (9, False)])
def test_a_page_on_border_page_of_the_border_fills_the_photo(notch, fills) -> None:
    """BORDER_PAGE: a page whose colour is on 9 tenths of the border (a notch of table 3 px
    deep on 8 of its 80 pixels) fills the photo, and is left as it is; one pixel less, and
    it is a page on a table."""
    photo = grey_photo(((0, 21, 0, 21), 200), ((0, 3, 6, 6 + notch), 100))
    assert (without_table(photo) is photo) == fills


def test_table_levels_off_the_table_s_colour_is_still_the_table() -> None:
    """The page is what is over TABLE_LEVELS from the table's colour: a row of the table at
    the photo's bottom edge exactly that much lighter is table, and the photo is cropped to
    the page alone."""
    photo = grey_photo((PAGE_BOX, 200), ((20, 21, 0, 21), 100 + table.TABLE_LEVELS))
    assert without_table(photo).size == without_table(grey_photo((PAGE_BOX, 200))).size


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_an_opaque_photo_with_an_alpha_band_is_painted_opaque(mode) -> None:
    """Read in its colour bands; the table within the page's box (a corner torn off the
    page) is painted in the page's colour, opaque."""
    torn = grey_photo((PAGE_BOX, 200), ((2, 8, 2, 8), 100))
    painted = without_table(torn.convert(mode))
    assert painted.mode == mode
    assert painted.size == without_table(torn).size
    assert painted.getpixel((0, 0)) == ((200, 255) if mode == "LA" else (200, 200, 200, 255))
    assert painted.getchannel("A").getextrema() == (255, 255)


@pytest.mark.parametrize("where", [(0, 0), (20, 20), (10, 5)], ids=["corner", "other-corner",
                                                                      "page"])
def test_a_page_on_a_table_with_one_see_through_pixel_is_a_canvas(where) -> None:
    """A see-through pixel anywhere, at a corner (read first) or not: its alpha is the ink,
    and it is left as it is."""
    photo = grey_photo((PAGE_BOX, 200)).convert("RGBA")
    photo.putpixel(where, (200, 200, 200, 254))
    assert without_table(photo) is photo
