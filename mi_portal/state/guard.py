"""The one guard every public event handler goes through.

``@guarded(Permission.X)`` rebuilds the signed-in user from the HttpOnly session cookie for each
event (never from a var the browser could write), checks the permission, records denied attempts
in the audit log, and only then runs the handler, which reads the result with ``current()``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

import reflex as rx
from starlette.requests import cookie_parser

from mi_portal.services import audit
from mi_portal.services.auth import SignedIn, resolve_async
from mi_portal.services.permissions import (
    PUBLIC,
    Permission,
    declare,
    has_permission,
    page_access,
)

SESSION_COOKIE = "mi_session"
_current: contextvars.ContextVar[SignedIn | None] = contextvars.ContextVar(
    "mi_signed_in", default=None
)


def hard_redirect(path: str) -> rx.event.EventSpec:
    """A full page load (not client-side routing): needed to reach HTTP routes under /api.

    Every such move starts or ends a sign-in, so the tab also drops its Reflex state token: the
    next page gets fresh, empty state, and nothing one user saw is sent to the next.
    """
    return rx.call_script(
        f"window.sessionStorage.removeItem('token'); window.location.assign({json.dumps(path)})"
    )


def current() -> SignedIn:
    """The signed-in user of the event being handled (only inside a guarded handler)."""
    signed = _current.get()
    if signed is None:
        raise RuntimeError("current() used outside a guarded handler")
    return signed


def page_block(permission: Permission) -> str:
    """Why the signed-in person may not open a page needing ``permission`` ("" when they may):
    ``page_access`` for the current session ("pick", "switch", "leave" or "denied")."""
    signed = current()
    return page_access(signed.actor, permission, has_memberships=bool(signed.memberships))


def session_token(state: rx.State) -> str | None:
    # The same lenient parser as the HTTP routes: one malformed cookie must not hide the session.
    return cookie_parser(state.router.headers.cookie or "").get(SESSION_COOKIE)


def client_info(state: rx.State) -> tuple[str | None, str | None]:
    return (state.router.session.client_ip or None, state.router.headers.user_agent or None)


async def signed_in(state: rx.State, *, activity: bool = True) -> SignedIn | None:
    ip, agent = client_info(state)
    return await resolve_async(session_token(state), ip=ip, user_agent=agent, activity=activity)


def guarded(
    permission: Permission | str,
    *,
    before_mfa: bool = False,
    automatic: bool = False,
    page: bool = False,
    page_counts_unread: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare and enforce the permission an event handler needs.

    ``page`` marks a staff page's own load (the one event of its on_load): once the session is
    resolved, it also fills the header (``SessionState``) from it, before the permission is
    checked, so a page someone may not open still shows who they are. One event and one session
    lookup per page, instead of a header event and a page event that each look it up.
    ``page_counts_unread``: that page's load sets the header's unread count itself, read in its
    own session (the header does not open one for it), when the person may open the page.

    ``automatic`` marks a handler the page calls on its own (a timer, not a person): it does not
    count as activity, so it never keeps an idle session alive.

    ``before_mfa`` lets a handler run for a user who has signed in with a password but still has
    to enrol or confirm the second factor (the enrolment page itself).
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(fn):
            # Handlers that stream updates (yield) are only allowed where no sign-in is needed:
            # a context variable cannot safely carry the signed-in user across their yields.
            if permission != PUBLIC:
                raise TypeError(f"{fn.__qualname__}: a guarded handler cannot yield")

            @functools.wraps(fn)
            async def public_stream(self: rx.State, *args: Any, **kwargs: Any) -> Any:
                async for update in fn(self, *args, **kwargs):
                    yield update

            declare(PUBLIC)(public_stream)
            return public_stream

        @functools.wraps(fn)
        async def handler(self: rx.State, *args: Any, **kwargs: Any) -> Any:
            if permission == PUBLIC:
                token = _current.set(None)
                try:
                    return await fn(self, *args, **kwargs)
                finally:
                    _current.reset(token)
            signed = await signed_in(self, activity=not automatic)
            if signed is None:
                # The session ended: the tab keeps nothing it was shown (see state/tab.py).
                from mi_portal.state.tab import forget

                forget(self._get_root_state())
                return rx.redirect("/signin")
            from mi_portal.state.tab import claim

            # A tab token filled under another session or clinic starts empty for this one.
            await claim(self, signed)
            if not before_mfa and (signed.needs_enrolment or not signed.mfa_passed):
                return rx.redirect("/mfa/enroll")
            assert isinstance(permission, Permission)
            if page:
                from mi_portal.state.session import SessionState

                header = await self.get_state(SessionState)
                await header._show(
                    signed,
                    count_unread=not (
                        page_counts_unread and has_permission(signed.actor, permission)
                    ),
                )
            if not has_permission(signed.actor, permission):
                await asyncio.to_thread(
                    audit.record,
                    signed.actor,
                    "access.denied",
                    outcome="denied",
                    details={"permission": permission.value, "handler": fn.__qualname__},
                )
                if (
                    signed.actor.tenant_id is None
                    and not signed.actor.is_platform
                    and signed.memberships
                ):
                    return rx.redirect("/clinics/pick")
                return rx.toast.error("You do not have access to that.", id="access-denied")
            token = _current.set(signed)
            try:
                return await fn(self, *args, **kwargs)
            finally:
                _current.reset(token)

        declare(permission)(handler)
        handler.page_load = page  # type: ignore[attr-defined]  (checked by signed_in_page)
        return handler

    return wrap
