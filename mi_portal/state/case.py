"""The case page: the case id comes from the URL; every action goes through the services."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass
from typing import Any

import reflex as rx
import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import Patient, Submission, Tenant
from mi_portal.services import (
    audit,
    cases,
    legal_holds,
    message_list,
    message_templates,
    messaging,
    photos,
    retention_rules,
)
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.conversation import ConversationState
from mi_portal.state.guard import current, guarded
from mi_portal.state.legal_holds import HoldsState
from mi_portal.state.session import SessionState

# The order in which the case page's looks enter the audit chain.
PAGE_LOOKS = ("case.view", "images.thumbnails_listed", "thread.viewed")


@dataclass(frozen=True)
class _CaseReads:
    detail: cases.CaseDetail | None  # None: not in this clinic, or gone
    dates: retention_rules.CaseDueDates | None  # None: removed after the case was read
    thumbnails: list[photos.PhotoLink]


@dataclass(frozen=True)
class _PageReads:
    case: _CaseReads
    members: list[tuple[str, str]]
    conversation: messaging.Conversation | None
    templates: list[message_templates.TemplateRow]
    holds: list[legal_holds.HoldView]
    # The header's count, read last: opening the case has just marked its messages read.
    unread: int


def _read_case(
    session: ScopedSession, actor: Actor, case_id: str, *, held: bool | None = None
) -> _CaseReads:
    """The case card's reads; ``held``: whether the case is under a legal hold, when the
    caller has already read its holds (else the due dates ask)."""
    try:
        detail = cases.case_detail(actor, case_id, lent=session)
        links = (
            photos.thumbnails(actor, case_id, lent=session)
            if has_permission(actor, Permission.IMAGES_VIEW)
            else []
        )
    except NotFound:
        return _CaseReads(None, None, [])
    try:
        dates = retention_rules.case_due_dates(actor, case_id, lent=session, held=held)
    except NotFound:
        dates = None
    return _CaseReads(detail, dates, links)


def _read_case_alone(actor: Actor, case_id: str) -> _CaseReads:
    with tenant_session(actor.require_tenant()) as session:
        return _read_case(session, actor, case_id)


def _rows_every_card_reads(session: ScopedSession, actor: Actor, case_id: str) -> list[object]:
    """The case, its patient and its clinic, in one statement: the cards then find them in the
    session's identity map."""
    try:
        wanted = parse_id(case_id, "submission")
    except NotFound:
        return []  # the first card says so
    found = session.exec(
        select(Submission, Patient, Tenant)
        .join(
            Patient,
            sa.and_(
                col(Patient.tenant_id) == col(Submission.tenant_id),
                col(Patient.id) == col(Submission.patient_id),
            ),
        )
        .join(Tenant, col(Tenant.id) == col(Submission.tenant_id))
        .where(col(Submission.tenant_id) == actor.require_tenant(), col(Submission.id) == wanted)
    ).first()
    return list(found) if found is not None else []


def _read_page(looks: audit.Batch, actor: Actor, case_id: str) -> _PageReads:
    """Everything the case page shows, through one session and one transaction, which also
    moves the user's read marker and appends the page's looks to the clinic's audit chain, so
    what was shown, marked read and recorded is committed together. When a read fails, the
    looks already made are still written (in a transaction of their own): what was read is
    recorded."""
    with looks.session_with_looks(actor.require_tenant(), PAGE_LOOKS) as session:
        members = cases.assignable(actor, lent=session)
        # Held while the cards are read: a session's identity map keeps only the rows
        # still referenced, so without this every card would read the case, its patient
        # and the clinic again.
        rows = _rows_every_card_reads(session, actor, case_id)
        holds: list[legal_holds.HoldView] = []
        if not rows:
            case = _CaseReads(None, None, [])
        else:
            # The holds first: whether one is in force is also what the due dates need.
            with contextlib.suppress(NotFound):
                holds = legal_holds.holds_for_case(actor, case_id, lent=session)
            case = _read_case(session, actor, case_id, held=any(h.active for h in holds))
        if case.detail is None:
            unread = message_list.total_unread(actor, lent=session)
            return _PageReads(case, members, None, [], [], unread)
        try:
            talk = messaging.conversation(actor, case_id, lent=session)
        except NotFound:
            talk = None
        templates = (
            message_templates.list_templates(actor, active_only=True, lent=session)
            if talk is not None and talk.can_send
            else []
        )
        del rows
        unread = message_list.total_unread(actor, lent=session)
        return _PageReads(case, members, talk, templates, holds, unread)


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

    def _show(self, reads: _CaseReads) -> None:
        if reads.detail is None:
            # Not in this clinic (or gone): nothing of it is kept.
            self.not_found, self.case, self.thumbnails = True, {}, []
            self.retention = {}
            self.loading = False
            return
        data = asdict(reads.detail)
        data["answers"] = [{"question": q, "answer": a} for q, a in reads.detail.answers]
        self.case = data
        # Due dates alone missing means a sweep removed the case after it was read: the next
        # load says so.
        self.retention = asdict(reads.dates) if reads.dates is not None else {}
        self.thumbnails = [asdict(link) for link in reads.thumbnails]
        self.not_found = False
        self.loading = False

    async def _refresh(self) -> None:
        """The case, its due dates and its thumbnails, read again (after a change)."""
        actor, case_id = current().actor, self._case_id()
        self._show(await asyncio.to_thread(_read_case_alone, actor, case_id))

    @rx.event
    @guarded(Permission.CASES_VIEW, page=True, page_counts_unread=True)
    async def load(self) -> None:
        """The whole case page in one event: the case, its conversation and its holds (and the
        header's unread count, read after the conversation has marked this case's messages read).

        Every card is read through one session in one worker thread: one connection and one
        transaction for the page, not one per card. (Side by side on threads, the cards
        overlapped their short waits on the database, but most of their time is this process's
        CPU, which threads do not share out; each card's own session cost more than that.)
        """
        self.loading, self.error = True, ""
        actor, case_id = current().actor, self._case_id()
        self.can_edit = has_permission(actor, Permission.CASES_EDIT)
        conversation = await self.get_state(ConversationState)
        holds = await self.get_state(HoldsState)
        try:
            # The page's three audited reads (the case, its thumbnails, its conversation) are
            # written to the audit chain together, in one transaction, once all have ended.
            with audit.together() as looks:
                page = await asyncio.to_thread(_read_page, looks, actor, case_id)
        except BaseException:
            # A look that is not recorded did not happen: nothing read is sent to the tab.
            for state in (self, conversation, holds):
                state.reset()
            self.loading, self.error = False, "The case could not be opened. Try again."
            raise
        self.members = [{"id": uid, "name": name} for uid, name in page.members]
        self._show(page.case)
        conversation._start()
        conversation._show(page.conversation)
        conversation._show_templates(page.templates)
        holds._start()
        holds._show(page.holds)
        header = await self.get_state(SessionState)
        header.unread_messages = page.unread

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
