"""Demo quotes: every seeded case that reached "quoted" or beyond gets a real quote behind it.

Quotes are made through the same services staff and patients use (drafted, sent through the
outbox, opened, accepted or declined on the patient's link), so the demo's case statuses, audit
trail and conversation agree with its quotes. Every quote status appears in each clinic.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import (
    Patient,
    Quote,
    Role,
    Submission,
    SubmissionStatus,
    TaxClass,
    TreatmentItem,
)
from mi_portal.services import clock, patient_quotes, quotes
from mi_portal.services.actor import Actor
from mi_portal.services.cases import set_status

# Case statuses whose demo case should have a sent quote, and what the patient did with it.
ANSWERED = {
    SubmissionStatus.QUOTED.value: None,
    SubmissionStatus.ACCEPTED.value: "accept",
    SubmissionStatus.DECLINED.value: "decline",
}
DECLINE_REASONS = ["", "The price is more than I planned.", "I chose a clinic closer to home."]


def _form(rng: random.Random, items: list[TreatmentItem], valid_days: int) -> dict[str, object]:
    lines = []
    for item in rng.sample(items, k=min(len(items), rng.randint(1, 3))):
        discount = rng.choice(["", "", "percent"])
        lines.append(
            {
                "item": str(item.id),
                "package": "",
                "description": item.name,
                "unit_label": item.unit_label,
                "quantity": str(rng.choice([1, 1, 2, 3])),
                "unit_price": str(item.unit_price),
                "discount_kind": discount,
                "discount_value": "10" if discount else "",
                "tax_class": str(item.tax_class_id) if item.tax_class_id else "",
            }
        )
    deposit = rng.choice(["", "percent", "amount"])
    return {
        "lines": lines,
        "discount_kind": rng.choice(["", "", "amount"]),
        "discount_value": "25",
        "deposit_kind": deposit,
        "deposit_value": {"percent": "20", "amount": "100", "": ""}[deposit],
        "valid_until": (clock.now().date() + timedelta(days=valid_days)).isoformat(),
        "message": "Thank you for your photos. This is what we suggest, with the price.",
        "terms": "Prices include the consultation on the day. The deposit is refundable up to "
        "48 hours before the appointment.",
    }


def _reset_to_review(tenant_id: uuid.UUID, case_id: uuid.UUID) -> None:
    """The demo walked this case's status without a quote; walk it again through one."""
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        set_status(case, SubmissionStatus.IN_REVIEW.value, clock.now())
        session.add(case)
        session.commit()


def seed_quotes(tenant_id: uuid.UUID, manager_id: uuid.UUID) -> int:
    """Quotes for the clinic's demo cases; returns how many versions were made."""
    manager = Actor(user_id=manager_id, role=Role.CLINIC_MANAGER, tenant_id=tenant_id)
    rng = random.Random(f"{tenant_id}/quotes")
    with tenant_session(tenant_id) as session:
        items = list(session.exec(select(TreatmentItem).where(col(TreatmentItem.active))).all())
        if not items or not session.exec(select(TaxClass)).first():
            return 0
        if session.exec(select(Quote.id)).first() is not None:
            return 0  # already seeded
        cases = session.exec(
            select(Submission.id, Submission.status, Patient.full_name)
            .join(Patient, col(Patient.id) == Submission.patient_id)
            .order_by(col(Submission.received_at))
        ).all()
        for item in items:
            session.expunge(item)
    made = 0
    in_review = [cid for cid, status, _ in cases if status == SubmissionStatus.IN_REVIEW.value]
    # One draft on a case in review: the quote page's editor.
    if in_review:
        draft = quotes.start(manager, in_review[0])
        quotes.save_draft(manager, draft, _form(rng, items, 30))
        made += 1
    extras = iter(["viewed", "expired", "withdrawn", "superseded"])
    for case_id, status, full_name in cases:
        if status not in ANSWERED:
            continue
        _reset_to_review(tenant_id, case_id)
        quote_id = quotes.start(manager, case_id)
        quotes.save_draft(manager, quote_id, _form(rng, items, 30))
        quotes.send(manager, quote_id, sms=False)
        made += 1
        token = quotes.link_token(tenant_id, uuid.UUID(quote_id))
        answer = ANSWERED[status]
        if answer is not None:
            patient_quotes.view(token, ip="203.0.113.20", user_agent="Mozilla/5.0 (demo seed)")
        if answer == "accept":
            patient_quotes.accept(
                token, full_name, ip="203.0.113.20", user_agent="Mozilla/5.0 (demo seed)"
            )
        elif answer == "decline":
            patient_quotes.decline(token, rng.choice(DECLINE_REASONS))
        else:
            extra = next(extras, None)
            if extra == "viewed":
                patient_quotes.view(token, ip="203.0.113.21", user_agent="Mozilla/5.0 (demo)")
            elif extra == "expired":
                with tenant_session(tenant_id) as session:
                    row = session.get(Quote, (tenant_id, uuid.UUID(quote_id)))
                    assert row is not None
                    # A quote sent a month ago, valid until yesterday (its digest follows).
                    row.valid_until = clock.now() - timedelta(days=1)
                    row.content_sha256 = quotes.content_hash(session, row)
                    session.add(row)
                    session.commit()
                quotes.expire_sweep()
            elif extra == "withdrawn":
                quotes.withdraw(manager, quote_id)
            elif extra == "superseded":
                second = quotes.start(manager, case_id)
                quotes.save_draft(manager, second, _form(rng, items, 45))
                quotes.send(manager, second, sms=False)
                made += 1
    return made
