"""An authorised agent's signed authorisation: a PDF, or a photo or scan of the signed page.

The type is decided by the bytes, never by the file name. A PDF is kept as sent (it must look
like a whole PDF); an image goes through the health-image pipeline, which re-encodes it as a
JPEG without any metadata (location, device).
"""

from __future__ import annotations

import re

from mi_portal.services.images import ImageRejected, process_image

MAX_AUTHORISATION_BYTES = 10 * 1024 * 1024
TOO_BIG = "The authorisation is larger than 10 MB. Please send a smaller file."
WRONG_TYPE = "The authorisation must be a PDF, JPEG or PNG file."
DAMAGED = "This PDF is damaged or incomplete. Please upload it again."
_PDF_END = re.compile(rb"%%EOF\s*$")


def check_authorisation(data: bytes) -> tuple[bytes, str]:
    """The bytes to store and their content type; ``ValueError`` with a reason otherwise."""
    if not data:
        raise ValueError("The authorisation file is empty.")
    if len(data) > MAX_AUTHORISATION_BYTES:
        raise ValueError(TOO_BIG)
    if data.startswith(b"%PDF-"):
        if not _PDF_END.search(data[-2048:]):
            raise ValueError(DAMAGED)
        return data, "application/pdf"
    if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
        raise ValueError(WRONG_TYPE)
    try:
        image = process_image(data)
    except ImageRejected as exc:
        raise ValueError(exc.reason.replace("photo", "image")) from None
    original = image.original
    return original.data, original.content_type
