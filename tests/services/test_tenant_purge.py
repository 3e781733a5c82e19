"""Off-boarding a clinic: everything it holds goes through the purge; other clinics stay as they were."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    AuditEvent,
    LegalHold,
    Membership,
    Submission,
    Tenant,
    tenant_models,
    utcnow,
)
from mi_portal.services import audit, intake, retention, storage_check
from mi_portal.services.actor import NotFound
from mi_portal.services.tenant_purge import PurgeRefused, purge_tenant
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import fill_tenant, make_tenant, make_user
from tests.intake_helpers import form, photos


def _dump(tenant_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row of every tenant table of one clinic, as plain values."""
    dump: dict[str, list[dict[str, Any]]] = {}
    with tenant_session(tenant_id) as session:
        for model in tenant_models():
            rows = session.exec(select(model)).all()
            dump[model.__tablename__] = sorted(  # type: ignore[attr-defined]
                (r.model_dump() for r in rows), key=lambda r: str(r["id"])
            )
    return dump


def _objects(prefix: str) -> dict[str, bytes]:
    store = get_store()
    return {k: store.get(k) for k in store.keys(prefix)}


def test_purge_removes_one_clinic_and_leaves_the_other_byte_identical(db: Database) -> None:
    a = make_tenant("clinic-a")
    b = make_tenant("clinic-b")
    fill_tenant(a)
    fill_tenant(b)
    make_user("owner@a.example", role="clinic_owner", tenants=(a,))
    for slug in ("clinic-a", "clinic-b"):
        intake.submit(clinic_slugs=[slug], form=form(), photos=photos(2), ip="198.51.100.7",
                      user_agent="Patient browser", source="clinic_page")  # fmt: skip
    before_b, objects_b = _dump(b), _objects(f"{b}/")
    # fill_tenant's rendition rows point at no object: the check lists them before and after.
    missing_b = [k for k in storage_check.check().missing_objects if k.startswith(f"{b}/")]
    assert objects_b and _objects(f"{a}/")

    with pytest.raises(PurgeRefused, match="slug exactly"):
        purge_tenant("clinic-a", confirm="clinic-b")
    with pytest.raises(PurgeRefused, match="legal holds are active"):
        purge_tenant("clinic-a", confirm="clinic-a")
    with pytest.raises(NotFound):
        purge_tenant("nope", confirm="nope")
    with tenant_session(a) as session:
        for hold in session.exec(select(LegalHold)):
            hold.released_at = utcnow()
            session.add(hold)
        session.commit()

    summary = purge_tenant("clinic-a", confirm="clinic-a")
    assert summary.cases == 2 and summary.sweep is not None and summary.sweep.failed == 0
    assert all(rows == [] for rows in _dump(a).values())
    assert _objects(f"{a}/") == {}
    with platform_session() as session:
        tenant = session.get(Tenant, a)
        assert tenant is not None and not tenant.active and "offboarded_at" in tenant.settings
        assert not session.exec(select(Membership).where(Membership.tenant_id == a)).all()
    with platform_session(platform=True) as session:
        recorded = session.exec(select(AuditEvent).where(AuditEvent.action == "tenant.purge")).all()
    assert len(recorded) == 1 and recorded[0].details["cases"] == 2

    # The other clinic: the same rows, the same objects, byte for byte.
    assert _dump(b) == before_b
    assert _objects(f"{b}/") == objects_b
    report = storage_check.check()
    assert report.orphan_objects == [] and report.missing_objects == missing_b
    # The clinic's chain still verifies, its patients' details erased.
    assert audit.verify_chain(str(a)) is None
    with tenant_session(a) as session:
        patient_events = session.exec(
            select(AuditEvent).where(AuditEvent.chain == str(a), sa.text("user_id IS NULL"))
        ).all()
    assert patient_events and all(e.ip is None and e.details == {} for e in patient_events)


def test_no_sweep_gets_in_while_a_clinic_is_purged(db: Database) -> None:
    from mi_portal.services import retention

    tenant_id = make_tenant("clinic-a")
    real = get_store()
    seen: dict[str, object] = {}

    class WatchingStore:
        """The real store; while the purge empties the clinic's prefix, a cron run tries."""

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

        def purge_prefix(self, prefix: str) -> int:
            seen["listed"] = tenant_id in [t for _slug, t in retention.clinics()]
            try:
                seen["sweep"] = retention.sweep(tenant_id).line()
            except retention.SweepBusy:
                seen["sweep"] = "busy"
            return real.purge_prefix(prefix)

    purge_tenant("clinic-a", confirm="clinic-a", store=WatchingStore())  # type: ignore[arg-type]
    assert seen == {"listed": False, "sweep": "busy"}


def test_a_case_retention_already_deidentified_does_not_stop_the_purge(
    db: Database, later: Any
) -> None:
    a = make_tenant("clinic-a")
    intake.submit(clinic_slugs=["clinic-a"], form=form(), photos=photos(1), ip="198.51.100.7",
                  user_agent="Patient browser", source="clinic_page")  # fmt: skip
    later(3000)  # every default period has passed: the case becomes a de-identified record
    retention.sweep(a)
    with tenant_session(a) as session:
        (case,) = session.exec(select(Submission)).all()
        assert case.deidentified_at is not None
    intake.submit(clinic_slugs=["clinic-a"], form=form(), photos=photos(1), ip="198.51.100.7",
                  user_agent="Patient browser", source="clinic_page")  # fmt: skip

    summary = purge_tenant("clinic-a", confirm="clinic-a")
    assert summary.cases == 2
    assert all(rows == [] for rows in _dump(a).values())
    assert _objects(f"{a}/") == {}
