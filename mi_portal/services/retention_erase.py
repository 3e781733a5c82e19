"""What clearing a category of a case's data does to its rows, driven by the columns' tags.

Every personal column carries its data category (models/base.py ``personal``). Clearing a
category on a case empties every column of that category in the case's rows, except the few a
de-identified record keeps for aggregate figures (``KEPT_ON_DEIDENTIFY``), and removes the rows
that *are* that category's data (``ROWS_REMOVED``). A new personal column is covered the day it is
tagged. Everything here runs inside the caller's transaction and only on rows created before the
item was planned: data that arrived since is never touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from mi_portal.db import ScopedSession, in_batches
from mi_portal.models import (
    Annotation,
    CaseNote,
    ConsentRecord,
    DataCategory,
    ImageRendition,
    LegalHold,
    Message,
    MessageAttachment,
    MessageThread,
    OutboxMessage,
    Patient,
    Quote,
    QuoteLine,
    RetentionAction,
    Submission,
    SubmissionImage,
    ThreadRead,
)
from mi_portal.services import rights_locator
from mi_portal.services.legal_holds import active_hold_clause

D = DataCategory
TOMBSTONE_NAME = "Anonymous patient"
# A de-identified case keeps what aggregate figures need: its concern area and quote amounts
# (its status, and month of arrival and of each status change, are not personal columns).
KEPT_ON_DEIDENTIFY = frozenset(
    {
        ("submission", "concern_area"),
        *(("quote", c) for c in ("subtotal", "discount_total", "tax_total", "total", "deposit")),
        *(
            ("quoteline", c)
            for c in (
                "quantity",
                "unit_price",
                "gross",
                "line_discount",
                "net",
                "tax",
                "line_total",
            )
        ),
    }
)
# What an emptied column becomes when NULL is not allowed.
PLACEHOLDERS = {("patient", "full_name"): TOMBSTONE_NAME}


@dataclass
class CaseRows:
    """Ids of one case's rows that existed when it was planned."""

    images: list[uuid.UUID] = field(default_factory=list)
    threads: list[uuid.UUID] = field(default_factory=list)
    messages: list[uuid.UUID] = field(default_factory=list)
    notes: list[uuid.UUID] = field(default_factory=list)
    quotes: list[uuid.UUID] = field(default_factory=list)

    @staticmethod
    def merge(many: Iterable[CaseRows]) -> CaseRows:
        """The rows of several cases together (a batch is cleared in one statement per table)."""
        merged = CaseRows()
        for rows in many:
            merged.images += rows.images
            merged.threads += rows.threads
            merged.messages += rows.messages
            merged.notes += rows.notes
            merged.quotes += rows.quotes
        return merged

    def all_ids(self) -> list[str]:
        return [str(i) for i in (*self.images, *self.threads, *self.messages, *self.notes,
                                 *self.quotes)]  # fmt: skip


def _in(column: Any, ids: Collection[uuid.UUID]) -> Any:
    return col(column).in_(list(ids))


def case_rows(session: ScopedSession, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, CaseRows]:
    """The rows of ``case_ids`` by case (ids only)."""
    rows = {case_id: CaseRows() for case_id in case_ids}
    for image_id, case_id in session.exec(
        select(SubmissionImage.id, SubmissionImage.submission_id).where(
            _in(SubmissionImage.submission_id, case_ids)
        )
    ):
        rows[case_id].images.append(image_id)
    thread_case: dict[uuid.UUID, uuid.UUID] = {}
    for thread_id, case_id in session.exec(
        select(MessageThread.id, MessageThread.submission_id).where(
            _in(MessageThread.submission_id, case_ids)
        )
    ):
        rows[case_id].threads.append(thread_id)
        thread_case[thread_id] = case_id
    if thread_case:
        for message_id, thread_id in session.exec(
            select(Message.id, Message.thread_id).where(_in(Message.thread_id, thread_case))
        ):
            rows[thread_case[thread_id]].messages.append(message_id)
    for note_id, case_id in session.exec(
        select(CaseNote.id, CaseNote.submission_id).where(_in(CaseNote.submission_id, case_ids))
    ):
        rows[case_id].notes.append(note_id)
    for quote_id, case_id in session.exec(
        select(Quote.id, Quote.submission_id).where(_in(Quote.submission_id, case_ids))
    ):
        rows[case_id].quotes.append(quote_id)
    return rows


def object_keys(session: ScopedSession, rows: Iterable[CaseRows]) -> dict[int, list[str]]:
    """Every stored object of the given cases' photos and attachments, by position."""
    listed = list(rows)
    image_at = {i: n for n, r in enumerate(listed) for i in r.images}
    message_at = {m: n for n, r in enumerate(listed) for m in r.messages}
    keys: dict[int, list[str]] = {n: [] for n in range(len(listed))}
    for chunk in in_batches(list(image_at)):
        for image_id, key in session.exec(
            select(ImageRendition.image_id, ImageRendition.storage_key).where(
                _in(ImageRendition.image_id, chunk)
            )
        ):
            keys[image_at[image_id]].append(key)
    for chunk in in_batches(list(message_at)):
        for message_id, key in session.exec(
            select(MessageAttachment.message_id, MessageAttachment.storage_key).where(
                _in(MessageAttachment.message_id, chunk),
                col(MessageAttachment.storage_key).isnot(None),
            )
        ):
            if key:
                keys[message_at[message_id]].append(key)
    return keys


def _empty(column: sa.Column[Any]) -> Any:
    if column.nullable:
        return None
    if isinstance(column.type, sa.JSON):
        return [] if column.name == "retention_cleared" else {}
    if isinstance(column.type, sa.Boolean):
        return False
    return ""


def _tagged(model: type[SQLModel], categories: Collection[str], keep: bool) -> dict[str, Any]:
    """Column name → emptied value for the columns of ``model`` tagged with ``categories``."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.info.get("category") not in categories:
            continue
        if keep and (table.name, column.name) in KEPT_ON_DEIDENTIFY:
            continue
        values[column.name] = PLACEHOLDERS.get((table.name, column.name), _empty(column))
    return values


def _clear(
    session: ScopedSession,
    model: type[SQLModel],
    where: Any,
    categories: Collection[str],
    keep: bool,
) -> None:
    values = _tagged(model, categories, keep)
    if values:
        session.execute(sa.update(model).where(where).values(**values))


def _delete(session: ScopedSession, model: type[SQLModel], where: Any) -> int:
    return session.execute(sa.delete(model).where(where)).rowcount or 0  # type: ignore[attr-defined]


@dataclass
class Cleared:
    photos: int = 0
    messages: int = 0
    notes: int = 0
    quotes: int = 0


def clear_categories(
    session: ScopedSession,
    rows: CaseRows,
    categories: Collection[str],
    actions: dict[str, str],
    *,
    case_ids: Collection[uuid.UUID],
    planned_keys: Collection[str],
) -> Cleared:
    """Clear ``categories`` of the cases' rows (those listed in ``rows``)."""
    done = Cleared()
    cats = set(categories)
    # Columns a de-identifying category keeps stay; a deleting one empties them too.
    deleting = {c for c in cats if actions.get(c) == RetentionAction.DELETE}
    keeping = cats - deleting
    if D.HEALTH_IMAGE in cats:
        done.photos = _remove_photos(session, rows, planned_keys)
    if D.SPECIAL_CATEGORY in cats and rows.messages:
        # Free text goes whatever the action: notes, messages and what was sent of them.
        _delete(session, OutboxMessage, _in(OutboxMessage.message_id, rows.messages))
        _delete(session, MessageAttachment, _in(MessageAttachment.message_id, rows.messages))
        done.messages = _delete(session, Message, _in(Message.id, rows.messages))
    if D.SPECIAL_CATEGORY in cats and rows.threads:
        _delete(session, ThreadRead, _in(ThreadRead.thread_id, rows.threads))
    if D.SPECIAL_CATEGORY in cats and rows.notes:
        done.notes = _delete(session, CaseNote, _in(CaseNote.id, rows.notes))
    if D.COMMERCIAL in deleting and rows.quotes:
        _delete(session, QuoteLine, _in(QuoteLine.quote_id, rows.quotes))
        done.quotes = _delete(session, Quote, _in(Quote.id, rows.quotes))
    for group, keep in ((deleting, False), (keeping, True)):
        if not group:
            continue
        _clear(session, Submission, _in(Submission.id, case_ids), group, keep)
        if rows.threads:
            _clear(session, MessageThread, _in(MessageThread.id, rows.threads), group, keep)
        if rows.images:
            _clear(session, SubmissionImage, _in(SubmissionImage.id, rows.images), group, keep)
            _clear(session, Annotation, _in(Annotation.image_id, rows.images), group, keep)
        if rows.quotes and D.COMMERCIAL not in deleting:
            _clear(session, Quote, _in(Quote.id, rows.quotes), group, keep)
            _clear(session, QuoteLine, _in(QuoteLine.quote_id, rows.quotes), group, keep)
    return done


def _remove_photos(session: ScopedSession, rows: CaseRows, planned_keys: Collection[str]) -> int:
    """Photo rows whose every object was deleted; a photo that arrived since keeps its rows."""
    if not rows.images and not rows.messages:
        return 0
    planned = set(planned_keys)
    images = set(rows.images)
    for image_id, key in session.exec(
        select(ImageRendition.image_id, ImageRendition.storage_key).where(
            _in(ImageRendition.image_id, rows.images)
        )
    ):
        if key not in planned:
            images.discard(image_id)
    removed = 0
    if images:
        _delete(session, Annotation, _in(Annotation.image_id, images))
        _delete(session, ImageRendition, _in(ImageRendition.image_id, images))
        _delete(session, MessageAttachment, _in(MessageAttachment.image_id, images))
        removed = _delete(session, SubmissionImage, _in(SubmissionImage.id, images))
    if rows.messages:
        attachments = select(MessageAttachment.id, MessageAttachment.storage_key).where(
            _in(MessageAttachment.message_id, rows.messages)
        )
        gone = [a for a, key in session.exec(attachments) if key is None or key in planned]
        if gone:
            _delete(session, MessageAttachment, _in(MessageAttachment.id, gone))
    return removed


def _delete_ended_holds(
    session: ScopedSession, column: Any, ids: Collection[uuid.UUID], now: datetime
) -> None:
    """Holds no longer in force only: one in force makes the delete after it fail, loudly."""
    _delete(session, LegalHold, sa.and_(_in(column, ids), sa.not_(active_hold_clause(now))))


def finish_cases(
    session: ScopedSession, case_ids: Collection[uuid.UUID], outcome: str, now: datetime
) -> None:
    """The cases' end once every category is cleared: deleted, or de-identified records."""
    ids = list(case_ids)
    if not ids:
        return
    if outcome == "delete":
        threads = select(MessageThread.id).where(_in(MessageThread.submission_id, ids))
        messages = select(Message.id).where(col(Message.thread_id).in_(threads))
        images = select(SubmissionImage.id).where(_in(SubmissionImage.submission_id, ids))
        quotes = select(Quote.id).where(_in(Quote.submission_id, ids))
        _delete(session, OutboxMessage, col(OutboxMessage.message_id).in_(messages))
        _delete(session, MessageAttachment, col(MessageAttachment.message_id).in_(messages))
        _delete(session, Message, col(Message.id).in_(messages))
        _delete(session, ThreadRead, col(ThreadRead.thread_id).in_(threads))
        _delete(session, MessageThread, _in(MessageThread.submission_id, ids))
        _delete(session, CaseNote, _in(CaseNote.submission_id, ids))
        _delete(session, QuoteLine, col(QuoteLine.quote_id).in_(quotes))
        _delete(session, Quote, _in(Quote.submission_id, ids))
        _delete(session, Annotation, col(Annotation.image_id).in_(images))
        _delete(session, ImageRendition, col(ImageRendition.image_id).in_(images))
        _delete(session, SubmissionImage, _in(SubmissionImage.submission_id, ids))
        _delete_ended_holds(session, LegalHold.submission_id, ids, now)
        _delete(session, Submission, _in(Submission.id, ids))
        return
    month = _month(now)
    for case in session.exec(select(Submission).where(_in(Submission.id, ids))):
        # Only months survive: of arrival, and (in the audit log) of each status change.
        case.received_at = _month(case.received_at) if case.received_at else month
        case.last_activity_at = _month(case.last_activity_at) if case.last_activity_at else month
        case.sla_due_at = None
        case.quote_sent_at = _month(case.quote_sent_at) if case.quote_sent_at else None
        case.reviewed_at = _month(case.reviewed_at) if case.reviewed_at else None
        case.deidentified_at = now
        session.add(case)


def _month(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def clear_patients(
    session: ScopedSession,
    patient_ids: Collection[uuid.UUID],
    categories: Collection[str],
    now: datetime,
) -> set[uuid.UUID]:
    """Clear the patients' own records; returns the patients deleted (no case of theirs is
    left). ``categories`` applies to the others."""
    ids = list(set(patient_ids))
    if not ids:
        return set()
    with_cases = set(
        session.exec(
            select(Submission.patient_id).where(_in(Submission.patient_id, ids)).distinct()
        )
    )
    removed = [p for p in ids if p not in with_cases]
    kept = [p for p in ids if p in with_cases]
    # The locator's digests of an address go with it: with the patient, or with their contact.
    cats = set(categories)
    forget = removed + (kept if D.CONTACT in cats else [])
    if forget:
        rights_locator.forget_patients(session, forget)
    if removed:
        _delete(session, ConsentRecord, _in(ConsentRecord.patient_id, removed))
        _delete_ended_holds(session, LegalHold.patient_id, removed, now)
        _delete(session, Patient, _in(Patient.id, removed))
    if kept and cats:
        if D.CONTACT in cats:
            # Consents are the contact data's own record: with the contact details, they go.
            _delete(session, ConsentRecord, _in(ConsentRecord.patient_id, kept))
        else:
            _clear(session, ConsentRecord, _in(ConsentRecord.patient_id, kept), cats, False)
        _clear(session, Patient, _in(Patient.id, kept), cats, False)
        if {D.IDENTITY, D.CONTACT} <= cats:
            session.execute(
                sa.update(Patient).where(_in(Patient.id, kept)).values(anonymized_at=now)
            )
    return set(removed)
