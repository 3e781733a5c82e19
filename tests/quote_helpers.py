"""Quote test data: a small catalog, a draft filled from it, a sent version and its link."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from mi_portal.db import tenant_session
from mi_portal.models import ConsentKind, Patient, Role, TaxClass, TreatmentItem
from mi_portal.services import consent, quotes
from mi_portal.services.actor import Actor
from tests.factories import make_user


@dataclass(frozen=True)
class Catalog:
    vat: str  # tax class id, 20 %
    exempt: str  # 0 %
    filler: str  # item id: 2 syringes at 300.00, taxed
    peel: str  # item id: 120.00, exempt


def staff(tenant_id: uuid.UUID, role: Role = Role.CLINIC_MANAGER) -> Actor:
    user_id, _ = make_user(
        f"{uuid.uuid4().hex[:8]}@staff.test", role=role.value, tenants=(tenant_id,)
    )
    return Actor(user_id=user_id, role=role, tenant_id=tenant_id)


def catalog(tenant_id: uuid.UUID) -> Catalog:
    with tenant_session(tenant_id) as session:
        vat = TaxClass(name="VAT", rate=Decimal("20"))
        exempt = TaxClass(name="Exempt", rate=Decimal("0"))
        session.add(vat)
        session.add(exempt)
        session.flush()
        filler = TreatmentItem(
            name="Dermal filler", unit_label="syringe", unit_price=Decimal("300.00"),
            tax_class_id=vat.id,
        )  # fmt: skip
        peel = TreatmentItem(name="Chemical peel", unit_price=Decimal("120.00"))
        session.add(filler)
        session.add(peel)
        session.commit()
        return Catalog(str(vat.id), str(exempt.id), str(filler.id), str(peel.id))


def line(item: str = "", *, description: str, price: str, quantity: str = "1", tax: str = "",
         discount_kind: str = "", discount_value: str = "") -> dict[str, str]:  # fmt: skip
    return {
        "item": item, "package": "", "description": description, "unit_label": "",
        "quantity": quantity, "unit_price": price, "discount_kind": discount_kind,
        "discount_value": discount_value, "tax_class": tax,
    }  # fmt: skip


def sample_form(c: Catalog, valid_until: str, **quote_fields: str) -> dict[str, object]:
    """2 × 300.00 filler at 20 % with 10 % off the line, and a 120.00 exempt peel."""
    form: dict[str, object] = {
        "lines": [
            line(c.filler, description="Dermal filler", price="300.00", quantity="2", tax=c.vat,
                 discount_kind="percent", discount_value="10"),  # fmt: skip
            line(c.peel, description="Chemical peel", price="120.00", tax=c.exempt),
        ],
        "discount_kind": "", "discount_value": "", "deposit_kind": "percent",
        "deposit_value": "20", "valid_until": valid_until, "message": "See you soon.",
        "terms": "Deposit is refundable up to 48 hours before.",
    }  # fmt: skip
    form.update(quote_fields)
    return form


def opt_in_sms(tenant_id: uuid.UUID, patient_id: uuid.UUID, phone: str = "+12025550123") -> None:
    with tenant_session(tenant_id) as session:
        patient = session.get(Patient, (tenant_id, patient_id))
        assert patient is not None
        patient.phone = phone
        session.add(patient)
        consent.record(session, patient_id, ConsentKind.SMS_OPT_IN, True, source="staff")
        session.commit()


def sent_quote(actor: Actor, case_id: uuid.UUID, form: dict[str, object]) -> tuple[str, str]:
    """Draft, fill and send; returns (quote id, the patient's token)."""
    quote_id = quotes.start(actor, case_id)
    result = quotes.save_draft(actor, quote_id, form)
    assert not result.errors, result.errors
    quotes.send(actor, quote_id)
    assert actor.tenant_id is not None
    return quote_id, quotes.link_token(actor.tenant_id, uuid.UUID(quote_id))
