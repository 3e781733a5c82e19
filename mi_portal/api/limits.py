"""Size and rate limits for Reflex's upload endpoint (public intake photos)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import PlainTextResponse

from mi_portal.services import ratelimit
from mi_portal.services.images import MAX_BYTES
from mi_portal.services.intake import MAX_PHOTOS

# All photos of one submission at their limit, plus room for the multipart framing.
MAX_UPLOAD_BYTES = MAX_PHOTOS * MAX_BYTES + 1024 * 1024


def client_address(scope: dict[str, Any]) -> str:
    """The client's address as Reflex resolves it for events: ``X-Forwarded-For`` is believed
    only through the configured number of trusted proxies (``trusted_proxy_hops``)."""
    from reflex.config import get_config

    client = scope.get("client")
    address = str(client[0]) if client else "unknown"
    hops = get_config().trusted_proxy_hops
    if hops:
        raw = b",".join(v for k, v in scope.get("headers") or [] if k == b"x-forwarded-for")
        forwarded = [ip.strip() for ip in raw.decode("latin-1").split(",") if ip.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    return address


class UploadSizeLimit:
    """Refuse uploads that declare more than the intake accepts, or come too often from one
    address, before anything is read.

    Reflex spools an upload completely before the handler sees it; without this an anonymous
    visitor could make the server store arbitrarily large bodies, as often as it likes.
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
            wait = await asyncio.to_thread(
                ratelimit.hit, ratelimit.UPLOAD_PER_ADDRESS, client_address(scope)
            )
            if wait:
                await PlainTextResponse(
                    ratelimit.try_again_message(wait, what="uploads"),
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)
