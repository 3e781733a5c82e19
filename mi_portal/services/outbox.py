"""The transactional outbox: the one way the product sends anything (email, SMS, notices).

Whoever decides to send writes an ``OutboxMessage`` row with ``enqueue`` in the same transaction
as the change it reports (a message in a thread, a new case, an opt-out), so either both are
stored or neither. A worker (``mi-portal outbox deliver``, or the app's in-process worker on the
embedded default) delivers the rows; nothing else opens an SMTP connection or calls an SMS
provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select, update

from mi_portal.config import get_settings
from mi_portal.db import TENANT_KEY, ScopedSession, get_engine, platform_session, tenant_session
from mi_portal.models import (
    ConsentKind,
    Message,
    MessageChannel,
    MessageThread,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    PlatformOutboxMessage,
    Submission,
    Tenant,
)
from mi_portal.services import audit, channels, clock, consent, outbox_wake
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.permissions import Permission, check
from mi_portal.services.phones import to_e164
from mi_portal.services.text import clean_email

log = logging.getLogger(__name__)

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
        created_at=clock.now(),
    )
    session.add(row)
    outbox_wake.announce(session, session.info.get(TENANT_KEY))
    return row


def enqueue_platform(
    session: ScopedSession,
    *,
    channel: str,
    recipient: object,
    body: str,
    subject: str = "",
    html_body: str | None = None,
    kind: OutboxKind | str = OutboxKind.RIGHTS_NOTICE,
) -> PlatformOutboxMessage:
    """Queue one of the platform's own emails in the caller's ``platform_session`` transaction.

    The platform writes to people outside any clinic (a rights request's code, its answer) by
    email only: it holds no one's consent to text messages.
    """
    if channel != MessageChannel.EMAIL:
        raise ValueError("The platform sends email only.")
    if len(body) > MAX_BODY or len(subject) > MAX_SUBJECT:
        raise ValueError("The message is too long to send.")
    row = PlatformOutboxMessage(
        kind=str(kind),
        channel=channel,
        recipient=normal_recipient(channel, recipient),
        subject=subject,
        body=body,
        html_body=html_body,
        status=OutboxStatus.PENDING.value,
        next_attempt_at=clock.now(),
        created_at=clock.now(),
    )
    session.add(row)
    outbox_wake.announce(session, None)
    return row


PLATFORM_KEPT = timedelta(days=30)


def prune_platform(now: datetime | None = None) -> int:
    """Delete the platform's finished emails (codes, answers, package links) a month after
    they were queued: they hold an address and a text, and the request keeps its own record."""
    cutoff = (now or clock.now()) - PLATFORM_KEPT
    finished = [OutboxStatus.SENT.value, OutboxStatus.DELIVERED.value, OutboxStatus.FAILED.value]
    with platform_session() as session:
        deleted = session.execute(
            sa.delete(PlatformOutboxMessage).where(
                col(PlatformOutboxMessage.status).in_(finished),
                col(PlatformOutboxMessage.created_at) <= cutoff,
            )
        ).rowcount  # type: ignore[attr-defined]
        session.commit()
    return int(deleted or 0)


# ---- delivery --------------------------------------------------------------------------------
#
# A row moves pending → claimed → sending → sent (→ delivered, from an SMS status callback), or
# to failed. Each move is a committed compare-and-set on (status, claimed_by), so two workers
# never both move the same row, and the send happens only after "sending" is committed. A worker
# that dies leaves its rows claimed (never sent: back to pending once the lease runs out) or at
# most one row sending (maybe sent: marked failed "delivery uncertain", never resent by itself).

MAX_ATTEMPTS = 6
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
DEFAULT_BATCH = 100
DEFAULT_LEASE = 120
UNCERTAIN = "delivery uncertain: the worker stopped while sending; check before retrying"
PROVIDER_FAILED = "the provider could not deliver it"


@dataclass
class Counts:
    """What one delivery round did (numbers only: no address, no content)."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    uncertain: int = 0
    withdrawn: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return " ".join(f"{name}={getattr(self, name)}" for name in self.__dataclass_fields__)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try: doubling, capped, ±20 % jitter."""
    delay = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))


def default_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{threading.get_ident() % 100_000}"


# The two outboxes: a clinic's rows (``OutboxMessage``) and the platform's own.
Model = type[OutboxMessage] | type[PlatformOutboxMessage]


def tenant_ids() -> list[uuid.UUID]:
    """The clinics whose outboxes are worked: a suspended or closing clinic sends nothing (its
    rows wait, untouched, and go once it is reactivated)."""
    with platform_session() as session:
        return list(
            session.exec(select(Tenant.id).where(col(Tenant.active)).order_by(col(Tenant.id)))
        )


def _recover(
    session: ScopedSession, now: datetime, model: Model = OutboxMessage
) -> tuple[int, int]:
    """Rows whose worker's lease ran out: claimed → pending; sending → failed (maybe sent)."""
    expired = col(model.claimed_until) < now
    released = session.execute(
        update(model)
        .where(col(model.status) == OutboxStatus.CLAIMED.value, expired)
        .values(status=OutboxStatus.PENDING.value, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    uncertain = session.execute(
        update(model)
        .where(col(model.status) == OutboxStatus.SENDING.value, expired)
        .values(status=OutboxStatus.FAILED.value, last_error=UNCERTAIN, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return released.rowcount, uncertain.rowcount  # type: ignore[attr-defined]


OPTED_OUT = "the patient opted out of text messages before it was sent"


def _withdrawn(session: ScopedSession, now: datetime, *, claimed: uuid.UUID | None = None) -> int:
    """Fail due text messages to patients whose SMS consent ended after they were queued.

    Consent is checked when a message is written and again here, just before it could go: a STOP
    that arrives while a message waits (or waits for a retry) stops it. Acknowledgements of a
    STOP are automatic replies and are not patient messages, so they still go. With ``claimed``,
    checks that one row of this worker's, just before it is handed over.
    """
    waiting = (OutboxStatus.CLAIMED if claimed is not None else OutboxStatus.PENDING).value
    rows = session.exec(
        select(OutboxMessage.id, Submission.patient_id)
        .join(
            Message,
            sa.and_(
                col(Message.tenant_id) == OutboxMessage.tenant_id,
                col(Message.id) == OutboxMessage.message_id,
            ),
        )
        .join(
            MessageThread,
            sa.and_(
                col(MessageThread.tenant_id) == Message.tenant_id,
                col(MessageThread.id) == Message.thread_id,
            ),
        )
        .join(
            Submission,
            sa.and_(
                col(Submission.tenant_id) == MessageThread.tenant_id,
                col(Submission.id) == MessageThread.submission_id,
            ),
        )
        .where(
            col(OutboxMessage.channel) == MessageChannel.SMS.value,
            col(OutboxMessage.kind) == OutboxKind.PATIENT_MESSAGE.value,
            *(
                (col(OutboxMessage.id) == claimed, col(OutboxMessage.status) == waiting)
                if claimed is not None
                else (
                    col(OutboxMessage.status) == waiting,
                    col(OutboxMessage.next_attempt_at) <= now,
                )
            ),
        )
    ).all()
    refused = [
        row_id
        for row_id, patient_id in rows
        if not consent.current(session, patient_id, ConsentKind.SMS_OPT_IN)
    ]
    if refused:
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(refused), col(OutboxMessage.status) == waiting)
            .values(status=OutboxStatus.FAILED.value, last_error=OPTED_OUT)
            .execution_options(synchronize_session=False)
        )
    return len(refused)


def clinic_sms_number(tenant_id: uuid.UUID) -> str | None:
    """The clinic's own SMS number (E.164), or None when it sends from the platform's."""
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        own = (tenant.settings or {}).get("sms_number") if tenant is not None else None
    try:
        return to_e164(own) if own else None
    except ValueError:
        return None


def _claim(
    session: ScopedSession,
    now: datetime,
    claim: str,
    batch: int,
    lease: timedelta,
    model: Model = OutboxMessage,
) -> list[tuple[channels.Outgoing, int]]:
    """Claim up to ``batch`` due rows in one statement; rows locked by another worker are skipped."""
    pending = OutboxStatus.PENDING.value
    due = (
        select(model.id)
        .where(col(model.status) == pending, col(model.next_attempt_at) <= now)
        .order_by(col(model.next_attempt_at))
        .limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer at a time
    )
    session.execute(
        update(model)
        .where(col(model.id).in_(due), col(model.status) == pending)
        .values(status=OutboxStatus.CLAIMED.value, claimed_by=claim, claimed_until=now + lease)
        .execution_options(synchronize_session=False)
    )
    rows = session.exec(
        select(model)
        .where(col(model.claimed_by) == claim, col(model.status) == OutboxStatus.CLAIMED.value)
        .order_by(col(model.next_attempt_at), col(model.id))
    ).all()
    return [(channels.Outgoing.of(row), row.attempts) for row in rows]


@dataclass(frozen=True)
class _Moves:
    """The per-row moves of one outbox table, run once per message, so built once as plain
    statements: a clinic's table has the clinic in their WHERE (with row-level security under
    them on PostgreSQL); the platform's has no clinic."""

    model: Model
    start: Any
    sent: Any
    not_sent: Any


# What a platform row keeps of its text once sent: its emails carry one-time codes and links
# (a rights request's code, an invitation), which must not outlive their delivery in the table.
SENT_TEXT_FORGOTTEN = "(sent; the platform keeps no copy of the text)"


def _moves(model: Model, *, forget_text: bool = False) -> _Moves:
    t = model.__table__  # type: ignore[attr-defined]
    scoped = "tenant_id" in t.c
    row = sa.and_(
        *((t.c.tenant_id == sa.bindparam("tenant"),) if scoped else ()),
        t.c.id == sa.bindparam("row"),
        t.c.claimed_by == sa.bindparam("claim"),
    )
    start = (
        t.update()
        .where(row, t.c.status == OutboxStatus.CLAIMED.value)
        .values(status=OutboxStatus.SENDING.value, claimed_until=sa.bindparam("until"))
    )
    # A row still "sending", or marked uncertain meanwhile by another worker's recovery, takes
    # the outcome. An SMS status report may beat this commit: its "delivered" or "undelivered"
    # is kept.
    endable = t.c.status.in_(
        [OutboxStatus.SENDING.value, OutboxStatus.FAILED.value, OutboxStatus.DELIVERED.value]
    )
    by_provider = sa.or_(
        t.c.status == OutboxStatus.DELIVERED.value,
        sa.and_(t.c.status == OutboxStatus.FAILED.value, t.c.last_error == PROVIDER_FAILED),
    )
    sent = (
        t.update()
        .where(row, endable)
        .values(
            status=sa.case((by_provider, t.c.status), else_=OutboxStatus.SENT.value),
            last_error=sa.case((by_provider, t.c.last_error), else_=None),
            sent_at=sa.bindparam("sent_at"),
            provider_ref=sa.bindparam("ref"),
            attempts=sa.bindparam("attempts"),
            claimed_until=None,
            **({"body": SENT_TEXT_FORGOTTEN, "html_body": None} if forget_text else {}),
        )
    )
    not_sent = (
        t.update()
        .where(row, endable)
        .values(
            status=sa.bindparam("status"),
            attempts=sa.bindparam("attempts"),
            last_error=sa.bindparam("error"),
            next_attempt_at=sa.bindparam("next_at"),
            claimed_by=sa.bindparam("new_claim"),
            claimed_until=None,
        )
    )
    return _Moves(model, start, sent, not_sent)


CLINIC_MOVES = _moves(OutboxMessage)
PLATFORM_MOVES = _moves(PlatformOutboxMessage, forget_text=True)


def _failure(
    attempts: int, error: channels.DeliveryError, now: datetime, claim: str
) -> dict[str, Any]:
    """The parameters of ``_Moves.not_sent`` for a failed try: back to pending later, or failed."""
    tries = attempts + 1
    done = {"status": OutboxStatus.FAILED.value, "attempts": tries, "next_at": now}
    if error.uncertain:
        return {**done, "error": UNCERTAIN, "new_claim": claim}
    if error.permanent:
        return {**done, "error": error.reason, "new_claim": claim}
    if tries >= MAX_ATTEMPTS:
        return {
            **done,
            "error": f"gave up after {tries} attempts: {error.reason}",
            "new_claim": claim,
        }
    return {
        "status": OutboxStatus.PENDING.value,
        "attempts": tries,
        "error": error.reason,
        "next_at": now + backoff(tries),
        "new_claim": None,
    }


def _unexpected(exc: Exception, *, handed_over: bool) -> channels.DeliveryError:
    """A transport's bug rather than its answer: retried if nothing was handed over yet,
    otherwise the send may have happened, so it is never repeated."""
    log.warning("outbox send raised %s", type(exc).__name__)
    if handed_over:
        return channels.DeliveryError(f"unexpected {type(exc).__name__}", uncertain=True)
    return channels.DeliveryError(f"unexpected {type(exc).__name__} before sending")


def _step(
    session: ScopedSession,
    ended: tuple[Any, dict[str, Any]] | None,
    start: dict[str, Any],
    sms: bool = False,
    moves: _Moves = CLINIC_MOVES,
) -> bool:
    """Record how the last row ended and mark the next one "sending", in one commit.

    True if the next row is still ours. Runs beside the transport's preparation of that row
    (building it, opening the SMTP envelope), which hands nothing over before this returns.
    """
    connection = session.connection()
    if ended is not None:
        connection.execute(*ended)
    # A text waits in a batch for a while: the patient's consent is read again right here.
    if sms and _withdrawn(session, clock.now(), claimed=start["row"]):
        session.commit()
        return False
    started = connection.execute(moves.start, start).rowcount == 1  # type: ignore[attr-defined]
    session.commit()
    return started


def _send_row(
    row: channels.Outgoing,
    attempts: int,
    step: Future[bool],
    transports: channels.Transports,
    claim: str,
    moves: _Moves = CLINIC_MOVES,
) -> tuple[Any, dict[str, Any], str] | None:
    """Send one row once its "sending" commit (``step``) is in; the statement recording how it
    ended (with its parameters) and the count it adds to, or None if the row was not ours."""
    handed_over: list[bool] = []

    def ready() -> None:
        if not step.result():
            raise channels.Abandon
        handed_over.append(True)

    ref: str | None = None
    failure: Exception | None = None
    try:
        ref = transports.for_channel(row.channel).send(row, ready)
    except channels.Abandon:
        return None  # the claim ran out and another worker has the row now
    except Exception as exc:
        failure = exc
    if not step.result():  # waits for the commit; a database error is raised here
        return None
    if failure is None:
        return moves.sent, {"sent_at": clock.now(), "ref": ref, "attempts": attempts + 1}, "sent"
    if not isinstance(failure, channels.DeliveryError):
        failure = _unexpected(failure, handed_over=bool(handed_over))
    values = _failure(attempts, failure, clock.now(), claim)
    return (
        moves.not_sent,
        values,
        "failed" if values["status"] == OutboxStatus.FAILED else "retrying",
    )


def _deliver(
    tenant_id: uuid.UUID | None,
    *,
    claim: str,
    batch: int,
    lease: timedelta,
    transports: channels.Transports,
    committer: ThreadPoolExecutor,
) -> Counts:
    """One clinic's due rows (``tenant_id``), or the platform's own (``None``)."""
    counts = Counts()
    moves = CLINIC_MOVES if tenant_id is not None else PLATFORM_MOVES
    opened = tenant_session(tenant_id) if tenant_id is not None else platform_session()
    with opened as session:
        now = clock.now()
        counts.released, counts.uncertain = _recover(session, now, moves.model)
        if tenant_id is not None:  # the platform sends no texts: no consent to read again
            counts.withdrawn = _withdrawn(session, now)
        rows = _claim(session, now, claim, batch, lease, moves.model)
        session.commit()
        counts.claimed = len(rows)
        own = clinic_sms_number(tenant_id) if rows and tenant_id is not None else None
        if own:
            rows = [(replace(row, sms_from=own), attempts) for row, attempts in rows]
        # One commit per row: how row i ended is committed with "row i+1 is being sent", so at
        # most one row of ours is ever "sending", and the transport waits for that commit
        # before it hands anything over. The session is used by one thread at a time.
        ended: tuple[Any, dict[str, Any]] | None = None
        step: Future[bool] | None = None
        try:
            for row, attempts in rows:
                this: dict[str, Any] = {"claim": claim, "row": uuid.UUID(row.id)}
                if tenant_id is not None:
                    this["tenant"] = tenant_id
                start = {**this, "until": clock.now() + lease}
                sms = tenant_id is not None and row.channel == MessageChannel.SMS.value
                step = committer.submit(_step, session, ended, start, sms, moves)
                ended = None
                outcome = _send_row(row, attempts, step, transports, claim, moves)
                if outcome is not None:
                    statement, values, kind = outcome
                    setattr(counts, kind, getattr(counts, kind) + 1)
                    ended = (statement, {**this, **values})
        finally:
            if step is not None:
                futures_wait([step])  # never leave the session while a commit runs on it
        if ended is not None:
            session.connection().execute(*ended)
            session.commit()
    return counts


def deliver_once(
    *,
    batch: int = DEFAULT_BATCH,
    worker_id: str | None = None,
    lease_seconds: float = DEFAULT_LEASE,
    transports: channels.Transports | None = None,
    only: set[str] | None = None,
) -> Counts:
    """One round over the platform's own rows and every clinic's: recover lapsed claims, claim
    due rows, send them. ``only``: just these outboxes (``outbox_wake`` keys: an active clinic's
    id, or ``platform``)."""
    claim = f"{worker_id or default_worker_id()}#{secrets.token_hex(4)}"[-100:]
    lease = timedelta(seconds=lease_seconds)
    own = transports is None
    active = transports or channels.Transports()
    total = Counts()
    committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-commit")
    try:
        outboxes = [None, *tenant_ids()]
        if only is not None:
            outboxes = [t for t in outboxes if outbox_wake.key_for(t) in only]
        for tenant_id in outboxes:
            total.add(
                _deliver(
                    tenant_id,
                    claim=claim,
                    batch=batch,
                    lease=lease,
                    transports=active,
                    committer=committer,
                )
            )
    finally:
        committer.shutdown(wait=True)
        if own:
            active.close()
    return total


def retry(actor: Actor, outbox_id: object) -> None:
    """Staff send a failed delivery again (after checking an uncertain one did not arrive)."""
    check(actor, Permission.MESSAGES_SEND)
    tenant_id = actor.require_tenant()
    row_id = parse_id(outbox_id, "message")
    with tenant_session(tenant_id) as session:
        row = session.get(OutboxMessage, (tenant_id, row_id))
        if row is None:
            raise NotFound("message")
        if row.status != OutboxStatus.FAILED.value:
            raise ValueError("Only a failed delivery can be sent again.")
        row.status = OutboxStatus.PENDING.value
        row.attempts = 0
        row.next_attempt_at = clock.now()
        row.last_error = None
        row.claimed_by = None
        row.claimed_until = None
        session.add(row)
        outbox_wake.announce(session, tenant_id)
        session.commit()
    audit.record(actor, "message.retry", target_type="outboxmessage", target_id=row_id)


PROVIDER_STATES = {
    "delivered": OutboxStatus.DELIVERED,
    "failed": OutboxStatus.FAILED,
    "undelivered": OutboxStatus.FAILED,
}


def mark_status(tenant_id: uuid.UUID, outbox_id: uuid.UUID, provider_status: str) -> bool:
    """Apply an SMS provider's delivery report; True if it changed the row.

    Only a row that was handed to the provider (sending, sent, or uncertain) takes a report;
    a delivered row stays delivered. Interim states (queued, sent, …) change nothing.
    """
    target = PROVIDER_STATES.get(provider_status.strip().lower())
    if target is None:
        return False
    status = col(OutboxMessage.status)
    values: dict[str, Any] = {"status": target.value}
    if target == OutboxStatus.DELIVERED:
        values["delivered_at"] = clock.now()
        values["last_error"] = None
    else:
        values["last_error"] = PROVIDER_FAILED
    with tenant_session(tenant_id) as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == outbox_id,
                col(OutboxMessage.channel) == MessageChannel.SMS.value,
                sa.or_(
                    status.in_([OutboxStatus.SENDING.value, OutboxStatus.SENT.value]),
                    sa.and_(
                        status == OutboxStatus.FAILED.value,
                        col(OutboxMessage.last_error).in_([UNCERTAIN, PROVIDER_FAILED]),
                    ),
                ),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return result.rowcount == 1  # type: ignore[attr-defined]


# ---- running the worker ----------------------------------------------------------------------

IDLE_SLEEP = 2.0
# On PostgreSQL, how often an idle worker looks at every outbox rather than the announced ones.
FULL_SWEEP_SECONDS = 30.0
SLA_SWEEP_SECONDS = 300.0
_in_process: threading.Thread | None = None
_in_process_lock = threading.Lock()
_in_process_stop = threading.Event()
# The in-process worker looks every hour for clinics whose last sweep is a day old; the first
# look waits a minute so a starting app serves its first pages first.
RETENTION_CHECK_SECONDS = 3600.0
RETENTION_START_DELAY = 60.0


def run(
    *,
    batch: int = DEFAULT_BATCH,
    lease_seconds: float = DEFAULT_LEASE,
    worker_id: str | None = None,
    idle_sleep: float = IDLE_SLEEP,
    stop: threading.Event | None = None,
    report: Callable[[Counts], None] | None = None,
    retention_daily: bool = False,
) -> None:
    """Deliver until ``stop`` is set: rounds back to back while there is work, else a short nap.

    ``retention_daily`` (the in-process worker of the embedded set-up) also runs each clinic's
    retention sweep once a day and erases unconfirmed rights requests past 30 days; elsewhere
    cron jobs run ``mi-portal retention sweep`` and ``mi-portal rights expire``.
    """
    stop = stop or threading.Event()
    worker_id = worker_id or default_worker_id()
    next_sweep = 0.0
    next_retention = time.monotonic() + RETENTION_START_DELAY
    # On PostgreSQL, an idle worker looks only at outboxes announced since its last round, and
    # at every outbox each FULL_SWEEP_SECONDS (outbox_wake). On SQLite: every outbox, every round.
    engine = get_engine()
    wakeups = outbox_wake.local
    listening = engine.dialect.name == "postgresql"
    listener_stop = threading.Event()
    if listening:
        threading.Thread(
            target=outbox_wake.listen,
            args=(engine, wakeups, listener_stop),
            name="mi-portal-outbox-wake",
            daemon=True,
        ).start()
    next_full = 0.0
    try:
        while not stop.is_set():
            if retention_daily and time.monotonic() >= next_retention:
                next_retention = time.monotonic() + RETENTION_CHECK_SECONDS
                _daily_upkeep()
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SLA_SWEEP_SECONDS
                _deadline_upkeep()
            announced, missed = wakeups.take()
            only: set[str] | None = announced
            if not listening or missed or time.monotonic() >= next_full:
                only, next_full = None, time.monotonic() + FULL_SWEEP_SECONDS
            try:
                counts = (
                    deliver_once(
                        batch=batch, worker_id=worker_id, lease_seconds=lease_seconds, only=only
                    )
                    if only is None or only
                    else Counts()
                )
            except Exception as exc:  # a database or configuration hiccup: try again later
                log.warning("outbox delivery round failed: %s", type(exc).__name__)
                next_full = 0.0  # what this round missed is looked for in the next
                stop.wait(idle_sleep)
                continue
            if report is not None and counts.claimed + counts.released + counts.uncertain:
                report(counts)
            if counts.claimed >= batch:
                next_full = 0.0  # a full batch: there may be more anywhere; look again at once
            else:
                _nap(stop, wakeups.event, idle_sleep)
    finally:
        listener_stop.set()


def _nap(stop: threading.Event, woken: threading.Event, seconds: float) -> None:
    """Wait up to ``seconds``, ending early when stopped or when an outbox is announced."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and not woken.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        woken.wait(min(left, 0.1))


def _daily_upkeep() -> None:
    try:
        from mi_portal.services import retention, session_hygiene

        retention.sweep_daily()
        # Finished staff sessions' IPs and browsers, past the platform's period.
        session_hygiene.clear_session_network()
    except Exception as exc:
        log.warning("retention sweep failed: %s", type(exc).__name__)
    try:
        from mi_portal.services import rights_intake

        # Rights requests nobody confirmed within 30 days: details erased.
        rights_intake.expire_unverified()
        prune_platform()
    except Exception as exc:
        log.warning("rights-request expiry failed: %s", type(exc).__name__)


def _deadline_upkeep() -> None:
    # Staff notices of quotes about to be late are queued here too (once per case and
    # assignee, however many workers run).
    try:
        from mi_portal.services import notifications

        notifications.sla_sweep()
    except Exception as exc:
        log.warning("deadline notices failed: %s", type(exc).__name__)
    try:
        from mi_portal.services import quotes

        quotes.expire_sweep()  # quotes past their date, also applied on every read
    except Exception as exc:
        log.warning("quote expiry failed: %s", type(exc).__name__)


# Several app workers each start the in-process worker; only the holder of this role works.
LEADER_KEY = "mi-portal:in-process-worker"
LEADER_CHECK_SECONDS = 5.0


def run_as_leader(
    work: Callable[[threading.Event], None],
    *,
    stop: threading.Event,
    key: str = LEADER_KEY,
    check_seconds: float = LEADER_CHECK_SECONDS,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Run ``work(inner_stop)`` only while this process holds the role ``key``, until ``stop``.

    Every app worker calls this; one takes the role (``db.Leadership``) and the others try again
    every ``check_seconds``. The holder checks its hold as often: when its connection died (the
    database restarted, its backend was ended) it stops the work after the current message and
    contends again, and when the holder's process dies another worker takes over within a check.
    Between a lost hold and the holder noticing, two workers may deliver at once until the old
    holder's current round ends: each row is still sent once, since rows are claimed with a
    lease (``_claim``). An error in this loop stops the work thread before the role is released.
    """
    from mi_portal.db import Leadership

    role = Leadership(key)
    try:
        while not stop.is_set():
            try:
                got = role.try_acquire()
            except Exception as exc:  # e.g. the lock file's folder unusable: try again later
                log.warning("the in-process worker's lock failed: %s", type(exc).__name__)
                got = False
            if not got:
                stop.wait(check_seconds)
                continue
            if on_change is not None:
                on_change(True)
            log.info("this process runs the in-process worker")
            inner = threading.Event()
            thread = threading.Thread(
                target=work, args=(inner,), name="mi-portal-outbox-work", daemon=True
            )
            try:
                thread.start()
                while not stop.wait(check_seconds) and thread.is_alive() and role.held():
                    pass
            finally:
                # Whatever ended the hold (even an error here), the work stops before the role
                # is given up: never a work thread running without the lock.
                inner.set()
                thread.join()
            role.release()
            if on_change is not None:
                on_change(False)
            if not stop.is_set():
                log.warning("the in-process worker's hold was lost; contending again")
    finally:
        role.release()


def _leader_work(stop: threading.Event) -> None:
    run(worker_id=default_worker_id(), stop=stop, retention_daily=True)


def in_process_enabled() -> bool:
    """Run the worker inside the app: on the embedded database, or when MI_OUTBOX_IN_PROCESS=1."""
    flag = os.environ.get("MI_OUTBOX_IN_PROCESS", "").strip()
    if flag in {"0", "1"}:
        return flag == "1"
    return get_settings().database_url.startswith("sqlite")


def start_in_process_worker() -> threading.Thread | None:
    """Start this process's one delivery thread (a daemon) if enabled; idempotent."""
    global _in_process
    with _in_process_lock:
        if _in_process is not None and _in_process.is_alive():
            return _in_process
        if not in_process_enabled():
            return None
        _in_process_stop.clear()
        _in_process = threading.Thread(
            target=run_as_leader,
            name="mi-portal-outbox",
            args=(_leader_work,),
            kwargs={"stop": _in_process_stop},
            daemon=True,
        )
        _in_process.start()
        return _in_process


def stop_in_process_worker(timeout: float = 10.0) -> None:
    """Stop the delivery thread after its current message (tests, shutdown)."""
    global _in_process
    with _in_process_lock:
        thread, _in_process = _in_process, None
        _in_process_stop.set()
    if thread is not None:
        thread.join(timeout)


@contextlib.asynccontextmanager
async def in_process_lifespan() -> AsyncIterator[None]:
    """For ``app.register_lifespan_task``: the worker runs while the backend does."""
    start_in_process_worker()
    try:
        yield
    finally:
        await asyncio.to_thread(stop_in_process_worker)
