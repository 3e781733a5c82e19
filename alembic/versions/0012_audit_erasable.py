"""The audit log survives erasure: chains hash a keyed digest of each event's personal details.

Until now every link hashed an event's IP, user agent, reason and details themselves, so erasing
a patient's IP broke the chain. From here on a link hashes ``personal_digest`` instead: an
HMAC-SHA256 of those four under a random key of the event's own (``personal_key``). An erasure
removes the details with their key; the link still holds and nothing is left to guess them from.

Existing chains move to the new rule: each is first verified under the old rule (a broken chain
stops the upgrade, naming the chain and entry: a tampered chain is never re-hashed into a valid
one), then every event gets a key, its digest and its link under the new rule. Both rules are
frozen here, as they were when this revision was written.

PostgreSQL: the app role may update the erasable columns only (granted by ``db_roles``), only in
the chain of the clinic in scope (policy ``auditevent_erase``, the same match as the insert policy
of revision 0008), and only as an erasure (a trigger): every other column unchanged, IP, user
agent and reason kept or cleared, details kept or emptied, the key cleared and the time of
erasure set. Deleting an event raises whoever tries (the app role has no DELETE grant either).

Revision ID: 0012
Revises: 0011
"""

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
CLINIC_CHAIN = f"(tenant_id = {TENANT} AND chain = tenant_id::text)"
ERASABLE = ("ip", "user_agent", "reason", "details", "personal_key", "erased_at")
GENESIS = "0" * 64
PAGE = 1000

AUDIT = sa.table(
    "auditevent",
    sa.column("id", sa.Uuid()),
    sa.column("chain", sa.String()),
    sa.column("seq", sa.Integer()),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
    sa.column("user_id", sa.Uuid()),
    sa.column("role", sa.String()),
    sa.column("home_tenant_id", sa.Uuid()),
    sa.column("tenant_id", sa.Uuid()),
    sa.column("action", sa.String()),
    sa.column("target_type", sa.String()),
    sa.column("target_id", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("ip", sa.String()),
    sa.column("user_agent", sa.String()),
    sa.column("reason", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("personal_key", sa.String()),
    sa.column("personal_digest", sa.String()),
    sa.column("erased_at", sa.DateTime(timezone=True)),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)

ONLY_ERASURE = f"""
CREATE FUNCTION auditevent_only_erasure() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    erasable text[] := ARRAY[{", ".join(f"'{c}'" for c in ERASABLE)}];
BEGIN
    IF (
        (to_jsonb(NEW) - erasable) = (to_jsonb(OLD) - erasable)
        AND (NEW.ip IS NULL
             OR (NEW.user_id IS NOT NULL AND NEW.ip IS NOT DISTINCT FROM OLD.ip))
        AND (NEW.user_agent IS NULL
             OR (NEW.user_id IS NOT NULL AND NEW.user_agent IS NOT DISTINCT FROM OLD.user_agent))
        AND NEW.reason IS NULL
        AND NEW.details::jsonb = '{{}}'::jsonb
        AND NEW.personal_key IS NULL
        AND NEW.erased_at IS NOT NULL
        AND (OLD.erased_at IS NULL OR NEW.erased_at = OLD.erased_at)
    ) IS NOT TRUE THEN
        RAISE EXCEPTION 'audit events are append-only: an update may only erase personal details'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$
"""

NO_DELETE = """
CREATE FUNCTION auditevent_no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: they are never deleted'
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def _links(row: Any) -> dict[str, Any]:
    """The fields both rules hash, as the app read them when this revision was written."""
    return {
        "chain": row.chain,
        "seq": row.seq,
        "occurred_at": _utc(row.occurred_at).isoformat(),
        "user_id": str(row.user_id) if row.user_id else None,
        "role": row.role,
        "home_tenant_id": str(row.home_tenant_id) if row.home_tenant_id else None,
        "tenant_id": str(row.tenant_id) if row.tenant_id else None,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "outcome": row.outcome,
    }


def _old_digest(row: Any, prev_hash: str) -> str:
    """The rule up to revision 0011: the personal details hashed as they are."""
    payload = _links(row) | {
        "ip": row.ip,
        "user_agent": row.user_agent,
        "reason": row.reason,
        "details": row.details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(_canonical(payload)).hexdigest()


def _personal_digest(row: Any, key: str) -> str:
    payload = {
        "ip": row.ip,
        "user_agent": row.user_agent,
        "reason": row.reason,
        "details": row.details,
    }
    return hmac.new(bytes.fromhex(key), _canonical(payload), hashlib.sha256).hexdigest()


def _new_digest(row: Any, personal_digest: str, prev_hash: str) -> str:
    """The rule from this revision on: the personal details only through their keyed digest."""
    payload = _links(row) | {"personal_digest": personal_digest, "prev_hash": prev_hash}
    return hashlib.sha256(_canonical(payload)).hexdigest()


def _old_problem(row: Any) -> str | None:
    return None if _old_digest(row, row.prev_hash) == row.hash else "content does not match"


def _new_problem(row: Any) -> str | None:
    if _new_digest(row, row.personal_digest, row.prev_hash) != row.hash:
        return "content does not match"
    if row.personal_key is None:
        return None if row.erased_at is not None else "personal details key missing"
    try:
        if _personal_digest(row, row.personal_key) != row.personal_digest:
            return "personal details changed"
    except ValueError:
        return "personal details key is not a key"
    return None


def _chains(conn: sa.Connection) -> list[str]:
    return list(conn.execute(sa.select(AUDIT.c.chain).distinct().order_by(AUDIT.c.chain)).scalars())


def _pages(conn: sa.Connection, chain: str) -> Iterator[list[Any]]:
    """The chain's events in order, a page at a time (never the whole chain in memory)."""
    last = None
    while True:
        query = sa.select(AUDIT).where(AUDIT.c.chain == chain)
        if last is not None:
            query = query.where(AUDIT.c.seq > last)
        rows = list(conn.execute(query.order_by(AUDIT.c.seq).limit(PAGE)))
        if not rows:
            return
        yield rows
        last = rows[-1].seq


def _verify(conn: sa.Connection, chain: str, problem_of: Callable[[Any], str | None]) -> None:
    expected, prev = 1, GENESIS
    for rows in _pages(conn, chain):
        for row in rows:
            if row.seq != expected:
                problem: str | None = f"sequence gap (expected #{expected})"
            elif row.prev_hash != prev:
                problem = "does not link to the entry before it"
            else:
                problem = problem_of(row)
            if problem:
                raise RuntimeError(
                    f"audit chain {chain} is broken at entry #{row.seq} ({row.id}): {problem}. "
                    "Revision 0012 re-hashes only chains that verify; investigate and restore "
                    "this chain before upgrading."
                )
            expected, prev = expected + 1, row.hash


def _rewrite(conn: sa.Connection, chain: str, new_rule: bool) -> None:
    write = (
        sa.update(AUDIT)
        .where(AUDIT.c.id == sa.bindparam("event_id"))
        .values(
            personal_key=sa.bindparam("key"),
            personal_digest=sa.bindparam("digest"),
            prev_hash=sa.bindparam("prev"),
            hash=sa.bindparam("new_hash"),
        )
    )
    prev = GENESIS
    for rows in _pages(conn, chain):
        changes = []
        for row in rows:
            if new_rule:
                key = secrets.token_hex(32)
                digest = _personal_digest(row, key)
                new_hash = _new_digest(row, digest, prev)
            else:
                key, digest = None, ""
                new_hash = _old_digest(row, prev)
            changes.append(
                {
                    "event_id": row.id,
                    "key": key,
                    "digest": digest,
                    "prev": prev,
                    "new_hash": new_hash,
                }
            )
            prev = new_hash
        conn.execute(write, changes)


def _move_chains(conn: sa.Connection, *, new_rule: bool) -> None:
    chains = _chains(conn)
    # Every chain is checked before any is written: a broken one leaves all of them as they were.
    for chain in chains:
        _verify(conn, chain, _old_problem if new_rule else _new_problem)
    for chain in chains:
        _rewrite(conn, chain, new_rule)


def _rls_forced(on: bool) -> None:
    # The owner runs the migrations; forced row-level security would hide the rows from it.
    op.execute(f"ALTER TABLE auditevent {'' if on else 'NO '}FORCE ROW LEVEL SECURITY")


def upgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        _rls_forced(False)
    _move_chains(conn, new_rule=True)
    if not postgres:
        return
    _rls_forced(True)
    op.execute(
        f"CREATE POLICY auditevent_erase ON auditevent FOR UPDATE "
        f"USING ({CLINIC_CHAIN}) WITH CHECK ({CLINIC_CHAIN})"
    )
    op.execute(ONLY_ERASURE)
    op.execute(
        "CREATE TRIGGER auditevent_only_erasure BEFORE UPDATE ON auditevent "
        "FOR EACH ROW EXECUTE FUNCTION auditevent_only_erasure()"
    )
    op.execute(NO_DELETE)
    op.execute(
        "CREATE TRIGGER auditevent_no_delete BEFORE DELETE ON auditevent "
        "FOR EACH ROW EXECUTE FUNCTION auditevent_no_delete()"
    )


def downgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_delete ON auditevent")
        op.execute("DROP FUNCTION IF EXISTS auditevent_no_delete()")
        op.execute("DROP TRIGGER IF EXISTS auditevent_only_erasure ON auditevent")
        op.execute("DROP FUNCTION IF EXISTS auditevent_only_erasure()")
        op.execute("DROP POLICY IF EXISTS auditevent_erase ON auditevent")
        _rls_forced(False)
    _move_chains(conn, new_rule=False)
    if postgres:
        _rls_forced(True)
