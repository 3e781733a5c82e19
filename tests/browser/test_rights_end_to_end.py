"""A privacy request from start to end, each party in its own browser: the patient sends cases to
two clinics, asks to know what they hold and then to delete it; the platform forwards; one clinic
sends the access package, the other erases; the patient is told at every step."""

from __future__ import annotations

import email
import email.policy
import io
import re
import time
import zipfile
from pathlib import Path

from playwright.sync_api import expect
from sqlmodel import col, select

from tests.browser.conftest import RunningApp, save_screenshot, sign_in
from tests.browser.test_case_pages import PHONE, _overflow, _serious
from tests.browser.test_intake import app_db  # noqa: F401  (fixture)
from tests.intake_helpers import jpeg_bytes

CLINIC_A, CLINIC_B = "lakeside-derm", "summit-dental"
NAMES = {CLINIC_A: "Lakeside Dermatology", CLINIC_B: "Summit Dental Studio"}
DESKTOP = {"width": 1280, "height": 800}


def _checks(page, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """No serious axe finding, nothing wider than a phone; screenshots at both widths."""
    assert _serious(page, tmp_path, name) == []
    save_screenshot(page, name, tmp_path)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert _overflow(page) == []
    save_screenshot(page, f"{name}-phone", tmp_path)
    page.set_viewport_size(DESKTOP)


def _mails(app: RunningApp, to: str, subject: str, body_has: str) -> list[str]:
    """Bodies of the emails the app's worker delivered to ``to`` with this subject part."""
    folder = app.data_dir / "mail"
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(parsed["To"]) != to or subject not in str(parsed["Subject"]):
            continue
        part = parsed.get_body(("plain",))
        text = part.get_content() if part is not None else ""  # type: ignore[attr-defined]
        if body_has in text:
            found.append(text)
    return found


def _wait_mail(app: RunningApp, to: str, subject: str, body_has: str = "") -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = _mails(app, to, subject, body_has)
        if got:
            assert len(got) == 1, f"one email {subject!r} / {body_has!r}, not {len(got)}"
            return got[0]
        time.sleep(0.5)
    raise AssertionError(f"no email {subject!r} with {body_has!r}")


def _intake(page, app: RunningApp, tmp_path: Path, slug: str, who: str, seed: int) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{app.url}/c/{slug}/consult")
    expect(page.get_by_text(NAMES[slug]).first).to_be_visible(timeout=30_000)
    expect(page.locator("#intake-submit")).to_be_enabled(timeout=30_000)
    page.locator("#full_name").fill("Dana Request")
    page.locator("#email").fill(who)
    page.locator("#date_of_birth").fill("1988-03-14")
    page.locator("#concern_area").click()
    page.get_by_role("option", name="Acne").click()
    page.locator("#answer-how_long").fill("Since spring")
    paths = []
    for i in range(2):
        path = tmp_path / f"{slug}-{i}.jpg"
        path.write_bytes(jpeg_bytes(seed + i))
        paths.append(str(path))
    page.locator("#photos input[type=file]").set_input_files(paths)
    expect(page.locator(".selected-photo")).to_have_count(2)
    page.locator("#privacy_ack").click()
    page.locator("#intake-submit").click()
    expect(page.locator("#intake-done")).to_be_visible(timeout=60_000)


def _ask(page, app: RunningApp, tmp_path: Path, who: str, kind: str, shots: bool) -> str:  # type: ignore[no-untyped-def]
    """The request form, then the emailed code; returns the verified request's reference."""
    page.goto(app.url + "/privacy/request")
    expect(page.locator("#rights-submit")).to_be_visible(timeout=30_000)
    page.locator(f"#kind-{kind}").click()
    expect(page.locator(f"#kind-{kind}")).to_be_checked()
    page.locator("#who-patient").click()
    page.locator("#jurisdiction").select_option("US-CA")
    page.locator("#requester_name").fill("Dana Request")
    page.locator("#requester_email").fill(who)
    page.locator("#details").fill("Both clinics I sent photos to.")
    page.locator("#details").blur()
    if shots:
        _checks(page, tmp_path, "rights-request")
    page.locator("#rights-submit").click()
    expect(page).to_have_url(
        re.compile(r"/privacy/request/verify/RR-[A-Z0-9]{4}-[A-Z0-9]{4}$"), timeout=30_000
    )
    reference = page.url.rsplit("/", 1)[-1]
    expect(page.locator("#verify-reference")).to_have_text(reference, timeout=30_000)
    if shots:
        _checks(page, tmp_path, "rights-request-code-page")
    body = _wait_mail(app, who, f"code for request {reference}")
    code = re.search(r"\b(\d{6})\b", body)
    assert code, "the email carries the code"
    page.locator("#code").fill(code.group(1))
    page.locator("#code-submit").click()
    expect(page.locator("#verify-status")).to_contain_text(
        f"Verified. Your reference is {reference}", timeout=20_000
    )
    return reference


def _forward(page, app: RunningApp, tmp_path: Path, reference: str, kind: str, shots: bool) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{app.url}/privacy/requests?status=open&kind={kind}")
    row = page.locator(".request-row", has_text=reference)
    expect(row).to_be_visible(timeout=30_000)
    expect(row).to_contain_text(NAMES[CLINIC_A])
    expect(row).to_contain_text(NAMES[CLINIC_B])
    if shots:
        _checks(page, tmp_path, "rights-worklist")
    row.locator(".request-link").click()
    expect(page).to_have_url(f"{app.url}/privacy/requests/{reference}")
    expect(page.locator("#requester-name")).to_have_text("Dana Request", timeout=30_000)
    clinics = page.locator(".matched-clinic")
    expect(clinics).to_have_count(2)
    expect(page.locator("#matched-clinics")).to_contain_text(NAMES[CLINIC_A])
    expect(page.locator("#matched-clinics")).to_contain_text(NAMES[CLINIC_B])
    page.locator("#action-forward").click()
    page.locator("#confirm-forward").click()
    expect(page.locator("#request-notice")).to_have_text("Forwarded to 2 clinics.", timeout=30_000)
    expect(page.locator("#request-status")).to_have_text("Forwarded")
    if shots:
        _checks(page, tmp_path, "rights-request-detail")


def _open_forward(page, app: RunningApp, tmp_path: Path, reference: str, shots: bool) -> None:  # type: ignore[no-untyped-def]
    page.goto(app.url + "/privacy/forwarded")
    row = page.locator(".forward-row", has_text=reference)
    expect(row).to_be_visible(timeout=30_000)
    if shots:
        _checks(page, tmp_path, "rights-forwarded")
    row.locator(".forward-link").click()
    expect(page.locator("#forward-reference")).to_have_text(reference, timeout=30_000)
    expect(page.locator("#forward-requester")).to_have_text("Dana Request")
    expect(page.locator("#matching-patients")).to_be_visible()


def _send_package(page, tmp_path: Path, clinic: str, reference: str, shots: bool) -> None:  # type: ignore[no-untyped-def]
    page.locator("#action-prepare").click()
    expect(page.locator("#forward-notice")).to_contain_text("Package prepared", timeout=60_000)
    preview = page.locator("#package-preview")
    expect(preview).to_contain_text(re.compile(r"\d+ files, \d+ KB"))
    expect(preview).to_contain_text("Photos: 2 records")  # her two photos, by their plain name
    expect(preview).not_to_contain_text("health_image:")  # no internal keys in the counts
    summary = page.locator("#package-summary")
    expect(summary).to_contain_text(f"Your data held by {clinic}")
    expect(summary).to_contain_text(reference)
    expect(summary).to_contain_text("Files in this package")
    if shots:
        _checks(page, tmp_path, "rights-package-preview")
    page.locator("#action-send").click()
    page.locator("#confirm-send").click()
    expect(page.locator("#forward-notice")).to_have_text(
        "The access package link has been sent to the requester.", timeout=30_000
    )
    expect(page.locator("#forward-status")).to_have_text("Completed")


def _erase(page, tmp_path: Path, reference: str, shots: bool) -> None:  # type: ignore[no-untyped-def]
    page.locator("#action-erase").click()
    page.locator("#typed-reference").fill(reference.lower()[:-1])  # one character short
    page.locator("#confirm-erase").click()
    expect(page.locator("#dialog-error")).to_contain_text("reference exactly", timeout=20_000)
    page.locator("#typed-reference").fill(reference)
    page.locator("#confirm-erase").click()
    expect(page.locator("#forward-notice")).to_have_text(
        "Erased through retention; what is kept is listed below.", timeout=90_000
    )
    expect(page.locator("#forward-status")).to_have_text("Completed")
    kept = page.locator("#erase-kept")
    expect(kept).to_contain_text("Audit log")
    expect(kept).not_to_contain_text("run the erasure again")
    expect(page.locator("#no-patients")).to_be_visible()  # nobody left under these details
    if shots:
        _checks(page, tmp_path, "rights-erased")


def test_a_patient_knows_then_deletes_across_two_clinics(
    browser,
    app_server: RunningApp,
    app_db: None,  # noqa: F811
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.db import platform_session, tenant_session
    from mi_portal.models import Patient, RightsRequest, Submission, SubmissionImage, Tenant
    from mi_portal.services import audit, storage_check

    who = "dana.request@example.org"  # the app's database is new for each run
    app = app_server

    # 1. The patient: a case at each of two clinics, then a request to know, confirmed by email.
    requester = browser.new_context(viewport=DESKTOP)
    mine = requester.new_page()
    _intake(mine, app, tmp_path, CLINIC_A, who, 300)
    _intake(mine, app, tmp_path, CLINIC_B, who, 400)
    know = _ask(mine, app, tmp_path, who, "access", shots=True)
    erase = _ask(mine, app, tmp_path, who, "deletion", shots=False)
    assert know != erase

    # 2. The platform forwards both to the two clinics holding her data.
    platform = browser.new_context(viewport=DESKTOP)
    staff = platform.new_page()
    sign_in(staff, app, "admin@mi-portal.test")
    _forward(staff, app, tmp_path, know, "access", shots=True)
    _forward(staff, app, tmp_path, erase, "deletion", shots=False)

    # 3. Clinic A prepares, previews and sends the access package.
    clinic_a = browser.new_context(viewport=DESKTOP)
    a = clinic_a.new_page()
    sign_in(a, app, f"owner@{CLINIC_A}.test")
    _open_forward(a, app, tmp_path, know, shots=True)
    _send_package(a, tmp_path, NAMES[CLINIC_A], know, shots=True)
    a.reload()
    expect(a.locator("#forward-answered")).to_contain_text("prepared a copy", timeout=30_000)
    _checks(a, tmp_path, "rights-forwarded-answered")

    # The patient's email from clinic A carries the single-use link.
    body = _wait_mail(app, who, f"Your privacy request {know}", f"{NAMES[CLINIC_A]} has completed")
    link = re.search(r"(http\S+/api/privacy/package/\S+)", body)
    assert link, "the clinic's email carries the download link"
    # Opening the link shows a button and uses nothing up; the button's POST downloads.
    opened = mine.request.get(link.group(1))
    assert opened.status == 200 and "Download a copy of your data" in opened.text()
    got = mine.request.post(link.group(1))
    assert got.status == 200 and got.headers["content-type"] == "application/zip"
    assert got.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(got.body()))
    names = archive.namelist()
    assert "summary.html" in names and "summary.pdf" in names
    assert any(n.endswith(".json") for n in names)

    with platform_session() as session:
        tenants = {
            t.slug: t.id for t in session.exec(select(Tenant).where(col(Tenant.slug).in_(NAMES)))
        }
    with tenant_session(tenants[CLINIC_A]) as session:
        patients = session.exec(select(Patient)).all()
        her = [p.id for p in patients if p.email == who]
        others = {p.email for p in patients if p.email and p.email != who}
        cases = session.exec(select(Submission.id).where(col(Submission.patient_id).in_(her))).all()
        photos = session.exec(
            select(SubmissionImage).where(col(SubmissionImage.submission_id).in_(cases))
        ).all()
    assert len(her) == 1 and len(cases) == 1 and len(photos) == 2 and others
    images = [n for n in names if re.search(r"\.(jpe?g|png|webp)$", n, re.I)]
    assert len(images) == len(photos), names
    for name in images:
        assert archive.read(name)[:2] == b"\xff\xd8"
    texts = {n: archive.read(n).decode() for n in names if n.endswith((".json", ".html"))}
    assert know in texts["summary.html"] and NAMES[CLINIC_A] in texts["summary.html"]
    assert any(who in t for n, t in texts.items() if n.endswith(".json"))  # her own record
    for name, text in texts.items():
        leaked = [e for e in others if e in text]
        assert leaked == [], f"{name} names another patient"
    # The link works once.
    again = mine.request.post(link.group(1))
    assert again.status == 404 and "already used" in again.text()

    # Clinic A also erases her data for the second request (its package goes with it).
    _open_forward(a, app, tmp_path, erase, shots=False)
    _erase(a, tmp_path, erase, shots=False)
    clinic_a.close()

    # Clinic B answers the request to know, then erases after the reference is typed.
    clinic_b = browser.new_context(viewport=DESKTOP)
    b = clinic_b.new_page()
    sign_in(b, app, f"owner@{CLINIC_B}.test")
    _open_forward(b, app, tmp_path, know, shots=False)
    _send_package(b, tmp_path, NAMES[CLINIC_B], know, shots=False)
    _open_forward(b, app, tmp_path, erase, shots=False)
    _erase(b, tmp_path, erase, shots=True)
    b.reload()
    expect(b.locator("#forward-answered")).to_contain_text("erased", timeout=30_000)
    clinic_b.close()

    with tenant_session(tenants[CLINIC_B]) as session:
        left = session.exec(select(Patient).where(Patient.email == who)).all()
    assert left == []
    report = storage_check.check()
    assert report.missing_objects == [] and report.orphan_objects == []
    assert audit.verify_chain(str(tenants[CLINIC_B])) is None
    assert audit.verify_chain(str(tenants[CLINIC_A])) is None

    # 4. The patient is told: each clinic's answer, then the platform's closing notice.
    for reference in (know, erase):
        for slug in (CLINIC_A, CLINIC_B):
            _wait_mail(
                app, who, f"Your privacy request {reference}", f"{NAMES[slug]} has completed"
            )
        _wait_mail(app, who, f"Your privacy request {reference}", "Your request is closed")
    # Clinic B's link reached her too, and clinic A's erasure did not touch it.
    body_b = _wait_mail(
        app, who, f"Your privacy request {know}", f"{NAMES[CLINIC_B]} has completed"
    )
    assert "/api/privacy/package/" in body_b

    for reference in (know, erase):
        staff.goto(f"{app.url}/privacy/requests/{reference}")
        expect(staff.locator("#request-status")).to_have_text("Completed", timeout=30_000)
    expect(staff.locator("#timeline")).to_contain_text("Every clinic has answered")
    _checks(staff, tmp_path, "rights-request-completed")
    platform.close()
    requester.close()
    with platform_session() as session:
        done = session.exec(
            select(RightsRequest.status).where(col(RightsRequest.reference).in_([know, erase]))
        ).all()
    assert sorted(done) == ["completed", "completed"]
