"""A clinic's public branding on patient pages: its colour (readable under white text) and logo.

The logo is the clinic's public branding, not personal data: it is served to anyone who asks by
the clinic's slug. It lives in the object store under the clinic's prefix, so the clinic's purge
removes it with everything else.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass

from sqlmodel import select

from mi_portal.db import platform_session
from mi_portal.models import Tenant
from mi_portal.storage import BlobStore, ObjectMissing, get_store

# WCAG 2.x AA for normal text: white words on a brand-coloured button or header.
MIN_CONTRAST = 4.5
WHITE = "#ffffff"
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_HEX = re.compile(r"#?([0-9a-f]{6}|[0-9a-f]{3})")
# How much darker a button turns under the pointer (darker only adds contrast with white).
_HOVER_DARKEN = 0.12


class ColorRefused(ValueError):
    """A brand colour that is not a colour, or that white text cannot be read on."""


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    r, g, b = (_channel(v) for v in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def shown_ratio(ratio: float) -> str:
    """The ratio as people read it, rounded down so a colour just under the line never reads 4.5."""
    return f"{math.floor(ratio * 100) / 100:.2f}:1"


def clean_color(value: object) -> str:
    """``#rrggbb`` (lower case) readable under white text, or "" for the product's colours."""
    text = str(value or "").strip().lower()
    if not text:
        return ""
    match = _HEX.fullmatch(text)
    if match is None:
        raise ColorRefused("Enter a colour as # and six hexadecimal digits, e.g. #1d4ed8.")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    color = "#" + digits
    ratio = contrast_ratio(color, WHITE)
    if ratio < MIN_CONTRAST:
        raise ColorRefused(
            f"White text on {color} has a contrast of {shown_ratio(ratio)}; patient pages need "
            f"at least {MIN_CONTRAST}:1 so everyone can read their buttons. Choose a darker colour."
        )
    return color


def hover_shade(color: str) -> str:
    """The brand colour a little darker, for a button under the pointer."""
    return "#" + "".join(f"{round(v * (1 - _HOVER_DARKEN)):02x}" for v in _rgb(color))


@dataclass(frozen=True)
class Brand:
    """What a patient page shows of its clinic: nothing personal, only its public branding."""

    name: str = ""
    color: str = ""  # "" = the product's colours
    hover: str = ""
    logo_url: str = ""


def logo_url(slug: str, key: str | None) -> str:
    """The public address of a clinic's logo; the version changes with every new upload."""
    if not key:
        return ""
    version = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"/api/clinic/{slug}/logo?v={version}"


def brand_of(tenant: Tenant) -> Brand:
    """The branding of a clinic row the caller has already loaded."""
    color = tenant.brand_color or ""
    return Brand(
        name=tenant.name,
        color=color,
        hover=hover_shade(color) if color else "",
        logo_url=logo_url(tenant.slug, tenant.logo_key),
    )


def _active(slug: object) -> Tenant | None:
    # Anything but a slug's characters is no clinic (and a NUL byte never reaches the database).
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        return None
    with platform_session() as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == slug)).first()
    return tenant if tenant is not None and tenant.active else None


def public_brand(slug: object) -> Brand:
    """The branding of an open clinic by its slug; the plain product look for anything else."""
    tenant = _active(slug)
    return brand_of(tenant) if tenant is not None else Brand()


def logo_key(tenant_id: uuid.UUID) -> str:
    """A fresh key for a logo, under the clinic's prefix (so the clinic's purge removes it)."""
    return f"{tenant_id}/branding/{uuid.uuid4().hex}/logo.png"


def public_logo(slug: object, *, store: BlobStore | None = None) -> bytes | None:
    """The PNG logo of an open clinic, or None (unknown, closed or suspended clinic, no logo)."""
    tenant = _active(slug)
    if tenant is None or not tenant.logo_key:
        return None
    try:
        return (store or get_store()).get(tenant.logo_key)
    except ObjectMissing:
        return None
