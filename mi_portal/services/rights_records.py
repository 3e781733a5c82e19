"""What an access package holds: a patient's rows of one clinic, grouped by data category.

Every personal column carries its category (models/base.py ``personal``), so the package is
driven by the tags: each table a patient's data lives in is listed here with how its rows are
found and dated, and each of its personal columns lands in its category's file. A table with
personal columns that is neither listed nor withheld with a reason fails a test, so a new
personal column reaches the package (or a written reason) the day it is tagged.

Rows count when they were made in the period asked for (the 12 months before the request);
the patient's own record is the current one, whenever it was made. Read in the caller's tenant
session: row-level security keeps every other clinic out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from mi_portal.db import ScopedSession
from mi_portal.models import (
    Annotation,
    CaseNote,
    ConsentRecord,
    DataCategory,
    ImageRendition,
    Message,
    MessageAttachment,
    MessageThread,
    Patient,
    Quote,
    QuoteLine,
    RenditionKind,
    Submission,
    SubmissionImage,
)
from mi_portal.models.base import NOT_PERSONAL
from mi_portal.services.intake_questions import answers_as_asked
from mi_portal.services.tenant_export import json_value

D = DataCategory
FROM_PATIENT = "you (the clinic's intake form)"
FROM_STAFF = "the clinic's staff"
FROM_MESSAGES = "your messages to the clinic"
FROM_SYSTEM = "recorded automatically when you used the clinic's pages"

# Personal columns left out, with the reason the summary gives (technical, not about the person).
WITHHELD_COLUMNS: dict[tuple[str, str], str] = {
    ("submissionimage", "sha256"): "checksums",
    ("messageattachment", "sha256"): "checksums",
    ("messageattachment", "storage_key"): "checksums",
    ("quote", "form"): "draft",
}
# Tables with personal columns that are not in the package, and why.
WITHHELD_TABLES: dict[str, str] = {
    "imagerendition": "checksums",
    "outboxmessage": "deliveries",
    "legalhold": "holds",
    "rightsrequestforward": "request",
}


def _asked(answers: Any) -> list[dict[str, str]]:
    return [{"question": q, "answer": a} for q, a in answers_as_asked(answers)]


# Columns shown in a readable form: a case's answers as each question was asked, with its answer.
PRESENTED_COLUMNS: dict[tuple[str, str], Callable[[Any], Any]] = {("submission", "answers"): _asked}
WITHHELD_REASONS: dict[str, str] = {
    "checksums": "Internal storage references and checksums of your photos and files: technical "
    "identifiers, not information about you. The photos and files themselves are included.",
    "draft": "The working copy of a quote while staff drafted it: the quote's lines and "
    "amounts, as sent or saved, are included.",
    "deliveries": "Delivery copies of the emails and text messages sent to you: they repeat "
    "the messages included here.",
    "holds": "Records of any legal hold on your cases: they concern legal claims and may be "
    "withheld while those claims are pending.",
    "request": "Your request itself: you already have what you sent.",
    "staff": "The names of the clinic's staff who wrote notes, messages or quotes: that is "
    "other people's personal data.",
    "audit": "The clinic's security log of who did what and when: its entries about you "
    "repeat the data included here.",
}


@dataclass
class Record:
    """One row's personal data of one category, with what it is, when and where from."""

    record: str
    source: str
    date: datetime | None
    case: str | None
    fields: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "case": self.case,
            "date": self.date.isoformat() if self.date else None,
            "source": self.source,
            "fields": {k: _plain(v) for k, v in self.fields.items()},
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return json_value(value)


@dataclass
class StoredFile:
    """A photo or attachment to copy from the store into the package."""

    path: str  # inside the ZIP
    key: str
    case: str | None
    date: datetime | None


@dataclass
class Holdings:
    """Everything of the patients the package holds."""

    by_category: dict[str, list[Record]] = field(default_factory=dict)
    files: list[StoredFile] = field(default_factory=list)
    cases: dict[uuid.UUID, str] = field(default_factory=dict)  # case id → its label
    sources: dict[str, set[str]] = field(default_factory=dict)

    def add(
        self, row: SQLModel, label: str, source: str, when: datetime | None, case: str | None
    ) -> None:
        table: sa.Table = row.__table__  # type: ignore[attr-defined]
        grouped: dict[str, dict[str, Any]] = {}
        for column in table.columns:
            category = column.info.get("category")
            if category in (None, NOT_PERSONAL) or (table.name, column.name) in WITHHELD_COLUMNS:
                continue
            value = getattr(row, column.name)
            if value in (None, "", {}, []):
                continue  # nothing held in this column (cleared, or never given)
            present = PRESENTED_COLUMNS.get((table.name, column.name))
            if present is not None:
                value = present(value)
            grouped.setdefault(str(category), {})[column.name] = value
        for category, fields in grouped.items():
            self.by_category.setdefault(category, []).append(
                Record(label, source, when, case, fields)
            )
            self.sources.setdefault(category, set()).add(source)

    def counts(self) -> dict[str, int]:
        return {c: len(rows) for c, rows in sorted(self.by_category.items())}


@dataclass(frozen=True)
class Window:
    """The period covered: rows made after ``start`` and up to ``end`` (the request)."""

    start: datetime | None
    end: datetime

    def holds(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        return (self.start is None or moment > self.start) and moment <= self.end


def _in(column: Any, ids: Collection[uuid.UUID]) -> Any:
    return col(column).in_(list(ids))


def collect(session: ScopedSession, patients: list[Patient], window: Window) -> Holdings:
    """The patients' rows of the session's clinic made within ``window``, by category."""
    found = Holdings()
    ids = [p.id for p in patients]
    for patient in patients:
        found.add(patient, "Your patient record", FROM_PATIENT, patient.created_at, None)
    for consent in session.exec(select(ConsentRecord).where(_in(ConsentRecord.patient_id, ids))):
        if window.holds(consent.recorded_at):
            label = f"Consent: {consent.kind.replace('_', ' ')}"
            found.add(consent, label, FROM_SYSTEM, consent.recorded_at, None)
    cases = list(
        session.exec(
            select(Submission)
            .where(_in(Submission.patient_id, ids))
            .order_by(col(Submission.received_at), col(Submission.id))
        )
    )
    for n, case in enumerate(cases, start=1):
        found.cases[case.id] = f"case {n} ({case.received_at:%Y-%m-%d})"
        if window.holds(case.received_at):
            found.add(
                case,
                "Your request (intake form)",
                FROM_PATIENT,
                case.received_at,
                found.cases[case.id],
            )
    if cases:
        _case_rows(session, found, window)
    return found


def _case_rows(session: ScopedSession, found: Holdings, window: Window) -> None:
    label = found.cases.get
    case_ids = list(found.cases)
    images = list(
        session.exec(
            select(SubmissionImage)
            .where(_in(SubmissionImage.submission_id, case_ids))
            .order_by(col(SubmissionImage.submission_id), col(SubmissionImage.position))
        )
    )
    image_case = {i.id: i.submission_id for i in images}
    originals = {
        image_id: key
        for image_id, key in session.exec(
            select(ImageRendition.image_id, ImageRendition.storage_key).where(
                _in(ImageRendition.image_id, list(image_case)),
                ImageRendition.kind == RenditionKind.ORIGINAL.value,
            )
        )
    }
    for image in images:
        if not window.holds(image.created_at):
            continue
        case = label(image.submission_id)
        path = f"photos/{_slug(case)}/photo-{image.position + 1}{_ext(image.content_type)}"
        found.add(image, "Photo", FROM_PATIENT, image.created_at, case)
        if image.id in originals:
            found.files.append(StoredFile(path, originals[image.id], case, image.created_at))
            found.by_category.setdefault(D.HEALTH_IMAGE, []).append(
                Record("Photo", FROM_PATIENT, image.created_at, case, {"file": path})
            )
            found.sources.setdefault(D.HEALTH_IMAGE, set()).add(FROM_PATIENT)
    _rows(session, found, window, Annotation, "Marker on a photo", image_case, "image_id")
    _rows(session, found, window, CaseNote, "Staff note", None, "submission_id")
    threads = list(
        session.exec(select(MessageThread).where(_in(MessageThread.submission_id, case_ids)))
    )
    thread_case = {t.id: t.submission_id for t in threads}
    for thread in threads:
        if window.holds(thread.created_at):
            found.add(
                thread, "Conversation", FROM_STAFF, thread.created_at, label(thread.submission_id)
            )
    messages = list(session.exec(select(Message).where(_in(Message.thread_id, thread_case))))
    message_of = {m.id: m for m in messages}
    for message in messages:
        if window.holds(message.created_at):
            source = FROM_MESSAGES if message.direction == "inbound" else FROM_STAFF
            found.add(
                message,
                f"Message ({message.direction}, {message.channel})",
                source,
                message.created_at,
                label(thread_case[message.thread_id]),
            )
    for n, attachment in enumerate(
        session.exec(
            select(MessageAttachment)
            .where(_in(MessageAttachment.message_id, list(message_of)))
            .order_by(col(MessageAttachment.id))
        ),
        start=1,
    ):
        message = message_of[attachment.message_id]
        if not window.holds(message.created_at):
            continue
        case = label(thread_case[message.thread_id])
        source = FROM_MESSAGES if message.direction == "inbound" else FROM_STAFF
        found.add(attachment, "File sent with a message", source, message.created_at, case)
        if attachment.storage_key:
            path = f"files/{_slug(case)}/file-{n}{_ext(attachment.content_type)}"
            found.files.append(StoredFile(path, attachment.storage_key, case, message.created_at))
    quotes = list(session.exec(select(Quote).where(_in(Quote.submission_id, case_ids))))
    for quote in quotes:
        if window.holds(quote.created_at):
            found.add(
                quote,
                f"Quote, version {quote.version} ({quote.status})",
                FROM_STAFF,
                quote.created_at,
                label(quote.submission_id),
            )
    quote_of = {q.id: q for q in quotes if window.holds(q.created_at)}
    for line in session.exec(select(QuoteLine).where(_in(QuoteLine.quote_id, list(quote_of)))):
        quote = quote_of[line.quote_id]
        found.add(
            line,
            f"Quote line (version {quote.version})",
            FROM_STAFF,
            quote.created_at,
            label(quote.submission_id),
        )


def _rows(
    session: ScopedSession,
    found: Holdings,
    window: Window,
    model: type[Annotation] | type[CaseNote],
    label: str,
    parent_case: dict[uuid.UUID, uuid.UUID] | None,
    parent: str,
) -> None:
    """Rows of ``model`` under the cases (or, through ``parent_case``, under their photos)."""
    parents = list(parent_case) if parent_case is not None else list(found.cases)
    column = getattr(model, parent)
    case_of: Callable[[Any], uuid.UUID] = (
        (lambda row: parent_case[getattr(row, parent)])
        if parent_case is not None
        else (lambda row: getattr(row, parent))
    )
    for row in session.exec(select(model).where(_in(column, parents))):
        if window.holds(row.created_at):
            found.add(row, label, FROM_STAFF, row.created_at, found.cases.get(case_of(row)))


def _slug(case: str | None) -> str:
    return (case or "other").split(" (")[0].replace(" ", "-")


_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}


def _ext(content_type: str) -> str:
    return _EXTENSIONS.get(content_type, ".bin")
