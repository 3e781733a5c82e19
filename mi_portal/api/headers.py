"""Security headers on every HTTP response: pages, static files, API routes, uploads, 404s.

Wraps the whole backend (it is the last entry of ``rx.App(api_transformer=...)``), so the
compiled frontend's static mount is covered as well as the API routes.

The pages' Content-Security-Policy lists the sha256 of each inline ``<script>`` of the built
frontend instead of allowing inline scripts. Relaxations, each needed by Reflex itself:

- ``script-src 'unsafe-eval'``: Reflex runs what the server sends with ``rx.call_script``,
  ``rx.call_function`` and ``rx.toast`` through ``eval`` in its event loop (state.js). The
  evaluated text comes from the backend over the event socket, never from the page.
- ``style-src 'unsafe-inline'``: Radix Themes and Emotion write ``<style>`` elements and
  ``style=`` attributes at run time; their content varies with the state, so it cannot be hashed.
- ``img-src data: blob:``: icons inlined as data URLs, and previews of photos a patient picks
  before uploading them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders

from mi_portal.config import get_settings

log = logging.getLogger(__name__)

# Reflex names every built JS and CSS file after its content hash: these alone may be cached.
HASHED_STATIC_PREFIX = "/assets/"
# A clinic's logo for its patient pages: the only API answer browsers may keep.
PUBLIC_BRANDING = re.compile(r"/api/clinic/[^/]+/logo")
# Everything that is not a page: no scripts, styles, frames or forms of its own.
NON_PAGE_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# No page needs these (a phone's camera reaches the intake through the file picker, which
# this does not block).
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), midi=(), "
    "magnetometer=(), gyroscope=(), accelerometer=(), display-capture=()"
)
HSTS = "max-age=31536000; includeSubDomains"
_RETRY_BUILD_EVERY = 10.0  # seconds between looks for a build that did not exist yet


class _InlineScripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.found: list[str] = []
        self._inline = False
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._inline = not any(name == "src" for name, _ in attrs)
            self._parts = []

    def handle_data(self, data: str) -> None:
        if self._inline:
            self._parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._inline:
            self.found.append("".join(self._parts))
            self._inline = False


def script_hash(code: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    digest = hashlib.sha256(code.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def inline_script_hashes(html: str) -> set[str]:
    """Hashes of every inline ``<script>`` in one HTML document (external ones need none)."""
    parser = _InlineScripts()
    parser.feed(html)
    parser.close()
    return {script_hash(code) for code in parser.found}


def build_hashes(build_dir: Path) -> set[str] | None:
    """Hashes of the inline scripts of every built page, or ``None`` when there is no build."""
    pages = sorted(build_dir.rglob("*.html")) if build_dir.is_dir() else []
    if not pages:
        return None
    hashes: set[str] = set()
    for page in pages:
        hashes |= inline_script_hashes(page.read_text(encoding="utf-8", errors="replace"))
    return hashes


def _socket_origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"


def connect_sources(*urls: str) -> list[str]:
    """'self' plus the http(s) and ws(s) origins of the portal and of its backend."""
    sources = ["'self'"]
    for url in urls:
        parts = urlsplit(url)
        socket = _socket_origin(url)
        if socket is None:
            continue
        for origin in (f"{parts.scheme}://{parts.netloc}", socket):
            if origin not in sources:
                sources.append(origin)
    return sources


def page_policy(script_hashes: Iterable[str], connect: Iterable[str]) -> str:
    scripts = " ".join(["'self'", *sorted(script_hashes), "'unsafe-eval'"])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            f"connect-src {' '.join(connect)}",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )


def _default_build_dir() -> Path:
    from reflex import constants
    from reflex.utils.prerequisites import get_web_dir

    return get_web_dir() / constants.Dirs.STATIC


def _backend_url() -> str:
    from reflex.config import get_config

    return get_config().api_url or ""


class PagePolicy:
    """The pages' CSP, built from the frontend build on first use (and again once it appears)."""

    def __init__(
        self,
        *,
        build_dir: Callable[[], Path] = _default_build_dir,
        origins: Callable[[], list[str]] | None = None,
        extra_scripts: Iterable[str] = (),
    ) -> None:
        self._build_dir = build_dir
        self._origins = origins or (lambda: [get_settings().frontend_origin, _backend_url()])
        self._extra = {script_hash(code) for code in extra_scripts}
        self._policy: str | None = None
        self._complete = False
        self._checked_at = 0.0

    def __call__(self) -> str:
        if self._complete and self._policy is not None:
            return self._policy
        if self._policy is None or time.monotonic() - self._checked_at > _RETRY_BUILD_EVERY:
            self._checked_at = time.monotonic()
            built = build_hashes(self._build_dir())
            # Without a build (development) no inline script is allowed: the pages then come
            # from the frontend dev server, not from here.
            self._complete = built is not None
            self._policy = page_policy(
                (built or set()) | self._extra, connect_sources(*self._origins())
            )
        return self._policy


def _is_https(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") == "https":
        return True
    for name, value in scope.get("headers") or []:
        if name == b"x-forwarded-proto":
            return value.split(b",")[0].strip().lower() == b"https"
    return False


class SecurityHeaders:
    """ASGI wrapper adding the security headers to every HTTP response of the app it wraps."""

    def __init__(self, app: Any, *, policy: Callable[[], str] | None = None) -> None:
        self.app = app
        self.policy = policy or PagePolicy()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        https = _is_https(scope)

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self._add(MutableHeaders(scope=message), path=path, https=https)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders, *, path: str, https: bool) -> None:
        is_page = headers.get("content-type", "").startswith("text/html")
        # A route may send a stricter policy of its own; pages always get the page policy.
        if is_page or "content-security-policy" not in headers:
            headers["Content-Security-Policy"] = self.policy() if is_page else NON_PAGE_POLICY
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        # Signed photo and download links must not travel to other sites in Referer.
        headers["Referrer-Policy"] = "no-referrer"
        headers["Permissions-Policy"] = PERMISSIONS_POLICY
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if https:
            headers["Strict-Transport-Security"] = HSTS
        # Pages of signed-in routes, API answers and uploads can carry patient data or signed
        # links; only content-hashed build files are safe to keep.
        # A clinic's logo is its public branding (no personal data) and may be cached.
        if (
            not path.startswith(HASHED_STATIC_PREFIX)
            and not PUBLIC_BRANDING.fullmatch(path)
            and "no-store" not in headers.get("cache-control", "")
        ):
            headers["Cache-Control"] = "no-store"


def security_headers(*, extra_scripts: Iterable[str] = ()) -> Callable[[Any], SecurityHeaders]:
    """The transformer for ``rx.App(api_transformer=...)``; ``extra_scripts``: inline scripts
    the app's own components insert at run time (they are not in the built HTML)."""
    policy = PagePolicy(extra_scripts=tuple(extra_scripts))
    return lambda app: SecurityHeaders(app, policy=policy)
