"""The upload endpoint takes only the public intake's handler, and only bodies it can use."""

from __future__ import annotations

import pytest
from reflex.utils.format import format_event_handler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from mi_portal.api.limits import (
    MAX_UPLOAD_BYTES,
    UploadSizeLimit,
    client_address,
    public_upload_handlers,
)
from mi_portal.services.ratelimit import UPLOAD_PER_ADDRESS

PUBLIC = {"reflex-event-handler": "public.handler"}


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
    return TestClient(UploadSizeLimit(inner, max_bytes=limit, handlers={"public.handler"}))


def test_small_uploads_pass_and_large_ones_are_refused() -> None:
    client = _client(1000)
    assert client.post("/_upload", content=b"x" * 1000, headers=PUBLIC).text == "read 1000"
    refused = client.post("/_upload", content=b"x" * 1001, headers=PUBLIC)
    assert refused.status_code == 413
    assert client.post("/other", content=b"x" * 5000).text == "read 5000"  # only the upload path


def test_uploads_to_other_handlers_are_refused_before_reading() -> None:
    client = _client(1000)
    for headers in (
        {},
        {"reflex-event-handler": "state.staff_handler"},
        {"reflex-event-handler": "public.handler.extra"},
    ):
        refused = client.post("/_upload", content=b"x" * 10, headers=headers)
        assert refused.status_code == 403 and "read" not in refused.text, headers
    # Two handler headers: Reflex reads the first, a dict the last; neither is trusted.
    twice = client.post(
        "/_upload",
        content=b"x",
        headers=[
            ("reflex-event-handler", "state.staff_handler"),
            ("reflex-event-handler", "public.handler"),
        ],
    )
    assert twice.status_code == 403


def test_the_real_limit_fits_six_full_size_photos() -> None:
    assert 6 * 20 * 1024 * 1024 < MAX_UPLOAD_BYTES < 7 * 20 * 1024 * 1024


@pytest.fixture(scope="module")
def reflex_upload() -> Starlette:
    """Reflex's own upload endpoint for this app, as `rx.App` mounts it (without compiling)."""
    from reflex_components_core.core._upload import upload

    import mi_portal.mi_portal as main

    main.app._set_contexts_internal()
    return Starlette(routes=[Route("/_upload", upload(main.app), methods=["POST"])])


def test_a_staff_handler_named_on_the_real_endpoint_answers_4xx(reflex_upload: Starlette) -> None:
    from mi_portal.state.catalog import CatalogState
    from mi_portal.state.clinic_settings import ClinicSettingsState
    from mi_portal.state.conversation import ConversationState
    from mi_portal.state.inbox import InboxState
    from mi_portal.state.intake import IntakeState
    from mi_portal.state.reply import ReplyState
    from mi_portal.state.rights_request import RightsRequestState
    from mi_portal.state.viewer import ViewerState

    assert public_upload_handlers() == {
        format_event_handler(IntakeState.submit),
        format_event_handler(ReplyState.send),
        format_event_handler(RightsRequestState.submit),
        format_event_handler(ConversationState.upload_attachment),
        format_event_handler(CatalogState.import_csv),
        format_event_handler(ClinicSettingsState.upload_logo),
    }
    photo = {"files": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}
    bare = TestClient(reflex_upload, raise_server_exceptions=False)
    guarded = TestClient(UploadSizeLimit(reflex_upload), raise_server_exceptions=False)
    for handler in (InboxState.load, InboxState.bulk_status, ViewerState.load):
        headers = {
            "reflex-client-token": "tab",
            "reflex-event-handler": format_event_handler(handler),
        }
        # Reflex on its own takes the body and fails in the handler lookup (the reported 500).
        assert bare.post("/_upload", headers=headers, files=photo).status_code == 500
        answer = guarded.post("/_upload", headers=headers, files=photo)
        assert answer.status_code == 403, handler


def test_uploads_are_limited_per_address() -> None:
    client = _client(1000)
    for _ in range(UPLOAD_PER_ADDRESS.max_hits):
        assert client.post("/_upload", content=b"x", headers=PUBLIC).status_code == 200
    refused = client.post("/_upload", content=b"x", headers=PUBLIC)
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
