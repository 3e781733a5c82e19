"""A clinic's life cycle: listed, created with its first owner, suspended, reactivated and
off-boarded by platform staff; other clinics never touched."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    AuditEvent,
    LegalHold,
    Membership,
    PlatformOutboxMessage,
    Role,
    Tenant,
    User,
    utcnow,
)
from mi_portal.services import audit, clinic_lifecycle, users
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.clinic_lifecycle import ClinicInvalid, ClinicProblem
from tests.conftest import Database
from tests.factories import fill_tenant, make_case, make_tenant, make_user, owner_session
from tests.services.test_tenant_purge import _dump

FORM = {
    "name": "Harbour Skin Clinic",
    "slug": "harbour-skin",
    "timezone": "Europe/Berlin",
    "locale": "de_DE",
    "currency": "EUR",
    "jurisdiction": "DE",
    "owner_email": "Hana@Harbour-Skin.test",
    "owner_name": "Hana Harbour",
}


def _platform(role: Role = Role.PLATFORM_ADMIN) -> Actor:
    uid, _ = make_user(f"{role.value}-{uuid.uuid4().hex[:6]}@mi.test", platform_role=role.value)
    return Actor(user_id=uid, role=role)


def _events(action: str) -> list[tuple[str, str]]:
    with owner_session() as session:
        return [
            (e.chain, e.outcome)
            for e in session.exec(
                select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
            )
        ]


def _tenant(tenant_id: uuid.UUID) -> Tenant:
    with platform_session() as session:
        row = session.get(Tenant, tenant_id)
        assert row is not None
        return row


def _release_holds(tenant_id: uuid.UUID) -> None:
    with tenant_session(tenant_id) as session:
        for hold in session.exec(select(LegalHold)):
            hold.released_at = utcnow()
            session.add(hold)
        session.commit()


def test_the_list_shows_every_clinic_with_status_staff_and_activity(db: Database) -> None:
    a, b = make_tenant("lakeside", "Lakeside Dermatology"), make_tenant("birch", "Birch Clinic")
    make_user("one@a.test", role="clinic_owner", tenants=(a,))
    make_user("two@a.test", role="provider", tenants=(a,))
    make_case(a)
    admin = _platform()
    clinic_lifecycle.suspend(admin, b, "Unpaid invoices since March")
    rows = {r.slug: r for r in clinic_lifecycle.list_clinics(admin)}
    assert set(rows) == {"lakeside", "birch"}
    assert rows["lakeside"].staff == 2 and rows["lakeside"].last_activity is not None
    assert rows["birch"].staff == 0 and rows["birch"].last_activity is None
    assert rows["birch"].status_label == "Suspended"
    assert rows["birch"].status_reason == "Unpaid invoices since March"
    assert [r.slug for r in clinic_lifecycle.list_clinics(admin, status="suspended")] == ["birch"]
    assert [r.slug for r in clinic_lifecycle.list_clinics(admin, search="DERMA")] == ["lakeside"]
    assert [r.slug for r in clinic_lifecycle.list_clinics(admin, search="bir")] == ["birch"]
    assert clinic_lifecycle.list_clinics(admin, search="%") == []  # no wildcard from the box
    # Support reads the list; changes are for admins.
    support = _platform(Role.PLATFORM_SUPPORT)
    assert len(clinic_lifecycle.list_clinics(support)) == 2
    with pytest.raises(PermissionDenied):
        clinic_lifecycle.suspend(support, a, "Testing what support may do")
    # Switched into a clinic, or a clinic's own staff: refused.
    with pytest.raises(PermissionDenied):
        clinic_lifecycle.list_clinics(Actor(user_id=admin.user_id, role=admin.role, tenant_id=a))
    owner = Actor(user_id=uuid.uuid4(), role=Role.CLINIC_OWNER, tenant_id=a)
    with pytest.raises(PermissionDenied):
        clinic_lifecycle.list_clinics(owner)


def test_a_new_clinic_gets_its_settings_and_an_invited_owner_in_both_chains(db: Database) -> None:
    other = make_tenant("other-clinic")
    fill_tenant(other)
    before = _dump(other)
    admin = _platform()
    created = clinic_lifecycle.create_clinic(admin, **FORM)
    row = _tenant(created.tenant_id)
    assert (row.slug, row.name, row.status, row.active) == (
        "harbour-skin", "Harbour Skin Clinic", "active", True,
    )  # fmt: skip
    assert (row.timezone, row.locale, row.currency, row.jurisdiction) == (
        "Europe/Berlin", "de_DE", "EUR", "DE",
    )  # fmt: skip
    # The owner is invited like any invited person: the link sets the password.
    assert created.invite_token
    # The link also goes to the owner by email, through the platform's outbox.
    with owner_session() as session:
        [mail] = session.exec(select(PlatformOutboxMessage)).all()
    assert mail.recipient == "hana@harbour-skin.test"
    assert f"/invite?token={created.invite_token}" in mail.body
    assert "Harbour Skin Clinic" in mail.subject
    assert users.accept_invite(created.invite_token, "copper meadow lantern violet") == []
    with tenant_session(created.tenant_id) as session:
        [(email, role)] = session.exec(
            select(User.email, Membership.role).join(Membership, col(Membership.user_id) == User.id)
        ).all()
    assert (email, role) == ("hana@harbour-skin.test", "clinic_owner")
    assert sorted(_events("clinic.created")) == sorted(
        [("platform", "ok"), (str(created.tenant_id), "ok")]
    )
    assert sorted(c for c, _ in _events("user.owner_provisioned")) == sorted(
        ["platform", str(created.tenant_id)]
    )
    assert audit.verify_chain("platform") is None
    assert audit.verify_chain(str(created.tenant_id)) is None
    # Nothing of the other clinic changed.
    assert _dump(other) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "ab"),
        ("slug", "-harbour"),
        ("slug", "harbour-"),
        ("slug", "Harbour Skin"),
        ("slug", "harbour--skin"),
        ("slug", "x" * 64),
        ("slug", "admin"),
        ("slug", "api"),
        ("timezone", "Mars/Olympus"),
        ("locale", "xx_YY"),
        ("currency", "XYZ"),
        ("currency", "KWD"),  # three minor digits
        ("jurisdiction", "ZZ"),
        ("owner_email", "not an address"),
        ("owner_name", "   "),
        ("owner_name", "N" * 201),
        ("name", ""),
    ],
)
def test_each_bad_field_is_named_and_nothing_is_created(
    db: Database, field: str, value: str
) -> None:
    admin = _platform()
    with pytest.raises(ClinicInvalid) as caught:
        clinic_lifecycle.create_clinic(admin, **{**FORM, field: value})
    assert set(caught.value.errors) == {field}
    with platform_session() as session:
        assert session.exec(select(sa.func.count()).select_from(Tenant)).one() == 0


def test_every_problem_is_reported_at_once(db: Database) -> None:
    with pytest.raises(ClinicInvalid) as caught:
        clinic_lifecycle.create_clinic(
            _platform(), **{**FORM, "slug": "a", "currency": "", "timezone": ""}
        )
    assert set(caught.value.errors) == {"slug", "currency", "timezone"}


def test_a_slug_is_never_reused_even_after_the_clinic_closed(db: Database) -> None:
    admin = _platform()
    clinic_lifecycle.create_clinic(admin, **FORM)
    with pytest.raises(ClinicInvalid) as caught:
        clinic_lifecycle.create_clinic(
            admin, **{**FORM, "name": "Another", "owner_email": "x@y.test"}
        )
    assert caught.value.errors["slug"].startswith("Another clinic already has that address")
    closed = make_tenant("old-clinic")
    clinic_lifecycle.offboard(admin, closed, "old-clinic")
    with pytest.raises(ClinicInvalid) as caught:
        clinic_lifecycle.create_clinic(admin, **{**FORM, "slug": "old-clinic"})
    assert "closed" in caught.value.errors["slug"] and "never reused" in caught.value.errors["slug"]


def test_creating_needs_an_admin_outside_any_clinic(db: Database) -> None:
    a = make_tenant("clinic-a")
    admin = _platform()
    for actor in (
        _platform(Role.PLATFORM_SUPPORT),
        Actor(user_id=admin.user_id, role=admin.role, tenant_id=a),
        Actor(user_id=uuid.uuid4(), role=Role.CLINIC_OWNER, tenant_id=a),
    ):
        with pytest.raises(PermissionDenied):
            clinic_lifecycle.create_clinic(actor, **FORM)


def test_suspending_and_reactivating_change_the_status_only(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    fill_tenant(a)
    fill_tenant(b)
    before_a, before_b = _dump(a), _dump(b)
    admin = _platform()
    with pytest.raises(ClinicProblem) as caught:
        clinic_lifecycle.suspend(admin, a, "  \u200b ")
    assert caught.value.field == "reason"
    clinic_lifecycle.suspend(admin, a, "  Contract ended;\u200b awaiting renewal  ")
    row = _tenant(a)
    assert (row.status, row.active) == ("suspended", False)
    assert row.status_reason == "Contract ended; awaiting renewal"
    assert row.status_changed_at is not None
    with pytest.raises(ClinicProblem):
        clinic_lifecycle.suspend(admin, a, "Suspended twice over")
    assert _dump(a) == before_a and _dump(b) == before_b
    assert _tenant(b).status == "active"
    clinic_lifecycle.reactivate(admin, a)
    row = _tenant(a)
    assert (row.status, row.active, row.status_reason) == ("active", True, "")
    with pytest.raises(ClinicProblem):
        clinic_lifecycle.reactivate(admin, a)  # already active
    assert _dump(a) == before_a and _dump(b) == before_b
    for action in ("clinic.suspended", "clinic.reactivated"):
        assert sorted(_events(action)) == sorted([("platform", "ok"), (str(a), "ok")])
    with owner_session() as session:
        event = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "clinic.suspended", AuditEvent.chain == "platform"
            )
        ).one()
    assert event.details["status"] == {"old": "active", "new": "suspended"}
    with pytest.raises(NotFound):
        clinic_lifecycle.suspend(admin, uuid.uuid4(), "No such clinic at all")


def test_offboarding_exports_then_purges_and_keeps_the_row(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    fill_tenant(a)
    fill_tenant(b)
    make_case(a, name="Alice A")
    before_b = _dump(b)
    admin = _platform()
    with pytest.raises(ClinicProblem) as caught:
        clinic_lifecycle.offboard(admin, a, "clinic-b")
    assert caught.value.field == "confirm"
    # fill_tenant placed legal holds: nothing is exported or purged while they are in force.
    with pytest.raises(ClinicProblem, match="legal holds"):
        clinic_lifecycle.offboard(admin, a, "clinic-a")
    assert not clinic_lifecycle.export_root().exists()
    assert ("platform", "denied") in _events("clinic.offboarded")
    _release_holds(a)
    clinic_lifecycle.suspend(admin, a, "Leaving the platform")  # possible from suspended too
    done = clinic_lifecycle.offboard(admin, a, " clinic-a ")
    assert done.export_dir.parent == clinic_lifecycle.export_root()
    assert done.export_dir.name.startswith("clinic-a-")
    manifest = json.loads((done.export_dir / "manifest.json").read_text())
    assert manifest["clinic"]["slug"] == "clinic-a" and manifest["tables"]["submission"] == 2
    assert done.export_dir.stat().st_mode & 0o777 == 0o700
    assert done.cases_purged == 2
    # fill_tenant's rendition row names an object the store never had: listed, not a blocker.
    assert done.objects_missing == 1 and manifest["objects"]["missing"]
    row = _tenant(a)
    assert (row.status, row.active, row.slug) == ("closed", False, "clinic-a")
    assert all(rows == [] for rows in _dump(a).values())
    assert _dump(b) == before_b
    assert ("platform", "ok") in _events("clinic.offboarded")
    with pytest.raises(ClinicProblem, match="already closed"):
        clinic_lifecycle.offboard(admin, a, "clinic-a")


@pytest.mark.parametrize("who", ["platform", "disabled"])
def test_an_owner_who_cannot_own_is_refused_before_anything_is_written(
    db: Database, who: str
) -> None:
    email = f"{who}@elsewhere.test"
    if who == "platform":
        make_user(email, platform_role="platform_support")
    else:
        uid, _ = make_user(email, role="provider", tenants=(make_tenant("other"),))
        with platform_session() as session:
            user = session.get(User, uid)
            assert user is not None
            user.disabled = True
            session.add(user)
            session.commit()
    admin = _platform()
    with pytest.raises(ClinicInvalid) as refused:
        clinic_lifecycle.create_clinic(admin, **{**FORM, "owner_email": email})
    assert set(refused.value.errors) == {"owner_email"}
    with platform_session() as session:
        assert session.exec(select(Tenant).where(Tenant.slug == "harbour-skin")).first() is None
    assert _events("clinic.created") == []
    # The address is still free: the same clinic with an owner who can own it is created.
    created = clinic_lifecycle.create_clinic(admin, **FORM)
    assert _tenant(created.tenant_id).slug == "harbour-skin"


def test_offboarding_closes_the_clinic_before_its_export_starts(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_tenant("clinic-a")
    make_case(a, name="Alice A")
    seen: list[tuple[str, bool]] = []
    real_export = clinic_lifecycle.tenant_export.export_tenant

    def watched_export(slug: str, out: Any) -> Any:
        row = _tenant(a)
        seen.append((row.status, row.active))
        return real_export(slug, out)

    monkeypatch.setattr(clinic_lifecycle.tenant_export, "export_tenant", watched_export)
    clinic_lifecycle.offboard(_platform(), a, "clinic-a")
    # Nothing (intake, a patient's email, staff work) can arrive between export and purge.
    assert seen == [("offboarding", False)]
    assert _tenant(a).status == "closed"
