"""Guard for Reflex's upload endpoint (intake and reply photos, staff attachments): which
handler, how large, how often."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Collection
from typing import Any

from starlette.responses import PlainTextResponse

from mi_portal.services import ratelimit
from mi_portal.services.images import MAX_BYTES
from mi_portal.services.intake import MAX_PHOTOS

# All photos of one submission at their limit (a reply takes fewer), plus the multipart framing.
MAX_UPLOAD_BYTES = MAX_PHOTOS * MAX_BYTES + 1024 * 1024
HANDLER_HEADER = b"reflex-event-handler"


@functools.cache
def public_upload_handlers() -> frozenset[str]:
    """The full names Reflex gives the handlers that take uploads (public intake, staff files,
    the catalog's CSV import, an agent's authorisation)."""
    # Imported on first use: the state modules import this package's neighbours.
    from reflex.utils.format import format_event_handler

    from mi_portal.state.catalog import CatalogState
    from mi_portal.state.clinic_settings import ClinicSettingsState
    from mi_portal.state.conversation import ConversationState
    from mi_portal.state.intake import IntakeState
    from mi_portal.state.reply import ReplyState
    from mi_portal.state.rights_request import RightsRequestState

    # Staff attachments: the handler itself is guarded (MESSAGES_SEND) like every other.
    return frozenset(
        {
            format_event_handler(IntakeState.submit),
            format_event_handler(ReplyState.send),
            # An agent's signed authorisation on the public privacy-request form (10 MB at most).
            format_event_handler(RightsRequestState.submit),
            format_event_handler(ConversationState.upload_attachment),
            # The catalog's CSV import (guarded: CATALOG_MANAGE; reads at most 1 MB of it).
            format_event_handler(CatalogState.import_csv),
            # The clinic's logo (guarded: SETTINGS_MANAGE; reads at most 2 MB of it).
            format_event_handler(ClinicSettingsState.upload_logo),
        }
    )


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
    """Refuse an upload to any handler but the public ones, larger than the intake accepts, or
    too often from one address.

    Reflex dispatches an upload to whichever registered handler the ``reflex-event-handler``
    header names; a staff handler, which takes no files, made it answer 500 after spooling the
    body. And Reflex spools an upload completely before the handler sees it: without the size
    check an anonymous visitor could make the server hold arbitrarily large bodies, as often as
    it likes. All of it is decided from the headers, before anything is read.
    """

    def __init__(
        self,
        app: Any,
        max_bytes: int = MAX_UPLOAD_BYTES,
        handlers: Collection[str] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._handlers = frozenset(handlers) if handlers is not None else None

    @property
    def handlers(self) -> frozenset[str]:
        return self._handlers if self._handlers is not None else public_upload_handlers()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope.get("type") == "http"
            and scope.get("method") == "POST"
            and scope.get("path", "").rstrip("/").endswith("/_upload")
        ):
            problem = self._problem(list(scope.get("headers") or []))
            if problem is not None:
                status, text = problem
                await PlainTextResponse(text, status_code=status)(scope, receive, send)
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

    def _problem(self, headers: list[tuple[bytes, bytes]]) -> tuple[int, str] | None:
        named = [value for name, value in headers if name.lower() == HANDLER_HEADER]
        # Exactly one: with two, this check and Reflex could each read a different one.
        if len(named) != 1 or named[0].decode("latin-1") not in self.handlers:
            return 403, "This upload is not accepted."
        declared = dict(headers).get(b"content-length")
        if declared is None or not declared.isdigit():
            return 411, "Length required"
        if int(declared) > self.max_bytes:
            return 413, "The photos are too large."
        return None
