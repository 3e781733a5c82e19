"""Health-image intake: refuse hostile uploads and keep nothing of a photo but its pixels.

The file type is decided from the bytes alone. Size, declared dimensions and damage are checked
before or while decoding, so a decompression bomb is refused before its pixels are allocated.
An accepted photo is turned upright, flattened to RGB and rebuilt from its pixels, then stored
as four baseline JPEG renditions (original, preview, thumbnail and a blurred thumbnail for those
who must not see the photo) that carry no EXIF, GPS, XMP, ICC profile, comment or trailing bytes. Everything here is CPU-bound and synchronous: call it from a worker thread.
"""

from __future__ import annotations

import hashlib
import io
import struct
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageFilter, UnidentifiedImageError

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
PREVIEW_EDGE = 1600
THUMBNAIL_EDGE = 256
# The blurred rendition keeps no more than this many pixels on its long side before it is scaled
# back up and smoothed: a few colour patches, nothing of a face, a lesion or a body outline.
BLUR_DETAIL_EDGE = 8

REASON_EMPTY = "This file is empty. Please choose a photo."
REASON_TOO_BIG = "This file is larger than 20 MB. Please choose a smaller photo."
REASON_WRONG_TYPE = "This file is not a JPEG, PNG or WebP photo."
REASON_TOO_MANY_PIXELS = (
    "This photo's dimensions are too large (the limit is 50 megapixels). "
    "Please choose a smaller photo."
)
REASON_DAMAGED = "This photo is damaged or incomplete. Please try uploading it again."

# libjpeg's JPEG_MAX_DIMENSION: a longer side could be decoded but never stored.
_JPEG_MAX_EDGE = 65_500
# Phone cameras often write multi-picture JPEGs; Pillow names them MPO, the first frame is a JPEG.
_FORMAT_ALIASES = {"MPO": "JPEG"}
_QUALITY = {"original": 90, "preview": 85, "thumbnail": 85, "blurred": 80}
_ORIENTATION_TAG = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What a decoder raises on a file that is cut short or corrupted inside.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)
# Keys of a re-opened rendition that would mean metadata slipped through.
_METADATA_KEYS = ("exif", "icc_profile", "xmp", "comment", "photoshop", "mp", "adobe")
_NAME_PUNCTUATION = frozenset(" .-_")
_NAME_MAX_LENGTH = 100
_NAME_FALLBACK = "photo"


class ImageRejected(ValueError):
    """An upload refused, with a reason the patient can read and act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Rendition:
    """One stored JPEG size of a photo."""

    kind: str
    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the encoded bytes."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class ProcessedImage:
    """An accepted upload: the format it arrived in, a safe name and its renditions."""

    source_format: str
    display_name: str
    renditions: tuple[Rendition, ...]

    @property
    def original(self) -> Rendition:
        """The full-size rendition."""
        for rendition in self.renditions:
            if rendition.kind == "original":
                return rendition
        raise LookupError("this processed image has no original rendition")


def sanitise_display_name(filename: str | None) -> str:
    """A name safe to show and store: base name only, plain characters, never hidden or empty."""
    if not filename:
        return _NAME_FALLBACK
    text = unicodedata.normalize("NFC", filename)
    # Both separators count whatever the server's OS: the name may come from a Windows browser.
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            continue
        if char.isspace():
            kept.append(" ")
        elif category.startswith("L") or category == "Nd" or char in _NAME_PUNCTUATION:
            kept.append(char)
    name = " ".join("".join(kept).split()).lstrip(". ")
    if len(name) > _NAME_MAX_LENGTH:
        name = _truncate_keeping_extension(name)
    return name or _NAME_FALLBACK


def _truncate_keeping_extension(name: str) -> str:
    """Shorten a name to the limit, keeping a short extension so it still reads as a photo."""
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) <= 10:
        return stem[: _NAME_MAX_LENGTH - len(extension) - 1].rstrip(" .") + "." + extension
    return name[:_NAME_MAX_LENGTH].rstrip(" ")


def process_image(data: bytes, filename: str | None = None) -> ProcessedImage:
    """Check an upload and return its metadata-free JPEG renditions, or raise ImageRejected."""
    if not data:
        raise ImageRejected(REASON_EMPTY)
    if len(data) > MAX_BYTES:
        raise ImageRejected(REASON_TOO_BIG)
    display_name = sanitise_display_name(filename)
    frame, source_format = _decode(data)
    clean = _clean_pixels(frame)
    renditions = _renditions(clean)
    return ProcessedImage(source_format, display_name, renditions)


def _decode(data: bytes) -> tuple[ImageFile.ImageFile, str]:
    """Open by content, check the declared size, then decode the first frame in full."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Pillow would pad a cut-off file with grey instead of failing; that must not be stored.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False for intake")
    # The warnings filter is process-wide and not thread-safe, but it is only a second line:
    # Pillow warns from about 89 megapixels, while MAX_PIXELS refuses from 50 below.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
        except UnidentifiedImageError:
            raise ImageRejected(REASON_WRONG_TYPE) from None
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ImageRejected(REASON_TOO_MANY_PIXELS) from None
        except _DECODE_ERRORS:
            raise ImageRejected(REASON_DAMAGED) from None
        source_format = _FORMAT_ALIASES.get(image.format or "", image.format or "")
        if source_format not in ALLOWED_FORMATS:
            image.close()
            raise ImageRejected(REASON_WRONG_TYPE)
        width, height = image.size
        if width < 1 or height < 1:
            image.close()
            raise ImageRejected(REASON_DAMAGED)
        if width * height > MAX_PIXELS or max(width, height) > _JPEG_MAX_EDGE:
            image.close()
            raise ImageRejected(REASON_TOO_MANY_PIXELS)
        try:
            image.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            image.close()
            raise ImageRejected(REASON_TOO_MANY_PIXELS) from None
        except _DECODE_ERRORS:
            image.close()
            raise ImageRejected(REASON_DAMAGED) from None
    return image, source_format


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, or 1 when there is none or it cannot be read."""
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a malformed EXIF block is discarded anyway; keep the pixels as stored
        return 1
    return value if isinstance(value, int) else 1


def _clean_pixels(frame: ImageFile.ImageFile) -> Image.Image:
    """The frame upright, in RGB, in a new image that holds pixels and nothing else.

    Each step closes what it no longer needs, so at most two full-size buffers are ever alive.
    """
    pixels: Image.Image = frame
    method = _TRANSPOSE_FOR_ORIENTATION.get(_orientation(frame))
    if method is not None:
        pixels = frame.transpose(method)
        frame.close()
    rgb = _to_rgb(pixels)
    if rgb is not pixels:
        pixels.close()
    if rgb is frame:
        # Nothing above produced new pixels: hand the decoded pixel buffer itself to a plain
        # Image, which has no file, no tile and (below) no info, so a full-size copy is spared.
        rgb = frame._new(frame.im)
        frame.close()
    # The transpose or conversion wrote a fresh pixel buffer into a plain Image, or the buffer was
    # moved into one above; all it inherited from the file is a copy of the info dict, which goes.
    rgb.info = {}
    return rgb


def _to_rgb(image: Image.Image) -> Image.Image:
    """The image in RGB with any transparency flattened onto white; the same object if already so."""
    if image.mode.startswith("I"):
        # 16-bit greyscale: scale to 8 bits, since a plain conversion would clip it to white.
        scaled = image.point(lambda value: value / 256)
        grey = scaled.convert("L")
        scaled.close()
        return grey.convert("RGB")
    if image.has_transparency_data:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba)
        if rgba is not image:
            rgba.close()
        return flat
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _renditions(clean: Image.Image) -> tuple[Rendition, ...]:
    """The original, preview, thumbnail and blurred thumbnail, each encoded once and checked.

    The original's encode, the largest step, runs on a thread of its own while the smaller
    renditions are made from the same (unchanged) pixels: Pillow lets go of the interpreter lock
    while it encodes and resamples, so the patient waits less where a core is free. The work
    done, and every check, is the same.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mi-encode") as encoder:
        pending = encoder.submit(_encode, "original", clean)
        smaller = _smaller_renditions(clean)  # on a failure, the pool still waits for the thread
        original = pending.result()
    clean.close()
    return (original, *smaller)


def _smaller_renditions(clean: Image.Image) -> tuple[Rendition, ...]:
    """The preview, thumbnail and blurred thumbnail of the clean pixels (never changed here)."""
    # LANCZOS over the full frame costs almost three encodes of it. A whole-factor box reduction
    # first, then an area average (BOX) for the remaining factor below two: half the cost of
    # BICUBIC for that step, the same edge detail, and about one level in 256 further from a
    # LANCZOS of the full frame (the preview's JPEG compression alone is six levels away).
    preview_image = _shrink(clean, PREVIEW_EDGE, gap=1.0, resample=Image.Resampling.BOX)
    preview = _encode("preview", preview_image)
    # The thumbnail starts from the small preview, so full LANCZOS quality costs next to nothing.
    thumbnail_image = _shrink(
        preview_image, THUMBNAIL_EDGE, gap=2.0, resample=Image.Resampling.LANCZOS
    )
    thumbnail = _encode("thumbnail", thumbnail_image)
    return (preview, thumbnail, _encode("blurred", _blur(thumbnail_image)))


def blurred_rendition(thumbnail: bytes) -> Rendition:
    """The blurred rendition made from a stored thumbnail (for photos stored before it existed)."""
    with Image.open(io.BytesIO(thumbnail), formats=["JPEG"]) as stored:
        stored.load()
        pixels = stored.convert("RGB")
    return _encode("blurred", _blur(pixels))


def _blur(image: Image.Image) -> Image.Image:
    """The image at its own size with every detail gone, as bytes and not only on screen."""
    tiny = image.resize(_fit(image.size, BLUR_DETAIL_EDGE), Image.Resampling.BOX)
    smooth = tiny.resize(image.size, Image.Resampling.BILINEAR)
    radius = max(2, max(image.size) // 16)
    return smooth.filter(ImageFilter.GaussianBlur(radius))


def _fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    """The size scaled down to fit within an edge-by-edge box, never up."""
    width, height = size
    longest = max(width, height)
    if longest <= edge:
        return size
    return max(1, round(width * edge / longest)), max(1, round(height * edge / longest))


def _shrink(
    image: Image.Image, edge: int, *, gap: float, resample: Image.Resampling
) -> Image.Image:
    """The image fitted within edge pixels: a whole-factor box reduction, then the filter.

    The reduction leaves at least ``gap`` times the target size for the filter to work on; the
    larger the gap, the closer the result is to filtering the full image, and the slower.
    """
    target = _fit(image.size, edge)
    if target == image.size:
        return image
    factor = int(min(image.width / target[0], image.height / target[1]) / gap)
    if factor < 2:
        return image.resize(target, resample)
    reduced = image.reduce(factor)
    if reduced.size == target:
        return reduced
    resized = reduced.resize(target, resample)
    reduced.close()
    return resized


def _encode(kind: str, image: Image.Image) -> Rendition:
    """Encode as baseline JPEG with nothing but a quality setting, then prove it is bare."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=_QUALITY[kind])
    data = out.getvalue()
    _check_no_metadata(data)
    return Rendition(kind, data, image.width, image.height)


def _check_no_metadata(data: bytes) -> None:
    """Refuse to hand back a rendition that carries metadata; only a Pillow change could cause it."""
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as reopened:
        leaked = [key for key in _METADATA_KEYS if key in reopened.info]
        if leaked or reopened.getexif():
            raise RuntimeError(f"encoded rendition still carries metadata: {leaked or ['exif']}")


LOGO_MAX_BYTES = 2 * 1024 * 1024
LOGO_EDGE = 512
REASON_LOGO_TOO_BIG = "This file is larger than 2 MB. Please choose a smaller image."


def process_logo(data: bytes) -> Rendition:
    """A clinic's logo: checked like a photo, fitted within LOGO_EDGE, re-encoded as a bare PNG.

    Transparency is kept (a logo sits on the page's colours); nothing but the pixels survives.
    """
    if not data:
        raise ImageRejected(REASON_EMPTY)
    if len(data) > LOGO_MAX_BYTES:
        raise ImageRejected(REASON_LOGO_TOO_BIG)
    frame, _source_format = _decode(data)
    method = _TRANSPOSE_FOR_ORIENTATION.get(_orientation(frame))
    upright: Image.Image = frame.transpose(method) if method is not None else frame
    mode = "RGBA" if upright.has_transparency_data else "RGB"
    pixels = upright.convert(mode)  # a new image: pixels only, whatever the source carried
    pixels.info = {}
    if upright is not frame:
        upright.close()
    frame.close()
    fitted = _shrink(pixels, LOGO_EDGE, gap=2.0, resample=Image.Resampling.LANCZOS)
    out = io.BytesIO()
    fitted.save(out, format="PNG", optimize=True)
    encoded = out.getvalue()
    with Image.open(io.BytesIO(encoded), formats=["PNG"]) as reopened:
        leaked = [key for key in (*_METADATA_KEYS, "dpi", "gamma") if key in reopened.info]
        if leaked or reopened.getexif() or getattr(reopened, "text", None):
            raise RuntimeError(f"encoded logo still carries metadata: {leaked or ['exif']}")
    return Rendition("logo", encoded, fitted.width, fitted.height, content_type="image/png")
