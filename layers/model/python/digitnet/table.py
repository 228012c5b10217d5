"""A photo of a page lying on a table: cropped to the page, the table painted over.

The paper is read on the image's border (digitnet.paper); when the page does not fill
the photo, the border is the table, and the whole page became "ink": of 200 digits on
pages on tables (training/mishaps.py) 4.5% were read right, most refused as no digit.
The page is found on a thumbnail: the colour of the light part of the image's middle, and
around it a region of that colour that fills its rows and columns (a scanline hull, so a
tilted page is found too), lighter than the rest, which must be one colour (a table, not
lighting), holding ink unlike the table (not a light stroke on a dark background), and
with paper between its ink and the table (not a photo cropped so tight that a stroke is
its edge). Or darker than the rest by as much (a sticky note or a grey card on white paper),
and then its ink is what is darker than it.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageChops

from .border import worst_channel
from .masks import grown, has_see_through, outer_ring

THUMB_SIDE = 64  # the page is found on a thumbnail at most this many pixels a side
# Levels (largest channel difference) from the centre's colour that are still the page:
# lighting across a page stays within it; a table this much darker or more is told apart.
PAGE_LEVELS = 40.0
BORDER_PAGE = 0.9  # the page's colour on this share of the border: it fills the photo
ROW_PAGE = 0.2  # a row (column) with less of the page's colour than this is off the page
PAGE_AREA = (0.1, 0.95)  # the page's share of the photo, least and most
PAGE_FILL = 0.5  # the page's colour on this share of the page at least (ink: the rest)
# The table: at most this share of it in the page's colour, and this share of it within
# TABLE_LEVELS of its own median colour (a smooth lighting trend or vignette is not one
# colour; a textured desk, averaged on the thumbnail, is).
TABLE_PAGE = 0.1
TABLE_UNIFORM = 0.8
TABLE_LEVELS = 24.0
# The page is lighter than the table by this many levels (mean of bands) or more (or darker:
# a sheet on lighter paper, whose edges and one colour no lighting has): a trend
# of lighting (40-120 levels across a photo) left a darker part whose median was 45-55
# levels darker than the middle, and one colour on a thumbnail as well.
PAGE_LIGHTER = 64.0
# Lighting dims a colour but keeps its hue: a table of another hue than the page (brown
# wood under a grey page in dim light) need only be this many levels darker, when the two
# colours' shares of red, green and blue differ by HUE_SHARE or more.
HUED_PAGE_LIGHTER = 32.0
HUE_SHARE = 0.04
PAGE_EDGE = 2  # thumbnail pixels of the page's edge painted over too (blurred, blocky)
# The page's own ink, read at the image's resolution in its pixels darker than halfway from
# the page's colour to the table's, each as its 3x3 mean (a JPEG's ringing beside a sharp
# edge is up to 45 levels darker than either side, 9 once averaged; a pen 1-2 px wide is
# lost with it):
# - their median colour is over INK_UNLIKE levels from the table's: a light stroke's holes,
#   or a stroke on a tight crop's border taken for the table, were 1.3 levels off at most;
#   pages on tables 4.9 or more (black ink on a black desk can be less: not found);
# - and INK_PIXELS of them are INK_DARKER levels darker than the table along the line from
#   its colour to the page's, or INK_COLOUR levels off that line (a light "0" on a dark
#   canvas has every pixel on that line, between its ends).
INK_UNLIKE = 8.0
INK_PIXELS = 8
INK_DARKER = 16.0
INK_COLOUR = 32.0
INK_SAMPLES = 4096  # dark pixels read at most (a bold digit on a 1024 px page has 50,000+)


def without_table(image: Image.Image) -> Image.Image:
    """The image cropped to its page, what is left of the table painted in the page's
    colour; any image that is not a page on a table (most: a canvas, a scan, a page filling
    the photo) as it is, at the cost of a thumbnail, and none on a see-through canvas
    (layers/model/README.md gives the timings). decode_image hands over images of at
    most 1024 px a side."""
    bands = _opaque_bands(image)
    if bands is None:
        return image
    colours = _thumbnail(bands)
    page_colour = _lighter_half(_centre(colours).reshape(len(colours), -1))
    page_coloured = _distance(colours, page_colour) <= PAGE_LEVELS
    if outer_ring(page_coloured).mean() >= BORDER_PAGE:
        return image
    table_colour = _table_colour(colours, page_coloured, _hull(page_coloured), page_colour)
    if table_colour is None:
        return image
    # The page is then all that is not the table, which keeps ink near its edge with it.
    region = _hull(_distance(colours, table_colour) > TABLE_LEVELS)
    page = _shrunk(region)
    if _ink_runs_off(colours, region, page, page_colour, table_colour):
        return image
    if not _holds_ink(bands, page, page_colour, table_colour):
        return image
    on_page = Image.fromarray(page).resize(image.size, Image.Resampling.NEAREST)
    painted = image.crop(on_page.getbbox())  # a notebook's lines then span the image
    fill = tuple(int(v) for v in np.round(page_colour)) + (255,) * ("A" in image.mode)
    painted.paste(fill, mask=ImageChops.invert(on_page.crop(on_page.getbbox()).convert("L")))
    return painted


def _opaque_bands(image: Image.Image) -> Image.Image | None:
    """The image's colour bands (L or RGB) when it is opaque; None for one that has
    see-through pixels (a canvas: its alpha is the ink), judged by its corners first."""
    if image.mode in ("L", "RGB"):
        return image
    right, bottom = image.width - 1, image.height - 1
    corners = [image.getpixel(xy)[-1] for xy in ((0, 0), (right, 0), (0, bottom), (right, bottom))]
    if min(corners) < 255 or has_see_through(image):
        return None
    return image.convert(image.mode[:-1])


def _thumbnail(image: Image.Image) -> np.ndarray:
    """(bands, h, w) float32, at most THUMB_SIDE pixels a side. Bands first: NumPy's
    reductions over a last axis of 3 are slow (a max over it took 0.37 ms on 93x93)."""
    values = np.asarray(_reduced_to(image, THUMB_SIDE))
    return (values[None] if values.ndim == 2 else values.transpose(2, 0, 1)).astype(np.float32)


def _reduced_to(image: Image.Image, side: int) -> Image.Image:
    """At most `side` pixels a side, by box averaging (which evens out a desk's grain and
    the camera's noise)."""
    factor = math.ceil(max(image.size) / side)
    return image.reduce(factor) if factor > 1 else image


def _centre(values: np.ndarray) -> np.ndarray:
    """The middle half of the image each way, where one aims the camera: the drawing's page."""
    height, width = values.shape[-2:]
    return values[:, height // 4 : height - height // 4, width // 4 : width - width // 4]


def _lighter_half(values: np.ndarray) -> np.ndarray:
    """The median colour of the lighter half of (bands, n) pixels (for grey, the 75th
    percentile): the page's, where the middle of the photo is mostly page (ink is the
    darker part) or partly table. A light stroke over a quarter of the middle is taken for
    the page too: _holds_ink tells it apart."""
    light = values.mean(axis=0)
    return np.median(values[:, light >= np.median(light)], axis=1)


def _distance(values: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Each pixel's largest difference from `colour` over the bands (values' first axis)."""
    return worst_channel(values - np.expand_dims(colour, tuple(range(1, values.ndim))), axis=0)


def _hull(page: np.ndarray) -> np.ndarray:
    """Each pixel between its row's first and last page pixel and its column's likewise.
    Rows (columns) with under ROW_PAGE of page pixels are off the page above or below it,
    and say nothing between: a stroke or printed line across the page stays inside."""
    return _spans(page) & _spans(page.T).T


def _spans(page: np.ndarray) -> np.ndarray:
    """Per row, the columns it has on the page. Three kinds of row: one with ROW_PAGE of
    page pixels spans from its first to its last; one with fewer, between such rows, spans
    the whole width (a stroke across the page: the columns decide); one above or below all
    such rows spans nothing (a band of table)."""
    height, width = page.shape
    enough = page.sum(axis=1) >= ROW_PAGE * width
    first, last = np.full(height, width), np.full(height, -1)  # spanning nothing
    rows = np.flatnonzero(enough)
    if len(rows):
        between = slice(rows[0], rows[-1] + 1)
        first[between], last[between] = 0, width - 1
        first[enough] = page[enough].argmax(axis=1)
        last[enough] = width - 1 - page[enough, ::-1].argmax(axis=1)
    columns = np.arange(width)
    return (columns >= first[:, None]) & (columns <= last[:, None])


def _table_colour(colours: np.ndarray, page_coloured: np.ndarray, region: np.ndarray,
                  page_colour: np.ndarray) -> np.ndarray | None:
    """The table's colour when `region` is a page on one: large, mostly of the page's
    colour, lighter or darker than the rest, which is one other colour (not lighting, which
    is no one colour; a bold digit, darker than its paper, holds no ink: _holds_ink). Else
    None."""
    area = region.mean()
    if not PAGE_AREA[0] <= area <= PAGE_AREA[1] or page_coloured[region].mean() < PAGE_FILL:
        return None
    outside = ~region
    if page_coloured[outside].mean() > TABLE_PAGE:
        return None
    table = colours[:, outside]
    table_colour = np.median(table, axis=1)
    if abs(page_colour.mean() - table_colour.mean()) < _levels_apart(page_colour, table_colour):
        return None
    near = _distance(colours, table_colour) <= TABLE_LEVELS
    return table_colour if near[_off_edge(outside)].mean() >= TABLE_UNIFORM else None


def _levels_apart(page_colour: np.ndarray, table_colour: np.ndarray) -> float:
    """How much the page and the table must differ (mean of bands): less when their hues do."""
    shares = [colour / max(float(colour.sum()), 1.0) for colour in (page_colour, table_colour)]
    hued = np.abs(shares[0] - shares[1]).max() >= HUE_SHARE
    return HUED_PAGE_LIGHTER if hued else PAGE_LIGHTER


def _off_edge(outside: np.ndarray) -> np.ndarray:
    """The table less its thumbnail pixels beside the page, which blend the two (a table
    showing 2-4 pixels past a page's edge was a third such blends), unless that leaves
    none."""
    beyond = outside & ~grown(~outside)
    return beyond if beyond.any() else outside


def _ink_runs_off(colours: np.ndarray, region: np.ndarray, page: np.ndarray,
                  page_colour: np.ndarray, table_colour: np.ndarray) -> bool:
    """Whether ink (_ink_below) leads from the table into the page past its painted edge: a
    stroke running off the page, or a "table" that is the digit's own stroke (a photo
    cropped to the digit: a 7's bar on the border, lighter than its downstroke). A page on a
    table has paper between its ink and the table."""
    dark = _grey(colours) < _ink_below(page_colour, table_colour)
    reached = ~region  # the table, then what dark pixels join to it
    for _ in range(dark.size):
        joined = reached | (dark & grown(reached))
        if np.array_equal(joined, reached):
            break
        reached = joined
    return bool((reached & page).any())


def _holds_ink(image: Image.Image, page: np.ndarray, page_colour: np.ndarray,
               table_colour: np.ndarray) -> bool:
    """Whether the page (a thumbnail mask) has ink of its own (see INK_UNLIKE and after),
    read on the image itself, where a pen's stroke keeps its colour."""
    mask = Image.fromarray(page).resize(image.size, Image.Resampling.NEAREST)
    box = mask.getbbox()  # the page's box: only it is read
    if box is None:
        return False
    crop, inside = image.crop(box), np.asarray(mask.crop(box))
    below = _ink_below(page_colour, table_colour)
    rows, columns = np.nonzero(inside & (np.asarray(crop.convert("L")) < below))
    if len(rows) < INK_PIXELS:
        return False
    step = math.ceil(len(rows) / INK_SAMPLES)  # evenly spread: a median and a count need no more
    rows, columns = rows[::step], columns[::step]
    values = np.asarray(crop).reshape(crop.height, crop.width, -1)
    around = _mean_around(values, rows, columns)
    if np.abs(np.median(around - table_colour, axis=0)).max() <= INK_UNLIKE:
        return False  # the table's colour: holes in a light stroke, a stroke on the border
    darker, lighter = sorted((page_colour, table_colour), key=lambda colour: colour.mean())
    axis = (darker - lighter) / np.linalg.norm(darker - lighter)
    offsets = around - darker
    along = offsets @ axis
    across = np.sqrt(np.square(offsets - along[:, None] * axis).sum(axis=1))
    return np.count_nonzero((along > INK_DARKER) | (across > INK_COLOUR)) >= INK_PIXELS


def _ink_below(page_colour: np.ndarray, table_colour: np.ndarray) -> float:
    """The grey level ink is darker than: halfway from the page's colour to a darker
    table's; on a lighter table (a sticky note on white paper), INK_DARKER below the page."""
    page_grey, table_grey = float(_grey(page_colour)), float(_grey(table_colour))
    if page_grey > table_grey:
        return (page_grey + table_grey) / 2
    return page_grey - INK_DARKER


def _mean_around(values: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(n, bands): the mean of each given pixel's 3x3 neighbourhood (edges repeated)."""
    height, width = values.shape[:2]
    total = np.zeros((len(rows), values.shape[2]), np.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            total += values[np.clip(rows + dy, 0, height - 1), np.clip(columns + dx, 0, width - 1)]
    return total / 9


def _grey(colours: np.ndarray) -> np.ndarray:
    """Grey levels as Pillow's convert("L") computes them (ITU-R 601-2 luma), of colours
    with their bands on the first axis: one colour, or a thumbnail's (bands, h, w)."""
    if len(colours) == 1:
        return colours[0]
    return np.tensordot(np.array((0.299, 0.587, 0.114), np.float32), colours, axes=1)


def _shrunk(inside: np.ndarray, by: int = PAGE_EDGE) -> np.ndarray:
    """The page less `by` thumbnail pixels all round: the page's edge, blurred on the
    thumbnail (a pixel of it is neither table nor page) and blocky once enlarged, is
    painted over as well (2 thumbnail pixels: 32 px of 1024)."""
    shrunk = inside
    for _ in range(by):
        shrunk = ~grown(~shrunk)
    shrunk = shrunk.copy()
    shrunk[[0, -1]] = False
    shrunk[:, [0, -1]] = False
    return shrunk
