"""What every signed-in page shows about the user: name, clinic, switch banner, menu."""

from __future__ import annotations

import asyncio

import reflex as rx

from mi_portal.services import auth, message_list, tenancy
from mi_portal.services.auth import SignedIn
from mi_portal.services.labels import role_label
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.guard import current, guarded, session_token
from mi_portal.state.tab import forget

# The sign-out route takes same-origin POSTs only (no other site may end a session), so the
# browser leaves through a form it submits itself; the tab also drops its Reflex state token.
_POST_SIGN_OUT_JS = (
    "window.sessionStorage.removeItem('token');"
    "const f = document.createElement('form');"
    "f.method = 'post'; f.action = '/api/auth/signout';"
    "document.body.appendChild(f); f.submit();"
)


class SessionState(rx.State):
    """Display copy of the signed-in user; the guard never reads these back."""

    user_name: str = ""
    user_email: str = ""
    role: str = ""
    clinic_name: str = ""
    is_platform: bool = False
    switch_reason: str = ""
    switch_until: str = ""
    clinic_count: int = 0
    can_switch: bool = False
    can_manage_users: bool = False
    can_view_audit: bool = False
    can_view_cases: bool = False
    can_manage_templates: bool = False
    can_manage_catalog: bool = False
    can_view_retention: bool = False
    can_forward_rights: bool = False
    can_answer_rights: bool = False
    can_view_settings: bool = False
    can_list_clinics: bool = False
    can_manage_platform_users: bool = False
    can_view_reports: bool = False
    can_view_platform_reports: bool = False
    # Inbound messages this user has not read, over all the clinic's conversations.
    unread_messages: int = 0

    @rx.event
    @guarded(Permission.SELF)
    async def refresh(self) -> None:
        await self._show(current())

    async def _show(self, signed: SignedIn, *, count_unread: bool = True) -> None:
        """Fill the header from the session the guard resolved (never from the browser).

        ``count_unread=False``: the page's own load counts the unread messages, in its own
        session and after its reads (opening a case marks its messages read)."""
        actor = signed.actor
        self.user_name = signed.full_name
        self.user_email = signed.email
        self.role = role_label(actor.role.value)
        self.clinic_name = signed.clinic_name or ""
        self.is_platform = actor.is_platform
        self.switch_reason = (
            signed.switch_reason or "" if actor.is_platform and actor.tenant_id else ""
        )
        self.switch_until = (
            signed.switch_expires_at.strftime("%H:%M UTC")
            if actor.is_platform and actor.tenant_id and signed.switch_expires_at
            else ""
        )
        self.clinic_count = len(signed.memberships)
        self.can_switch = has_permission(actor, Permission.TENANT_SWITCH)
        self.can_manage_users = (
            has_permission(actor, Permission.USERS_MANAGE) and actor.tenant_id is not None
        )
        self.can_view_audit = has_permission(actor, Permission.AUDIT_VIEW)
        self.can_view_cases = has_permission(actor, Permission.CASES_VIEW)
        self.can_manage_templates = has_permission(actor, Permission.TEMPLATES_MANAGE)
        self.can_manage_catalog = has_permission(actor, Permission.CATALOG_MANAGE)
        self.can_view_retention = has_permission(actor, Permission.RETENTION_VIEW)
        self.can_forward_rights = has_permission(actor, Permission.RIGHTS_FORWARD)
        self.can_answer_rights = has_permission(actor, Permission.RIGHTS_ANSWER)
        self.can_view_settings = has_permission(actor, Permission.SETTINGS_VIEW)
        self.can_list_clinics = has_permission(actor, Permission.CLINICS_LIST)
        self.can_manage_platform_users = has_permission(actor, Permission.PLATFORM_USERS)
        self.can_view_reports = has_permission(actor, Permission.REPORTS_VIEW)
        self.can_view_platform_reports = has_permission(actor, Permission.PLATFORM_REPORTS)
        if count_unread:
            self.unread_messages = await asyncio.to_thread(message_list.total_unread, actor)

    @rx.event
    @guarded(Permission.SELF, before_mfa=True)
    async def sign_out(self):  # type: ignore[no-untyped-def]
        await asyncio.to_thread(auth.sign_out, session_token(self))
        forget(self._get_root_state())
        return rx.call_script(_POST_SIGN_OUT_JS)

    @rx.event
    @guarded(Permission.SELF)
    async def sign_out_everywhere(self):  # type: ignore[no-untyped-def]
        signed = current()
        await asyncio.to_thread(auth.sign_out_everywhere, signed.user_id, by=signed.actor)
        forget(self._get_root_state())
        return rx.call_script(_POST_SIGN_OUT_JS)

    @rx.event
    @guarded(Permission.TENANT_SWITCH)
    async def leave_clinic(self):  # type: ignore[no-untyped-def]
        await asyncio.to_thread(tenancy.switch_out, current())
        return rx.redirect("/clinics/pick")
