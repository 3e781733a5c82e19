"""The upload endpoint refuses bodies larger than an intake can use, before reading them."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mi_portal.api.limits import MAX_UPLOAD_BYTES, UploadSizeLimit


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
