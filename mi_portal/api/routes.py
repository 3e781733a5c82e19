"""Starlette routes mounted on the Reflex backend. Each declares the permission it needs."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from mi_portal.api import limits
from mi_portal.api.binding import browser_binding
from mi_portal.config import get_settings
from mi_portal.services import auth, ratelimit
from mi_portal.services.health import database_ok
from mi_portal.services.permissions import PUBLIC, declare
from mi_portal.state.guard import SESSION_COOKIE

_SAFE_NEXT = ("/", "/mfa/enroll", "/clinics/pick")


@declare(PUBLIC)
async def health(_request: Request) -> JSONResponse:
    """Liveness and database reachability."""
    ok = await asyncio.to_thread(database_ok)
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "database": ok}, status_code=200 if ok else 503
    )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def client_address(request: Request) -> str:
    return limits.client_address(request.scope)


def too_many(wait: int) -> Response:
    return PlainTextResponse(
        "Too many attempts. Please try again later.",
        status_code=429,
        headers={"Retry-After": str(wait)},
    )


@declare(PUBLIC)
async def session_from_ticket(request: Request) -> Response:
    """Exchange the sign-in page's one-time ticket for the HttpOnly session cookie, in the
    browser that signed in only (the ticket is bound to its binding cookie)."""
    wait = await asyncio.to_thread(ratelimit.hit, ratelimit.TICKET_REDEEM, client_address(request))
    if wait:
        return too_many(wait)
    ticket = request.query_params.get("ticket", "")[:200]
    wanted = request.query_params.get("next", "/")
    next_path = wanted if wanted in _SAFE_NEXT else "/"  # no open redirect
    browser = browser_binding(request.cookies)
    token = await asyncio.to_thread(auth.redeem_ticket, ticket, browser=browser)
    if token is None:
        return RedirectResponse("/signin", status_code=303)
    return set_session_cookie(request, RedirectResponse(next_path, status_code=303), token)


def set_session_cookie(request: Request, response: Response, token: str) -> Response:
    """The only place the session cookie is written: HttpOnly, SameSite=Lax, Secure on https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(auth.ABSOLUTE_LIFETIME.total_seconds()),
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def same_origin(request: Request) -> bool:
    """Whether the browser says this request comes from the portal's own pages.

    ``Sec-Fetch-Site`` and ``Origin`` are set by the browser and cannot be forged by a page.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("origin")
    if not origin:
        return False
    scheme = "https" if _secure(request) else "http"
    own = {f"{scheme}://{request.headers.get('host', '')}", get_settings().frontend_origin}
    return origin.rstrip("/") in {o.rstrip("/") for o in own}


@declare(PUBLIC)
async def sign_out(request: Request) -> Response:
    """Revoke the session (if any) and clear the cookie: a POST from the portal's own pages only,
    so no other site can end a session."""
    if not same_origin(request):
        return PlainTextResponse("Sign out from the portal itself.", status_code=403)
    await asyncio.to_thread(auth.sign_out, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request)
    )
    return response


def _routes() -> list[Route]:
    from mi_portal.api.clinic_logo import clinic_logo
    from mi_portal.api.downloads import download_photo
    from mi_portal.api.inbound import inbound_email_hook, inbound_sms_hook, sms_status_hook
    from mi_portal.api.objects import signed_object
    from mi_portal.api.oidc import oidc_callback, oidc_login
    from mi_portal.api.privacy_package import package_download, package_page
    from mi_portal.api.quote_pdfs import patient_quote_pdf, staff_quote_pdf
    from mi_portal.api.reply_files import reply_file

    return [
        Route("/api/health", health, methods=["GET"]),
        Route("/api/auth/session", session_from_ticket, methods=["GET"]),
        Route("/api/auth/signout", sign_out, methods=["POST"]),
        Route("/api/auth/oidc/{name}/login", oidc_login, methods=["GET"]),
        Route("/api/auth/oidc/{name}/callback", oidc_callback, methods=["GET"]),
        Route("/api/objects/{key:path}", signed_object, methods=["GET"]),
        Route("/api/downloads/{image_id}", download_photo, methods=["GET"]),
        Route("/api/clinic/{slug}/logo", clinic_logo, methods=["GET"]),
        Route("/api/inbound/email", inbound_email_hook, methods=["POST"]),
        Route("/api/inbound/sms", inbound_sms_hook, methods=["POST"]),
        Route("/api/inbound/sms/status", sms_status_hook, methods=["POST"]),
        Route("/api/reply-files/{attachment_id}", reply_file, methods=["GET"]),
        Route("/api/quotes/{quote_id}.pdf", staff_quote_pdf, methods=["GET"]),
        Route("/api/q/{token}.pdf", patient_quote_pdf, methods=["GET"]),
        Route("/api/privacy/package/{token}", package_page, methods=["GET"]),
        Route("/api/privacy/package/{token}", package_download, methods=["POST"]),
    ]


def build_api_app() -> Starlette:
    settings = get_settings()
    return Starlette(
        routes=_routes(),
        middleware=[
            # Holds Authlib's state, nonce and PKCE verifier during the single-sign-on round trip.
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie="mi_oidc",
                max_age=600,
                same_site="lax",
                https_only=settings.frontend_origin.startswith("https://"),
            )
        ],
    )


api_app = build_api_app()
