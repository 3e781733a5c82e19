"""A case's quote: drafts saved as typed, versions, sending through the outbox, expiry.

One case has one line of quote *versions*. Version 1 starts as a draft; sending it makes it
``sent``; a patient's first look makes it ``viewed``; the patient then accepts or declines, or
it expires (on read and by the worker) or is withdrawn. Changing a quote once it was sent means
a new version (``revise``): the new draft copies the last form, and sending it marks the earlier
open version ``superseded`` (readable, never answerable). The case follows through the
transition table: sending moves it to ``quoted``, the patient's answer to ``accepted`` or
``declined``, withdrawing the only open quote back to ``in_review``.

Amounts come from ``quote_math.compute`` alone and are stored with the lines they were computed
from; what a patient accepts is pinned by the SHA-256 of the version's canonical content,
taken when it is sent.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import (
    OPEN_QUOTE_STATUSES,
    ConsentKind,
    MessageChannel,
    PackageItem,
    Patient,
    Quote,
    QuoteLine,
    QuoteStatus,
    Submission,
    SubmissionStatus,
    TaxClass,
    Tenant,
    TreatmentItem,
    TreatmentPackage,
)
from mi_portal.services import audit, clock, consent, quote_forms, quote_math, signed_links
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.cases import allowed_moves, case_in_clinic, set_status
from mi_portal.services.inbox import reference
from mi_portal.services.permissions import Permission, check, has_permission

LINK_PURPOSE = "patient-quote"
LINK_SUBJECT = "quote-page"
# Longer than any validity a quote may have (quote_forms.MAX_VALID_DAYS), so a link never dies
# before its quote does.
LINK_DAYS = 400
LINK_SHOWN = "[the patient's quote link]"
CLOSED_EDITING = frozenset({SubmissionStatus.CLOSED.value, SubmissionStatus.ARCHIVED.value})

STATUS_LABELS = {
    QuoteStatus.DRAFT.value: "Draft",
    QuoteStatus.SENT.value: "Sent",
    QuoteStatus.VIEWED.value: "Viewed by the patient",
    QuoteStatus.ACCEPTED.value: "Accepted",
    QuoteStatus.DECLINED.value: "Declined",
    QuoteStatus.EXPIRED.value: "Expired",
    QuoteStatus.WITHDRAWN.value: "Withdrawn",
    QuoteStatus.SUPERSEDED.value: "Superseded",
}

EMAIL_SUBJECT = "Your quote from {{ clinic.name }} (case {{ case.reference }})"
EMAIL_BODY = (
    "Hello {{ patient.first_name }},\n\n"
    "{{ clinic.name }} has prepared a quote for your case {{ case.reference }}. You can read it, "
    "save it as a PDF and accept or decline it here:\n{{ quote.link }}\n\n"
    "If you have questions, answer this email.\n\n{{ staff.name }}, {{ clinic.name }}"
)
SMS_BODY = "{{ clinic.name }}: your quote for case {{ case.reference }} is ready: {{ quote.link }}"


class QuoteProblem(ValueError):
    """The quote cannot do this now; the message says why in a sentence staff can act on."""


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class DocLine:
    description: str
    unit_label: str
    quantity: int
    unit_price: str
    discount: str  # "" or "−10.00 (10 %)"
    tax: str  # "" or "VAT 20 %"
    amount: str  # the line's net, before tax


@dataclass(frozen=True)
class QuoteDocument:
    """One version as people read it (staff page, patient page and PDF use the same one)."""

    id: str
    clinic_name: str
    reference: str
    version: int
    status: str
    status_label: str
    currency: str
    lines: list[DocLine]
    subtotal: str
    discount: str  # "" when there is none
    tax: str
    total: str
    deposit: str  # "" when none is asked
    sent_on: str
    valid_until: str
    message: str
    terms: str
    accepted_name: str = ""
    accepted_at: str = ""
    decline_reason: str = ""
    # Raw figures for checks (tests compare the page, the PDF and a recomputation).
    figures: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QuoteSummary:
    id: str
    version: int
    status: str
    status_label: str
    total: str
    sent_on: str
    valid_until: str


def _money(quote: Quote, amount: Decimal) -> str:
    return quote_math.format_money(amount, quote.currency, quote.locale)


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else ""


def _lines(session: ScopedSession, quote: Quote) -> list[QuoteLine]:
    return list(
        session.exec(
            select(QuoteLine)
            .where(QuoteLine.quote_id == quote.id)
            .order_by(col(QuoteLine.position), col(QuoteLine.id))
        ).all()
    )


def _discount_text(quote: Quote, kind: str, value: Decimal, amount: Decimal) -> str:
    if not amount:
        return ""
    if kind == "percent":
        return f"−{_money(quote, amount)} ({quote_math.format_rate(value)})"
    return f"−{_money(quote, amount)}"


def _document(session: ScopedSession, quote: Quote, clinic_name: str) -> QuoteDocument:
    lines = _lines(session, quote)
    return QuoteDocument(
        id=str(quote.id),
        clinic_name=clinic_name,
        reference=reference(quote.submission_id),
        version=quote.version,
        status=quote.status,
        status_label=STATUS_LABELS.get(quote.status, quote.status),
        currency=quote.currency,
        lines=[
            DocLine(
                description=line.description,
                unit_label=line.unit_label,
                quantity=line.quantity,
                unit_price=_money(quote, line.unit_price),
                discount=_discount_text(
                    quote, line.discount_kind, line.discount_value, line.line_discount
                ),
                tax=f"{line.tax_name} {quote_math.format_rate(line.tax_rate)}".strip()
                if line.tax_rate
                else "",
                amount=_money(quote, line.net),
            )
            for line in lines
        ],
        subtotal=_money(quote, quote.subtotal),
        discount=_discount_text(
            quote, quote.discount_kind, quote.discount_value, quote.discount_total
        ),
        tax=_money(quote, quote.tax_total),
        total=_money(quote, quote.total),
        deposit=_money(quote, quote.deposit) if quote.deposit else "",
        sent_on=_day(quote.sent_at),
        valid_until=_day(quote.valid_until),
        message=quote.message_to_patient,
        terms=quote.terms,
        accepted_name=quote.accepted_name or "",
        accepted_at=quote.closed_at.strftime("%Y-%m-%d %H:%M UTC")
        if quote.status == QuoteStatus.ACCEPTED.value and quote.closed_at
        else "",
        decline_reason=quote.decline_reason or "",
        figures={
            "subtotal": str(quote.subtotal),
            "discount": str(quote.discount_total),
            "tax": str(quote.tax_total),
            "total": str(quote.total),
            "deposit": str(quote.deposit),
            **{f"line{i}": str(line.net) for i, line in enumerate(lines)},
        },
    )


def _summary(quote: Quote) -> QuoteSummary:
    return QuoteSummary(
        id=str(quote.id),
        version=quote.version,
        status=quote.status,
        status_label=STATUS_LABELS.get(quote.status, quote.status),
        total=_money(quote, quote.total),
        sent_on=_day(quote.sent_at),
        valid_until=_day(quote.valid_until),
    )


def _versions(session: ScopedSession, case_id: uuid.UUID) -> list[Quote]:
    return list(
        session.exec(
            select(Quote).where(Quote.submission_id == case_id).order_by(col(Quote.version))
        ).all()
    )


def expire_in_session(session: ScopedSession, quotes: list[Quote], now: datetime) -> list[Quote]:
    """Mark open quotes past their date expired (caller commits and audits what is returned).

    Each is a conditional update (still open, still past its date): an answer committed a moment
    earlier by the patient is never turned into "expired".
    """
    expired = []
    open_values = [s.value for s in OPEN_QUOTE_STATUSES]
    for quote in quotes:
        if (
            quote.status in OPEN_QUOTE_STATUSES
            and quote.valid_until is not None
            and quote.valid_until < now
        ):
            result = session.execute(
                sa_update(Quote)
                .where(
                    col(Quote.tenant_id) == quote.tenant_id,
                    col(Quote.id) == quote.id,
                    col(Quote.status).in_(open_values),
                    col(Quote.valid_until) < now,
                )
                .values(status=QuoteStatus.EXPIRED.value, closed_at=quote.valid_until)
            )
            if getattr(result, "rowcount", 0):
                expired.append(quote)
    for quote in expired:
        session.refresh(quote)
    return expired


def lock_case(session: ScopedSession, tenant_id: uuid.UUID, case_id: uuid.UUID) -> Submission:
    """The case, locked until commit. Everything that changes a case's quote statuses (start,
    send, withdraw, the patient's answer) takes this lock first, so they happen one at a time."""
    case = session.exec(
        select(Submission)
        .where(col(Submission.tenant_id) == tenant_id, col(Submission.id) == case_id)
        .with_for_update()
    ).first()
    if case is None:
        raise NotFound("submission")
    return case


def _audit_expired(tenant_id: uuid.UUID, expired: list[tuple[uuid.UUID, uuid.UUID, int]]) -> None:
    for quote_id, case_id, version in expired:
        audit.record(
            None,
            "quote.expired",
            tenant_id=tenant_id,
            target_type="submission",
            target_id=case_id,
            details={"quote": str(quote_id), "version": version},
        )


def _read_versions(tenant_id: uuid.UUID, case_id: uuid.UUID) -> None:
    """Apply expiry to a case's versions before anyone reads them."""
    with tenant_session(tenant_id) as session:
        expired = expire_in_session(session, _versions(session, case_id), clock.now())
        facts = [(q.id, q.submission_id, q.version) for q in expired]
        session.commit()
    _audit_expired(tenant_id, facts)


def expire_sweep() -> int:
    """The worker's pass: every active clinic's open quotes past their date become expired."""
    with platform_session() as session:
        tenants = session.exec(select(Tenant.id).where(col(Tenant.active).is_(True))).all()
    count = 0
    now = clock.now()
    for tenant_id in tenants:
        with tenant_session(tenant_id) as session:
            due = list(
                session.exec(
                    select(Quote).where(
                        col(Quote.status).in_([s.value for s in OPEN_QUOTE_STATUSES]),
                        col(Quote.valid_until) < now,
                    )
                ).all()
            )
            expired = expire_in_session(session, due, now)
            facts = [(q.id, q.submission_id, q.version) for q in expired]
            session.commit()
        _audit_expired(tenant_id, facts)
        count += len(facts)
    return count


# ---------------------------------------------------------------------------------------------
# The builder


@dataclass(frozen=True)
class DraftResult:
    """A draft after a save: its form as stored, field errors and the live amounts."""

    quote_id: str
    version: int
    form: dict[str, Any]
    errors: dict[str, str]
    # line index → formatted net; and the quote's amounts (formatted); empty when not valid.
    line_amounts: list[str]
    amounts: dict[str, str]
    saved_at: str


@dataclass(frozen=True)
class BuilderView:
    case_id: str
    reference: str
    case_status: str
    clinic_name: str
    currency: str
    locale: str
    draft: DraftResult | None  # the version being edited, if any
    latest: QuoteDocument | None  # the latest non-draft version, read-only
    versions: list[QuoteSummary]
    may_send: bool
    may_edit: bool
    may_revise: bool
    sms_possible: bool
    taxes: list[dict[str, str]]


def _clinic(session: ScopedSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("clinic")
    return tenant


def lookups(session: ScopedSession) -> quote_forms.Lookups:
    """The clinic's active tax classes, items and packages (the session is the clinic's)."""
    taxes = {
        str(t.id): quote_forms.TaxChoice(id=str(t.id), name=t.name, rate=t.rate)
        for t in session.exec(select(TaxClass).where(col(TaxClass.active).is_(True))).all()
    }
    items = {
        str(i.id): quote_forms.CatalogChoice(
            id=str(i.id),
            name=i.name,
            unit_label=i.unit_label,
            price=i.unit_price,
            tax_class=str(i.tax_class_id) if i.tax_class_id else "",
        )
        for i in session.exec(
            select(TreatmentItem).where(col(TreatmentItem.active).is_(True))
        ).all()
    }
    packages = {
        str(p.id): quote_forms.CatalogChoice(
            id=str(p.id),
            name=p.name,
            unit_label="package",
            price=p.price,
            tax_class=str(p.tax_class_id) if p.tax_class_id else "",
        )
        for p in session.exec(
            select(TreatmentPackage).where(col(TreatmentPackage.active).is_(True))
        ).all()
    }
    return quote_forms.Lookups(taxes=taxes, items=items, packages=packages)


def catalog_choices(actor: Actor) -> list[dict[str, str]]:
    """The clinic's active items and packages a line may come from, for the builder's picker.

    ``key`` is ``item:<id>`` or ``package:<id>``; ``price`` is as staff would type it, ``label``
    shows it formatted in the clinic's currency.
    """
    check(actor, Permission.QUOTES_EDIT)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        tenant = _clinic(session, tenant_id)
        found = lookups(session)
        contents: dict[str, list[str]] = {}
        for package_id, quantity, name in session.exec(
            select(PackageItem.package_id, PackageItem.quantity, TreatmentItem.name)
            .join(TreatmentItem, col(TreatmentItem.id) == PackageItem.treatment_item_id)
            .where(col(TreatmentItem.tenant_id) == tenant_id)
            .order_by(col(PackageItem.position))
        ).all():
            contents.setdefault(str(package_id), []).append(f"{quantity} × {name}")
        starting = {
            str(i)
            for i in session.exec(
                select(TreatmentItem.id).where(col(TreatmentItem.price_from).is_(True))
            ).all()
        }
    digits = quote_math.minor_digits(tenant.currency)

    def row(kind: str, choice: quote_forms.CatalogChoice) -> dict[str, str]:
        price = quote_math.to_minor(choice.price, digits)
        shown = quote_math.format_money(price, tenant.currency, tenant.locale)
        inside = contents.get(choice.id, []) if kind == "package" else []
        # A package line says what it holds, so the patient's quote and PDF show it too.
        description = f"{choice.name} ({', '.join(inside)})" if inside else choice.name
        return {
            "key": f"{kind}:{choice.id}",
            "kind": kind,
            "id": choice.id,
            "name": choice.name,
            "description": description[: quote_forms.MAX_DESCRIPTION],
            "price_from": "yes" if kind == "item" and choice.id in starting else "",
            "unit_label": choice.unit_label,
            "price": f"{price:.{digits}f}",
            "tax_class": choice.tax_class,
            "label": f"{choice.name} · {shown}" + ("" if kind == "item" else " (package)"),
        }

    rows = [row("item", c) for c in found.items.values()]
    rows += [row("package", c) for c in found.packages.values()]
    return sorted(rows, key=lambda r: (r["kind"] != "item", r["name"].lower()))


def _today() -> date:
    return clock.now().astimezone(UTC).date()


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _evaluate(
    session: ScopedSession, quote: Quote, form: dict[str, Any]
) -> tuple[quote_forms.Parsed, quote_math.Totals | None]:
    parsed = quote_forms.parse(form, lookups(session), currency=quote.currency, today=_today())
    if parsed.errors:
        return parsed, None
    return parsed, quote_forms.totals(parsed, quote.currency)


def _write(
    session: ScopedSession, quote: Quote, parsed: quote_forms.Parsed, totals: quote_math.Totals
) -> None:
    """Replace the version's lines and amounts with the parsed form's."""
    for old in _lines(session, quote):
        session.delete(old)
    session.flush()
    for position, (line, amounts) in enumerate(zip(parsed.lines, totals.lines, strict=True)):
        session.add(
            QuoteLine(
                tenant_id=quote.tenant_id,
                quote_id=quote.id,
                treatment_item_id=line.item_id,
                package_id=line.package_id,
                position=position,
                description=line.description,
                unit_label=line.unit_label,
                quantity=line.math.quantity,
                unit_price=line.math.unit_price,
                discount_kind=line.math.discount_kind,
                discount_value=line.math.discount_value,
                tax_name=line.tax_name,
                tax_rate=line.math.tax_rate,
                gross=amounts.gross,
                line_discount=amounts.discount,
                net=amounts.net,
                tax=amounts.tax,
                line_total=amounts.total,
            )
        )
    quote.discount_kind, quote.discount_value = parsed.discount_kind, parsed.discount_value
    quote.deposit_kind, quote.deposit_value = parsed.deposit_kind, parsed.deposit_value
    quote.subtotal, quote.discount_total = totals.subtotal, totals.discount
    quote.tax_total, quote.total, quote.deposit = totals.tax, totals.total, totals.deposit
    quote.valid_until = _end_of(parsed.valid_until) if parsed.valid_until else None
    quote.message_to_patient, quote.terms = parsed.message, parsed.terms


def _result(
    quote: Quote, parsed: quote_forms.Parsed, totals: quote_math.Totals | None
) -> DraftResult:
    amounts: dict[str, str] = {}
    line_amounts: list[str] = []
    if totals is not None:
        amounts = {
            "subtotal": _money(quote, totals.subtotal),
            "discount": _money(quote, totals.discount) if totals.discount else "",
            "tax": _money(quote, totals.tax),
            "total": _money(quote, totals.total),
            "deposit": _money(quote, totals.deposit) if totals.deposit else "",
        }
        line_amounts = [_money(quote, line.net) for line in totals.lines]
    return DraftResult(
        quote_id=str(quote.id),
        version=quote.version,
        form=quote.form,
        errors=dict(parsed.errors),
        line_amounts=line_amounts,
        amounts=amounts,
        saved_at=(quote.updated_at or quote.created_at).strftime("%H:%M:%S"),
    )


def _case_for(actor: Actor, session: ScopedSession, case_id: object) -> Submission:
    return case_in_clinic(session, actor, case_id)


def builder(actor: Actor, case_id: object) -> BuilderView:
    """Everything the quote page shows for a case (audited as a look at the case's quotes)."""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        found = _case_for(actor, session, case_id).id
    _read_versions(tenant_id, found)
    with tenant_session(tenant_id) as session:
        case = _case_for(actor, session, case_id)
        tenant = _clinic(session, tenant_id)
        versions = _versions(session, case.id)
        draft_row = next((q for q in versions if q.status == QuoteStatus.DRAFT.value), None)
        sent = [q for q in versions if q.status != QuoteStatus.DRAFT.value]
        draft = None
        if draft_row is not None:
            parsed, totals = _evaluate(session, draft_row, draft_row.form)
            draft = _result(draft_row, parsed, totals)
        latest = _document(session, sent[-1], tenant.name) if sent else None
        patient = session.get(Patient, (tenant_id, case.patient_id))
        sms_possible = bool(
            patient
            and patient.phone
            and consent.current(session, patient.id, ConsentKind.SMS_OPT_IN)
        )
        taxes = [
            {"id": t.id, "label": f"{t.name} {quote_math.format_rate(t.rate)}"}
            for t in lookups(session).taxes.values()
        ]
        accepted = any(q.status == QuoteStatus.ACCEPTED.value for q in versions)
        view = BuilderView(
            case_id=str(case.id),
            reference=reference(case.id),
            case_status=case.status,
            clinic_name=tenant.name,
            currency=tenant.currency,
            locale=tenant.locale,
            draft=draft,
            latest=latest,
            versions=[_summary(q) for q in reversed(versions)],
            may_send=has_permission(actor, Permission.QUOTES_SEND),
            may_edit=has_permission(actor, Permission.QUOTES_EDIT)
            and case.status not in CLOSED_EDITING
            and not accepted,
            may_revise=bool(sent) and draft_row is None and not accepted,
            sms_possible=sms_possible,
            taxes=taxes,
        )
    audit.record(actor, "quote.viewed_by_staff", target_type="submission", target_id=view.case_id)
    return view


def _editable_case(case: Submission, versions: list[Quote]) -> None:
    if case.status in CLOSED_EDITING:
        raise QuoteProblem("This case is closed; reopen it before quoting.")
    if any(q.status == QuoteStatus.ACCEPTED.value for q in versions):
        raise QuoteProblem("The patient accepted a quote on this case; it can no longer change.")


def start(actor: Actor, case_id: object) -> str:
    """A new draft: version 1, or the next version copying the latest sent form."""
    check(actor, Permission.QUOTES_EDIT)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        case = lock_case(session, tenant_id, _case_for(actor, session, case_id).id)
        versions = _versions(session, case.id)
        _editable_case(case, versions)
        existing = next((q for q in versions if q.status == QuoteStatus.DRAFT.value), None)
        if existing is not None:
            return str(existing.id)
        tenant = _clinic(session, tenant_id)
        if versions:
            form = dict(versions[-1].form)
            form["valid_until"] = (_today() + timedelta(days=tenant.quote_valid_days)).isoformat()
            if versions[-1].currency != tenant.currency:
                form = _without_amounts(form)  # typed in another currency: to be typed again
        else:
            form = quote_forms.blank_form(
                valid_until=_today() + timedelta(days=tenant.quote_valid_days),
                terms=tenant.quote_terms,
            )
        now = clock.now()
        quote = Quote(
            tenant_id=tenant_id,
            submission_id=case.id,
            version=(versions[-1].version + 1) if versions else 1,
            currency=tenant.currency,
            locale=tenant.locale,
            form=form,
            created_by_id=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(quote)
        parsed, totals = _evaluate(session, quote, form)
        if totals is not None:
            _write(session, quote, parsed, totals)
        case.last_activity_at = now
        session.add(case)
        try:
            session.commit()
        except IntegrityError:  # another draft of the same version, started a moment before
            raise QuoteProblem("Someone started this quote at the same moment; reload.") from None
        quote_id, version, case_id = quote.id, quote.version, case.id
    audit.record(
        actor,
        "quote.drafted",
        target_type="submission",
        target_id=case_id,
        details={"quote": str(quote_id), "version": version},
    )
    return str(quote_id)


def _without_amounts(form: dict[str, Any]) -> dict[str, Any]:
    """The form with every typed amount cleared (percentages and quantities stay)."""
    cleared = dict(form)
    cleared["lines"] = [
        {
            **line,
            "unit_price": "",
            "discount_value": ""
            if line.get("discount_kind") == "amount"
            else line.get("discount_value", ""),
        }
        for line in form.get("lines", [])
    ]
    for kind in ("discount", "deposit"):
        if cleared.get(f"{kind}_kind") == "amount":
            cleared[f"{kind}_value"] = ""
    return cleared


def _quote_in_clinic(
    session: ScopedSession, actor: Actor, quote_id: object, *, lock: bool = False
) -> Quote:
    """One of the clinic's quote versions; ``lock`` holds it until commit (two people sending
    or a patient answering at once: the second waits and sees the first one's result)."""
    key = parse_id(quote_id, "quote")
    query = select(Quote).where(Quote.id == key)
    quote = session.exec(query.with_for_update() if lock else query).first()
    if quote is None or quote.tenant_id != actor.require_tenant():
        raise NotFound("quote")
    return quote


def save_draft(actor: Actor, quote_id: object, form: object) -> DraftResult:
    """Store the form as typed; when it is valid, its lines and amounts too."""
    check(actor, Permission.QUOTES_EDIT)
    tenant_id = actor.require_tenant()
    clean = quote_forms.normal_form(form)
    with tenant_session(tenant_id) as session:
        quote = _quote_in_clinic(session, actor, quote_id, lock=True)
        if quote.status != QuoteStatus.DRAFT.value:
            raise QuoteProblem("This version was sent; revise it to make changes.")
        tenant = _clinic(session, tenant_id)
        # A draft is in the clinic's money as it is now (the catalog offers prices in it too).
        quote.currency, quote.locale = tenant.currency, tenant.locale
        quote.form = clean
        quote.updated_at = clock.now()
        parsed, totals = _evaluate(session, quote, clean)
        if totals is not None:
            _write(session, quote, parsed, totals)
        session.add(quote)
        session.commit()
        result = _result(quote, parsed, totals)
    # Saves happen as staff type: the draft's creation and its sending are the audited steps.
    return result


def discard(actor: Actor, quote_id: object) -> None:
    """Delete a draft version (a sent version is withdrawn instead, never deleted)."""
    check(actor, Permission.QUOTES_EDIT)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        quote = _quote_in_clinic(session, actor, quote_id)
        if quote.status != QuoteStatus.DRAFT.value:
            raise QuoteProblem("Only a draft can be discarded.")
        case_id, version = quote.submission_id, quote.version
        session.delete(quote)
        session.commit()
    audit.record(
        actor,
        "quote.discarded",
        target_type="submission",
        target_id=case_id,
        details={"quote": str(quote_id), "version": version},
    )


# ---------------------------------------------------------------------------------------------
# Content, links and case status


def _m(value: Decimal) -> str:
    return f"{Decimal(value):.2f}"  # as stored (Money keeps two decimals)


def _r(value: Decimal) -> str:
    return f"{Decimal(value):.4f}"  # as stored (Rate keeps four)


def canonical_content(session: ScopedSession, quote: Quote) -> bytes:
    """The exact content a patient is shown and accepts, as canonical JSON (sorted keys, every
    amount written as stored), so the same version always gives the same bytes."""
    lines = [
        {
            "description": line.description,
            "unit_label": line.unit_label,
            "quantity": line.quantity,
            "unit_price": _m(line.unit_price),
            "discount_kind": line.discount_kind,
            "discount_value": _m(line.discount_value),
            "discount": _m(line.line_discount),
            "tax_name": line.tax_name,
            "tax_rate": _r(line.tax_rate),
            "net": _m(line.net),
            "tax": _m(line.tax),
        }
        for line in _lines(session, quote)
    ]
    until = (
        quote.valid_until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if quote.valid_until
        else None
    )
    content = {
        "clinic": str(quote.tenant_id),
        "case": str(quote.submission_id),
        "quote": str(quote.id),
        "version": quote.version,
        "currency": quote.currency,
        "lines": lines,
        "discount_kind": quote.discount_kind,
        "discount_value": _m(quote.discount_value),
        "subtotal": _m(quote.subtotal),
        "discount": _m(quote.discount_total),
        "tax": _m(quote.tax_total),
        "total": _m(quote.total),
        "deposit": _m(quote.deposit),
        "valid_until": until,
        "message": quote.message_to_patient,
        "terms": quote.terms,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(session: ScopedSession, quote: Quote) -> str:
    return hashlib.sha256(canonical_content(session, quote)).hexdigest()


def link_token(tenant_id: uuid.UUID, quote_id: uuid.UUID) -> str:
    return signed_links.sign(
        LINK_PURPOSE,
        subject=LINK_SUBJECT,
        lifetime=LINK_DAYS * 86_400,
        claims={"t": str(tenant_id), "q": str(quote_id)},
    )


def patient_link(tenant_id: uuid.UUID, quote_id: uuid.UUID) -> str:
    """The patient's signed, expiring link to one version (no account needed)."""
    return f"{get_settings().frontend_origin.rstrip('/')}/q/{link_token(tenant_id, quote_id)}"


def open_link(token: object) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(clinic, quote version) of a genuine, unexpired quote token, or None."""
    if not isinstance(token, str) or not token or len(token) > signed_links.MAX_TOKEN_LENGTH:
        return None
    claims = signed_links.verify(LINK_PURPOSE, token, subject=LINK_SUBJECT)
    if claims is None:
        return None
    try:
        return uuid.UUID(claims["t"]), uuid.UUID(claims["q"])
    except (KeyError, ValueError):
        return None


def current_link(session: ScopedSession, case: Submission) -> tuple[str, str] | None:
    """(link, what staff see) for the case's open quote, for ``{{ quote.link }}`` in messages."""
    open_quote = session.exec(
        select(Quote)
        .where(
            Quote.submission_id == case.id,
            col(Quote.status).in_([s.value for s in OPEN_QUOTE_STATUSES]),
        )
        .order_by(col(Quote.version).desc())
    ).first()
    if open_quote is None:
        return None
    return patient_link(case.tenant_id, open_quote.id), LINK_SHOWN


def follow_case(session: ScopedSession, case: Submission, to: str) -> list[tuple[str, str]]:
    """Move the case toward ``to`` through the transition table (a new case passes through
    review on its way to quoted); returns the moves made, for the audit log. Caller commits."""
    moves: list[tuple[str, str]] = []
    if case.status == to:
        return moves
    now = clock.now()
    if case.status == SubmissionStatus.NEW.value and to == SubmissionStatus.QUOTED.value:
        moves.append((case.status, SubmissionStatus.IN_REVIEW.value))
        set_status(case, SubmissionStatus.IN_REVIEW.value, now)
    if to in allowed_moves(case.status):
        moves.append((case.status, to))
        set_status(case, to, now)
    case.last_activity_at = now
    session.add(case)
    return moves


def audit_moves(
    actor: Actor | None, tenant_id: uuid.UUID, case_id: uuid.UUID, moves: list[tuple[str, str]]
) -> None:
    for before, after in moves:
        audit.record(
            actor,
            "case.status_changed",
            tenant_id=tenant_id,
            target_type="submission",
            target_id=case_id,
            details={"from": before, "to": after, "by": "quote"},
        )


def has_open_quote(session: ScopedSession, case_id: uuid.UUID) -> bool:
    count = session.exec(
        select(func.count())
        .select_from(Quote)
        .where(
            Quote.submission_id == case_id,
            col(Quote.status).in_([s.value for s in OPEN_QUOTE_STATUSES]),
        )
    ).one()
    return bool(count)


# ---------------------------------------------------------------------------------------------
# Sending and withdrawing


def send(actor: Actor, quote_id: object, *, sms: bool = True) -> None:
    """Send a draft: email (and a text where the patient opted in) with the patient's link.

    In one transaction: the version becomes ``sent`` with its content digest, earlier open
    versions become ``superseded``, the case moves to ``quoted``, and the messages are written
    to the conversation and queued in the outbox.
    """
    check(actor, Permission.QUOTES_SEND)
    tenant_id = actor.require_tenant()
    from mi_portal.services import messaging  # messaging reads quote links from this module

    with tenant_session(tenant_id) as session:
        case = lock_case(
            session, tenant_id, _quote_in_clinic(session, actor, quote_id).submission_id
        )
        quote = _quote_in_clinic(session, actor, quote_id, lock=True)
        session.refresh(quote)  # as it is now that the case is ours
        if quote.status != QuoteStatus.DRAFT.value:
            raise QuoteProblem("This version was already sent.")
        versions = _versions(session, case.id)
        for older in versions:
            session.refresh(older)
        _editable_case(case, versions)
        parsed, totals = _evaluate(session, quote, quote.form)
        if totals is None:
            raise QuoteProblem("Correct the marked fields before sending.")
        if not parsed.lines:
            raise QuoteProblem("Add at least one line before sending.")
        _write(session, quote, parsed, totals)
        now = clock.now()
        superseded = []
        for older in versions:
            if older.id != quote.id and older.status in OPEN_QUOTE_STATUSES:
                older.status = QuoteStatus.SUPERSEDED.value
                older.closed_at = now
                session.add(older)
                superseded.append(older.version)
        quote.status = QuoteStatus.SENT.value
        quote.sent_at, quote.sent_by_id, quote.updated_at = now, actor.user_id, now
        session.add(quote)
        session.flush()
        quote.content_sha256 = content_hash(session, quote)
        if case.quote_sent_at is None:
            case.quote_sent_at = now  # the turnaround the SLA badge measures
        moves = follow_case(session, case, SubmissionStatus.QUOTED.value)
        link = (patient_link(tenant_id, quote.id), LINK_SHOWN)
        channels = [MessageChannel.EMAIL.value]
        patient = session.get(Patient, (tenant_id, case.patient_id))
        if (
            sms
            and patient is not None
            and patient.phone
            and consent.current(session, patient.id, ConsentKind.SMS_OPT_IN)
        ):
            channels.append(MessageChannel.SMS.value)
        for channel in list(channels):
            try:
                messaging.queue_in_session(
                    session, actor, case,
                    channel=channel,
                    subject=EMAIL_SUBJECT if channel == MessageChannel.EMAIL.value else "",
                    body=EMAIL_BODY if channel == MessageChannel.EMAIL.value else SMS_BODY,
                    links={"quote.link": link},
                )  # fmt: skip
            except ValueError as exc:
                if channel == MessageChannel.EMAIL.value:
                    raise QuoteProblem(f"The quote email cannot be sent: {exc}") from None
                channels.remove(channel)  # the text is a courtesy; the email carries the quote
        session.add(quote)
        session.commit()
        facts = {
            "quote": str(quote.id),
            "version": quote.version,
            "total": str(quote.total),
            "currency": quote.currency,
            "channels": channels,
            "superseded": superseded,
            "sha256": quote.content_sha256,
        }
        case_id = case.id
    audit.record(actor, "quote.sent", target_type="submission", target_id=case_id, details=facts)
    audit_moves(actor, tenant_id, case_id, moves)


def withdraw(actor: Actor, quote_id: object) -> None:
    """Withdraw a sent version: the patient's link then says so; the case returns to review
    when no other quote is open."""
    check(actor, Permission.QUOTES_SEND)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        case = lock_case(
            session, tenant_id, _quote_in_clinic(session, actor, quote_id).submission_id
        )
        quote = _quote_in_clinic(session, actor, quote_id, lock=True)
        session.refresh(quote)
        if quote.status not in OPEN_QUOTE_STATUSES:
            raise QuoteProblem("Only a quote the patient has not answered can be withdrawn.")
        quote.status = QuoteStatus.WITHDRAWN.value
        quote.closed_at = quote.updated_at = clock.now()
        session.add(quote)
        session.flush()
        moves: list[tuple[str, str]] = []
        if case.status == SubmissionStatus.QUOTED.value and not has_open_quote(session, case.id):
            moves = follow_case(session, case, SubmissionStatus.IN_REVIEW.value)
        session.commit()
        case_id, version = case.id, quote.version
    audit.record(
        actor,
        "quote.withdrawn",
        target_type="submission",
        target_id=case_id,
        details={"quote": str(quote_id), "version": version},
    )
    audit_moves(actor, tenant_id, case_id, moves)


def document(actor: Actor, quote_id: object) -> QuoteDocument:
    """One version for staff (any version, superseded ones included)."""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        quote = _quote_in_clinic(session, actor, quote_id)
        case_id = quote.submission_id
    _read_versions(tenant_id, case_id)
    with tenant_session(tenant_id) as session:
        quote = _quote_in_clinic(session, actor, quote_id)
        doc = _document(session, quote, _clinic(session, tenant_id).name)
    return doc


@dataclass(frozen=True)
class CaseQuote:
    """The case page's line about its quote."""

    status: str
    status_label: str
    version: int
    total: str


def for_case(session: ScopedSession, case_id: uuid.UUID) -> CaseQuote | None:
    """The case's latest version (drafts included), in the caller's clinic session."""
    quote = session.exec(
        select(Quote).where(Quote.submission_id == case_id).order_by(col(Quote.version).desc())
    ).first()
    if quote is None:
        return None
    status = quote.status
    if (
        status in OPEN_QUOTE_STATUSES
        and quote.valid_until is not None
        and quote.valid_until < clock.now()
    ):
        status = QuoteStatus.EXPIRED.value  # as the next read will record it
    return CaseQuote(
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        version=quote.version,
        total=_money(quote, quote.total),
    )
