"""Drawings spoilt the way real inputs are: the accidents preprocessing must see past.

Each is an MNIST digit redrawn as `canvas_set` draws it, then spoilt in one of five ways:

- `tap`: a small digit (40-90 px) on a transparent canvas, with one dot of the same pen
  away from it (a tap on the pad);
- `specks`: dark ink on white paper with one to three dust specks, 2-3 px, apart from it;
- `photo`: a JPEG photo of paper lit unevenly: 40 to 120 grey levels darker on one side,
  camera noise and blur, blue, black or pencil ink;
- `notebook`: a page of a notebook, ruled every 24-40 px in light blue (squared half the
  time; a line may lie along the image's edge, as when a photo is cropped on one), blue or
  black pen;
- `table`: a JPEG photo of the page (8-39 px of paper around the drawing) lying on a table
  (wood, a dark desk, grey, a green cutting mat, with grain), turned up to 12 degrees,
  45-80% of the photo's side, over the photo's middle.

`python -m training.canvas_eval --mishaps N` draws N digits of each kind and reports each
kind apart from the canvas-style set (whose figures stay comparable across versions).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from .canvas_set import CANVAS, CanvasDigit, encode_look, on_paper, stroke_coverage

# New kinds go last: the others keep their bytes.
KINDS = ("tap", "specks", "photo", "notebook", "table")
CLEARANCE = 25  # px between a tap or speck and the digit's ink
PHOTO_INKS = ((40, 45, 95), (30, 30, 30), (110, 110, 110))  # blue, black, pencil
PAPER = 215.0  # a photo's paper at its brightest
RULE_COLOUR = (160, 190, 225)
TABLES = ((150, 105, 65), (85, 60, 40), (45, 45, 50), (150, 150, 155), (40, 95, 70))


def build_mishap_set(images: np.ndarray, labels: np.ndarray, *, seed: int = 0,
                     count: int = 300, origins: list[str] | None = None) -> list[CanvasDigit]:
    """`count` digits, each spoilt in every one of KINDS; the same seed, the same bytes."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=min(count, len(labels)), replace=False)
    samples = []
    for kind in KINDS:
        for i in chosen:
            origin = f"t10k[{i}]" if origins is None else origins[i]
            png = SPOILERS[kind](images[i], rng)
            samples.append(CanvasDigit(png, int(labels[i]), "mishap", f"{kind}/{kind}", origin))
    return samples


def _tap(image: np.ndarray, rng: np.random.Generator) -> bytes:
    coverage, _, pen = stroke_coverage(image, rng, heights=(40, 90))
    _mark(coverage, pen / 2, rng)
    return encode_look(coverage, "transparent", rng)


def _specks(image: np.ndarray, rng: np.random.Generator) -> bytes:
    coverage, _, _ = stroke_coverage(image, rng, heights=(40, 120))
    for _ in range(int(rng.integers(1, 4))):
        _mark(coverage, float(rng.uniform(1.0, 1.5)), rng, level=0.8)
    return encode_look(coverage, "paper", rng)


def _photo(image: np.ndarray, rng: np.random.Generator) -> bytes:
    coverage, _, _ = stroke_coverage(image, rng)
    angle = rng.uniform(0, 2 * np.pi)
    y, x = (np.mgrid[0:CANVAS, 0:CANVAS] + 0.5) / CANVAS
    along = np.cos(angle) * x + np.sin(angle) * y  # 0..1 across the page, after a shift
    along -= along.min()
    paper = PAPER - rng.uniform(40, 120) * along / along.max()
    paper += rng.normal(0, 4, paper.shape)
    ink = np.array(PHOTO_INKS[int(rng.integers(len(PHOTO_INKS)))], np.float32)
    photo = Image.fromarray(on_paper(paper[..., None], ink, coverage))
    buffer = io.BytesIO()
    photo.filter(ImageFilter.GaussianBlur(1.0)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _notebook(image: np.ndarray, rng: np.random.Generator) -> bytes:
    coverage, _, _ = stroke_coverage(image, rng)
    spacing = int(rng.integers(24, 41))
    # Drawn from 3 up, as when lines were kept off the edge, so the other kinds' drawings
    # stay byte for byte as they were; shifted so a line may lie along the top or left edge.
    first = int(rng.integers(3, spacing)) - 3
    paper = np.full((CANVAS, CANVAS, 3), 250.0)
    for start in range(first, CANVAS, spacing):
        paper[start : start + 2] = RULE_COLOUR
    if rng.random() < 0.5:
        for start in range(first, CANVAS, spacing):
            paper[:, start : start + 2] = RULE_COLOUR
    ink = np.array(PHOTO_INKS[int(rng.integers(2))], np.float32)
    buffer = io.BytesIO()
    Image.fromarray(on_paper(paper, ink, coverage)).save(buffer, "PNG")
    return buffer.getvalue()


def _table(image: np.ndarray, rng: np.random.Generator) -> bytes:
    coverage, _, _ = stroke_coverage(image, rng)
    margin = int(rng.integers(8, 40))  # paper around the drawing: nobody writes on the edge
    coverage = np.pad(coverage, margin)
    paper = rng.uniform(225, 245) + rng.normal(0, 3, (*coverage.shape, 1))
    ink = np.array(PHOTO_INKS[int(rng.integers(2))], np.float32)
    page = Image.fromarray(on_paper(paper, ink, coverage)).convert("RGBA")
    page = page.rotate(rng.uniform(-12, 12), Image.Resampling.BICUBIC, expand=True)
    side = max(page.width + 8, round(page.width / rng.uniform(0.45, 0.8)))
    grain = rng.normal(0, 8, (side, 1, 1)) + rng.normal(0, 4, (side, side, 1))
    table = np.clip(np.array(TABLES[int(rng.integers(len(TABLES)))]) + grain, 0, 255)
    photo = Image.fromarray(table.astype(np.uint8))
    # Anywhere the page still covers the photo's middle, as one aims a camera at a digit.
    low, high = max(0, side // 2 - page.width + 40), min(side - page.width, side // 2 - 40)
    photo.paste(page, tuple(int(v) for v in rng.integers(low, high + 1, 2)), page)
    buffer = io.BytesIO()
    photo.filter(ImageFilter.GaussianBlur(0.8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


SPOILERS = {"tap": _tap, "specks": _specks, "photo": _photo, "notebook": _notebook,
            "table": _table}


def _mark(coverage: np.ndarray, radius: float, rng: np.random.Generator, *,
          level: float = 1.0) -> None:
    """A round mark of `radius` px, CLEARANCE px or more from the ink (where one fits)."""
    ink = np.argwhere(coverage > 0.1)
    low, high = radius + 2, CANVAS - radius - 2
    for _ in range(100):
        centre = rng.uniform(low, high, 2)
        if len(ink) == 0 or np.hypot(*(ink - centre).T).min() > CLEARANCE + radius:
            break
    y, x = np.mgrid[0:CANVAS, 0:CANVAS] + 0.5
    disc = np.hypot(y - centre[0], x - centre[1]) <= radius
    coverage[disc] = np.maximum(coverage[disc], level)
