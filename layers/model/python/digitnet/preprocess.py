"""Turn an ink map (from digitnet.imagefile, or a 28x28 pixel list) into an MNIST-like digit.

One module used by the API, by training and by the tests, so the network sees
drawings exactly as it saw its training data: ink bright on black, cropped to
the ink's bounding box (stray marks apart from the digit left out; digitnet.crop), the
longer side scaled to 20 px (aspect kept, anti-aliased), then shifted so the centre of
mass sits on pixel (14, 14) of the 28x28 field (CENTRE), as the MNIST digits were made.
"""

from __future__ import annotations

import struct

import numpy as np
from PIL import Image

from .crop import BBOX_REL, crop_to_ink, refuse_without_background
from .errors import EmptyDrawingError, InputError, NoDigitError

PREPROCESS_VERSION = "mnist-com-3"

SIZE = 28
BOX = 20
# MNIST puts the centre of mass at index 14.0 on both axes (measured on t10k).
CENTRE = 14.0
EMPTY_PEAK = 0.1  # peak ink below this (about 25 grey levels) is a blank drawing
EMPTY_MESSAGE = "the drawing is empty: no ink found"
# A solid square of clear ink this many pixels a side, once the digit is scaled to BOX,
# is a blob, not pen strokes (a black square on paper was an 8 at 0.81): the widest in
# MNIST's 70,000 digits is 11, in the canvas-style set's thickest markers 8.
MAX_SOLID = 14
# Nor is clear ink that fills BAR_FILL of its box as drawn, the box BAR_ASPECT times as
# wide as high or more: a dash, a line or a band painted across (the lower half of a canvas
# painted over was a 0 at 0.82, a bar a 7 at 0.81). None of MNIST's 70,000 digits nor of
# the canvas set's 4,460 drawings and mishaps is one; of a review's 5,600 photos and
# screenshots 24 are, 22 of them read wrong before (2 right by chance: paper read as ink).
BAR_ASPECT = 1.5
BAR_FILL = 0.85
# Nor is clear ink that lies along one straight line near the horizontal: its spread across
# its main axis under LINE_THIN of its spread along it, the axis under LINE_TILT degrees
# from level (a dash or an underline drawn at a slant, which is no solid bar: a stroke
# across a canvas 3 degrees off level was a 7 at 0.67). None of MNIST's 70,000 digits is
# one (the thinnest whose axis lies that flat is 0.21, a 5: a 1's line stands upright), nor
# of the canvas set's drawings and mishaps (seeds 0-2: 11,880).
LINE_THIN = 0.15
LINE_TILT = 30.0
# 784 Python numbers (a JSON body's pixels) as little-endian float32, rounded as NumPy
# rounds them: packing them takes a fifth of what np.asarray's reading of the list does.
_PIXELS_F32 = struct.Struct(f"<{SIZE * SIZE}f")
# Row and column numbers, as float64 (what an int arange becomes in the centre of mass's
# dot products, which are the same sums without converting one each time).
_INDICES = np.arange(SIZE, dtype=np.float64)


def pixels_to_ink(pixels: object) -> np.ndarray:
    """784 (or 28x28) grey levels 0..255, light ink on dark as MNIST -> (28, 28) in [0, 1]."""
    try:
        array = _float32_pixels(pixels)
    except (TypeError, ValueError) as exc:
        raise InputError("pixels must be 784 numbers from 0 to 255") from exc
    if array.size != SIZE * SIZE or array.ndim not in (1, 2):
        raise InputError(f"expected 784 pixels (28x28), got shape {array.shape}")
    if not (array.min() >= 0 and array.max() <= 255):  # NaN is neither; inf is over 255
        raise InputError("pixels must be finite numbers from 0 to 255")
    return (array * np.float32(1 / 255)).reshape(SIZE, SIZE)


def _float32_pixels(pixels: object) -> np.ndarray:
    """The pixels as float32: a flat list of 784 numbers packed by struct (the API's
    case); anything else, or what struct refuses (strings, None, nested lists, numbers
    too large), read by NumPy, which converts or refuses it as it always has."""
    if type(pixels) is list and len(pixels) == SIZE * SIZE:
        try:
            return np.frombuffer(_PIXELS_F32.pack(*pixels), dtype="<f4")
        except (struct.error, OverflowError):
            pass
    return np.asarray(pixels, dtype=np.float32)


def normalize_digit(ink: np.ndarray, *, strict: bool = True) -> np.ndarray:
    """Make a 2-D ink map MNIST-like: (28, 28) float32 in [0, 1].

    The result's peak is stretched to 1 so faint or thin strokes (which
    anti-aliasing greys out when a big drawing shrinks to 20 px) look like
    MNIST's pen strokes. `strict`: NoDigitError for ink in no digit's shape (see
    crop.MAX_INK_SHARE and MIN_EXTENT, MAX_SOLID, BAR_ASPECT); training turns it off: its
    distorted digits are labelled, whatever shape they take.
    """
    ink = _checked_ink(ink)
    peak = ink_peak(ink)
    crop = crop_to_ink(ink, peak, strict=strict)
    small = _scale_to_box(crop)
    top_peak = float(small.max())
    if top_peak <= 0:
        raise EmptyDrawingError(EMPTY_MESSAGE)
    small *= np.float32(1 / top_peak)
    if strict and _solid_side_reaches(small, MAX_SOLID):
        raise NoDigitError(f"the ink is a solid blob ({MAX_SOLID} of {BOX} pixels across or "
                           "more), not pen strokes")
    if strict and crop.shape[1] > crop.shape[0]:  # most digits are taller: not read
        _refuse_lying_flat(crop >= BBOX_REL * peak)
    return _place_by_centre_of_mass(small)


def ink_peak(ink: np.ndarray) -> float:
    """The strongest ink; EmptyDrawingError below EMPTY_PEAK, as normalized or not."""
    peak = float(ink.max())
    if peak < EMPTY_PEAK:
        raise EmptyDrawingError(EMPTY_MESSAGE)
    return peak


def check_as_is(ink: np.ndarray) -> None:
    """What an ink map sent without normalising (the caller vouches it is MNIST-like) is
    still refused for: blank (EmptyDrawingError), or ink with no background round it
    (NoDigitError), as dark-on-white pixels are: read as they are, they were an 8 at 0.98."""
    refuse_without_background(ink >= BBOX_REL * ink_peak(ink))


def _checked_ink(ink: np.ndarray) -> np.ndarray:
    """The ink as float32 in [0, 1]: clipped, or as it is (not copied: nothing here writes
    to it) when it is in range already, as decoded images and pixels are."""
    array = np.asarray(ink, dtype=np.float32)
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"expected a 2-D ink map, got shape {array.shape}")
    if array.min() >= 0 and array.max() <= 1:  # so finite too: NaN is neither
        return array
    if not np.isfinite(array).all():
        raise InputError("the ink map holds NaN or infinite values")
    return np.clip(array, 0.0, 1.0)


def _solid_side_reaches(small: np.ndarray, side: int) -> bool:
    """Whether some side x side square is all clear ink (window sums of a summed-area
    table); most digits have too little ink to hold one, which is quicker to count."""
    clear = small >= BBOX_REL
    if min(small.shape) < side or np.count_nonzero(clear) < side * side:
        return False
    table = np.zeros((small.shape[0] + 1, small.shape[1] + 1), np.int32)
    table[1:, 1:] = clear.cumsum(axis=0).cumsum(axis=1)
    sums = table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    return bool((sums == side * side).any())


def _refuse_lying_flat(clear: np.ndarray) -> None:
    """NoDigitError for clear ink (a crop wider than high) that lies flat: a solid bar, or
    one straight stroke."""
    if _solid_bar(clear):
        raise NoDigitError("the ink is a solid bar, wider than high (a dash, a line or a band "
                           "painted across), not a digit")
    if _flat_line(clear):
        raise NoDigitError("the ink is one straight stroke lying flat (a dash or a line drawn "
                           "across), not a digit")


def _solid_bar(clear: np.ndarray) -> bool:
    """Whether the crop's clear ink, as drawn (scaling up a small one blurs its holes shut),
    fills BAR_FILL of it, the crop BAR_ASPECT times as wide as high or more."""
    height, width = clear.shape
    return width >= BAR_ASPECT * height and np.count_nonzero(clear) >= BAR_FILL * clear.size


def _flat_line(clear: np.ndarray) -> bool:
    """Whether the crop's clear ink is a line lying flat: its second moments (the spread
    along and across its main axis) and that axis's tilt."""
    height, width = clear.shape
    rows, cols = clear.sum(axis=1, dtype=np.float64), clear.sum(axis=0, dtype=np.float64)
    count = rows.sum()
    dy = np.arange(height) - rows @ np.arange(height) / count
    dx = np.arange(width) - cols @ np.arange(width) / count
    yy, xx, xy = rows @ dy**2 / count, cols @ dx**2 / count, dy @ clear @ dx / count
    spread = np.hypot((xx - yy) / 2, xy)  # the axes' variances: their mean -/+ this
    along, across = (xx + yy) / 2 + spread, (xx + yy) / 2 - spread
    tilt = np.degrees(np.arctan2(2 * abs(xy), xx - yy)) / 2
    return bool(across < LINE_THIN**2 * along and tilt < LINE_TILT)


def _scale_to_box(crop: np.ndarray) -> np.ndarray:
    """Longer side to BOX pixels, aspect ratio kept, anti-aliased (Lanczos; ringing clipped).
    In and out of Pillow as bytes: Image.fromarray and np.asarray cost 5 us more."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.frombytes("F", (width, height), crop.astype(np.float32, copy=False).tobytes())
    resized = image.resize(size, Image.Resampling.LANCZOS).tobytes()
    return np.frombuffer(resized, np.float32).reshape(size[1], size[0]).clip(0.0, 1.0)


def _place_by_centre_of_mass(small: np.ndarray) -> np.ndarray:
    """Paste into 28x28 with the centre of mass at CENTRE (integer shift, ink never cut)."""
    height, width = small.shape
    mass = float(small.sum())
    cy = float(small.sum(axis=1) @ _INDICES[:height]) / mass
    cx = float(small.sum(axis=0) @ _INDICES[:width]) / mass
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
