"""Photos a patient sends with a reply (email attachment or reply page): they become case photos.

The pipeline is the intake's: ``images.process_image`` has already rebuilt each photo from its
pixels; here its renditions are written (and read back to verify) under the clinic's prefix,
then recorded as a ``SubmissionImage`` of the thread's case with its renditions, and as a
``MessageAttachment`` (kind photo) of the message, in the caller's transaction.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import func
from sqlmodel import select

from mi_portal.db import ScopedSession
from mi_portal.models import Message, MessageAttachment, MessageThread, SubmissionImage
from mi_portal.services.images import ProcessedImage, Rendition
from mi_portal.services.intake import _write_verified, add_photo_rows, object_key
from mi_portal.storage import BlobStore, get_store

log = logging.getLogger(__name__)

MAX_REPLY_PHOTOS = 5

Stored = list[list[tuple[str, Rendition]]]


def write(
    tenant_id: uuid.UUID, photos: list[ProcessedImage], store: BlobStore | None = None
) -> Stored:
    """Write every rendition of every photo (verified); on failure nothing written is kept."""
    store = store or get_store()
    written: Stored = []
    try:
        for photo in photos:
            keys: list[tuple[str, Rendition]] = []
            written.append(keys)
            for rendition in photo.renditions:
                key = object_key(tenant_id, rendition.kind)
                keys.append((key, rendition))
                _write_verified(store, key, rendition.data)
    except Exception:
        discard(written, store)
        raise
    return written


def discard(written: Stored, store: BlobStore | None = None) -> None:
    """Delete objects written for a reply that was not stored (duplicate or failure)."""
    store = store or get_store()
    for keys in written:
        for key, _rendition in keys:
            try:
                store.delete(key)
            except Exception:
                log.warning("could not delete an object; `mi-portal storage check` will find it")


def attach(
    session: ScopedSession,
    thread: MessageThread,
    message: Message,
    photos: list[ProcessedImage],
    written: Stored,
) -> int:
    """Record the written photos as case photos and as the message's attachments."""
    position = session.exec(
        select(func.max(SubmissionImage.position)).where(
            SubmissionImage.submission_id == thread.submission_id
        )
    ).one()
    start = -1 if position is None else int(position)
    for offset, (photo, keys) in enumerate(zip(photos, written, strict=True)):
        image_id = add_photo_rows(session, thread.submission_id, start + 1 + offset, photo, keys)
        original = photo.original
        session.add(
            MessageAttachment(
                message_id=message.id,
                kind="photo",
                image_id=image_id,
                display_name=photo.display_name,
                content_type=original.content_type,
                byte_size=len(original.data),
                sha256=original.sha256,
            )
        )
    return len(photos)
