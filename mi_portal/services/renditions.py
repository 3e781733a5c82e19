"""Rendition making for stored photos: normalise pixels, then preview and thumbnail sizes."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from mi_portal.models import RenditionKind

PREVIEW_EDGE = 1600
THUMBNAIL_EDGE = 256


@dataclass(frozen=True)
class Rendition:
    kind: RenditionKind
    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _clean_copy(image: Image.Image) -> Image.Image:
    """Apply EXIF orientation, then rebuild from pixels alone so no metadata can survive."""
    oriented = ImageOps.exif_transpose(image)
    rgb = oriented.convert("RGB")
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    return clean


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88, optimize=False)
    return out.getvalue()


def make_renditions(image: Image.Image) -> list[Rendition]:
    """The normalised original, a preview (≤1600 px) and a thumbnail (≤256 px), all JPEG."""
    clean = _clean_copy(image)
    result = [Rendition(RenditionKind.ORIGINAL, _encode(clean), *clean.size)]
    for kind, edge in (
        (RenditionKind.PREVIEW, PREVIEW_EDGE),
        (RenditionKind.THUMBNAIL, THUMBNAIL_EDGE),
    ):
        copy = clean.copy()
        copy.thumbnail((edge, edge), Image.Resampling.LANCZOS)
        result.append(Rendition(kind, _encode(copy), *copy.size))
    return result
