"""SMS opt-in data never leaves the clinic: no platform read, no export, no analytics path."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import ConsentKind, ConsentRecord, DataCategory
from mi_portal.services import consent
from tests.conftest import Database
from tests.factories import two_clinics

ROOT = Path(__file__).resolve().parent.parent / "mi_portal"
# Reviewed: the only code that reads or writes the consent ledger. An export to a third party
# or an analytics module appearing here is a review failure, not a list update.
LEDGER_USERS = {
    "models/__init__.py",
    "models/privacy.py",
    "services/consent.py",
    "services/intake.py",
    "services/messaging.py",
    "services/outbox.py",
    "services/inbound_sms.py",
    "services/patient_reply.py",
    # Reads the current SMS opt-in, in the clinic's session, to text the quote link or not.
    "services/quotes.py",
    # Deletes a patient's consents with their contact data, or clears their device data, when
    # retention clears those categories (in the clinic's own session; nothing is read out).
    "services/retention_erase.py",
    # Reads one patient's own consents, in the clinic's session, into that patient's access
    # package for their rights request (delivered to them alone, through a single-use link).
    "services/rights_records.py",
    # Writes a patient's opt-out of sale/sharing or limit of sensitive data (and ends their
    # marketing opt-in) when the clinic answers a verified rights request, in its own session.
    "services/rights_clinic.py",
    "jobs/seed.py",
}
LEDGER = re.compile(r"\bConsentRecord\b|services import[^\n]*\bconsent\b|services\.consent\b")


def test_only_reviewed_modules_touch_the_consent_ledger() -> None:
    users = {
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if LEDGER.search(path.read_text(encoding="utf-8"))
    }
    assert users <= LEDGER_USERS, f"unreviewed use of the consent ledger: {users - LEDGER_USERS}"
    for path in users:
        text = (ROOT / path).read_text(encoding="utf-8")
        assert "export" not in path and "analytics" not in path and "report" not in path
        assert "csv" not in text.lower(), f"{path} writes CSV next to the consent ledger"


def test_opt_in_is_tagged_contact_data_of_the_clinic() -> None:
    column = ConsentRecord.__table__.columns["granted"]  # type: ignore[attr-defined]
    assert column.info["category"] == DataCategory.CONTACT.value
    assert "tenant_id" in ConsentRecord.__table__.columns  # type: ignore[attr-defined]


def test_a_session_outside_the_clinic_reads_no_consent(db: Database) -> None:
    w = two_clinics()
    with tenant_session(w.a) as session:
        consent.record(session, w.a_patient, ConsentKind.SMS_OPT_IN, True, source="staff")
        session.commit()
    with tenant_session(w.b) as session:
        assert consent.current(session, w.a_patient, ConsentKind.SMS_OPT_IN) is False
        assert session.exec(select(func.count()).select_from(ConsentRecord)).one() == 0
    if db.kind == "postgres":
        # Forced row-level security: with no clinic in scope the read fails or finds nothing.
        with platform_session() as session:
            try:
                raw = session.connection().exec_driver_sql("select count(*) from consentrecord")
                assert raw.scalar() == 0
            except DBAPIError:
                session.rollback()


def test_the_history_answers_what_the_ledger_answers(db: Database) -> None:
    """``granted_in`` (read from a loaded history) and ``current`` (one query) never disagree:
    the newest record of each kind wins, ties on the time broken by the record's id."""
    w = two_clinics()
    moves = [
        (ConsentKind.SMS_OPT_IN, True),
        (ConsentKind.MARKETING_OPT_IN, True),
        (ConsentKind.SMS_OPT_IN, False),
        (ConsentKind.SMS_OPT_IN, True),
        (ConsentKind.MARKETING_OPT_IN, False),
    ]
    with tenant_session(w.a) as session:
        for kind in (ConsentKind.SMS_OPT_IN, ConsentKind.MARKETING_OPT_IN):
            assert not consent.granted_in(consent.history(session, w.a_patient), kind)
        for kind, granted in moves:
            consent.record(session, w.a_patient, kind, granted, source="staff")
            session.commit()
            history = consent.history(session, w.a_patient)
            for asked in (ConsentKind.SMS_OPT_IN, ConsentKind.MARKETING_OPT_IN):
                assert consent.granted_in(history, asked) is consent.current(
                    session, w.a_patient, asked
                )
        history = consent.history(session, w.a_patient)
        assert consent.granted_in(history, ConsentKind.SMS_OPT_IN) is True
        assert consent.granted_in(history, ConsentKind.MARKETING_OPT_IN) is False
