"""An access request answered inside one clinic: the package holds the requester's data of the
12 months before the request, their photos as stored, and nothing of anyone else's; its link
works once and expires."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import (
    AuditEvent,
    CaseNote,
    ConsentRecord,
    DataCategory,
    Patient,
    RetentionRun,
    RightsRequestForward,
    Role,
    Submission,
    SubmissionImage,
    tenant_models,
)
from mi_portal.models.base import NOT_PERSONAL
from mi_portal.services import audit, clock, retention, rights_access, storage_check
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.rights_records import WITHHELD_COLUMNS, WITHHELD_TABLES
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_tenant
from tests.rights_helpers import case, forward, original_keys, owner, unzip

NOTE = "Mentions a reaction to the last peel"
OTHER_NOTE = "Sam asked about pricing twice"


def _note(tenant_id: uuid.UUID, case_id: uuid.UUID, body: str) -> None:
    with tenant_session(tenant_id) as session:
        session.add(CaseNote(submission_id=case_id, body=body))
        session.commit()


@pytest.fixture
def world(db: Database) -> dict[str, uuid.UUID]:
    """Robin's case and Sam's in clinic A; Robin (same email, another name) in clinic B."""
    a, b = make_tenant("clinic-a", "Clinic <A> & Sons"), make_tenant("clinic-b")
    robin = case("clinic-a", n_photos=2)
    sam = case("clinic-a", email="sam@example.org", full_name="Sam Other", phone="+1 202 555 0199")
    b_case = case("clinic-b", full_name="Robin Elsewhere", concern_area="rosacea")
    _note(a, robin, NOTE)
    _note(a, sam, OTHER_NOTE)
    return {"a": a, "b": b, "robin": robin, "sam": sam, "b_case": b_case}


def _package(tenant_id: uuid.UUID, forward_id: uuid.UUID) -> dict[str, bytes]:
    with tenant_session(tenant_id) as session:
        row = session.get(RightsRequestForward, (tenant_id, forward_id))
        assert row is not None and row.package_key
        data = get_store().get(row.package_key)
        assert hashlib.sha256(data).hexdigest() == row.package_sha256
    return unzip(data)


def test_the_package_holds_her_data_her_photos_and_no_one_elses(world) -> None:  # type: ignore[no-untyped-def]
    a, b = world["a"], world["b"]
    fid = forward(a, "access")
    preview = rights_access.prepare_package(owner(a), fid)
    files = _package(a, fid)
    assert preview.package_key == f"{a}/rights/{fid}/package.zip"
    assert sorted(preview.files) == sorted((n, len(d)) for n, d in files.items())
    # Her photos, byte for byte the stored originals of her case; none of anyone else's.
    mine = [get_store().get(k) for k in original_keys(a, world["robin"])]
    photos = {n: d for n, d in files.items() if n.startswith("photos/")}
    assert sorted(photos.values()) == sorted(mine) and len(mine) == 2
    others = [get_store().get(k) for k in original_keys(a, world["sam"])]
    others += [get_store().get(k) for k in original_keys(b, world["b_case"])]
    assert not any(o == d for o in others for d in files.values())
    # One JSON file per category held, each record with its fields.
    categories = {n.removesuffix(".json") for n in files if n.endswith(".json")}
    assert categories == set(preview.counts)
    assert {"identity", "contact", "special_category", "device_network", "health_image"} <= (
        categories
    )
    identity = json.loads(files["identity.json"])
    assert identity["category"] == "identity"
    assert {"full_name": "Robin Patient", "date_of_birth": "1990-04-02"} in [
        r["fields"] for r in identity["records"]
    ]
    special = files["special_category.json"].decode()
    assert NOTE in special and "clear skin" in special
    # Nothing of Sam's, nothing of clinic B's copy of Robin.
    everything = b"".join(files.values()).decode("latin-1")
    for foreign in ("Sam Other", "sam@example.org", OTHER_NOTE, "Robin Elsewhere", "rosacea",
                    "+12025550199", str(b)):  # fmt: skip
        assert foreign not in everything
    # The summary, in HTML (escaped) and PDF.
    assert "Clinic &lt;A&gt; &amp; Sons" in preview.summary_html
    assert "<A>" not in preview.summary_html
    assert preview.summary_html in files["summary.html"].decode()
    assert preview.summary_html.startswith("<h1>") and "<body" not in preview.summary_html
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(files["summary.pdf"])).pages)
    for heading in ("Categories of data held", "Why the clinic uses it", "Who receives it",
                    "Left out, and why"):  # fmt: skip
        assert heading in text and heading in preview.summary_html
    assert "Clinic <A> & Sons" in text
    # The package is an object the rows account for: the storage check stays clean.
    report = storage_check.check()
    assert report.orphan_objects == [] and report.missing_objects == []


def test_only_rows_of_the_twelve_months_before_the_request(world) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    old = case("clinic-a", n_photos=1, concern_area="hair_loss")
    _note(a, old, "An old note from long ago")
    long_ago = clock.now() - timedelta(days=400)
    with tenant_session(a) as session:
        session.execute(sa.update(Submission).where(col(Submission.id) == old)
                        .values(received_at=long_ago))  # fmt: skip
        session.execute(sa.update(SubmissionImage).where(col(SubmissionImage.submission_id) == old)
                        .values(created_at=long_ago))  # fmt: skip
        session.execute(sa.update(CaseNote).where(col(CaseNote.submission_id) == old)
                        .values(created_at=long_ago))  # fmt: skip
        patient = session.exec(select(Submission.patient_id).where(Submission.id == old)).one()
        session.execute(sa.update(ConsentRecord).where(col(ConsentRecord.patient_id) == patient)
                        .values(recorded_at=long_ago))  # fmt: skip
        session.commit()
    fid = forward(a, "access")
    preview = rights_access.prepare_package(owner(a), fid)
    files = _package(a, fid)
    assert preview.period_start is not None
    assert preview.period_end - preview.period_start in (timedelta(days=365), timedelta(days=366))
    everything = b"".join(files.values()).decode("latin-1")
    assert "An old note from long ago" not in everything and "hair_loss" not in everything
    old_photo = get_store().get(original_keys(a, old)[0])
    assert old_photo not in files.values()
    assert len([n for n in files if n.startswith("photos/")]) == 2  # the recent case's
    # Consents of the old intake are out; the recent one's three are in.
    contact = json.loads(files["contact.json"])
    assert len([r for r in contact["records"] if r["record"].startswith("Consent")]) == 3


def test_matched_by_the_verified_email_only_and_anonymised_patients_left_out(world) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    # Someone else's phone typed beside one's own email reaches nobody's data.
    by_phone = forward(a, "access", email="not-robin@example.org", phone="(202) 555-0100")
    fid = forward(a, "access", email="Robin@Example.org")
    with tenant_session(a) as session:
        stranger = session.get(RightsRequestForward, (a, by_phone))
        assert stranger is not None
        assert rights_access.matching_patients(session, stranger) == []
        row = session.get(RightsRequestForward, (a, fid))
        assert row is not None
        names = [p.full_name for p in rights_access.matching_patients(session, row)]
        assert names == ["Robin Patient"]
        session.execute(sa.update(Patient).values(anonymized_at=clock.now()))
        session.commit()
        assert rights_access.matching_patients(session, row) == []
    with pytest.raises(rights_access.PackageError):
        rights_access.prepare_package(owner(a), fid)


def test_only_the_clinics_owner_or_manager_and_only_its_own_request(world) -> None:  # type: ignore[no-untyped-def]
    a, b = world["a"], world["b"]
    fid = forward(a, "access")
    provider = Actor(user_id=None, role=Role.PROVIDER, tenant_id=a)
    with pytest.raises(PermissionDenied):
        rights_access.prepare_package(provider, fid)
    with pytest.raises(NotFound):
        rights_access.prepare_package(owner(b), fid)
    with pytest.raises(NotFound):
        rights_access.send_package(owner(b), fid)
    deletion = forward(a, "deletion")
    with pytest.raises(rights_access.PackageError):
        rights_access.prepare_package(owner(a), deletion)
    with pytest.raises(rights_access.PackageError):  # nothing prepared yet
        rights_access.send_package(owner(a), fid)


def _downloads(tenant_id: uuid.UUID) -> list[tuple[str, str | None]]:
    with tenant_session(tenant_id) as session:
        return [
            (e.outcome, e.reason)
            for e in session.exec(
                select(AuditEvent)
                .where(
                    AuditEvent.action == "rights.package_download",
                    AuditEvent.chain == audit.chain_for(tenant_id),
                )
                .order_by(col(AuditEvent.seq))
            )
        ]


def _token(path: str) -> str:
    assert path.startswith(rights_access.PACKAGE_PATH + "/")
    return path.rsplit("/", 1)[1]


def test_the_link_works_once(world) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    fid = forward(a, "access")
    rights_access.prepare_package(owner(a), fid)
    token = _token(rights_access.send_package(owner(a), fid))
    with tenant_session(a) as session:
        row = session.get(RightsRequestForward, (a, fid))
        assert row is not None and row.link_digest and token not in str(row.model_dump())
        stored = get_store().get(row.package_key or "")
    got = rights_access.redeem(token, ip="198.51.100.7", user_agent="Requester browser")
    assert got is not None
    name, chunks = got
    assert name.startswith("data-package-RR-") and name.endswith(".zip")
    assert b"".join(chunks) == stored
    assert rights_access.redeem(token, ip="198.51.100.7", user_agent="x") is None
    # An altered token, another clinic's id with this random part: nothing.
    assert rights_access.redeem(token[:-1] + ("A" if token[-1] != "A" else "B"), ip=None,
                                user_agent=None) is None  # fmt: skip
    other = world["b"].hex + token[32:]
    assert rights_access.redeem(other, ip=None, user_agent=None) is None
    assert _downloads(a) == [("ok", None), ("refused", "used")]
    assert _downloads(world["b"]) == []
    assert audit.verify_chain(audit.chain_for(a)) is None
    # A new link (the clinic sends again) works once more; the old one stays dead.
    again = _token(rights_access.send_package(owner(a), fid))
    assert rights_access.redeem(again, ip=None, user_agent=None) is not None
    assert rights_access.redeem(token, ip=None, user_agent=None) is None


def test_an_expired_link_is_refused(world, fake_clock) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    fid = forward(a, "access")
    rights_access.prepare_package(owner(a), fid)
    token = _token(rights_access.send_package(owner(a), fid, lifetime_days=1))
    fake_clock.advance(hours=25)
    assert rights_access.redeem(token, ip=None, user_agent=None) is None
    assert _downloads(a) == [("refused", "expired")]
    with pytest.raises(rights_access.PackageError):
        rights_access.send_package(owner(a), fid, lifetime_days=0)


def test_a_new_package_retires_the_link_sent_for_the_old_one(world) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    fid = forward(a, "access")
    rights_access.prepare_package(owner(a), fid)
    token = _token(rights_access.send_package(owner(a), fid))
    rights_access.prepare_package(owner(a), fid)
    assert rights_access.redeem(token, ip=None, user_agent=None) is None


def test_two_parallel_downloads_only_one_gets_the_file(pg: Database) -> None:
    a = make_tenant("clinic-a")
    case("clinic-a", n_photos=1)
    fid = forward(a, "access")
    rights_access.prepare_package(owner(a), fid)
    token = _token(rights_access.send_package(owner(a), fid))
    start = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def download() -> None:
        start.wait()
        got = rights_access.redeem(token, ip="198.51.100.7", user_agent="parallel")
        if got is not None:
            b"".join(got[1])
        with lock:
            results.append(got is not None)

    threads = [threading.Thread(target=download) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    outcomes = _downloads(a)
    assert outcomes.count(("ok", None)) == 1 and len(outcomes) == 8


def test_every_personal_table_is_in_the_package_or_withheld_with_a_reason() -> None:
    covered = {"patient", "consentrecord", "submission", "submissionimage", "annotation",
               "casenote", "messagethread", "message", "messageattachment", "quote",
               "quoteline"}  # fmt: skip
    for model in tenant_models():
        table = model.__table__  # type: ignore[attr-defined]
        personal = [
            c.name for c in table.columns if c.info.get("category") not in (None, NOT_PERSONAL)
        ]
        if personal:
            assert table.name in covered or table.name in WITHHELD_TABLES, table.name
    for table, column in WITHHELD_COLUMNS:
        assert DataCategory(
            next(m for m in tenant_models() if m.__tablename__ == table)  # type: ignore[attr-defined]
            .__table__.columns[column]  # type: ignore[attr-defined]
            .info["category"]
        )


def test_the_daily_run_purges_a_package_a_month_after_its_link_ended(world, fake_clock) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    sent, unsent = forward(a, "access"), forward(a, "access")
    sent_key = rights_access.prepare_package(owner(a), sent).package_key
    unsent_key = rights_access.prepare_package(owner(a), unsent).package_key
    token = _token(rights_access.send_package(owner(a), sent))
    assert rights_access.redeem(token, ip=None, user_agent=None) is not None
    fake_clock.advance(days=29)
    retention.sweep(a)
    assert get_store().exists(sent_key) and get_store().exists(unsent_key)
    fake_clock.advance(days=2)
    run = retention.sweep(a)
    assert get_store().gone(sent_key) and get_store().gone(unsent_key)  # type: ignore[union-attr]
    with tenant_session(a) as session:
        rows = session.exec(select(RightsRequestForward)).all()
        assert [r.package_key for r in rows] == [None, None]
        stored = session.get(RetentionRun, (a, run.run_id))
        assert stored is not None and stored.proof["access_packages"] == 2
    report = storage_check.check()
    assert report.orphan_objects == [] and report.missing_objects == []
