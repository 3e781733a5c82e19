"""The requester's download of an access package: ``/api/privacy/package/<token>``.

Public (the requester has no account): the token is the credential, works once and expires
(``rights_access.redeem``). Opening the link (GET) only shows a page with a download button:
mail scanners and link previews that fetch every link must not use it up. The button POSTs to
the same address, which streams the ZIP from the store as an attachment, never cached. Both are
rate-limited per address. Every refusal is the same plain page, whether the link was unknown,
altered, expired or already used.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from mi_portal.api.limits import client_address
from mi_portal.services import ratelimit, rights_access
from mi_portal.services.permissions import PUBLIC, declare

# A requester downloads once; a few retries (and mistyped links) fit well within this.
PACKAGE_PER_ADDRESS = ratelimit.Limit("rights-package", 10, timedelta(minutes=10))
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
    "Referrer-Policy": "no-referrer",
}
GONE_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Link expired</title></head><body><main>"
    "<h1>This link has expired or was already used</h1>"
    "<p>Ask the clinic that answered your request to send a new link.</p>"
    "</main></body></html>\n"
)


READY_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Your data</title></head><body><main>"
    "<h1>Download a copy of your data</h1>"
    "<p>The download works once. Keep the file somewhere safe: it holds your photos and the "
    "details the clinic has about you.</p>"
    '<form method="post"><button type="submit">Download (ZIP)</button></form>'
    "</main></body></html>\n"
)


def _limited(wait: int) -> Response:
    return PlainTextResponse(
        "Too many requests.", status_code=429, headers={**_HEADERS, "Retry-After": str(wait)}
    )


def _gone() -> Response:
    return HTMLResponse(GONE_PAGE, status_code=404, headers=_HEADERS)


async def _body(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in iterate_in_threadpool(chunks):
        yield chunk


@declare(PUBLIC)
async def package_page(request: Request) -> Response:
    """The link as opened from the email: a button, nothing used up."""
    wait = await asyncio.to_thread(
        ratelimit.hit, PACKAGE_PER_ADDRESS, client_address(request.scope)
    )
    if wait:
        return _limited(wait)
    return HTMLResponse(
        READY_PAGE,
        headers={**_HEADERS, "Content-Security-Policy": "default-src 'none'; form-action 'self'"},
    )


@declare(PUBLIC)
async def package_download(request: Request) -> Response:
    ip, agent = client_address(request.scope), request.headers.get("user-agent")
    wait = await asyncio.to_thread(ratelimit.hit, PACKAGE_PER_ADDRESS, ip)
    if wait:
        return _limited(wait)
    token = str(request.path_params.get("token", ""))[:200]
    got = await asyncio.to_thread(
        functools.partial(rights_access.redeem, token, ip=ip, user_agent=agent)
    )
    if got is None:
        return _gone()
    filename, chunks = got
    return StreamingResponse(
        _body(chunks),
        media_type="application/zip",
        headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
