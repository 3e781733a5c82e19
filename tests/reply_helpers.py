"""A conversation a patient can open: a staff message (with a PDF) and the patient's reply link."""

from __future__ import annotations

import uuid

from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import MessageAttachment, MessageThread, Role, User
from mi_portal.services import messaging
from mi_portal.services.actor import Actor
from mi_portal.storage import get_store
from tests.factories import make_user

PDF = b"%PDF-1.4\n% aftercare\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def staff(tenant_id: uuid.UUID, full_name: str = "Sam Rivera") -> Actor:
    user_id, _ = make_user(
        f"{uuid.uuid4().hex[:8]}@staff.test", role="coordinator", tenants=(tenant_id,)
    )
    with platform_session() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.full_name = full_name
        session.add(user)
        session.commit()
    return Actor(user_id=user_id, role=Role.COORDINATOR, tenant_id=tenant_id)


def pdf_attachment(tenant_id: uuid.UUID) -> MessageAttachment:
    key = f"{tenant_id}/{uuid.uuid4().hex}/attachment.pdf"
    get_store().put(key, PDF, content_type="application/pdf")
    return MessageAttachment(
        kind="pdf",
        display_name="aftercare.pdf",
        content_type="application/pdf",
        byte_size=len(PDF),
        storage_key=key,
    )


def clinic_writes(
    tenant_id: uuid.UUID, submission_id: uuid.UUID, body: str, *, with_pdf: bool = False
) -> str:
    """The clinic emails the patient; returns the reply page token of the case's thread."""
    attachments = [pdf_attachment(tenant_id)] if with_pdf else None
    messaging.send_message(
        staff(tenant_id),
        submission_id,
        channel="email",
        subject="About your photos",
        body=body,
        attachments=attachments,
    )
    return reply_token(tenant_id, submission_id)


def reply_token(tenant_id: uuid.UUID, submission_id: uuid.UUID) -> str:
    with tenant_session(tenant_id) as session:
        thread = session.exec(
            select(MessageThread).where(MessageThread.submission_id == submission_id)
        ).one()
        return messaging.reply_link(thread).rsplit("/m/", 1)[1]
