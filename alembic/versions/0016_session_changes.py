"""Sign-in changes announce themselves: ``NOTIFY mi_auth`` when who-may-do-what changes.

Every app worker keeps the sessions it resolved for a few seconds (``services/session_cache``),
so an event does not read the session, user, memberships and clinics again. These triggers
tell every worker, at commit, that one of those rows changed: a session revoked, switched or
past its second factor; a user disabled or renamed; a membership added, changed or removed; a
clinic suspended, closed or renamed. Each worker then forgets every session it kept.

They fire for every writer: the app, the command line, an operator's SQL. The payload is the
table's name, never a row's content. A session's ``last_seen_at`` moving alone (the idle clock,
touched once a minute by every active session) is not a change: a worker reads the idle time
from the database again whenever its own copy says the session may be idle.

PostgreSQL only: the embedded database serves one process, which keeps nothing (see the module).

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "mi_auth"
FUNCTION = "mi_auth_changed"
# Table → the row events that change who may do what (a new session or user changes nobody's).
_TABLES = {
    "user_session": "UPDATE OR DELETE",
    "user_account": "UPDATE OR DELETE",
    "membership": "INSERT OR UPDATE OR DELETE",
    "tenant": "UPDATE OR DELETE",
}
# The idle clock alone is not a change (compared as JSON without that one key).
_SESSION_CHANGED = (
    "(to_jsonb(OLD) - 'last_seen_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_seen_at')"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table, events in _TABLES.items():
        if table == "user_session":
            op.execute(
                f"CREATE TRIGGER {FUNCTION}_update AFTER UPDATE ON {table} FOR EACH ROW "
                f"WHEN ({_SESSION_CHANGED}) EXECUTE FUNCTION {FUNCTION}()"
            )
            op.execute(
                f"CREATE TRIGGER {FUNCTION}_delete AFTER DELETE ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION {FUNCTION}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {FUNCTION} AFTER {events} ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION {FUNCTION}()"
            )
        # Emptied in one statement (tests, an operator): no row trigger fires for that.
        op.execute(
            f"CREATE TRIGGER {FUNCTION}_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        suffixes = (
            ("_update", "_delete", "_truncate") if table == "user_session" else ("", "_truncate")
        )
        for suffix in suffixes:
            op.execute(f"DROP TRIGGER IF EXISTS {FUNCTION}{suffix} ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
