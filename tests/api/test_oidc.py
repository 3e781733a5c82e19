"""Single sign-on round trips against a real OpenID Connect provider on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from mi_portal.config import reset_settings
from mi_portal.db import platform_session
from mi_portal.models import AuditEvent
from mi_portal.services import auth
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session
from tests.oidc_provider import Provider, RunningProvider

ORIGIN = "http://testserver"


@pytest.fixture
def idp(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Provider, TestClient]]:
    provider = Provider()
    with RunningProvider(provider) as running:
        for name, scope in (("lakeside", "clinic-a"), ("staff", "platform")):
            prefix = f"MI_OIDC_{name.upper()}_"
            monkeypatch.setenv(prefix + "ISSUER", running.issuer)
            monkeypatch.setenv(prefix + "CLIENT_ID", running.client_id)
            monkeypatch.setenv(prefix + "CLIENT_SECRET", running.client_secret)
            monkeypatch.setenv(prefix + "SCOPE", scope)
            running.redirect_uris.add(f"{ORIGIN}/api/auth/oidc/{name}/callback")
        monkeypatch.setenv("MI_OIDC_PROVIDERS", "lakeside,staff")
        monkeypatch.setenv("MI_FRONTEND_ORIGIN", ORIGIN)
        reset_settings()
        from mi_portal.api import oidc
        from mi_portal.api.routes import build_api_app

        oidc._clients.clear()
        with TestClient(build_api_app(), base_url=ORIGIN, follow_redirects=False) as client:
            yield running, client
        oidc._clients.clear()


def round_trip(client: TestClient, name: str) -> httpx.Response:
    """Browser steps: our login route → provider authorize → our callback."""
    start = client.get(f"/api/auth/oidc/{name}/login")
    assert start.status_code in (302, 303), start.text
    authorize_url = start.headers["location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0] and query["state"][0]
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    return client.get(f"{back.path}?{back.query}")


def _session_user(response: httpx.Response):  # type: ignore[no-untyped-def]
    cookie = response.cookies.get("mi_session")
    return auth.resolve(cookie) if cookie else None


def test_clinic_member_signs_in_with_sso(idp) -> None:  # type: ignore[no-untyped-def]
    provider, client = idp
    a = make_tenant("clinic-a")
    make_user("dana@clinic-a.test", role="provider", tenants=(a,))
    provider.login_email = "dana@clinic-a.test"
    response = round_trip(client, "lakeside")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "httponly" in response.headers["set-cookie"].lower()
    signed = _session_user(response)
    assert signed is not None and signed.email == "dana@clinic-a.test"
    assert signed.actor.tenant_id == a and signed.mfa_passed


def test_without_mfa_at_the_provider_the_portal_asks_for_totp(idp) -> None:  # type: ignore[no-untyped-def]
    provider, client = idp
    a = make_tenant("clinic-a")
    make_user("dana@clinic-a.test", role="provider", tenants=(a,))
    provider.login_email, provider.amr = "dana@clinic-a.test", ["pwd"]
    response = round_trip(client, "lakeside")
    assert response.headers["location"] == "/mfa/enroll"
    signed = _session_user(response)
    assert signed is not None and not signed.mfa_passed


@pytest.mark.parametrize(
    "mode", ["bad_signature", "wrong_nonce", "wrong_audience", "forged_claims"]
)
def test_tampered_id_tokens_are_refused(idp, mode: str) -> None:  # type: ignore[no-untyped-def]
    provider, client = idp
    a = make_tenant("clinic-a")
    make_user("dana@clinic-a.test", role="provider", tenants=(a,))
    make_user("admin@mi-portal.test", platform_role="platform_admin")
    provider.login_email, provider.mode = "dana@clinic-a.test", mode
    response = round_trip(client, "lakeside")
    assert (
        response.status_code == 303 and response.headers["location"] == "/signin?sso_error=invalid"
    )
    assert "mi_session" not in response.cookies
    assert provider.token_requests == 1  # the ID token was fetched, then rejected
    with owner_session() as session:
        failures = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "auth.sso", AuditEvent.outcome == "failed"
            )
        ).all()
    assert len(failures) == 1


def test_no_account_is_created_for_a_stranger(idp) -> None:  # type: ignore[no-untyped-def]
    provider, client = idp
    make_tenant("clinic-a")
    provider.login_email = "stranger@elsewhere.test"
    response = round_trip(client, "lakeside")
    assert response.headers["location"] == "/signin?sso_error=refused"
    from mi_portal.models import User

    with platform_session() as session:
        assert (
            session.exec(select(User).where(User.email == "stranger@elsewhere.test")).first()
            is None
        )


def test_unverified_email_and_wrong_clinic_are_refused(idp) -> None:  # type: ignore[no-untyped-def]
    provider, client = idp
    make_tenant("clinic-a")
    b = make_tenant("clinic-b")
    make_user("bob@clinic-b.test", role="clinic_owner", tenants=(b,))
    provider.login_email = "bob@clinic-b.test"
    assert round_trip(client, "lakeside").headers["location"] == "/signin?sso_error=refused"
    provider.email_verified = False
    assert round_trip(client, "lakeside").headers["location"] == "/signin?sso_error=refused"


def test_platform_provider_is_for_platform_staff_only(idp) -> None:  # type: ignore[no-untyped-def]
    provider, client = idp
    a = make_tenant("clinic-a")
    make_user("dana@clinic-a.test", role="provider", tenants=(a,))
    make_user("ops@mi-portal.test", platform_role="platform_support")
    provider.login_email = "dana@clinic-a.test"
    assert round_trip(client, "staff").headers["location"] == "/signin?sso_error=refused"
    provider.login_email = "ops@mi-portal.test"
    response = round_trip(client, "staff")
    signed = _session_user(response)
    assert signed is not None and signed.actor.is_platform and signed.actor.tenant_id is None


def test_callback_without_our_state_is_refused(idp) -> None:  # type: ignore[no-untyped-def]
    _provider, client = idp
    response = client.get("/api/auth/oidc/lakeside/callback?code=abc&state=forged")
    assert response.headers["location"] == "/signin?sso_error=invalid"
    assert (
        client.get("/api/auth/oidc/nope/login").headers["location"] == "/signin?sso_error=unknown"
    )


def test_a_callback_opened_in_another_browser_is_refused(idp) -> None:  # type: ignore[no-untyped-def]
    # Login CSRF through single sign-on: the attacker starts the round trip in their browser and
    # sends the victim's browser the provider's answer. Authlib's state lives in the starting
    # browser's signed mi_oidc cookie, so the victim's browser cannot complete it.
    provider, attacker = idp
    a = make_tenant("clinic-a")
    make_user("mallory@clinic-a.test", role="provider", tenants=(a,))
    provider.login_email = "mallory@clinic-a.test"
    start = attacker.get("/api/auth/oidc/lakeside/login")
    answer = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlsplit(answer.headers["location"])
    from mi_portal.api.routes import build_api_app

    with TestClient(build_api_app(), base_url=ORIGIN, follow_redirects=False) as victim:
        response = victim.get(f"{back.path}?{back.query}")
    assert response.headers["location"] == "/signin?sso_error=invalid"
    assert "mi_session" not in response.cookies
    # The attacker's own browser could have finished it: the refusal is the binding, not a typo.
    assert _session_user(attacker.get(f"{back.path}?{back.query}")) is not None


def test_starting_single_sign_on_is_limited_per_address(idp) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.services import ratelimit

    _provider, client = idp
    for _ in range(ratelimit.SSO_LOGIN.max_hits):
        assert client.get("/api/auth/oidc/lakeside/login").status_code in (302, 303)
    refused = client.get("/api/auth/oidc/lakeside/login")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 500
