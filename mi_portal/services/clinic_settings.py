"""/settings/clinic: the clinic's profile, patient-page branding, logo and regional settings.

Owners change them (SETTINGS_MANAGE); managers read them (SETTINGS_VIEW). The clinic is always
the actor's own. Each saved section is one audit event with every changed field as
``{field: [old, new]}``: these are a business's public details, not a person's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import Tenant
from mi_portal.services import (
    audit,
    catalog_defaults,
    clinic_brand,
    clinic_choices,
    rights_deadlines,
    sla_settings,
)
from mi_portal.services.actor import Actor
from mi_portal.services.catalog_rules import CatalogProblem
from mi_portal.services.images import ImageRejected, process_logo
from mi_portal.services.permissions import Permission, check
from mi_portal.services.phones import to_e164
from mi_portal.services.text import clean_email, clean_text
from mi_portal.storage import BlobStore, get_store

MAX_NAME = 200
MAX_ADDRESS = 500
SETTINGS_CHANGED = "clinic.settings_changed"
LOGO_CHANGED = "clinic.logo_changed"
LOGO_REMOVED = "clinic.logo_removed"


class SettingsInvalid(ValueError):
    """Fields that could not be saved, each with a message the owner can act on."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ClinicSettings:
    """What the settings page shows."""

    slug: str
    name: str
    contact_email: str
    contact_phone: str
    address: str
    brand_color: str
    logo_url: str
    timezone: str
    locale: str
    currency: str
    jurisdiction: str

    @property
    def consult_path(self) -> str:
        return f"/c/{self.slug}/consult"

    @property
    def consult_url(self) -> str:
        """The patient form's address as patients reach it (the portal's public origin)."""
        return get_settings().frontend_origin.rstrip("/") + self.consult_path


def _view(tenant: Tenant) -> ClinicSettings:
    return ClinicSettings(
        slug=tenant.slug,
        name=tenant.name,
        contact_email=tenant.contact_email,
        contact_phone=tenant.contact_phone,
        address=tenant.address,
        brand_color=tenant.brand_color,
        logo_url=clinic_brand.logo_url(tenant.slug, tenant.logo_key),
        timezone=tenant.timezone,
        locale=tenant.locale,
        currency=tenant.currency,
        jurisdiction=tenant.jurisdiction,
    )


def _tenant(session: Any, actor: Actor) -> Tenant:
    tenant = session.get(Tenant, actor.require_tenant())
    if tenant is None:
        raise LookupError("the actor's clinic has no row")
    return tenant


def read(actor: Actor) -> ClinicSettings:
    """The actor's clinic's settings."""
    check(actor, Permission.SETTINGS_VIEW)
    with platform_session() as session:
        return _view(_tenant(session, actor))


def _field(errors: dict[str, str], name: str, clean: Callable[[], str]) -> str:
    try:
        return clean()
    except ValueError as exc:  # TextTooLong, InvalidPhone and clean_email's refusal among them
        errors[name] = str(exc)
    return ""


def _required_name(value: object) -> str:
    name = clean_text(value, max_length=MAX_NAME)
    if not name:
        raise ValueError("Enter the clinic's name.")
    return name


def _optional(clean: Callable[[object], str], value: object) -> str:
    return clean(value) if str(value or "").strip() else ""


Extra = Callable[[ScopedSession, Tenant, dict[str, list[Any]]], dict[str, Any]]


def _save(
    actor: Actor, wanted: dict[str, Any], *, extra: Extra | None = None
) -> tuple[ClinicSettings, dict[str, list[Any]]]:
    """Write the fields that differ and audit them together; nothing is audited if none did.

    ``extra`` runs in the same transaction, on the changed row, before the commit (and may
    refuse it); what it returns is added to the audit details.
    """
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        tenant = _tenant(session, actor)
        changes = {
            name: [getattr(tenant, name), value]
            for name, value in wanted.items()
            if getattr(tenant, name) != value
        }
        details: dict[str, Any] = dict(changes)
        for name, (_old, new) in changes.items():
            setattr(tenant, name, new)
        if changes and extra is not None:
            details.update(extra(session, tenant, changes))
        if changes:
            session.add(tenant)
            session.commit()
            session.refresh(tenant)
        view = _view(tenant)
    if changes:
        audit.record(
            actor, SETTINGS_CHANGED, target_type="tenant", target_id=tenant_id, details=details
        )
    return view, changes


def _regional_effects(
    session: ScopedSession, tenant: Tenant, changes: dict[str, list[Any]]
) -> dict[str, Any]:
    """A new currency prices the catalog in it too, as the catalog's own defaults do; a new
    time zone moves the open cases' due times to the clinic's new clock."""
    effects: dict[str, Any] = {}
    if "currency" in changes:
        try:
            moved = catalog_defaults.move_catalog_to(session, changes["currency"][1])
        except CatalogProblem as problem:
            raise SettingsInvalid({"currency": str(problem)}) from None
        if moved:
            effects["items_in_new_currency"] = moved
    if "timezone" in changes:
        session.flush()
        effects["due_times_recalculated"] = sla_settings.recalculate_open_cases(session, tenant)
    return effects


def save_profile(
    actor: Actor, *, name: object, contact_email: object, contact_phone: object, address: object
) -> tuple[ClinicSettings, dict[str, list[Any]]]:
    """The clinic's name and public contact details."""
    check(actor, Permission.SETTINGS_MANAGE)
    with platform_session() as session:
        region = clinic_choices.phone_region(_tenant(session, actor).jurisdiction)
    errors: dict[str, str] = {}
    wanted = {
        "name": _field(errors, "name", lambda: _required_name(name)),
        "contact_email": _field(
            errors, "contact_email", lambda: _optional(clean_email, contact_email)
        ),
        "contact_phone": _field(
            errors,
            "contact_phone",
            lambda: _optional(lambda v: to_e164(v, region=region), contact_phone),
        ),
        "address": _field(
            errors,
            "address",
            lambda: clean_text(address, max_length=MAX_ADDRESS, multiline=True),
        ),
    }
    if errors:
        raise SettingsInvalid(errors)
    return _save(actor, wanted)


def save_branding(actor: Actor, *, brand_color: object) -> tuple[ClinicSettings, dict]:
    """The patient pages' colour ("" = the product's own)."""
    check(actor, Permission.SETTINGS_MANAGE)
    try:
        color = clinic_brand.clean_color(brand_color)
    except clinic_brand.ColorRefused as exc:
        raise SettingsInvalid({"brand_color": str(exc)}) from None
    return _save(actor, {"brand_color": color})


def save_regional(
    actor: Actor, *, timezone: object, locale: object, currency: object, jurisdiction: object
) -> tuple[ClinicSettings, dict]:
    """Time zone, locale and currency for dates and money; the jurisdiction for privacy rules."""
    check(actor, Permission.SETTINGS_MANAGE)
    errors: dict[str, str] = {}
    with platform_session() as session:
        saved = _tenant(session, actor)
        saved_currency, saved_locale = saved.currency, saved.locale
    if not isinstance(timezone, str) or timezone not in clinic_choices.timezones():
        errors["timezone"] = "Choose a time zone from the list."
    # A value saved elsewhere (the catalog's quote defaults) stays acceptable until changed.
    if not isinstance(locale, str) or (
        locale not in clinic_choices.locales() and locale != saved_locale
    ):
        errors["locale"] = "Choose a language and country from the list."
    if not isinstance(currency, str) or (
        currency not in clinic_choices.currencies() and currency != saved_currency
    ):
        errors["currency"] = "Choose a currency from the list."
    if not isinstance(jurisdiction, str) or (
        jurisdiction and not rights_deadlines.is_jurisdiction(jurisdiction)
    ):
        errors["jurisdiction"] = "Choose where the clinic is from the list."
    if errors:
        raise SettingsInvalid(errors)
    return _save(
        actor,
        {
            "timezone": timezone,
            "locale": locale,
            "currency": currency,
            "jurisdiction": jurisdiction,
        },
        extra=_regional_effects,
    )


def set_logo(actor: Actor, data: bytes, *, store: BlobStore | None = None) -> ClinicSettings:
    """Check and re-encode an uploaded logo, store it, then delete the one it replaces."""
    check(actor, Permission.SETTINGS_MANAGE)
    try:
        logo = process_logo(data)
    except ImageRejected as exc:
        raise SettingsInvalid({"logo": exc.reason}) from None
    store = store or get_store()
    tenant_id = actor.require_tenant()
    key = clinic_brand.logo_key(tenant_id)
    store.put(key, logo.data, content_type=logo.content_type)
    try:
        with platform_session() as session:
            tenant = _tenant(session, actor)
            old = tenant.logo_key
            tenant.logo_key = key
            session.add(tenant)
            session.commit()
            session.refresh(tenant)
            view = _view(tenant)
    except Exception:
        store.purge(key)  # nothing points at it: leave no stray object behind
        raise
    if old:
        store.purge(old)
    audit.record(
        actor,
        LOGO_CHANGED,
        target_type="tenant",
        target_id=tenant_id,
        details={"logo": [old, key], "size": [logo.width, logo.height]},
    )
    return view


def remove_logo(actor: Actor, *, store: BlobStore | None = None) -> ClinicSettings:
    """Take the logo off the patient pages and delete it from the store."""
    check(actor, Permission.SETTINGS_MANAGE)
    with platform_session() as session:
        tenant = _tenant(session, actor)
        old = tenant.logo_key
        tenant.logo_key = None
        session.add(tenant)
        session.commit()
        session.refresh(tenant)
        view = _view(tenant)
    if old:
        (store or get_store()).purge(old)
        audit.record(
            actor,
            LOGO_REMOVED,
            target_type="tenant",
            target_id=actor.tenant_id,
            details={"logo": [old, None]},
        )
    return view
