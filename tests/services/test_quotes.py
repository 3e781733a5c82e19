"""Quotes: drafts, versions, every status, sending through the outbox, the patient's answer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import (
    Message,
    OutboxMessage,
    Quote,
    QuoteLine,
    QuoteStatus,
    Role,
    Submission,
)
from mi_portal.services import cases, clock, patient_quotes, quote_forms, quote_math, quotes
from mi_portal.services.actor import NotFound, PermissionDenied
from tests.conftest import Database
from tests.factories import two_clinics
from tests.quote_helpers import catalog, opt_in_sms, sample_form, sent_quote, staff


def _in(days: int) -> str:
    return (clock.now().date() + timedelta(days=days)).isoformat()


def _case_status(tenant_id: uuid.UUID, case_id: uuid.UUID) -> str:
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        return case.status


def _quote(tenant_id: uuid.UUID, quote_id: str) -> Quote:
    with tenant_session(tenant_id) as session:
        row = session.get(Quote, (tenant_id, uuid.UUID(quote_id)))
        assert row is not None
        return row


def test_a_draft_keeps_what_was_typed_and_computes_amounts(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    quote_id = quotes.start(manager, w.a_submission)
    bad = sample_form(c, _in(30))
    bad["lines"][0]["unit_price"] = "3oo"  # type: ignore[index]
    result = quotes.save_draft(manager, quote_id, bad)
    assert result.errors == {"lines.0.unit_price": "Enter an amount like 120.00."}
    assert result.amounts == {}
    # The typed text survives a reload.
    again = quotes.builder(manager, w.a_submission)
    assert again.draft is not None
    assert again.draft.form["lines"][0]["unit_price"] == "3oo"
    good = quotes.save_draft(manager, quote_id, sample_form(c, _in(30)))
    assert good.errors == {}
    # 2 × 300 − 10 % = 540 net, tax 108; peel 120 exempt; total 768; deposit 20 % = 153.60.
    assert good.amounts["subtotal"] == "$660.00"
    assert good.amounts["tax"] == "$108.00"
    assert good.amounts["total"] == "$768.00"
    assert good.amounts["deposit"] == "$153.60"
    assert good.line_amounts == ["$540.00", "$120.00"]
    stored = _quote(w.a, quote_id)
    assert stored.total == Decimal("768.00") and stored.status == "draft"


def test_stored_amounts_equal_a_recomputation(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    form = sample_form(c, _in(10), discount_kind="amount", discount_value="33.33")
    quote_id, _token = sent_quote(manager, w.a_submission, form)
    with tenant_session(w.a) as session:
        quote = session.get(Quote, (w.a, uuid.UUID(quote_id)))
        assert quote is not None
        lines = session.exec(
            select(QuoteLine).where(QuoteLine.quote_id == quote.id).order_by(QuoteLine.position)
        ).all()
        again = quote_math.compute(
            [
                quote_math.LineInput(
                    line.quantity,
                    line.unit_price,
                    line.discount_kind,
                    line.discount_value,
                    line.tax_rate,
                )  # fmt: skip
                for line in lines
            ],
            currency=quote.currency,
            discount_kind=quote.discount_kind,
            discount_value=quote.discount_value,
            deposit_kind=quote.deposit_kind,
            deposit_value=quote.deposit_value,
        )
        assert (again.subtotal, again.discount, again.tax, again.total, again.deposit) == (
            quote.subtotal, quote.discount_total, quote.tax_total, quote.total, quote.deposit,
        )  # fmt: skip
        assert [a.net for a in again.lines] == [line.net for line in lines]
        assert sum(line.line_total for line in lines) == quote.total


def test_sending_queues_email_and_text_moves_the_case_and_pins_the_content(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    opt_in_sms(w.a, w.a_patient)
    quote_id, _token = sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    assert _case_status(w.a, w.a_submission) == "quoted"
    quote = _quote(w.a, quote_id)
    assert quote.status == "sent" and quote.content_sha256 and len(quote.content_sha256) == 64
    with tenant_session(w.a) as session:
        rows = session.exec(select(OutboxMessage).order_by(OutboxMessage.channel)).all()
        assert [r.channel for r in rows] == ["email", "sms"]
        for row in rows:
            sent_token = row.body.split("/q/", 1)[1].split()[0]
            assert quotes.open_link(sent_token) == (w.a, uuid.UUID(quote_id))
        shown = session.exec(select(Message)).all()
        # The conversation keeps the messages, without the link (it lets its holder accept).
        assert len(shown) == 2 and all("/q/" not in m.body for m in shown)
        assert all(quotes.LINK_SHOWN in m.body for m in shown)
        case = session.get(Submission, (w.a, w.a_submission))
        assert case is not None and case.quote_sent_at is not None


def test_coordinators_draft_but_only_send_roles_send(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    coordinator = staff(w.a, Role.COORDINATOR)
    quote_id = quotes.start(coordinator, w.a_submission)
    assert not quotes.save_draft(coordinator, quote_id, sample_form(c, _in(5))).errors
    with pytest.raises(PermissionDenied):
        quotes.send(coordinator, quote_id)
    quotes.send(staff(w.a, Role.PROVIDER), quote_id)
    with pytest.raises(PermissionDenied):
        quotes.start(staff(w.a, Role.VIEWER), w.a_submission)


def test_a_case_cannot_be_moved_to_quoted_without_a_sent_quote(db: Database) -> None:
    w = two_clinics()
    manager = staff(w.a)
    cases.change_status(manager, w.a_submission, "in_review")
    with pytest.raises(ValueError, match="Send a quote"):
        cases.change_status(manager, w.a_submission, "quoted")


def test_revising_makes_a_new_version_and_supersedes_the_old(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    first, old_token = sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    second = quotes.start(manager, w.a_submission)
    assert second != first and _quote(w.a, second).version == 2
    # The new draft starts from the last form.
    assert _quote(w.a, second).form["lines"][1]["description"] == "Chemical peel"
    with pytest.raises(quotes.QuoteProblem, match="revise"):
        quotes.save_draft(manager, first, sample_form(c, _in(30)))
    form = sample_form(c, _in(30))
    form["lines"][1]["unit_price"] = "100.00"  # type: ignore[index]
    assert not quotes.save_draft(manager, second, form).errors
    quotes.send(manager, second)
    assert _quote(w.a, first).status == "superseded"
    assert _quote(w.a, second).status == "sent"
    page = patient_quotes.view(old_token)
    assert not page.answerable and "replaced" in page.notice
    assert page.current_link.endswith(
        "/q/" + page.current_link.rsplit("/q/", 1)[1]
    ) and quotes.open_link(page.current_link.rsplit("/q/", 1)[1]) == (w.a, uuid.UUID(second))
    with pytest.raises(patient_quotes.AnswerProblem, match="replaced"):
        patient_quotes.accept(old_token, "Alice A")
    view = quotes.builder(manager, w.a_submission)
    assert [v.status for v in view.versions] == ["sent", "superseded"]


def test_viewed_then_accepted_moves_the_case_and_records_the_acceptance(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    quote_id, token = sent_quote(staff(w.a), w.a_submission, sample_form(c, _in(30)))
    page = patient_quotes.view(token, ip="203.0.113.9", user_agent="Phone")
    assert page.answerable and page.document.total == "$768.00"
    assert _quote(w.a, quote_id).status == "viewed"
    with pytest.raises(patient_quotes.AnswerProblem, match="full name"):
        patient_quotes.accept(token, "Someone Else")
    patient_quotes.accept(token, "  alice   a ", ip="203.0.113.9", user_agent="Phone")
    quote = _quote(w.a, quote_id)
    assert quote.status == "accepted" and quote.accepted_name == "alice a"
    assert quote.accepted_ip == "203.0.113.9" and quote.accepted_user_agent == "Phone"
    assert _case_status(w.a, w.a_submission) == "accepted"
    with pytest.raises(patient_quotes.AnswerProblem):
        patient_quotes.decline(token)
    with pytest.raises(quotes.QuoteProblem, match="accepted"):
        quotes.start(staff(w.a), w.a_submission)


def test_declined_with_a_reason_then_a_revision_can_follow(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    quote_id, token = sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    patient_quotes.decline(token, "Too expensive")
    assert _quote(w.a, quote_id).status == "declined"
    assert _case_status(w.a, w.a_submission) == "declined"
    second = quotes.start(manager, w.a_submission)
    quotes.send(manager, second)
    assert _case_status(w.a, w.a_submission) == "quoted"
    assert _quote(w.a, quote_id).status == "declined"  # an answered version keeps its answer


def test_expiry_applies_on_read_and_by_the_sweep(db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    quote_id, token = sent_quote(manager, w.a_submission, sample_form(c, _in(0)))
    other_id, _ = sent_quote(staff(w.b), w.b_submission, sample_form(catalog(w.b), _in(0)))
    later = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "_now", lambda: later)
    page = patient_quotes.view(token)
    assert not page.answerable and "expired" in page.notice
    assert _quote(w.a, quote_id).status == "expired"
    assert quotes.expire_sweep() == 1  # clinic B's
    assert _quote(w.b, other_id).status == "expired"
    with pytest.raises(patient_quotes.AnswerProblem, match="expired"):
        patient_quotes.accept(token, "Alice A")


def test_withdrawing_returns_the_case_to_review(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    quote_id, token = sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    quotes.withdraw(manager, quote_id)
    assert _quote(w.a, quote_id).status == "withdrawn"
    assert _case_status(w.a, w.a_submission) == "in_review"
    assert "withdrew" in patient_quotes.view(token).notice


def test_links_tampered_or_for_another_clinic_open_nothing(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    _quote_id, token = sent_quote(staff(w.a), w.a_submission, sample_form(c, _in(30)))
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "", "x" * 3000):
        with pytest.raises(patient_quotes.LinkInvalid):
            patient_quotes.view(bad)
    # A token naming clinic A with a quote id of clinic B finds nothing.
    b_quote, _ = sent_quote(staff(w.b), w.b_submission, sample_form(catalog(w.b), _in(30)))
    forged = quotes.link_token(w.a, uuid.UUID(b_quote))
    with pytest.raises(patient_quotes.LinkInvalid):
        patient_quotes.view(forged)
    # A draft is never shown, even with a genuine token.
    draft = quotes.start(staff(w.b), w.b_submission)
    with pytest.raises(patient_quotes.LinkInvalid):
        patient_quotes.view(quotes.link_token(w.b, uuid.UUID(draft)))


def test_another_clinics_quote_answers_like_a_missing_one(db: Database) -> None:
    w = two_clinics()
    b_quote, _ = sent_quote(staff(w.b), w.b_submission, sample_form(catalog(w.b), _in(30)))
    a_manager = staff(w.a)
    for call in (
        lambda: quotes.document(a_manager, b_quote),
        lambda: quotes.withdraw(a_manager, b_quote),
        lambda: quotes.save_draft(a_manager, b_quote, {}),
        lambda: quotes.builder(a_manager, w.b_submission),
        lambda: quotes.start(a_manager, w.b_submission),
    ):
        with pytest.raises(NotFound):
            call()


def test_catalog_references_of_another_clinic_are_refused(db: Database) -> None:
    w = two_clinics()
    b_catalog = catalog(w.b)
    catalog(w.a)
    manager = staff(w.a)
    quote_id = quotes.start(manager, w.a_submission)
    result = quotes.save_draft(manager, quote_id, sample_form(b_catalog, _in(30)))
    assert "lines.0.item" in result.errors and "lines.0.tax_class" in result.errors


def test_form_parsing_refuses_each_bad_field_with_a_sentence() -> None:
    lookups = quote_forms.Lookups(taxes={}, items={}, packages={})
    today = clock.now().date()
    form = quote_forms.normal_form(
        {
            "lines": [
                {
                    "description": "",
                    "quantity": "0",
                    "unit_price": "-1",
                    "discount_kind": "percent",
                    "discount_value": "150",
                },  # fmt: skip
            ],
            "deposit_kind": "bogus",
            "valid_until": "yesterday",
        }
    )
    parsed = quote_forms.parse(form, lookups, currency="USD", today=today)
    assert set(parsed.errors) == {
        "lines.0.description", "lines.0.quantity", "lines.0.unit_price",
        "lines.0.discount_value", "deposit_kind", "valid_until",
    }  # fmt: skip
    assert quote_forms.parse_amount("1,200.50", digits=2, maximum=Decimal(10**6)) == Decimal(
        "1200.50"
    )
    assert quote_forms.parse_amount("99,5", digits=2, maximum=Decimal(10**6)) == Decimal("99.5")
    with pytest.raises(ValueError, match="whole units"):
        quote_forms.parse_amount("10.5", digits=0, maximum=Decimal(10**6))


def test_status_labels_cover_every_status() -> None:
    assert set(quotes.STATUS_LABELS) == {s.value for s in QuoteStatus}


def test_two_people_sending_the_same_draft_at_once_send_it_once(pg: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    w = two_clinics()
    c = catalog(w.a)
    first, second = staff(w.a), staff(w.a)
    quote_id = quotes.start(first, w.a_submission)
    assert not quotes.save_draft(first, quote_id, sample_form(c, _in(30))).errors

    def attempt(actor):  # type: ignore[no-untyped-def]
        try:
            quotes.send(actor, quote_id, sms=False)
            return "sent"
        except quotes.QuoteProblem:
            return "refused"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(attempt, [first, second]))
    assert outcomes == ["refused", "sent"]
    with tenant_session(w.a) as session:
        assert len(session.exec(select(OutboxMessage)).all()) == 1


def test_link_variables_are_refused_in_subjects(db: Database) -> None:
    """A subject is stored as sent: a patient's link there would reach every staff reader."""
    from mi_portal.services import message_templates, messaging

    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    for variable in ("quote.link", "reply_link"):
        subject = "Your quote {{ " + variable + " }}"
        with pytest.raises(message_templates.TemplateProblem, match="not in its subject"):
            messaging.send_message(
                manager, w.a_submission, channel="email", subject=subject, body="Hello"
            )
        with pytest.raises(message_templates.TemplateProblem, match="not in its subject"):
            message_templates.check_template(subject, "Hello")
    # In the body the quote link goes out, and staff see the placeholder.
    messaging.send_message(
        manager, w.a_submission, channel="email", subject="Your quote",
        body="Here it is: {{ quote.link }}",
    )  # fmt: skip
    with tenant_session(w.a) as session:
        last = session.exec(select(Message).order_by(Message.created_at.desc())).first()  # type: ignore[attr-defined]
        assert last is not None and quotes.LINK_SHOWN in last.body and "/q/" not in last.body
        row = session.exec(select(OutboxMessage).where(OutboxMessage.message_id == last.id)).one()
        assert "/q/" in row.body


def test_a_hand_move_cannot_cross_an_open_quote(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    _quote_id, token = sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    for to in ("accepted", "declined", "in_review", "archived"):
        with pytest.raises(ValueError, match="open quote"):
            cases.change_status(manager, w.a_submission, to)
    assert _case_status(w.a, w.a_submission) == "quoted"
    patient_quotes.accept(token, "Alice A")
    assert _case_status(w.a, w.a_submission) == "accepted"


def test_a_patient_cannot_answer_once_the_case_left_quoted(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    quote_id, token = sent_quote(staff(w.a), w.a_submission, sample_form(c, _in(30)))
    with tenant_session(w.a) as session:  # as an older release could have left it
        case = session.get(Submission, (w.a, w.a_submission))
        assert case is not None
        case.status = "archived"
        session.add(case)
        session.commit()
    with pytest.raises(patient_quotes.AnswerProblem, match="not taking answers"):
        patient_quotes.accept(token, "Alice A")
    assert _quote(w.a, quote_id).status == "sent"


def test_an_answer_and_a_new_version_at_once_never_both_win(pg: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    first, token = sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    second = quotes.start(manager, w.a_submission)
    assert not quotes.save_draft(manager, second, sample_form(c, _in(30))).errors

    def accept() -> str:
        try:
            patient_quotes.accept(token, "Alice A")
            return "accepted"
        except patient_quotes.AnswerProblem:
            return "refused"

    def send() -> str:
        try:
            quotes.send(manager, second, sms=False)
            return "sent"
        except quotes.QuoteProblem:
            return "refused"

    with ThreadPoolExecutor(max_workers=2) as pool:
        answered, sent = pool.submit(accept), pool.submit(send)
        outcome = (answered.result(), sent.result())
    statuses = (_quote(w.a, first).status, _quote(w.a, second).status)
    if outcome == ("accepted", "refused"):
        assert statuses == ("accepted", "draft")
        assert _case_status(w.a, w.a_submission) == "accepted"
    else:
        assert outcome == ("refused", "sent") and statuses == ("superseded", "sent")
        assert _quote(w.a, first).accepted_name is None
        assert _case_status(w.a, w.a_submission) == "quoted"


def test_a_revision_after_a_currency_change_asks_for_prices_again(db: Database) -> None:
    from mi_portal.models import Tenant

    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    sent_quote(manager, w.a_submission, sample_form(c, _in(30), deposit_kind="amount",
                                                   deposit_value="50"))  # fmt: skip
    with tenant_session(w.a) as session:
        tenant = session.get(Tenant, w.a)
        assert tenant is not None
        tenant.currency, tenant.locale = "EUR", "de_DE"
        session.add(tenant)
        session.commit()
    revision = quotes.start(manager, w.a_submission)
    form = _quote(w.a, revision).form
    assert [line["unit_price"] for line in form["lines"]] == ["", ""]
    assert form["lines"][0]["discount_value"] == "10"  # a percentage stays
    assert form["deposit_value"] == ""
    result = quotes.save_draft(manager, revision, form)
    assert "lines.0.unit_price" in result.errors
    assert _quote(w.a, revision).currency == "EUR"


def test_the_builder_offers_packages_with_what_they_hold(db: Database) -> None:
    from mi_portal.models import PackageItem, TreatmentItem, TreatmentPackage

    w = two_clinics()
    c = catalog(w.a)
    with tenant_session(w.a) as session:
        package = TreatmentPackage(name="Glow course", price=Decimal("400.00"))
        session.add(package)
        session.flush()
        session.add(PackageItem(package_id=package.id, treatment_item_id=uuid.UUID(c.peel),
                                quantity=3, position=0))  # fmt: skip
        session.add(PackageItem(package_id=package.id, treatment_item_id=uuid.UUID(c.filler),
                                quantity=1, position=1))  # fmt: skip
        session.add(TreatmentItem(name="Laser", unit_price=Decimal("90"), price_from=True))
        session.commit()
    offer = {r["name"]: r for r in quotes.catalog_choices(staff(w.a, Role.COORDINATOR))}
    assert offer["Glow course"]["description"] == (
        "Glow course (3 × Chemical peel, 1 × Dermal filler)"
    )
    assert offer["Laser"]["price_from"] == "yes" and offer["Chemical peel"]["price_from"] == ""
    assert quotes.catalog_choices(staff(w.b)) == []


def test_sending_a_quote_on_a_new_case_stamps_its_first_review_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    sent = clock.now()
    monkeypatch.setattr(clock, "_now", lambda: sent)
    quote_id, token = sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    later = sent + timedelta(days=1)
    monkeypatch.setattr(clock, "_now", lambda: later)
    patient_quotes.decline(token)
    quotes.send(manager, quotes.start(manager, w.a_submission))  # a revision, a day later
    with tenant_session(w.a) as session:
        case = session.get(Submission, (w.a, w.a_submission))
        assert case is not None
        # Passed through review on its way to quoted: reviewed when the first quote went.
        assert (case.status, case.reviewed_at, case.quote_sent_at) == ("quoted", sent, sent)
    assert _quote(w.a, quote_id).status == "declined"
