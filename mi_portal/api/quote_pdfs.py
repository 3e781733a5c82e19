"""Quote PDFs over plain HTTP: staff through a link bound to their session, the patient through
the quote page's own token.

Staff: ``/api/quotes/<quote id>.pdf?t=<token>`` (``quote_pdf.staff_link``): the token names the
clinic and the version, expires after minutes and is bound to the user's sign-in session; the
route checks it against the session cookie again, then the service checks the permission.
Patient: ``/api/q/<token>.pdf`` serves the version the token names, as the page does. Every
refusal is the same plain "Not found", whether the link was altered, expired, another clinic's
or another session's.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mi_portal.api.limits import client_address
from mi_portal.services import patient_quotes, quote_pdf, ratelimit
from mi_portal.services.actor import NotFound, PermissionDenied
from mi_portal.services.auth import resolve_async
from mi_portal.services.permissions import PUBLIC, Permission, declare
from mi_portal.state.guard import SESSION_COOKIE

# A patient saves the PDF once or twice; rendering costs a little CPU, so keep it modest.
PATIENT_PDF_PER_ADDRESS = ratelimit.Limit("quote-pdf-patient", 30, timedelta(minutes=10))


def _not_found() -> Response:
    return PlainTextResponse("Not found", status_code=404, headers={"Cache-Control": "no-store"})


def _pdf(got: quote_pdf.QuotePdf) -> Response:
    return Response(
        got.data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{got.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
            "Referrer-Policy": "no-referrer",
        },
    )


@declare(Permission.CASES_VIEW)
async def staff_quote_pdf(request: Request) -> Response:
    quote_id = str(request.path_params.get("quote_id", ""))
    ip, agent = client_address(request.scope), request.headers.get("user-agent")
    signed = await resolve_async(request.cookies.get(SESSION_COOKIE), ip=ip, user_agent=agent)
    if signed is None or not signed.mfa_passed:
        return _not_found()
    actor = signed.actor
    if not quote_pdf.staff_link_opens(actor, quote_id, request.query_params.get("t", "")):
        return _not_found()
    try:
        got = await asyncio.to_thread(quote_pdf.for_staff, actor, quote_id)
    except (NotFound, PermissionDenied, ValueError):
        return _not_found()
    return _pdf(got)


@declare(PUBLIC)
async def patient_quote_pdf(request: Request) -> Response:
    ip, agent = client_address(request.scope), request.headers.get("user-agent")
    wait = await asyncio.to_thread(ratelimit.hit, PATIENT_PDF_PER_ADDRESS, ip)
    if wait:
        return PlainTextResponse(
            "Too many requests.",
            status_code=429,
            headers={"Retry-After": str(wait), "Cache-Control": "no-store"},
        )
    token = str(request.path_params.get("token", ""))
    try:
        got = await asyncio.to_thread(
            functools.partial(quote_pdf.for_patient, token, ip=ip, user_agent=agent)
        )
    except patient_quotes.LinkInvalid:
        return _not_found()
    return _pdf(got)
