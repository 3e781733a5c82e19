"""Webhooks of the inbound email and SMS providers, and the SMS delivery reports.

Each request must carry the provider's HMAC signature (``services/webhooks``): that is the
credential, so the routes are public. Unsigned, wrongly signed, stale or future-dated requests
answer 401 and store nothing. A correctly signed request that names no current thread (an
unknown address, another clinic's key, a retired link, a number no clinic owns) answers
200 ``ignored`` and stores nothing: the provider did its job, and a non-2xx answer would only
make it post the same message again for days.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from mi_portal.api.limits import client_address
from mi_portal.config import get_settings
from mi_portal.services import (
    delivery_status,
    inbound_email,
    inbound_sms,
    outbox,
    ratelimit,
    webhooks,
)
from mi_portal.services.permissions import PUBLIC, declare

# Providers post from a few addresses, in bursts: generous, but not unlimited.
WEBHOOK_PER_ADDRESS = ratelimit.Limit("inbound-webhook", 600, timedelta(minutes=1))
MAX_SMS_FORM_BYTES = 64 * 1024


class TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _signed_body(request: Request, secret: str, limit: int) -> bytes | Response:
    """The body of a signed, fresh request, or the answer to give instead."""
    address = client_address(request.scope)
    wait = await asyncio.to_thread(ratelimit.hit, WEBHOOK_PER_ADDRESS, address)
    if wait:
        return PlainTextResponse(
            "Too many requests.", status_code=429, headers={"Retry-After": str(wait)}
        )
    try:
        body = await _body(request, limit)
    except TooLarge:
        return PlainTextResponse("Too large.", status_code=413)
    if not webhooks.verified(
        secret,
        request.headers.get(webhooks.TIMESTAMP_HEADER),
        request.headers.get(webhooks.SIGNATURE_HEADER),
        body,
    ):
        return PlainTextResponse("Signature missing, wrong or stale.", status_code=401)
    return body


def _form(body: bytes) -> dict[str, str]:
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=50)
    return {k: v[0] for k, v in fields.items() if v}


def _answer(outcome: str) -> JSONResponse:
    return JSONResponse({"status": outcome}, headers={"Cache-Control": "no-store"})


@declare(PUBLIC)
async def inbound_email_hook(request: Request) -> Response:
    """Raw MIME of an email a patient sent to a reply address."""
    signed = await _signed_body(
        request, get_settings().inbound_email_secret, inbound_email.MAX_EMAIL_BYTES
    )
    if isinstance(signed, Response):
        return signed
    received = await asyncio.to_thread(
        functools.partial(inbound_email.receive_email, signed, ip=client_address(request.scope))
    )
    return _answer(received.outcome)


@declare(PUBLIC)
async def inbound_sms_hook(request: Request) -> Response:
    """A text message to a clinic's number: form fields From, To, Body, MessageSid."""
    signed = await _signed_body(request, get_settings().inbound_sms_secret, MAX_SMS_FORM_BYTES)
    if isinstance(signed, Response):
        return signed
    form = _form(signed)
    result = await asyncio.to_thread(
        functools.partial(
            inbound_sms.receive_sms,
            sender=form.get("From", ""),
            to=form.get("To", ""),
            body=form.get("Body", ""),
            sid=form.get("MessageSid", ""),
            ip=client_address(request.scope),
        )
    )
    return _answer(result.outcome)


@declare(PUBLIC)
async def sms_status_hook(request: Request) -> Response:
    """The provider's delivery report for one SMS; ``?o=`` names the clinic and the row."""
    signed = await _signed_body(request, get_settings().inbound_sms_secret, MAX_SMS_FORM_BYTES)
    if isinstance(signed, Response):
        return signed
    target = delivery_status.read_status_token(request.query_params.get("o", ""))
    if target is None:
        return PlainTextResponse("Not found", status_code=404)
    form = _form(signed)
    changed = await asyncio.to_thread(
        outbox.mark_status, target[0], target[1], form.get("MessageStatus", "")
    )
    return _answer("updated" if changed else "unchanged")
