"""Legal holds: while one is active on a case or its patient, retention touches nothing of it."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, or_, select

from mi_portal.db import ScopedSession
from mi_portal.models import LegalHold, Submission


def active_hold_clause(now: datetime) -> sa.ColumnElement[bool]:
    """The one rule of an active hold: not released, and no end date or one not yet past."""
    return sa.and_(
        col(LegalHold.released_at).is_(None),
        or_(col(LegalHold.ends_on).is_(None), col(LegalHold.ends_on) >= now.date()),
    )


def held_case_ids(
    session: ScopedSession, case_ids: Collection[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Which of ``case_ids`` (of the clinic in scope) are held, on the case or on its patient."""
    held: set[uuid.UUID] = set()
    ids = list(case_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        on_case = select(LegalHold.submission_id).where(
            col(LegalHold.submission_id).in_(chunk), active_hold_clause(now)
        )
        on_patient = (
            select(Submission.id)
            .join(
                LegalHold,
                sa.and_(
                    col(LegalHold.tenant_id) == col(Submission.tenant_id),
                    col(LegalHold.patient_id) == col(Submission.patient_id),
                ),
            )
            .where(col(Submission.id).in_(chunk), active_hold_clause(now))
        )
        held.update(i for i in session.exec(on_case) if i is not None)
        held.update(session.exec(on_patient))
    return held
