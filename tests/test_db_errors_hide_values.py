"""A database error's text never carries the values that were sent (they can be a patient's
message, name or email), so wherever such an error is logged, those values are not."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import Patient
from tests.conftest import Database
from tests.factories import two_clinics


def test_a_failed_write_names_no_value_it_carried(db: Database) -> None:
    w = two_clinics()
    with tenant_session(w.a) as session:
        existing = session.exec(select(Patient)).first()
        assert existing is not None
        twin = Patient(
            id=existing.id,  # the same key: the insert fails
            full_name="Quinn Unmistakable-Name",
            email="quinn.unmistakable@example.org",
        )
        session.add(twin)
        with pytest.raises(IntegrityError) as failure:
            session.flush()
    text = str(failure.value)
    assert "hidden due to hide_parameters" in text
    assert "Unmistakable" not in text and "quinn.unmistakable" not in text
