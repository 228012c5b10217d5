"""Turn an uploaded image or a 28x28 pixel list into an MNIST-like digit.

One module used by the API, by training and by the tests, so the network sees
drawings exactly as it saw its training data: ink bright on black, cropped to
the ink's bounding box (stray marks apart from the digit left out), the longer
side scaled to 20 px (aspect kept, anti-aliased), then shifted so the centre of
mass sits at the centre of the 28x28 field, as the MNIST digits were made.
"""

from __future__ import annotations

import functools
import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageChops, ImageOps

PREPROCESS_VERSION = "mnist-com-3"

SIZE = 28
BOX = 20
# MNIST puts the centre of mass at index 14.0 on both axes (measured on t10k).
CENTRE = 14.0
EMPTY_PEAK = 0.1  # peak ink below this (about 25 grey levels) is a blank drawing
EMPTY_MESSAGE = "the drawing is empty: no ink found"
BBOX_REL = 0.25  # ink under this fraction of the peak doesn't stretch the bounding box
# Clear ink (BBOX_REL of the peak and over) that no digit makes: over this share of the
# image (its longer side squared) and of its outermost ring of pixels, where the paper
# should be (no background: a uniform field, noise), or within a box under MIN_EXTENT
# pixels a side (a speck). Each became a confident wrong digit, an 8 at 0.81-1.00.
# Either share alone refuses real digits cropped tight: 64% of a thick 0 with a 5%
# margin is ink; 86% of the edge of a thin 1 with none.
MAX_INK_SHARE = 0.6
MIN_EXTENT = 3
# A solid square of clear ink this many pixels a side, once the digit is scaled to BOX,
# is a blob, not pen strokes (a black square on paper was an 8 at 0.81): the widest in
# MNIST's 70,000 digits is 11, in the canvas-style set's thickest markers 8.
MAX_SOLID = 14
NOISE_REL = 0.08  # ink under this fraction of the peak is background noise
# A patch of ink set apart from the rest by blank rows or columns and holding under this
# share of the largest patch's ink is a stray mark (a tap of the pen, a dust speck), not
# part of the digit: left in, it stretched the crop, and a small digit beside one dot
# shrank to ~8 px and was read right 43% of the time (87% without the dot).
SPECK_REL = 0.08
MARK_RIM = 2  # pixels around a stray mark's clear ink whose faint ink (its rim) goes with it
# Patches the cut finds at most: past that (texture, a dusty scan) the regions left are
# split no further; it bounds the cut's work (a 1024x1024 staircase of 62 patches: 18 ms).
MAX_PATCHES = 256
MAX_SIDE = 1024  # larger images are reduced first: a digit needs no more detail
RING_SAMPLES = 4096  # border pixels a side read to find the background colour
# Uneven lighting (a phone photo: paper 215 grey on one side, 95 on the other) is read
# from the same ring: a quadratic surface fitted to it, ink touching the edge left out.
# When that surface strays from the ring's median by over SHADING_LEVELS somewhere on a
# 9x9 grid over the image, the paper is the surface, else the median, as before. Evenly
# lit photos (noise of 5 to 12 levels, JPEG, ink and specks on the edge) strayed by 3.2 at
# most; a trend of 40 levels across the page strays by 20, and made pencil unreadable.
SHADING_LEVELS = 8.0
# The fit starts at the median and trusts ring pixels within these many levels of it,
# then of each new fit (Tukey's biweight): a smooth trend is followed a step at a time;
# ink on the ring, far from the paper, weighs nothing, nor a dark band on one side.
SHADING_TOLERANCES = (64.0, 48.0, 32.0, 24.0, 16.0)
# Lighting is smooth: the surface must cut the ring's misfit (squared, each pixel's capped
# at SHADING_TOLERANCES[-1]) to this share of the median's or less. Lighting trends of
# 20+ levels gave 0.57 at most, with ink and specks on the edge; a grey third of a long
# strip of white paper, 0.88: left to the median. (On a square the quadratic follows a
# grey third partly, 0.39: a hard edge of paper is not what it is for.)
SHADING_GAIN = 0.7
SHADING_FIT_SAMPLES = 1024  # ring pixels the fit reads at most (a smooth trend needs few)
# The surface is evaluated on at most this many points a side, then enlarged to the image
# by nearest pixel: within 0.74 of a level of the exact surface (uint8 rounding included)
# on a 1024x1024 photo, 1.3 ms in all; Pillow's bilinear enlarging from 33 points took
# 4.9 ms alone.
SHADING_GRID = 256
# Ruled or squared paper (a photo of a notebook page): a printed line is a band of rows
# (or columns) at most RULE_WIDTH of the image thick (RULE_ROWS at least), inked at RULE_INK
# or more across RULE_SPAN of the image; no pen stroke of a digit spans it so. On a notebook
# page 40 canvas drawings were read right 82.5% of the time, on squared paper 45%.
RULE_SPAN = 0.9
RULE_INK = 0.1
RULE_WIDTH = 0.02
RULE_ROWS = 3
# No drawing is longer than this on a side; a 1 x 16,777,216 PNG, within any pixel
# limit, took 12x as long to decode as a 4096x4096 one: rows cost more than pixels.
MAX_EDGE = 16384
MAX_PIXELS = 4096 * 4096  # width x height decoded at most, read from the header first
FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
# Pillow names a JPEG that carries more pictures (a camera's preview, a phone's HDR
# frame) "MPO": a still photo, read as its first, main picture.
JPEGS = frozenset({"JPEG", "MPO"})
# A progressive JPEG is decoded scan by scan, each over the whole picture: one 368-byte scan
# repeated 2,523 times in a 4096x4096 JPEG of under 1,000,000 bytes took 18 s to decode, a
# plain one 0.07 s. libjpeg's progressive scripts write 6 scans (grey), 10 (colour) or 18
# (CMYK). At this limit the costliest scan of a 4096x4096 CMYK JPEG, repeated, took 0.35 s
# to decode here and a batch of 16 such images 6.0 s; at 64, 0.7 s and 12.5 s, over the
# function's 10 s timeout; at 100, 1.3 s and 16.7 s.
MAX_JPEG_SCANS = 32
# A marker as libjpeg finds one: 0xFF then a code other than 0x00 (a stuffed 0xFF in the
# coded data), 0xFF (a fill byte: the search matches at the run's last 0xFF) or a
# restart/TEM marker, which carry no length. (`\xff+` would read fill bytes too, 15x
# slower: 0.52 ms against 0.03 ms over a 65 KB progressive JPEG.)
_JPEG_MARKER = re.compile(rb"\xff([^\x00\x01\xd0-\xd7\xff])")
_JPEG_SOS, _JPEG_SOI, _JPEG_EOI = 0xDA, 0xD8, 0xD9


Box = tuple[int, int, int, int]  # top, bottom, left, right, as slices: ink[top:bottom, left:right]


class InputError(ValueError):
    """The input can't be turned into a digit; the message says why."""


class EmptyDrawingError(InputError):
    """No ink: report it rather than guess a digit."""


class NoDigitError(InputError):
    """Ink, but in no shape a digit has: a speck, a solid blob, or ink everywhere."""


class ImageDecodeError(InputError):
    """Not a still PNG/JPEG/WebP/GIF image, or a damaged one."""


class ImageTooLargeError(InputError):
    """More pixels than allowed, or a decompression bomb."""


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image bytes into a 2-D float32 ink map in [0, 1] (ink = 1).

    Ink is the distance from the background colour (found on the border), so
    dark-on-light, light-on-dark and coloured strokes all work; on an opaque image
    lit unevenly, the paper's colour is a surface fitted to the border (`_shading`);
    on a transparent background (a canvas `toDataURL()`), ink is the alpha
    coverage. Images whose longer side exceeds MAX_SIDE are reduced first.
    """
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise ImageDecodeError("expected non-empty image bytes")
    with warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning):
        image = _load_upright(_open_checked(bytes(data), max_pixels))
        ring = _border_ring(image)  # before reducing, which blurs the border
        background = np.median(ring, axis=0)
        shading = _shading(image, ring, background)
        image = _reduced(image)
    if shading is not None and _see_through_inside(image):
        shading = None  # left to the alpha, as before (checked once reduced: 21 ms -> 1 ms)
    return _ink_from_image(image, background, shading)


def image_pixels(data: bytes) -> int:
    """Width x height from the header alone: what decoding the image would cost."""
    with warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning):
        width, height = _open(bytes(data)).size
    return width * height


@contextmanager
def _pillow_errors(damaged: str) -> Iterator[None]:
    """Pillow's errors as ours. Its decoders raise all kinds (IndexError, struct.error,
    TypeError...) on a damaged file: each is the file's fault, so never a server error."""
    try:
        yield
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
    except Exception as exc:
        if any(words in str(exc).lower() for words in ("too large", "too much memory")):
            # Pillow's limits on compressed text and ICC chunks, one or all of them
            raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
        raise ImageDecodeError(damaged) from exc


def _open(data: bytes) -> Image.Image:
    """Open (header only), in one of FORMATS; a JPEG with more scans than MAX_JPEG_SCANS is
    refused here, before the decoding it would make slow (and so by image_pixels too)."""
    with _pillow_errors(_unreadable(data)):
        image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
    if image.format in JPEGS:
        scans = _jpeg_scans(data)
        if scans > MAX_JPEG_SCANS:
            raise ImageTooLargeError(
                f"JPEG image has {scans} progressive scans, each decoded over the whole "
                f"picture; the limit is {MAX_JPEG_SCANS} (ordinary ones have 6 to 18)")
    return image


def _jpeg_scans(data: bytes) -> int:
    """Start-of-scan markers of the first picture, walked as libjpeg reads it: marker by
    marker up to the first end-of-image, each segment's payload skipped by its length
    field (an EXIF thumbnail inside APP1 has scans of its own; an MPO's other pictures
    come after the first end-of-image) and the coded data searched for the next marker."""
    scans, at = 0, 2  # after the start-of-image marker
    while (found := _JPEG_MARKER.search(data, at)) is not None:
        marker, at = found[1][0], found.end()
        if marker == _JPEG_EOI:
            break
        if marker == _JPEG_SOS:
            scans += 1
        if marker != _JPEG_SOI:  # every other marker found has a 2-byte length field
            at += int.from_bytes(data[at : at + 2], "big")
    return scans


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open (header only) and refuse what we don't decode before any pixel work."""
    image = _open(data)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
        )
    if max(width, height) > MAX_EDGE:
        raise ImageTooLargeError(f"image is {width}x{height}; a side may be at most "
                                 f"{MAX_EDGE} pixels")
    with _pillow_errors(f"damaged {image.format} image"):
        animated = getattr(image, "is_animated", False)
    if animated and image.format not in JPEGS:
        raise ImageDecodeError("animated images are not supported; send a single frame")
    return image


def _unreadable(data: bytes) -> str:
    """Say 'damaged PNG' rather than 'not an image' when the signature is right."""
    signatures = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF"}
    for signature, name in signatures.items():
        if data.startswith(signature):
            return f"damaged {name} image"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "damaged WebP image"
    return "not a PNG, JPEG, WebP or GIF image"


def _load_upright(image: Image.Image) -> Image.Image:
    """Decode the pixels upright in a basic mode (big JPEGs decode reduced, for free)."""
    fmt = image.format
    with _pillow_errors(f"damaged or unsupported {fmt} image"):
        if fmt in JPEGS and max(image.size) > MAX_SIDE:
            scale = MAX_SIDE / max(image.size)
            image.draft(image.mode, (max(1, int(image.width * scale)),
                                     max(1, int(image.height * scale))))
        image.load()
        if fmt in JPEGS or fmt == "WEBP":
            image = _exif_upright(image)
        return _to_basic_mode(image)


def _exif_upright(image: Image.Image) -> Image.Image:
    """Turned as its EXIF says; when Pillow can't read the EXIF (a mistyped tag raises
    struct.error, TypeError...), as stored: the pixels are fine, only metadata is not."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image


def _reduced(image: Image.Image) -> Image.Image:
    """Shrink to MAX_SIDE by area averaging, which keeps thin strokes as grey coverage."""
    if max(image.size) <= MAX_SIDE:
        return image
    scale = MAX_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def _to_basic_mode(image: Image.Image) -> Image.Image:
    """Reduce every mode to L, LA, RGB or RGBA with 8 bits per channel."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _eight_bits(image)
    has_alpha = "A" in mode or "a" in mode or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _eight_bits(image: Image.Image) -> Image.Image:
    """16-bit grey (a PNG's I;16) as L: v // 257, the levels 255 * v / 65535 truncates to,
    without a float copy (a float64 one of a 4096x4096 PNG peaked at 485 MB): uint16 in,
    uint8 out, the division done in the ufunc's small buffers. Modes I and F come from
    none of FORMATS; they are clipped to 0..65535, F first scaled so its peak is 65535."""
    values = np.asarray(image)
    if image.mode == "F":
        values = values * np.float32(65535 / max(float(values.max()), 1.0))
    if values.dtype.kind != "u" or values.dtype.itemsize != 2:
        values = np.clip(values, 0, 65535).astype(np.uint16)
    levels = np.empty(values.shape, np.uint8)
    np.floor_divide(values, 257, out=levels, casting="unsafe")
    return Image.fromarray(levels)


def _border_ring(image: Image.Image) -> np.ndarray:
    """The outermost ring of pixels as (n, bands): top, bottom, left and right sides.

    Each side is sampled at most RING_SAMPLES times, evenly (a nearest-pixel resize of the
    strip, no copy of it): on a 1 x 16,777,216 image the ring is the whole image.
    """
    width, height = image.size
    strips = [(0, 0, width, 1), (0, height - 1, width, height), (0, 0, 1, height),
              (width - 1, 0, width, height)]
    return np.concatenate([_sampled(image, box) for box in strips])


def _ring_where(width: int, height: int) -> np.ndarray:
    """Where _border_ring's pixels sit, (n, 2): x and y as fractions of the width and
    height, at pixel centres."""
    across, down = min(width, RING_SAMPLES), min(height, RING_SAMPLES)
    x = (np.arange(across) + 0.5) / across
    y = (np.arange(down) + 0.5) / down
    sides = [(x, np.full(across, 0.5 / height)), (x, np.full(across, 1 - 0.5 / height)),
             (np.full(down, 0.5 / width), y), (np.full(down, 1 - 0.5 / width), y)]
    return np.concatenate([np.column_stack(side) for side in sides])


def _sampled(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    """Up to RING_SAMPLES evenly spaced pixels of a one-pixel strip, as (n, bands)."""
    left, top, right, bottom = box
    size = (min(right - left, RING_SAMPLES), min(bottom - top, RING_SAMPLES))
    strip = image.resize(size, Image.Resampling.NEAREST, box=box)
    return np.asarray(strip).reshape(-1, len(image.getbands()))


def _shading(image: Image.Image, ring: np.ndarray, background: np.ndarray) -> np.ndarray | None:
    """The paper's lighting as a quadratic surface ((6, colour bands) coefficients over
    _design's terms) when it is uneven on an opaque image; None otherwise, and then the
    paper is the one colour `background`, as always. An evenly lit ring (every pixel within
    SHADING_LEVELS of the median, as on a drawn canvas) costs one comparison."""
    colours = len(image.getbands())
    if image.mode in ("LA", "RGBA"):
        if ring[:, -1].min() < 255:  # see-through paper (a canvas): its alpha is the ink
            return None
        colours -= 1
    samples, paper = ring[:, :colours], background[:colours]
    if np.abs(samples - paper).max() <= SHADING_LEVELS:
        return None
    step = -(-len(samples) // SHADING_FIT_SAMPLES)
    samples = samples[::step].astype(np.float64)
    design = _design(_ring_where(*image.size)[::step])
    coef = _robust_surface(samples, design, paper)
    if np.abs(_surface(coef, 9, 9) - paper).max() <= SHADING_LEVELS:
        return None
    if _misfit(samples - design @ coef) > SHADING_GAIN * _misfit(samples - paper):
        return None  # no smoother than one colour: a paper of two tones, not lighting
    return coef


def _see_through_inside(image: Image.Image) -> bool:
    """Whether an image with an alpha band has a pixel not fully opaque."""
    return image.mode in ("LA", "RGBA") and image.getchannel("A").getextrema()[0] < 255


def _design(where: np.ndarray) -> np.ndarray:
    """The quadratic's terms at (n, 2) points, as _surface orders its coefficients."""
    x, y = where[:, 0] - 0.5, where[:, 1] - 0.5  # centred: a well-conditioned fit
    return np.column_stack((np.ones_like(x), x, x * x, y, x * y, y * y))


def _surface(coef: np.ndarray, columns: int, rows: int) -> np.ndarray:
    """The surface at the centres of a rows x columns grid over the image, (rows, columns,
    bands), summed a power of y at a time (no (rows x columns, 6) matrix of terms)."""
    coef = coef.astype(np.float32)
    x = ((np.arange(columns, dtype=np.float32) + 0.5) / columns - 0.5)[:, None]
    y = ((np.arange(rows, dtype=np.float32) + 0.5) / rows - 0.5)[:, None, None]
    constant = coef[0] + x * coef[1] + x * x * coef[2]  # (columns, bands), as _design
    linear = coef[3] + x * coef[4]
    return constant + y * linear + y * y * coef[5]


def _misfit(residuals: np.ndarray) -> float:
    """Mean squared misfit over ring pixels (worst channel), each capped at the last
    tolerance: ink on the ring counts once, however dark."""
    off = _worst_channel(residuals) / SHADING_TOLERANCES[-1]
    return float(np.minimum(off * off, 1).mean())


def _worst_channel(residuals: np.ndarray) -> np.ndarray:
    """Largest |residual| of each (n, bands) row, pairwise: max(axis=1) over 3 columns
    took 41 us a call on 1024 rows, this 2.5."""
    return functools.reduce(np.maximum, np.abs(residuals).T)


def _robust_surface(samples: np.ndarray, design: np.ndarray,
                    background: np.ndarray) -> np.ndarray:
    """Least squares with Tukey's biweight, from the constant median outwards through
    SHADING_TOLERANCES: a ring pixel far from the current fit in any channel (ink touching
    the edge, a dust speck, a scanner's dark band) weighs nothing; a smooth trend is
    followed a tolerance at a time. Under half the ring trusted keeps the last fit."""
    coef = np.zeros((design.shape[1], samples.shape[1]))
    coef[0] = background
    for tolerance in SHADING_TOLERANCES:
        off = _worst_channel(samples - design @ coef) / tolerance
        weight = np.clip(1 - off * off, 0, None) ** 2
        if np.count_nonzero(weight) < len(weight) // 2:
            break
        weighted = design.T * weight  # the 6x6 normal equations, a ridge too small to
        normal = weighted @ design  # matter but for a ring of one row (terms in y all 0)
        normal[np.diag_indices_from(normal)] += 1e-9 * len(weight)
        coef = np.linalg.solve(normal, weighted @ samples)
    return coef


def _paper_image(mode: str, size: tuple[int, int], background: np.ndarray,
                 shading: np.ndarray | None) -> Image.Image:
    """The paper alone, in uint8: one colour, or the shading surface on a grid of at most
    SHADING_GRID points a side enlarged to the image by nearest pixel."""
    if shading is None:
        return Image.new(mode, size, tuple(int(v) for v in np.round(background)))
    columns, rows = (min(SHADING_GRID, side) for side in size)
    levels = np.clip(np.round(_surface(shading, columns, rows)), 0, 255).astype(np.uint8)
    grid = Image.fromarray(levels[..., 0] if mode == "L" else levels)
    return grid if grid.size == size else grid.resize(size, Image.Resampling.NEAREST)


def _ink_from_image(image: Image.Image, background: np.ndarray,
                    shading: np.ndarray | None = None) -> np.ndarray:
    """Ink = alpha x distance from the paper's colour (`shading`: lit unevenly), per pixel."""
    alpha = None
    if image.mode in ("LA", "RGBA"):
        levels = np.asarray(image.getchannel("A")).astype(np.float32)
        alpha = levels * np.float32(1 / 255)
        paper = np.float32(background[-1])
        # See-through paper (a canvas toDataURL): coverage over the paper's is the ink,
        # unless the alpha draws nothing (a whole picture made see-through: its colours do).
        if paper < 128 and (paper == 0 or levels.max() - paper >= EMPTY_PEAK * 255):
            return alpha if paper == 0 else np.clip((levels - paper) / (255 - paper), 0, 1)
        image, background = image.convert(image.mode[:-1]), background[:-1]
    # Largest per-channel distance; done in Pillow's C loops (NumPy's max over a
    # 3-long axis costs milliseconds on a 280x280 canvas).
    plain = _paper_image(image.mode, image.size, background, shading)
    channels = ImageChops.difference(image, plain).split()
    distance = functools.reduce(ImageChops.lighter, channels)
    ink = np.asarray(distance, dtype=np.float32) * np.float32(1 / 255)
    if alpha is not None:
        ink *= alpha
    return _without_rules(ink)


def _without_rules(ink: np.ndarray) -> np.ndarray:
    """Ruled or squared paper's printed lines taken out of an opaque image's ink: thin bands
    of rows (columns) inked across RULE_SPAN of the width (height) or more. Each band
    becomes the lesser ink of the rows just above and below it (columns either side), so a
    pen stroke crossing the line stays whole."""
    inked = ink >= RULE_INK
    height, width = ink.shape
    rows = np.flatnonzero(np.count_nonzero(inked, axis=1) >= RULE_SPAN * width)
    cols = np.flatnonzero(np.count_nonzero(inked, axis=0) >= RULE_SPAN * height)
    if len(rows) == 0 and len(cols) == 0:
        return ink
    ink = ink.copy()
    _fill_lines(ink, rows)
    _fill_lines(ink.T, cols)  # a view: columns filled in place
    return ink


def _fill_lines(ink: np.ndarray, ruled: np.ndarray) -> None:
    """Each thin band of `ruled` rows, in place, as the lesser of the rows either side."""
    height = ink.shape[0]
    for top, bottom in _runs(ruled):
        if bottom - top > max(RULE_ROWS, RULE_WIDTH * height):
            continue  # a broad band of ink, not a printed line
        above = ink[top - 1] if top > 0 else None
        below = ink[bottom] if bottom < height else None
        edge = above if below is None else below if above is None else np.minimum(above, below)
        ink[top:bottom] = 0 if edge is None else edge


def pixels_to_ink(pixels: object) -> np.ndarray:
    """784 (or 28x28) grey levels 0..255, light ink on dark as MNIST -> (28, 28) in [0, 1]."""
    try:
        array = np.asarray(pixels, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError("pixels must be 784 numbers from 0 to 255") from exc
    if array.size != SIZE * SIZE or array.ndim not in (1, 2):
        raise InputError(f"expected 784 pixels (28x28), got shape {array.shape}")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
        raise InputError("pixels must be finite numbers from 0 to 255")
    return (array * np.float32(1 / 255)).reshape(SIZE, SIZE)


def normalize_digit(ink: np.ndarray, *, strict: bool = True) -> np.ndarray:
    """Make a 2-D ink map MNIST-like: (28, 28) float32 in [0, 1].

    The result's peak is stretched to 1 so faint or thin strokes (which
    anti-aliasing greys out when a big drawing shrinks to 20 px) look like
    MNIST's pen strokes. `strict`: NoDigitError for ink in no digit's shape (see
    MAX_INK_SHARE, MIN_EXTENT, MAX_SOLID); training turns it off: its distorted digits
    are labelled, whatever shape they take.
    """
    ink = _checked_ink(ink)
    peak = ink_peak(ink)
    crop = _crop_to_ink(ink, peak, strict=strict)
    small = _scale_to_box(crop)
    top_peak = float(small.max())
    if top_peak <= 0:
        raise EmptyDrawingError(EMPTY_MESSAGE)
    small *= np.float32(1 / top_peak)
    if strict and _solid_side_reaches(small, MAX_SOLID):
        raise NoDigitError(f"the ink is a solid blob ({MAX_SOLID} of {BOX} pixels across or "
                           "more), not pen strokes")
    return _place_by_centre_of_mass(small)


def ink_peak(ink: np.ndarray) -> float:
    """The strongest ink; EmptyDrawingError below EMPTY_PEAK, as normalized or not."""
    peak = float(ink.max())
    if peak < EMPTY_PEAK:
        raise EmptyDrawingError(EMPTY_MESSAGE)
    return peak


def _checked_ink(ink: np.ndarray) -> np.ndarray:
    array = np.asarray(ink, dtype=np.float32)
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"expected a 2-D ink map, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise InputError("the ink map holds NaN or infinite values")
    return np.clip(array, 0.0, 1.0)


def _crop_to_ink(ink: np.ndarray, peak: float, *, strict: bool) -> np.ndarray:
    """Crop to the bounding box of clear ink; faint noise and stray marks are dropped, not
    boxed. `strict`: NoDigitError when that ink covers too much (no background) or too
    little."""
    strong = ink >= BBOX_REL * peak
    if strict:
        share = np.count_nonzero(strong) / max(ink.shape) ** 2
        if share > MAX_INK_SHARE and _ring_share(strong) > MAX_INK_SHARE:
            raise NoDigitError(f"ink covers {share:.0%} of the image, its edge too: there is "
                               "no background to tell a digit from")
    (top, bottom, left, right), marks = _digit_and_marks(strong, ink)
    if strict and max(bottom - top, right - left) < MIN_EXTENT:
        raise NoDigitError(f"the ink is a speck, under {MIN_EXTENT} pixels across: too "
                           "small to be a digit")
    crop = ink[top:bottom, left:right].copy()
    clear = strong[top:bottom, left:right]
    for mark in marks:  # only those between pieces of the digit are inside its box
        _erase(crop, clear, (mark[0] - top, mark[1] - top, mark[2] - left, mark[3] - left))
    crop[crop < NOISE_REL * peak] = 0
    return crop


def _erase(crop: np.ndarray, clear: np.ndarray, box: Box) -> None:
    """Zero a stray mark (its box, in the crop's coordinates) and its anti-aliased rim, the
    faint ink within MARK_RIM pixels of it: clear ink there is the digit's, and stays."""
    top, bottom, left, right = box
    rim = (slice(max(top - MARK_RIM, 0), max(bottom + MARK_RIM, 0)),
           slice(max(left - MARK_RIM, 0), max(right + MARK_RIM, 0)))
    crop[rim][~clear[rim]] = 0
    crop[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)] = 0


def _digit_and_marks(strong: np.ndarray, ink: np.ndarray) -> tuple[Box, list[Box]]:
    """The box around the digit's patches of clear ink, and the stray marks (under
    SPECK_REL of the largest patch's ink) left out of it."""
    patches = _ink_patches(strong)
    if len(patches) == 1:
        return patches[0], []
    mass = [float(ink[top:bottom, left:right].sum()) for top, bottom, left, right in patches]
    least = SPECK_REL * max(mass)
    digit = [box for box, m in zip(patches, mass, strict=True) if m >= least]
    marks = [box for box, m in zip(patches, mass, strict=True) if m < least]
    tops, bottoms, lefts, rights = zip(*digit, strict=True)
    return (min(tops), max(bottoms), min(lefts), max(rights)), marks


def _ink_patches(strong: np.ndarray) -> list[Box]:
    """Boxes of ink set apart by blank rows or columns (a recursive XY cut, as page layout
    is split into blocks): projections only, so a digit with no gap costs two `any`s. Past
    MAX_PATCHES (a texture) the regions left are split no further, each one patch."""
    patches: list[Box] = []
    todo = [(0, strong.shape[0], 0, strong.shape[1])]
    while todo:
        box, rows, cols = _tight(strong, todo.pop())
        top, bottom, left, right = box
        if rows[-1] - rows[0] != len(rows) - 1:  # a blank row inside
            todo += [(top + a, top + b, left, right) for a, b in _runs(rows - rows[0])]
        elif cols[-1] - cols[0] != len(cols) - 1:  # a blank column inside
            todo += [(top, bottom, left + a, left + b) for a, b in _runs(cols - cols[0])]
        else:
            patches.append(box)  # one patch (most digits: the first region is the last)
            continue
        if len(patches) + len(todo) > MAX_PATCHES:
            return patches + [_tight(strong, region)[0] for region in todo]
    return patches


def _tight(strong: np.ndarray, region: Box) -> tuple[Box, np.ndarray, np.ndarray]:
    """The box around the clear ink of a region (which has some), and the indices of its
    inked rows and columns, counted from that box."""
    top, bottom, left, right = region
    part = strong[top:bottom, left:right]
    rows = np.flatnonzero(part.any(axis=1))
    cols = np.flatnonzero(part.any(axis=0))
    box = (top + int(rows[0]), top + int(rows[-1]) + 1, left + int(cols[0]),
           left + int(cols[-1]) + 1)
    return box, rows, cols


def _runs(indices: np.ndarray) -> zip[tuple[int, int]]:
    """Consecutive runs of sorted indices as (start, end) pairs, end exclusive."""
    breaks = np.flatnonzero(np.diff(indices) > 1)
    starts = np.concatenate((indices[:1], indices[breaks + 1])).tolist()
    ends = (np.concatenate((indices[breaks], indices[-1:])) + 1).tolist()
    return zip(starts, ends, strict=True)


def _ring_share(strong: np.ndarray) -> float:
    """The share of the outermost ring that is clear ink; 0 for a strip too thin to have
    an inside (a 1-pixel-high line is all edge)."""
    if min(strong.shape) < MIN_EXTENT:
        return 0.0
    ring = (strong[0], strong[-1], strong[1:-1, 0], strong[1:-1, -1])
    return sum(np.count_nonzero(side) for side in ring) / sum(side.size for side in ring)


def _solid_side_reaches(small: np.ndarray, side: int) -> bool:
    """Whether some side x side square is all clear ink (window sums of a summed-area
    table); most digits have too little ink to hold one, which is quicker to count."""
    strong = small >= BBOX_REL
    if min(small.shape) < side or np.count_nonzero(strong) < side * side:
        return False
    table = np.zeros((small.shape[0] + 1, small.shape[1] + 1), np.int32)
    table[1:, 1:] = strong.cumsum(axis=0).cumsum(axis=1)
    sums = table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    return bool((sums == side * side).any())


def _scale_to_box(crop: np.ndarray) -> np.ndarray:
    """Longer side to BOX pixels, aspect ratio kept, anti-aliased (Lanczos; ringing clipped)."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(np.ascontiguousarray(crop)).resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _place_by_centre_of_mass(small: np.ndarray) -> np.ndarray:
    """Paste into 28x28 with the centre of mass at CENTRE (integer shift, ink never cut)."""
    height, width = small.shape
    mass = float(small.sum())
    cy = float(small.sum(axis=1) @ np.arange(height)) / mass
    cx = float(small.sum(axis=0) @ np.arange(width)) / mass
    top = min(max(round(CENTRE - cy), 0), SIZE - height)
    left = min(max(round(CENTRE - cx), 0), SIZE - width)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + height, left : left + width] = small
    return out


def normalize_batch(images: np.ndarray) -> np.ndarray:
    """normalize_digit over (N, 28, 28), not strict; blank images stay blank (training
    never raises)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise InputError(f"expected (N, H, W) images, got shape {images.shape}")
    out = np.zeros((images.shape[0], SIZE, SIZE), dtype=np.float32)
    for i, image in enumerate(images):
        try:
            out[i] = normalize_digit(image, strict=False)
        except EmptyDrawingError:
            continue
    return out
