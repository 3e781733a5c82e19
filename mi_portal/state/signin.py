"""Sign-in: email and password, then the second factor."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import reflex as rx

from mi_portal.api.binding import binding_from_header
from mi_portal.config import get_settings
from mi_portal.services import auth, clock, ratelimit
from mi_portal.services.permissions import PUBLIC
from mi_portal.state.guard import client_info, guarded, hard_redirect

PENDING_FOR = timedelta(minutes=5)
MAX_CODE_TRIES = 5


def _ticket_url(ticket: str, next_path: str) -> str:
    return f"/api/auth/session?ticket={ticket}&next={next_path}"


SSO_ERRORS = {
    "invalid": "Single sign-on did not complete. Please try again.",
    "refused": "This account cannot sign in with single sign-on here. Ask your clinic's owner.",
    "unavailable": "The single sign-on provider cannot be reached right now.",
    "unknown": "That single sign-on provider is not configured.",
}
NO_BINDING = "This page was open too long to sign in. Reload it and try again."


class SignInState(rx.State):
    providers: list[dict[str, str]] = []
    step: str = "password"
    email: str = ""
    error: str = ""
    busy: bool = False

    # Between the password and the code: kept on the server only.
    _pending_user: uuid.UUID | None = None
    _pending_until: datetime | None = None
    _code_tries: int = 0

    def _browser(self) -> str | None:
        # Set on the page's own HTTP response, so it is in the event socket's handshake.
        return binding_from_header(self.router.headers.cookie or "")

    async def _throttled(self, limit: ratelimit.Limit) -> bool:
        ip, _agent = client_info(self)
        wait = await asyncio.to_thread(ratelimit.hit, limit, ip or "unknown")
        if wait:
            self.error = ratelimit.try_again_message(wait, what="sign-in attempts")
        return bool(wait)

    def _reset(self, *, forget_email: bool = False) -> None:
        if forget_email:
            self.email = ""
        self._pending_user = None
        self._pending_until = None
        self._code_tries = 0
        self.step = "password"

    @rx.event
    @guarded(PUBLIC)
    async def load(self) -> None:
        """Single-sign-on buttons (names and labels only) and any error from the round trip."""
        self.providers = [{"name": p.name, "label": p.label} for p in get_settings().oidc_providers]
        code = str(self.router.url.query_parameters.get("sso_error", ""))
        if code:
            self.error = SSO_ERRORS.get(code, SSO_ERRORS["invalid"])

    @rx.event
    @guarded(PUBLIC)
    async def start_sso(self, name: str):  # type: ignore[no-untyped-def]
        """Leave for the provider (a full page load: the round trip runs over HTTP routes)."""
        known = {p.name for p in get_settings().oidc_providers}
        if not isinstance(name, str) or name not in known:
            self.error = SSO_ERRORS["unknown"]
            return None
        return hard_redirect(f"/api/auth/oidc/{name}/login")

    @rx.event
    @guarded(PUBLIC)
    async def submit_password(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        email = str(form_data.get("email", ""))[:254] if isinstance(form_data, dict) else ""
        password = str(form_data.get("password", "")) if isinstance(form_data, dict) else ""
        self.email = email
        self.error = ""
        if not email.strip() or not password:
            self.error = "Enter your email and password."
            return None
        browser = self._browser()
        if browser is None:
            self.error = NO_BINDING
            return None
        if await self._throttled(ratelimit.SIGN_IN_PASSWORD):
            return None
        ip, agent = client_info(self)
        result = await asyncio.to_thread(
            auth.check_password, email, password, ip=ip, user_agent=agent
        )
        if result.user_id is None:
            self.error = result.error
            return None
        if result.needs_enrolment:
            ticket = await asyncio.to_thread(
                auth.start_session,
                result.user_id,
                mfa_passed=False,
                ip=ip,
                user_agent=agent,
                browser=browser,
            )
            self._reset(forget_email=True)
            return hard_redirect(_ticket_url(ticket, "/mfa/enroll"))
        self._pending_user = result.user_id
        self._pending_until = clock.now() + PENDING_FOR
        self._code_tries = 0
        self.step = "code"
        return None

    @rx.event
    @guarded(PUBLIC)
    async def submit_code(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        code = str(form_data.get("code", ""))[:64] if isinstance(form_data, dict) else ""
        self.error = ""
        user_id = self._pending_user
        if user_id is None or self._pending_until is None or self._pending_until < clock.now():
            self._reset()
            self.error = "That took too long. Sign in again."
            return None
        browser = self._browser()
        if browser is None:
            self._reset()
            self.error = NO_BINDING
            return None
        if await self._throttled(ratelimit.SIGN_IN_CODE):
            return None
        ip, agent = client_info(self)
        ok = await asyncio.to_thread(
            auth.check_second_factor, user_id, code, ip=ip, user_agent=agent
        )
        if not ok:
            self._code_tries += 1
            if self._code_tries >= MAX_CODE_TRIES:
                self._reset()
                self.error = "Too many wrong codes. Sign in again."
            else:
                self.error = (
                    "That code is not valid. Use the current code from your app or a recovery code."
                )
            return None
        ticket = await asyncio.to_thread(
            auth.start_session, user_id, mfa_passed=True, ip=ip, user_agent=agent, browser=browser
        )
        self._reset(forget_email=True)
        return hard_redirect(_ticket_url(ticket, "/"))

    @rx.event
    @guarded(PUBLIC)
    async def start_over(self) -> None:
        self._reset()
        self.error = ""
