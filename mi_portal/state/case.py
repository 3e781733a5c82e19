"""The case page: the case id comes from the URL; every action goes through the services."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.services import audit, cases, photos, retention_rules
from mi_portal.services.actor import NotFound
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.conversation import ConversationState
from mi_portal.state.guard import current, guarded
from mi_portal.state.legal_holds import HoldsState

# The order in which the case page's looks enter the audit chain (they are read side by side).
PAGE_LOOKS = ("case.view", "images.thumbnails_listed", "thread.viewed")


class CaseState(rx.State):
    case: dict[str, Any] = {}
    thumbnails: list[dict[str, Any]] = []
    members: list[dict[str, str]] = []
    # When each category of this case is due (see components/retention_parts.py).
    retention: dict[str, Any] = {}
    can_edit: bool = False
    not_found: bool = False
    loading: bool = True
    error: str = ""

    @rx.var
    def opened(self) -> bool:
        """A case is shown (false after a failed load: the page then shows only why)."""
        return bool(self.case)

    @rx.var
    def heading(self) -> str:
        reference = self.case.get("reference", "")
        return f"Case {reference}" if reference and not self.not_found else "Case"

    def _case_id(self) -> str:
        return str(self.id)[:64]  # type: ignore[attr-defined]  (route argument)

    async def _refresh(self) -> None:
        """The case, its due dates and its thumbnails: three reads side by side (each its own
        session), so the page waits for the slowest. Each runs to its end before this returns,
        even when another fails, so no read outlives the event."""
        actor, case_id = current().actor, self._case_id()
        reads = [
            asyncio.to_thread(cases.case_detail, actor, case_id),
            asyncio.to_thread(retention_rules.case_due_dates, actor, case_id),
        ]
        if has_permission(actor, Permission.IMAGES_VIEW):
            reads.append(asyncio.to_thread(photos.thumbnails, actor, case_id))
        detail, dates, *links = results = await asyncio.gather(*reads, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, NotFound):
                raise result
        # Only "not found" is left. Not in this clinic (or gone): nothing of it is kept. Due
        # dates alone missing means a sweep removed it after it was read: the next load says so.
        if any(isinstance(r, NotFound) for r in (detail, *links)):
            self.not_found, self.case, self.thumbnails = True, {}, []
            self.retention = {}
            self.loading = False
            return
        assert isinstance(detail, cases.CaseDetail)
        data = asdict(detail)
        data["answers"] = [{"question": q, "answer": a} for q, a in detail.answers]
        self.case = data
        self.retention = {} if isinstance(dates, BaseException) else asdict(dates)
        if links:
            self.thumbnails = [asdict(link) for link in links[0]]  # type: ignore[arg-type]
        self.not_found = False
        self.loading = False

    @rx.event
    @guarded(Permission.CASES_VIEW, page=True)
    async def load(self) -> None:
        """The whole case page in one event: the case, its conversation and its holds.

        The four reads are independent (each its own session, each filling its own state), so
        they run side by side: the page waits for the slowest, not for their sum.
        """
        self.loading, self.error = True, ""
        self.can_edit = has_permission(current().actor, Permission.CASES_EDIT)
        conversation = await self.get_state(ConversationState)
        holds = await self.get_state(HoldsState)
        try:
            # The page's three audited reads (the case, its thumbnails, its conversation) are
            # written to the audit chain together, in one transaction, once all have ended.
            with audit.together() as looks:
                try:
                    # A task group: should one fail, the others are cancelled and awaited
                    # before the event ends, so nothing touches the state after it.
                    async with asyncio.TaskGroup() as group:
                        for read in (
                            self._members(),
                            self._refresh(),
                            conversation._open(),
                            holds._open(),
                        ):
                            group.create_task(read)
                finally:  # what was read is recorded, even when another read failed
                    await asyncio.to_thread(looks.write, PAGE_LOOKS)
        except BaseException:
            # A look that is not recorded did not happen: nothing read is sent to the tab.
            for state in (self, conversation, holds):
                state.reset()
            self.loading, self.error = False, "The case could not be opened. Try again."
            raise

    async def _members(self) -> None:
        self.members = [
            {"id": uid, "name": name}
            for uid, name in await asyncio.to_thread(cases.assignable, current().actor)
        ]

    async def _do(self, action) -> None:  # type: ignore[no-untyped-def]
        self.error = ""
        try:
            await asyncio.to_thread(action)
        except NotFound:
            self.error = "That case or person was not found."
        except ValueError as exc:
            self.error = str(exc)
        await self._refresh()

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def change_status(self, status: str) -> None:
        actor, case_id = current().actor, self._case_id()
        await self._do(lambda: cases.change_status(actor, case_id, str(status)))

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def assign(self, user_id: str) -> None:
        actor, case_id = current().actor, self._case_id()
        await self._do(
            lambda: cases.assign(actor, case_id, None if user_id == "none" else str(user_id))
        )

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def add_note(self, form_data: dict[str, Any]) -> None:
        actor, case_id = current().actor, self._case_id()
        body = str(form_data.get("body", "")) if isinstance(form_data, dict) else ""
        await self._do(lambda: cases.add_note(actor, case_id, body))
