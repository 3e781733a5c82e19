"""Intake: consents, age limit, fan-out to several clinics, and all-or-nothing storage."""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import (
    AuditEvent,
    ConsentRecord,
    ImageRendition,
    OutboxMessage,
    Patient,
    Role,
    Submission,
    SubmissionImage,
)
from mi_portal.services import audit, intake
from mi_portal.services.images import ProcessedImage, Rendition
from mi_portal.services.intake_questions import QUESTIONS
from mi_portal.services.policy import CONSENT_TEXTS
from mi_portal.storage import get_store
from mi_portal.storage.base import StorageUnavailable
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session
from tests.intake_helpers import form, photos


def _rows(tenant_id) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with tenant_session(tenant_id) as session:
        return {
            m.__tablename__: session.exec(select(func.count()).select_from(m)).one()  # type: ignore[attr-defined]
            for m in (Patient, Submission, SubmissionImage, ImageRendition, ConsentRecord)
        }


def test_single_clinic_case_with_consents_and_verified_objects(db: Database) -> None:
    a = make_tenant("clinic-a")
    receipts = intake.submit(
        clinic_slugs=["clinic-a"],
        form=form(),
        photos=photos(2),
        ip="198.51.100.7",
        user_agent="pytest",
        source="clinic_page:clinic-a",
    )
    assert [r.clinic_name for r in receipts] == ["Clinic-A"]
    assert _rows(a) == {
        "patient": 1,
        "submission": 1,
        "submissionimage": 2,
        "imagerendition": 8,  # original, preview, thumbnail and blurred of each photo
        "consentrecord": 3,
    }
    store = get_store()
    with tenant_session(a) as session:
        consents = {c.kind: c for c in session.exec(select(ConsentRecord))}
        submission = session.exec(select(Submission)).one()
        renditions = session.exec(select(ImageRendition)).all()
    assert (
        consents["privacy_ack"].granted
        and consents["sms_opt_in"].granted
        and not consents["marketing_opt_in"].granted
    )
    assert {c.text_version for c in consents.values()} == {intake.CONSENT_TEXT_VERSION}
    for kind, consent in consents.items():
        # The exact text shown, which names the policy version.
        assert consent.text_sha256 == hashlib.sha256(CONSENT_TEXTS[kind].encode()).hexdigest()
    assert {c.ip for c in consents.values()} == {"198.51.100.7"} and {
        c.source for c in consents.values()
    } == {"clinic_page:clinic-a"}
    # Each answer is kept with the question's text as asked (the standard questions here).
    assert submission.answers == {
        "how_long": {"question": QUESTIONS["how_long"], "answer": "months"},
        "goal": {"question": QUESTIONS["goal"], "answer": "clear skin"},
    }
    assert submission.sla_due_at is not None
    for r in renditions:
        assert r.storage_key.startswith(f"{a}/")
        assert hashlib.sha256(store.get(r.storage_key)).hexdigest() == r.sha256

    with owner_session() as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "intake.submitted")
        ).one()
    assert event.chain == str(a) and event.target_id == str(submission.id)


def _years_ago(years: int, *, plus_days: int = 0) -> str:
    today = date.today()
    if today.month == 2 and today.day == 29:
        today = date(today.year, 3, 1)
    return (today.replace(year=today.year - years) + timedelta(days=plus_days)).isoformat()


@pytest.mark.parametrize(
    "born", ["2015-01-01", _years_ago(16), _years_ago(17), _years_ago(18, plus_days=1)]
)
def test_under_18_is_refused_and_nothing_is_stored(db: Database, born: str) -> None:
    a = make_tenant("clinic-a")
    with pytest.raises(intake.IntakeRefused) as exc:
        intake.submit(
            clinic_slugs=["clinic-a"],
            form=form(date_of_birth=born),
            photos=photos(1),
            ip=None,
            user_agent=None,
            source="t",
        )
    assert "at least 18" in exc.value.errors["date_of_birth"]
    assert intake.MIN_AGE == 18
    assert set(_rows(a).values()) == {0}
    assert list(get_store().keys()) == []


def test_under_age_is_refused_even_when_other_fields_are_wrong(db: Database) -> None:
    make_tenant("clinic-a")
    with pytest.raises(intake.IntakeRefused) as exc:
        intake.validate(form(date_of_birth=_years_ago(17), email="nope"), photo_count=0)
    assert list(exc.value.errors) == ["date_of_birth"]


def test_exactly_18_today_is_accepted(db: Database) -> None:
    make_tenant("clinic-a")
    today = date.today()
    born = (
        today.replace(year=today.year - 18)
        if not (today.month == 2 and today.day == 29)
        else date(today.year - 18, 3, 1)
    )
    assert intake.submit(
        clinic_slugs=["clinic-a"],
        form=form(date_of_birth=born.isoformat()),
        photos=photos(1),
        ip=None,
        user_agent=None,
        source="t",
    )


def test_each_field_gets_its_own_message(db: Database) -> None:
    make_tenant("clinic-a")
    bad = form(
        full_name=" ",
        email="nope",
        phone="call me",
        date_of_birth="someday",
        concern_area="magic",
        privacy_ack=False,
    )
    with pytest.raises(intake.IntakeInvalid) as exc:
        intake.submit(
            clinic_slugs=["clinic-a"], form=bad, photos=[], ip=None, user_agent=None, source="t"
        )
    assert set(exc.value.errors) == {
        "full_name",
        "email",
        "phone",
        "date_of_birth",
        "concern_area",
        "privacy_ack",
        "photos",
    }


def test_fan_out_gives_each_clinic_an_independent_copy(db: Database) -> None:
    tenants = [make_tenant(s) for s in ("clinic-a", "clinic-b", "clinic-c")]
    receipts = intake.submit(
        clinic_slugs=["clinic-a", "clinic-b", "clinic-c"],
        form=form(),
        photos=photos(2),
        ip=None,
        user_agent=None,
        source="directory",
    )
    assert len({r.reference for r in receipts}) == 3
    seen_ids, seen_keys = set(), set()
    for tenant_id in tenants:
        assert _rows(tenant_id)["submission"] == 1
        with tenant_session(tenant_id) as session:
            ids = {
                session.exec(select(Patient.id)).one(),
                session.exec(select(Submission.id)).one(),
            }
            keys = set(session.exec(select(ImageRendition.storage_key)))
        assert not ids & seen_ids and not keys & seen_keys  # nothing shared between clinics
        assert all(k.startswith(f"{tenant_id}/") for k in keys)
        seen_ids |= ids
        seen_keys |= keys
    assert len(list(get_store().keys())) == 3 * 2 * 4


def test_fan_out_limits_and_unknown_clinics(db: Database) -> None:
    for i in range(6):
        make_tenant(f"clinic-{i}")
    with pytest.raises(intake.IntakeInvalid, match="at most 5"):
        intake.submit(
            clinic_slugs=[f"clinic-{i}" for i in range(6)],
            form=form(),
            photos=photos(1),
            ip=None,
            user_agent=None,
            source="t",
        )
    with pytest.raises(intake.IntakeInvalid, match="not available"):
        intake.submit(
            clinic_slugs=["clinic-0", "no-such-clinic"],
            form=form(),
            photos=photos(1),
            ip=None,
            user_agent=None,
            source="t",
        )
    assert list(get_store().keys()) == []


class FailingStore:
    """The real local store, which stops accepting writes after ``ok_puts`` objects."""

    def __init__(self, inner, ok_puts: int) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.ok_puts = inner, ok_puts

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        if self.ok_puts <= 0:
            raise StorageUnavailable("store went away")
        self.ok_puts -= 1
        self.inner.put(key, data, content_type=content_type)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_storage_failure_mid_fan_out_leaves_nothing(db: Database) -> None:
    tenants = [make_tenant(s) for s in ("clinic-a", "clinic-b", "clinic-c")]
    store = FailingStore(
        get_store(), ok_puts=6 + 4
    )  # clinic A complete and committed, B half-written
    with pytest.raises(intake.IntakeFailed, match="Nothing was kept"):
        intake.submit(
            clinic_slugs=["clinic-a", "clinic-b", "clinic-c"],
            form=form(),
            photos=photos(2),
            ip=None,
            user_agent=None,
            source="t",
            store=store,
        )  # type: ignore[arg-type]
    for tenant_id in tenants:
        assert set(_rows(tenant_id).values()) == {0}
    assert list(get_store().keys()) == []


def test_database_failure_leaves_no_objects(db: Database) -> None:
    a = make_tenant("clinic-a")
    good = photos(1)[0]
    # Two renditions of the same kind break the (image, kind) unique constraint at commit.
    twin = ProcessedImage(
        good.source_format,
        good.display_name,
        (*good.renditions, Rendition("thumbnail", good.renditions[-1].data, 1, 1)),
    )
    with pytest.raises(intake.IntakeFailed):
        intake.submit(
            clinic_slugs=["clinic-a"],
            form=form(),
            photos=[twin],
            ip=None,
            user_agent=None,
            source="t",
        )
    assert set(_rows(a).values()) == {0}
    assert list(get_store().keys()) == []


def _intake_actions(tenant_id: uuid.UUID) -> list[str]:
    with tenant_session(tenant_id) as session:
        return list(
            session.exec(
                select(AuditEvent.action)
                .where(AuditEvent.chain == audit.chain_for(tenant_id))
                .order_by(AuditEvent.seq)  # type: ignore[arg-type]
            )
        )


def test_a_case_is_never_stored_without_its_intake_event(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake's audit event is written in the case's own transaction: when it cannot be
    appended, nothing of the case is kept (no rows, no objects) and the patient is told so."""
    a = make_tenant("clinic-a")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the chain's head could not be read")

    monkeypatch.setattr(audit, "_append_in", broken)
    with pytest.raises(intake.IntakeFailed, match="Nothing was kept"):
        intake.submit(
            clinic_slugs=["clinic-a"], form=form(), photos=photos(1), ip=None, user_agent=None,
            source="t",
        )  # fmt: skip
    assert set(_rows(a).values()) == {0}
    assert list(get_store().keys()) == []
    monkeypatch.undo()
    assert _intake_actions(a) == []
    assert audit.verify_chain(audit.chain_for(a)) is None


@pytest.mark.parametrize("removal_recorded", [True, False])
def test_a_fan_out_undone_after_one_clinic_committed_records_the_removal(
    db: Database, monkeypatch: pytest.MonkeyPatch, removal_recorded: bool
) -> None:
    """Clinic A's case was committed with its intake event and its staff notice, then clinic B
    could not be stored: A's case is removed with its notice not yet sent, and A's chain says
    so after the intake it recorded. When the removal cannot be recorded, the case is removed
    all the same (the patient is told nothing was kept)."""
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    make_user("owner-a@staff.test", role=Role.CLINIC_OWNER.value, tenants=(a,))
    if not removal_recorded:
        real = audit._append_in

        def no_removal(session: Any, chain: str, queued: list[dict[str, Any]]) -> Any:
            if queued[0]["action"] == "intake.rolled_back":
                raise RuntimeError("the chain's head could not be read")
            return real(session, chain, queued)

        monkeypatch.setattr(audit, "_append_in", no_removal)
    store = FailingStore(get_store(), ok_puts=4 + 2)  # A complete and committed, B half-written
    with pytest.raises(intake.IntakeFailed):
        intake.submit(
            clinic_slugs=["clinic-a", "clinic-b"], form=form(), photos=photos(1), ip=None,
            user_agent=None, source="t", store=store,  # type: ignore[arg-type]
        )  # fmt: skip
    assert set(_rows(a).values()) == {0} and set(_rows(b).values()) == {0}
    assert list(get_store().keys()) == []
    with tenant_session(a) as session:
        assert session.exec(select(OutboxMessage)).all() == [], "staff told of a removed case"
    removal = ["intake.rolled_back"] if removal_recorded else []
    assert _intake_actions(a) == ["intake.submitted", *removal]
    assert _intake_actions(b) == []
    assert audit.verify_chain(audit.chain_for(a)) is None


def test_intakes_and_other_events_of_one_clinic_at_once_keep_its_chain_whole(
    db: Database,
) -> None:
    """Intakes append inside their own transactions while other events of the clinic append
    in theirs, from several threads at once: every event gets its own place in one chain."""
    a = make_tenant("clinic-a")

    def send(n: int) -> None:
        intake.submit(
            clinic_slugs=["clinic-a"], form=form(), photos=photos(1), ip=None, user_agent=None,
            source="t", sending_key=f"key-{n}",
        )  # fmt: skip

    def note(n: int) -> None:
        audit.record(None, "case.viewed", tenant_id=a, target_type="submission", target_id=n)

    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = [pool.submit(send if n % 2 else note, n) for n in range(12)]
        for job in jobs:
            job.result()
    actions = _intake_actions(a)
    assert sorted(actions) == ["case.viewed"] * 6 + ["intake.submitted"] * 6
    with tenant_session(a) as session:
        seqs = list(
            session.exec(select(AuditEvent.seq).where(AuditEvent.chain == audit.chain_for(a)))
        )
    assert sorted(seqs) == list(range(1, 13))
    assert audit.verify_chain(audit.chain_for(a)) is None
    assert _rows(a)["submission"] == 6


def test_invisible_and_control_characters_never_reach_the_case(db: Database) -> None:
    a = make_tenant("clinic-a")
    typed = form(
        full_name="\ufeffRobin\u200d Pat\u202eient\u0007",
        email=" \u200bRobin@Example.org\u2060 ",
        phone="+1 202\u00a0555\u200e 0100",
        answers={
            "how_long": "Two\u202e months\r\nthen\u2028worse\x1b[31m",
            "goal": "\u200b\u200c\ufeff",  # nothing visible: not kept
        },
    )
    intake.submit(
        clinic_slugs=["clinic-a"],
        form=typed,
        photos=photos(1),
        ip=None,
        user_agent=None,
        source="t",
    )
    with tenant_session(a) as session:
        patient = session.exec(select(Patient)).one()
        submission = session.exec(select(Submission)).one()
    assert patient.full_name == "Robin Patient"
    assert patient.email == "robin@example.org"
    assert patient.phone == "+12025550100"
    assert submission.answers == {
        "how_long": {"question": QUESTIONS["how_long"], "answer": "Two months\nthen\nworse[31m"}
    }


@pytest.mark.parametrize(
    "email",
    [
        "xq<svg/onload=alert(1)>@example.org",
        '"><script>alert(1)</script>@example.org',
        "robin@example.org<img src=x>",
        "robin@exa mple.org",
        "robin@@example.org",
        "robin@localhost",
        "robin@[127.0.0.1]",
        '"robin smith"@example.org',
        "robin@example.org\nBcc: all@example.org",
        "robin@-example.org",
        "r" * 65 + "@example.org",
    ],
)
def test_hostile_email_addresses_are_refused(db: Database, email: str) -> None:
    a = make_tenant("clinic-a")
    with pytest.raises(intake.IntakeInvalid) as exc:
        intake.submit(
            clinic_slugs=["clinic-a"],
            form=form(email=email),
            photos=photos(1),
            ip=None,
            user_agent=None,
            source="t",
        )
    assert set(exc.value.errors) == {"email"}
    assert _rows(a)["patient"] == 0


@pytest.mark.parametrize(
    ("given", "stored"),
    [("directory", "directory"), ("clinic_page:clinic-a", "clinic_page"), ("t", "clinic_page")],
)
def test_each_case_records_the_form_it_came_through(db: Database, given: str, stored: str) -> None:
    a = make_tenant("clinic-a")
    intake.submit(
        clinic_slugs=["clinic-a"], form=form(), photos=photos(1), ip=None, user_agent=None,
        source=given,
    )  # fmt: skip
    with tenant_session(a) as session:
        case = session.exec(select(Submission)).one()
    assert (case.source, case.reviewed_at) == (stored, None)


def test_a_form_sent_again_under_its_key_is_answered_with_the_case_it_made(
    db: Database,
) -> None:
    """The answer to a stored form can be lost (its worker gone after the commit): the patient
    sends it again under the same key and is given the stored case's receipt, with nothing
    stored twice and the intake recorded once. Where only some clinics of a multi-clinic form
    were stored, the rest are."""
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")

    def intake_events(tenant: uuid.UUID) -> list[dict[str, Any]]:
        with tenant_session(tenant) as session:
            return [
                dict(e.details or {}, target=e.target_id)
                for e in session.exec(
                    select(AuditEvent).where(
                        AuditEvent.chain == audit.chain_for(tenant),
                        AuditEvent.action == "intake.submitted",
                    )
                )
            ]

    def send(slugs: list[str], key: str | None) -> list[intake.Receipt]:
        return intake.submit(
            clinic_slugs=slugs,
            form=form(),
            photos=photos(1),
            ip="198.51.100.7",
            user_agent="pytest",
            source="directory",
            sending_key=key,
        )

    first = send(["clinic-a"], "key-one")  # stored; its answer never reaches the patient
    recorded = intake_events(a)
    assert len(recorded) == 1 and recorded[0]["target"].upper().endswith(first[0].reference)
    objects = sorted(k for k, _ in get_store().listing(""))
    again = send(["clinic-a"], "key-one")
    assert again == first
    assert intake_events(a) == recorded
    assert _rows(a)["submission"] == 1 and _rows(a)["imagerendition"] == 4
    assert sorted(k for k, _ in get_store().listing("")) == objects, (
        "the photos were stored a second time"
    )
    # Only clinic A's case was stored before the answer was lost: B's is made now.
    both = send(["clinic-a", "clinic-b"], "key-one")
    assert both[0] == first[0] and both[1].clinic_name == "Clinic-B"
    assert _rows(a)["submission"] == 1 and _rows(b)["submission"] == 1
    assert len(intake_events(a)) == 1 and len(intake_events(b)) == 1  # recorded once each
    # Another sending (another key, or none) is another case.
    send(["clinic-a"], "key-two")
    send(["clinic-a"], None)
    assert _rows(a)["submission"] == 3
    with tenant_session(a) as session:
        keys = sorted(str(k) for k in session.exec(select(Submission.intake_key)))
    # Stored as a digest, never the key the tab holds.
    assert "key-one" not in keys and keys.count("None") == 1
    assert all(len(k) == 64 for k in keys if k != "None")
