"""A suspended clinic is closed to its staff, to platform staff and to its patients; other
clinics are unaffected, and reactivation restores all of it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from mi_portal.models import AuditEvent, Role
from mi_portal.services import (
    auth,
    clinic_lifecycle,
    clock,
    intake,
    patient_quotes,
    patient_reply,
    tenancy,
)
from mi_portal.services.actor import Actor
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token, two_clinics
from tests.intake_helpers import form, photos
from tests.quote_helpers import catalog, sample_form, sent_quote, staff
from tests.reply_helpers import clinic_writes

PASSWORD = "correct horse staple 42"


def _admin() -> Actor:
    uid, _ = make_user(f"admin-{uuid.uuid4().hex[:6]}@mi.test", platform_role="platform_admin")
    return Actor(user_id=uid, role=Role.PLATFORM_ADMIN)


def _password(email: str) -> auth.PasswordResult:
    return auth.check_password(email, PASSWORD, ip="127.0.0.1", user_agent="pytest")


def test_staff_whose_only_clinic_is_suspended_are_told_so_at_sign_in(db: Database) -> None:
    a = make_tenant("lakeside", "Lakeside Dermatology")
    b = make_tenant("birch", "Birch Clinic")
    make_user("only@lakeside.test", role="provider", tenants=(a,))
    locum, _ = make_user("locum@lakeside.test", role="provider", tenants=(a, b))
    admin = _admin()
    clinic_lifecycle.suspend(admin, a, "Contract under review")
    refused = _password("only@lakeside.test")
    assert refused.user_id is None
    assert refused.error == "Lakeside Dermatology is suspended; contact MI Portal support."
    # A wrong password still gets the same answer as ever: nothing about the clinic.
    wrong = auth.check_password("only@lakeside.test", "nope", ip=None, user_agent=None)
    assert wrong.error == auth.GENERIC_FAILURE
    # Someone with another active clinic signs in and simply does not see the suspended one.
    assert _password("locum@lakeside.test").user_id == locum
    signed = auth.resolve(sign_in_token(locum))
    assert signed is not None
    assert [slug for _id, slug, _name, _role in signed.memberships] == ["birch"]
    assert signed.actor.tenant_id == b
    clinic_lifecycle.reactivate(admin, a)
    assert _password("only@lakeside.test").user_id is not None


def test_a_session_working_in_the_clinic_is_cut_at_its_next_event(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    user, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    other, _ = make_user("owner@b.test", role="clinic_owner", tenants=(b,))
    token, other_token = sign_in_token(user), sign_in_token(other)
    signed = auth.resolve(token)
    assert signed is not None and signed.actor.tenant_id == a
    admin = _admin()
    clinic_lifecycle.suspend(admin, a, "Security review in progress")
    signed = auth.resolve(token)
    assert signed is not None
    assert signed.actor.tenant_id is None and signed.memberships == ()
    assert signed.clinic_name is None
    other_signed = auth.resolve(other_token)  # the other clinic goes on as before
    assert other_signed is not None and other_signed.actor.tenant_id == b
    clinic_lifecycle.reactivate(admin, a)
    signed = auth.resolve(token)  # the same session works in it again
    assert signed is not None and signed.actor.tenant_id == a


def test_platform_staff_cannot_switch_into_a_suspended_clinic(db: Database) -> None:
    a, b = make_tenant("clinic-a", "Clinic A"), make_tenant("clinic-b", "Clinic B")
    support, _ = make_user("support@mi.test", platform_role="platform_support")
    signed = auth.resolve(sign_in_token(support))
    assert signed is not None
    admin = _admin()
    clinic_lifecycle.suspend(admin, a, "Unpaid since March")
    with pytest.raises(tenancy.ClinicClosed, match="Clinic A is suspended"):
        tenancy.switch_into(signed, a, "Checking a support ticket")
    assert [c.slug for c in tenancy.switchable_clinics(signed)] == ["clinic-b"]
    assert tenancy.switch_into(signed, b, "Checking a support ticket") == "Clinic B"
    clinic_lifecycle.reactivate(admin, a)
    assert tenancy.switch_into(signed, a, "Checking a support ticket") == "Clinic A"


def test_a_platform_switch_already_open_ends_when_the_clinic_is_suspended(db: Database) -> None:
    a, b = make_tenant("clinic-a", "Clinic A"), make_tenant("clinic-b", "Clinic B")
    support, _ = make_user("support@mi.test", platform_role="platform_support")
    token = sign_in_token(support)
    signed = auth.resolve(token)
    assert signed is not None
    assert tenancy.switch_into(signed, a, "Checking a support ticket") == "Clinic A"
    signed = auth.resolve(token)
    assert signed is not None and signed.actor.tenant_id == a
    clinic_lifecycle.suspend(_admin(), a, "Unpaid since March")
    # The next event finds the switch over: no more reading the suspended clinic's cases.
    signed = auth.resolve(token)
    assert signed is not None
    assert signed.actor.tenant_id is None and signed.clinic_name is None
    ended = [e.chain for e in _events("tenant.switch_expired") if e.details.get("clinic_closed")]
    assert sorted(ended) == sorted(["platform", str(a)])  # recorded in both chains
    assert tenancy.switch_into(signed, b, "Checking a support ticket") == "Clinic B"


def _events(action: str) -> list[AuditEvent]:
    with owner_session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def _submit(slugs: list[str]) -> list[intake.Receipt]:
    return intake.submit(
        clinic_slugs=slugs, form=form(), photos=photos(1), ip="198.51.100.7",
        user_agent="Patient browser", source="clinic_page",
    )  # fmt: skip


def test_intake_refuses_a_suspended_clinic_and_the_directory_omits_it(db: Database) -> None:
    make_tenant("clinic-a", "Clinic A")
    b = make_tenant("clinic-b", "Clinic B")
    admin = _admin()
    clinic_lifecycle.suspend(admin, b, "Moving premises")
    assert intake.public_clinics() == [("clinic-a", "Clinic A")]
    assert intake.closed_clinic("clinic-b") == "Clinic B"
    assert intake.closed_clinic("clinic-a") is None and intake.closed_clinic("nope") is None
    with pytest.raises(intake.IntakeInvalid) as caught:
        _submit(["clinic-a", "clinic-b"])
    assert caught.value.errors == {"clinics": "Clinic B is not taking submissions right now."}
    assert len(_submit(["clinic-a"])) == 1
    clinic_lifecycle.reactivate(admin, b)
    assert len(_submit(["clinic-b"])) == 1
    assert [s for s, _ in intake.public_clinics()] == ["clinic-a", "clinic-b"]


@pytest.fixture
def links(db: Database) -> dict[str, Any]:
    w = two_clinics()
    return {
        "w": w,
        "reply_a": clinic_writes(w.a, w.a_submission, "Please send a closer photo."),
        "reply_b": clinic_writes(w.b, w.b_submission, "Your quote is ready."),
        "quote_a": sent_quote(
            staff(w.a), w.a_submission,
            sample_form(catalog(w.a), (clock.now().date() + timedelta(days=30)).isoformat()),
        )[1],
    }  # fmt: skip


def test_patient_links_of_a_suspended_clinic_say_it_is_not_available(
    links: dict[str, Any],
) -> None:
    w, admin = links["w"], _admin()
    clinic_lifecycle.suspend(admin, w.a, "Regulator inspection")
    with pytest.raises(patient_reply.ClinicUnavailable):
        patient_reply.view(links["reply_a"])
    with pytest.raises(patient_reply.ClinicUnavailable):
        patient_reply.reply(links["reply_a"], body="Here it is", photos=[])
    with pytest.raises(patient_quotes.ClinicUnavailable):
        patient_quotes.view(links["quote_a"])
    with pytest.raises(patient_quotes.ClinicUnavailable):
        patient_quotes.accept(links["quote_a"], "Alice A")
    # A forged link is still only "not valid", never "not available".
    with pytest.raises(patient_reply.LinkInvalid) as caught:
        patient_reply.view("garbage")
    assert not isinstance(caught.value, patient_reply.ClinicUnavailable)
    assert patient_reply.view(links["reply_b"]).clinic_name == "Clinic-B"
    clinic_lifecycle.reactivate(admin, w.a)
    assert patient_reply.view(links["reply_a"]).clinic_name == "Clinic-A"
    assert patient_quotes.view(links["quote_a"]).answerable
