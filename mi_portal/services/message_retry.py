"""Staff retry a failed delivery: the outbox row goes back to the queue (nothing is sent here)."""

from __future__ import annotations

from mi_portal.db import tenant_session
from mi_portal.models import Message, MessageThread, OutboxMessage, OutboxStatus
from mi_portal.services import audit, clock
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.permissions import Permission, check


class NotRetryable(ValueError):
    """Only a failed delivery can be tried again."""


def retry(actor: Actor, outbox_id: object) -> None:
    """Put a failed delivery back in the queue for the worker; audited as ``message.retry``."""
    check(actor, Permission.MESSAGES_SEND)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        row = session.get(OutboxMessage, (tenant_id, parse_id(outbox_id, "delivery")))
        if row is None or row.message_id is None:
            raise NotFound("delivery")
        if row.status != OutboxStatus.FAILED.value:
            raise NotRetryable("Only a failed message can be sent again.")
        message = session.get(Message, (tenant_id, row.message_id))
        thread = session.get(MessageThread, (tenant_id, message.thread_id)) if message else None
        if thread is None:
            raise NotFound("delivery")
        row.status = OutboxStatus.PENDING.value
        row.attempts = 0
        row.next_attempt_at = clock.now()
        row.claimed_by = row.claimed_until = None
        row.last_error = None
        session.add(row)
        session.commit()
        target, message_id = thread.submission_id, row.message_id
    audit.record(
        actor,
        "message.retry",
        target_type="submission",
        target_id=target,
        details={"message": str(message_id), "delivery": str(outbox_id)},
    )
