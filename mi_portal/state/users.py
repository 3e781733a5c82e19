"""Users and memberships of the clinic the user works in."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.config import get_settings
from mi_portal.models import CLINIC_ROLES, Role
from mi_portal.services import cases, users
from mi_portal.services.actor import NotFound, PermissionDenied
from mi_portal.services.labels import role_label
from mi_portal.services.permissions import PUBLIC, Permission
from mi_portal.state.guard import current, guarded

ROLE_CHOICES = sorted(r.value for r in CLINIC_ROLES)
# What the page shows for each role: words, never the stored code.
ROLE_NAMES = {r: role_label(r) for r in ROLE_CHOICES}


class UsersState(rx.State):
    members: list[dict[str, str | bool]] = []
    error: str = ""
    notice: str = ""
    invite_link: str = ""
    exposure_roles: list[str] = []
    is_owner: bool = False

    async def _reload(self) -> None:
        rows = await asyncio.to_thread(users.list_members, current().actor)
        self.members = [asdict(r) for r in rows]

    @rx.event
    @guarded(Permission.USERS_MANAGE, page=True)
    async def load(self) -> None:
        self.error = self.notice = self.invite_link = ""
        actor = current().actor
        self.is_owner = actor.role == Role.CLINIC_OWNER
        self.exposure_roles = await asyncio.to_thread(cases.identity_exposure, actor)
        await self._reload()

    @rx.event
    @guarded(Permission.USERS_MANAGE)
    async def set_exposure(self, role: str, checked: bool) -> None:
        if not isinstance(role, str) or role not in ROLE_CHOICES:
            return
        actor = current().actor
        wanted = sorted(
            {*self.exposure_roles, role} if checked is True else set(self.exposure_roles) - {role}
        )
        try:
            await asyncio.to_thread(cases.set_identity_exposure, actor, wanted)
        except PermissionDenied:
            self.error = "Only the clinic owner decides who sees patient identities in lists."
            return
        self.exposure_roles = await asyncio.to_thread(cases.identity_exposure, actor)
        self.notice = "Saved who sees full patient details in the case list."

    async def _apply(self, action, success: str) -> None:  # type: ignore[no-untyped-def]
        self.error = self.notice = ""
        try:
            await asyncio.to_thread(action)
        except NotFound:
            self.error = "That member was not found."
        except users.SwitchedInGrantRefused as exc:
            self.error = str(exc)  # says what to do instead
        except PermissionDenied:
            self.error = "You cannot make that change."
        except ValueError as exc:
            self.error = str(exc)
        else:
            self.notice = success
        await self._reload()

    @rx.event
    @guarded(Permission.USERS_MANAGE)
    async def invite(self, form_data: dict[str, Any]) -> None:
        data = form_data if isinstance(form_data, dict) else {}
        self.invite_link = ""
        token_box: list[str | None] = []

        def run() -> None:
            token_box.append(
                users.invite(
                    current_actor,
                    email=str(data.get("email", "")),
                    full_name=str(data.get("full_name", "")),
                    role=str(data.get("role", "")),
                )
            )

        current_actor = current().actor
        await self._apply(run, "Invitation created.")
        if token_box and token_box[0]:
            origin = get_settings().frontend_origin.rstrip("/")
            self.invite_link = f"{origin}/invite?token={token_box[0]}"

    @rx.event
    @guarded(Permission.USERS_MANAGE)
    async def change_role(self, membership_id: str, role: str) -> None:
        actor = current().actor
        await self._apply(lambda: users.change_role(actor, membership_id, role), "Role changed.")

    @rx.event
    @guarded(Permission.USERS_MANAGE)
    async def set_active(self, membership_id: str, active: bool) -> None:
        actor = current().actor
        await self._apply(
            lambda: users.set_member_active(actor, membership_id, active is True),
            "Access restored." if active is True else "Access disabled.",
        )


class AcceptInviteState(rx.State):
    """An invited person sets their first password (public: the link is the credential)."""

    problems: list[str] = []
    done: bool = False

    @rx.event
    @guarded(PUBLIC)
    async def accept(self, form_data: dict[str, Any]) -> None:
        data = form_data if isinstance(form_data, dict) else {}
        token = str(self.router.url.query_parameters.get("token", ""))
        password, repeat = str(data.get("password", "")), str(data.get("repeat", ""))
        if password != repeat:
            self.problems = ["The two passwords are not the same."]
            return
        self.problems = await asyncio.to_thread(users.accept_invite, token, password)
        self.done = not self.problems
