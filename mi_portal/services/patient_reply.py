"""The patient's reply page (``/m/<token>``): the conversation, a reply box, SMS consent.

The token is the only credential: every call opens it again (signature, expiry, the thread's
current key in the clinic it names), so a retired, altered, expired or foreign link opens
nothing, and every such case raises the same ``LinkInvalid``. The page shows what the patient
was sent and wrote, never internal notes (they are not messages), and staff by first name only.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import (
    ConsentKind,
    ImageRendition,
    Message,
    MessageAttachment,
    MessageChannel,
    MessageDirection,
    MessageThread,
    Patient,
    Submission,
    Tenant,
)
from mi_portal.services import audit, consent, messaging, patient_photos, signed_links
from mi_portal.services.clinic_brand import Brand, brand_of
from mi_portal.services.images import ProcessedImage
from mi_portal.services.inbound_sms import audit_consent, change_sms_consent
from mi_portal.services.inbox import reference
from mi_portal.services.text import TextTooLong, clean_text
from mi_portal.storage import get_store

log = logging.getLogger(__name__)

FILE_PURPOSE = "reply-file"
FILE_SUBJECT = "reply-page"
FILE_LIFETIME_SECONDS = 15 * 60
FILE_PATH = "/api/reply-files"
MAX_REPLY = messaging.MAX_BODY
CHANNEL_LABELS = {
    MessageChannel.EMAIL.value: "by email",
    MessageChannel.SMS.value: "by text message",
    MessageChannel.PORTAL.value: "on this page",
}


class LinkInvalid(Exception):
    """The link is expired, altered, retired or unknown (the page says no more than that)."""


class ClinicUnavailable(LinkInvalid):
    """A genuine link of a clinic that is suspended or closed: the page says it is not available."""


class ReplyProblem(ValueError):
    """What the patient sent cannot be stored as it is; the message says what to change."""


class ReplyFailed(RuntimeError):
    """The reply could not be stored just now (database, store or audit chain unavailable);
    nothing of it was kept. The message says so."""


@dataclass(frozen=True)
class ReplyView:
    clinic_name: str
    reference: str
    messages: list[dict[str, object]]
    sms_consent: bool
    has_phone: bool
    brand: Brand = Brand()


def _open(session: ScopedSession, tenant_id: uuid.UUID, key: str) -> tuple[MessageThread, Patient]:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise LinkInvalid
    if not tenant.active:
        raise ClinicUnavailable
    thread = messaging.thread_for_key(session, key)
    if thread is None or thread.tenant_id != tenant_id:
        raise LinkInvalid
    case = session.get(Submission, (tenant_id, thread.submission_id))
    patient = session.get(Patient, (tenant_id, case.patient_id)) if case else None
    if patient is None:
        raise LinkInvalid
    return thread, patient


def opened(token: object) -> tuple[uuid.UUID, str]:
    """(clinic, key) of a genuine reply token; ``LinkInvalid`` otherwise."""
    found = messaging.open_reply_token(token) if isinstance(token, str) else None
    if found is None:
        raise LinkInvalid
    return found


def _first_names(user_ids: set[uuid.UUID]) -> dict[uuid.UUID | None, str]:
    names = messaging._names(set(user_ids))  # noqa: SLF001  (same package)
    return {uid: (name.split() or ["The clinic"])[0] for uid, name in names.items()}


def file_link(tenant_id: uuid.UUID, key: str, attachment_id: uuid.UUID) -> str:
    token = signed_links.sign(
        FILE_PURPOSE,
        subject=FILE_SUBJECT,
        lifetime=FILE_LIFETIME_SECONDS,
        claims={"t": str(tenant_id), "a": str(attachment_id), "k": key},
    )
    return f"{FILE_PATH}/{attachment_id}?t={token}"


def _messages(
    session: ScopedSession, tenant_id: uuid.UUID, key: str, thread: MessageThread
) -> list[dict[str, object]]:
    rows = session.exec(
        select(Message)
        .where(Message.thread_id == thread.id)
        .order_by(col(Message.created_at), col(Message.id))
    ).all()
    ids = [m.id for m in rows]
    files: dict[uuid.UUID, list[dict[str, str]]] = {}
    if ids:
        for a in session.exec(
            select(MessageAttachment)
            .where(col(MessageAttachment.message_id).in_(ids))
            .order_by(col(MessageAttachment.created_at))
        ):
            files.setdefault(a.message_id, []).append(
                {"id": str(a.id), "name": a.display_name, "kind": a.kind}
            )
    staff = _first_names({m.sender_user_id for m in rows if m.sender_user_id})
    lines = []
    for m in rows:
        mine = m.direction == MessageDirection.INBOUND.value
        attachments = [
            {**f, "url": "" if mine else file_link(tenant_id, key, uuid.UUID(f["id"]))}
            for f in files.get(m.id, [])
        ]
        lines.append(
            {
                "id": str(m.id),
                "mine": mine,
                "author": "You" if mine else staff.get(m.sender_user_id, "The clinic"),
                "how": CHANNEL_LABELS.get(m.channel, ""),
                "when": m.created_at.strftime("%d %b %Y, %H:%M"),
                # The stored copy names the reply link without it; here, it is this page.
                "body": m.body.replace(messaging.REPLY_LINK_SHOWN, "this page"),
                "attachments": attachments,
            }
        )
    return lines


def view(token: object) -> ReplyView:
    """What the reply page shows for this link."""
    tenant_id, key = opened(token)
    with tenant_session(tenant_id) as session:
        thread, patient = _open(session, tenant_id, key)
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None  # _open checked it
        return ReplyView(
            clinic_name=tenant.name,
            reference=reference(thread.submission_id),
            messages=_messages(session, tenant_id, key, thread),
            sms_consent=consent.current(session, patient.id, ConsentKind.SMS_OPT_IN),
            has_phone=bool(patient.phone),
            brand=brand_of(tenant),
        )


def reply(
    token: object,
    *,
    body: object,
    photos: list[ProcessedImage],
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Add the patient's message (and photos, as case photos) to the thread."""
    tenant_id, key = opened(token)
    try:
        text = clean_text(body, max_length=MAX_REPLY, multiline=True)
    except TextTooLong:
        raise ReplyProblem(f"Keep your message under {MAX_REPLY} characters.") from None
    if not text and not photos:
        raise ReplyProblem("Write a message or add a photo.")
    if len(photos) > patient_photos.MAX_REPLY_PHOTOS:
        raise ReplyProblem(f"Add at most {patient_photos.MAX_REPLY_PHOTOS} photos.")
    with tenant_session(tenant_id) as session:
        _open(session, tenant_id, key)  # before anything is written
    written = patient_photos.write(tenant_id, photos) if photos else []
    try:
        with tenant_session(tenant_id) as session:
            thread, _patient = _open(session, tenant_id, key)
            message = messaging.append_inbound(
                session, thread, channel=MessageChannel.PORTAL.value, body=text or "(photos)"
            )
            assert message is not None
            patient_photos.attach(session, thread, message, photos, written)
            messaging.record_received(
                session, thread, message, ip=ip, user_agent=user_agent, photos=len(photos)
            )
            session.commit()
    except LinkInvalid:
        patient_photos.discard(written)
        raise
    except Exception as exc:
        patient_photos.discard(written)
        # The type only: a database error's detail can quote what was sent.
        log.warning("a reply could not be stored: %s", type(exc).__name__)
        raise ReplyFailed(
            "Your message could not be sent just now. Nothing was kept; please try again in a "
            "few minutes."
        ) from exc


def set_sms_consent(
    token: object, granted: bool, *, ip: str | None = None, user_agent: str | None = None
) -> bool:
    """Give or withdraw SMS consent from the reply page; True if it changed."""
    tenant_id, key = opened(token)
    with tenant_session(tenant_id) as session:
        _thread, patient = _open(session, tenant_id, key)
        changed = change_sms_consent(
            session, [patient.id], granted, source="reply_page", ip=ip, user_agent=user_agent
        )
        try:
            audit_consent(session, tenant_id, changed, granted, source="reply_page", ip=ip)
            session.commit()
        except Exception as exc:
            log.warning("a consent change could not be stored: %s", type(exc).__name__)
            raise ReplyFailed(
                "Your choice could not be saved just now. Nothing changed; please try again in "
                "a few minutes."
            ) from exc
    return bool(changed)


@dataclass(frozen=True)
class File:
    data: bytes
    content_type: str
    filename: str


def fetch_file(
    attachment_id: str, token: str, *, ip: str | None = None, user_agent: str | None = None
) -> File:
    """An attachment the clinic sent, for a genuine file link whose thread key is current."""
    try:
        wanted = uuid.UUID(attachment_id)
    except ValueError:
        raise LinkInvalid from None
    claims = signed_links.verify(FILE_PURPOSE, token, subject=FILE_SUBJECT)
    if claims is None or claims.get("a") != str(wanted):
        raise LinkInvalid
    try:
        tenant_id = uuid.UUID(claims["t"])
    except (KeyError, ValueError):
        raise LinkInvalid from None
    key = claims.get("k", "")
    with tenant_session(tenant_id) as session:
        thread, _patient = _open(session, tenant_id, key)
        row = session.get(MessageAttachment, (tenant_id, wanted))
        message = session.get(Message, (tenant_id, row.message_id)) if row else None
        if (
            row is None
            or message is None
            or message.thread_id != thread.id
            or message.direction != MessageDirection.OUTBOUND.value
        ):
            raise LinkInvalid
        storage_key, content_type = row.storage_key, row.content_type
        if row.kind == "photo" and row.image_id is not None:
            storage_key = session.exec(
                select(ImageRendition.storage_key).where(
                    ImageRendition.image_id == row.image_id, ImageRendition.kind == "preview"
                )
            ).first()
            content_type = "image/jpeg"
        name, kind, case_id = row.display_name, row.kind, thread.submission_id
    if not storage_key:
        raise LinkInvalid
    data = get_store().get(storage_key)
    audit.record(
        None,
        "attachment.fetched_by_patient",
        tenant_id=tenant_id,
        target_type="submission",
        target_id=case_id,
        ip=ip,
        user_agent=user_agent,
        details={"attachment": str(wanted), "kind": kind},
    )
    return File(data, content_type, name)
