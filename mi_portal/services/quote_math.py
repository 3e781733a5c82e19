"""Quote totals: the one function that turns a quote's inputs into every amount it shows.

The rules, in order (all arithmetic is ``Decimal``; nothing passes through a float):

1. A line's *gross* is quantity × unit price.
2. Its *line discount* is an amount (at most the gross) or a percentage (at most 100 %) of the
   gross. Its *net* is gross − line discount, so a line is never negative.
3. The *subtotal* is the sum of the lines' nets.
4. The *quote discount* is an amount (at most the subtotal) or a percentage of the subtotal. It
   is shared out over the lines in proportion to their nets (largest remainder, in minor units,
   so the shares add up to the discount exactly); tax is charged on what the patient pays.
5. A line's *tax* is (net − its share of the quote discount) × its tax rate. Prices are quoted
   before tax.
6. The *total* is subtotal − quote discount + the sum of the lines' taxes. Each line's
   ``total`` (net − share + tax) is its contribution, so the lines' totals add up to the total
   exactly.
7. The *deposit* is an amount (at most the total) or a percentage (at most 100 %) of the total.

**Rounding happens at one point, ``to_minor``**: half-up to the currency's minor unit, applied to
each amount the moment it is computed from exact inputs (a line's gross and discount, the quote
discount, each line's tax, the deposit). Sums of rounded amounts are exact and never rounded
again, so every figure shown is the sum of the figures shown above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from babel.numbers import format_currency, get_currency_precision

ZERO = Decimal("0")
HUNDRED = Decimal("100")
MAX_QUANTITY = 999
MAX_UNIT_PRICE = Decimal("9999999.99")
MAX_RATE = HUNDRED


@dataclass(frozen=True)
class LineInput:
    quantity: int
    unit_price: Decimal
    discount_kind: str = ""  # "", "amount" or "percent"
    discount_value: Decimal = ZERO
    tax_rate: Decimal = ZERO  # percent


@dataclass(frozen=True)
class LineAmounts:
    gross: Decimal
    discount: Decimal
    net: Decimal
    quote_discount_share: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineAmounts, ...]
    subtotal: Decimal
    discount: Decimal  # the quote-level discount
    tax: Decimal
    total: Decimal
    deposit: Decimal


def minor_digits(currency: str) -> int:
    """Digits after the decimal point in ``currency`` (2 for USD and EUR, 0 for JPY)."""
    return int(get_currency_precision(currency))


def to_minor(amount: Decimal, digits: int) -> Decimal:
    """The one rounding rule: half-up to the currency's minor unit."""
    return amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def _adjustment(base: Decimal, kind: str, value: Decimal, digits: int) -> Decimal:
    """An amount off (or a part of) ``base``: never negative and never more than ``base``."""
    value = max(value, ZERO)
    if kind == "amount":
        return min(to_minor(value, digits), base)
    if kind == "percent":
        return min(to_minor(base * min(value, HUNDRED) / HUNDRED, digits), base)
    return ZERO


def _shares(total: Decimal, weights: Sequence[Decimal], digits: int) -> list[Decimal]:
    """``total`` split in proportion to ``weights``, in whole minor units adding up exactly."""
    weight_sum = sum(weights, ZERO)
    if total == ZERO or weight_sum == ZERO:
        return [ZERO for _ in weights]
    unit = Decimal(1).scaleb(-digits)
    exact = [total * w / weight_sum for w in weights]
    floors = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    left = int(((total - sum(floors, ZERO)) / unit).to_integral_value())
    # Largest remainders first; ties go to the earlier line, so the split is deterministic.
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += unit
    return floors


def compute(
    lines: Sequence[LineInput],
    *,
    currency: str,
    discount_kind: str = "",
    discount_value: Decimal = ZERO,
    deposit_kind: str = "",
    deposit_value: Decimal = ZERO,
) -> Totals:
    """Every amount of a quote from its inputs (the rules are in the module's docstring)."""
    digits = minor_digits(currency)
    grosses = [to_minor(Decimal(line.quantity) * line.unit_price, digits) for line in lines]
    line_discounts = [
        _adjustment(gross, line.discount_kind, line.discount_value, digits)
        for gross, line in zip(grosses, lines, strict=True)
    ]
    nets = [g - d for g, d in zip(grosses, line_discounts, strict=True)]
    subtotal = sum(nets, ZERO)
    discount = _adjustment(subtotal, discount_kind, discount_value, digits)
    shares = _shares(discount, nets, digits)
    amounts: list[LineAmounts] = []
    for line, gross, line_discount, net, share in zip(
        lines, grosses, line_discounts, nets, shares, strict=True
    ):
        rate = min(max(line.tax_rate, ZERO), MAX_RATE)
        tax = to_minor((net - share) * rate / HUNDRED, digits)
        amounts.append(
            LineAmounts(
                gross=gross,
                discount=line_discount,
                net=net,
                quote_discount_share=share,
                tax=tax,
                total=net - share + tax,
            )
        )
    tax_total = sum((a.tax for a in amounts), ZERO)
    total = subtotal - discount + tax_total
    deposit = _adjustment(total, deposit_kind, deposit_value, digits)
    return Totals(
        lines=tuple(amounts),
        subtotal=subtotal,
        discount=discount,
        tax=tax_total,
        total=total,
        deposit=deposit,
    )


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """``amount`` as the clinic's patients read money (babel, the clinic's locale)."""
    return str(format_currency(amount, currency, locale=locale))


def format_rate(rate: Decimal) -> str:
    """A tax rate or percentage without trailing zeros: 20 %, 7.5 %."""
    text = format(rate.normalize(), "f")
    return f"{text} %"
