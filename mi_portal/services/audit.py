"""The audit log: append-only, one hash chain per clinic plus one for platform events.

Each link hashes a keyed digest of the event's personal details, so those details (with their
key) can be erased and every chain still verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mi_portal.db import (
    PLATFORM_KEY,
    TENANT_KEY,
    ScopedSession,
    TenantScopeError,
    hold_sqlite_write_lock,
    platform_session,
    serialize_on,
    tenant_session,
)
from mi_portal.models import PLATFORM_CHAIN, AuditEvent, Tenant
from mi_portal.models.base import uuid7
from mi_portal.services import clock
from mi_portal.services.actor import Actor

GENESIS = "0" * 64


def chain_for(tenant_id: uuid.UUID | None) -> str:
    return str(tenant_id) if tenant_id else PLATFORM_CHAIN


def _chain_session(chain: str) -> AbstractContextManager[ScopedSession]:
    # Row-level security opens one chain per session: the clinic's by its tenant, the
    # platform's by the platform flag.
    if chain == PLATFORM_CHAIN:
        return platform_session(platform=True)
    return tenant_session(uuid.UUID(chain))


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def _personal_digest(event: AuditEvent, key: str) -> str:
    """HMAC-SHA256 under the event's own key of the details an erasure may remove."""
    payload = {
        "ip": event.ip,
        "user_agent": event.user_agent,
        "reason": event.reason,
        "details": event.details,
    }
    return hmac.new(bytes.fromhex(key), _canonical(payload), hashlib.sha256).hexdigest()


def _digest(event: AuditEvent) -> str:
    """The link of ``event`` in its chain: its own fields, its personal digest, the hash before.

    The erasable details enter only through ``personal_digest``: once they are erased with
    their key, the link still holds and nothing is left to guess them from.
    """
    payload = {
        "chain": event.chain,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "user_id": str(event.user_id) if event.user_id else None,
        "role": event.role,
        "home_tenant_id": str(event.home_tenant_id) if event.home_tenant_id else None,
        "tenant_id": str(event.tenant_id) if event.tenant_id else None,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "personal_digest": event.personal_digest,
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(_canonical(payload)).hexdigest()


def record(
    actor: Actor | None,
    action: str,
    *,
    tenant_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: object = None,
    outcome: str = "ok",
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    user_id: uuid.UUID | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    platform: bool = False,
) -> AuditEvent:
    """Append one event to the chain of ``tenant_id`` (default: the actor's acting clinic).

    ``platform=True`` writes to the platform chain whatever clinic the actor is in. Written in
    its own transaction, so a denied or failed action is recorded even when the
    action's own transaction rolls back. Inside ``together()`` it is queued instead, and
    written with the others of the batch (the returned event then has no place in its chain
    yet: no sequence number, no hash).
    """
    fields = _fields(
        actor,
        action,
        tenant_id=tenant_id,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        reason=reason,
        details=details,
        user_id=user_id,
        ip=ip,
        user_agent=user_agent,
        platform=platform,
    )
    batch = _batch.get()
    if batch is not None:
        batch.add(fields)
        return AuditEvent(**fields, seq=0, prev_hash="", hash="")
    return _append_grouped(fields)


def record_in(
    session: ScopedSession,
    action: str,
    *,
    tenant_id: uuid.UUID | None = None,
    actor: Actor | None = None,
    target_type: str | None = None,
    target_id: object = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> AuditEvent:
    """Append one event to the clinic's chain inside ``session``'s own transaction (a session
    of that clinic), so the event is committed with what it records, or not at all.

    ``actor``: the staff member who acted (their user, role, address and browser are recorded,
    and the clinic is the one they act in); without one, an event of no signed-in actor (a
    patient's form, a provider's webhook) of ``tenant_id``.

    The chain's lock (PostgreSQL) is held from here until that transaction ends: call it
    last, just before the commit. What the session holds is flushed first: on SQLite the
    session then holds the database's write lock while it reads the chain's head.
    """
    if tenant_id is None:
        if actor is None:
            raise TenantScopeError("an event is appended to a clinic's chain")
        tenant_id = actor.require_tenant()
    chain = chain_for(tenant_id)
    if session.info.get(TENANT_KEY) != tenant_id or session.info.get(PLATFORM_KEY):
        raise TenantScopeError("an event is appended in a session of its own clinic only")
    fields = _fields(
        actor,
        action,
        tenant_id=tenant_id,
        target_type=target_type,
        target_id=target_id,
        details=details,
        ip=ip,
        user_agent=user_agent,
    )
    session.flush()  # what it records is written first (on SQLite: the write lock is held)
    return _append_in(session, chain, [fields])[0]


def _fields(
    actor: Actor | None,
    action: str,
    *,
    tenant_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: object = None,
    outcome: str = "ok",
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    user_id: uuid.UUID | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    platform: bool = False,
) -> dict[str, Any]:
    """An event's own fields, before it has a place in its chain."""
    if platform:
        acting = None
    else:
        acting = tenant_id if tenant_id is not None else (actor.tenant_id if actor else None)
    chain = chain_for(acting)
    return {
        "id": uuid7(),
        "chain": chain,
        "occurred_at": clock.now(),
        "user_id": user_id or (actor.user_id if actor else None),
        "role": actor.role.value if actor else None,
        "home_tenant_id": actor.home_tenant_id if actor else None,
        "tenant_id": acting,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "outcome": outcome,
        "ip": ip or (actor.ip if actor else None),
        "user_agent": (user_agent or (actor.user_agent if actor else None) or "")[:400] or None,
        "reason": reason,
        "details": details or {},
        # The event's own key: erased with its personal details.
        "personal_key": secrets.token_hex(32),
    }


class Batch:
    """Events queued by ``record`` inside ``together()``, from any task or thread started there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[dict[str, Any]] = []

    def add(self, fields: dict[str, Any]) -> None:
        with self._lock:
            self._queued.append(fields)

    def write(self, order: Sequence[str] = ()) -> None:
        """Append what is queued, one transaction per chain, then forget it.

        Reads queued side by side arrive in any order: ``order`` (actions) fixes the order in
        which they enter the chain; actions not named follow, as queued.
        """
        with self._lock:
            queued, self._queued = self._queued, []
        rank = {action: n for n, action in enumerate(order)}
        queued.sort(key=lambda f: rank.get(f["action"], len(rank)))
        for chain in dict.fromkeys(f["chain"] for f in queued):
            _append_all(chain, [f for f in queued if f["chain"] == chain])

    def commit_in(self, session: ScopedSession, order: Sequence[str] = ()) -> None:
        """Append what is queued for ``session``'s clinic inside ``session``'s own transaction
        and commit it: what the session wrote (a read marker, say) and the looks that go with
        it are kept together, in one transaction instead of two. Events of any other chain are
        then written as ``write`` does.

        If the commit fails, nothing of the session is kept and the events stay queued, for
        the caller's ``write`` (a look that happened is recorded even when the rest is lost).
        """
        tenant_id = session.info.get(TENANT_KEY)
        if tenant_id is None or session.info.get(PLATFORM_KEY):
            raise TenantScopeError("looks are committed in a plain session of their clinic")
        chain = chain_for(tenant_id)
        rank = {action: n for n, action in enumerate(order)}
        with self._lock:
            mine = [f for f in self._queued if f["chain"] == chain]
        mine.sort(key=lambda f: rank.get(f["action"], len(rank)))
        if mine:
            # The database's lock alone (taken in ``_append_in``), not this process's lock as
            # well: the session may already hold SQLite's write lock (a read marker), which
            # an appender holding this process's lock could be waiting for.
            session.flush()
            events = _append_in(session, chain, mine)
            session.flush()
            for event in events:
                session.expunge(event)
        session.commit()
        written = {id(f) for f in mine}
        with self._lock:
            self._queued = [f for f in self._queued if id(f) not in written]
        self.write(order)

    @contextmanager
    def session_with_looks(
        self, tenant_id: uuid.UUID, order: Sequence[str] = ()
    ) -> Iterator[ScopedSession]:
        """A session of ``tenant_id`` for a page's reads and writes; when the block ends
        (returning or not), the looks queued are committed in its transaction (``commit_in``).
        If the block raises or the commit fails, the looks already made are still written, in a
        transaction of their own, before the error goes on: what was read is recorded."""
        committed = False
        try:
            with tenant_session(tenant_id) as session:
                yield session
                self.commit_in(session, order)
                committed = True
        finally:
            if not committed:
                self.write(order)


_batch: ContextVar[Batch | None] = ContextVar("mi_portal_audit_batch", default=None)


@contextmanager
def together() -> Iterator[Batch]:
    """Queue the events ``record``ed inside (by this task, the tasks it starts and the threads
    it hands work to) so that ``Batch.write`` appends them together: one transaction and one
    turn of the chain's lock for a page's several audited reads, instead of one each.

    Whoever opens it writes the batch before showing anything those reads returned, and shows
    nothing if the write fails: a look that is not recorded did not happen.
    """
    batch = Batch()
    token = _batch.set(batch)
    try:
        yield batch
    finally:
        _batch.reset(token)


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

# At most this many events of one chain in one grouped transaction.
GROUP_MAX = 100


class _Waiter:
    """One ``record`` waiting for its event to be written by a group."""

    __slots__ = ("done", "error", "event", "fields", "lead")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self.done = threading.Event()
        self.lead = False  # woken to write the next group, not with its own result
        self.event: AuditEvent | None = None
        self.error: BaseException | None = None


class _Group:
    """The events of one chain waiting while another group of it is being written."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: list[_Waiter] = []
        self.writing = False


_groups: dict[str, _Group] = {}


def _append_grouped(fields: dict[str, Any]) -> AuditEvent:
    """Append one event in a transaction of its own, or with others of its chain that arrived
    while an earlier group was being written (group commit).

    A page of thumbnails audits a dozen fetches at once. One at a time, each waits for the
    chain's lock and then pays a transaction of its own; grouped, those that queued up while
    one was written go together in the next, and each caller still returns only once its own
    event is committed. A caller writes at most one group and hands the next to a waiting
    caller, so no request keeps writing other requests' events. If a group of several fails,
    each of its events is tried alone, so one bad event never costs the others their record.
    """
    chain = fields["chain"]
    with _locks_guard:
        group = _groups.setdefault(chain, _Group())
    me = _Waiter(fields)
    with group.lock:
        group.waiting.append(me)
        lead = not group.writing
        group.writing = True
    if not lead:
        me.done.wait()
        if not me.lead:
            return _result(me)
    with group.lock:
        taken, group.waiting = group.waiting[:GROUP_MAX], group.waiting[GROUP_MAX:]
    try:
        _write_group(chain, taken)
    finally:
        for waiter in taken:
            if waiter.event is None and waiter.error is None:
                waiter.error = RuntimeError(f"audit event not appended to chain {chain}")
            waiter.lead = False
            waiter.done.set()
        with group.lock:
            if group.waiting:
                following = group.waiting[0]
                following.lead = True
                following.done.set()
            else:
                group.writing = False
    return _result(me)


def _write_group(chain: str, taken: list[_Waiter]) -> None:
    try:
        events = _append_all(chain, [w.fields for w in taken])
    except Exception as exc:
        if len(taken) == 1:
            taken[0].error = exc
            return
        for waiter in taken:
            try:
                waiter.event = _append_all(chain, [waiter.fields])[0]
            except Exception as own:
                waiter.error = own
    else:
        for waiter, event in zip(taken, events, strict=True):
            waiter.event = event


def _result(me: _Waiter) -> AuditEvent:
    if me.error is not None:
        raise me.error
    assert me.event is not None
    return me.event


def _chain_lock(chain: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(chain, threading.Lock())


def _append_all(chain: str, queued: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append ``queued`` (an event's fields each, in order) to ``chain`` in one transaction.

    Appends to one chain queue up: within this process on a lock (SQLite has no advisory
    locks, and a page of thumbnails asks for many at once), across processes on the database
    (PostgreSQL's advisory lock; elsewhere the unique sequence number and a retry).
    """
    with _chain_lock(chain):
        for attempt in range(12):
            with _chain_session(chain) as session:
                events = _append_in(session, chain, queued)
                try:
                    session.flush()
                    # Detached with every value they were written with: no reload after commit.
                    for event in events:
                        session.expunge(event)
                    session.commit()
                except IntegrityError:
                    # Another process took this sequence number: read the new head and retry,
                    # after a short random wait so the writers do not collide again in step.
                    session.rollback()
                    time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
                    continue
                return events
    raise RuntimeError(f"could not append to audit chain {chain}")


def _append_in(
    session: ScopedSession, chain: str, queued: list[dict[str, Any]]
) -> list[AuditEvent]:
    """Link ``queued`` after the chain's head, under the chain's lock, in ``session``; added to
    it, not yet flushed."""
    serialize_on(session, "audit:" + chain)
    # SQLite has no advisory locks: its write lock serializes the appenders of every process,
    # so the head read next is the latest and stays so until this transaction ends.
    hold_sqlite_write_lock(session, AuditEvent.__tablename__)  # type: ignore[arg-type]
    last = session.exec(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.chain == chain)
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS)
    events = []
    for fields in queued:
        seq += 1
        event = AuditEvent(**fields, seq=seq, prev_hash=prev, hash="")
        event.personal_digest = _personal_digest(event, fields["personal_key"])
        event.hash = prev = _digest(event)
        events.append(event)
    session.add_all(events)
    return events


@dataclass(frozen=True)
class ChainProblem:
    chain: str
    seq: int
    event_id: str
    problem: str

    def __str__(self) -> str:
        return f"chain {self.chain}: entry #{self.seq} ({self.event_id}): {self.problem}"


def verify_chain(chain: str) -> ChainProblem | None:
    """The first broken entry of ``chain``, or ``None`` when every link holds."""
    with _chain_session(chain) as session:
        events: Iterable[AuditEvent] = session.exec(
            select(AuditEvent).where(AuditEvent.chain == chain).order_by(col(AuditEvent.seq))
        )
        expected_seq, prev = 1, GENESIS
        for event in events:
            if event.seq != expected_seq:
                return ChainProblem(
                    chain,
                    event.seq,
                    str(event.id),
                    f"sequence gap: expected #{expected_seq} (entry removed?)",
                )
            if event.prev_hash != prev:
                return ChainProblem(
                    chain,
                    event.seq,
                    str(event.id),
                    "does not link to the entry before it (removed or reordered?)",
                )
            if _digest(event) != event.hash:
                return ChainProblem(
                    chain, event.seq, str(event.id), "content does not match its hash (edited?)"
                )
            personal = _personal_problem(event)
            if personal:
                return ChainProblem(chain, event.seq, str(event.id), personal)
            expected_seq, prev = expected_seq + 1, event.hash
    return None


def _personal_problem(event: AuditEvent) -> str | None:
    """Whether the erasable details still match their digest (unless they were erased)."""
    if event.personal_key is None:
        if event.erased_at is None:
            return "personal details key missing but not erased (edited?)"
        # Erased: its key went with the details, the link above still holds. What an erasure
        # leaves is fixed: no details, no reason, and no network data unless a staff member's.
        if event.details or event.reason is not None:
            return "erased entry holds details again (edited?)"
        if event.user_id is None and (event.ip is not None or event.user_agent is not None):
            return "erased entry holds network data again (edited?)"
        return None
    try:
        expected = _personal_digest(event, event.personal_key)
    except ValueError:
        return "personal details key is not a key (edited?)"
    if not hmac.compare_digest(expected, event.personal_digest):
        return "personal details changed (edited?)"
    return None


ERASE_BATCH = 500


def erase_personal(
    session: ScopedSession,
    target_ids: Collection[str],
    *,
    keep_staff_network: bool = True,
    patients_only: bool = False,
) -> int:
    """Erase the personal details of the clinic's audit events about ``target_ids``.

    In the clinic's own tenant session (its chain only): details, reason and the event's key
    go, and so do the IP and user agent, except on events by a staff member when
    ``keep_staff_network`` (staff identities and their network are the accountability record;
    a patient's device data is not). The chain still verifies: it hashes the erased details
    only through their digest. ``patients_only`` leaves events by staff members as they are
    (a case that is kept loses only its patient's traces). Events already erased are left as
    they are. Does not commit; returns how many events were erased.
    """
    if session.tenant_id is None:
        raise TenantScopeError("erasing audit details needs the clinic's tenant session")
    chain = chain_for(session.tenant_id)
    now = clock.now()
    ids = sorted({str(t) for t in target_ids})
    erased = 0
    for start in range(0, len(ids), ERASE_BATCH):
        batch = ids[start : start + ERASE_BATCH]
        base = (
            update(AuditEvent)
            .where(
                col(AuditEvent.chain) == chain,
                col(AuditEvent.target_id).in_(batch),
                col(AuditEvent.erased_at).is_(None),
            )
            .values(details={}, reason=None, personal_key=None, erased_at=now)
        )
        if patients_only:
            patients = base.where(col(AuditEvent.user_id).is_(None))
            erased += _rowcount(session.execute(patients.values(ip=None, user_agent=None)))
        elif keep_staff_network:
            staff = base.where(col(AuditEvent.user_id).is_not(None))
            others = base.where(col(AuditEvent.user_id).is_(None))
            erased += _rowcount(session.execute(staff))
            erased += _rowcount(session.execute(others.values(ip=None, user_agent=None)))
        else:
            erased += _rowcount(session.execute(base.values(ip=None, user_agent=None)))
    return erased


def erase_chain_patients(session: ScopedSession) -> int:
    """Off-boarding: erase the personal details of every event in the clinic's chain.

    Staff identities and their network data stay (the accountability record of who did what,
    when); details and reasons go from every event, since they may name a patient, and a
    patient's or the system's events lose their IP and user agent too. Does not commit.
    """
    if session.tenant_id is None:
        raise TenantScopeError("erasing audit details needs the clinic's tenant session")
    base = (
        update(AuditEvent)
        .where(
            col(AuditEvent.chain) == chain_for(session.tenant_id),
            col(AuditEvent.erased_at).is_(None),
        )
        .values(details={}, reason=None, personal_key=None, erased_at=clock.now())
    )
    staff = base.where(col(AuditEvent.user_id).is_not(None))
    others = base.where(col(AuditEvent.user_id).is_(None)).values(ip=None, user_agent=None)
    return _rowcount(session.execute(staff)) + _rowcount(session.execute(others))


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def chains(tenant_slug: str | None = None) -> list[str]:
    """The chains to verify: one clinic's, or every clinic's plus the platform's.

    Listed from the clinics, not from the log: every clinic chain names its clinic (a foreign
    key), and no session may read every clinic's events at once.
    """
    with platform_session() as session:
        if tenant_slug:
            tenant = session.exec(select(Tenant).where(Tenant.slug == tenant_slug)).first()
            if tenant is None:
                raise LookupError(f"no clinic with slug {tenant_slug!r}")
            return [chain_for(tenant.id)]
        found = {chain_for(t) for t in session.exec(select(Tenant.id)).all()}
    return sorted(found | {PLATFORM_CHAIN})


def chain_length(chain: str) -> int:
    with _chain_session(chain) as session:
        return session.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.chain == chain)
        ).one()


@dataclass(frozen=True)
class AuditFilter:
    user_email: str = ""
    action: str = ""
    target: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None


@dataclass(frozen=True)
class AuditRow:
    id: str
    occurred_at: str
    user: str
    role: str
    action: str
    target: str
    outcome: str
    reason: str
    ip: str
    chain: str


def _visible_chains(actor: Actor, include_platform: bool) -> list[str]:
    from mi_portal.services.permissions import Permission, check

    check(actor, Permission.AUDIT_VIEW)
    visible = [chain_for(actor.tenant_id)] if actor.tenant_id else []
    if actor.is_platform and (include_platform or not visible):
        visible.append(PLATFORM_CHAIN)
    return visible


def _reader(actor: Actor, chains: list[str]) -> AbstractContextManager[ScopedSession]:
    """A session whose row-level security opens exactly the chains this actor may read."""
    platform = PLATFORM_CHAIN in chains
    if actor.tenant_id is not None:
        return tenant_session(actor.tenant_id, platform=platform)
    return platform_session(platform=platform)


def _filtered(actor: Actor, flt: AuditFilter, chains: list[str]):  # type: ignore[no-untyped-def]
    from mi_portal.models import User

    stmt = select(AuditEvent, User.email).join(User, User.id == AuditEvent.user_id, isouter=True)  # type: ignore[arg-type]
    stmt = stmt.where(col(AuditEvent.chain).in_(chains))
    if flt.user_email.strip():
        stmt = stmt.where(col(User.email).contains(flt.user_email.strip().lower()))
    if flt.action.strip():
        stmt = stmt.where(col(AuditEvent.action).startswith(flt.action.strip()))
    if flt.target.strip():
        stmt = stmt.where(AuditEvent.target_id == flt.target.strip())
    if flt.date_from:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.date_from)
    if flt.date_to:
        stmt = stmt.where(AuditEvent.occurred_at < flt.date_to)
    return stmt


def _row(event: AuditEvent, email: str | None) -> AuditRow:
    # A list view names no single record: its kind alone ("Case list"), never "None".
    target = f"{event.target_type}:{event.target_id or ''}" if event.target_type else ""
    return AuditRow(
        id=str(event.id),
        occurred_at=event.occurred_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        user=email or "—",
        role=event.role or "",
        action=event.action,
        target=target,
        outcome=event.outcome,
        reason=event.reason or "",
        ip=event.ip or "",
        chain="platform" if event.chain == PLATFORM_CHAIN else "clinic",
    )


def search(
    actor: Actor,
    flt: AuditFilter,
    *,
    page: int = 0,
    page_size: int = 50,
    include_platform: bool = False,
) -> tuple[list[AuditRow], int]:
    """One page of the events this actor may see, newest first, and the total count."""
    page, page_size = max(0, int(page)), max(1, min(200, int(page_size)))
    chains = _visible_chains(actor, include_platform)
    stmt = _filtered(actor, flt, chains)
    with _reader(actor, chains) as session:
        total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
        rows = session.exec(
            stmt.order_by(col(AuditEvent.occurred_at).desc(), col(AuditEvent.seq).desc())
            .offset(page * page_size)
            .limit(page_size)
        ).all()
    return [_row(e, email) for e, email in rows], total


def export_csv(
    actor: Actor, flt: AuditFilter, *, include_platform: bool = False, limit: int = 50_000
) -> str:
    """The filtered events as CSV (recorded as an export)."""
    import csv
    import io

    chains = _visible_chains(actor, include_platform)
    stmt = _filtered(actor, flt, chains)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "occurred_at",
            "user",
            "role",
            "action",
            "target",
            "outcome",
            "reason",
            "ip",
            "chain",
            "id",
        ]
    )
    with _reader(actor, chains) as session:
        for event, email in session.exec(
            stmt.order_by(col(AuditEvent.occurred_at).desc()).limit(limit)
        ):
            r = _row(event, email)
            # Neutralise spreadsheet formulas in user-controlled text.
            cells = [
                r.occurred_at,
                r.user,
                r.role,
                r.action,
                r.target,
                r.outcome,
                r.reason,
                r.ip,
                r.chain,
                r.id,
            ]
            writer.writerow([("'" + c) if c[:1] in ("=", "+", "-", "@") else c for c in cells])
    record(
        actor, "audit.export", details={"filter": {k: str(v) for k, v in flt.__dict__.items() if v}}
    )
    return out.getvalue()
