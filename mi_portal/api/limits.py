"""Request-size limit for Reflex's upload endpoint (public intake photos)."""

from __future__ import annotations

from typing import Any

from starlette.responses import PlainTextResponse

from mi_portal.services.images import MAX_BYTES
from mi_portal.services.intake import MAX_PHOTOS

# All photos of one submission at their limit, plus room for the multipart framing.
MAX_UPLOAD_BYTES = MAX_PHOTOS * MAX_BYTES + 1024 * 1024


class UploadSizeLimit:
    """Refuse uploads that declare more than the intake accepts, before anything is read.

    Reflex spools an upload completely before the handler sees it; without this an anonymous
    visitor could make the server store arbitrarily large bodies.
    """

    def __init__(self, app: Any, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope.get("type") == "http"
            and scope.get("method") == "POST"
            and scope.get("path", "").rstrip("/").endswith("/_upload")
        ):
            headers = dict(scope.get("headers") or [])
            declared = headers.get(b"content-length")
            if declared is None or not declared.isdigit():
                await PlainTextResponse("Length required", status_code=411)(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await PlainTextResponse("The photos are too large.", status_code=413)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)
