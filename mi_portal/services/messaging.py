"""Conversations with patients: one thread per case, sent through the outbox, read per user.

A staff message is rendered (template variables, sandboxed), checked against the patient's
consent ledger and written with its outbox row in one transaction (``send_message``). Opening a
conversation marks its inbound messages read for that user only (``ThreadRead``). Patients
answer by email (Reply-To carries the thread's reply key), by SMS, or on the reply page
(``/m/<token>``, a signed expiring link); every inbound path ends in ``append_inbound``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from mi_portal.db import (
    TENANT_KEY,
    ScopedSession,
    TenantScopeError,
    platform_session,
    tenant_session,
)
from mi_portal.models import (
    ConsentKind,
    Message,
    MessageAttachment,
    MessageChannel,
    MessageDirection,
    MessageThread,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Patient,
    Submission,
    Tenant,
    ThreadRead,
    User,
)
from mi_portal.models.base import uuid7
from mi_portal.services import audit, business_time, clinic_time, clock, consent, outbox
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.cases import case_in_clinic
from mi_portal.services.inbox import full_identity, mask_email, mask_name, mask_phone, reference
from mi_portal.services.message_templates import (
    LATER,
    TemplateProblem,
    check_subject,
    render,
    render_message,
    template_for_send,
)
from mi_portal.services.permissions import Permission, check
from mi_portal.services.phones import InvalidPhone, to_e164
from mi_portal.services.reply_keys import (  # noqa: F401  (the conversation's public names)
    REPLY_LINK_DAYS,
    REPLY_PURPOSE,
    REPLY_SUBJECT,
    _ensure_key,
    current_key,
    open_reply_token,
    parse_reply_address,
    renew_reply_key,
    reply_address,
    reply_link,
    thread_for_key,
)
from mi_portal.services.text import TextTooLong, clean_text

MAX_BODY = 5_000
MAX_SMS = 640  # four segments
MAX_SUBJECT = 200
REPLY_LINK_SHOWN = "[the patient's reply link]"

DELIVERY_LABELS = {
    OutboxStatus.PENDING.value: "Queued",
    OutboxStatus.CLAIMED.value: "Queued",
    OutboxStatus.SENDING.value: "Sending",
    OutboxStatus.SENT.value: "Sent",
    OutboxStatus.DELIVERED.value: "Delivered",
    OutboxStatus.FAILED.value: "Failed",
}


class ConsentRefused(ValueError):
    """The patient's consent does not allow this message on this channel."""


# ---------------------------------------------------------------------------------------------
# Threads


def thread_for_case(session: ScopedSession, case: Submission) -> MessageThread:
    """The case's thread, created (with its reply key) the first time it is needed."""
    thread = session.exec(
        select(MessageThread)
        .where(MessageThread.submission_id == case.id)
        .order_by(col(MessageThread.created_at))
        .limit(1)
    ).first()
    if thread is None:
        thread = MessageThread(submission_id=case.id, tenant_id=case.tenant_id)
        _ensure_key(thread)
        session.add(thread)
        session.flush()
    elif not thread.patient_link_hash:
        _ensure_key(thread)
        session.add(thread)
    return thread


def unread_count(session: ScopedSession, thread_id: uuid.UUID, user_id: uuid.UUID | None) -> int:
    """Inbound messages of the thread newer than the user's read marker."""
    marker = _read_until(session, thread_id, user_id)
    stmt = select(func.count()).where(
        Message.thread_id == thread_id, Message.direction == MessageDirection.INBOUND.value
    )
    if marker is not None:
        stmt = stmt.where(col(Message.created_at) > marker)
    return int(session.exec(stmt).one())


def _read_until(
    session: ScopedSession, thread_id: uuid.UUID, user_id: uuid.UUID | None
) -> datetime | None:
    if user_id is None:
        return None
    return session.exec(
        select(ThreadRead.read_until).where(
            ThreadRead.thread_id == thread_id, ThreadRead.user_id == user_id
        )
    ).first()


def mark_read(
    session: ScopedSession, thread_id: uuid.UUID, user_id: uuid.UUID, newest: datetime
) -> None:
    """Move the user's marker on the thread to ``newest``, the newest inbound message shown:
    one statement, created if missing, never moved backwards. Another tab of the same user
    marking the thread at the same moment cannot make it fail (the unique key's conflict is
    the update), so it can share a transaction with other writes."""
    tenant_id = session.info.get(TENANT_KEY)
    if not isinstance(tenant_id, uuid.UUID):
        raise TenantScopeError("a read marker is written in its clinic's session")
    upsert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = ThreadRead.__table__  # type: ignore[attr-defined]
    statement = upsert(table).values(
        tenant_id=tenant_id, id=uuid7(), thread_id=thread_id, user_id=user_id, read_until=newest
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.tenant_id, table.c.thread_id, table.c.user_id],
        set_={"read_until": statement.excluded.read_until},
        where=table.c.read_until < statement.excluded.read_until,
    )
    session.execute(statement)


# ---------------------------------------------------------------------------------------------
# The conversation as staff see it


@dataclass(frozen=True)
class AttachmentLine:
    id: str
    kind: str
    name: str
    size: str


@dataclass(frozen=True)
class MessageLine:
    id: str
    direction: str
    channel: str
    author: str
    subject: str
    body: str
    created_at: str
    delivery: str
    delivery_state: str
    failure: str
    outbox_id: str
    unread: bool
    attachments: list[AttachmentLine] = field(default_factory=list)


@dataclass(frozen=True)
class Conversation:
    thread_id: str
    submission_id: str
    reference: str
    patient_name: str
    patient_email: str
    patient_phone: str
    sms_allowed: bool
    marketing_allowed: bool
    can_send: bool
    unread: int
    messages: list[MessageLine]
    consent: list[consent.ConsentLine]


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{max(1, n // 1024)} KB"


def conversation(
    actor: Actor,
    submission_id: object,
    *,
    mark: bool = True,
    lent: ScopedSession | None = None,
) -> Conversation:
    """The case's thread, oldest message first; opening it marks inbound messages read for
    this user (audited as a view of the conversation). With a ``lent`` session (see
    ``tenant_session``) the marker is written in the lender's transaction, which the lender
    commits; alone, it is committed here."""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id, lent=lent) as session:
        case = case_in_clinic(session, actor, submission_id)
        patient = session.get(Patient, (tenant_id, case.patient_id))
        tenant = session.get(Tenant, tenant_id)
        assert patient is not None and tenant is not None
        where = business_time.zone(tenant.timezone)
        # The thread and this user's read marker on it, in one statement.
        found = session.exec(
            select(MessageThread, ThreadRead.read_until)
            .outerjoin(
                ThreadRead,
                sa.and_(
                    col(ThreadRead.tenant_id) == col(MessageThread.tenant_id),
                    col(ThreadRead.thread_id) == col(MessageThread.id),
                    col(ThreadRead.user_id) == actor.user_id,
                ),
            )
            .where(MessageThread.submission_id == case.id)
            .order_by(col(MessageThread.created_at))
            .limit(1)
        ).first()
        thread, marker = found if found is not None else (None, None)
        lines: list[MessageLine] = []
        unread = 0
        if thread is not None:
            messages = session.exec(
                select(Message)
                .where(Message.thread_id == thread.id)
                .order_by(col(Message.created_at), col(Message.id))
            ).all()
            ids = [m.id for m in messages]
            deliveries: dict[uuid.UUID, OutboxMessage] = {}
            attachments: dict[uuid.UUID, list[AttachmentLine]] = {}
            if ids:
                for row in session.exec(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.message_id).in_(ids))
                    .order_by(col(OutboxMessage.created_at))
                ):
                    assert row.message_id is not None
                    deliveries[row.message_id] = row
                for a in session.exec(
                    select(MessageAttachment)
                    .where(col(MessageAttachment.message_id).in_(ids))
                    .order_by(col(MessageAttachment.created_at))
                ):
                    attachments.setdefault(a.message_id, []).append(
                        AttachmentLine(str(a.id), a.kind, a.display_name, _size(a.byte_size))
                    )
            authors = _names(
                {m.sender_user_id for m in messages if m.sender_user_id}, session=session
            )
            for m in messages:
                inbound = m.direction == MessageDirection.INBOUND.value
                is_unread = inbound and (marker is None or m.created_at > marker)
                unread += int(is_unread)
                d = deliveries.get(m.id)
                lines.append(
                    MessageLine(
                        id=str(m.id),
                        direction=m.direction,
                        channel=m.channel,
                        author="Patient" if inbound else authors.get(m.sender_user_id, "Clinic"),
                        subject=m.subject,
                        body=m.body,
                        created_at=clinic_time.minutes(m.created_at, where),
                        delivery=DELIVERY_LABELS.get(d.status, d.status) if d else "",
                        delivery_state=d.status if d else "",
                        failure=(d.last_error or "") if d and d.status == "failed" else "",
                        outbox_id=str(d.id) if d else "",
                        unread=is_unread,
                        attachments=attachments.get(m.id, []),
                    )
                )
            # Nothing unread: the marker already covers every inbound message shown, and no
            # write is needed. Else it moves to the newest inbound message shown: one arriving
            # meanwhile was not shown, so it stays unread.
            if mark and actor.user_id is not None and unread:
                newest = max(
                    m.created_at for m in messages if m.direction == MessageDirection.INBOUND.value
                )
                mark_read(session, thread.id, actor.user_id, newest)
                if lent is None:
                    session.commit()
        show = full_identity(actor, tenant.settings)
        history = consent.history(session, patient.id)
        sms_ok = consent.granted_in(history, ConsentKind.SMS_OPT_IN)
        marketing_ok = consent.granted_in(history, ConsentKind.MARKETING_OPT_IN)
        view = Conversation(
            thread_id=str(thread.id) if thread else "",
            submission_id=str(case.id),
            reference=reference(case.id),
            patient_name=patient.full_name if show else mask_name(patient.full_name),
            patient_email=patient.email if show else mask_email(patient.email),
            patient_phone=(patient.phone or "") if show else mask_phone(patient.phone),
            sms_allowed=sms_ok and bool(patient.phone),
            marketing_allowed=marketing_ok,
            can_send=_may_send(actor),
            unread=unread,
            messages=lines,
            consent=history,
        )
    audit.record(
        actor,
        "thread.viewed",
        target_type="submission",
        target_id=case.id,
        details={"unread_marked": unread} if unread else None,
    )
    return view


def _may_send(actor: Actor) -> bool:
    from mi_portal.services.permissions import has_permission

    return has_permission(actor, Permission.MESSAGES_SEND)


def _names(
    user_ids: set[uuid.UUID | None], *, session: ScopedSession | None = None
) -> dict[uuid.UUID | None, str]:
    """Staff names by id (through ``session`` when given: user accounts are readable there)."""
    ids = [u for u in user_ids if u is not None]
    if not ids:
        return {}
    query = select(User.id, User.full_name).where(col(User.id).in_(ids))
    if session is not None:
        return dict(session.exec(query).all())
    with platform_session() as own:
        return dict(own.exec(query).all())


# ---------------------------------------------------------------------------------------------
# Sending


@dataclass(frozen=True)
class Prepared:
    channel: str
    recipient: str
    subject: str
    body: str
    # What staff see and what the thread keeps: the patient's reply link is a credential (it
    # lets its holder answer as the patient), so only the outgoing copy carries it.
    shown_body: str
    html_body: str | None
    template_id: uuid.UUID | None
    marketing: bool


def _values(
    session: ScopedSession, actor: Actor, case: Submission, patient: Patient, thread: MessageThread
) -> dict[str, str]:
    tenant = session.get(Tenant, case.tenant_id)
    staff = _names({actor.user_id}).get(actor.user_id, "") if actor.user_id else ""
    first = (patient.full_name.split() or [""])[0]
    return {
        "patient.first_name": first,
        "clinic.name": tenant.name if tenant else "",
        "case.reference": reference(case.id),
        "staff.name": staff,
        "reply_link": reply_link(thread),
    }


def _prepare(
    session: ScopedSession,
    actor: Actor,
    case: Submission,
    thread: MessageThread,
    *,
    channel: str,
    subject: object,
    body: object,
    template_id: object,
    links: dict[str, tuple[str, str]] | None = None,
) -> Prepared:
    """The message as it would go. ``links``: variable → (what the patient gets, what staff see),
    for credentials such as the quote link that only the outgoing copy may carry."""
    patient = session.get(Patient, (case.tenant_id, case.patient_id))
    assert patient is not None
    if channel not in (MessageChannel.EMAIL.value, MessageChannel.SMS.value):
        raise ValueError("Choose email or text message.")
    limit = MAX_SMS if channel == MessageChannel.SMS.value else MAX_BODY
    try:
        raw_subject = clean_text(subject, max_length=MAX_SUBJECT)
        raw_body = clean_text(body, max_length=limit, multiline=True)
    except TextTooLong as exc:
        raise ValueError(str(exc)) from None
    if not raw_body:
        raise ValueError("Write the message first.")
    if channel == MessageChannel.EMAIL.value and not raw_subject:
        raise ValueError("An email needs a subject.")
    marketing, chosen = False, None
    if template_id not in (None, ""):
        template = template_for_send(actor, parse_id(template_id, "template"))
        marketing, chosen = template.marketing, template.id
    check_subject(raw_subject)
    links = dict(links or {})
    for later in LATER:
        if later in links or (later not in raw_body and later not in raw_subject):
            continue
        found = _later_link(session, case, later)
        if found is None:
            raise TemplateProblem(
                "{{ " + later + " }} needs a quote sent to the patient; send the quote first."
            )
        links[later] = found
    values = _values(session, actor, case, patient, thread)
    values.update({name: given for name, (given, _shown) in links.items()})
    rendered_subject, text, page = render_message(raw_subject, raw_body, values)
    shown = render(
        raw_body,
        {**values, "reply_link": REPLY_LINK_SHOWN}
        | {name: seen for name, (_given, seen) in links.items()},
    )
    if channel == MessageChannel.SMS.value:
        if not consent.current(session, patient.id, ConsentKind.SMS_OPT_IN):
            raise ConsentRefused("The patient has not agreed to text messages.")
        try:
            recipient = to_e164(patient.phone or "")
        except InvalidPhone:
            raise ValueError("The patient's phone number cannot receive text messages.") from None
        if len(text) > MAX_SMS:
            raise ValueError(f"A text message is limited to {MAX_SMS} characters.")
        rendered_subject, page_or_none = "", None
    else:
        recipient = outbox.normal_recipient(MessageChannel.EMAIL.value, patient.email)
        page_or_none = page
    if marketing and not consent.current(session, patient.id, ConsentKind.MARKETING_OPT_IN):
        raise ConsentRefused("The patient has not agreed to marketing messages.")
    return Prepared(
        channel=channel,
        recipient=recipient,
        subject=rendered_subject,
        body=text,
        shown_body=shown,
        html_body=page_or_none,
        template_id=chosen,
        marketing=marketing,
    )


def _later_link(session: ScopedSession, case: Submission, name: str) -> tuple[str, str] | None:
    """The value of a link variable that needs more than the conversation (the quote link)."""
    from mi_portal.services import quotes  # quotes sends through this module

    if name == "quote.link":
        return quotes.current_link(session, case)
    return None


def _draft(
    session: ScopedSession, actor: Actor, submission_id: object, **fields: Any
) -> tuple[Submission, MessageThread, Prepared]:
    """The case, its thread and the message as it would go (preview and send alike)."""
    case = case_in_clinic(session, actor, submission_id)
    thread = thread_for_case(session, case)
    return case, thread, _prepare(session, actor, case, thread, **fields)


@dataclass(frozen=True)
class Preview:
    channel: str
    to: str
    subject: str
    body: str


def preview(
    actor: Actor,
    submission_id: object,
    *,
    channel: str,
    subject: object,
    body: object,
    template_id: object = None,
) -> Preview:
    """What the patient would receive; raises exactly what sending would raise."""
    check(actor, Permission.MESSAGES_SEND)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        case, thread, prepared = _draft(
            session, actor, submission_id,
            channel=channel, subject=subject, body=body, template_id=template_id,
        )  # fmt: skip
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        show = full_identity(actor, tenant.settings)
        session.rollback()  # a preview creates nothing
    to = prepared.recipient
    if not show:
        to = mask_phone(to) if channel == MessageChannel.SMS.value else mask_email(to)
    return Preview(channel=channel, to=to, subject=prepared.subject, body=prepared.shown_body)


def send_message(
    actor: Actor,
    submission_id: object,
    *,
    channel: str,
    subject: object,
    body: object,
    template_id: object = None,
    attachments: list[MessageAttachment] | None = None,
    lent: ScopedSession | None = None,
) -> str:
    """Store the message and queue its delivery in one transaction, committed here (a ``lent``
    session too, see ``tenant_session``); returns the message id."""
    check(actor, Permission.MESSAGES_SEND)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id, lent=lent) as session:
        case, thread, prepared = _draft(
            session, actor, submission_id,
            channel=channel, subject=subject, body=body, template_id=template_id,
        )  # fmt: skip
        message = _store_and_queue(session, actor, case, thread, prepared, attachments)
        message_id = message.id
        audit.record_in(
            session,
            "message.sent",
            actor=actor,
            target_type="submission",
            target_id=case.id,
            details={
                "message": str(message_id),
                "channel": prepared.channel,
                "template": str(prepared.template_id) if prepared.template_id else None,
                "attachments": len(attachments or []),
            },
        )
        session.commit()
    return str(message_id)


def _store_and_queue(
    session: ScopedSession,
    actor: Actor,
    case: Submission,
    thread: MessageThread,
    prepared: Prepared,
    attachments: list[MessageAttachment] | None = None,
) -> Message:
    """The thread's copy of the message and its outbox row, in the caller's transaction."""
    now = clock.now()
    message = Message(
        thread_id=thread.id,
        direction=MessageDirection.OUTBOUND.value,
        channel=prepared.channel,
        sender_user_id=actor.user_id,
        template_id=prepared.template_id,
        subject=prepared.subject,
        body=prepared.shown_body,
        created_at=now,
    )
    session.add(message)
    session.flush()
    for attachment in attachments or []:
        attachment.message_id = message.id
        session.add(attachment)
    outbox.enqueue(
        session,
        channel=prepared.channel,
        recipient=prepared.recipient,
        subject=prepared.subject,
        body=prepared.body + _attachment_note(attachments, thread, prepared.channel),
        html_body=prepared.html_body,
        kind=OutboxKind.PATIENT_MESSAGE,
        message_id=message.id,
        reply_to=reply_address(thread) if prepared.channel == "email" else None,
    )
    thread.last_message_at, thread.last_direction = now, MessageDirection.OUTBOUND.value
    if not thread.subject and prepared.subject:
        thread.subject = prepared.subject
    case.last_activity_at = now
    if case.first_response_at is None:
        # The clinic's first word to the patient on this case (whatever the channel or whether a
        # quote's message): what the first-response target measures.
        case.first_response_at = now
    session.add(thread)
    session.add(case)
    return message


def queue_in_session(
    session: ScopedSession,
    actor: Actor,
    case: Submission,
    *,
    channel: str,
    subject: str,
    body: str,
    links: dict[str, tuple[str, str]],
) -> Message:
    """A product message (the quote's) written to the case's conversation and queued, in the
    caller's transaction: the same rendering, consent checks and outbox as staff messages."""
    thread = thread_for_case(session, case)
    prepared = _prepare(
        session, actor, case, thread,
        channel=channel, subject=subject, body=body, template_id=None, links=links,
    )  # fmt: skip
    return _store_and_queue(session, actor, case, thread, prepared)


def _attachment_note(
    attachments: list[MessageAttachment] | None, thread: MessageThread, channel: str
) -> str:
    """Attachments are never put in an email or SMS: the patient opens them on the reply page."""
    if not attachments:
        return ""
    count = len(attachments)
    noun = "attachment" if count == 1 else "attachments"
    return f"\n\n{count} {noun} for you: {reply_link(thread)}"


# ---------------------------------------------------------------------------------------------
# Inbound


def append_inbound(
    session: ScopedSession,
    thread: MessageThread,
    *,
    channel: str,
    body: str,
    subject: str = "",
    external_id: str | None = None,
) -> Message | None:
    """Add the patient's message to ``thread`` (caller commits); None if already stored."""
    if external_id:
        seen = session.exec(select(Message.id).where(Message.external_id == external_id)).first()
        if seen is not None:
            return None
    try:
        text = clean_text(body, max_length=MAX_BODY, multiline=True, trim=True)
        clean_subject = clean_text(subject, max_length=MAX_SUBJECT, trim=True)
    except TextTooLong:  # pragma: no cover - trim never raises
        raise
    now = clock.now()
    message = Message(
        thread_id=thread.id,
        direction=MessageDirection.INBOUND.value,
        channel=channel,
        subject=clean_subject,
        body=text,
        external_id=external_id,
        created_at=now,
    )
    session.add(message)
    thread.last_message_at, thread.last_direction = now, MessageDirection.INBOUND.value
    session.add(thread)
    case = session.get(Submission, (thread.tenant_id, thread.submission_id))
    if case is not None:
        case.last_activity_at = now
        session.add(case)
    session.flush()
    return message


def record_received(
    session: ScopedSession,
    thread: MessageThread,
    message: Message,
    *,
    ip: str | None,
    user_agent: str | None = None,
    photos: int | None = None,
) -> None:
    """Record the patient's message in the clinic's audit chain in the transaction that stores
    it (the caller commits next): never a message without its event."""
    details: dict[str, object] = {"message": str(message.id), "channel": message.channel}
    if photos is not None:
        details["photos"] = photos
    audit.record_in(
        session,
        "message.received",
        tenant_id=thread.tenant_id,
        target_type="submission",
        target_id=thread.submission_id,
        ip=ip,
        user_agent=user_agent,
        details=details,
    )


def thread_by_id(session: ScopedSession, thread_id: object) -> MessageThread:
    row = session.get(MessageThread, (session.tenant_id, parse_id(thread_id, "thread")))
    if row is None:
        raise NotFound("thread")
    return row
