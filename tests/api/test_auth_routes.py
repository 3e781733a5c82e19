"""Login CSRF and sign-out CSRF: tickets redeem only in their browser; only the portal signs out."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pyotp
import pytest
import reflex as rx
from reflex.istate.data import RouterData
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.api.binding import PLAIN_NAME, SECURE_NAME, BrowserBinding
from mi_portal.config import reset_settings
from mi_portal.services import auth, ratelimit
from mi_portal.state.session import SessionState
from mi_portal.state.signin import NO_BINDING, SignInState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token

ORIGIN = "http://testserver"
MINE = "m" * 43  # binding values have the shape of secrets.token_urlsafe(32)
VICTIM = "v" * 43


def _client(**cookies: str) -> TestClient:
    from mi_portal.api.routes import build_api_app

    client = TestClient(build_api_app(), base_url=ORIGIN, follow_redirects=False)
    for name, value in cookies.items():
        client.cookies.set(name, value)
    return client


def _redeem(client: TestClient, ticket: str):  # type: ignore[no-untyped-def]
    return client.get(f"/api/auth/session?ticket={ticket}&next=/")


async def _sign_in(cookie: str, email: str, secret: str) -> tuple[SignInState, Any]:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": cookie, "user-agent": "pytest"}, "ip": "127.0.0.1"}
    )
    state = await root.get_state(SignInState)
    form = {"email": email, "password": "correct horse staple 42"}
    result = await SignInState.event_handlers["submit_password"].fn(state, form)
    if state.step == "code":
        code = {"code": pyotp.TOTP(secret).now()}
        result = await SignInState.event_handlers["submit_code"].fn(state, code)
    return state, result


def _ticket(result: Any) -> str:
    found = re.search(r"ticket=([A-Za-z0-9_-]+)", repr(result))
    assert found, repr(result)
    return found.group(1)


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_a_ticket_redeems_only_in_the_browser_that_signed_in(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_tenant("clinic-a")
    user_id, secret = make_user("ann@a.test", role="viewer", tenants=(a,))
    assert secret is not None
    _state, result = asyncio.run(_sign_in(f"{PLAIN_NAME}={MINE}", "ann@a.test", secret))
    ticket = _ticket(result)
    # The attacker's own ticket, pushed into a victim's browser (other binding, or none): refused.
    for victim in (_client(**{PLAIN_NAME: VICTIM}), _client(), _client(**{PLAIN_NAME: "short"})):
        refused = _redeem(victim, ticket)
        assert refused.status_code == 303 and refused.headers["location"] == "/signin"
        assert "mi_session" not in refused.cookies
    # The browser that signed in gets its session.
    mine = _redeem(_client(**{PLAIN_NAME: MINE}), ticket)
    assert mine.status_code == 303 and mine.headers["location"] == "/"
    signed = auth.resolve(mine.cookies["mi_session"])
    assert signed is not None and signed.user_id == user_id
    # On an https deployment only the __Host- cookie is the binding: a plain one could have been
    # planted (sibling subdomain, plain http) with a value the planter knows.
    monkeypatch.setenv("MI_FRONTEND_ORIGIN", "https://portal.example.org")
    reset_settings()
    ticket = auth.start_session(user_id, mfa_passed=True, ip=None, user_agent=None, browser=MINE)
    assert _redeem(_client(**{SECURE_NAME: VICTIM}), ticket).headers["location"] == "/signin"
    assert _redeem(_client(**{PLAIN_NAME: MINE}), ticket).headers["location"] == "/signin"
    assert _redeem(_client(**{SECURE_NAME: MINE}), ticket).cookies.get("mi_session")
    monkeypatch.delenv("MI_FRONTEND_ORIGIN")
    reset_settings()  # later tests must not inherit the https origin from the settings cache


def test_sign_in_without_a_binding_creates_no_session(db: Database) -> None:
    a = make_tenant("clinic-a")
    _user_id, secret = make_user("ann@a.test", role="viewer", tenants=(a,))
    assert secret is not None
    state, result = asyncio.run(_sign_in("", "ann@a.test", secret))
    assert result is None and state.error == NO_BINDING and state.step == "password"


def test_pages_give_a_browser_its_binding_once() -> None:
    async def page(_request: Any) -> HTMLResponse:
        return HTMLResponse("<html></html>")

    async def api(_request: Any) -> JSONResponse:
        return JSONResponse({})

    inner = Starlette(routes=[Route("/signin", page), Route("/api/x", api)])
    client = TestClient(BrowserBinding(inner), base_url=ORIGIN)
    first = client.get("/signin")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{PLAIN_NAME}=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Path=/" in cookie
    assert re.match(rf"{PLAIN_NAME}=[A-Za-z0-9_-]{{43}};", cookie)
    assert "set-cookie" not in client.get("/signin").headers  # kept, not replaced
    assert "set-cookie" not in TestClient(BrowserBinding(inner)).get("/api/x").headers
    secure = TestClient(BrowserBinding(inner)).get(
        "/signin", headers={"x-forwarded-proto": "https"}
    )
    assert secure.headers["set-cookie"].startswith(f"{SECURE_NAME}=")
    assert "Secure" in secure.headers["set-cookie"]


# --- sign-out --------------------------------------------------------------------------------


def _signed_in(db: Database) -> str:
    a = make_tenant("clinic-a")
    user_id, _ = make_user("ann@a.test", role="viewer", tenants=(a,))
    return sign_in_token(user_id)


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
        {"sec-fetch-site": "same-site", "origin": "https://sub.testserver"},
        {"origin": "https://evil.example"},
        {},  # neither header: the origin is unknown, so no
    ],
)
def test_other_sites_cannot_sign_anyone_out(db: Database, headers: dict[str, str]) -> None:
    token = _signed_in(db)
    client = _client(mi_session=token)
    refused = client.post("/api/auth/signout", headers=headers)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    navigated = client.get("/api/auth/signout", headers={"sec-fetch-site": "cross-site"})
    assert navigated.status_code == 405 and "set-cookie" not in navigated.headers
    assert auth.resolve(token) is not None


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "same-origin", "origin": ORIGIN},
        {"origin": ORIGIN},  # browsers that do not send Sec-Fetch-Site
    ],
)
def test_the_portal_itself_signs_out(db: Database, headers: dict[str, str]) -> None:
    token = _signed_in(db)
    response = _client(mi_session=token).post("/api/auth/signout", headers=headers)
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert 'mi_session=""' in response.headers["set-cookie"]
    assert auth.resolve(token) is None


def test_the_sign_out_menu_posts_to_the_route(db: Database) -> None:
    token = _signed_in(db)

    async def run() -> Any:
        root = rx.State(_reflex_internal_init=True)
        root.router = RouterData.from_router_data(
            {"headers": {"cookie": f"mi_session={token}"}, "ip": "127.0.0.1"}
        )
        state = await root.get_state(SessionState)
        return await SessionState.event_handlers["sign_out"].fn(state)

    script = repr(asyncio.run(run()))
    assert "f.method = 'post'" in script and "/api/auth/signout" in script
    assert "location" not in script  # no GET navigation to the route
    assert auth.resolve(token) is None  # revoked on the server before the browser leaves


# --- rate limits on the sign-in doors ---------------------------------------------------------


def _exhaust(limit: ratelimit.Limit, subject: str) -> None:
    for _ in range(limit.max_hits):
        assert ratelimit.hit(limit, subject) == 0


def test_the_password_step_is_limited_per_address(db: Database) -> None:
    a = make_tenant("clinic-a")
    _user_id, secret = make_user("ann@a.test", role="viewer", tenants=(a,))
    assert secret is not None
    _exhaust(ratelimit.SIGN_IN_PASSWORD, "127.0.0.1")
    state, result = asyncio.run(_sign_in(f"{PLAIN_NAME}={MINE}", "ann@a.test", secret))
    assert result is None and state.step == "password"
    assert state.error == (
        "Too many sign-in attempts from this connection. Please try again in 10 minutes."
    )


def test_the_code_step_is_limited_per_address(db: Database) -> None:
    a = make_tenant("clinic-a")
    _user_id, secret = make_user("ann@a.test", role="viewer", tenants=(a,))
    assert secret is not None
    _exhaust(ratelimit.SIGN_IN_CODE, "127.0.0.1")
    state, result = asyncio.run(_sign_in(f"{PLAIN_NAME}={MINE}", "ann@a.test", secret))
    assert result is None and "ticket=" not in repr(result)  # the right code, but no session
    assert state.error.startswith("Too many sign-in attempts")


def test_ticket_redemption_is_limited_per_address(db: Database) -> None:
    _exhaust(ratelimit.TICKET_REDEEM, "testclient")
    response = _redeem(_client(**{PLAIN_NAME: MINE}), "anything")
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 500
