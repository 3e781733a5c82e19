"""/platform/users: platform staff, the invitation form, and a search over every account
(``?q=`` in the address) with Disable and Reset second factor.

Every change waits for a confirmation dialog; a refused one keeps the dialog open with what was
typed. The person acted on is one of the rows shown: an id the page never listed does nothing.
"""

from __future__ import annotations

import asyncio
import functools
import urllib.parse
from typing import Any

import reflex as rx

from mi_portal.models import Role
from mi_portal.services import platform_users
from mi_portal.services.actor import NotFound
from mi_portal.services.labels import role_label
from mi_portal.services.permissions import Permission
from mi_portal.services.platform_users import AccountProblem
from mi_portal.state.guard import current, guarded, page_block

BASE = "/platform/users"
ROLE_CHOICES = (Role.PLATFORM_ADMIN.value, Role.PLATFORM_SUPPORT.value)
ROLE_NAMES = {r: role_label(r) for r in ROLE_CHOICES}
# Actions a dialog confirms; the reset has its own handler (it needs its own permission).
ACTIONS = ("role", "disable", "enable", "resend")
INVITE_FIELDS = ("full_name", "email", "role")


def _view(account: platform_users.Account) -> dict[str, Any]:
    return {
        "id": account.user_id,
        "email": account.email,
        "name": account.full_name,
        "role": account.platform_role,
        "role_label": role_label(account.platform_role) if account.platform_role else "",
        "status": account.status,
        "mfa": account.mfa_enrolled,
        "last_seen": (
            account.last_seen.strftime("%Y-%m-%d %H:%M UTC") if account.last_seen else "never"
        ),
        "clinics": [
            {"name": c.name, "role": c.role + ("" if c.active else " (no access)")}
            for c in account.clinics
        ],
        "is_self": account.is_self,
    }


class PlatformUsersState(rx.State):
    blocked: str = ""
    loading: bool = True
    staff: list[dict[str, Any]] = []
    query: str = ""
    results: list[dict[str, Any]] = []
    error: str = ""
    notice: str = ""
    invite_errors: dict[str, str] = {}
    # The confirmation waiting: which action, on whom, and the reason typed for it.
    confirming: str = ""
    target_id: str = ""
    target_name: str = ""
    new_role: str = ""
    reason: str = ""
    dialog_error: str = ""

    async def _fetch(self) -> None:
        actor = current().actor
        staff = await asyncio.to_thread(platform_users.list_staff, actor)
        self.staff = [_view(a) for a in staff]
        found = await asyncio.to_thread(platform_users.search, actor, self.query)
        self.results = [_view(a) for a in found]

    def _shown(self, user_id: object) -> dict[str, Any] | None:
        for row in (*self.staff, *self.results):
            if row["id"] == user_id and not row["is_self"]:
                return row
        return None

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.error = self.notice = self.confirming = self.dialog_error = self.reason = ""
        self.invite_errors = {}
        self.staff, self.results = [], []
        blocked = page_block(Permission.PLATFORM_USERS)
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked = blocked
            return None
        self.blocked = ""
        self.query = str(self.router.url.query_parameters.get("q", ""))[:254].strip()
        self.loading = True
        await self._fetch()
        self.loading = False
        return None

    @rx.event
    @guarded(Permission.PLATFORM_USERS)
    async def search(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = form_data if isinstance(form_data, dict) else {}
        text = str(data.get("q", ""))[:254].strip()
        return rx.redirect(BASE + ("?q=" + urllib.parse.quote(text) if text else ""))

    @rx.event
    @guarded(Permission.PLATFORM_USERS)
    async def invite(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = form_data if isinstance(form_data, dict) else {}
        self.error = self.notice = ""
        self.invite_errors = {}
        try:
            await asyncio.to_thread(
                functools.partial(
                    platform_users.invite,
                    current().actor,
                    email=str(data.get("email", "")),
                    full_name=str(data.get("full_name", "")),
                    role=str(data.get("role", "")),
                )
            )
        except AccountProblem as problem:
            field = problem.field if problem.field in INVITE_FIELDS else "email"
            self.invite_errors = {field: str(problem)}
            return None  # what was typed stays in the form
        self.notice = "Invitation sent. The person chooses a password with the emailed link."
        await self._fetch()
        return [rx.set_value("invite-full_name", ""), rx.set_value("invite-email", "")]

    @rx.event
    @guarded(Permission.PLATFORM_USERS)
    async def ask(self, action: str, user_id: str, role: str = "") -> None:
        self.error = self.notice = self.dialog_error = self.reason = ""
        row = self._shown(user_id)
        if row is None or action not in (*ACTIONS, "reset"):
            return
        if action == "role" and (role not in ROLE_CHOICES or role == row["role"]):
            return
        self.confirming, self.target_id, self.target_name = action, row["id"], row["name"]
        self.new_role = role if action == "role" else ""

    @rx.event
    @guarded(Permission.PLATFORM_USERS)
    async def set_reason(self, value: str) -> None:
        self.reason = value[:1000] if isinstance(value, str) else ""

    @rx.event
    @guarded(Permission.PLATFORM_USERS)
    async def cancel(self) -> None:
        self.confirming = self.dialog_error = self.reason = ""

    async def _finish(self, run: Any, notice: str) -> None:
        self.dialog_error = ""
        try:
            await asyncio.to_thread(run)
        except NotFound:
            self.confirming, self.error = "", "That account was not found."
        except AccountProblem as problem:
            if problem.field == "reason":
                self.dialog_error = str(problem)  # the dialog stays open with what was typed
                return
            self.confirming, self.error = "", str(problem)
        else:
            self.confirming, self.reason, self.notice = "", "", notice
        await self._fetch()

    @rx.event
    @guarded(Permission.PLATFORM_USERS)
    async def confirm(self) -> None:
        action, actor, target = self.confirming, current().actor, self.target_id
        if action not in ACTIONS or self._shown(target) is None:
            self.confirming = ""
            return
        name, reason = self.target_name, self.reason
        if action == "role":
            role = self.new_role
            run = functools.partial(platform_users.change_role, actor, target, role)
            notice = f"{name} is now {ROLE_NAMES.get(role, role).lower()}."
        elif action == "resend":
            run = functools.partial(platform_users.resend_invite, actor, target)
            notice = f"A new invitation was sent to {name}; the earlier link no longer works."
        else:
            disabled = action == "disable"
            run = functools.partial(
                platform_users.set_disabled, actor, target, disabled=disabled, reason=reason
            )
            notice = (
                f"{name} is disabled everywhere and was signed out."
                if disabled
                else f"{name} can sign in again."
            )
        await self._finish(run, notice)

    @rx.event
    @guarded(Permission.MFA_RESET)
    async def confirm_reset(self) -> None:
        actor, target = current().actor, self.target_id
        if self.confirming != "reset" or self._shown(target) is None:
            self.confirming = ""
            return
        run = functools.partial(
            platform_users.reset_second_factor, actor, target, reason=self.reason
        )
        await self._finish(
            run,
            f"{self.target_name}'s second factor was reset. They were signed out, were told by "
            "email, and will set it up again at their next sign-in.",
        )
