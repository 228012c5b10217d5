"""From a validated request item to the (28, 28) float32 image the network reads.

All image and pixel maths is digitnet's (imagefile, preprocess); this module maps
their exceptions (and base64/data-URL problems) to API errors naming the field.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from api_errors import ApiError, Loc
from digitnet import imagefile, preprocess
from digitnet.errors import EmptyDrawingError, ImageTooLargeError, InputError, NoDigitError
from schemas import MAX_BATCH_PIXELS, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, PredictRequest

MAX_BASE64_CHARS = 4 * math.ceil(MAX_IMAGE_BYTES / 3)
URL_SAFE = str.maketrans("-_", "+/")
# What helps an image refused as no digit: the ink is read against the paper round it.
IMAGE_HINT = ("; one digit reads best with plain paper round it: crop a photo to the digit "
              "and some of its paper")


def model_input(item: PredictRequest, loc: Loc = ("body",),
                data: bytes | None = None) -> np.ndarray:
    """The (28, 28) ink in [0, 1] for one item; ApiError (422/413) when it can't be had.
    `data`: the item's image bytes, when the caller has already decoded its base64."""
    if item.pixels is not None:
        field = [*loc, "pixels"]
        ink = preprocess.pixels_to_ink(item.pixels)  # already validated: cannot raise
    else:
        field = [*loc, "image"]
        if data is None:
            data = image_bytes(item.image or "", field)
        with _image_errors(field):
            ink = imagefile.decode_image(data, max_pixels=MAX_IMAGE_PIXELS,
                                         whole=not item.normalize)
    try:
        return preprocess.normalize_digit(ink) if item.normalize else _as_is(ink, field)
    except EmptyDrawingError as exc:
        raise ApiError(422, field, str(exc) + _pixels_hint(item), "empty_drawing") from exc
    except NoDigitError as exc:
        hint = _pixels_hint(item) if item.pixels is not None else IMAGE_HINT
        raise ApiError(422, field, str(exc) + hint, "no_digit") from exc


def _pixels_hint(item: PredictRequest) -> str:
    """The likely mistake behind pixels refused as blank or as all ink: levels scaled to
    0..1 (as many ML pipelines keep MNIST), or dark ink on white (MNIST's is light on dark)."""
    if item.pixels is None:
        return ""
    levels = np.asarray(item.pixels, dtype=np.float32).reshape(preprocess.SIZE, -1)
    if 0 < levels.max() <= 1:
        return ("; pixels are grey levels 0..255 and these are all 1 or less: "
                "multiply 0..1 values by 255")
    edge = np.concatenate([levels[0], levels[-1], levels[:, 0], levels[:, -1]])
    if np.median(edge) >= 128:
        return ("; pixels are light ink on a dark background, as in MNIST: for dark ink "
                "on white send 255 - level (an image may be either)")
    return ""


def batch_inputs(items: list[PredictRequest]) -> np.ndarray:
    """(N, 28, 28) for a batch; an error's loc names the first bad item, e.g.
    body.items.3.pixels, after a 413 for images too big together (see batch_images)."""
    images = batch_images(items)
    return np.stack([model_input(item, ("body", "items", i), images.get(i))
                     for i, item in enumerate(items)])


def batch_images(items: list[PredictRequest]) -> dict[int, bytes]:
    """Item index -> image bytes, refused with 413 when the images' headers add up to more
    than MAX_BATCH_PIXELS: before any is decoded, so no batch can outlast the function's
    timeout nor be refused after seconds of work. A bad image is skipped here, and
    reported in its turn."""
    images: dict[int, bytes] = {}
    left = MAX_BATCH_PIXELS
    for i, item in enumerate(items):
        if item.image is None:
            continue
        field = ["body", "items", i, "image"]
        try:
            images[i] = image_bytes(item.image, field)
            with _image_errors(field):
                left -= imagefile.image_pixels(images[i])
        except ApiError:
            continue
        if left < 0:
            raise ApiError(413, field, f"the batch's images hold more than {MAX_BATCH_PIXELS:,} "
                           "pixels in all; send them in smaller batches", "batch_too_large")
    return images


def image_bytes(text: str, loc: Loc) -> bytes:
    """Raw base64 or a `data:image/...;base64,` URL -> the file's bytes."""
    text = _base64_part(text, loc)
    if len(text) > MAX_BASE64_CHARS and _base64_length(text) > MAX_BASE64_CHARS:
        raise _image_too_large(loc, _starts_as_jpeg(text))  # before decoding any more
    data = _decoded_base64(text, loc)
    if len(data) > MAX_IMAGE_BYTES:  # the text's length allows up to 2 bytes more
        raise _image_too_large(loc, _is_jpeg(data))
    if not data:
        raise ApiError(422, loc, "image is empty", "image_decode")
    return data


def _base64_part(text: str, loc: Loc) -> str:
    """A data: URL's base64 (an image's, as the browser's canvas.toDataURL writes it), or
    the text as it is; a web address is refused, since nothing is fetched."""
    if text[:5].lower() == "data:":  # URL schemes are case-insensitive
        head, comma, text = text.partition(",")
        media = head[5:].lower()
        if not comma or not media.startswith("image/") or not media.endswith(";base64"):
            raise ApiError(422, loc, "a data URL must look like data:image/png;base64,<data>",
                           "invalid_data_url")
    if text[:8].lower().startswith(("http://", "https://")):
        raise ApiError(422, loc, "image must hold the picture itself (base64 or a data: URL); "
                       "URLs are not fetched", "invalid_base64")
    return text


def _decoded_base64(text: str, loc: Loc) -> bytes:
    """Strict base64 first (the fast path), then as other tools write it."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    data = _lenient_base64(text)
    if data is None:
        raise ApiError(422, loc, "image is not valid base64: A-Z a-z 0-9 + / (or - _), "
                       "padded with =", "invalid_base64")
    return data


def _starts_as_jpeg(text: str) -> bool:
    """Whether base64 text starts with a JPEG's signature, from its first 8 characters
    (6 bytes) past any white space: an oversized text is not decoded."""
    head = _lenient_base64("".join(text[:64].split())[:8])
    return _is_jpeg(head or b"")


def _base64_length(text: str) -> int:
    """The text's length without the white space _lenient_base64 drops (base64 wrapped in
    lines, or in groups)."""
    return len(text) - sum(map(text.count, " \t\n\r\f\v"))


def _lenient_base64(text: str) -> bytes | None:
    """Base64 as other tools write it, or None: wrapped in lines (GNU base64's default,
    Python's encodebytes, MIME) or in the URL-safe alphabet (- and _ for + and /)."""
    try:
        return base64.b64decode("".join(text.split()).translate(URL_SAFE), validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_jpeg(head: bytes) -> bool:
    return imagefile.signature_format(head) == "JPEG"


def _image_too_large(loc: Loc, jpeg: bool) -> ApiError:
    """413, suggesting a JPEG unless it is one already."""
    smaller = "e.g. 1024 px on its longer side" + ("" if jpeg else ", or as a JPEG")
    return ApiError(413, loc, f"image is larger than {MAX_IMAGE_BYTES:,} bytes (base64-decoded): "
                    f"send it smaller, {smaller}", "image_too_large")


@contextmanager
def _image_errors(loc: Loc) -> Iterator[None]:
    """imagefile's image errors (digitnet.errors) as API errors naming the field: 413 for
    size, else 422."""
    try:
        yield
    except ImageTooLargeError as exc:
        raise ApiError(413, loc, str(exc), "image_too_large") from exc
    except InputError as exc:
        raise ApiError(422, loc, str(exc) or "cannot decode the image", "image_decode") from exc


def _as_is(ink: np.ndarray, loc: Loc) -> np.ndarray:
    """normalize=false: the caller vouches the digit is MNIST-like; blank, or all ink (no
    background), is still refused."""
    if ink.shape != (preprocess.SIZE, preprocess.SIZE):
        height, width = ink.shape
        raise ApiError(422, loc, f"with normalize=false the image must be 28x28, got "
                       f"{width}x{height}", "wrong_size")
    preprocess.check_as_is(ink)
    return ink
