"""The database itself refuses rows of one clinic that point at another clinic's rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from mi_portal.db import tenant_session
from mi_portal.models import CaseNote, Quote, Submission, uuid7
from tests.conftest import Database
from tests.factories import make_quote, two_clinics


def test_quote_of_a_pointing_at_b_submission_is_refused(db: Database) -> None:
    world = two_clinics()
    with tenant_session(world.a) as session:
        session.add(Quote(id=uuid7(), submission_id=world.b_submission, total=Decimal("10.00")))
        with pytest.raises(IntegrityError):
            session.commit()


def test_submission_of_a_with_b_patient_is_refused(db: Database) -> None:
    world = two_clinics()
    with tenant_session(world.a) as session:
        session.add(Submission(id=uuid7(), patient_id=world.b_patient, concern_area="acne"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_note_on_own_submission_is_accepted(db: Database) -> None:
    world = two_clinics()
    with tenant_session(world.a) as session:
        session.add(CaseNote(submission_id=world.a_submission, body="fine"))
        session.commit()


def test_money_is_exact(db: Database) -> None:
    world = two_clinics()
    quote_id = make_quote(world.a, world.a_submission, total="1234567.89")
    with tenant_session(world.a) as session:
        quote = session.get(Quote, (world.a, quote_id))
        assert quote is not None
        assert quote.total == Decimal("1234567.89")
        assert isinstance(quote.total, Decimal)
