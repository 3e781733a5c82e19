"""The browser binding that ties a sign-in ticket to the browser that asked for it (login CSRF).

Every page load gives the browser a random, HttpOnly value unless it already has one. The sign-in
handler reads it from the event socket's handshake (Reflex keeps the headers of the connection,
so the value must exist before the page's socket connects: hence on the page response itself)
and binds the ticket to it; the cookie route redeems a ticket only with the same value. Another
site can send a victim's browser to its own ticket but cannot give it this value.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser

# On https the __Host- prefix stops a sibling subdomain from planting a value it knows.
SECURE_NAME = "__Host-mi_browser"
PLAIN_NAME = "mi_browser"
_VALID = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _deployed_on_https() -> bool:
    from mi_portal.config import get_settings

    return get_settings().frontend_origin.startswith("https://")


def browser_binding(cookies: Mapping[str, str], *, secure: bool | None = None) -> str | None:
    """The browser's binding value from its cookies, if it has a well-formed one.

    On an https deployment only the ``__Host-`` cookie counts: a plain one could have been
    planted by a sibling subdomain or over plain http with a value the planter knows.
    """
    secure = _deployed_on_https() if secure is None else secure
    value = cookies.get(SECURE_NAME if secure else PLAIN_NAME, "")
    return value if _VALID.match(value) else None


def binding_from_header(cookie_header: str) -> str | None:
    return browser_binding(cookie_parser(cookie_header or ""))


def _https(scope: dict[str, Any], headers: Mapping[str, str]) -> bool:
    forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return scope.get("scheme") == "https" or forwarded == "https"


class BrowserBinding:
    """ASGI wrapper: pages answered to a browser without a binding value carry a new one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        request_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        https = _https(scope, request_headers) or _deployed_on_https()
        cookies = cookie_parser(request_headers.get("cookie", ""))
        if browser_binding(cookies, secure=https):
            await self.app(scope, receive, send)
            return

        async def send_with_binding(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    name = SECURE_NAME if https else PLAIN_NAME
                    attributes = "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if https else "")
                    headers.append(
                        "Set-Cookie", f"{name}={secrets.token_urlsafe(32)}; {attributes}"
                    )
            await send(message)

        await self.app(scope, receive, send_with_binding)
