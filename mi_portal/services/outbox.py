"""The transactional outbox: the one way the product sends anything (email, SMS, notices).

Whoever decides to send writes an ``OutboxMessage`` row with ``enqueue`` in the same transaction
as the change it reports (a message in a thread, a new case, an opt-out), so either both are
stored or neither. A worker (``mi-portal outbox deliver``, or the app's in-process worker on the
embedded default) delivers the rows; nothing else opens an SMTP connection or calls an SMS
provider.
"""

from __future__ import annotations

import uuid

from mi_portal.db import ScopedSession
from mi_portal.models import MessageChannel, OutboxKind, OutboxMessage, OutboxStatus
from mi_portal.services import clock
from mi_portal.services.phones import to_e164
from mi_portal.services.text import clean_email

MAX_BODY = 10_000
MAX_SUBJECT = 200


def normal_recipient(channel: str, recipient: object) -> str:
    """The recipient in its one stored form; ``ValueError`` with a clear message otherwise."""
    if channel == MessageChannel.EMAIL:
        return clean_email(recipient)
    if channel == MessageChannel.SMS:
        return to_e164(recipient)
    raise ValueError(f"Unknown channel {channel!r}.")


def enqueue(
    session: ScopedSession,
    *,
    channel: str,
    recipient: object,
    body: str,
    subject: str = "",
    html_body: str | None = None,
    kind: OutboxKind | str = OutboxKind.PATIENT_MESSAGE,
    message_id: uuid.UUID | None = None,
    reply_to: str | None = None,
) -> OutboxMessage:
    """Queue one delivery in the caller's transaction (committed with it, never on its own)."""
    if len(body) > MAX_BODY or len(subject) > MAX_SUBJECT:
        raise ValueError("The message is too long to send.")
    row = OutboxMessage(
        message_id=message_id,
        kind=str(kind),
        channel=channel,
        recipient=normal_recipient(channel, recipient),
        subject=subject if channel == MessageChannel.EMAIL else "",
        body=body,
        html_body=html_body if channel == MessageChannel.EMAIL else None,
        reply_to=reply_to,
        status=OutboxStatus.PENDING.value,
        next_attempt_at=clock.now(),
    )
    session.add(row)
    return row
