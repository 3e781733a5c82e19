"""Photo intake against a hostile set built here: bombs, lies about type, damage and metadata.

Every accepted input is checked rendition by rendition: a baseline JPEG that re-opens, carries
no metadata segment or trailing byte, is upright, fits its size and matches its hash.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import warnings
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFile, ImageOps, ImageStat, PngImagePlugin

from mi_portal.services import images
from mi_portal.services.images import (
    ALLOWED_FORMATS,
    MAX_BYTES,
    MAX_PIXELS,
    PREVIEW_EDGE,
    REASON_DAMAGED,
    REASON_EMPTY,
    REASON_TOO_BIG,
    REASON_TOO_MANY_PIXELS,
    REASON_WRONG_TYPE,
    THUMBNAIL_EDGE,
    ImageRejected,
    ProcessedImage,
    Rendition,
    process_image,
    sanitise_display_name,
)
from tests.blur import detail, detailed_jpeg, difference

RED = (220, 20, 20)
BLUE = (20, 20, 220)
GREEN = (20, 200, 20)
YELLOW = (230, 220, 20)

FORBIDDEN_BYTES = (b"GPS", b"Exif", b"<x:xmpmeta", b"Author", b"<script", b"<html")
# All a re-opened bare baseline JPEG from Pillow may report about itself.
HARMLESS_INFO_KEYS = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
# SOI is read before the walk; then APP0 (JFIF), DQT, SOF0 (baseline), DHT, SOS.
BARE_JPEG_MARKERS = {0xE0, 0xDB, 0xC0, 0xC4, 0xDA}

XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="51,30.44N" exif:GPSLongitude="0,7.66W"/></rdf:RDF></x:xmpmeta>'
    b'<?xpacket end="w"?>'
)
POLYGLOT_TAIL = b"<html><script>alert(1)</script></html>"


# --- building inputs -----------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def quadrants(size: tuple[int, int] = (400, 200)) -> Image.Image:
    """Red, blue / green, yellow quadrants: every flip and turn gives a different layout."""
    width, height = size
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (width // 2, 0, width, height // 2))
    image.paste(GREEN, (0, height // 2, width // 2, height))
    image.paste(YELLOW, (width // 2, height // 2, width, height))
    return image


def gradient(size: tuple[int, int]) -> Image.Image:
    """A smooth, deterministic picture of any size."""
    across = Image.linear_gradient("L").rotate(90).resize(size)
    down = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (across, down, Image.new("L", size, 90)))


def camera_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: orientation, make, model, time and a GPS position."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Pocket Camera 3"
    exif[0x0132] = "2026:03:14 15:09:26"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 26.4)
    gps[3] = "W"
    gps[4] = (0.0, 7.0, 39.9)
    return exif


def srgb_icc() -> bytes | None:
    """An sRGB ICC profile, or None where Pillow was built without LittleCMS."""
    try:
        from PIL import ImageCms
    except ImportError:
        return None
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    """A real PNG whose IHDR now declares another size, with a valid CRC so it still parses."""
    assert data[12:16] == b"IHDR"
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    return data[:8] + png_chunk(b"IHDR", bytes(ihdr)) + data[33:]


def with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """A real baseline JPEG whose frame header now declares another size."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def single_colour_png(width: int, height: int) -> bytes:
    """A valid greyscale PNG that compresses to almost nothing: the classic decompression bomb."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte, then the pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def flip_byte_inside(data: bytes, chunk: bytes) -> bytes:
    """The file with one byte of a chunk's payload inverted, as a bad disk or transfer would."""
    at = data.index(chunk) + len(chunk) + 8
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def zipped_text(key: str, value: str) -> PngImagePlugin.PngInfo:
    """A compressed PNG text chunk; a huge one is a decompression bomb of its own."""
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value, zip=True)
    return info


def small_png() -> bytes:
    return encode(Image.new("L", (1, 1), 128), "PNG")


def jpeg_with_everything(orientation: int = 6) -> bytes:
    """A camera JPEG carrying EXIF with GPS, XMP, an ICC profile and a comment."""
    params: dict[str, object] = {
        "quality": 92,
        "exif": camera_exif(orientation),
        "xmp": XMP,
        "comment": b"Author: clinic laptop",
    }
    if icc := srgb_icc():
        params["icc_profile"] = icc
    return encode(quadrants(), "JPEG", **params)


def png_with_everything() -> bytes:
    """A PNG with text chunks, XMP, EXIF with GPS, an ICC profile and junk after IEND."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dr Example")
    info.add_text("Location", "51.5074 N, 0.1278 W")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    params: dict[str, object] = {"pnginfo": info, "exif": camera_exif(1)}
    if icc := srgb_icc():
        params["icc_profile"] = icc
    return encode(quadrants(), "PNG", **params) + b"<?php system($_GET['c']); ?>" + POLYGLOT_TAIL


def webp_with_everything() -> bytes:
    params: dict[str, object] = {"quality": 90, "exif": camera_exif(1), "xmp": XMP}
    if icc := srgb_icc():
        params["icc_profile"] = icc
    return encode(quadrants(), "WEBP", **params)


def two_frames(fmt: str, **params: object) -> bytes:
    first, second = Image.new("RGB", (64, 48), RED), Image.new("RGB", (64, 48), BLUE)
    return encode(first, fmt, save_all=True, append_images=[second], **params)


def sixteen_bit_grey() -> bytes:
    """Quarter grey on the left, three-quarter grey on the right, in 16 bits."""
    image = Image.new("I;16", (64, 48), 16384)
    image.paste(Image.new("I;16", (32, 48), 49152), (32, 0))
    return encode(image, "PNG")


def translucent_png() -> bytes:
    """Left half fully transparent, right half half-transparent red."""
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    image.paste((255, 0, 0, 128), (32, 0, 64, 48))
    return encode(image, "PNG")


def palette_with_transparency() -> bytes:
    image = Image.new("P", (64, 48), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    image.paste(1, (32, 0, 64, 48))
    return encode(image, "PNG", transparency=0)


# --- checking outputs ----------------------------------------------------------------------


def jpeg_markers(data: bytes) -> list[int]:
    """The markers before the entropy-coded data, walking the segments from SOI to SOS."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers: list[int] = []
    at = 2
    while True:
        assert data[at] == 0xFF, f"segment expected at {at}"
        marker = data[at + 1]
        markers.append(marker)
        if marker == 0xDA:
            return markers
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + length


def assert_bare_jpeg(rendition: Rendition) -> Image.Image:
    """A baseline JPEG with no metadata of any kind and nothing after EOI; returns its pixels."""
    data = rendition.data
    assert rendition.content_type == "image/jpeg"
    assert rendition.sha256 == hashlib.sha256(data).hexdigest()
    for needle in FORBIDDEN_BYTES:
        assert needle not in data, f"{rendition.kind} still contains {needle!r}"
    assert set(jpeg_markers(data)) <= BARE_JPEG_MARKERS
    assert 0xC0 in jpeg_markers(data), "not baseline"
    assert data.endswith(b"\xff\xd9"), "bytes after the end of the image"
    with Image.open(io.BytesIO(data)) as reopened:
        assert reopened.format == "JPEG"
        assert set(reopened.info) <= HARMLESS_INFO_KEYS, set(reopened.info)
        assert not reopened.getexif()
        assert not reopened.getexif().get_ifd(0x8825)
        assert reopened.size == (rendition.width, rendition.height)
        reopened.load()
        return reopened.copy()


def assert_fits(size: tuple[int, int], source: tuple[int, int], edge: int) -> None:
    """Within the edge, never larger than the source, and in proportion to within a pixel."""
    scale = min(1.0, edge / max(source))
    assert max(size) <= edge
    assert size[0] <= source[0] and size[1] <= source[1]
    for got, was in zip(size, source, strict=True):
        assert abs(got - was * scale) <= 1, (size, source, edge)


def assert_processed(result: ProcessedImage) -> dict[str, Image.Image]:
    """Every rendition bare and the right size; returns their decoded pixels by kind."""
    assert [r.kind for r in result.renditions] == ["original", "preview", "thumbnail", "blurred"]
    assert result.original is result.renditions[0]
    assert result.source_format in ALLOWED_FORMATS
    pixels = {r.kind: assert_bare_jpeg(r) for r in result.renditions}
    original = result.original
    preview, thumbnail, blurred = result.renditions[1:]
    assert_fits((preview.width, preview.height), (original.width, original.height), PREVIEW_EDGE)
    assert_fits(
        (thumbnail.width, thumbnail.height), (original.width, original.height), THUMBNAIL_EDGE
    )
    # The blurred rendition takes the thumbnail's place on screen, so it has the same size.
    assert (blurred.width, blurred.height) == (thumbnail.width, thumbnail.height)
    return pixels


def close_to(pixel: object, expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(got) - want) <= tolerance for got, want in zip(pixel, expected, strict=True))


def quadrant_colours(image: Image.Image) -> list[object]:
    """Colours at the centres of the four quadrants: top-left, top-right, bottom-left, -right."""
    width, height = image.size
    points = [(width // 4, height // 4), (3 * width // 4, height // 4)]
    points += [(width // 4, 3 * height // 4), (3 * width // 4, 3 * height // 4)]
    return [image.convert("RGB").getpixel(p) for p in points]


# --- refused -------------------------------------------------------------------------------

HOSTILE: list[tuple[str, Callable[[], bytes], str]] = [
    ("zero-bytes", lambda: b"", REASON_EMPTY),
    (
        "valid-png-padded-past-20-mb",
        lambda: small_png() + b"\x00" * (MAX_BYTES + 1 - len(small_png())),
        REASON_TOO_BIG,
    ),
    ("random-bytes-past-20-mb", lambda: b"\x89PNG\r\n\x1a\n" + b"\xa5" * MAX_BYTES, REASON_TOO_BIG),
    ("text-named-jpg", lambda: b"Hello, this is a letter, not a photo.\n" * 20, REASON_WRONG_TYPE),
    (
        "svg-with-script",
        lambda: (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" '
            b'height="10"><script>alert(document.cookie)</script><rect width="10" '
            b'height="10"/></svg>'
        ),
        REASON_WRONG_TYPE,
    ),
    (
        "html-page",
        lambda: b"<!DOCTYPE html><html><script>alert(1)</script></html>",
        REASON_WRONG_TYPE,
    ),
    (
        "html-before-jpeg",
        lambda: POLYGLOT_TAIL + encode(quadrants(), "JPEG"),
        REASON_WRONG_TYPE,
    ),
    ("gif", lambda: encode(quadrants(), "GIF"), REASON_WRONG_TYPE),
    ("animated-gif", lambda: two_frames("GIF"), REASON_WRONG_TYPE),
    ("bmp", lambda: encode(quadrants(), "BMP"), REASON_WRONG_TYPE),
    ("tiff", lambda: encode(quadrants(), "TIFF"), REASON_WRONG_TYPE),
    (
        "pdf-header",
        lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        REASON_WRONG_TYPE,
    ),
    (
        "bomb-10000x10000-single-colour-png",
        lambda: single_colour_png(10_000, 10_000),
        REASON_TOO_MANY_PIXELS,
    ),
    (
        "png-declaring-100000x100000",
        lambda: with_png_size(small_png(), 100_000, 100_000),
        REASON_TOO_MANY_PIXELS,
    ),
    (
        # Under Pillow's own warning threshold, so only the intake's limit can refuse it.
        "png-declaring-56-megapixels",
        lambda: with_png_size(small_png(), 8_000, 7_000),
        REASON_TOO_MANY_PIXELS,
    ),
    (
        "png-declaring-just-over-the-limit",
        lambda: with_png_size(small_png(), 7_072, 7_071),
        REASON_TOO_MANY_PIXELS,
    ),
    (
        "png-wider-than-jpeg-allows",
        lambda: with_png_size(small_png(), 70_000, 10),
        REASON_TOO_MANY_PIXELS,
    ),
    (
        "jpeg-declaring-65000x65000",
        lambda: with_jpeg_size(encode(quadrants(), "JPEG"), 65_000, 65_000),
        REASON_TOO_MANY_PIXELS,
    ),
    (
        # Just inside the pixel limit, the check lets it through and decoding finds no pixels.
        "png-declaring-just-under-the-limit",
        lambda: with_png_size(small_png(), 7_071, 7_071),
        REASON_DAMAGED,
    ),
    (
        "jpeg-cut-in-half",
        lambda: first_half(jpeg_with_everything()),
        REASON_DAMAGED,
    ),
    (
        "png-cut-in-half",
        lambda: first_half(encode(gradient((300, 200)), "PNG")),
        REASON_DAMAGED,
    ),
    (
        "png-with-corrupted-pixels",
        lambda: flip_byte_inside(encode(gradient((300, 200)), "PNG"), b"IDAT"),
        REASON_DAMAGED,
    ),
    (
        "png-text-chunk-bomb",
        lambda: encode(
            Image.new("RGB", (8, 8)),
            "PNG",
            pnginfo=zipped_text("Comment", "A" * (8 * 1024 * 1024)),
        ),
        REASON_DAMAGED,
    ),
]


@pytest.mark.parametrize(
    ("build", "reason"), [pytest.param(b, r, id=name) for name, b, r in HOSTILE]
)
def test_hostile_uploads_are_refused_with_the_specific_reason(
    build: Callable[[], bytes], reason: str
) -> None:
    with pytest.raises(ImageRejected) as refused:
        process_image(build(), "photo.jpg")
    assert refused.value.reason == reason
    assert str(refused.value) == reason
    assert isinstance(refused.value, ValueError)


def test_reasons_are_distinct_sentences_a_patient_can_read() -> None:
    reasons = [REASON_EMPTY, REASON_TOO_BIG, REASON_WRONG_TYPE, REASON_TOO_MANY_PIXELS]
    reasons.append(REASON_DAMAGED)
    assert len(set(reasons)) == len(reasons)
    for reason in reasons:
        assert reason[0].isupper() and reason.endswith(".")
        assert "Error" not in reason and "PIL" not in reason
    assert "20 MB" in REASON_TOO_BIG
    assert "JPEG, PNG or WebP" in REASON_WRONG_TYPE
    assert "50 megapixels" in REASON_TOO_MANY_PIXELS
    assert "damaged or incomplete" in REASON_DAMAGED


def test_declared_size_cases_straddle_the_pixel_limit() -> None:
    assert 7_071 * 7_071 <= MAX_PIXELS < 7_072 * 7_071
    assert MAX_PIXELS < 10_000 * 10_000


def test_size_limit_is_inclusive() -> None:
    valid = small_png()
    at_limit = valid + b"\x00" * (MAX_BYTES - len(valid))
    assert len(at_limit) == MAX_BYTES
    assert process_image(at_limit).source_format == "PNG"
    with pytest.raises(ImageRejected) as refused:
        process_image(at_limit + b"\x00")
    assert refused.value.reason == REASON_TOO_BIG


def test_type_comes_from_the_bytes_not_the_name() -> None:
    assert process_image(encode(quadrants(), "PNG"), "scan.jpg").source_format == "PNG"
    assert process_image(encode(quadrants(), "JPEG"), "scan.gif").source_format == "JPEG"
    assert process_image(encode(quadrants(), "WEBP"), "scan").source_format == "WEBP"
    with pytest.raises(ImageRejected) as refused:
        process_image(encode(quadrants(), "GIF"), "scan.png")
    assert refused.value.reason == REASON_WRONG_TYPE


def test_global_pillow_settings_are_left_alone() -> None:
    filters = list(warnings.filters)
    with pytest.raises(ImageRejected):
        process_image(single_colour_png(10_000, 10_000))
    process_image(encode(quadrants(), "JPEG"))
    assert warnings.filters == filters
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_pillow_bomb_warning_becomes_a_refusal_not_a_warning(
    recwarn: pytest.WarningsRecorder,
) -> None:
    with pytest.raises(ImageRejected) as refused:
        process_image(single_colour_png(10_000, 10_000))
    assert refused.value.reason == REASON_TOO_MANY_PIXELS
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_a_rendition_with_metadata_is_never_handed_back() -> None:
    # The last line of defence, in case a Pillow change ever copied metadata into the output.
    with pytest.raises(RuntimeError, match="metadata"):
        images._check_no_metadata(encode(quadrants(), "JPEG", exif=camera_exif()))
    with pytest.raises(RuntimeError, match="metadata"):
        images._check_no_metadata(encode(quadrants(), "JPEG", comment=b"note"))
    images._check_no_metadata(encode(quadrants(), "JPEG"))


def test_refuses_to_run_when_truncated_images_would_be_padded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process_image(encode(quadrants(), "JPEG"))


# --- accepted, with everything stripped ----------------------------------------------------

ACCEPTED: list[tuple[str, Callable[[], bytes], str]] = [
    ("jpeg-gps-exif-xmp-icc-comment", jpeg_with_everything, "JPEG"),
    ("png-text-xmp-exif-icc-trailing-php", png_with_everything, "PNG"),
    ("webp-exif-xmp-icc", webp_with_everything, "WEBP"),
    ("jpeg-html-polyglot", lambda: encode(quadrants(), "JPEG") + POLYGLOT_TAIL, "JPEG"),
    (
        "jpeg-html-in-comment",
        lambda: encode(quadrants(), "JPEG", comment=POLYGLOT_TAIL),
        "JPEG",
    ),
    ("png-alpha", translucent_png, "PNG"),
    ("png-palette-transparency", palette_with_transparency, "PNG"),
    ("png-16-bit-grey", sixteen_bit_grey, "PNG"),
    ("jpeg-grey", lambda: encode(quadrants().convert("L"), "JPEG"), "JPEG"),
    ("jpeg-cmyk", lambda: encode(quadrants().convert("CMYK"), "JPEG"), "JPEG"),
    ("jpeg-progressive", lambda: encode(quadrants(), "JPEG", progressive=True), "JPEG"),
    ("mpo-two-pictures", lambda: two_frames("MPO"), "JPEG"),
    ("webp-animated", lambda: two_frames("WEBP", duration=100), "WEBP"),
    ("png-animated", lambda: two_frames("PNG", duration=100), "PNG"),
    (
        "webp-lossless-alpha",
        lambda: encode(quadrants().convert("RGBA"), "WEBP", lossless=True),
        "WEBP",
    ),
]


@pytest.mark.parametrize(
    ("build", "source_format"), [pytest.param(b, f, id=name) for name, b, f in ACCEPTED]
)
def test_accepted_uploads_keep_nothing_but_pixels(
    build: Callable[[], bytes], source_format: str
) -> None:
    result = process_image(build(), "upload.jpg")
    assert result.source_format == source_format
    assert_processed(result)


def test_hostile_inputs_really_carry_what_must_be_stripped() -> None:
    with Image.open(io.BytesIO(jpeg_with_everything())) as jpeg:
        assert jpeg.getexif().get_ifd(0x8825)
        assert {"exif", "xmp", "comment"} <= set(jpeg.info)
        assert srgb_icc() is None or "icc_profile" in jpeg.info
    png = png_with_everything()
    with Image.open(io.BytesIO(png)) as image:
        assert image.getexif().get_ifd(0x8825)
        assert {"Author", "Location", "XML:com.adobe.xmp"} <= set(image.info)
        assert srgb_icc() is None or "icc_profile" in image.info
    assert POLYGLOT_TAIL in png
    with Image.open(io.BytesIO(webp_with_everything())) as webp:
        assert {"exif", "xmp"} <= set(webp.info)
        assert srgb_icc() is None or "icc_profile" in webp.info


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    data = encode(quadrants(), "JPEG", quality=95, exif=camera_exif(orientation))
    with Image.open(io.BytesIO(data)) as source:
        expected = ImageOps.exif_transpose(source)
    pixels = assert_processed(process_image(data))
    original = pixels["original"]
    assert original.size == expected.size
    for got, want in zip(quadrant_colours(original), quadrant_colours(expected), strict=True):
        assert isinstance(want, tuple)
        assert close_to(got, want), (orientation, got, want)
    for kind in ("preview", "thumbnail"):
        for got, want in zip(
            quadrant_colours(pixels[kind]), quadrant_colours(original), strict=True
        ):
            assert isinstance(want, tuple)
            assert close_to(got, want), (kind, got, want)


def test_orientation_6_turns_the_picture_clockwise() -> None:
    # Checked by hand as well, so the test does not only trust Pillow's own transpose.
    pixels = assert_processed(process_image(jpeg_with_everything(orientation=6)))
    original = pixels["original"]
    assert original.size == (200, 400)
    top_left, top_right, bottom_left, bottom_right = quadrant_colours(original)
    assert close_to(top_left, GREEN) and close_to(top_right, RED)
    assert close_to(bottom_left, YELLOW) and close_to(bottom_right, BLUE)


def test_transparency_is_flattened_onto_white() -> None:
    original = assert_processed(process_image(translucent_png()))["original"]
    assert close_to(original.getpixel((8, 24)), (255, 255, 255), 8)
    assert close_to(original.getpixel((56, 24)), (255, 127, 127), 12)
    palette = assert_processed(process_image(palette_with_transparency()))["original"]
    assert close_to(palette.getpixel((8, 24)), (255, 255, 255), 8)
    assert close_to(palette.getpixel((56, 24)), (255, 0, 0), 12)


def test_sixteen_bit_grey_keeps_its_tone() -> None:
    original = assert_processed(process_image(sixteen_bit_grey()))["original"]
    assert close_to(original.getpixel((8, 24)), (64, 64, 64), 6)
    assert close_to(original.getpixel((56, 24)), (192, 192, 192), 6)


@pytest.mark.parametrize("fmt", ["MPO", "WEBP", "PNG"])
def test_multi_frame_images_keep_the_first_frame(fmt: str) -> None:
    original = assert_processed(process_image(two_frames(fmt)))["original"]
    assert close_to(original.getpixel((32, 24)), RED)


def test_cmyk_and_grey_come_out_as_rgb_pictures() -> None:
    cmyk = assert_processed(process_image(encode(quadrants().convert("CMYK"), "JPEG")))
    assert close_to(quadrant_colours(cmyk["original"])[0], RED, 50)
    grey = assert_processed(process_image(encode(quadrants().convert("L"), "JPEG")))
    assert grey["original"].mode == "RGB"


@pytest.mark.parametrize(
    "size",
    [(100, 80), (1600, 1200), (1601, 1200), (2400, 1800), (3000, 1000), (1000, 3000), (5000, 10)],
    ids=str,
)
def test_previews_and_thumbnails_fit_and_are_never_upscaled(size: tuple[int, int]) -> None:
    result = process_image(encode(gradient(size), "JPEG", quality=85))
    assert (result.original.width, result.original.height) == size
    assert_processed(result)


def test_large_photo_gets_the_standard_sizes() -> None:
    data = encode(gradient((2400, 1800)), "JPEG", exif=camera_exif(8))
    sizes = {r.kind: (r.width, r.height) for r in process_image(data).renditions}
    assert sizes == {
        "original": (1800, 2400),
        "preview": (1200, 1600),
        "thumbnail": (192, 256),
        "blurred": (192, 256),
    }


@pytest.mark.parametrize(
    ("size", "orientation", "expected"),
    [
        (
            (4032, 3024),
            6,
            {"original": (3024, 4032), "preview": (1200, 1600), "thumbnail": (192, 256)},
        ),
        (
            (3264, 2448),
            1,
            {"original": (3264, 2448), "preview": (1600, 1200), "thumbnail": (256, 192)},
        ),
    ],
    ids=["12mp-portrait", "8mp-landscape"],
)
def test_phone_photos_keep_their_rendition_sizes(
    size: tuple[int, int], orientation: int, expected: dict[str, tuple[int, int]]
) -> None:
    data = encode(gradient(size), "JPEG", quality=85, exif=camera_exif(orientation))
    result = process_image(data)
    sizes = {r.kind: (r.width, r.height) for r in result.renditions}
    assert sizes == {**expected, "blurred": expected["thumbnail"]}


def lines_and_rings(size: tuple[int, int]) -> Image.Image:
    """Gradients crossed by thin slanted lines and rings: the edges a downscale must keep."""
    width, height = size
    image = gradient(size)
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 37):
        draw.line([(x, 0), (x + width // 5, height)], fill=(240, 230, 200), width=2)
    for radius in range(20, height // 2, 29):
        box = (width // 2 - radius, height // 2 - radius, width // 2 + radius, height // 2 + radius)
        draw.ellipse(box, outline=(20, 30, 40), width=3)
    return image


def mean_difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference per channel of two same-size RGB pictures (0…255)."""
    assert first.size == second.size
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / 3


def test_preview_stays_close_to_a_full_quality_downscale() -> None:
    # The preview takes a cheap route (whole-factor reduction, then an area average); it must
    # still look like LANCZOS over the whole frame: close in value and not visibly softer.
    # Nearest-neighbour sampling (about 9.3 here) or a softer route (reduce by 3 and scale up:
    # detail about two thirds) would fail.
    picture = lines_and_rings((3000, 2250))
    preview = process_image(encode(picture, "PNG")).renditions[1]
    assert (preview.width, preview.height) == (1600, 1200)
    reference = picture.resize((1600, 1200), Image.Resampling.LANCZOS)
    with Image.open(io.BytesIO(preview.data)) as stored:
        got = stored.convert("RGB")
    assert mean_difference(got, reference) < 8.0
    assert detail(preview.data) > 0.9 * detail(encode(reference, "JPEG", quality=85))


def test_upright_photo_is_handed_on_without_a_copy_and_without_its_metadata() -> None:
    data = jpeg_with_everything(orientation=1)
    with Image.open(io.BytesIO(data)) as reference:
        expected = reference.convert("RGB").tobytes()
    frame = Image.open(io.BytesIO(data))
    frame.load()
    assert {"exif", "xmp", "comment"} <= set(frame.info)
    decoded = frame.im
    clean = images._clean_pixels(frame)
    assert clean.im is decoded  # the decoded buffer itself, not a full-size copy of it
    assert type(clean) is Image.Image  # not the file's object: no fp, tile or parsed segments
    assert clean.info == {}
    assert clean.mode == "RGB" and clean.tobytes() == expected
    with pytest.raises(ValueError, match="closed"):
        frame.getpixel((0, 0))
    assert_processed(process_image(data))


def test_preview_and_thumbnail_show_the_same_picture() -> None:
    data = encode(quadrants((2400, 1200)), "JPEG", quality=90)
    pixels = assert_processed(process_image(data))
    expected = [RED, BLUE, GREEN, YELLOW]
    for kind in ("original", "preview", "thumbnail"):
        for got, want in zip(quadrant_colours(pixels[kind]), expected, strict=True):
            assert close_to(got, want), (kind, got, want)


def test_output_is_deterministic_and_hashes_identify_it() -> None:
    data = jpeg_with_everything()
    first, second = process_image(data), process_image(data)
    assert [r.sha256 for r in first.renditions] == [r.sha256 for r in second.renditions]
    assert len({r.sha256 for r in first.renditions}) == 4


def test_blurred_rendition_keeps_no_detail_of_the_photo() -> None:
    result = process_image(detailed_jpeg())
    by_kind = {r.kind: r for r in result.renditions}
    clear, blurred = by_kind["thumbnail"].data, by_kind["blurred"].data
    assert detail(blurred) < detail(clear) / 10
    assert difference(clear, blurred) > 40
    # Not even the checkerboard's squares survive: the picture is a few smooth colour patches.
    assert detail(blurred) < 5


def test_blurred_rendition_made_later_from_a_stored_thumbnail() -> None:
    """Photos stored before the pipeline made blurred renditions get one from their thumbnail."""
    result = process_image(detailed_jpeg())
    thumbnail = next(r for r in result.renditions if r.kind == "thumbnail")
    later = images.blurred_rendition(thumbnail.data)
    assert later.kind == "blurred" and (later.width, later.height) == (
        thumbnail.width,
        thumbnail.height,
    )
    assert_bare_jpeg(later)
    assert detail(later.data) < detail(thumbnail.data) / 10


# --- display names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\win.ini", "win.ini"),
        ("C:\\Users\\pat\\Desktop\\mole scan.PNG", "mole scan.PNG"),
        ("/var/www/../../upload.webp", "upload.webp"),
        ("evil\x00.jpg", "evil.jpg"),
        ("line\nbreak\r.jpg", "linebreak.jpg"),
        ("bell\x07\x1b[31mred.jpg", "bell31mred.jpg"),
        (".htaccess", "htaccess"),
        ("...jpg", "jpg"),
        (". .hidden.jpg", "hidden.jpg"),
        ("..", "photo"),
        ("/", "photo"),
        ("\\\\server\\share\\", "photo"),
        ("   ", "photo"),
        ("", "photo"),
        (None, "photo"),
        ("\x00\x01\x02", "photo"),
        ("<script>alert(1)</script>.jpg", "script.jpg"),
        ("<img src=x onerror=alert(1)>.jpg", "img srcx onerroralert1.jpg"),
        ("Zoë   Ångström – été.jpg", "Zoë Ångström été.jpg"),
        ("Zoe\u0308.jpg", "Zoë.jpg"),
        ("\u202egpj.exe", "gpj.exe"),
        ("mole\u200b.jpg", "mole.jpg"),
        ("no\u00a0break space.jpg", "no break space.jpg"),
        ("photo_2026-01-02 10.11.jpg", "photo_2026-01-02 10.11.jpg"),
    ],
)
def test_display_names_are_sanitised(filename: str | None, expected: str) -> None:
    assert sanitise_display_name(filename) == expected


def test_long_names_are_cut_to_100_keeping_the_extension() -> None:
    name = sanitise_display_name("a" * 300 + ".jpeg")
    assert len(name) == 100 and name.endswith(".jpeg")
    assert len(sanitise_display_name("b" * 300)) == 100


def test_processed_image_carries_the_sanitised_name() -> None:
    result = process_image(encode(quadrants(), "JPEG"), "../../etc/passwd.jpg")
    assert result.display_name == "passwd.jpg"
    assert process_image(encode(quadrants(), "JPEG")).display_name == "photo"


# Characters that make names dangerous or confusing, mixed with ordinary ones.
NAME_ALPHABET = (
    "abcXYZ019 ._-/\\:*?<>|\"'%$&;`~!@#()[]{}+=,"
    "\x00\x01\x07\x1b\t\n\r\x7f\x85\u00a0\u2028\u2029\u3000"
    "\u200b\u200d\u202e\u2066\ufeff\u0301\u0308"
    "éÅßøçΩЖж中文ひらがな٣\u2215\u2044\uff0f\uff0e\U0001f600"
)


@pytest.mark.parametrize("seed", range(4))
def test_any_name_becomes_safe(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        filename = "".join(rng.choice(NAME_ALPHABET) for _ in range(rng.randrange(0, 160)))
        name = sanitise_display_name(filename)
        assert 0 < len(name) <= 100, filename
        assert not name.startswith("."), filename
        assert "/" not in name and "\\" not in name, filename
        assert name == name.strip() and "  " not in name, filename
        assert all(c.isalnum() or c in " .-_" for c in name), filename
