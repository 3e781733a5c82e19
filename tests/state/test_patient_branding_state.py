"""Patient pages load their clinic's branding on the server: its colour and logo on the clinic's
form, its reply page and its quote page; the other clinic's pages and bad links stay plain."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import reflex as rx
from PIL import Image
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.models import Role
from mi_portal.services import clinic_settings, clock
from mi_portal.services.actor import Actor
from mi_portal.state.brand import BrandState
from mi_portal.state.intake import IntakeState
from mi_portal.state.quote_page import QuotePageState
from mi_portal.state.reply import ReplyState
from tests.conftest import Database
from tests.factories import two_clinics
from tests.quote_helpers import catalog, sample_form, sent_quote, staff
from tests.reply_helpers import clinic_writes


async def _load(state_class: type[rx.State], params: dict[str, str]) -> BrandState:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"user-agent": "pytest"}, "ip": "127.0.0.1", "pathname": "/", "query": params}
    )
    state = await root.get_state(state_class)
    for name, value in params.items():
        state.router.page.params[name] = value  # type: ignore[index]
    await state_class.event_handlers["load"].fn(state)
    return await root.get_state(BrandState)


def load(state_class: type[rx.State], **params: str) -> BrandState:
    return asyncio.run(_load(state_class, params))


def test_patient_pages_show_their_own_clinics_branding(db: Database) -> None:
    w = two_clinics()
    owner = Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=w.a)
    clinic_settings.save_branding(owner, brand_color="#1d4ed8")
    out = io.BytesIO()
    Image.new("RGB", (30, 30), (1, 2, 3)).save(out, format="PNG")
    logo = clinic_settings.set_logo(owner, out.getvalue()).logo_url
    due = (clock.now().date() + timedelta(days=30)).isoformat()
    _quote, quote_token = sent_quote(staff(w.a), w.a_submission, sample_form(catalog(w.a), due))
    reply_token = clinic_writes(w.a, w.a_submission, "Hello")
    slug_a = clinic_settings.read(owner).slug

    for brand in (
        load(IntakeState, slug=slug_a),
        load(ReplyState, token=reply_token),
        load(QuotePageState, token=quote_token),
    ):
        assert (brand.color, brand.hover, brand.logo_url) == ("#1d4ed8", "#1a45be", logo)
        assert brand.name == clinic_settings.read(owner).name

    slug_b = clinic_settings.read(Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=w.b)).slug
    plain: dict[str, Any] = {"color": "", "hover": "", "logo_url": ""}
    for brand in (
        load(IntakeState, slug=slug_b),
        load(IntakeState, slug="no-such-clinic"),
        load(ReplyState, token="not-a-token"),
        load(QuotePageState, token="not-a-token"),
    ):
        assert {k: getattr(brand, k) for k in plain} == plain
