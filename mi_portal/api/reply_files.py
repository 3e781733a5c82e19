"""Files the clinic sent, fetched from the patient's reply page through short-lived signed links.

The link (made when the page is shown) names the clinic, the attachment and the thread's key;
the route checks the signature and expiry, that the key is still the thread's current one and
that the attachment was sent in that thread, then audits the fetch in the clinic's chain.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mi_portal.api.limits import client_address
from mi_portal.services import patient_reply, ratelimit
from mi_portal.services.permissions import PUBLIC, declare
from mi_portal.storage import ObjectMissing, StorageUnavailable

FILES_PER_ADDRESS = ratelimit.Limit("reply-files", 120, timedelta(minutes=10))


@declare(PUBLIC)
async def reply_file(request: Request) -> Response:
    ip, agent = client_address(request.scope), request.headers.get("user-agent")
    wait = await asyncio.to_thread(ratelimit.hit, FILES_PER_ADDRESS, ip)
    if wait:
        return PlainTextResponse(
            "Too many requests.", status_code=429, headers={"Retry-After": str(wait)}
        )
    try:
        got = await asyncio.to_thread(
            functools.partial(
                patient_reply.fetch_file,
                str(request.path_params.get("attachment_id", "")),
                request.query_params.get("t", ""),
                ip=ip,
                user_agent=agent,
            )
        )
    except (patient_reply.LinkInvalid, ObjectMissing, StorageUnavailable, OSError):
        return PlainTextResponse("Not found", status_code=404)
    safe_name = "".join(c for c in got.filename if c.isalnum() or c in "._- ")[:100] or "file"
    disposition = "inline" if got.content_type.startswith("image/") else "attachment"
    return Response(
        got.data,
        media_type=got.content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{safe_name}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
            "Referrer-Policy": "no-referrer",
        },
    )
