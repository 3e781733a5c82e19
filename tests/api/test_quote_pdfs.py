"""Quote PDF routes: staff links bound to one session and clinic; the patient's own version only."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlmodel import col, select
from starlette.testclient import TestClient

from mi_portal.api import quote_pdfs
from mi_portal.api.routes import build_api_app
from mi_portal.models import AuditEvent
from mi_portal.services import clock, quote_pdf, quotes, ratelimit, signed_links
from mi_portal.services.actor import Actor
from tests.conftest import Database
from tests.factories import make_user, owner_session, two_clinics
from tests.quote_helpers import catalog, sample_form, sent_quote, staff
from tests.signed_in import signed_in


def _in(days: int) -> str:
    return (clock.now().date() + timedelta(days=days)).isoformat()


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    w = two_clinics()
    a_quote, a_token = sent_quote(staff(w.a), w.a_submission, sample_form(catalog(w.a), _in(30)))
    b_quote, b_token = sent_quote(staff(w.b), w.b_submission, sample_form(catalog(w.b), _in(30)))
    people = {}
    for name, role, tenant in (
        ("viewer", "viewer", w.a),
        ("manager", "clinic_manager", w.a),
        ("b_owner", "clinic_owner", w.b),
    ):
        uid, _ = make_user(f"{name}@x.test", role=role, tenants=(tenant,))
        people[name] = signed_in(uid)
    return {"w": w, "a_quote": a_quote, "a_token": a_token, "b_quote": b_quote,
            "b_token": b_token, "people": people}  # fmt: skip


def _get(url: str, session_token: str | None = None) -> Any:
    client = TestClient(build_api_app(), base_url="http://localhost:3000")
    if session_token is not None:
        client.cookies.set("mi_session", session_token)
    return client.get(url)


def _tampered(url: str) -> str:
    return url[:-10] + ("B" if url[-10] == "A" else "A") + url[-9:]


def _forged(actor: Actor, quote_id: str, tenant: uuid.UUID, *, lifetime: int = 60) -> str:
    """A staff link signed with the app's key, bypassing the issuer's checks."""
    token = signed_links.sign(
        quote_pdf.STAFF_PURPOSE,
        subject=signed_links.actor_subject(actor),
        lifetime=lifetime,
        claims={"q": quote_id, "t": str(tenant)},
    )
    return f"/api/quotes/{quote_id}.pdf?t={token}"


def _downloads() -> list[AuditEvent]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "quote.pdf_downloaded")
                .order_by(col(AuditEvent.occurred_at))
            ).all()
        )


def _is_pdf_of(answer: Any, doc: quotes.QuoteDocument) -> None:
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="quote-{doc.reference}-v{doc.version}.pdf"'
    )
    assert answer.headers["cache-control"] == "no-store"
    text = PdfReader(io.BytesIO(answer.content)).pages[0].extract_text()
    assert doc.total in text and all(line.amount in text for line in doc.lines)


def test_a_staff_link_works_in_its_own_session_only(world: dict[str, Any]) -> None:
    viewer_token, viewer = world["people"]["viewer"]
    manager_token, _ = world["people"]["manager"]
    url = quote_pdf.staff_link(viewer, world["a_quote"])
    assert url.startswith(f"/api/quotes/{world['a_quote']}.pdf?t=")
    _is_pdf_of(_get(url, viewer_token), quotes.document(viewer, world["a_quote"]))
    [event] = _downloads()
    assert event.tenant_id == world["w"].a and event.user_id == viewer.user_id
    assert event.details["quote"] == world["a_quote"]
    # Another user, nobody, the same user in another session, an altered link: not found.
    other_session, _ = signed_in(viewer.user_id)  # type: ignore[arg-type]
    for answer in (
        _get(url, manager_token),
        _get(url, None),
        _get(url, other_session),
        _get(_tampered(url), viewer_token),
        _get(url.split("?")[0], viewer_token),
    ):
        assert answer.status_code == 404 and answer.content == b"Not found"
    assert len(_downloads()) == 1


def test_expired_foreign_and_moved_staff_links_are_refused(world: dict[str, Any]) -> None:
    viewer_token, viewer = world["people"]["viewer"]
    b_token, b_owner = world["people"]["b_owner"]
    w = world["w"]
    expired = _forged(viewer, world["a_quote"], w.a, lifetime=-1)
    assert _get(expired, viewer_token).status_code == 404
    # Clinic B's quote id, correctly signed for this session and clinic A: not theirs.
    foreign = quote_pdf.staff_link(viewer, world["b_quote"])
    assert _get(foreign, viewer_token).status_code == 404
    # A link claiming clinic B, used by a clinic-A session.
    assert _get(_forged(viewer, world["b_quote"], w.b), viewer_token).status_code == 404
    # A link for one quote does not open another (the path names a different id).
    moved = quote_pdf.staff_link(viewer, world["a_quote"]).replace(
        world["a_quote"], world["b_quote"], 1
    )
    assert _get(moved, viewer_token).status_code == 404
    assert _get(moved, b_token).status_code == 404
    # Clinic B's owner with a correct link of their own gets theirs.
    assert _get(quote_pdf.staff_link(b_owner, world["b_quote"]), b_token).status_code == 200
    assert [e.tenant_id for e in _downloads()] == [w.b]


def test_the_patient_gets_the_version_of_the_link(world: dict[str, Any]) -> None:
    w = world["w"]
    answer = _get(quote_pdf.patient_link(world["a_token"]))
    _is_pdf_of(answer, quotes.document(staff(w.a), world["a_quote"]))
    assert "Clinic-A" in PdfReader(io.BytesIO(answer.content)).pages[0].extract_text()
    [event] = _downloads()
    assert event.tenant_id == w.a and event.user_id is None
    assert event.details == {"quote": world["a_quote"], "version": 1, "by": "patient"}


def test_bad_patient_links_show_nothing(world: dict[str, Any]) -> None:
    w = world["w"]
    token = world["a_token"]
    forged = quotes.link_token(w.a, uuid.UUID(world["b_quote"]))  # clinic A naming B's quote
    expired = signed_links.sign(
        quotes.LINK_PURPOSE,
        subject=quotes.LINK_SUBJECT,
        lifetime=-1,
        claims={"t": str(w.a), "q": world["a_quote"]},
    )
    draft = quotes.start(staff(w.b), w.b_submission)
    for bad in (
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "garbage",
        "x" * 3000,
        forged,
        expired,
        quotes.link_token(w.b, uuid.UUID(draft)),
    ):
        answer = _get(f"/api/q/{bad}.pdf")
        assert answer.status_code == 404 and answer.content == b"Not found", bad[:20]
    # The page's own link (which can accept) never opens the PDF; PDF links are their own kind.
    assert _get(f"/api/q/{token}.pdf").status_code == 404
    # A PDF link made from a forged page link (A naming B's quote) or a draft's opens nothing.
    for page_token in (forged, quotes.link_token(w.b, uuid.UUID(draft))):
        assert _get(quote_pdf.patient_link(page_token)).status_code == 404
    stale = signed_links.sign(
        quote_pdf.PATIENT_PURPOSE,
        subject=quote_pdf.PATIENT_SUBJECT,
        lifetime=-1,
        claims={"t": str(w.a), "q": world["a_quote"]},
    )
    assert _get(f"/api/q/{stale}.pdf").status_code == 404
    assert _downloads() == []


def test_the_patient_pdf_is_rate_limited(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        quote_pdfs,
        "PATIENT_PDF_PER_ADDRESS",
        ratelimit.Limit("quote-pdf-test", 2, timedelta(minutes=10)),
    )
    url = quote_pdf.patient_link(world["a_token"])
    assert [_get(url).status_code for _ in range(2)] == [200, 200]
    refused = _get(url)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert b"%PDF" not in refused.content
    # Guessing tokens counts too.
    assert _get("/api/q/garbage.pdf").status_code == 429
