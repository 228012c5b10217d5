"""An uploaded image file, read safely: formats, size limits, decompression bombs,
EXIF orientation and pixel modes, then its ink (digitnet.paper).

Every limit is checked from the header before any pixel is decoded.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import ExifTags, Image

from .errors import ImageDecodeError, ImageTooLargeError, InputError
from .frame import without_frame
from .paper import find_paper, ink_on_paper
from .table import without_table

MAX_SIDE = 1024  # larger images are reduced first: a digit needs no more detail
# No drawing is longer than this on a side; a 1 x 16,777,216 PNG, within any pixel
# limit, took 12x as long to decode as a 4096x4096 one: rows cost more than pixels.
MAX_EDGE = 16384
MAX_PIXELS = 4096 * 4096  # width x height decoded at most, read from the header first
FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF"})
# Pillow names a JPEG that carries more pictures (a camera's preview, a phone's HDR
# frame) "MPO": a still photo, read as its first, main picture.
JPEGS = frozenset({"JPEG", "MPO"})
# A progressive JPEG is decoded scan by scan, each over the whole picture: 2,523 scans in a
# 4096x4096 JPEG of under 1,000,000 bytes took 18 s to decode, a plain one 0.07 s. libjpeg's
# progressive scripts write 6 scans (grey), 10 (colour) or 18 (CMYK); at this limit the
# costliest 4096x4096 JPEG takes 0.35 s to decode (0.7 s at 64 scans).
MAX_JPEG_SCANS = 32
# EXIF read for the picture's orientation at most: a JPEG's APP1 segment holds no more, and
# Pillow reads every tag (65,000 tags in a 786 KB WebP: 0.6 s; a JPEG's 5,400: 37 ms).
MAX_EXIF_BYTES = 65_535
# A marker as libjpeg finds one: 0xFF then a code other than 0x00 (a stuffed 0xFF in the
# coded data), 0xFF (a fill byte: the search matches at the run's last 0xFF) or a
# restart/TEM marker, which carry no length. (`\xff+` would read fill bytes too, 15x
# slower: 0.52 ms against 0.03 ms over a 65 KB progressive JPEG.)
_JPEG_MARKER = re.compile(rb"\xff([^\x00\x01\xd0-\xd7\xff])")
_JPEG_SOS, _JPEG_SOI, _JPEG_EOI = 0xDA, 0xD8, 0xD9


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS, whole: bool = False
                 ) -> np.ndarray:
    """Decode image bytes into a 2-D float32 ink map in [0, 1] (ink = 1): the distance from
    the paper (digitnet.paper), so dark-on-light, light-on-dark, coloured strokes, photos
    lit unevenly and canvases with a see-through background all work. A frame round the
    image (digitnet.frame) is cut off first; images whose longer side exceeds MAX_SIDE are
    reduced; a page lying on a table is cropped to (digitnet.table). `whole`: no frame or
    table cut off, for a picture already framed as the network reads it (28x28)."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise ImageDecodeError("expected non-empty image bytes")
    with warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning):
        image = _load_upright(_open_checked(bytes(data), max_pixels))
        if not whole:
            image = without_frame(image)
        paper = find_paper(image)  # before reducing, which blurs the border
        image = _reduced(image)
    if not whole:
        painted = without_table(image)  # a page on a table: its paper is then all the border
        if painted is not image:
            image, paper = painted, find_paper(painted)
    return ink_on_paper(image, paper)


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
        try:
            image = Image.open(io.BytesIO(data), formats=sorted(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow's own check, at its far larger limit, comes before ours could
            raise ImageTooLargeError(f"image is over {Image.MAX_IMAGE_PIXELS:,} pixels "
                                     "(refused as a decompression bomb); the limit is "
                                     f"{MAX_PIXELS:,}") from exc
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
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
        )
    if max(width, height) > MAX_EDGE:
        raise ImageTooLargeError(f"image is {width}x{height}; a side may be at most "
                                 f"{MAX_EDGE} pixels")
    with _pillow_errors(f"damaged {image.format} image"):
        animated = getattr(image, "is_animated", False)
    if animated and image.format not in JPEGS:
        raise ImageDecodeError("animated images are not supported; send a single frame")
    return image


def signature_format(data: bytes) -> str | None:
    """The format a file's first bytes name (PNG, JPEG, GIF or WebP), whatever follows."""
    signatures = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF"}
    for signature, name in signatures.items():
        if data.startswith(signature):
            return name
    return "WebP" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def _unreadable(data: bytes) -> str:
    """Say 'damaged PNG' rather than 'not an image' when the signature is right."""
    name = signature_format(data)
    return f"damaged {name} image" if name else "not a PNG, JPEG, WebP or GIF image"


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
    """Turned as its EXIF Orientation says, the one tag read (ImageOps.exif_transpose also
    rewrites the whole EXIF: 2 s for 65,000 tags in a 786 KB WebP, 0.14 s for the 5,400 a
    JPEG holds). As stored when the EXIF is over MAX_EXIF_BYTES (reading a WebP's 786 KB
    took 0.6 s) or Pillow can't read it (a mistyped tag raises struct.error, TypeError...):
    the pixels are fine, only metadata is not."""
    if len(image.info.get("exif", b"")) > MAX_EXIF_BYTES:
        return image
    try:
        turn = _EXIF_TURNS.get(image.getexif().get(ExifTags.Base.Orientation))
    except Exception:
        return image
    return image if turn is None else image.transpose(turn)


_EXIF_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
               6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_90}  # Orientation -> the turn that undoes it


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
