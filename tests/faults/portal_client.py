"""A minimal client of the running app: HTTP routes plus Reflex's Socket.IO event protocol.

It does what a browser tab does, without a browser: loads a page over HTTP (which gives it the
binding cookie), opens the event socket with a tab token, sends ``hydrate_and_load`` and the
events it is handed back, and keeps the state deltas it receives. Sign-in follows the page's own
``window.location.assign`` to the ticket route, which sets the session cookie.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import socketio
from pyotp.totp import TOTP

from mi_portal.jobs.seed import DEMO_PASSWORD, demo_totp_secret
from mi_portal.state.guard import SESSION_COOKIE

# The page connects to ``<origin>/_event``: that path is the Socket.IO path AND the namespace.
NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"
SIGNIN_STATE = f"{ROOT_STATE}.mi_portal___state___signin____sign_in_state"
_ASSIGN = re.compile(r"window\.location\.assign\((\"[^\"]*\")\)")


class EventTimeout(AssertionError):
    """The backend sent nothing back in time."""


class Tab:
    """One browser tab: a token, a socket, the state it was sent."""

    def __init__(self, base_url: str, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.token = token or str(uuid.uuid4())
        self.sio = socketio.AsyncClient(reconnection=False)
        self.state: dict[str, dict[str, Any]] = {}
        self.scripts: list[str] = []
        self.redirects: list[str] = []
        self.path = "/"
        self.params: dict[str, str] = {}  # the page's route arguments (``[slug]``)
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.new_tokens: list[str] = []  # Reflex took this tab for a duplicate and renamed it
        self.sio.on("event", self._on_event, namespace=NAMESPACE)
        self.sio.on("new_token", self._on_new_token, namespace=NAMESPACE)

    async def _on_new_token(self, token: Any) -> None:
        self.new_tokens.append(str(token))

    async def _on_event(self, data: Any) -> None:
        update = json.loads(data) if isinstance(data, str) else data
        for name, changes in (update.get("delta") or {}).items():
            self.state.setdefault(name, {}).update(changes)
        for event in update.get("events") or []:
            name = event.get("name", "")
            if name.startswith(ROOT_STATE):  # a backend event the frontend would send back
                await self.emit(name, event.get("payload") or {})
            elif name == "_redirect":
                self.redirects.append(str((event.get("payload") or {}).get("path", "")))
            elif name == "_call_script":
                self.scripts.append(str((event.get("payload") or {}).get("javascript_code", "")))
        await self._updates.put(update)

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies.jar)

    async def open(
        self, path: str, *, params: dict[str, str] | None = None, timeout: float = 20.0
    ) -> None:
        """Load ``path`` over HTTP, connect the socket and hydrate (as a page load does)."""
        self.path = path
        self.params = dict(params or {})
        page = await self.http.get(self.base_url + path, follow_redirects=True)
        page.raise_for_status()
        # Like the page: the hydrate event travels in the CONNECT packet.
        boot = self._event(f"{ROOT_STATE}.hydrate_and_load", {})
        await self.sio.connect(
            f"{self.base_url}?token={self.token}",
            socketio_path="_event",
            transports=["websocket"],
            headers={"Cookie": self.cookie_header(), "Origin": self.base_url},
            namespaces=[NAMESPACE],
            auth={"event": boot},
            wait_timeout=int(timeout),
        )
        # The snapshot comes first; the page's on_load results follow (a fresh worker is slower).
        await self.settle(timeout=timeout, quiet=1.5)

    def _event(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        query = {**dict(httpx.URL(self.base_url + self.path).params), **self.params}
        path = self.path.split("?")[0]
        return {
            "name": name,
            "payload": payload,
            "router_data": {"pathname": path, "query": query, "asPath": self.path},
        }

    async def emit(self, name: str, payload: dict[str, Any]) -> None:
        await self.sio.emit("event", self._event(name, payload), namespace=NAMESPACE)

    async def settle(self, *, timeout: float = 20.0, quiet: float = 0.4) -> list[dict[str, Any]]:
        """Wait for the first update, then until the socket is quiet for ``quiet`` seconds."""
        got: list[dict[str, Any]] = []
        try:
            got.append(await asyncio.wait_for(self._updates.get(), timeout))
        except TimeoutError:
            raise EventTimeout(f"no update within {timeout} s") from None
        while True:
            try:
                got.append(await asyncio.wait_for(self._updates.get(), quiet))
            except TimeoutError:
                return got

    async def call(self, name: str, payload: dict[str, Any], *, timeout: float = 20.0) -> None:
        await self.emit(name, payload)
        await self.settle(timeout=timeout)

    def var(self, state: str, name: str) -> Any:
        """A state var as the browser holds it (Reflex suffixes var names with ``_rx_state_``)."""
        values = self.state.get(state, {})
        for key, value in values.items():
            if key == name or key.startswith(name + "_rx_state_"):
                return value
        raise KeyError(f"{state}.{name}")

    def redirect_target(self) -> str | None:
        for script in reversed(self.scripts):
            found = _ASSIGN.search(script)
            if found:
                return json.loads(found.group(1))
        return None

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def sign_in(tab: Tab, email: str) -> None:
    """Password, then the TOTP code, then the ticket route (which sets the session cookie)."""
    await tab.open("/signin/")
    await tab.call(
        f"{SIGNIN_STATE}.submit_password",
        {"form_data": {"email": email, "password": DEMO_PASSWORD}},
    )
    assert tab.var(SIGNIN_STATE, "step") == "code", tab.var(SIGNIN_STATE, "error")
    await submit_code(tab, email)


async def submit_code(tab: Tab, email: str) -> None:
    totp = TOTP(demo_totp_secret(email))
    for _ in range(2):
        await tab.call(f"{SIGNIN_STATE}.submit_code", {"form_data": {"code": totp.now()}})
        if tab.redirect_target():
            break
        # A code is accepted once: the same user signing in twice within 30 s waits for the next.
        await asyncio.sleep(totp.interval - time.time() % totp.interval + 0.5)
    target = tab.redirect_target()
    assert target and target.startswith("/api/auth/session"), tab.var(SIGNIN_STATE, "error")
    done = await tab.http.get(tab.base_url + target, follow_redirects=False)
    assert done.status_code in (302, 303, 307), done.status_code
    assert any(c.name == SESSION_COOKIE for c in tab.http.cookies.jar), [
        c.name for c in tab.http.cookies.jar
    ]


INTAKE_STATE = f"{ROOT_STATE}.mi_portal___state___intake____intake_state"


async def fill_intake(
    tab: Tab,
    slug: str = "lakeside-derm",
    *,
    name: str = "Fault Patient",
    also: tuple[str, ...] = (),
) -> None:
    """Open a clinic's public form and fill every field and question (no photo yet).

    With ``also``, the directory's form instead, sent to ``slug`` and then each of ``also``.
    """
    if also:
        await tab.open("/consult")
        for chosen in (slug, *also):
            await tab.call(f"{INTAKE_STATE}.toggle_clinic", {"slug": chosen, "selected": True})
    else:
        await tab.open(f"/c/{slug}/consult", params={"slug": slug})
    fields: dict[str, Any] = {
        "full_name": name,
        "email": "fault.patient@example.org",
        "phone": "+1 202 555 0142",
        "date_of_birth": "1988-05-06",
        "concern_area": "acne",
        "privacy_ack": True,
    }
    for field, value in fields.items():
        await tab.call(f"{INTAKE_STATE}.update_field", {"name": field, "value": value})
    for question in tab.var(INTAKE_STATE, "questions"):
        await tab.call(
            f"{INTAKE_STATE}.update_answer", {"question": question["key"], "value": "A few months"}
        )


def _multipart(boundary: str, name: str, data: bytes) -> tuple[bytes, bytes]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + data, f"\r\n--{boundary}--\r\n".encode()


async def upload_intake(
    tab: Tab,
    photo: bytes,
    *,
    pause_after: int | None = None,
    on_pause: Any = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Send the form with ``photo`` as the page's upload does; the intake state's final values.

    With ``pause_after``, the body stops after that many bytes and ``on_pause()`` runs (the
    fault is injected there) before the rest is sent. Raises ``httpx.HTTPError`` when the
    connection breaks.
    """
    boundary = uuid.uuid4().hex
    body, tail = _multipart(boundary, "photo.jpg", photo)

    async def chunks() -> AsyncIterator[bytes]:
        if pause_after is None:
            yield body + tail
            return
        yield body[:pause_after]
        await asyncio.sleep(0.5)
        if on_pause is not None:
            await on_pause()
        await asyncio.sleep(1.0)
        yield body[pause_after:] + tail

    response = await tab.http.post(
        tab.base_url + "/_upload",
        content=chunks(),
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            # Declared up front: the app refuses an upload of unknown length (411).
            "Content-Length": str(len(body) + len(tail)),
            "reflex-client-token": tab.token,
            "reflex-event-handler": f"{INTAKE_STATE}.submit",
            "Origin": tab.base_url,
        },
        timeout=timeout,
    )
    response.raise_for_status()
    final: dict[str, Any] = {}
    for line in response.text.splitlines():
        if not line.strip():
            continue
        update = json.loads(line)
        for state, changes in (update.get("delta") or {}).items():
            tab.state.setdefault(state, {}).update(changes)
            if state == INTAKE_STATE:
                final.update({k.split("_rx_state_")[0]: v for k, v in changes.items()})
    return final
