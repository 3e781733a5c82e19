"""The consent ledger: a patient's current consent of a kind is the latest row of that kind.

Rows are only ever added (an opt-out is a new row, never an edit), each with its source and time,
so the history is the proof of what the patient said and when.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import col, select

from mi_portal.db import ScopedSession
from mi_portal.models import ConsentKind, ConsentRecord
from mi_portal.services import clock
from mi_portal.services.policy import POLICY_VERSION

# Where a consent change came from (shown in the history).
SOURCES = {
    "intake": "Intake form",
    "sms_keyword": "Text message keyword",
    "reply_page": "Patient's reply page",
    "staff": "Recorded by staff",
    "rights_request": "Privacy-rights request",
    "seed": "Demo data",
}


def current(session: ScopedSession, patient_id: uuid.UUID, kind: ConsentKind | str) -> bool:
    """Whether the patient's latest record of ``kind`` grants it (no record: not granted)."""
    row = session.exec(
        select(ConsentRecord.granted)
        .where(ConsentRecord.patient_id == patient_id, ConsentRecord.kind == str(kind))
        .order_by(col(ConsentRecord.recorded_at).desc(), col(ConsentRecord.id).desc())
        .limit(1)
    ).first()
    return bool(row)


def granted_in(history_lines: list[ConsentLine], kind: ConsentKind | str) -> bool:
    """What ``current`` answers, read from a ``history`` already loaded (newest first)."""
    return next((line.granted for line in history_lines if line.kind == str(kind)), False)


def record(
    session: ScopedSession,
    patient_id: uuid.UUID,
    kind: ConsentKind | str,
    granted: bool,
    *,
    source: str,
    ip: str | None = None,
    user_agent: str | None = None,
    text_version: str = POLICY_VERSION,
) -> ConsentRecord:
    """Add one row to the ledger in the caller's transaction (not committed here)."""
    row = ConsentRecord(
        patient_id=patient_id,
        kind=str(kind),
        granted=granted,
        text_version=text_version,
        source=source,
        ip=ip,
        user_agent=user_agent,
        recorded_at=clock.now(),
    )
    session.add(row)
    return row


@dataclass(frozen=True)
class ConsentLine:
    kind: str
    granted: bool
    source: str
    recorded_at: str


def history(session: ScopedSession, patient_id: uuid.UUID) -> list[ConsentLine]:
    """Every consent change of the patient, newest first."""
    rows = session.exec(
        select(ConsentRecord)
        .where(ConsentRecord.patient_id == patient_id)
        .order_by(col(ConsentRecord.recorded_at).desc(), col(ConsentRecord.id).desc())
    ).all()
    return [
        ConsentLine(
            kind=r.kind,
            granted=r.granted,
            source=SOURCES.get(r.source, r.source),
            recorded_at=r.recorded_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
        for r in rows
    ]
