"""Quote PDFs: a PDF reader finds the page's very amounts in them, in any currency and script."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from pypdf import PdfReader

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import Patient, Tenant
from mi_portal.services import clock, patient_quotes, quote_pdf, quotes
from mi_portal.services.actor import NotFound
from tests.conftest import Database
from tests.factories import two_clinics
from tests.quote_helpers import catalog, sample_form, sent_quote, staff


def _in(days: int) -> str:
    return (clock.now().date() + timedelta(days=days)).isoformat()


def _text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def _amounts(doc: quotes.QuoteDocument) -> list[str]:
    found = [line.amount for line in doc.lines] + [line.unit_price for line in doc.lines]
    found += [line.discount for line in doc.lines if line.discount]
    found += [doc.subtotal, doc.tax, doc.total, doc.deposit]
    return found + ([doc.discount] if doc.discount else [])


def test_the_pdf_shows_the_documents_own_amounts(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    form = sample_form(c, _in(30), discount_kind="amount", discount_value="33.33")
    quote_id, _token = sent_quote(manager, w.a_submission, form)
    doc = quotes.document(manager, quote_id)
    data = quote_pdf.render(doc)
    assert data.startswith(b"%PDF-")
    text = _text(data)
    assert doc.discount.startswith("−") and doc.total == "$729.22"
    for amount in _amounts(doc):
        assert amount in text, amount
    for words in ("Clinic-A", doc.reference, "version 1", "Dermal filler",
                  "Chemical peel", "VAT 20", "See you soon.", "Deposit is refundable",
                  f"Valid until {doc.valid_until}", f"Sent on {doc.sent_on}"):  # fmt: skip
        assert words in text, words
    assert "Status:" not in text  # an open version needs no status line
    # Deterministic: the same version gives the same bytes (no creation date, no random id).
    assert quote_pdf.render(quotes.document(manager, quote_id)) == data
    assert b"/CreationDate" not in data or b"D:20000101" in data
    assert quote_pdf.filename(doc) == f"quote-{doc.reference}-v1.pdf"


def test_euro_signs_minus_signs_and_accented_names_survive(db: Database) -> None:
    w = two_clinics()
    with platform_session() as session:
        tenant = session.get(Tenant, w.a)
        assert tenant is not None
        tenant.name, tenant.currency, tenant.locale = "Clinique Éloïse", "EUR", "fr_FR"
        session.add(tenant)
        session.commit()
    with tenant_session(w.a) as session:
        patient = session.get(Patient, (w.a, w.a_patient))
        assert patient is not None
        patient.full_name = "Zoë Ångström-Łukasz"
        session.add(patient)
        session.commit()
    c = catalog(w.a)
    manager = staff(w.a)
    form = sample_form(c, _in(30), message="À bientôt — merci !")
    form["lines"][1]["description"] = "Peeling chimique (visage)"  # type: ignore[index]
    quote_id, token = sent_quote(manager, w.a_submission, form)
    patient_quotes.accept(token, "zoë ångström-łukasz")
    doc = quotes.document(manager, quote_id)
    assert "€" in doc.total and doc.lines[0].discount.startswith("−")
    text = _text(quote_pdf.render(doc))
    for amount in _amounts(doc):
        assert amount in text, amount
    assert "Clinique Éloïse" in text and "À bientôt — merci !" in text
    assert f"Status: Accepted by zoë ångström-łukasz on {doc.accepted_at}" in text


def test_a_superseded_version_says_so(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    first, _ = sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    second = quotes.start(manager, w.a_submission)
    quotes.send(manager, second)
    text = _text(quote_pdf.render(quotes.document(manager, first)))
    assert "Status: Superseded" in text and "version 1" in text


def test_a_long_quote_flows_onto_more_pages(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    form = sample_form(c, _in(30))
    lines = form["lines"]
    assert isinstance(lines, list)
    form["lines"] = [dict(lines[1], description=f"Session {n}") for n in range(50)]
    quote_id, _ = sent_quote(manager, w.a_submission, form)
    doc = quotes.document(manager, quote_id)
    data = quote_pdf.render(doc)
    assert len(PdfReader(io.BytesIO(data)).pages) >= 2
    text = _text(data)
    assert "Session 49" in text and doc.total in text and doc.total == "$6,000.00"


def test_staff_pdfs_are_audited_and_another_clinics_answer_not_found(db: Database) -> None:
    from sqlmodel import select

    from mi_portal.models import AuditEvent
    from tests.factories import owner_session

    w = two_clinics()
    a_quote, _ = sent_quote(staff(w.a), w.a_submission, sample_form(catalog(w.a), _in(30)))
    b_quote, _ = sent_quote(staff(w.b), w.b_submission, sample_form(catalog(w.b), _in(30)))
    reader = staff(w.a)
    got = quote_pdf.for_staff(reader, a_quote)
    assert got.filename.startswith("quote-") and got.data.startswith(b"%PDF-")
    with pytest.raises(NotFound):
        quote_pdf.for_staff(reader, b_quote)
    with pytest.raises(NotFound):
        quote_pdf.for_staff(reader, str(uuid.uuid4()))
    with owner_session() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "quote.pdf_downloaded")
        ).all()
    assert [(e.tenant_id, e.target_id, e.details["quote"]) for e in events] == [
        (w.a, str(w.a_submission), a_quote)
    ]


def test_characters_the_font_lacks_are_left_out_and_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    doc = quotes.QuoteDocument(
        id=str(uuid.uuid4()), clinic_name="東京 Clinic", reference="AB12CD34", version=1,
        status="accepted", status_label="Accepted", currency="EUR",
        lines=[quotes.DocLine("Peel 東京", "", 1, "10,00\xa0€", "", "", "10,00\xa0€")],
        subtotal="10,00\xa0€", discount="", tax="0,00\xa0€", total="10,00\xa0€", deposit="",
        sent_on="2026-01-02", valid_until="", message="", terms="",
        accepted_name="山田 Hanako", accepted_at="2026-01-03 10:00 UTC",
    )  # fmt: skip
    with caplog.at_level("DEBUG"):
        text = _text(quote_pdf.render(doc))
    assert "10,00\xa0€" in text and "Clinic" in text and "Hanako" in text
    assert not any("山" in r.getMessage() or "東" in r.getMessage() for r in caplog.records)
