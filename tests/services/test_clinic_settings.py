"""The clinic's settings: each field checked on the server, every change audited with its old and
new value, the brand colour held to WCAG contrast, the logo re-encoded and kept under the clinic's
prefix, the other clinic untouched, and only the owner writing."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image, PngImagePlugin
from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import AuditEvent, Role, Submission, Tenant
from mi_portal.services import audit, clinic_brand, clinic_settings, storage_check
from mi_portal.services.actor import Actor, PermissionDenied
from mi_portal.services.clinic_settings import SettingsInvalid
from mi_portal.services.images import LOGO_EDGE, LOGO_MAX_BYTES
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_case, make_tenant

PROFILE = {
    "name": "Lakeside Skin",
    "contact_email": "Front.Desk@Lakeside.test",
    "contact_phone": "+1 (202) 555-0143",
    "address": "1 Main Street\r\nSpringfield\u202e",
}


def _actor(role: Role, tenant_id: uuid.UUID | None) -> Actor:
    return Actor(user_id=None, role=role, tenant_id=tenant_id)


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a", "Clinic A"), make_tenant("clinic-b", "Clinic B")
    return {
        "a": a,
        "b": b,
        "owner": _actor(Role.CLINIC_OWNER, a),
        "manager": _actor(Role.CLINIC_MANAGER, a),
        "owner_b": _actor(Role.CLINIC_OWNER, b),
    }


def _tenant(tenant_id: uuid.UUID) -> Tenant:
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant


def _audits(tenant_id: uuid.UUID, action: str) -> list[dict[str, Any]]:
    with tenant_session(tenant_id) as session:
        events = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.chain == audit.chain_for(tenant_id))
            .order_by(AuditEvent.seq)
        ).all()
        return [e.details for e in events]


def _png(size: tuple[int, int], *, alpha: bool = True, text: str = "") -> bytes:
    image = Image.new("RGBA" if alpha else "RGB", size, (20, 40, 200, 128) if alpha else (9, 9, 9))
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Author", text)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def test_profile_is_cleaned_saved_and_audited_with_old_and_new(world: dict[str, Any]) -> None:
    view, changes = clinic_settings.save_profile(world["owner"], **PROFILE)
    assert (view.name, view.contact_email, view.contact_phone, view.address) == (
        "Lakeside Skin",
        "front.desk@lakeside.test",
        "+12025550143",
        "1 Main Street\nSpringfield",
    )
    assert _audits(world["a"], "clinic.settings_changed") == [
        {
            "name": ["Clinic A", "Lakeside Skin"],
            "contact_email": ["", "front.desk@lakeside.test"],
            "contact_phone": ["", "+12025550143"],
            "address": ["", "1 Main Street\nSpringfield"],
        }
    ]
    # The same values again change nothing and add no audit entry.
    _view, again = clinic_settings.save_profile(world["owner"], **PROFILE)
    assert again == {}
    assert len(_audits(world["a"], "clinic.settings_changed")) == 1
    # Another clinic is untouched, and its log holds nothing of this.
    other = _tenant(world["b"])
    assert (other.name, other.contact_email, other.address) == ("Clinic B", "", "")
    assert _audits(world["b"], "clinic.settings_changed") == []
    assert clinic_settings.read(world["manager"]).name == "Lakeside Skin"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Enter the clinic's name."),
        ("name", "x" * 201, "at most 200"),
        ("contact_email", "not-an-address", "valid email"),
        ("contact_phone", "12", "phone number"),
        ("address", "y" * 501, "at most 500"),
    ],
)
def test_each_profile_field_is_refused_on_its_own(
    world: dict[str, Any], field: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsInvalid) as refused:
        clinic_settings.save_profile(world["owner"], **{**PROFILE, field: value})
    assert list(refused.value.errors) == [field]
    assert message in refused.value.errors[field]
    assert _tenant(world["a"]).name == "Clinic A"  # nothing of a refused section is saved
    assert _audits(world["a"], "clinic.settings_changed") == []


def test_empty_contact_details_are_allowed(world: dict[str, Any]) -> None:
    view, _ = clinic_settings.save_profile(
        world["owner"], name="Clinic A", contact_email="", contact_phone=" ", address=""
    )
    assert (view.contact_email, view.contact_phone) == ("", "")


def test_contrast_is_computed_as_wcag_defines_it() -> None:
    assert clinic_brand.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert clinic_brand.contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    # The grey on each side of the 4.5:1 line.
    assert clinic_brand.contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert clinic_brand.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert clinic_brand.contrast_ratio("#1d4ed8", "#ffffff") == pytest.approx(6.70, abs=0.01)


def test_an_unreadable_colour_is_refused_with_its_ratio(world: dict[str, Any]) -> None:
    with pytest.raises(SettingsInvalid) as refused:
        clinic_settings.save_branding(world["owner"], brand_color="#FFD700")
    message = refused.value.errors["brand_color"]
    assert "#ffd700" in message and "1.40:1" in message and "at least 4.5:1" in message
    # Just under the line reads as under it, never rounded up to 4.5.
    with pytest.raises(SettingsInvalid) as close:
        clinic_settings.save_branding(world["owner"], brand_color="#777777")
    assert "4.47:1" in close.value.errors["brand_color"]
    with pytest.raises(SettingsInvalid) as garbage:
        clinic_settings.save_branding(world["owner"], brand_color="blue; background:url(x)")
    assert "six hexadecimal digits" in garbage.value.errors["brand_color"]
    assert _tenant(world["a"]).brand_color == ""


def test_a_readable_colour_is_saved_normalised_and_reset_to_the_product(
    world: dict[str, Any],
) -> None:
    view, _ = clinic_settings.save_branding(world["owner"], brand_color=" #1D4ED8 ")
    assert view.brand_color == "#1d4ed8"
    clinic_settings.save_branding(world["owner"], brand_color="#767676")
    clinic_settings.save_branding(world["owner"], brand_color="")
    assert _tenant(world["a"]).brand_color == ""
    assert _audits(world["a"], "clinic.settings_changed") == [
        {"brand_color": ["", "#1d4ed8"]},
        {"brand_color": ["#1d4ed8", "#767676"]},
        {"brand_color": ["#767676", ""]},
    ]
    assert clinic_brand.hover_shade("#1d4ed8") == "#1a45be"


def test_regional_settings_are_checked_against_the_lists(world: dict[str, Any]) -> None:
    view, changes = clinic_settings.save_regional(
        world["owner"],
        timezone="Europe/Berlin",
        locale="de_DE",
        currency="EUR",
        jurisdiction="DE",
    )
    assert (view.timezone, view.locale, view.currency, view.jurisdiction) == (
        "Europe/Berlin",
        "de_DE",
        "EUR",
        "DE",
    )
    assert changes == {
        "timezone": ["UTC", "Europe/Berlin"],
        "locale": ["en_US", "de_DE"],
        "currency": ["USD", "EUR"],
        "jurisdiction": ["", "DE"],
    }
    with pytest.raises(SettingsInvalid) as refused:
        clinic_settings.save_regional(
            world["owner"],
            timezone="Mars/Olympus",
            locale="xx_YY",
            currency="KWD",  # three minor digits: quotes round to cents
            jurisdiction="Atlantis",
        )
    assert set(refused.value.errors) == {"timezone", "locale", "currency", "jurisdiction"}
    assert _tenant(world["a"]).timezone == "Europe/Berlin"
    assert _tenant(world["b"]).timezone == "UTC"


def test_a_legacy_zone_alias_is_refused(world: dict[str, Any]) -> None:
    # "GB" is a real IANA link to Europe/London, but not in the one list the picker offers.
    with pytest.raises(SettingsInvalid) as refused:
        clinic_settings.save_regional(
            world["owner"], timezone="GB", locale="en_GB", currency="GBP", jurisdiction="GB"
        )
    assert set(refused.value.errors) == {"timezone"}
    assert _tenant(world["a"]).timezone == "UTC"


def test_a_local_phone_number_is_read_in_the_clinics_country(world: dict[str, Any]) -> None:
    clinic_settings.save_regional(
        world["owner"], timezone="Europe/London", locale="en_GB", currency="GBP", jurisdiction="GB"
    )
    view, _ = clinic_settings.save_profile(
        world["owner"], **{**PROFILE, "contact_phone": "020 7946 0018"}
    )
    assert view.contact_phone == "+442079460018"


def test_a_manager_reads_but_never_writes(world: dict[str, Any]) -> None:
    manager = world["manager"]
    assert clinic_settings.read(manager).slug == "clinic-a"
    for write in (
        lambda: clinic_settings.save_profile(manager, **PROFILE),
        lambda: clinic_settings.save_branding(manager, brand_color="#1d4ed8"),
        lambda: clinic_settings.save_regional(
            manager, timezone="UTC", locale="en_US", currency="USD", jurisdiction=""
        ),
        lambda: clinic_settings.set_logo(manager, _png((10, 10))),
        lambda: clinic_settings.remove_logo(manager),
    ):
        with pytest.raises(PermissionDenied):
            write()
    with pytest.raises(PermissionDenied):
        clinic_settings.read(_actor(Role.COORDINATOR, world["a"]))
    assert _tenant(world["a"]).name == "Clinic A"


def test_the_logo_is_reencoded_bare_and_replacing_it_deletes_the_old_one(
    world: dict[str, Any],
) -> None:
    store = get_store()
    owner = world["owner"]
    view = clinic_settings.set_logo(owner, _png((2000, 1000), text="Jane Doe, designer"))
    first = _tenant(world["a"]).logo_key
    assert first is not None and first.startswith(f"{world['a']}/")
    assert view.logo_url.startswith("/api/clinic/clinic-a/logo?v=")
    stored = store.get(first)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"  # transparency kept
        assert max(image.size) == LOGO_EDGE and image.size == (512, 256)
        assert "Author" not in image.info and not image.getexif()
    assert b"Jane Doe" not in stored
    assert clinic_brand.public_logo("clinic-a") == stored

    clinic_settings.set_logo(owner, _png((64, 64), alpha=False))
    second = _tenant(world["a"]).logo_key
    assert second != first and store.exists(second or "")
    assert store.gone(first)
    # The storage check knows the logo: it is no orphan to remove.
    assert second not in storage_check.check().orphan_objects

    clinic_settings.remove_logo(owner)
    assert _tenant(world["a"]).logo_key is None and store.gone(second or "")
    assert clinic_brand.public_logo("clinic-a") is None
    assert [d["logo"] for d in _audits(world["a"], "clinic.logo_changed")] == [
        [None, first],
        [first, second],
    ]
    assert _audits(world["a"], "clinic.logo_removed") == [{"logo": [second, None]}]
    assert _tenant(world["b"]).logo_key is None


def test_a_logo_that_is_not_an_image_or_too_big_is_refused(world: dict[str, Any]) -> None:
    with pytest.raises(SettingsInvalid) as fake:
        clinic_settings.set_logo(world["owner"], b"<svg onload=alert(1)></svg>")
    assert "not a JPEG, PNG or WebP" in fake.value.errors["logo"]
    with pytest.raises(SettingsInvalid) as big:
        clinic_settings.set_logo(world["owner"], b"\x89PNG" + b"0" * LOGO_MAX_BYTES)
    assert "larger than 2 MB" in big.value.errors["logo"]
    assert _tenant(world["a"]).logo_key is None
    assert list(get_store().keys()) == []


def test_a_suspended_clinic_shows_no_branding(world: dict[str, Any]) -> None:
    clinic_settings.save_branding(world["owner"], brand_color="#1d4ed8")
    clinic_settings.set_logo(world["owner"], _png((20, 20)))
    assert clinic_brand.public_brand("clinic-a").color == "#1d4ed8"
    with platform_session() as session:
        tenant = session.get(Tenant, world["a"])
        assert tenant is not None
        tenant.active, tenant.status = False, "suspended"
        session.add(tenant)
        session.commit()
    assert clinic_brand.public_brand("clinic-a") == clinic_brand.Brand()
    assert clinic_brand.public_logo("clinic-a") is None
    assert clinic_brand.public_brand("no-such-clinic") == clinic_brand.Brand()


def test_a_new_currency_prices_the_catalog_in_it_or_is_refused(world: dict[str, Any]) -> None:
    from decimal import Decimal

    from mi_portal.models import TreatmentItem

    with tenant_session(world["a"]) as session:
        session.add(TreatmentItem(tenant_id=world["a"], name="Peel", unit_price=Decimal("99.50")))
        session.commit()
    regional = {"timezone": "UTC", "locale": "en_US", "jurisdiction": ""}
    with pytest.raises(SettingsInvalid) as refused:
        clinic_settings.save_regional(world["owner"], currency="JPY", **regional)
    assert "more decimals than JPY" in refused.value.errors["currency"]
    assert _tenant(world["a"]).currency == "USD"

    _view, changes = clinic_settings.save_regional(world["owner"], currency="EUR", **regional)
    assert changes == {"currency": ["USD", "EUR"]}
    with tenant_session(world["a"]) as session:
        assert [i.currency for i in session.exec(select(TreatmentItem))] == ["EUR"]
    assert _audits(world["a"], "clinic.settings_changed") == [
        {"currency": ["USD", "EUR"], "items_in_new_currency": 1}
    ]


def _due(tenant_id: uuid.UUID, case_id: uuid.UUID) -> tuple[Any, Any]:
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        return case.first_response_due_at, case.sla_due_at


def test_a_new_time_zone_moves_open_cases_due_times_to_the_new_clock(
    world: dict[str, Any],
) -> None:
    received = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # a Monday, 14:00 UTC
    week = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    cases = {}
    for clinic in ("a", "b"):
        with platform_session() as session:
            tenant = session.get(Tenant, world[clinic])
            assert tenant is not None
            tenant.business_hours = week
            session.add(tenant)
            session.commit()
        _, case_id = make_case(world[clinic])
        with tenant_session(world[clinic]) as session:
            case = session.get(Submission, (world[clinic], case_id))
            assert case is not None
            case.received_at = received
            # In UTC, 3 and 8 business hours from Monday 14:00 end at 17:00 and Tuesday 14:00.
            case.first_response_due_at = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
            case.sla_due_at = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
            session.add(case)
            session.commit()
        cases[clinic] = case_id
    with platform_session() as session:
        for clinic in ("a", "b"):
            tenant = session.get(Tenant, world[clinic])
            assert tenant is not None
            tenant.first_response_hours, tenant.quote_turnaround_hours = 3, 8
            session.add(tenant)
        session.commit()
    before_b = _due(world["b"], cases["b"])

    clinic_settings.save_regional(
        world["owner"],
        timezone="America/New_York",
        locale="en_US",
        currency="USD",
        jurisdiction="",
    )
    # 14:00 UTC is 09:00 in New York (EST): 3 hours end at 12:00 EST, 8 at 17:00 EST.
    assert _due(world["a"], cases["a"]) == (
        datetime(2026, 11, 30, 17, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 22, 0, tzinfo=UTC),
    )
    assert _due(world["b"], cases["b"]) == before_b
    (details,) = _audits(world["a"], "clinic.settings_changed")
    assert details["timezone"] == ["UTC", "America/New_York"]
    assert details["due_times_recalculated"] == 1
