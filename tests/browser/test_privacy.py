"""Patient data stays in the database and the object store; a tab whose session ended gets none.

Both are checked on the running app: every file under the project folder (and the app's data
folder, the database aside) is searched for what a patient typed, and the frames a replayed tab
token receives over the event socket are inspected one by one.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import ROOT, RunningApp, sign_in
from tests.intake_helpers import jpeg_bytes


def _typed(tag: str) -> dict[str, str]:
    return {
        "name": f"Zephyrine Probe{tag}",
        "email": f"zephyrine.{tag}@example.org",
        "phone": f"+1 202 555 {int(tag, 16) % 10**4:04d}",
        "answer": f"Unrepeatable answer {tag} about my skin",
    }


def _fill(page, tmp_path: Path, typed: dict[str, str], born: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("#full_name").fill(typed["name"])
    page.locator("#email").fill(typed["email"])
    page.locator("#phone").fill(typed["phone"])
    page.locator("#date_of_birth").fill(born)
    page.locator("#concern_area").click()
    page.get_by_role("option", name="Acne").click()
    page.locator("#answer-goal").fill(typed["answer"])
    path = tmp_path / f"photo-{typed['email']}.jpg"
    path.write_bytes(jpeg_bytes(7))
    page.locator("#photos input[type=file]").set_input_files([str(path)])
    expect(page.locator(".selected-photo")).to_have_count(1)
    page.locator("#privacy_ack").click()


def _files_containing(folder: Path, needles: list[str], *, exclude: tuple[str, ...]) -> list[str]:
    args = ["grep", "-rlaF", *[a for n in needles for a in ("-e", n)]]
    args += [f"--exclude-dir={e}" for e in exclude]
    found = subprocess.run([*args, str(folder)], capture_output=True, text=True, check=False)
    assert found.returncode in (0, 1), found.stderr
    return [line for line in found.stdout.splitlines() if line]


def _case_of(app: RunningApp, email: str) -> str | None:
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        row = conn.execute(
            "select s.id from submission s join patient p "
            "on p.tenant_id = s.tenant_id and p.id = s.patient_id where p.email = ?",
            (email,),
        ).fetchone()
    return str(uuid.UUID(hex=str(row[0]).replace("-", ""))) if row else None


def test_nothing_a_patient_types_is_written_outside_the_database(
    browser, app_server: RunningApp, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    started = time.time()
    tag = uuid.uuid4().hex[:8]
    accepted, refused = _typed(tag), _typed(tag[::-1])
    patient = browser.new_context(viewport={"width": 1000, "height": 1200})
    page = patient.new_page()
    page.goto(app_server.url + "/c/lakeside-derm/consult")
    expect(page.get_by_text("Lakeside Dermatology")).to_be_visible(timeout=30_000)
    # A 17-year-old is refused: the form is gone, and nothing of it is kept anywhere.
    _fill(page, tmp_path, refused, born=f"{time.gmtime().tm_year - 17}-01-01")
    page.locator("#intake-submit").click()
    expect(page.locator("#intake-refused")).to_contain_text("at least 18", timeout=20_000)
    expect(page.locator("#full_name")).to_have_count(0)
    page.locator("#start-again").click()
    expect(page.locator("#full_name")).to_have_value("")
    _fill(page, tmp_path, accepted, born="1988-02-03")
    page.locator("#intake-submit").click()
    expect(page.locator("#intake-done")).to_be_visible(timeout=60_000)
    patient.close()

    case_id = _case_of(app_server, accepted["email"])
    assert case_id and _case_of(app_server, refused["email"]) is None
    clinic = browser.new_context()
    staff = clinic.new_page()
    sign_in(staff, app_server, "manager@lakeside-derm.test")
    staff.goto(f"{app_server.url}/cases/{case_id}")
    expect(staff.locator("#patient-name")).to_have_text(accepted["name"], timeout=20_000)
    staff.goto(f"{app_server.url}/cases/{case_id}/photos")
    expect(staff.locator(".photo-stage[data-stage=main]")).to_be_visible(timeout=30_000)
    staff.goto(f"{app_server.url}/cases?search={accepted['email']}")
    expect(staff.locator("#user-menu")).to_be_visible(timeout=20_000)
    clinic.close()

    everything = [*accepted.values(), *refused.values()]
    # The project folder: UI state files, logs, caches, build output, anything.
    assert _files_containing(ROOT, everything, exclude=(".git",)) == []
    # The app's own folder: the server's log and any file the app wrote; the database holds the
    # accepted case (that is its job) but nothing of the refused one.
    data_files = _files_containing(app_server.data_dir, everything, exclude=("objects",))
    assert {Path(f).name for f in data_files} <= {"mi_portal.db", "mi_portal.db-wal"}
    assert _files_containing(app_server.data_dir, list(refused.values()), exclude=()) == []
    # Temporary files written while the test ran (photos are kept in memory while uploading).
    tmp_root = Path(tempfile.gettempdir())
    recent = [
        p
        for p in tmp_root.glob("*")
        if p.is_file() and p.stat().st_mtime >= started and p.stat().st_size < 50_000_000
    ]
    leaked = [str(p) for p in recent if any(n.encode() in p.read_bytes() for n in everything)]
    assert leaked == []


def _replayed_frames(browser, app: RunningApp, token: str, case_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Open the case in a fresh browser (no cookie) that presents an old tab's token."""
    context = browser.new_context()
    page = context.new_page()
    frames: list[str] = []

    def watch(ws) -> None:  # type: ignore[no-untyped-def]
        ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            ),
        )

    page.on("websocket", watch)
    page.add_init_script(f"window.sessionStorage.setItem('token', {json.dumps(token)})")
    page.goto(f"{app.url}/cases/{case_id}")
    expect(page).to_have_url(re.compile(r"/signin"), timeout=30_000)
    page.wait_for_timeout(1500)
    context.close()
    return frames


def _lakeside_case(app: RunningApp) -> tuple[str, str, str]:
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        sid, name, email = conn.execute(
            "select s.id, p.full_name, p.email from submission s "
            "join patient p on p.tenant_id = s.tenant_id and p.id = s.patient_id "
            "join tenant t on t.id = s.tenant_id where t.slug = 'lakeside-derm' "
            "order by s.received_at limit 1"
        ).fetchone()
    return str(uuid.UUID(hex=str(sid).replace("-", ""))), name, email


def _end_session(app: RunningApp, how: str, email: str, page) -> None:  # type: ignore[no-untyped-def]
    if how == "sign_out":
        page.locator("#user-menu").click()
        page.locator("#sign-out").click()
        expect(page).to_have_url(re.compile(r"/signin"), timeout=20_000)
        return
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        (user_id,) = conn.execute(
            "select id from user_account where email = ?", (email,)
        ).fetchone()
        if how == "idle":
            conn.execute(
                "update user_session set last_seen_at = datetime('now', '-20 minutes') "
                "where user_id = ? and revoked_at is null",
                (user_id,),
            )
        else:
            conn.execute(
                "update user_session set revoked_at = datetime('now') "
                "where user_id = ? and revoked_at is null",
                (user_id,),
            )


def test_a_replayed_tab_token_receives_nothing_after_the_session_ends(
    browser, app_server: RunningApp
) -> None:  # type: ignore[no-untyped-def]
    case_id, name, email = _lakeside_case(app_server)
    for how, user in (
        ("sign_out", "owner@lakeside-derm.test"),
        ("idle", "provider@lakeside-derm.test"),
        ("revoked", "coordinator@lakeside-derm.test"),
    ):
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, app_server, user)
        page.goto(f"{app_server.url}/cases/{case_id}")
        expect(page.locator("#patient-email, #patient-name").first).to_be_visible(timeout=20_000)
        token = page.evaluate("window.sessionStorage.getItem('token')")
        assert token
        # The capture works: the same token with the live session is sent the case.
        live = _replayed_frames_with_cookie(context, app_server, token, case_id)
        assert any(name in f for f in live), how
        _end_session(app_server, how, user, page)
        context.close()
        frames = _replayed_frames(browser, app_server, token, case_id)
        assert frames, how
        for frame in frames:
            assert name not in frame and email not in frame, (how, frame[:300])
            assert user not in frame, (how, frame[:300])


def _replayed_frames_with_cookie(context, app: RunningApp, token: str, case_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    page = context.new_page()
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda p: frames.append(p if isinstance(p, str) else p.decode("utf-8", "replace")),
        ),
    )
    page.add_init_script(f"window.sessionStorage.setItem('token', {json.dumps(token)})")
    page.goto(f"{app.url}/cases/{case_id}")
    expect(page.locator("#patient-name")).to_be_visible(timeout=20_000)
    page.wait_for_timeout(500)
    page.close()
    return frames


def test_the_privacy_policy_is_published_and_linked_from_patient_pages(
    page, app_server: RunningApp
) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.services.policy import POLICY_VERSION

    for path in ("/c/lakeside-derm/consult", "/consult"):
        page.goto(app_server.url + path)
        expect(page.locator("#patient-footer .privacy-link")).to_have_attribute(
            "href", "/privacy", timeout=30_000
        )
        expect(page.locator("#patient-footer .rights-request-link")).to_have_attribute(
            "href", "/privacy/request"
        )
    consent_link = page.get_by_role("link", name="privacy policy", exact=True)
    expect(consent_link).to_have_attribute("href", "/privacy")
    page.goto(app_server.url + "/privacy")
    expect(page.locator("#policy-version")).to_contain_text(
        f"Version {POLICY_VERSION}", timeout=30_000
    )
    expect(page.locator("#rights-request-line .rights-request-link")).to_have_attribute(
        "href", "/privacy/request"
    )
    expect(page.get_by_role("heading", name="Who We Are")).to_be_visible()
    expect(page.get_by_role("heading", name="Minors")).to_be_visible()
