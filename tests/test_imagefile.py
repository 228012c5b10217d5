"""digitnet.imagefile at its bounds: the JPEG scan and EXIF limits, Pillow's own bomb refusals
named as ours, the signatures a damaged file is named by, the pixel modes reduced to basic
ones, and the sizes a big image is reduced to. (Written against the mutants of imagefile.py
that tests/test_preprocess.py, test_api.py and test_reliability.py let survive.)"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from api_helpers import encode, raw_png
from digitnet import imagefile
from digitnet.errors import ImageDecodeError, ImageTooLargeError
from digitnet.imagefile import _eight_bits, _to_basic_mode, decode_image, signature_format
from PIL import ExifTags, Image, ImageDraw, JpegImagePlugin, PngImagePlugin
from test_preprocess import draw_digit, exif_with_thumbnail, progressive_jpeg


@pytest.mark.parametrize(("scans", "refused"), [(32, False), (33, True)])
def test_a_jpeg_of_32_progressive_scans_is_read_and_one_more_is_refused(scans: int,
                                                                         refused: bool) -> None:
    """32 scans cost 0.35 s at 4096x4096 (libjpeg's own scripts write 6 to 18): the limit
    counts the scans themselves, not one less nor one more."""
    data = progressive_jpeg(draw_digit(canvas=64, size=40, at=(10, 10), mode="RGB"),
                            scans=scans)
    assert data.count(b"\xff\xda") == scans
    if refused:
        with pytest.raises(ImageTooLargeError, match=f"has {scans} progressive scans"):
            decode_image(data)
    else:
        assert decode_image(data).shape == (64, 64)


@pytest.mark.parametrize("stray", [b"\xff\xd8", b"\xff\x01", b"\xff\xd0", b"\xff\xd7",
                                   b"\xff\xff\xff"],
                         ids=["start of image", "TEM", "RST0", "RST7", "fill bytes"])
def test_a_marker_without_a_length_hides_no_scans(stray: bytes) -> None:
    """Start-of-image, TEM and the restart markers carry no length field, and fill bytes
    (0xFF runs) are no marker: read as if they had one, the two bytes after them (the next
    marker, FF DA: 65,498) would skip the rest of the file and its last scan. (Past the
    first scan, where Pillow's header parser does not look and the count still does.)"""
    data = progressive_jpeg(draw_digit(canvas=64, size=40, at=(10, 10), mode="RGB"), scans=33)
    last_scan = data.rindex(b"\xff\xda")
    data = data[:last_scan] + stray + data[last_scan:]
    with pytest.raises(ImageTooLargeError, match="has 33 progressive scans"):
        imagefile.image_pixels(data)


def test_scans_are_counted_when_the_exif_comes_first_as_cameras_write_it() -> None:
    """No JFIF segment: the file's first marker, right after start-of-image, is the APP1
    holding the EXIF and its thumbnail; skipped by its length, the thumbnail's scans and
    end-of-image inside it do not stop the picture's 33 from being counted."""
    thumbnail = progressive_jpeg(draw_digit().resize((40, 40)))
    data = progressive_jpeg(draw_digit(canvas=64, size=40, at=(10, 10), mode="RGB"), scans=33)
    jfif_end = 4 + int.from_bytes(data[4:6], "big")
    data = data[:2] + exif_with_thumbnail(thumbnail) + data[jfif_end:]
    assert data[2:4] == b"\xff\xe1"
    with pytest.raises(ImageTooLargeError, match="has 33 progressive scans"):
        imagefile.image_pixels(data)


def test_what_follows_the_first_end_of_image_is_not_counted() -> None:
    """libjpeg stops at end-of-image, which has no length field either: another picture's
    40 scans after it (as an MPO's previews follow its main picture) are never decoded."""
    main = progressive_jpeg(draw_digit(canvas=64, size=40, at=(10, 10), mode="RGB"))
    data = main + bytes(2) + progressive_jpeg(draw_digit(canvas=32, size=20, at=(5, 5)),
                                              scans=40)
    assert data.count(b"\xff\xda") == 10 + 40
    assert imagefile.image_pixels(data) == 64 * 64
    assert decode_image(data).shape == (64, 64)


def webp_with_exif(exif: bytes) -> bytes:
    """A 64x40 WebP (a dark bar at its top) carrying `exif`."""
    image = Image.new("RGB", (64, 40), "white")
    ImageDraw.Draw(image).rectangle([(8, 4), (56, 10)], fill="black")
    return encode(image, "WEBP", exif=exif, lossless=True)


def turned_exif(size: int) -> bytes:
    """EXIF padded to `size` bytes saying Orientation 6: the 64x40 picture turned a
    quarter, upright it is 40 wide and 64 high."""
    ifd = struct.pack("<HHIHH", ExifTags.Base.Orientation, 3, 1, 6, 0)
    exif = b"II*\0" + struct.pack("<IH", 8, 1) + ifd + bytes(4)
    return exif + bytes(size - len(exif))


@pytest.mark.parametrize(("size", "turned"), [(65_535, True), (65_536, False)])
def test_exif_of_65535_bytes_is_read_and_one_byte_more_is_not(size: int, turned: bool) -> None:
    """A JPEG's APP1 segment holds 65,535 bytes at most: EXIF that fits is read for its
    Orientation, a byte more and the picture is taken as stored."""
    data = webp_with_exif(turned_exif(size))
    assert len(Image.open(io.BytesIO(data)).info["exif"]) == size
    assert decode_image(data, whole=True).shape == ((64, 40) if turned else (40, 64))


def test_exif_pillow_cannot_read_leaves_the_picture_as_stored() -> None:
    """A WebP's EXIF that is no TIFF at all: Pillow's getexif raises (SyntaxError); the
    pixels are fine, only the metadata is not, so the picture is read as stored."""
    data = webp_with_exif(b"garbage1234")
    with pytest.raises(SyntaxError):
        Image.open(io.BytesIO(data)).getexif()
    assert decode_image(data, whole=True).shape == (40, 64)


def test_a_header_in_pillows_warning_range_is_refused_with_our_limit_named() -> None:
    """Pillow warns from 89,478,485 pixels and raises from twice that: 10,000 x 10,000 is
    its warning, refused like its error, naming the limit that is ours."""
    data = raw_png(10_000, 10_000, zlib.compress(bytes(1024)))
    refused = r"^image is over 89,478,485 pixels .*; the limit is 16,777,216$"
    with pytest.raises(ImageTooLargeError, match=refused):
        decode_image(data)
    with pytest.raises(ImageTooLargeError, match=refused):
        imagefile.image_pixels(data)


def test_text_chunks_over_pillows_total_are_refused_as_too_large() -> None:
    """Each chunk under Pillow's MAX_TEXT_CHUNK, all of them over its MAX_TEXT_MEMORY:
    Pillow says "too much memory", a bomb (413), not a damaged file (422)."""
    info = PngImagePlugin.PngInfo()
    for k in range(PngImagePlugin.MAX_TEXT_MEMORY // PngImagePlugin.MAX_TEXT_CHUNK + 1):
        info.add_text(f"note{k}", "x" * (PngImagePlugin.MAX_TEXT_CHUNK - 10), zip=True)
    data = encode(Image.new("L", (16, 16), 255), pnginfo=info)
    with pytest.raises(ImageTooLargeError, match=r"(?i)too much memory"):
        decode_image(data)


@pytest.mark.parametrize("refusal", [MemoryError, Image.DecompressionBombError,
                                     Image.DecompressionBombWarning])
def test_running_out_of_memory_or_a_bomb_found_while_decoding_is_too_large(
        monkeypatch: pytest.MonkeyPatch, refusal: type[BaseException]) -> None:
    """Pillow's bomb refusals and MemoryError are the image's size (413) wherever they come
    from, never a server error nor a damaged file (422)."""
    def refused(self: Image.Image) -> None:
        raise refusal("no")

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", refused)
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        decode_image(encode(Image.new("L", (16, 16), 255)))


VALID = {"PNG": encode(Image.new("L", (16, 16), 255)),
         "JPEG": encode(Image.new("L", (16, 16), 255), "JPEG"),
         "GIF": encode(Image.new("L", (16, 16), 255), "GIF"),
         "WebP": encode(Image.new("L", (16, 16), 255), "WEBP")}


@pytest.mark.parametrize("name", sorted(VALID))
def test_a_file_cut_after_its_signature_is_a_damaged_file_of_that_format(name: str) -> None:
    """The first bytes name the format (WebP's at 8 to 12, after RIFF and a length): the
    422 says which file is damaged rather than "not an image"."""
    data = VALID[name][:16]
    assert signature_format(data) == name
    with pytest.raises(ImageDecodeError, match=f"^damaged {name} image$"):
        decode_image(data)


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a", b"\xff\xd8\xfe", b"GIF7",
                                  b"RIFF\0\0\0\0WEBX", b"RIFX\0\0\0\0WEBP", b"\0RIFF\0\0\0WEBP"])
def test_a_signature_a_byte_off_names_no_format(data: bytes) -> None:
    assert signature_format(data + bytes(8)) is None
    with pytest.raises(ImageDecodeError, match=r"^not a PNG, JPEG, WebP or GIF image$"):
        decode_image(data + bytes(8))


@pytest.mark.parametrize(("data", "message"), [(b"", "expected non-empty image bytes"),
                                               (b"\x89", "not a PNG, JPEG, WebP or GIF image")])
def test_no_bytes_are_refused_as_such_and_one_byte_as_no_image(data: bytes, message: str) -> None:
    with pytest.raises(ImageDecodeError, match=f"^{message}$"):
        decode_image(data)


@pytest.mark.parametrize(("mode", "basic"), [
    ("L", "L"), ("LA", "LA"), ("RGB", "RGB"), ("RGBA", "RGBA"),
    ("1", "RGB"), ("P", "RGB"), ("PA", "RGBA"), ("RGBa", "RGBA"), ("CMYK", "RGB"),
    ("I;16", "L"), ("I;16B", "L"), ("I", "L"), ("F", "L"),
])
def test_every_mode_is_reduced_to_a_basic_one(mode: str, basic: str) -> None:
    """L, LA, RGB and RGBA as they are; 16-bit, 32-bit and float grey as L; the rest as RGB,
    or as RGBA when they see through (an alpha band, premultiplied or not)."""
    image = Image.new(mode, (4, 4))
    reduced = _to_basic_mode(image)
    assert reduced.mode == basic
    if mode == basic:
        assert reduced is image


def test_a_palette_with_a_transparent_colour_is_read_with_its_alpha() -> None:
    image = Image.new("P", (4, 4))
    image.info["transparency"] = 0
    assert _to_basic_mode(image).mode == "RGBA"


def test_32_bit_grey_is_clipped_to_sixteen_bits_then_divided_by_257() -> None:
    """Mode I comes from none of FORMATS: clipped to 0..65535, as 16-bit grey is read."""
    values = np.array([[-5, -1, 0, 256, 257, 65535, 65536, 70000]], np.int32)
    assert np.asarray(_eight_bits(Image.fromarray(values, "I"))).tolist() == [
        [0, 0, 0, 0, 1, 255, 255, 255]]


@pytest.mark.parametrize(("values", "levels"), [
    ([0.0, 65535.0, 131070.0], [0, 127, 255]),  # the peak scaled to 65535
    ([0.0, 0.5, 1.0], [0, 127, 255]),
    ([257 / 512, 32896 / 65535], [127, 128]),  # 32895.5 and 32896: 257 * 128 is 32896
    ([0.0, 0.25, 0.5], [0, 63, 127]),  # a peak under 1.0 is not scaled up
])
def test_float_grey_is_scaled_so_its_peak_is_65535_from_a_peak_of_one(
        values: list[float], levels: list[int]) -> None:
    image = Image.fromarray(np.array([values], np.float32), "F")
    assert np.asarray(_eight_bits(image)).tolist() == [levels]


@pytest.mark.parametrize(("size", "shape"), [((3000, 2000), (683, 1024)),
                                             ((2000, 3000), (1024, 683)),
                                             ((3000, 1), (1, 1024)), ((1, 3000), (1024, 1))])
def test_a_big_image_is_reduced_to_1024_on_its_longer_side_the_other_rounded(
        size: tuple[int, int], shape: tuple[int, int]) -> None:
    """2000 * 1024 / 3000 is 682.67: 683 rows; a side that scales under one pixel keeps one."""
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).line([(0, 0), (size[0] - 1, size[1] - 1)], fill=0, width=9)
    assert decode_image(encode(image), whole=True).shape == shape


def test_a_big_jpeg_is_decoded_reduced_by_libjpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    """JPEG's draft decodes at 1/2, 1/4 or 1/8 for free: asked for the size the longer side
    is reduced to (4096x2048 to 1024x512), it decodes no more pixels than that needs."""
    asked: list[tuple[int, int]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Image.Image, mode: str | None, size: tuple[int, int] | None) -> object:
        asked.append(size)
        return draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    image = Image.new("L", (4096, 2048), 255)
    ImageDraw.Draw(image).line([(1000, 500), (3000, 1500)], fill=0, width=40)
    assert decode_image(encode(image, "JPEG"), whole=True).shape == (512, 1024)
    assert asked == [(1024, 512)]
