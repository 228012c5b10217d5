"""digitnet.imagefile and digitnet.preprocess: drawings of any kind become MNIST-like 28x28
digits."""

import io
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from api_helpers import ONE, SEVEN, ZERO, encode, raw_png
from digitnet import crop, preprocess
from digitnet.crop import (
    _digit_and_marks,
    _enclosed,
    _ink_patches,
    _lines_apart,
    _outer_runs,
    crop_to_ink,
    refuse_without_background,
)
from digitnet.errors import (
    EmptyDrawingError,
    ImageDecodeError,
    ImageTooLargeError,
    InputError,
    NoDigitError,
)
from digitnet.imagefile import MAX_EDGE, MAX_JPEG_SCANS, _eight_bits, decode_image, image_pixels
from digitnet.preprocess import (
    BBOX_REL,
    PREPROCESS_VERSION,
    check_as_is,
    ink_peak,
    normalize_batch,
    normalize_digit,
    pixels_to_ink,
)
from PIL import ExifTags, Image, ImageDraw, ImageFilter

# A "2"-like path in unit coordinates: a hook, a diagonal and a base.
PATH = [(0.1, 0.25), (0.3, 0.05), (0.7, 0.05), (0.85, 0.3), (0.1, 0.95), (0.9, 0.95)]


def draw_digit(
    *,
    canvas: int = 280,
    size: float = 200,
    at: tuple[float, float] = (40, 40),
    width_frac: float = 0.08,
    mode: str = "L",
    background: object = 255,
    ink: object = 0,
) -> Image.Image:
    """Draw PATH scaled to `size` px at `at`, stroke width proportional to size."""
    image = Image.new(mode, (canvas, canvas), background)
    points = [(at[0] + x * size * 0.6, at[1] + y * size) for x, y in PATH]
    width = max(1, round(width_frac * size))
    ImageDraw.Draw(image).line(points, fill=ink, width=width, joint="curve")
    return image


def digit(image: Image.Image, fmt: str = "PNG") -> np.ndarray:
    return normalize_digit(decode_image(encode(image, fmt)))


def similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    return float(np.abs(a - b).mean()), float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return digit(draw_digit())


def assert_close(a: np.ndarray, b: np.ndarray, *, mad: float = 0.05, corr: float = 0.9) -> None:
    diff, correlation = similarity(a, b)
    assert diff < mad, f"mean abs diff {diff:.3f}"
    assert correlation > corr, f"correlation {correlation:.3f}"


def test_error_hierarchy() -> None:
    for error in (EmptyDrawingError, ImageDecodeError, ImageTooLargeError):
        assert issubclass(error, InputError)
    assert issubclass(InputError, ValueError)


GOLDEN = Path(__file__).parent / "data" / "preprocess_golden.npz"
GOLDEN_ATOL = 1e-5  # float32 rounding only: any real change to the pipeline moves pixels by >1e-3
REGENERATE = "PYTHONPATH=layers/model/python .venv/bin/python tests/test_preprocess.py"


def golden_drawing() -> Image.Image:
    """A "2" with ink at each level preprocessing treats differently, so a change shows.

    Besides the black strokes: a faint smudge (ink 0.05, under NOISE_REL: dropped),
    a lighter stroke (0.5: kept), a stray dot outside the digit (0.15, under
    BBOX_REL: cropped away) and a black pen tap apart from it (under SPECK_REL of the
    digit's ink: dropped). Shrinking 180 px to 20 px makes the resampling filter count.
    """
    image = draw_digit(size=180, at=(60, 45))
    draw = ImageDraw.Draw(image)
    draw.rectangle((75, 100, 120, 140), fill=255 - 13)
    draw.line([(115, 190), (150, 160)], fill=255 - 128, width=9)
    draw.ellipse((240, 30, 250, 40), fill=255 - 38)
    draw.ellipse((20, 250, 30, 260), fill=0)
    return image


def golden_diff(output: np.ndarray, golden: np.ndarray) -> float:
    return float(np.abs(output - golden).max())


def write_golden() -> None:
    """Record today's output (run REGENERATE); refuses a changed output under the same version."""
    output = digit(golden_drawing())
    if GOLDEN.is_file():
        with np.load(GOLDEN) as old:
            same_version = str(old["preprocess_version"]) == PREPROCESS_VERSION
            if same_version and golden_diff(output, old["output"]) > GOLDEN_ATOL:
                raise SystemExit(f"output changed under {PREPROCESS_VERSION!r}: bump it first")
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, output=output, preprocess_version=np.array(PREPROCESS_VERSION))


def test_output_matches_the_golden_recorded_for_this_preprocess_version() -> None:
    """The shipped model learnt from exactly this output: a silent change is serving skew.

    tests/data/preprocess_golden.npz holds the output and the PREPROCESS_VERSION it
    belongs to. After an intended change: bump PREPROCESS_VERSION, retrain and ship
    the model, then regenerate the golden with REGENERATE.
    """
    with np.load(GOLDEN) as golden:
        recorded, expected = str(golden["preprocess_version"]), golden["output"]
    assert recorded == PREPROCESS_VERSION, (
        f"the golden is for preprocessing {recorded!r}, the code is {PREPROCESS_VERSION!r}: "
        f"once the model is retrained for it, regenerate the golden: {REGENERATE}"
    )
    output = digit(golden_drawing())
    assert output.shape == expected.shape == (28, 28)
    diff = golden_diff(output, expected)
    assert diff <= GOLDEN_ATOL, (
        f"normalize_digit's output changed (max diff {diff:.4f}) but PREPROCESS_VERSION is "
        f"still {PREPROCESS_VERSION!r}, and the shipped model was trained on the old output. "
        f"If the change is intended: bump PREPROCESS_VERSION in digitnet/preprocess.py, "
        f"retrain and ship the model, then regenerate the golden: {REGENERATE}"
    )


@pytest.mark.parametrize("peak", [1.0, 0.5])
def test_ink_under_noise_rel_of_the_peak_is_zeroed_and_above_it_kept(peak: float) -> None:
    """Under 8% of the peak is paper grain or JPEG ringing; above it, a light pen stroke.

    The digit is a 20x20 frame, already the box size, so no resampling blurs the levels.
    Relative to the peak: at peak 0.5 the kept patch (0.05) is under 0.08 in absolute terms.
    """
    ink = np.zeros((28, 28), dtype=np.float32)
    ink[4:24, 4:24] = peak
    ink[6:22, 6:22] = 0
    ink[8:12, 8:20] = 0.06 * peak  # under NOISE_REL = 0.08
    ink[15:19, 8:20] = 0.10 * peak  # over NOISE_REL, under BBOX_REL: kept, box unmoved
    out = normalize_digit(ink)
    top = int(np.flatnonzero((out > 0.99).any(axis=1))[0])
    left = int(np.flatnonzero((out > 0.99).any(axis=0))[0])
    np.testing.assert_array_equal(out[top + 4 : top + 8, left + 4 : left + 16], 0)
    np.testing.assert_allclose(out[top + 11 : top + 15, left + 4 : left + 16], 0.10, atol=1e-6)
    assert out.sum() == pytest.approx(144 + 48 * 0.10, abs=1e-4)  # frame + kept patch, no more


def test_output_is_mnist_like(reference: np.ndarray) -> None:
    assert reference.shape == (28, 28)
    assert reference.dtype == np.float32
    assert reference.min() >= 0
    assert reference.max() == pytest.approx(1.0)
    rows = np.flatnonzero((reference > 0.1).any(axis=1))
    cols = np.flatnonzero((reference > 0.1).any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21)
    index = np.arange(28)
    mass = reference.sum()
    assert (reference.sum(axis=1) @ index) / mass == pytest.approx(14.0, abs=0.6)
    assert (reference.sum(axis=0) @ index) / mass == pytest.approx(14.0, abs=0.6)


@pytest.mark.parametrize(
    ("size", "at"),
    [
        (200, (40, 40)), (200, (0, 0)), (80, (10, 180)),
        (120, (150, 20)), (260, (15, 10)), (50, (200, 200)),
    ],
)
def test_shift_and_scale_invariance(reference: np.ndarray, size: float, at: tuple) -> None:
    assert_close(digit(draw_digit(size=size, at=at)), reference)


def test_small_canvas_and_tiny_digit(reference: np.ndarray) -> None:
    assert_close(digit(draw_digit(canvas=64, size=40, at=(5, 12))), reference, mad=0.07, corr=0.85)


def test_a_different_digit_is_not_close(reference: np.ndarray) -> None:
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).ellipse((80, 40, 200, 240), outline=0, width=16)  # a "0"
    _, correlation = similarity(digit(image), reference)
    assert correlation < 0.6


def test_light_ink_on_dark_matches_dark_on_light(reference: np.ndarray) -> None:
    assert_close(digit(draw_digit(background=0, ink=255)), reference, mad=0.01, corr=0.99)


def test_canvas_png_with_transparent_background_and_coloured_ink(reference: np.ndarray) -> None:
    image = draw_digit(mode="RGBA", background=(0, 0, 0, 0), ink=(30, 64, 175, 255))
    assert_close(digit(image), reference, mad=0.01, corr=0.99)


@pytest.mark.parametrize("paper_alpha", [60, 100, 127])
def test_half_transparent_paper_is_not_ink(reference: np.ndarray, paper_alpha: int) -> None:
    """Paper at alpha 60 once counted as ink everywhere: a '7' read as 9 or 8."""
    image = draw_digit(mode="RGBA", background=(255, 255, 255, paper_alpha), ink=(0, 0, 0, 255))
    assert_close(digit(image), reference, mad=0.01, corr=0.99)
    ink = decode_image(encode(image))
    assert ink.max() == pytest.approx(1.0)  # opaque ink is full ink, above any paper
    assert ink.min() == 0.0


@pytest.mark.parametrize("opacity", [30, 102, 127])
def test_a_picture_see_through_all_over_is_read_by_its_colours(reference: np.ndarray,
                                                               opacity: int) -> None:
    """Ink and paper at one alpha: the alpha draws nothing (once "the drawing is empty")."""
    image = draw_digit(mode="RGBA", background=(255, 255, 255, opacity),
                       ink=(0, 0, 0, opacity))
    assert_close(digit(image), reference, mad=0.01, corr=0.99)


def test_ink_colour_does_not_matter_on_see_through_paper(reference: np.ndarray) -> None:
    """Up to alpha 127 the paper counts as see-through: coverage is ink, whatever its colour
    (white on white included)."""
    image = draw_digit(mode="RGBA", background=(255, 255, 255, 127), ink=(255, 255, 255, 255))
    assert_close(digit(image), reference, mad=0.01, corr=0.99)


def test_see_through_pixels_on_opaque_paper_are_no_ink() -> None:
    """Opaque paper: ink is the colour distance times alpha, so a transparent-black hole
    (a cut-out, an eraser) is no ink though black is far from the paper."""
    image = draw_digit(mode="RGBA", background=(255, 255, 255, 255), ink=(0, 0, 0, 255))
    ImageDraw.Draw(image).rectangle([(200, 200), (270, 270)], fill=(0, 0, 0, 0))
    ink = decode_image(encode(image))
    assert ink[200:271, 200:271].max() == 0.0
    assert ink.max() == pytest.approx(1.0)


def test_the_background_is_read_on_all_four_sides() -> None:
    """A dark band on top (a scanner's edge) is outvoted by the paper of the other sides,
    and then, apart from the drawing, taken out of the ink (digitnet.bands)."""
    image = Image.new("L", (600, 280), 255)
    ImageDraw.Draw(image).rectangle([(0, 0), (599, 20)], fill=0)
    ImageDraw.Draw(image).line([(250, 80), (350, 80), (280, 260)], fill=0, width=20)
    ink = decode_image(encode(image))
    assert ink[100:, :100].max() == 0.0  # the paper is paper
    assert ink[:21].max() == 0.0  # the band is not the digit's ink
    assert ink[75:85, 260:340].min() == pytest.approx(1.0)  # the 7's bar is


def test_white_ink_on_transparent_background(reference: np.ndarray) -> None:
    image = draw_digit(mode="RGBA", background=(255, 255, 255, 0), ink=(255, 255, 255, 255))
    assert_close(digit(image), reference, mad=0.01, corr=0.99)


def test_opaque_rgba_canvas_with_coloured_ink_on_coloured_paper(reference: np.ndarray) -> None:
    image = draw_digit(mode="RGBA", background=(250, 240, 200, 255), ink=(200, 30, 30, 255))
    assert_close(digit(image), reference, mad=0.01, corr=0.99)


@pytest.mark.parametrize(
    ("fmt", "mode", "options"),
    [("JPEG", "RGB", {"quality": 75}), ("WEBP", "RGB", {}), ("GIF", "P", {}), ("PNG", "P", {})],
)
def test_formats(reference: np.ndarray, fmt: str, mode: str, options: dict) -> None:
    image = draw_digit().convert(mode)
    assert_close(normalize_digit(decode_image(encode(image, fmt, **options))), reference)


def test_multi_picture_jpeg_reads_its_main_picture(reference: np.ndarray) -> None:
    """Pillow calls a JPEG with a second picture "MPO" and animated: once refused as such."""
    buffer = io.BytesIO()
    main, preview = draw_digit(mode="RGB", background="white", ink="black"), Image.new(
        "RGB", (160, 120), "grey")
    main.save(buffer, "MPO", save_all=True, append_images=[preview], quality=95)
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    assert_close(normalize_digit(decode_image(buffer.getvalue())), reference, mad=0.02,
                 corr=0.97)


def progressive_jpeg(image: Image.Image, *, scans: int | None = None,
                     thumbnail: bytes | None = None) -> bytes:
    """`image` as Pillow saves a progressive JPEG; with `scans`, its last scan repeated before
    the end-of-image marker up to that many (as the crafted jpeg_scans.bin: one scan 2,523
    times, 18 s to decode at 4096x4096); with `thumbnail`, that JPEG as its EXIF thumbnail,
    in an APP1 segment after the JFIF one, as cameras write it."""
    data = encode(image, "JPEG", progressive=True, quality=90)
    if scans is not None:  # Pillow's file has no other FF DA: coded data write FF as FF 00
        last_scan = data[data.rindex(b"\xff\xda") : -2]
        data = data[:-2] + last_scan * (scans - data.count(b"\xff\xda")) + data[-2:]
    if thumbnail is not None:
        jfif_end = 4 + int.from_bytes(data[4:6], "big")
        data = data[:jfif_end] + exif_with_thumbnail(thumbnail) + data[jfif_end:]
    return data


def exif_with_thumbnail(thumbnail: bytes) -> bytes:
    """An APP1 segment: EXIF (big-endian TIFF) whose IFD0 holds Orientation 1 and whose IFD1
    points at `thumbnail`, stored after the 56 bytes of TIFF header and IFDs."""
    ifd0 = bytes.fromhex("0001" "0112 0003 00000001 00010000" "0000001a")  # next IFD at 26
    ifd1 = bytes.fromhex("0002" "0201 0004 00000001 00000038" "0202 0004 00000001") \
        + len(thumbnail).to_bytes(4, "big") + bytes(4)
    payload = b"Exif\0\0" + b"MM\0\x2a\0\0\0\x08" + ifd0 + ifd1 + thumbnail
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def test_jpeg_with_too_many_progressive_scans_is_refused_before_decoding() -> None:
    """Each scan is decoded over the whole picture: a 4096x4096 JPEG of 2,529 scans took 18 s.
    The header-only image_pixels (the batch budget) refuses it too."""
    data = progressive_jpeg(draw_digit(mode="RGB"), scans=MAX_JPEG_SCANS + 1)
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    message = f"has {MAX_JPEG_SCANS + 1} progressive scans.*the limit is {MAX_JPEG_SCANS}"
    with pytest.raises(ImageTooLargeError, match=message):
        decode_image(data)
    with pytest.raises(ImageTooLargeError, match=message):
        image_pixels(data)


@pytest.mark.parametrize("scans", [None, MAX_JPEG_SCANS])
def test_progressive_jpeg_with_an_exif_thumbnail_decodes(reference: np.ndarray,
                                                         scans: int | None) -> None:
    """The thumbnail's scans, inside APP1, are not the picture's: counted with them, the
    file has more than MAX_JPEG_SCANS. As saved (10 scans), and with the limit's number."""
    thumbnail = progressive_jpeg(draw_digit().resize((40, 40)))
    data = progressive_jpeg(draw_digit(mode="RGB"), scans=scans, thumbnail=thumbnail)
    ifd1 = Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.IFD1)  # the thumbnail's
    assert ifd1[ExifTags.Base.JpegIFByteCount] == len(thumbnail)
    assert data.count(b"\xff\xda") == (scans or 10) + 6  # the grey thumbnail's 6
    assert image_pixels(data) == 280 * 280
    assert_close(normalize_digit(decode_image(data)), reference, mad=0.02, corr=0.97)


def test_too_many_scans_after_an_exif_thumbnail_are_refused() -> None:
    """Each segment is skipped by its length, so the thumbnail's own end-of-image inside
    APP1 does not end the count: a thumbnail cannot hide the picture's scans."""
    thumbnail = progressive_jpeg(draw_digit().resize((40, 40)))
    data = progressive_jpeg(draw_digit(mode="RGB"), scans=MAX_JPEG_SCANS + 1,
                            thumbnail=thumbnail)
    with pytest.raises(ImageTooLargeError, match=f"has {MAX_JPEG_SCANS + 1} progressive scans"):
        image_pixels(data)


def test_multi_picture_jpeg_counts_the_scans_of_its_main_picture(reference: np.ndarray) -> None:
    """An MPO's other pictures follow the first one's end-of-image marker: only the first
    is decoded, so only its scans count."""
    main = draw_digit(mode="RGB", background="white", ink="black")
    previews = [Image.new("RGB", (64, 48), "grey")] * 4
    data = encode(main, "MPO", save_all=True, append_images=previews, progressive=True)
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert data.count(b"\xff\xda") == 5 * 10 > MAX_JPEG_SCANS
    assert_close(normalize_digit(decode_image(data)), reference, mad=0.02, corr=0.97)


def test_gif_with_transparent_background(reference: np.ndarray) -> None:
    image = draw_digit(mode="RGBA", background=(0, 0, 0, 0), ink=(0, 0, 0, 255))
    assert_close(digit(image, "GIF"), reference)


def test_sixteen_bit_greyscale_png(reference: np.ndarray) -> None:
    grey = np.asarray(draw_digit(), dtype=np.uint16) * 257
    assert_close(digit(Image.fromarray(grey)), reference, mad=0.01, corr=0.99)


def test_sixteen_bit_png_reads_as_its_eight_bit_version_without_a_float_copy() -> None:
    """Each 16-bit level v is the 8-bit level v // 257 (255 * v / 65535 truncated). A 4096x4096
    16-bit PNG of 40 KB once peaked at 386 MB of NumPy arrays (float64 copies of the image):
    NumPy's allocations must stay under 8 bytes a pixel, one float64 copy (128 MB here)."""
    grey = np.full((4096, 4096), 65535, np.uint16)
    grey[1000:3000, 2000:2200] = 0
    grey[1200:2800, 2050:2150] = 257 * 100 + 200  # 100.8 levels: 100
    sixteen, eight = encode(Image.fromarray(grey)), encode(Image.fromarray(grey // 257
                                                                           ).convert("L"))
    assert Image.open(io.BytesIO(sixteen)).mode == "I;16"
    tracemalloc.start()
    try:
        ink = decode_image(sixteen)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 4096 * 4096, f"{peak / 2**20:.0f} MB"
    np.testing.assert_allclose(ink, decode_image(eight), rtol=0, atol=1 / 255)


def test_sixteen_bit_levels_become_eight_bit_ones_by_257() -> None:
    """v // 257: 65535 is 255 and 257 * k is k, as 255 * v / 65535 truncates."""
    values = np.array([[0, 256, 257, 32896, 65278, 65535]], np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    assert np.asarray(_eight_bits(image)).tolist() == [[0, 0, 1, 128, 254, 255]]


def test_jpeg_noise_does_not_move_the_box(reference: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    noisy = np.asarray(draw_digit(), dtype=np.float64) - rng.uniform(0, 12, (280, 280))
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    assert_close(digit(image, "JPEG"), reference)


@pytest.mark.parametrize("colour", [255, 0, 128])
def test_blank_drawing_is_empty(colour: int) -> None:
    ink = decode_image(encode(Image.new("L", (280, 280), colour)))
    assert ink.shape == (280, 280)
    assert ink.max() == 0
    with pytest.raises(EmptyDrawingError):
        normalize_digit(ink)


@pytest.mark.parametrize("field", [
    np.full((28, 28), 1.0), np.full((28, 28), 0.5),  # uniform: once an 8 at 0.81
    np.random.default_rng(0).random((28, 28)) * 29 / 255,  # dim noise: once an 8 at 1.00
])
def test_ink_everywhere_is_no_digit(field: np.ndarray) -> None:
    with pytest.raises(NoDigitError, match="no background"):
        normalize_digit(field.astype(np.float32))


@pytest.mark.parametrize(("shape", "reason"), [((2, 3), "solid bar"), ((3, 3), "no background")])
def test_a_strip_too_thin_for_an_inside_is_not_refused_for_its_edge(
        shape: tuple[int, int], reason: str) -> None:
    """All ink, 2 px high: its ring is all of it, so its edge (read as 0) says nothing and
    it is refused as what it is, a bar; 3 px high has an inside, and an edge of ink."""
    with pytest.raises(NoDigitError, match=reason):
        normalize_digit(np.ones(shape, np.float32))


@pytest.mark.parametrize("three_sides", [False, True])
def test_much_ink_is_refused_only_with_an_edge_of_ink_too(three_sides: bool) -> None:
    """86% of the image is ink (a bold digit cropped close): refused only when over
    MAX_INK_SHARE (60%) of its edge is ink too (three sides: 82 of 108 pixels); with 5
    pixels of it ink, it is a digit."""
    clear = np.zeros((28, 28), bool)
    clear[1:27, 1:27] = True
    if three_sides:
        clear[[0, -1], :] = clear[:, 0] = True
        with pytest.raises(NoDigitError, match="no background"):
            refuse_without_background(clear)
    else:
        clear[0, 5:10] = True
        refuse_without_background(clear)


def test_ink_at_max_ink_share_is_not_over_it() -> None:
    """Refused only over MAX_INK_SHARE (60%), of the image and of its edge: at 60% of
    either exactly there is background enough; a pixel more, there is none."""
    clear = np.zeros((10, 10), bool)
    clear[[0, -1], :] = clear[:, [0, -1]] = True  # the edge: 36 pixels
    clear[1:-1, 1:4] = True  # 24 more: 60 of 100
    refuse_without_background(clear)
    clear[1, 4] = True
    with pytest.raises(NoDigitError, match="no background"):
        refuse_without_background(clear)
    small = np.ones((6, 6), bool)  # 28 of 36 ink; 12 of the 20 edge pixels
    small[0] = small[-1, :2] = False
    refuse_without_background(small)
    small[-1, 0] = True
    with pytest.raises(NoDigitError, match="no background"):
        refuse_without_background(small)


def test_ink_at_noise_rel_of_the_peak_is_kept() -> None:
    """Ink at NOISE_REL of the peak, and over, is a light stroke; only under it is noise
    zeroed (the faint patch sits inside the frame's box, so no resampling blurs it)."""
    ink = np.zeros((28, 28), np.float32)
    ink[4:24, 4:24] = 1.0
    ink[6:22, 6:22] = 0
    ink[10:14, 10:14] = 0.08
    out = crop_to_ink(ink, 1.0, strict=True)
    np.testing.assert_array_equal(out[6:10, 6:10], np.float32(0.08))


@pytest.mark.parametrize("size", [1, 2])
def test_a_speck_is_no_digit(size: int) -> None:
    """Scaled up to a 20x20 blob, a lone speck read as an 8 at 0.81."""
    ink = np.zeros((28, 28), np.float32)
    ink[10 : 10 + size, 12 : 12 + size] = 0.8
    with pytest.raises(NoDigitError, match="speck"):
        normalize_digit(ink)
    canvas = Image.new("L", (280, 280), 255)
    canvas.putpixel((140, 140), 229)
    with pytest.raises(NoDigitError, match="speck"):
        digit(canvas)


@pytest.mark.parametrize("shape", ["rectangle", "ellipse"])
def test_a_solid_blob_is_no_digit(shape: str) -> None:
    """A black square on paper was an 8 at 0.81, a black disc a 0 at 0.95."""
    canvas = Image.new("L", (280, 280), 255)
    getattr(ImageDraw.Draw(canvas), shape)([(60, 60), (220, 220)], fill=0)
    with pytest.raises(NoDigitError, match="solid blob"):
        digit(canvas)


def test_a_solid_blob_with_a_tail_is_no_digit() -> None:
    """A blob is found wherever it lies in the crop, not only in its top left corner: here
    a stroke dragged from it up to the left starts the crop 40 px before it."""
    canvas = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([(60, 60), (250, 250)], fill=0)
    draw.line([(20, 20), (70, 70)], fill=0, width=12)
    with pytest.raises(NoDigitError, match="solid blob"):
        digit(canvas)


@pytest.mark.parametrize("box", [(0, 146, 279, 279),  # the lower half painted over: a 0
                                 (50, 90, 199, 189),  # 150x100: exactly BAR_ASPECT
                                 (40, 100, 240, 180),  # a bar: a 7 at 0.81
                                 (30, 135, 250, 145)])  # a dash
def test_a_solid_bar_wider_than_high_is_no_digit(box: tuple[int, int, int, int]) -> None:
    canvas = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(canvas).rectangle(box, fill=0)
    with pytest.raises(NoDigitError, match="solid bar"):
        digit(canvas)


def _sieved_bar(step: int) -> Image.Image:
    """A bar (40, 100)-(240, 180) painted with 4x4 px holes every `step` px (no blank row
    or column: one patch of ink)."""
    canvas = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((40, 100, 240, 180), fill=0)
    for y in range(104, 176, step):
        for x in range(44, 236, step):
            draw.rectangle((x, y, x + 3, y + 3), fill=255)
    return canvas


def test_a_bar_counts_as_solid_from_85_percent_ink() -> None:
    """BAR_FILL: a band painted across with gaps (91% ink) is still a bar; a sieve of
    holes (84% ink) is left to the model, as a hollow shape is."""
    with pytest.raises(NoDigitError, match="solid bar"):
        digit(_sieved_bar(12))
    assert digit(_sieved_bar(10)).max() == pytest.approx(1.0)


def test_a_solid_bar_as_high_as_wide_or_hollow_is_left_to_the_model() -> None:
    """Not a bar: a fat 1 (upright), a stroke slanting past LINE_TILT (not filling its
    box), a flat 0 (hollow)."""
    for draw in (lambda d: d.rectangle((100, 60, 180, 220), fill=0),
                 lambda d: d.line([(40, 60), (240, 190)], fill=0, width=25),
                 lambda d: d.ellipse((30, 90, 250, 190), outline=0, width=20)):
        canvas = Image.new("L", (280, 280), 255)
        draw(ImageDraw.Draw(canvas))
        assert digit(canvas).max() == pytest.approx(1.0)


@pytest.mark.parametrize("line", [[(40, 140), (240, 150)],  # 3 degrees: a 7 at 0.67
                                  [(40, 100), (240, 180)],  # 22 degrees
                                  [(40, 140), (140, 146), (240, 140)]],  # sagging
                         ids=["dash", "slant", "sag"])
def test_a_straight_stroke_lying_flat_is_no_digit(line: list[tuple[int, int]]) -> None:
    """A dash drawn at a slant, which is no solid bar: a pen's width (12 px), or a
    marker's (25), over 200 px."""
    for width in (12, 25):
        canvas = Image.new("L", (280, 280), 255)
        ImageDraw.Draw(canvas).line(line, fill=0, width=width, joint="curve")
        with pytest.raises(NoDigitError, match="straight stroke lying flat"):
            digit(canvas)


@pytest.mark.parametrize(("rise", "flat"), [(57, True), (58, False)])
def test_a_line_tilted_under_line_tilt_lies_flat(rise: int, flat: bool) -> None:
    """LINE_TILT (30 degrees): two dots 100 px apart across and 57 up (29.7 degrees) lie
    flat; 58 up (30.1 degrees), they stand (the flat line a 1 makes is upright)."""
    clear = np.zeros((rise + 1, 101), bool)
    clear[0, 0] = clear[rise, 100] = True
    assert preprocess._flat_line(clear) == flat
    assert not preprocess._flat_line(clear[::-1].T)  # turned upright


@pytest.mark.parametrize(("thick", "flat"), [(15, True), (16, False)])
def test_a_line_thinner_than_line_thin_of_its_length_lies_flat(thick: int, flat: bool) -> None:
    """LINE_THIN (0.15): a level band 100 px long and 15 thick spreads 0.15 as much across
    as along it (by its standard deviations: (15^2 - 1) / (100^2 - 1) under 0.15^2), one
    16 thick more."""
    assert preprocess._flat_line(np.ones((thick, 100), bool)) == flat


def test_marker_thick_strokes_are_not_a_blob() -> None:
    """A 1 as wide as 40% of its height, and a 0 whose hole is a third of its width."""
    canvas = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(canvas).line([(140, 40), (140, 240)], fill=0, width=80)
    assert digit(canvas).max() == pytest.approx(1.0)
    canvas = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(canvas).ellipse([(60, 40), (220, 240)], outline=0, width=55)
    assert digit(canvas).max() == pytest.approx(1.0)


def test_training_keeps_its_digits_whatever_their_shape() -> None:
    """normalize_batch is not strict: a distorted training digit keeps its label whatever
    its shape (here ink all over the edge, a hole in the middle)."""
    blob = np.ones((1, 28, 28), np.float32)
    blob[0, 10:18, 10:18] = 0.0
    with pytest.raises(NoDigitError):
        normalize_digit(blob[0])
    assert normalize_batch(blob)[0].max() == pytest.approx(1.0)


def test_a_bold_digit_cropped_tight_is_read() -> None:
    """A marker-thick 0 cropped close: ink is 64% of the image (a share of the whole image
    once refused it), but its edge is paper."""
    image = Image.new("L", (228, 228), 255)
    ImageDraw.Draw(image).ellipse([(2, 2), (225, 225)], outline=0, width=64)
    ink = decode_image(encode(image))
    assert (ink > 0.25).mean() > 0.6
    assert normalize_digit(ink).max() == pytest.approx(1.0)


def test_a_one_pixel_wide_stroke_stays_one_pixel_wide() -> None:
    """A 1 drawn as one column of pixels 20 long is scaled by 1: not widened to two; nor
    is a row thickened (training's distorted digits can be one, not refused as a bar)."""
    ink = np.zeros((28, 28), np.float32)
    ink[4:24, 10] = 1.0
    for out in (normalize_digit(ink), normalize_digit(ink.T, strict=False).T):
        assert np.count_nonzero(out.any(axis=0)) == 1
        assert np.count_nonzero(out.any(axis=1)) == 20


@pytest.mark.parametrize("turn", [False, True], ids=["heavy foot", "heavy right side"])
def test_a_digit_heavy_on_one_side_is_moved_to_the_edge_not_cut(turn: bool) -> None:
    """The centre of mass would go past the field's edge: the digit stops at the edge,
    whole, rather than cut or kept a pixel short of it."""
    ink = np.zeros((28, 28), np.float32)
    ink[4:19, 10] = 1.0  # a stem, then a heavy foot
    ink[19:24, 4:24] = 1.0
    ink = ink.T if turn else ink
    out = normalize_digit(ink)
    out = out.T if turn else out
    assert out[0].any()  # the stem's top on the first row
    assert np.count_nonzero(out) == np.count_nonzero(ink)


def test_two_specks_apart_span_a_box() -> None:
    ink = np.zeros((28, 28), np.float32)
    ink[5, 5] = ink[20, 9] = 1.0
    assert normalize_digit(ink).max() == pytest.approx(1.0)


def test_a_short_stroke_is_still_read() -> None:
    ink = np.zeros((28, 28), np.float32)
    ink[10:13, 14] = 1.0  # MIN_EXTENT pixels
    assert normalize_digit(ink).max() == pytest.approx(1.0)


def small_digit_canvas(**dots: tuple[int, int, int, int]) -> Image.Image:
    """A small "2" (60 px) on a 280x280 canvas, plus round dots given as x, y, x2, y2."""
    image = draw_digit(size=60, at=(40, 150))
    for box in dots.values():
        ImageDraw.Draw(image).ellipse(box, fill=0)
    return image


@pytest.mark.parametrize("where", [(230, 20, 236, 26), (230, 170, 236, 176), (60, 20, 66, 26)])
def test_a_pen_tap_away_from_the_digit_is_dropped(where: tuple[int, int, int, int]) -> None:
    """A dot a brush wide, up-right, right (sharing the digit's rows) or above (sharing its
    columns): it stretched the crop, and the small digit shrank to a few pixels."""
    alone = digit(small_digit_canvas())
    np.testing.assert_array_equal(digit(small_digit_canvas(tap=where)), alone)


def test_dust_specks_around_a_small_digit_are_dropped() -> None:
    dusty = small_digit_canvas(a=(10, 10, 13, 13), b=(250, 260, 252, 262), c=(150, 60, 153, 63))
    np.testing.assert_array_equal(digit(dusty), digit(small_digit_canvas()))


def five(bar_width: int) -> tuple[Image.Image, Image.Image]:
    """A 5's body, and the 5 with its top bar drawn apart (a blank band between): the
    bar, 70 px long, holds 11% of the body's ink at width 4, 32% at 12."""
    body = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(body).line([(90, 110), (85, 150), (150, 150), (160, 200), (90, 215)],
                              fill=0, width=12, joint="curve")
    whole = body.copy()
    ImageDraw.Draw(whole).line([(100, 80), (170, 80)], fill=0, width=bar_width)
    return body, whole


@pytest.mark.parametrize("bar_width", [12, 4])
def test_a_detached_stroke_with_real_weight_is_part_of_the_digit(bar_width: int) -> None:
    """A 5's top bar drawn apart from its body: kept down to about a tenth of the body's
    ink (SPECK_REL is 8%), so the 5 is read whole."""
    body, whole = five(bar_width)
    ink = decode_image(encode(whole))
    clear = ink >= BBOX_REL * ink.max()
    assert _digit_and_marks(clear, ink)[1] == []
    assert not np.array_equal(digit(whole), digit(body))


def test_a_patch_with_speck_rel_of_the_largest_patchs_ink_is_the_digits() -> None:
    """Beside a stroke of 100 pixels, a patch apart of 8 (SPECK_REL: 8%) is part of the
    digit, boxed with it; with 7 it is a stray mark, left out."""
    ink = np.zeros((40, 40), np.float32)
    ink[10:30, 5:10] = 1.0
    ink[10:12, 20:24] = 1.0
    assert _digit_and_marks(ink >= BBOX_REL, ink) == ((10, 30, 5, 24), [])
    ink[11, 23] = 0
    assert _digit_and_marks(ink >= BBOX_REL, ink) == ((10, 30, 5, 10), [(10, 12, 20, 24)])


def test_a_mark_of_a_twentieth_of_the_digit_is_left_out() -> None:
    """Under SPECK_REL: a bar 20 px long and 2 px thick, a few percent of the ink."""
    body, _ = five(12)
    marked = body.copy()
    ImageDraw.Draw(marked).line([(100, 80), (120, 80)], fill=0, width=2)
    np.testing.assert_array_equal(digit(marked), digit(body))


@pytest.mark.parametrize("ends", [(20, 260), (60, 190), (85, 225)], ids=["rule", "under", "offset"])
def test_a_line_under_the_digit_is_left_out(ends: tuple[int, int]) -> None:
    """A line apart from the digit below it, 1.5 times as wide (the 5's body is 87 px
    wide) or more: a rule of the page, or a digit underlined, as a 6 or a 9 is."""
    body, _ = five(12)
    underlined = body.copy()
    ImageDraw.Draw(underlined).line([(ends[0], 245), (ends[1], 248)], fill=0, width=8)
    np.testing.assert_array_equal(digit(underlined), digit(body))


def two_with_its_base_apart(base_right: int) -> Image.Image:
    """A 2 whose curve is 100 px wide and whose base is drawn apart from it, below."""
    image = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(image)
    draw.line([(90, 90), (115, 60), (165, 60), (190, 90), (170, 130), (90, 190)], fill=0,
              width=12, joint="curve")
    draw.line([(95, 215), (base_right, 215)], fill=0, width=12)
    return image


@pytest.mark.parametrize("base_right", [190, 220])
def test_a_base_under_a_digit_about_its_width_is_part_of_it(base_right: int) -> None:
    """A 2's base drawn apart, as wide as its curve or a little wider (under UNDERLINE_WIDER
    times): without it the 2 is a 7."""
    ink = decode_image(encode(two_with_its_base_apart(base_right)))
    assert _digit_and_marks(ink >= BBOX_REL * ink.max(), ink)[1] == []


def test_a_line_over_the_digit_is_part_of_it() -> None:
    """A 7's bar drawn apart from its stem, however much wider than the stem, is the 7's
    when it does not span the image (OVERLINE_SPAN)."""
    image = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(image)
    draw.line([(60, 60), (220, 60)], fill=0, width=12)
    draw.line([(200, 85), (170, 230)], fill=0, width=12)
    ink = decode_image(encode(image))
    assert _digit_and_marks(ink >= BBOX_REL * ink.max(), ink)[1] == []


def test_a_bar_across_a_photo_cropped_to_a_seven_is_part_of_it() -> None:
    """Cropped to a 7 whose bar is drawn apart: the bar spans the image, but the stem runs to
    its bottom edge: no page with a rule over a digit."""
    image = Image.new("L", (200, 260), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 199, 11), fill=0)
    draw.line([(185, 40), (150, 259)], fill=0, width=12)
    ink = decode_image(encode(image))
    assert _digit_and_marks(ink >= BBOX_REL * ink.max(), ink)[1] == []


def test_a_rule_across_the_image_over_the_digit_is_left_out() -> None:
    """A rule of the page above the digit, spanning the image (OVERLINE_SPAN), while the
    digit stops short of the bottom edge: a line apart, not the digit's bar."""
    body, _ = five(12)
    ruled = body.copy()
    ImageDraw.Draw(ruled).line([(0, 40), (279, 40)], fill=0, width=6)
    ink = decode_image(encode(ruled))
    assert len(_digit_and_marks(ink >= BBOX_REL * ink.max(), ink)[1]) == 1
    np.testing.assert_array_equal(digit(ruled), digit(body))


@pytest.mark.parametrize(("height", "line"), [(5, True), (6, False)])
def test_a_line_apart_is_underline_aspect_times_as_wide_as_high_or_more(
        height: int, line: bool) -> None:
    """A patch 20 wide under a digit 10 wide (twice as wide: past UNDERLINE_WIDER) is a
    line at 4 times as wide as high (UNDERLINE_ASPECT), not at 3.3: a bar that thick is a
    digit's base, or a stroke."""
    digit_box, under = (0, 20, 0, 10), (25, 25 + height, 0, 20)
    assert (_lines_apart([digit_box, under], (40, 40)) == [under]) == line


@pytest.mark.parametrize(("digit_box", "line", "apart"), [
    ((0, 20, 0, 10), (20, 25, 12, 40), True),  # under: from the row past the digit's last
    ((0, 20, 30, 40), (25, 28, 0, 35), True),  # under, and left of the digit's right edge
    ((3, 20, 37, 40), (0, 3, 0, 36), True),  # over: to the digit's first row, 0.9 across
    ((5, 20, 0, 10), (0, 3, 2, 40), True),  # over, and right of the digit's left edge
    ((3, 20, 37, 40), (0, 3, 0, 35), False),  # short of OVERLINE_SPAN
    ((5, 38, 10, 20), (0, 2, 0, 40), True),  # the digit stops 2 rows short of the bottom
    ((5, 39, 10, 20), (0, 2, 0, 40), False),  # 1 row short: it runs to the edge (a photo)
    ((0, 20, 0, 10), (15, 22, 12, 40), False),  # beside the digit, lower: not under it
    ((3, 20, 37, 40), (0, 5, 0, 36), False),  # beside it, higher: not over it
], ids=["under", "under-left", "over", "over-right", "over-short", "over-clear-of-bottom",
        "over-to-bottom", "beside-low", "beside-high"])
def test_where_a_line_apart_may_lie(digit_box: tuple, line: tuple, apart: bool) -> None:
    """Boxes of a 40x40 image: a line below the rest starts at or past the row after its
    last, one above ends at or before its first (sharing rows, it is beside); above, it
    spans OVERLINE_SPAN of the width and the rest stops short of the bottom edge (a row
    of margin is not short)."""
    assert (_lines_apart([digit_box, line], (40, 40)) == [line]) == apart


def test_a_line_over_the_digit_spans_the_images_width_and_the_digit_its_height() -> None:
    """On an image 60 high and 40 wide, a line 36 px long spans OVERLINE_SPAN of its width,
    and a digit ending at row 45 stops short of its bottom edge; 58, it does not."""
    line = (0, 3, 0, 36)
    assert _lines_apart([(10, 45, 37, 40), line], (60, 40)) == [line]
    assert _lines_apart([(10, 59, 37, 40), line], (60, 40)) == []


@pytest.mark.parametrize(("level", "width"), [(0.2, 4), (0.25, 20)])
def test_ink_under_bbox_rel_does_not_stretch_the_box(level: float, width: int) -> None:
    """A broad smudge apart from a stroke, with half its ink or more: under BBOX_REL of
    the peak (a fifth) it is no part of the box; at BBOX_REL it is clear ink, boxed."""
    ink = np.zeros((28, 28), np.float32)
    ink[4:24, 4:8] = 1.0
    ink[4:24, 14:24] = level
    assert crop_to_ink(ink, 1.0, strict=True).shape == (20, width)


def boxed_stroke(height: int, *, width: int = 1, side: int = 56) -> np.ndarray:
    """Clear ink: a square box `side` px across, one pixel thick, round a stroke `height`
    px high and `width` wide in its middle."""
    clear = np.zeros((side, side), bool)
    clear[[0, -1], :] = clear[:, [0, -1]] = True
    top = (side - height) // 2
    clear[top : top + height, side // 2 : side // 2 + width] = True
    return clear


@pytest.mark.parametrize(("height", "inside"), [(20, True), (19, False)])
def test_what_a_box_encloses_is_the_digit_from_enclosed_ink_of_the_ink(
        height: int, inside: bool) -> None:
    """Inside a box 46 px across (180 pixels of ink), a stroke holding a tenth of the ink
    (ENCLOSED_INK) is the digit; one a pixel shorter, 9.5%, is not (a dot in a ring: a 0),
    though both span ENCLOSED_SHARE of the box."""
    clear = boxed_stroke(height, side=46)
    assert np.count_nonzero(clear) == 180 + height
    assert (_enclosed(clear) is not None) == inside


@pytest.mark.parametrize(("height", "inside"), [(24, True), (23, False)])
def test_what_a_box_encloses_spans_enclosed_share_of_it_or_more(
        height: int, inside: bool) -> None:
    """Inside a box 60 px across, a stroke 24 px high (ENCLOSED_SHARE: 0.4 of 60) is the
    digit; one a pixel shorter is a mark in a loop (a 0's), though it holds as much of
    the ink (ENCLOSED_INK)."""
    clear = boxed_stroke(height, width=2, side=60)
    assert np.count_nonzero(clear[1:-1, 1:-1]) >= 0.1 * np.count_nonzero(clear)
    assert (_enclosed(clear) is not None) == inside


@pytest.mark.parametrize(("bar", "inside"), [(24, True), (23, False)])
def test_what_a_box_encloses_spans_enclosed_share_across_too(bar: int, inside: bool) -> None:
    """Across counts as well as down: a T inside a box 60 px across, 12 px high and 24
    wide (ENCLOSED_SHARE: 0.4 of 60), is the digit; a pixel narrower, it is not."""
    clear = boxed_stroke(10, width=2, side=60)  # the T's stem, rows 25-34
    clear[23:25, 30 - bar // 2 : 30 - bar // 2 + bar] = True  # its bar, over the stem
    assert (_enclosed(clear) is not None) == inside


@pytest.mark.parametrize(("width", "inside"), [(34, True), (33, False)])
def test_a_box_is_enclosure_width_as_wide_as_high_or_more(width: int, inside: bool) -> None:
    """A box 40 px high round a stroke is unboxed when 34 px wide (ENCLOSURE_WIDTH: 0.85
    of its height) or wider; narrower, it is a 0 with a stroke inside."""
    clear = boxed_stroke(24, side=40)[:, :width]
    clear[:, -1] = True
    assert (_enclosed(clear) is not None) == inside


@pytest.mark.parametrize(("top", "inside"), [(2, True), (1, False)])
def test_what_a_box_encloses_is_clear_of_it(top: int, inside: bool) -> None:
    """A stroke inside a box with a pixel of paper between them is the digit; one touching
    the box (a stroke across a loop) is not."""
    clear = boxed_stroke(0, side=46)
    clear[top:30, 23] = True
    assert (_enclosed(clear) is not None) == inside


def test_a_box_overshooting_inwards_is_box_not_digit() -> None:
    """A box whose stroke runs on a few pixels inside at a corner: that tick is in the
    first run of ink of its columns, so it is the box's (the shell is the outer runs of
    rows or of columns), and what the box encloses is the stroke alone."""
    clear = boxed_stroke(40)
    clear[1:6, 5] = True  # the tick, down from the top edge
    inside = _enclosed(clear)
    assert inside is not None
    np.testing.assert_array_equal(inside, boxed_stroke(40) & ~boxed_stroke(0))


def first_and_last_runs(row: list[bool]) -> set[int]:
    """The columns of a row's first run of ink and of its last, read pixel by pixel."""
    ink = [i for i, pixel in enumerate(row) if pixel]
    runs: set[int] = set()
    for start, step in ((ink[0], 1), (ink[-1], -1)) if ink else ():
        i = start
        while 0 <= i < len(row) and row[i]:
            runs.add(i)
            i += step
    return runs


@pytest.mark.parametrize("seed", range(6))
def test_the_shell_of_a_row_is_its_first_and_last_run_of_ink(seed: int) -> None:
    """_outer_runs against a pixel-by-pixel reading of its docstring, on rows of many runs
    of different lengths (no row is its own mirror image, so the last run is not found by
    reading the first one backwards in the wrong place), and on a blank row, a full one and
    ink in a row's first or last pixel alone."""
    clear = np.random.default_rng(seed).random((12, 17)) < 0.55
    clear[:4] = False
    clear[1], clear[2, -1], clear[3, 0] = True, True, True
    expected = np.array([[i in first_and_last_runs(row) for i in range(len(row))]
                         for row in clear.tolist()])
    np.testing.assert_array_equal(_outer_runs(clear), expected)


def enclosed(strokes: list, around: str, *, mode: str = "RGB") -> Image.Image:
    """Strokes (fractions of 280 px) with a box, a ring or a 0 drawn round them, or nothing."""
    image = Image.new(mode, (280, 280), (0, 0, 0, 0) if mode == "RGBA" else "white")
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        draw.line([(x * 280, y * 280) for x, y in stroke], fill="black", width=12,
                  joint="curve")
    if around == "box":
        draw.rectangle((14, 14, 265, 265), outline="black", width=8)
    elif around == "ring":
        draw.ellipse((10, 10, 270, 270), outline="black", width=8)
    elif around == "0":  # a 0: taller than wide
        draw.ellipse((80, 40, 200, 240), outline="black", width=12)
    return image


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("around", ["box", "ring"])
@pytest.mark.parametrize("strokes", [ONE, SEVEN, ZERO], ids=["1", "7", "0"])
def test_a_box_or_a_ring_round_the_digit_is_left_out(strokes, around, mode) -> None:
    """A form's box, a digit circled: only the ink inside, clear of it, is the digit (a 1
    is a few of the columns)."""
    np.testing.assert_array_equal(digit(enclosed(strokes, around, mode=mode)),
                                  digit(enclosed(strokes, "none", mode=mode)))


@pytest.fixture
def box_searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Grows by one each time crop looks for a box round the ink (_enclosed)."""
    calls: list[int] = []
    monkeypatch.setattr(crop, "_enclosed", lambda clear: calls.append(1) or _enclosed(clear))
    return calls


def test_nested_boxes_are_unboxed_in_one_pass(box_searches: list[int]) -> None:
    """Boxes nested 4 px apart were taken off one at a time: 6 s on a 1024 px image."""
    ink = np.zeros((1024, 1024), np.float32)
    for k in range(0, 500, 4):
        ink[k : 1024 - k, [k, 1023 - k]] = ink[[k, 1023 - k], k : 1024 - k] = 1
    with pytest.raises(NoDigitError):  # the boxes left are a blob of ink
        normalize_digit(ink)
    assert len(box_searches) == 1


def test_a_boxed_digit_is_searched_for_a_box_once(box_searches: list[int]) -> None:
    """Unboxed, the digit is cropped again without looking for a box round it (unbox
    once: nested boxes taken off one at a time cost seconds)."""
    bare = digit(enclosed(SEVEN, "none"))
    box_searches.clear()
    np.testing.assert_array_equal(digit(enclosed(SEVEN, "box")), bare)
    assert len(box_searches) == 1


def test_noise_is_not_searched_for_a_box(monkeypatch) -> None:
    """Its rows cross too many runs of ink (BOXED_CROSSINGS): 30-40 ms more on 1024 px."""
    ink = (np.random.default_rng(0).random((1024, 1024)) < 0.05).astype(np.float32)
    calls = []
    monkeypatch.setattr(crop, "_outer_runs", lambda clear: calls.append(1))
    with pytest.raises(NoDigitError):
        normalize_digit(ink)
    assert calls == []


@pytest.mark.parametrize(("strokes", "around"), [
    ([[(0.5, 0.3), (0.5, 0.7)]], "0"),  # a 0 with a stroke inside: taller than wide
    ([[(0.15, 0.85), (0.85, 0.15)]], "ring"),  # a stroke across a ring touches it
    ([[(0.5, 0.38), (0.5, 0.62)]], "ring"),  # a mark in a ring, under ENCLOSED_SHARE across
    ([[(0.49, y), (0.51, y)] for y in (0.3, 0.4, 0.5, 0.6, 0.7)], "ring"),  # dots: too little ink
], ids=["slashed-0", "struck-through-ring", "marked-ring", "dotted-ring"])
def test_what_is_inside_a_loop_of_a_digit_stays_with_it(strokes, around) -> None:
    ink = decode_image(encode(enclosed(strokes, around)))
    clear = ink >= BBOX_REL * ink.max()
    (top, bottom, left, right), _ = _digit_and_marks(clear, ink)
    assert _enclosed(clear[top:bottom, left:right]) is None


def test_a_mark_between_pieces_of_the_digit_goes_with_its_faint_rim() -> None:
    """A blurred dot between a 5's bar and its body, so inside the digit's box: all of it
    is zeroed, the anti-aliased rim too (only its clear core once was)."""
    _, whole = five(12)
    dotted = whole.copy()
    dot = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(dot).ellipse((121, 91, 129, 99), fill=255)
    dot = dot.filter(ImageFilter.GaussianBlur(1.5))
    dotted.paste(0, mask=dot)
    ink = decode_image(encode(dotted))
    box, marks = _digit_and_marks(ink >= BBOX_REL * ink.max(), ink)
    assert len(marks) == 1
    assert box[0] < marks[0][0]  # the mark is inside the digit's box
    assert marks[0][1] < box[1]
    assert box[2] < marks[0][2]
    assert marks[0][3] < box[3]
    np.testing.assert_array_equal(digit(dotted), digit(whole))


def test_a_marks_rim_is_its_faint_ink_within_mark_rim_pixels() -> None:
    """A speck between a digit's two pieces, in a blur of faint ink (a fifth of the peak:
    over NOISE_REL, under BBOX_REL): the blur within MARK_RIM (2) pixels of it is zeroed
    with it; the faint ink a pixel further, above it or beside it, is the digit's, and
    stays."""
    ink = np.zeros((40, 40), np.float32)
    ink[2:6, 5:35] = ink[26:38, 5:35] = 1.0  # a bar and a body, apart
    ink[9:16, 16:23] = 0.2  # the blur: 3 rows above the speck and a column right of it
    ink[12:14, 18:20] = 1.0  # the speck, a few percent of the ink
    out = crop_to_ink(ink, 1.0, strict=True)  # cropped to rows 2:38, columns 5:35
    np.testing.assert_array_equal(out[10 - 2 : 16 - 2, 16 - 5 : 22 - 5], 0)
    np.testing.assert_array_equal(out[9 - 2, 16 - 5 : 23 - 5], np.float32(0.2))
    np.testing.assert_array_equal(out[10 - 2 : 16 - 2, 22 - 5], np.float32(0.2))


@pytest.mark.parametrize("turn", [False, True], ids=["above", "left"])
@pytest.mark.parametrize(("speck_top", "rim_inside"), [(7, True), (5, False)])
def test_the_rim_of_a_mark_outside_the_digits_box_is_zeroed_where_it_reaches_in(
        turn: bool, speck_top: int, rim_inside: bool) -> None:
    """A speck a blank row above the digit's box (or a column left of it): its rim, the
    faint ink within MARK_RIM pixels of it, reaches the crop's first row and is zeroed
    there, the digit's clear ink staying; 3 rows up, its rim ends outside the box, and the
    faint ink in it is the digit's."""
    ink = np.zeros((40, 40), np.float32)
    ink[10:30, 5:35] = 1.0
    ink[10:13, 15:25] = 0.2  # a faint notch in the digit's top
    ink[speck_top : speck_top + 2, 19:21] = 1.0  # the speck
    ink = ink.T if turn else ink
    out = crop_to_ink(ink, 1.0, strict=True)
    out = out.T if turn else out
    assert out.shape == (20, 30)
    near = out[0, 17 - 5 : 23 - 5]  # within 2 px of the speck's columns
    np.testing.assert_array_equal(near, 0 if rim_inside else np.float32(0.2))
    np.testing.assert_array_equal(out[0, [15 - 5, 16 - 5, 23 - 5, 24 - 5]], np.float32(0.2))
    np.testing.assert_array_equal(out[1:3, 15 - 5 : 25 - 5], np.float32(0.2))
    np.testing.assert_array_equal(out[0, : 15 - 5], 1)


@pytest.mark.parametrize("turn", [False, True], ids=["rising-above", "reaching-left"])
def test_a_mark_between_pieces_sticking_out_of_the_box_is_zeroed_inside_it(
        turn: bool) -> None:
    """A thin mark between two strokes (blank columns apart), rising 3 rows above them:
    the box is the strokes', and the part of the mark inside it is zeroed, from its first
    row down."""
    ink = np.zeros((30, 30), np.float32)
    ink[5:25, 0:4] = ink[5:25, 20:24] = 1.0
    ink[2:8, 10] = 1.0  # 6 pixels: under SPECK_REL of a stroke's 80
    ink = ink.T if turn else ink
    out = crop_to_ink(ink, 1.0, strict=True)
    out = out.T if turn else out
    assert out.shape == (20, 24)
    assert out.sum() == 160


def test_many_separate_marks_are_split_no_further_than_max_patches() -> None:
    """Texture (a dotted field): the cut stops splitting past MAX_PATCHES, so its work stays
    bounded, and keeps what it found: the regions left are whole patches."""
    clear = np.zeros((1200, 1200), bool)
    clear[::4, ::4] = True  # 300 rows of dots: too many bands
    patches = _ink_patches(clear)
    assert len(patches) == 300
    assert all(box[1] - box[0] == 1 and (box[2], box[3]) == (0, 1197) for box in patches)
    few = np.zeros((40, 40), bool)
    few[2:5, 2:5] = few[30:38, 5:9] = few[10:20, 25:39] = True
    assert sorted(_ink_patches(few)) == [(2, 5, 2, 5), (10, 20, 25, 39), (30, 38, 5, 9)]


def blobs(seed: int) -> np.ndarray:
    """A 48x48 field of a dozen random rectangles of ink, some overlapping, two at edges."""
    rng = np.random.default_rng(seed)
    clear = np.zeros((48, 48), bool)
    for _ in range(12):
        top, left = rng.integers(0, 44, size=2)
        clear[top : top + rng.integers(1, 6), left : left + rng.integers(1, 6)] = True
    clear[-2:, 20:23] = clear[20:23, -2:] = True
    return clear


def patch_cover(clear: np.ndarray, patches: list) -> np.ndarray:
    """How many patches cover each pixel, each patch checked tight: ink on its four edges."""
    cover = np.zeros(clear.shape, int)
    for top, bottom, left, right in patches:
        box = clear[top:bottom, left:right]
        assert box[[0, -1]].any(axis=1).all()
        assert box[:, [0, -1]].any(axis=0).all()
        cover[top:bottom, left:right] += 1
    assert not (clear & (cover == 0)).any()  # all the ink in some patch
    return cover


@pytest.mark.parametrize("seed", range(8))
def test_ink_patches_are_tight_boxes_with_no_blank_line_that_hold_all_the_ink_once(
        seed: int) -> None:
    """The XY cut's result read against its docstring: each patch a box with ink on each of
    its four edges and no blank row or column inside, no two overlapping, all the ink in
    them."""
    clear = blobs(seed)
    patches = _ink_patches(clear)
    assert len(patches) >= 2
    assert patch_cover(clear, patches).max() == 1
    for top, bottom, left, right in patches:
        box = clear[top:bottom, left:right]
        assert box.any(axis=1).all()
        assert box.any(axis=0).all()


def bands_of_dots(count: int) -> np.ndarray:
    """`count` bands a blank row apart, each two dots at its own place across (the bands'
    boxes are narrower than the field's), but the bottom one, a line."""
    clear = np.zeros((2 * count, 64), bool)
    for band in range(count - 1):
        clear[2 * band, [band % 20, band % 20 + 30]] = True
    clear[-2, 10:50] = True
    return clear


@pytest.mark.parametrize(("bands", "patches"), [(crop.MAX_PATCHES, crop.MAX_PATCHES + 1),
                                               (crop.MAX_PATCHES + 1, crop.MAX_PATCHES + 1)])
def test_the_cut_splits_up_to_max_patches_regions_and_keeps_what_it_found(
        bands: int, patches: int) -> None:
    """Bands of two dots: MAX_PATCHES of them are still split, the bottom line a patch and
    one band its two dots, which puts the count past MAX_PATCHES: the rest stay whole
    bands; one band more and the first cut stops it. Either way the patches found are kept
    and each is tight round its ink."""
    clear = bands_of_dots(bands)
    found = _ink_patches(clear)
    assert len(found) == patches
    assert (2 * bands - 2, 2 * bands - 1, 10, 50) in found  # the line
    patch_cover(clear, found)


def test_a_small_digit_in_a_dusty_scan_is_read_past_max_patches() -> None:
    """More specks than MAX_PATCHES: those in rows of their own are still left out (they
    once all came back into the crop, and a 2 read right at 1.00 became a 1)."""
    dusty = small_digit_canvas()
    draw = ImageDraw.Draw(dusty)
    for row in range(4, 140, 2):  # 68 bands of dust above the digit
        draw.point((20 + (row * 37) % 240, row), fill=0)
    np.testing.assert_array_equal(digit(dusty), digit(small_digit_canvas()))


def test_mnist_digits_cropped_to_their_ink_are_read(mnist_dir: Path) -> None:
    """Cropped with no margin, thin 1s are mostly edge (86% ink) and bold digits mostly ink:
    each share alone refused some; only both together mean no background."""
    from training.idx import load_split

    images = load_split(mnist_dir, "t10k").images[:1000]
    refused = []
    for i, image in enumerate(images):
        strong = image >= 0.25 * image.max()
        rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
        crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        paper = Image.fromarray(np.uint8(255 - crop * 255))
        try:
            normalize_digit(decode_image(encode(paper)))
        except InputError as exc:
            refused.append((i, str(exc)))
    assert refused == []


def test_no_mnist_digit_is_refused(mnist_dir: Path) -> None:
    """The no-digit rules sit far from MNIST: its digits' edges are paper (the limit: 60%
    ink), their longer side at least 14 pixels (the limit: 3), their widest solid square
    of ink 10 pixels (the limit: MAX_SOLID, 14)."""
    from training.idx import load_split

    refused = []
    for i, image in enumerate(load_split(mnist_dir, "t10k").images):
        try:
            normalize_digit(image)
        except InputError as exc:
            refused.append((i, str(exc)))
    assert refused == []


def test_mnist_digits_as_they_are_are_taken_and_inverted_ones_refused(mnist_dir: Path) -> None:
    """normalize=false's check (check_as_is): MNIST's own digits, and the same digits once
    normalised, all pass; dark ink on white (255 - level, the commonest mistake) never does."""
    from training.idx import load_split

    images = load_split(mnist_dir, "t10k").images
    for image in [*images, *map(normalize_digit, images[:1000])]:
        check_as_is(image)
    for image in 1 - images[:1000]:
        with pytest.raises(NoDigitError, match="no background"):
            check_as_is(image)


@pytest.mark.parametrize("paper", [0.4, 1.0])
def test_dark_ink_on_grey_paper_has_no_background_as_it_is(paper: float) -> None:
    """Clear ink is read against the map's own peak: dark strokes on paper at 0.4 (a
    low-contrast dark-on-light picture) are all ink too, as on white."""
    ink = np.full((28, 28), paper, np.float32)
    ink[6:22, 12:16] = 0
    with pytest.raises(NoDigitError, match="no background"):
        check_as_is(ink)


@pytest.mark.parametrize(("grey", "empty"), [(20, True), (30, False)])
def test_ink_under_a_tenth_of_full_is_a_blank_drawing(grey: int, empty: bool) -> None:
    """EMPTY_PEAK: a peak of 20 grey levels (0.078) is blank paper, 30 (0.118) is a drawing."""
    ink = np.zeros((28, 28), np.float32)
    ink[6:22, 12:16] = grey / 255
    if empty:
        with pytest.raises(EmptyDrawingError):
            normalize_digit(ink)
    else:
        assert normalize_digit(ink).max() == pytest.approx(1.0)


def test_faint_specks_are_empty() -> None:
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).point([(10, 10), (200, 100)], fill=250)
    with pytest.raises(EmptyDrawingError):
        digit(image)


def test_transparent_blank_canvas_is_empty() -> None:
    with pytest.raises(EmptyDrawingError):
        digit(Image.new("RGBA", (280, 280), (0, 0, 0, 0)))


def test_animated_gif_is_refused() -> None:
    frames = [draw_digit(), draw_digit(at=(10, 10))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    with pytest.raises(ImageDecodeError, match="animated"):
        decode_image(data)


def test_animated_png_is_refused() -> None:
    frames = [draw_digit(), draw_digit(at=(10, 10))]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageDecodeError, match="animated"):
        decode_image(data)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming huge dimensions with almost no data: a decompression bomb's shape."""
    return raw_png(width, height, zlib.compress(b"\0" * 1024))


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (20_000, 20_000), (5000, 4000)])
def test_huge_dimensions_are_refused_before_decoding(width: int, height: int) -> None:
    """Our limit is the one named, also past Pillow's own (89 M pixels), checked first."""
    refused = r"^image is .* pixels.*; the limit is 16,777,216$"
    with pytest.raises(ImageTooLargeError, match=refused):
        decode_image(png_header_only(width, height))


@pytest.mark.parametrize(("width", "height"), [(1, 16_777_216), (16_385, 2), (2, 16_385)])
def test_a_side_over_max_edge_is_refused_within_the_pixel_limit(width: int, height: int) -> None:
    """1 x 16,777,216 is within 4096x4096 pixels, but its rows took 0.9 s to decode."""
    with pytest.raises(ImageTooLargeError, match=f"at most {MAX_EDGE}"):
        decode_image(png_header_only(width, height))


def test_the_longest_allowed_side_decodes() -> None:
    image = Image.new("L", (MAX_EDGE, 3), 255)
    ImageDraw.Draw(image).line([(100, 1), (MAX_EDGE - 100, 1)], fill=0, width=1)
    assert decode_image(encode(image)).shape == (1, 1024)


def test_the_border_is_sampled_on_long_sides() -> None:
    """The background is found from at most RING_SAMPLES pixels a side, still the paper's."""
    image = Image.new("RGB", (MAX_EDGE, 64), "white")
    ImageDraw.Draw(image).rectangle([(0, 0), (MAX_EDGE // 3, 63)], fill=(200, 200, 200))
    ImageDraw.Draw(image).line([(9000, 10), (9000, 50)], fill="black", width=8)
    ink = decode_image(encode(image))
    assert ink[:, -10:].max() == 0  # white is the median of the ring: paper, not ink
    strongest = np.unravel_index(ink.argmax(), ink.shape)[1] * MAX_EDGE / ink.shape[1]
    assert abs(strongest - 9000) <= 16  # the stroke, reduced 16:1


def test_image_pixels_reads_the_header_alone() -> None:
    assert image_pixels(png_header_only(8_000, 10_000)) == 80_000_000  # never decoded
    with pytest.raises(ImageTooLargeError):  # past Pillow's own bomb limit
        image_pixels(png_header_only(20_000, 30_000))
    assert image_pixels(encode(draw_digit(canvas=100, size=80, at=(10, 10)))) == 10_000
    with pytest.raises(ImageDecodeError):
        image_pixels(b"not an image at all")


def test_max_pixels_is_enforced() -> None:
    data = encode(draw_digit(canvas=100, size=80, at=(10, 10)))
    assert decode_image(data, max_pixels=10_000).shape == (100, 100)
    with pytest.raises(ImageTooLargeError, match="limit is 9,999"):
        decode_image(data, max_pixels=9999)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, bytes(range(256)) * 8],
)
def test_garbage_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(data)


def test_png_with_a_text_chunk_bomb_is_too_large() -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * (PngImagePlugin.MAX_TEXT_CHUNK + 10), zip=True)
    data = encode(draw_digit(), pnginfo=info)
    assert len(data) < 200_000  # small on the wire, huge once inflated
    with pytest.raises(ImageTooLargeError):
        decode_image(data)


def test_damaged_png_says_so() -> None:
    data = bytearray(encode(draw_digit()))
    data[29] ^= 0xFF  # inside IHDR: the CRC no longer matches
    with pytest.raises(ImageDecodeError, match="damaged PNG"):
        decode_image(bytes(data))


def test_truncated_png_is_refused() -> None:
    data = encode(draw_digit())
    with pytest.raises(ImageDecodeError):
        decode_image(data[: len(data) // 2])


def test_unsupported_format_is_refused() -> None:
    with pytest.raises(ImageDecodeError):
        decode_image(encode(draw_digit(), "BMP"))


def test_non_bytes_are_refused() -> None:
    with pytest.raises(ImageDecodeError):
        decode_image("a string")  # type: ignore[arg-type]


def test_one_pixel_image_is_empty_not_a_crash() -> None:
    with pytest.raises(EmptyDrawingError):
        digit(Image.new("L", (1, 1), 0))


def test_very_wide_image_is_read_as_drawn_then_refused_as_a_bar() -> None:
    image = Image.new("L", (10000, 10), 255)
    ImageDraw.Draw(image).line([(2000, 5), (8000, 5)], fill=0, width=3)
    ink = decode_image(encode(image))
    with pytest.raises(NoDigitError, match="solid bar"):  # a line is no digit
        normalize_digit(ink)
    out = normalize_digit(ink, strict=False)  # as training would read it
    assert out.shape == (28, 28)
    assert out.max() == pytest.approx(1.0)
    assert (out > 0.5).any(axis=1).sum() <= 2  # still a flat horizontal bar
    assert (out > 0.5).any(axis=0).sum() >= 18


@pytest.mark.parametrize("size", [(3000, 2), (1025, 1), (2, 3000)])
def test_thin_jpeg_is_reduced_without_a_crash(size: tuple[int, int]) -> None:
    """A side that scales below one pixel (2 x 1024/3000) once asked JPEG's draft for 0."""
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).line([(0, 0), (size[0] - 1, size[1] - 1)], fill=0, width=1)
    ink = decode_image(encode(image, "JPEG"))
    assert max(ink.shape) <= 1024
    assert min(ink.shape) >= 1


def test_wide_image_reduced_for_speed_keeps_the_digit(reference: np.ndarray) -> None:
    image = draw_digit(canvas=3000, size=2000, at=(500, 400))
    assert decode_image(encode(image)).shape == (1024, 1024)
    assert_close(digit(image), reference, mad=0.02, corr=0.97)


def test_pixels_to_ink_accepts_784_or_28x28() -> None:
    flat = np.arange(784) % 256
    ink = pixels_to_ink(flat.tolist())
    assert ink.shape == (28, 28)
    assert ink.dtype == np.float32
    np.testing.assert_allclose(pixels_to_ink(flat.reshape(28, 28)), ink)
    np.testing.assert_allclose(ink.ravel(), flat / 255, atol=1e-6)


def test_a_list_of_pixels_reads_as_numpy_reads_them() -> None:
    """A flat list is packed by struct, not read by NumPy: the same float32 levels, to the bit
    (levels between two float32s rounded alike), and what struct refuses NumPy still reads."""
    levels = np.random.default_rng(0).random(784) * 255
    levels[:4] = [1 + 2**-24, 1 + 3 * 2**-24, 254.99999999, 0.0]  # float32 halfway cases
    for pixels in (levels.tolist(), np.round(levels).astype(int).tolist(), [True] * 784,
                   [np.float64(0.5)] * 784, ["3"] * 784):
        ink = pixels_to_ink(pixels)
        assert ink.tobytes() == pixels_to_ink(np.array(pixels, dtype=np.float32)).tobytes()
        assert ink.shape == (28, 28)
        assert ink.dtype == np.float32


@pytest.mark.parametrize(
    "pixels",
    [[0] * 783, [0] * 785, [[0] * 28] * 27, [300] + [0] * 783, [256] + [0] * 783,
     [-1] + [0] * 783,
     [float("nan")] + [0] * 783, [1e300] + [0] * 783, [None] * 784,
     ["a"] * 784, np.zeros((28, 28, 1))],
)
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e300
def test_pixels_to_ink_refuses_bad_input(pixels: object) -> None:
    with pytest.raises(InputError):
        pixels_to_ink(pixels)


def test_mnist_like_input_is_nearly_unchanged(reference: np.ndarray) -> None:
    assert_close(normalize_digit(reference), reference, mad=0.005, corr=0.995)
    pixels = (reference * 255).round().ravel().tolist()
    assert_close(normalize_digit(pixels_to_ink(pixels)), reference, mad=0.005, corr=0.995)


def test_off_centre_28x28_is_recentred(reference: np.ndarray) -> None:
    shifted = np.zeros((28, 28), dtype=np.float32)
    shifted[8:, 8:] = reference[4:24, 4:24]  # the digit pushed to the bottom right
    assert_close(normalize_digit(shifted), reference, mad=0.01, corr=0.98)


@pytest.mark.parametrize(("bad", "words"), [
    (np.zeros(10), "2-D ink map"), (np.zeros((2, 3, 4)), "2-D ink map"),
    (np.ones(10), "2-D ink map"), (np.zeros((0, 28)), "2-D ink map"),
    (np.full((5, 5), np.nan), "NaN or infinite"),
])
def test_normalize_digit_refuses_bad_arrays(bad: np.ndarray, words: str) -> None:
    """Refused for what they are, not as blank drawings (EmptyDrawingError is an
    InputError too, and all zeros would be one)."""
    with pytest.raises(InputError, match=words):
        normalize_digit(bad)


@pytest.mark.parametrize(("gain", "offset"), [(1.6, 0.0), (1.0, -0.3), (1.6, -0.3)],
                         ids=["over 1", "under 0", "both"])
def test_ink_out_of_range_is_read_as_clipped(reference: np.ndarray, gain: float,
                                            offset: float) -> None:
    """An ink map past [0, 1] (an interpolation's overshoot) is read as clipped to it."""
    strayed = reference * gain + offset
    assert strayed.min() < 0 or strayed.max() > 1
    np.testing.assert_array_equal(normalize_digit(strayed),
                                  normalize_digit(np.clip(strayed, 0, 1)))


@pytest.mark.parametrize("bad", [np.zeros((28, 28)), np.zeros((1, 1, 28, 28))])
def test_normalize_batch_refuses_what_is_no_stack_of_images(bad: np.ndarray) -> None:
    with pytest.raises(InputError, match=r"expected \(N, H, W\) images"):
        normalize_batch(bad)


def test_normalize_batch_matches_single_and_keeps_blanks_blank(reference: np.ndarray) -> None:
    shifted = np.roll(reference, (3, -2), axis=(0, 1))
    batch = np.stack([shifted, np.zeros((28, 28), np.float32)])
    out = normalize_batch(batch)
    assert out.shape == (2, 28, 28)
    np.testing.assert_allclose(out[0], normalize_digit(shifted))
    assert not out[1].any()


if __name__ == "__main__":
    write_golden()


@pytest.mark.parametrize(("peak", "empty"), [(0.1, False), (0.0999, True)])
def test_a_peak_of_a_tenth_is_ink_and_under_it_blank(peak: float, empty: bool) -> None:
    """EMPTY_PEAK at its bound: a peak of exactly 0.1 is a drawing, just under it blank."""
    ink = np.zeros((28, 28))
    ink[6:22, 12:16] = peak
    if empty:
        with pytest.raises(EmptyDrawingError):
            ink_peak(ink)
    else:
        assert ink_peak(ink) == peak


@pytest.mark.parametrize(("paper", "refused"), [(0.25, True), (0.24, False)])
def test_paper_at_bbox_rel_of_the_peak_is_clear_ink_as_it_is(paper: float,
                                                             refused: bool) -> None:
    """check_as_is: paper at exactly BBOX_REL of the peak is clear ink (no background
    left); a shade under it is background."""
    ink = np.full((28, 28), paper, np.float32)
    ink[6:22, 12:16] = 1.0
    if refused:
        with pytest.raises(NoDigitError, match="no background"):
            check_as_is(ink)
    else:
        check_as_is(ink)


def refused_or_read(ink: np.ndarray, refusal: str | None) -> None:
    """normalize_digit refuses the ink with a message holding `refusal`, or (None) reads it,
    its peak stretched to 1."""
    if refusal:
        with pytest.raises(NoDigitError, match=refusal):
            normalize_digit(ink)
    else:
        assert normalize_digit(ink).max() == pytest.approx(1.0)


@pytest.mark.parametrize(("width", "bar"), [(150, True), (149, False)])
def test_a_solid_bar_is_bar_aspect_times_as_wide_as_high_or_more(width: int,
                                                                 bar: bool) -> None:
    """BAR_ASPECT at its bound: a solid block 100 high and 150 wide is a bar, 149 wide is
    left to the model."""
    ink = np.zeros((280, 280), np.float32)
    ink[90:190, 50 : 50 + width] = 1.0
    refused_or_read(ink, "solid bar" if bar else None)


def test_a_faint_bar_is_read_against_its_own_peak() -> None:
    """A bar drawn at 0.4 whose every other row is at 0.12: over a quarter of its peak,
    those are its ink too (a quarter of full ink, 0.25, would leave it half empty). The
    flat-line check reads the same clear ink."""
    ink = np.zeros((120, 120), np.float32)
    ink[40:80, 20:100] = 0.4
    ink[40:80:2, 20:100] = 0.12
    refused_or_read(ink, "solid bar")


def test_the_shorter_side_is_scaled_to_the_nearest_pixel() -> None:
    """Aspect kept: a block 60 wide and 41 high becomes 20 by 13.67, so 14 rows, not 13."""
    ink = np.zeros((100, 100), np.float32)
    ink[20:61, 20:80] = 1.0
    out = normalize_digit(ink, strict=False)
    assert np.count_nonzero(out.any(axis=1)) == 14
    assert np.count_nonzero(out.any(axis=0)) == 20


@pytest.mark.parametrize(("holes", "bar"), [(480, True), (481, False)])
def test_a_bar_is_solid_from_exactly_bar_fill_of_its_box(holes: int, bar: bool) -> None:
    """BAR_FILL at its bound: a 40x80 band with 480 one-pixel holes (85% ink exactly) is a
    bar, with one hole more it is left to the model."""
    ink = np.zeros((120, 120), np.float32)
    ink[40:80, 20:100] = 1.0
    spots = [(y, x) for y in range(42, 78, 2) for x in range(22, 98, 2)][:holes]
    assert len(spots) == holes
    ink[tuple(np.array(spots).T)] = 0.0
    refused_or_read(ink, "solid bar" if bar else None)


@pytest.mark.parametrize("light_end", [0, 19], ids=["light top", "light foot"])
@pytest.mark.parametrize("turn", [False, True], ids=["rows", "columns"])
def test_the_centre_of_mass_lands_within_half_a_pixel_of_the_centre(light_end: int,
                                                                    turn: bool) -> None:
    """CENTRE: a stroke 20 long (scaled by 1) whose centre of mass is 9.45 or 9.55 down it
    is shifted by the nearest whole pixel, to 14.45 or 13.55, never half a pixel or more
    from 14."""
    ink = np.zeros((28, 28), np.float32)
    ink[4:24, 10] = 1.0
    ink[4 + light_end, 10] = 1 - 1 / 9.55  # the centre of mass 0.05 off a half pixel
    ink = ink.T if turn else ink
    out = normalize_digit(ink, strict=False)
    out = out.T if turn else out
    rows = out.sum(axis=1)
    centre = float(rows @ np.arange(28)) / float(rows.sum())
    assert abs(centre - 14) < 0.5
    assert abs(centre - 14) > 0.4  # the case it tests: off by a fraction near a half


@pytest.mark.parametrize(("width", "blob"), [(70, True), (65, False)])
def test_a_solid_block_as_narrow_as_max_solid_once_scaled_is_a_blob(width: int,
                                                                    blob: bool) -> None:
    """MAX_SOLID where the scaled block is exactly that narrow: 100x70 (20x14 once scaled)
    is a blob, though the square fits in it with nothing to spare; 100x65 (20x13) is not."""
    ink = np.zeros((280, 280), np.float32)
    ink[90:190, 100 : 100 + width] = 1.0
    refused_or_read(ink, "solid blob" if blob else None)


@pytest.mark.parametrize(("gain", "offset"), [(1.6, 0.0), (1.0, -0.3)], ids=["over 1", "under 0"])
def test_ink_out_of_range_scaled_down_is_read_as_clipped(gain: float, offset: float) -> None:
    """As for a 28x28 map, but resampled (a 40 px tall 7 with a lighter smudge, scaled
    by a half): what is over 1 is clipped to 1 before Lanczos blurs it into its edges."""
    ink = np.zeros((56, 56), np.float32)
    ink[8:48, 20:26] = 1.0
    ink[8:14, 14:26] = 1.0
    ink[30:40, 10:30] += 0.5
    strayed = ink * gain + offset
    assert strayed.max() > 1
    np.testing.assert_array_equal(normalize_digit(strayed),
                                  normalize_digit(np.clip(strayed, 0, 1)))
