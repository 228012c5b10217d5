"""A hypothesis strategy for valid, decodable images of every kind the API reads.

Each example is a recipe (what was drawn, in which mode and format: printed when a test
fails, enough to rebuild it) and the file's bytes. Contents aim at the photo and page
heuristics (digitnet.paper, lighting, table, border, frame, bands, ruled_lines): solid
colours, noise, gradients, ruled lines, grids, checkerboards, random shapes, near-uniform
fields a grey level apart, a digit drawn on any of them, a dark border or a frame, a light
page on a darker textured table, and alpha all 0, all 255, random or the ink itself.
Pixels come from a NumPy generator seeded by hypothesis: quick to draw, reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from api_helpers import ONE, SEVEN, ZERO, encode
from hypothesis import strategies as st
from PIL import Image, ImageDraw

# Pillow modes each format is written from (JPEG's CMYK; PNG's 16-bit grey, which Pillow
# writes from I;16 and I;16B and reads as I;16).
MODES = {
    "PNG": ["1", "L", "LA", "P", "P+transparency", "P+alpha", "L+transparency", "RGB",
            "RGB+transparency", "RGBA", "I;16", "I;16B"],
    "JPEG": ["L", "RGB", "CMYK"],
    "WEBP": ["RGB", "RGBA"],
    "GIF": ["1", "L", "L+transparency", "P", "P+transparency"],
}
BACKGROUNDS = ["solid", "noise", "gradient", "stripes", "grid", "checkerboard", "shapes",
               "near_uniform"]
NAMED_COLOURS = [(0, 0, 0), (255, 255, 255), (128, 128, 128)]
DIGITS = {"one": ONE, "seven": SEVEN, "zero": ZERO}


@st.composite
def sizes(draw: st.DrawFn) -> tuple[int, int]:
    """Width, height: tiny, MNIST's 28x28, ordinary, up to 1200 px, extreme strips, or
    over decoding's MAX_SIDE (1024) up to 2.5x on the longer side, so reduced."""
    kind = draw(st.sampled_from(["tiny", "mnist", "medium", "large", "strip", "reduced"]))
    if kind == "tiny":
        return draw(st.integers(1, 12)), draw(st.integers(1, 12))
    if kind == "mnist":
        return 28, 28
    if kind == "medium":
        return draw(st.integers(13, 400)), draw(st.integers(13, 400))
    if kind == "large":
        return draw(st.integers(300, 1200)), draw(st.integers(300, 1200))
    if kind == "reduced":
        long, short = draw(st.integers(1025, 2600)), draw(st.integers(1, 2600))
        if short * long > 1600 * 1600:  # keep it quick: a strip or a modest page
            short = draw(st.integers(1, 64))
        return (short, long) if draw(st.booleans()) else (long, short)
    short, long = draw(st.integers(1, 4)), draw(st.integers(20, 1200))
    return (short, long) if draw(st.booleans()) else (long, short)


def colours() -> st.SearchStrategy[tuple[int, int, int]]:
    return st.sampled_from(NAMED_COLOURS) | st.tuples(*[st.integers(0, 255)] * 3)


@st.composite
def contents(draw: st.DrawFn) -> dict[str, Any]:
    """What to paint, as data: a background, then a page, a digit, a border, alpha."""
    return {
        "background": draw(st.sampled_from(BACKGROUNDS)),
        "colours": [draw(colours()), draw(colours())],
        "seed": draw(st.integers(0, 2**32 - 1)),
        "page": draw(st.booleans()),
        "digit": draw(st.sampled_from([None, *DIGITS, "strokes"])),
        "ink": draw(colours()),
        "border": draw(st.sampled_from([None, "border", "frame"])),
        "alpha": draw(st.sampled_from(["opaque", "zero", "full", "level", "random", "ink",
                                        "ring"])),
        "alpha_levels": (draw(st.integers(0, 255)), draw(st.integers(0, 255))),
    }


def _background(kind: str, size: tuple[int, int], a: tuple, b: tuple,
                rng: np.random.Generator) -> Image.Image:
    """An RGB field of `kind`, in colours a and b (and random ones for shapes)."""
    width, height = size
    ca, cb = np.array(a, np.float32), np.array(b, np.float32)
    if kind == "solid":
        return Image.new("RGB", size, a)
    if kind == "noise":
        spread = rng.choice([3.0, 20.0, 128.0])
        pixels = ca + rng.normal(0, spread, (height, width, 3))
        if rng.random() < 0.5:
            pixels = pixels.mean(axis=2, keepdims=True).repeat(3, axis=2)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if kind == "gradient":
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        t = {0: x / max(width - 1, 1), 1: y / max(height - 1, 1),
             2: (x + y) / max(width + height - 2, 1), 3: 1 - x / max(width - 1, 1),
             4: np.hypot(x - width / 2, y - height / 2) / max(np.hypot(width, height) / 2, 1)
             }[int(rng.integers(5))]
        return Image.fromarray((ca + (cb - ca) * t[..., None]).clip(0, 255).astype(np.uint8))
    if kind in ("stripes", "grid", "checkerboard"):
        period = int(rng.integers(2, max(3, min(width, height) // 2 + 3)))
        line = int(rng.integers(1, max(2, period // 2 + 1)))
        y, x = np.mgrid[0:height, 0:width]
        if kind == "checkerboard":
            on = ((x // period) + (y // period)) % 2 == 1
        else:
            rows, cols = (y % period) < line, (x % period) < line
            on = rows | cols if kind == "grid" else (rows if rng.random() < 0.5 else cols)
        return Image.fromarray(np.where(on[..., None], cb, ca).astype(np.uint8))
    if kind == "shapes":
        image = Image.new("RGB", size, a)
        _shapes(ImageDraw.Draw(image), size, rng)
        return image
    # near_uniform: a grey level and the next one, in a block or scattered
    level = int(a[0]) if a[0] < 255 else 254
    pixels = np.full((height, width), level, np.uint8)
    if rng.random() < 0.5:
        pixels[rng.random((height, width)) < rng.random()] += 1
    else:
        pixels[height // 3 : 2 * height // 3 + 1, width // 3 : 2 * width // 3 + 1] += 1
    return Image.fromarray(pixels).convert("RGB")


def _shapes(draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: np.random.Generator) -> None:
    """Random rectangles, ellipses, lines and polygons of random colours and widths."""
    width, height = size

    def point() -> tuple[float, float]:
        return float(rng.uniform(-0.1, 1.1) * width), float(rng.uniform(-0.1, 1.1) * height)

    for _ in range(int(rng.integers(1, 12))):
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        line_width = int(rng.integers(1, max(2, min(width, height) // 4 + 2)))
        shape = int(rng.integers(4))
        (x0, y0), (x1, y1) = point(), point()
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if shape == 0:
            draw.rectangle(box, fill=fill if rng.random() < 0.5 else None, outline=fill,
                           width=line_width)
        elif shape == 1:
            draw.ellipse(box, fill=fill if rng.random() < 0.5 else None, outline=fill,
                         width=line_width)
        elif shape == 2:
            draw.line([point() for _ in range(int(rng.integers(2, 6)))], fill=fill,
                      width=line_width)
        else:
            draw.polygon([point() for _ in range(int(rng.integers(3, 7)))], fill=fill)


def _page_on_table(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A light page (a rectangle or a tilted quadrilateral) over a darker, textured table:
    the background painted so far is the page's paper when it is light, else white."""
    width, height = image.size
    grain = rng.normal(0, rng.choice([2.0, 10.0, 30.0]), (height, width, 1))
    table = np.clip(np.array([90, 60, 40]) * rng.uniform(0.3, 1.4) + grain, 0, 255)
    out = Image.fromarray(table.astype(np.uint8))
    inset = rng.uniform(0.02, 0.3, 4) * [width, height, width, height]
    left, top, right, bottom = inset[0], inset[1], width - inset[2], height - inset[3]
    mask = Image.new("L", image.size, 0)
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    jitter = rng.uniform(-0.05, 0.05, (4, 2)) * [width, height]
    ImageDraw.Draw(mask).polygon([(x + dx, y + dy) for (x, y), (dx, dy) in
                                  zip(corners, jitter, strict=True)], fill=255)
    page = image if np.asarray(image.convert("L")).mean() > 150 else Image.new(
        "RGB", image.size, (235, 235, 228))
    out.paste(page, (0, 0), mask)
    return out


def _digit(draw: ImageDraw.ImageDraw, which: str, size: tuple[int, int], ink: tuple,
           rng: np.random.Generator) -> None:
    """A digit (the tests' strokes, or random ones) somewhere, at a random scale."""
    width, height = size
    strokes = DIGITS.get(which) or [
        [tuple(rng.uniform(0.1, 0.9, 2)) for _ in range(int(rng.integers(2, 6)))]
        for _ in range(int(rng.integers(1, 3)))]
    side = min(width, height) * rng.uniform(0.2, 1.0)
    x0, y0 = rng.uniform(0, width - side + 1e-9), rng.uniform(0, height - side + 1e-9)
    pen = max(1, int(side * rng.uniform(0.02, 0.12)))
    for stroke in strokes:
        draw.line([(x0 + x * side, y0 + y * side) for x, y in stroke], fill=ink, width=pen,
                  joint="curve")


def _border(image: Image.Image, kind: str, rng: np.random.Generator) -> None:
    """A dark border round the edge, or a frame (a rectangle's outline) inset from it."""
    width, height = image.size
    thick = int(rng.integers(1, max(2, min(width, height) // 6 + 1)))
    dark = tuple(int(v) for v in rng.integers(0, 60, 3))
    inset = 0 if kind == "border" else int(rng.integers(0, max(1, min(width, height) // 5)))
    ImageDraw.Draw(image).rectangle((inset, inset, width - 1 - inset, height - 1 - inset),
                                    outline=dark, width=thick)


def paint(size: tuple[int, int], recipe: dict[str, Any]) -> Image.Image:
    """The recipe as an RGBA image."""
    rng = np.random.default_rng(recipe["seed"])
    a, b = recipe["colours"]
    image = _background(recipe["background"], size, a, b, rng)
    if recipe["page"]:
        image = _page_on_table(image, rng)
    ink_mask = Image.new("L", size, 0)  # the digit's strokes: its ink, and a canvas's alpha
    if recipe["digit"]:
        _digit(ImageDraw.Draw(ink_mask), recipe["digit"], size, 255, rng)
        image.paste(recipe["ink"], mask=ink_mask)
    if recipe["border"]:
        _border(image, recipe["border"], rng)
    alpha = _alpha(recipe, size, ink_mask, rng)
    image = image.convert("RGBA")
    if alpha is not None:
        image.putalpha(alpha)
    return image


def _alpha(recipe: dict[str, Any], size: tuple[int, int], ink_mask: Image.Image,
           rng: np.random.Generator) -> Image.Image | None:
    """The alpha band the recipe asks for: none, all 0 or 255, one level, random, the
    digit's strokes (a canvas), or a ring of one level round another (a 1 px border)."""
    kind, (inner, outer) = recipe["alpha"], recipe["alpha_levels"]
    if kind == "opaque":
        return None
    if kind == "ink":
        return ink_mask
    if kind == "random":
        return Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8))
    alpha = Image.new("L", size, {"zero": 0, "full": 255}.get(kind, inner))
    if kind == "ring":
        ImageDraw.Draw(alpha).rectangle((0, 0, size[0] - 1, size[1] - 1), outline=outer,
                                        width=int(rng.integers(1, 4)))
    return alpha


def in_mode(image: Image.Image, mode: str, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """The RGBA image in a Pillow mode ("+transparency": a tRNS colour or index; "P+alpha":
    a palette with alpha levels), and the save options that mode needs."""
    base, _, extra = mode.partition("+")
    options: dict[str, Any] = {}
    if base.startswith("I;16"):
        grey = np.asarray(image.convert("L"), np.int32) * 257
        grey = grey + rng.integers(0, 257, grey.shape) if rng.random() < 0.5 else grey
        sixteen = Image.fromarray(np.clip(grey, 0, 65535).astype(np.uint16))
        return (sixteen if base == "I;16" else sixteen.convert(base)), options
    if mode == "P+alpha":  # a palette with alpha levels (PNG's tRNS of many entries)
        return image.quantize(int(rng.integers(2, 257)), Image.Quantize.FASTOCTREE), options
    if base == "P":
        converted = image.convert("RGB").quantize(colors=int(rng.integers(2, 257)))
    elif base in ("RGB", "L", "1", "CMYK"):
        converted = image.convert("RGB").convert(base)
    else:
        converted = image.convert(base)
    if extra:
        if base == "RGB":
            options["transparency"] = converted.getpixel((0, 0))
        else:
            options["transparency"] = int(rng.integers(0, 256 if base == "L" else
                                                       len(converted.getpalette()) // 3))
    return converted, options


@st.composite
def valid_images(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """(recipe, file bytes) for a decodable PNG, JPEG, WebP or GIF."""
    fmt, mode = draw(st.sampled_from([(fmt, mode) for fmt in MODES for mode in MODES[fmt]]))
    size = draw(sizes())
    recipe = {"format": fmt, "mode": mode, "size": size, **draw(contents())}
    options: dict[str, Any] = {}
    orientation = None
    if fmt == "JPEG":
        options = {"quality": draw(st.integers(5, 100)), "progressive": draw(st.booleans())}
    elif fmt == "WEBP":
        options = {"lossless": draw(st.booleans()), "quality": draw(st.integers(0, 100))}
    if fmt in ("JPEG", "WEBP"):
        orientation = draw(st.sampled_from([None, 1, 2, 3, 4, 5, 6, 7, 8]))
        if orientation is not None:
            exif = Image.Exif()
            exif[0x0112] = orientation
            options["exif"] = exif.tobytes()
    recipe["options"] = {k: v for k, v in options.items() if k != "exif"}
    recipe["orientation"] = orientation
    rng = np.random.default_rng(recipe["seed"] + 1)
    image, mode_options = in_mode(paint(size, recipe), mode, rng)
    return recipe, encode(image, fmt, **options, **mode_options)
