"""Files staff attach to a message: PDFs (magic bytes checked, size-capped) and photos.

A file is stored when it is chosen, before the message exists: a photo goes through the image
pipeline and becomes a case photo (renditions in the blob store like the patient's own); a PDF
is one object under the clinic's prefix. ``Staged`` describes it; ``attachment_rows`` turns what
the page staged into ``MessageAttachment`` rows for ``messaging.send_message``, checking again
that each one belongs to this clinic and this case.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import MessageAttachment, SubmissionImage
from mi_portal.services import audit
from mi_portal.services.actor import Actor
from mi_portal.services.cases import case_in_clinic
from mi_portal.services.images import process_image, sanitise_display_name
from mi_portal.services.intake import add_photo_rows, object_key
from mi_portal.services.permissions import Permission, check
from mi_portal.storage import BlobStore, get_store

MAX_PDF_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 5
PDF_MAGIC = b"%PDF-"


class AttachmentRefused(ValueError):
    """A file that cannot be attached, said in a sentence."""


@dataclass(frozen=True)
class Staged:
    kind: str  # "photo" or "pdf"
    display_name: str
    content_type: str
    byte_size: int
    sha256: str
    storage_key: str = ""  # a PDF's object
    image_id: str = ""  # a photo's case image

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pdf_name(filename: str | None) -> str:
    name = sanitise_display_name(filename)
    return name if name.lower().endswith(".pdf") else f"{name[:96]}.pdf"


def stage_pdf(
    actor: Actor,
    submission_id: object,
    data: bytes,
    filename: str | None,
    *,
    store: BlobStore | None = None,
) -> Staged:
    """Check and store a PDF for the case's next message."""
    check(actor, Permission.MESSAGES_SEND)
    tenant_id = actor.require_tenant()
    if not data:
        raise AttachmentRefused("This file is empty.")
    if len(data) > MAX_PDF_BYTES:
        raise AttachmentRefused("A PDF can be at most 5 MB.")
    if not data.startswith(PDF_MAGIC):
        raise AttachmentRefused("This file is not a PDF.")
    with tenant_session(tenant_id) as session:
        case_in_clinic(session, actor, submission_id)  # NotFound for another clinic's case
    store = store or get_store()
    key = f"{tenant_id}/{uuid.uuid4().hex}/document.pdf"
    store.put(key, data, content_type="application/pdf")
    return Staged(
        kind="pdf",
        display_name=_pdf_name(filename),
        content_type="application/pdf",
        byte_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_key=key,
    )


def stage_photo(
    actor: Actor,
    submission_id: object,
    data: bytes,
    filename: str | None,
    *,
    store: BlobStore | None = None,
) -> Staged:
    """Run a photo through the image pipeline and keep it as a photo of the case."""
    check(actor, Permission.MESSAGES_SEND)
    tenant_id = actor.require_tenant()
    photo = process_image(data, filename)  # ImageRejected says why
    store = store or get_store()
    stored = []
    for rendition in photo.renditions:
        key = object_key(tenant_id, rendition.kind)
        store.put(key, rendition.data, content_type=rendition.content_type)
        stored.append((key, rendition))
    try:
        with tenant_session(tenant_id) as session:
            case = case_in_clinic(session, actor, submission_id)
            last = session.exec(
                select(func.max(SubmissionImage.position)).where(
                    SubmissionImage.submission_id == case.id
                )
            ).one()
            image_id = add_photo_rows(
                session, case.id, (last if last is not None else -1) + 1, photo, stored
            )
            session.commit()
            case_id = case.id
    except Exception:
        for key, _ in stored:
            store.delete(key)
        raise
    audit.record(
        actor,
        "photo.added",
        target_type="submission",
        target_id=case_id,
        details={"image": str(image_id), "for": "message"},
    )
    original = photo.original
    return Staged(
        kind="photo",
        display_name=photo.display_name,
        content_type=original.content_type,
        byte_size=len(original.data),
        sha256=original.sha256,
        image_id=str(image_id),
    )


def discard(actor: Actor, staged: Staged, *, store: BlobStore | None = None) -> None:
    """Drop a PDF that will not be sent (a staged photo stays: it is a photo of the case)."""
    tenant_id = actor.require_tenant()
    if staged.kind == "pdf" and staged.storage_key.startswith(f"{tenant_id}/"):
        (store or get_store()).delete(staged.storage_key)


def from_dict(raw: dict[str, Any]) -> Staged:
    return Staged(**{k: raw[k] for k in Staged.__dataclass_fields__ if k in raw})


def attachment_rows(
    actor: Actor,
    submission_id: object,
    staged: list[Staged],
    *,
    lent: ScopedSession | None = None,
) -> list[MessageAttachment]:
    """Rows for ``send_message``; anything not of this clinic's case is refused (``lent``: see
    ``tenant_session``)."""
    tenant_id = actor.require_tenant()
    if len(staged) > MAX_ATTACHMENTS:
        raise AttachmentRefused(f"A message can carry at most {MAX_ATTACHMENTS} files.")
    rows: list[MessageAttachment] = []
    with tenant_session(tenant_id, lent=lent) as session:
        case = case_in_clinic(session, actor, submission_id)
        wanted = [uuid.UUID(s.image_id) for s in staged if s.kind == "photo"]
        known = set(
            session.exec(
                select(SubmissionImage.id).where(
                    SubmissionImage.submission_id == case.id, col(SubmissionImage.id).in_(wanted)
                )
            ).all()
        )
        for s in staged:
            if s.kind == "photo":
                if uuid.UUID(s.image_id) not in known:
                    raise AttachmentRefused("One of the photos is no longer available.")
            elif s.kind != "pdf" or not s.storage_key.startswith(f"{tenant_id}/"):
                raise AttachmentRefused("One of the files is no longer available.")
            rows.append(
                MessageAttachment(  # type: ignore[call-arg]  (message_id: set by send_message)
                    kind=s.kind,
                    image_id=uuid.UUID(s.image_id) if s.image_id else None,
                    display_name=s.display_name,
                    content_type=s.content_type,
                    byte_size=s.byte_size,
                    sha256=s.sha256,
                    storage_key=s.storage_key or None,
                )
            )
    return rows
