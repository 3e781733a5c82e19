"""Every kind of response carries the security headers: pages, static files, API, uploads, 404s."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from mi_portal.api.binding import BrowserBinding
from mi_portal.api.headers import (
    PagePolicy,
    SecurityHeaders,
    build_hashes,
    inline_script_hashes,
    script_hash,
)
from mi_portal.api.limits import UploadSizeLimit
from tests.conftest import Database

ORIGIN = "http://testserver"
PAGE_SCRIPT = 'window.__reactRouterContext = {"basename":"/"};'
SAMPLE_PAGE = f"""<!DOCTYPE html><html><head>
<script src="/assets/entry-abc123.js" type="module"></script>
<script>{PAGE_SCRIPT}</script>
<script type="module" async="">import "/assets/manifest-1.js";
import("/assets/entry.client-2.js");</script>
</head><body><div id="root"></div><script>$RC("B:1","S:1")</script></body></html>"""


def _sha(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


def test_inline_script_hashes_cover_exactly_the_inline_scripts() -> None:
    # The example from the CSP specification, computed independently.
    assert script_hash("alert('Hello, world.');") == (
        "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
    )
    hashes = inline_script_hashes(SAMPLE_PAGE)
    module = 'import "/assets/manifest-1.js";\nimport("/assets/entry.client-2.js");'
    assert hashes == {_sha(PAGE_SCRIPT), _sha(module), _sha('$RC("B:1","S:1")')}


def test_build_hashes_read_every_page_and_none_without_a_build(tmp_path: Path) -> None:
    assert build_hashes(tmp_path / "missing") is None
    assert build_hashes(tmp_path) is None
    (tmp_path / "signin").mkdir()
    (tmp_path / "index.html").write_text(SAMPLE_PAGE)
    (tmp_path / "signin" / "index.html").write_text("<script>one()</script>")
    assert build_hashes(tmp_path) == inline_script_hashes(SAMPLE_PAGE) | {_sha("one()")}


def _build(root: Path) -> Path:
    build = root / "build"
    (build / "assets").mkdir(parents=True)
    (build / "signin").mkdir()
    (build / "index.html").write_text(SAMPLE_PAGE)
    (build / "signin" / "index.html").write_text(SAMPLE_PAGE)
    (build / "404.html").write_text("<html><script>notFound()</script></html>")
    (build / "assets" / "entry-abc123.js").write_text("console.log(1)")
    (build / "favicon.ico").write_bytes(b"\x00\x00\x01\x00")
    return build


async def _upload(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"read {len(await request.body())}")


def _stack(build: Path) -> TestClient:
    """The app's wrappers around the real API routes and a static frontend, as Reflex mounts them."""
    from mi_portal.api.routes import build_api_app

    api = build_api_app()
    frontend = Starlette(routes=[Route("/_upload", _upload, methods=["POST"])])
    frontend.mount("", StaticFiles(directory=build, html=True))
    api.mount("", frontend)
    policy = PagePolicy(
        build_dir=lambda: build,
        origins=lambda: [ORIGIN, "https://api.example.org"],
        extra_scripts=["runtime()"],
    )
    upload = UploadSizeLimit(api, max_bytes=100, handlers={"public.handler"})
    app = SecurityHeaders(BrowserBinding(upload), policy=policy)
    return TestClient(app, base_url=ORIGIN, follow_redirects=False)


def _common(response, *, https: bool = False) -> None:  # type: ignore[no-untyped-def]
    h = response.headers
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert "camera=()" in h["permissions-policy"] and "geolocation=()" in h["permissions-policy"]
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert ("strict-transport-security" in h) == https


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_every_kind_of_response_carries_the_headers(db: Database, tmp_path: Path) -> None:
    client = _stack(_build(tmp_path))
    page = client.get("/signin/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    _common(page)
    csp = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    scripts = csp["script-src"].split()
    assert _sha(PAGE_SCRIPT) in scripts and _sha("notFound()") in scripts
    assert _sha("runtime()") in scripts  # inserted at run time by the app's own component
    assert "'unsafe-inline'" not in scripts and "*" not in scripts
    assert csp["connect-src"].split() == [
        "'self'",
        ORIGIN,
        "ws://testserver",
        "https://api.example.org",
        "wss://api.example.org",
    ]
    assert csp["img-src"] == "'self' data: blob:"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert csp["form-action"] == "'self'" and csp["default-src"] == "'self'"
    assert page.headers["cache-control"] == "no-store"

    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    _common(missing)
    assert missing.headers["cache-control"] == "no-store"

    asset = client.get("/assets/entry-abc123.js")
    assert asset.status_code == 200
    _common(asset)
    assert "no-store" not in asset.headers.get("cache-control", "")  # content-hashed: cacheable
    assert asset.headers["content-security-policy"].startswith("default-src 'none'")

    icon = client.get("/favicon.ico")
    _common(icon)
    assert icon.headers["cache-control"] == "no-store"

    health = client.get("/api/health")
    assert health.status_code == 200
    _common(health)
    assert health.headers["cache-control"] == "no-store"
    assert health.headers["content-security-policy"].startswith("default-src 'none'")

    ticket = client.get("/api/auth/session?ticket=nope")
    assert ticket.status_code == 303
    _common(ticket)

    upload = client.post(
        "/_upload", content=b"x" * 10, headers={"reflex-event-handler": "public.handler"}
    )
    assert upload.text == "read 10"
    _common(upload)
    assert upload.headers["cache-control"] == "no-store"
    too_large = client.post(
        "/_upload", content=b"x" * 101, headers={"reflex-event-handler": "public.handler"}
    )
    assert too_large.status_code == 413
    _common(too_large)

    over_https = client.get("/signin/", headers={"x-forwarded-proto": "https"})
    _common(over_https, https=True)
    assert over_https.headers["strict-transport-security"].startswith("max-age=")
    _common(client.get("/api/health", headers={"x-forwarded-proto": "https"}), https=True)


def test_without_a_build_pages_allow_no_inline_script_and_pick_the_build_up_later(
    tmp_path: Path,
) -> None:
    build = tmp_path / "later"
    policy = PagePolicy(build_dir=lambda: build, origins=lambda: [ORIGIN])
    first = policy()
    assert "'sha256-" not in first and "'unsafe-inline'" not in first.split("style-src")[0]
    build.mkdir()
    (build / "index.html").write_text("<script>late()</script>")
    policy._checked_at = 0.0  # as if the retry interval had passed
    assert _sha("late()") in policy()


def test_the_real_app_wraps_everything_in_the_headers() -> None:
    import mi_portal.mi_portal as app_module

    transformers = app_module.app.api_transformer
    assert isinstance(transformers, list)
    outermost = transformers[-1](PlainTextResponse("inner"))  # type: ignore[operator]
    assert isinstance(outermost, SecurityHeaders)
    response = TestClient(outermost).get("/")
    _common(response)
    assert response.headers["cache-control"] == "no-store"
