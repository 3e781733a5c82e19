"""The clinic's quote defaults: currency, locale, how long a quote stays valid, standard terms."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import list_currencies
from sqlmodel import select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import Tenant, TreatmentItem, TreatmentPackage
from mi_portal.services import audit
from mi_portal.services.actor import Actor, NotFound
from mi_portal.services.catalog_rules import CatalogProblem, clean_field
from mi_portal.services.permissions import Permission, check
from mi_portal.services.quote_math import minor_digits

MAX_TERMS = 4000


@dataclass(frozen=True)
class QuoteDefaults:
    currency: str
    locale: str
    quote_valid_days: int
    quote_terms: str


@dataclass(frozen=True)
class DefaultsSaved:
    # Items whose prices now read in the new currency (amounts are not converted).
    items_in_new_currency: int
    currency_changed: bool


def parse_currency(value: object) -> str:
    """An ISO 4217 code babel knows, with a minor unit of at most two digits."""
    code = str(value or "").strip().upper()
    if len(code) != 3 or code not in list_currencies():
        raise CatalogProblem("currency", "Choose a currency by its three-letter code, like EUR.")
    if minor_digits(code) > 2:
        raise CatalogProblem(
            "currency", f"{code} uses more than two decimals; it is not supported."
        )
    return code


def parse_locale(value: object) -> str:
    """A locale babel can format money in (en_US, de_DE, fr-CH …), as babel spells it."""
    text = str(value or "").strip()[:32]
    if not text:
        raise CatalogProblem("locale", "Choose a locale, like en_US.")
    try:
        return str(Locale.parse(text.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        raise CatalogProblem("locale", "Choose a known locale, like en_US or de_DE.") from None


def parse_valid_days(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 365:
        raise CatalogProblem("quote_valid_days", "Validity must be a number of days from 1 to 365.")
    return value


def move_catalog_to(session: ScopedSession, new_currency: str, *, check_prices: bool = True) -> int:
    """Price the clinic's catalog in ``new_currency`` (amounts are not converted); refused while
    a price has more decimals than that currency uses. Returns how many items changed."""
    unit = Decimal(1).scaleb(-minor_digits(new_currency))
    items = list(session.exec(select(TreatmentItem)))
    prices = [Decimal(i.unit_price) for i in items] + [
        Decimal(p.price) for p in session.exec(select(TreatmentPackage))
    ]
    odd = sum(1 for price in prices if price != price.quantize(unit)) if check_prices else 0
    if odd:
        raise CatalogProblem(
            "currency",
            f"{odd} prices have more decimals than {new_currency} uses; change them first.",
        )
    moved = 0
    for item in items:
        if item.currency != new_currency:
            item.currency = new_currency
            session.add(item)
            moved += 1
    return moved


def get_defaults(actor: Actor) -> QuoteDefaults:
    """The clinic's quote defaults (read by those who manage the catalog or draft quotes)."""
    check(actor, Permission.QUOTES_EDIT)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("clinic")
        return QuoteDefaults(
            tenant.currency, tenant.locale, tenant.quote_valid_days, tenant.quote_terms
        )


def save_defaults(
    actor: Actor,
    *,
    currency: object,
    locale: object,
    quote_valid_days: object,
    quote_terms: object,
) -> DefaultsSaved:
    """Change the defaults; a new currency applies to every item (amounts stay as typed)."""
    check(actor, Permission.CATALOG_MANAGE)
    new_currency = parse_currency(currency)
    new_locale = parse_locale(locale)
    days = parse_valid_days(quote_valid_days)
    terms = clean_field(quote_terms, "quote_terms", MAX_TERMS, multiline=True)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("clinic")
        before = {
            "currency": tenant.currency,
            "locale": tenant.locale,
            "quote_valid_days": tenant.quote_valid_days,
            "quote_terms": tenant.quote_terms,
        }
        changed = new_currency != tenant.currency
        moved = move_catalog_to(session, new_currency, check_prices=changed)
        tenant.currency, tenant.locale = new_currency, new_locale
        tenant.quote_valid_days, tenant.quote_terms = days, terms
        session.add(tenant)
        session.commit()
    after = {
        "currency": new_currency,
        "locale": new_locale,
        "quote_valid_days": days,
        "quote_terms": terms,
    }
    details: dict[str, Any] = {k: [before[k], v] for k, v in after.items() if before[k] != v}
    if moved:
        details["items_in_new_currency"] = moved
    audit.record(
        actor,
        "catalog.defaults_changed",
        target_type="tenant",
        target_id=tenant_id,
        details=details,
    )
    return DefaultsSaved(items_in_new_currency=moved if changed else 0, currency_changed=changed)
