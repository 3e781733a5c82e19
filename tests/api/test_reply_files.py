"""Files the clinic sent, fetched from the reply page: signed, short-lived, audited, own thread only."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from mi_portal.api.routes import build_api_app
from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, MessageAttachment, MessageThread
from mi_portal.services import messaging, patient_reply
from tests.conftest import Database
from tests.factories import owner_session, two_clinics
from tests.reply_helpers import PDF, clinic_writes


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    w = two_clinics()
    a = clinic_writes(w.a, w.a_submission, "Your aftercare sheet", with_pdf=True)
    b = clinic_writes(w.b, w.b_submission, "Your sheet", with_pdf=True)
    return {"w": w, "a": a, "b": b}


def _get(url: str) -> Any:
    return TestClient(build_api_app(), base_url="http://localhost:3000").get(url)


def _link(token: str) -> str:
    [message] = patient_reply.view(token).messages
    return str(message["attachments"][0]["url"])  # type: ignore[index]


def test_the_patient_fetches_the_clinics_pdf_and_the_fetch_is_audited(
    world: dict[str, Any],
) -> None:
    answer = _get(_link(world["a"]))
    assert answer.status_code == 200 and answer.content == PDF
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["cache-control"] == "private, no-store"
    with owner_session() as session:
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "attachment.fetched_by_patient")
        ).all()
    assert event.tenant_id == world["w"].a and event.details["kind"] == "pdf"


def test_altered_foreign_or_retired_file_links_answer_not_found(world: dict[str, Any]) -> None:
    w = world["w"]
    good = _link(world["a"])
    path, token = good.split("?t=")
    with tenant_session(w.b) as session:
        b_attachment = session.exec(select(MessageAttachment)).one().id
    assert _get(f"{path}?t={token}x").status_code == 404
    assert _get(f"/api/reply-files/{b_attachment}?t={token}").status_code == 404  # B's file
    assert _get(f"{path}?t=").status_code == 404
    assert _get("/api/reply-files/not-a-uuid?t=" + token).status_code == 404
    with tenant_session(w.a) as session:
        messaging.renew_reply_key(session, session.exec(select(MessageThread)).one())
        session.commit()
    assert _get(good).status_code == 404  # the conversation's link was renewed
    with owner_session() as session:
        assert (
            session.exec(
                select(AuditEvent).where(AuditEvent.action == "attachment.fetched_by_patient")
            ).all()
            == []
        )


def test_a_photo_the_clinic_sent_is_served_as_its_preview(world: dict[str, Any]) -> None:
    from mi_portal.services import patient_photos
    from mi_portal.services.intake import add_photo_rows
    from tests.intake_helpers import photos
    from tests.reply_helpers import staff

    w = world["w"]
    [photo] = photos(1)
    [keys] = patient_photos.write(w.a, [photo])
    with tenant_session(w.a) as session:
        image_id = add_photo_rows(session, w.a_submission, 9, photo, keys)
        session.commit()
    attachment = MessageAttachment(
        kind="photo", image_id=image_id, display_name="marked.jpg", content_type="image/jpeg"
    )
    messaging.send_message(
        staff(w.a), w.a_submission, channel="email", subject="Marked", body="See the marks",
        attachments=[attachment],
    )  # fmt: skip
    lines = patient_reply.view(world["a"]).messages
    url = str(lines[-1]["attachments"][0]["url"])  # type: ignore[index]
    answer = _get(url)
    preview = next(r for r in photo.renditions if r.kind == "preview")
    assert answer.status_code == 200 and answer.content == preview.data
    assert answer.headers["content-type"] == "image/jpeg"
