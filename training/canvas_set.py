"""A canvas-style evaluation set: digits as people draw them in a browser.

MNIST digits are already cropped, scaled and centred; drawings on the site's
280x280 canvas are not. This module renders, deterministically from a seed:

- MNIST *test* digits (or any others: the evaluation can draw validation digits)
  redrawn as pen strokes: each digit's skeleton is traced
  with a round pen of one width (as a canvas `lineTo` stroke is), at a random
  size and off-centre position, from thin pen to thick marker;
- the digits 0-9 set in handwriting fonts from Debian packages (see
  `tools/system-deps.sh`), at random sizes, positions and small rotations;

each as PNG bytes in one of three looks: dark ink on white paper (the site's
drawpad), coloured ink on a transparent background (`canvas.toDataURL()`),
or light ink on a dark background.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CANVAS = 280
SUPERSAMPLE = 2  # draw at 2x, then area-average: anti-aliased like a browser
FONT_ROOT = Path("/usr/share/fonts")
# Handwriting-style faces with ordinary digit shapes, from the Debian packages
# listed in tools/system-deps.sh (hollow, slashed-zero and CJK faces left out).
FONT_FILES = (
    "dkg.ttf", "dkgBd.ttf", "dkgIt.ttf", "dkgBI.ttf", "Breip.ttf", "breipfont.ttf",
    "BecauseWeBuild-Regular.otf", "BecauseWeConnect-Regular.otf",
    "BecauseWeCreate-Regular.otf", "BecauseWeLearn-Regular.otf",
    "BecauseWeMentor-Regular.otf", "BecauseWeOrganize-Regular.otf", "Humor-Sans.ttf",
    "ComicNeue-Regular.otf", "ComicNeue-Bold.otf", "ComicNeue-Italic.otf",
    "ComicNeue-Light.otf", "Rufscript010.ttf", "Delphine.ttf", "SteveHand.ttf",
    "DancingScript-Regular.otf", "DancingScript-Bold.otf", "KaushanScript-Regular.otf",
    "Kristi.ttf",
)
LOOKS = ("paper", "transparent", "dark")
LOOK_WEIGHTS = (0.5, 0.35, 0.15)
DARK_INKS = ((17, 24, 39), (0, 0, 0), (30, 64, 175), (127, 29, 29), (20, 83, 45), (60, 60, 60))
LIGHT_INKS = ((255, 255, 255), (250, 204, 21), (125, 211, 252), (248, 113, 113))


@dataclass(frozen=True)
class CanvasDigit:
    png: bytes
    label: int
    source: str  # "mnist" or "font"
    style: str  # stroke class (mnist) or font file name (font), then the look
    origin: str  # "t10k[index]" (or as the caller names its digits) or the font file's path


def find_fonts(root: Path = FONT_ROOT) -> list[Path]:
    """The handwriting fonts installed here, in FONT_FILES order (missing ones skipped)."""
    found = {path.name: path for path in root.rglob("*") if path.name in FONT_FILES}
    return [found[name] for name in FONT_FILES if name in found]


def build_canvas_set(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    mnist_count: int = 2000,
    font_variants: int = 4,
    fonts: list[Path] | None = None,
    origins: list[str] | None = None,
) -> list[CanvasDigit]:
    """Redrawings of the given MNIST digits (test or validation), then font digits; the same
    seed gives the same bytes. `origins` names each given digit (default `t10k[i]`) when
    they are not the test set's."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=min(mnist_count, len(labels)), replace=False)
    samples = [_mnist_sample(images[i], int(labels[i]),
                             f"t10k[{i}]" if origins is None else origins[i], rng) for i in chosen]
    fonts = find_fonts() if fonts is None else fonts
    for path, digit in _font_jobs(fonts, font_variants):
        sample = _font_sample(path, digit, rng)
        if sample is not None:
            samples.append(sample)
    return samples


def _font_jobs(fonts: list[Path], variants: int) -> Iterator[tuple[Path, int]]:
    for path in fonts:
        for digit in range(10):
            for _ in range(variants):
                yield path, digit


# --- MNIST digits redrawn as pen strokes -------------------------------------------------------


def _mnist_sample(
    image: np.ndarray, label: int, origin: str, rng: np.random.Generator
) -> CanvasDigit:
    """Trace the digit's skeleton with a round pen at a random size, width and place."""
    coverage, stroke, _pen = stroke_coverage(image, rng)
    look = _pick_look(rng)
    png = encode_look(coverage, look, rng)
    return CanvasDigit(png, label, "mnist", f"{stroke}/{look}", origin)


def stroke_coverage(image: np.ndarray, rng: np.random.Generator, *,
                    heights: tuple[float, float] = (60, 250)) -> tuple[np.ndarray, str, float]:
    """A 28x28 digit redrawn on the canvas: its skeleton traced with a round pen, `heights`
    px tall (the 20 px MNIST box becomes this), at a random pen width and place. The ink's
    coverage (CANVAS x CANVAS in [0, 1]), the stroke class and the pen's width in px."""
    skeleton = skeletonize(_upsampled_mask(image))  # on a 4x grid: 112x112
    points = np.argwhere(skeleton).astype(np.float64) + 0.5
    height = rng.uniform(*heights)
    ratio = float(np.exp(rng.uniform(np.log(0.035), np.log(0.2))))  # pen width / height
    pen = max(2.0, ratio * height)
    scale = height / 20 / 4  # canvas px per 4x-grid px
    extent = (points.max(axis=0) - points.min(axis=0)) * scale + pen
    if extent.max() > CANVAS - 4:  # too big to fit: shrink the drawing, keep the pen ratio
        shrink = (CANVAS - 4) / extent.max()
        scale, pen, extent = scale * shrink, pen * shrink, extent * shrink
    low = rng.uniform(2, CANVAS - 2 - extent)  # (y, x) of the drawing's top-left corner
    canvas_points = (points - points.min(axis=0)) * scale + low + pen / 2
    stroke = "thin" if ratio < 0.06 else "thick" if ratio > 0.12 else "medium"
    return _trace(skeleton, canvas_points, pen), stroke, pen


def _upsampled_mask(image: np.ndarray) -> np.ndarray:
    grey = Image.fromarray(np.asarray(image, dtype=np.float32))
    big = np.asarray(grey.resize((112, 112), Image.Resampling.BICUBIC))
    return big > 0.35


def skeletonize(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning to a one-pixel-wide skeleton, vectorised over the image."""
    image = np.pad(mask.astype(bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = _neighbours(image)  # P2..P9, clockwise from north
            count = sum(n.astype(np.int8) for n in p)
            ring = [*p, p[0]]
            transitions = sum((~a & b).astype(np.int8) for a, b in itertools.pairwise(ring))
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            if step == 0:
                side = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                side = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            core = image[1:-1, 1:-1]
            remove = core & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                core[remove] = False
                changed = True
        if not changed:
            return image[1:-1, 1:-1].copy()


def _neighbours(padded: np.ndarray) -> list[np.ndarray]:
    h, w = padded.shape[0] - 2, padded.shape[1] - 2
    offsets = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
    return [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in offsets]


def _trace(skeleton: np.ndarray, canvas_points: np.ndarray, pen: float) -> np.ndarray:
    """Round-pen strokes between 8-connected skeleton pixels; coverage in [0, 1]."""
    s = SUPERSAMPLE
    image = Image.new("L", (CANVAS * s, CANVAS * s), 0)
    draw = ImageDraw.Draw(image)
    index = {tuple(p): i for i, p in enumerate(np.argwhere(skeleton))}
    radius = pen * s / 2
    for (y, x), i in index.items():
        cy, cx = canvas_points[i] * s
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=255)
        for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
            j = index.get((y + dy, x + dx))
            if j is not None:
                ny, nx = canvas_points[j] * s
                draw.line((cx, cy, nx, ny), fill=255, width=max(1, round(pen * s)))
    small = image.resize((CANVAS, CANVAS), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255


# --- digits set in handwriting fonts -----------------------------------------------------------


def _font_sample(path: Path, digit: int, rng: np.random.Generator) -> CanvasDigit | None:
    """The glyph at a random height (60-250 px), rotation (+-10 deg) and place."""
    height = rng.uniform(60, 250)
    angle = rng.uniform(-10, 10)
    glyph = _glyph_mask(path, str(digit), height, angle)
    look = _pick_look(rng)  # drawn even when the glyph is missing: the set stays in step
    if glyph is None:
        return None
    if max(glyph.size) > CANVAS - 4:
        glyph.thumbnail((CANVAS - 4, CANVAS - 4), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    left = int(rng.integers(2, CANVAS - 2 - glyph.width + 1))
    top = int(rng.integers(2, CANVAS - 2 - glyph.height + 1))
    canvas.paste(glyph, (left, top))
    coverage = np.asarray(canvas, dtype=np.float32) / 255
    png = encode_look(coverage, look, rng)
    return CanvasDigit(png, digit, "font", f"{path.name}/{look}", str(path))


def _glyph_mask(path: Path, text: str, height: float, angle: float) -> Image.Image | None:
    """The glyph's coverage, about `height` px tall, rotated and cropped to its ink."""
    probe = ImageFont.truetype(str(path), 200)
    box = probe.getbbox(text)
    if box is None or box[3] - box[1] < 20:
        return None
    font = ImageFont.truetype(str(path), max(8, round(200 * height / (box[3] - box[1]))))
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(image).text((4 - left, 4 - top), text, fill=255, font=font)
    image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    ink = image.getbbox()
    return image.crop(ink) if ink else None


# --- looks and PNG encoding --------------------------------------------------------------------


def _pick_look(rng: np.random.Generator) -> str:
    return LOOKS[int(rng.choice(len(LOOKS), p=LOOK_WEIGHTS))]


def on_paper(paper: np.ndarray, ink: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Ink laid over paper (a colour, or an (H, W, 3) page) by its coverage: uint8 RGB."""
    alpha = coverage[..., None]
    return np.clip(np.round(paper * (1 - alpha) + ink * alpha), 0, 255).astype(np.uint8)


def encode_look(coverage: np.ndarray, look: str, rng: np.random.Generator) -> bytes:
    """Compose ink coverage into the look's colours and encode it as PNG."""
    if look == "transparent":  # canvas.toDataURL() on a cleared canvas: colour + coverage alpha
        ink = np.array((DARK_INKS + LIGHT_INKS)[int(rng.integers(len(DARK_INKS + LIGHT_INKS)))])
        rgb = np.broadcast_to(ink, (CANVAS, CANVAS, 3))
        rgba = np.concatenate([rgb, np.round(coverage[..., None] * 255)], axis=2).astype(np.uint8)
        image = Image.fromarray(rgba)
    else:
        paper = (255, 255, 255) if look == "paper" else (17, 24, 39)
        inks = DARK_INKS if look == "paper" else LIGHT_INKS
        ink = np.array(inks[int(rng.integers(len(inks)))], dtype=np.float32)
        image = Image.fromarray(on_paper(np.asarray(paper, dtype=np.float32), ink, coverage))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()

