"""OpenID Connect sign-in: authorization code flow with PKCE, state and nonce (Authlib).

Authlib keeps state, nonce and the PKCE verifier in Starlette's signed session cookie during the
round trip; the callback validates the ID token (signature from the provider's JWKS, issuer,
audience, expiry, nonce) before any user is looked up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets

from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mi_portal.config import OidcProvider, get_settings
from mi_portal.services import audit, auth, ratelimit, sso
from mi_portal.services.permissions import PUBLIC, declare

log = logging.getLogger(__name__)
_clients: dict[tuple[int, str], StarletteOAuth2App] = {}


def _client(prov: OidcProvider) -> StarletteOAuth2App:
    key = (os.getpid(), prov.name)
    if key not in _clients:
        oauth = OAuth()
        oauth.register(
            name=prov.name,
            client_id=prov.client_id,
            client_secret=prov.client_secret,
            server_metadata_url=prov.metadata_url,
            client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"},
        )
        _clients[key] = oauth.create_client(prov.name)  # type: ignore[assignment]
    return _clients[key]


def _callback_url(prov: OidcProvider) -> str:
    return f"{get_settings().frontend_origin.rstrip('/')}/api/auth/oidc/{prov.name}/callback"


def _failed(reason: str) -> Response:
    return RedirectResponse(f"/signin?sso_error={reason}", status_code=303)


@declare(PUBLIC)
async def oidc_login(request: Request) -> Response:
    """Send the browser to the provider (state, nonce and PKCE challenge created here)."""
    from mi_portal.api.routes import client_address, too_many

    wait = await asyncio.to_thread(ratelimit.hit, ratelimit.SSO_LOGIN, client_address(request))
    if wait:
        return too_many(wait)
    prov = sso.provider(request.path_params.get("name", ""))
    if prov is None:
        return _failed("unknown")
    try:
        return await _client(prov).authorize_redirect(request, _callback_url(prov))
    except Exception:
        log.warning("single sign-on provider %s unreachable", prov.name, exc_info=True)
        return _failed("unavailable")


@declare(PUBLIC)
async def oidc_callback(request: Request) -> Response:
    """Validate the provider's answer, map the verified email to a user, start a session."""
    from mi_portal.api.routes import set_session_cookie

    prov = sso.provider(request.path_params.get("name", ""))
    if prov is None:
        return _failed("unknown")
    ip = request.client.host if request.client else None
    agent = request.headers.get("user-agent")
    try:
        token = await _client(prov).authorize_access_token(request)
        claims = dict(token.get("userinfo") or {})
        if not claims:
            raise ValueError("no ID token in the provider's answer")
    except Exception as exc:  # bad state, bad signature, wrong nonce/audience, provider error
        await asyncio.to_thread(
            audit.record, None, "auth.sso", platform=True, outcome="failed",
            details={"provider": prov.name, "reason": type(exc).__name__}, ip=ip, user_agent=agent,
        )  # fmt: skip
        return _failed("invalid")
    try:
        user_id, tenant_id, did_mfa = await asyncio.to_thread(
            sso.user_for_claims, prov, claims, ip=ip, user_agent=agent
        )
    except sso.SsoRefused:
        return _failed("refused")
    scope = str(tenant_id) if tenant_id else "platform"
    # Ticket and cookie are exchanged inside this one request, so a binding of its own suffices:
    # what ties the round trip to the browser that started it is Authlib's state, kept in this
    # browser's signed ``mi_oidc`` cookie (a callback carrying another browser's state fails).
    binding = secrets.token_urlsafe(32)
    ticket = await asyncio.to_thread(
        auth.start_session,
        user_id,
        mfa_passed=did_mfa,
        ip=ip,
        user_agent=agent,
        browser=binding,
        sso_scope=scope,
    )
    session_token = await asyncio.to_thread(auth.redeem_ticket, ticket, browser=binding)
    if session_token is None:
        return _failed("invalid")
    # Without a second factor at the provider, the portal asks for its own before anything else.
    return set_session_cookie(
        request, RedirectResponse("/" if did_mfa else "/mfa/enroll", status_code=303), session_token
    )
