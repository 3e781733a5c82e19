"""A patient's emailed answer: routed by the reply address to its thread, stored once.

The reply address (``reply+<clinic>.<key>@…``, the Reply-To of every email the clinic sends)
names the clinic and the thread's current key. An address of a clinic that does not hold the
key, or a retired key, opens nothing: the email is ignored and nothing is stored. The text
part is kept without the quoted earlier messages; image attachments go through the image
pipeline and become case photos; anything else is dropped.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import uuid
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import Message, MessageChannel, MessageThread, Tenant
from mi_portal.services import messaging, patient_photos
from mi_portal.services.images import ImageRejected, ProcessedImage, process_image

log = logging.getLogger(__name__)

MAX_EMAIL_BYTES = 10 * 1024 * 1024
RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")
STORED, DUPLICATE, IGNORED = "stored", "duplicate", "ignored"

# Where the quoted earlier conversation starts in common mail programs.
_QUOTE_STARTS = (
    re.compile(r"^\s*On .{0,300}wrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*Le .{0,300}a écrit\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*Am .{0,300}schrieb .{0,200}:\s*$", re.IGNORECASE),
)


@dataclass(frozen=True)
class Received:
    outcome: str  # stored, duplicate or ignored
    tenant_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    photos: int = 0


def strip_quoted(text: str) -> str:
    """The patient's new words: everything above the quoted earlier messages."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        after = lines[i + 1] if i + 1 < len(lines) else ""
        if any(p.match(line) for p in _QUOTE_STARTS):
            break
        # "On Tue, 1 Dec 2026 at 10:00, Clinic <x@y>" + "wrote:" on the next line (wrapped).
        if re.match(r"^\s*On .{5,300}$", line) and re.match(
            r"^.{0,200}wrote:\s*$", after, re.IGNORECASE
        ):
            break
        # Outlook: a header block ("From: …" then "Sent: …" or "Date: …") starts the quote.
        if re.match(r"^\s*From: ", line) and re.match(r"^\s*(Sent|Date): ", after):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a damaged part
        return ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = re.sub(r"(?is)<(script|style|blockquote)\b.*?</\1>", "", content)
        content = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", content)
        content = html.unescape(re.sub(r"<[^>]+>", "", content))
    return content


def _reply_targets(message: EmailMessage) -> list[tuple[uuid.UUID, str]]:
    found: list[tuple[uuid.UUID, str]] = []
    for header in RECIPIENT_HEADERS:
        values = [str(v) for v in message.get_all(header, [])]
        for _name, address in getaddresses(values):
            parsed = messaging.parse_reply_address(address)
            if parsed is not None and parsed not in found:
                found.append(parsed)
    return found


def _photos(message: EmailMessage) -> list[ProcessedImage]:
    photos: list[ProcessedImage] = []
    for part in message.iter_attachments():
        if len(photos) >= patient_photos.MAX_REPLY_PHOTOS:
            break
        if part.get_content_maintype() != "image":
            continue  # only photos are taken; documents and the like are dropped
        try:
            data = part.get_content()
        except (LookupError, ValueError):
            continue
        if not isinstance(data, bytes):
            continue
        try:
            photos.append(process_image(data, part.get_filename()))
        except ImageRejected:
            log.info("an emailed attachment was not a usable photo; it was dropped")
    return photos


def _external_id(message: EmailMessage, raw: bytes) -> str:
    given = str(message.get("message-id", "") or "").strip()
    if given and len(given) <= 300:
        return given
    return "sha256:" + hashlib.sha256(raw).hexdigest()  # no usable Message-ID: the bytes are


def _find_thread(targets: list[tuple[uuid.UUID, str]]) -> tuple[uuid.UUID, uuid.UUID] | None:
    for tenant_id, key in targets:
        with tenant_session(tenant_id) as session:
            clinic = session.get(Tenant, tenant_id)
            if clinic is None or not clinic.active:
                continue  # a suspended or closing clinic takes nothing in, like its other doors
            thread = messaging.thread_for_key(session, key)
            if thread is not None:
                return tenant_id, thread.id
    return None


def receive_email(raw: bytes, *, ip: str | None = None) -> Received:
    """Store an inbound email in its thread; ``ignored`` when no current reply address matches."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    found = _find_thread(_reply_targets(message))
    if found is None:
        return Received(IGNORED)
    tenant_id, thread_id = found
    external_id = _external_id(message, raw)
    with tenant_session(tenant_id) as session:
        seen = session.exec(select(Message.id).where(Message.external_id == external_id)).first()
    if seen is not None:
        return Received(DUPLICATE, tenant_id)
    body = strip_quoted(_text_of(message))
    photos = _photos(message)
    if not body and not photos:
        return Received(IGNORED, tenant_id)
    written = patient_photos.write(tenant_id, photos) if photos else []
    try:
        with tenant_session(tenant_id) as session:
            thread = session.get(MessageThread, (tenant_id, thread_id))
            assert thread is not None
            stored = messaging.append_inbound(
                session,
                thread,
                channel=MessageChannel.EMAIL.value,
                body=body,
                subject=str(message.get("subject", "") or ""),
                external_id=external_id,
            )
            if stored is None:  # the same email, posted twice at once
                session.rollback()
                patient_photos.discard(written)
                return Received(DUPLICATE, tenant_id)
            patient_photos.attach(session, thread, stored, photos, written)
            messaging.record_received(session, thread, stored, ip=ip, photos=len(photos))
            message_id = stored.id
            session.commit()
    except IntegrityError:  # the same email, stored by a concurrent post a moment earlier
        patient_photos.discard(written)
        return Received(DUPLICATE, tenant_id)
    except Exception:
        patient_photos.discard(written)
        raise
    return Received(STORED, tenant_id, message_id, len(photos))
