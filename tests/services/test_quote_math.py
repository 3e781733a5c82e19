"""Property tests of the quote totals (hypothesis): the documented rules hold for any input."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import Quote, QuoteLine
from mi_portal.services import clock, quote_math, quotes
from mi_portal.services.quote_math import LineInput, compute, minor_digits, to_minor
from tests.conftest import Database
from tests.factories import two_clinics
from tests.quote_helpers import catalog, staff

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF"]
cents = st.integers(min_value=0, max_value=99_999_999).map(lambda n: Decimal(n).scaleb(-2))
percent = st.integers(min_value=0, max_value=10_000).map(lambda n: Decimal(n).scaleb(-2))
rate = st.sampled_from([Decimal(r) for r in ("0", "5", "7.5", "8.875", "19", "20", "25.5")])
kind = st.sampled_from(["", "amount", "percent"])


@st.composite
def adjustment(draw: st.DrawFn) -> tuple[str, Decimal]:
    k = draw(kind)
    return k, draw(percent if k == "percent" else cents)


@st.composite
def line_input(draw: st.DrawFn) -> LineInput:
    k, value = draw(adjustment())
    return LineInput(
        quantity=draw(st.integers(1, quote_math.MAX_QUANTITY)),
        unit_price=draw(cents),
        discount_kind=k,
        discount_value=value,
        tax_rate=draw(rate),
    )


@st.composite
def quote_input(draw: st.DrawFn) -> dict[str, object]:
    currency = draw(st.sampled_from(CURRENCIES))
    lines = draw(st.lists(line_input(), min_size=0, max_size=8))
    digits = minor_digits(currency)
    # Whole-unit currencies get whole-unit prices, as the form requires.
    lines = [
        LineInput(
            line.quantity,
            to_minor(line.unit_price, digits),
            line.discount_kind,
            to_minor(line.discount_value, digits)
            if line.discount_kind == "amount"
            else line.discount_value,
            line.tax_rate,
        )  # fmt: skip
        for line in lines
    ]
    dk, dv = draw(adjustment())
    pk, pv = draw(adjustment())
    return {
        "lines": lines, "currency": currency, "discount_kind": dk, "discount_value": dv,
        "deposit_kind": pk, "deposit_value": pv,
    }  # fmt: skip


def _run(q: dict[str, object]) -> quote_math.Totals:
    return compute(
        q["lines"],  # type: ignore[arg-type]
        currency=str(q["currency"]),
        discount_kind=str(q["discount_kind"]),
        discount_value=q["discount_value"],  # type: ignore[arg-type]
        deposit_kind=str(q["deposit_kind"]),
        deposit_value=q["deposit_value"],  # type: ignore[arg-type]
    )


@given(quote_input())
@settings(max_examples=400, deadline=None)
def test_discounts_never_make_anything_negative(q: dict[str, object]) -> None:
    t = _run(q)
    assert t.total >= 0 and t.subtotal >= 0 and t.tax >= 0 and t.discount >= 0
    assert t.discount <= t.subtotal
    for line in t.lines:
        assert 0 <= line.discount <= line.gross
        assert line.net >= 0 and line.tax >= 0 and line.total >= 0
        assert 0 <= line.quote_discount_share <= line.net


@given(quote_input())
@settings(max_examples=400, deadline=None)
def test_the_rounded_lines_add_up_to_the_total_as_documented(q: dict[str, object]) -> None:
    t = _run(q)
    assert t.subtotal == sum((line.net for line in t.lines), Decimal(0))
    assert t.tax == sum((line.tax for line in t.lines), Decimal(0))
    assert t.total == t.subtotal - t.discount + t.tax
    assert t.total == sum((line.total for line in t.lines), Decimal(0))
    assert t.discount == sum((line.quote_discount_share for line in t.lines), Decimal(0))


@given(quote_input())
@settings(max_examples=400, deadline=None)
def test_every_amount_is_in_whole_minor_units_and_tax_is_rounded_half_up(
    q: dict[str, object],
) -> None:
    t = _run(q)
    unit = Decimal(1).scaleb(-minor_digits(str(q["currency"])))
    amounts = [t.subtotal, t.discount, t.tax, t.total, t.deposit]
    for line in t.lines:
        amounts += [line.gross, line.discount, line.net, line.tax, line.quote_discount_share]
    assert all(a % unit == 0 for a in amounts)
    for line, given_line in zip(t.lines, q["lines"], strict=True):  # type: ignore[call-overload]
        exact = (line.net - line.quote_discount_share) * given_line.tax_rate / 100
        assert line.tax == exact.quantize(unit, rounding=ROUND_HALF_UP)
        assert abs(line.tax - exact) <= unit / 2


@given(quote_input())
@settings(max_examples=400, deadline=None)
def test_the_deposit_is_never_more_than_the_total(q: dict[str, object]) -> None:
    t = _run(q)
    assert 0 <= t.deposit <= t.total
    if q["deposit_kind"] == "percent" and q["deposit_value"] == Decimal(100):
        assert t.deposit == t.total


def test_a_full_quote_discount_leaves_nothing_to_pay_or_tax() -> None:
    t = compute(
        [LineInput(2, Decimal("50.00"), tax_rate=Decimal("20"))],
        currency="EUR", discount_kind="percent", discount_value=Decimal("100"),
    )  # fmt: skip
    assert (t.subtotal, t.discount, t.tax, t.total) == (
        Decimal("100.00"), Decimal("100.00"), Decimal("0.00"), Decimal("0.00"),
    )  # fmt: skip


def test_half_a_cent_rounds_up() -> None:
    t = compute([LineInput(1, Decimal("0.05"), tax_rate=Decimal("10"))], currency="USD")
    assert t.lines[0].tax == Decimal("0.01")  # 0.005 → 0.01 (half-up, not half-even)
    assert format(to_minor(Decimal("2.5"), 0), "f") == "3"


def test_money_is_shown_in_the_clinics_locale_and_currency() -> None:
    assert quote_math.format_money(Decimal("1234.5"), "EUR", "de_DE") == "1.234,50\xa0€"
    assert quote_math.format_money(Decimal("1234.5"), "USD", "en_US") == "$1,234.50"
    assert quote_math.format_money(Decimal("1234"), "JPY", "ja_JP") == "￥1,234"


@st.composite
def typed_form(draw: st.DrawFn) -> list[dict[str, str]]:
    return [
        {
            "item": "",
            "package": "",
            "description": f"Line {i}",
            "unit_label": "",
            "quantity": str(draw(st.integers(1, 20))),
            "unit_price": str(draw(cents)),
            "discount_kind": (k := draw(kind)),
            "discount_value": str(draw(percent if k == "percent" else cents)) if k else "",
            "tax_class": "",
        }  # fmt: skip
        for i in range(draw(st.integers(1, 5)))
    ]


_WORLDS: dict[int, tuple[Any, Any, Any, Any]] = {}


@given(lines=typed_form(), dk=adjustment(), pk=adjustment())
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_quotes_stored_totals_equal_a_recomputation(
    db: Database,
    lines: list[dict[str, str]],
    dk: tuple[str, Decimal],
    pk: tuple[str, Decimal],
) -> None:
    # Hypothesis runs every example inside one test call (one database): set it up once.
    if id(db) not in _WORLDS:
        w = two_clinics()
        # The entry holds ``db`` itself, so its id cannot be reused by a later test's database.
        _WORLDS[id(db)] = (db, w, catalog(w.a), staff(w.a))
    _db, w, c, actor = _WORLDS[id(db)]
    for line in lines:
        line["tax_class"] = c.vat
    quote_id = quotes.start(actor, w.a_submission)
    form = {
        "lines": lines, "discount_kind": dk[0], "discount_value": str(dk[1]) if dk[0] else "",
        "deposit_kind": pk[0], "deposit_value": str(pk[1]) if pk[0] else "",
        "valid_until": (clock.now().date() + timedelta(days=5)).isoformat(),
        "message": "", "terms": "",
    }  # fmt: skip
    result = quotes.save_draft(actor, quote_id, form)
    assert not result.errors, result.errors
    with tenant_session(w.a) as session:
        quote = session.get(Quote, (w.a, uuid.UUID(quote_id)))
        assert quote is not None
        stored = session.exec(
            select(QuoteLine).where(QuoteLine.quote_id == quote.id).order_by(QuoteLine.position)
        ).all()
        again = compute(
            [
                LineInput(s.quantity, s.unit_price, s.discount_kind, s.discount_value, s.tax_rate)
                for s in stored
            ],  # fmt: skip
            currency=quote.currency,
            discount_kind=quote.discount_kind,
            discount_value=quote.discount_value,
            deposit_kind=quote.deposit_kind,
            deposit_value=quote.deposit_value,
        )
        assert (quote.subtotal, quote.discount_total, quote.tax_total, quote.total) == (
            again.subtotal, again.discount, again.tax, again.total,
        )  # fmt: skip
        assert quote.deposit == again.deposit
        assert [s.line_total for s in stored] == [a.total for a in again.lines]
