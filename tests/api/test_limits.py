"""The upload endpoint refuses bodies larger than an intake can use, before reading them."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mi_portal.api.limits import MAX_UPLOAD_BYTES, UploadSizeLimit, client_address
from mi_portal.services.ratelimit import UPLOAD_PER_ADDRESS


async def _upload(request: Request) -> PlainTextResponse:
    body = await request.body()
    return PlainTextResponse(f"read {len(body)}")


def _client(limit: int) -> TestClient:
    inner = Starlette(
        routes=[
            Route("/_upload", _upload, methods=["POST"]),
            Route("/other", _upload, methods=["POST"]),
        ]
    )
    return TestClient(UploadSizeLimit(inner, max_bytes=limit))


def test_small_uploads_pass_and_large_ones_are_refused() -> None:
    client = _client(1000)
    assert client.post("/_upload", content=b"x" * 1000).text == "read 1000"
    refused = client.post("/_upload", content=b"x" * 1001)
    assert refused.status_code == 413
    assert client.post("/other", content=b"x" * 5000).text == "read 5000"  # only the upload path


def test_the_real_limit_fits_six_full_size_photos() -> None:
    assert 6 * 20 * 1024 * 1024 < MAX_UPLOAD_BYTES < 7 * 20 * 1024 * 1024


def test_uploads_are_limited_per_address() -> None:
    client = _client(1000)
    for _ in range(UPLOAD_PER_ADDRESS.max_hits):
        assert client.post("/_upload", content=b"x").status_code == 200
    refused = client.post("/_upload", content=b"x")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 500
    assert "Please try again in 10 minutes" in refused.text
    assert client.post("/other", content=b"x").status_code == 200  # only the upload path


def test_the_client_address_believes_forwarding_only_through_trusted_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reflex.config import get_config

    scope = {
        "client": ("10.0.0.2", 1234),
        "headers": [(b"x-forwarded-for", b"198.51.100.9, 203.0.113.5")],
    }
    monkeypatch.setattr(get_config(), "trusted_proxy_hops", 0)
    assert client_address(scope) == "10.0.0.2"  # a client can write any X-Forwarded-For
    monkeypatch.setattr(get_config(), "trusted_proxy_hops", 1)
    assert client_address(scope) == "203.0.113.5"  # the address our one proxy saw
