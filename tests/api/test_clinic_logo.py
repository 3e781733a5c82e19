"""``GET /api/clinic/<slug>/logo``: an open clinic's logo for anyone, cacheable, rate-limited; the
same plain 404 for an unknown clinic, a clinic without a logo and a suspended one."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from mi_portal.api import clinic_logo
from mi_portal.api.headers import SecurityHeaders
from mi_portal.api.routes import build_api_app
from mi_portal.db import platform_session
from mi_portal.models import Role, Tenant
from mi_portal.services import clinic_settings, ratelimit
from mi_portal.services.actor import Actor
from tests.conftest import Database
from tests.factories import make_tenant


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a", "Clinic A"), make_tenant("clinic-b", "Clinic B")
    out = io.BytesIO()
    Image.new("RGBA", (30, 30), (0, 90, 0, 200)).save(out, format="PNG")
    clinic_settings.set_logo(
        Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=a), out.getvalue()
    )
    return {"a": a, "b": b}


def _get(path: str) -> Any:
    # The app's outermost wrapper too: it is what decides which answers may be cached.
    client = TestClient(SecurityHeaders(build_api_app()), base_url="http://localhost:3000")
    return client.get(path)


def test_an_open_clinics_logo_is_served_as_a_cacheable_png(world: dict[str, Any]) -> None:
    got = _get("/api/clinic/clinic-a/logo?v=anything")
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.headers["cache-control"] == clinic_logo.CACHE
    assert got.headers["x-content-type-options"] == "nosniff"
    with Image.open(io.BytesIO(got.content)) as image:
        assert image.format == "PNG" and image.size == (30, 30)


def test_no_logo_unknown_or_suspended_is_the_same_404(world: dict[str, Any]) -> None:
    for path in ("/api/clinic/clinic-b/logo", "/api/clinic/nobody/logo", "/api/clinic/%00/logo"):
        refused = _get(path)
        assert (refused.status_code, refused.text) == (404, "Not found")
        assert refused.headers["cache-control"] == "no-store"
    with platform_session() as session:
        tenant = session.get(Tenant, world["a"])
        assert tenant is not None
        tenant.active, tenant.status = False, "suspended"
        session.add(tenant)
        session.commit()
    assert _get("/api/clinic/clinic-a/logo").status_code == 404


def test_the_logo_route_is_rate_limited(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        clinic_logo,
        "LOGO_PER_ADDRESS",
        ratelimit.Limit("clinic-logo-test", 2, timedelta(minutes=10)),
    )
    assert [_get("/api/clinic/clinic-a/logo").status_code for _ in range(2)] == [200, 200]
    refused = _get("/api/clinic/clinic-a/logo")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert _get("/api/clinic/nobody/logo").status_code == 429
