"""PostgreSQL: the role the app connects as, created and granted by the migrations' owner.

The app role owns nothing, is not a superuser and cannot bypass row-level security. It may read
and write the product's tables, except the audit log, which it may only read and append to, and
whose personal details it may erase (the columns below; a trigger of revision 0012 lets an update
through only when it is an erasure). It never deletes an audit event.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from mi_portal.db import make_engine

APPEND_ONLY_TABLES = ("auditevent",)
# The columns of an append-only table the app may update: its erasable personal details.
ERASABLE_COLUMNS = {
    "auditevent": ("ip", "user_agent", "reason", "details", "personal_key", "erased_at"),
}


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _existing_columns(conn: sa.Connection, table: str, wanted: tuple[str, ...]) -> list[str]:
    """``wanted`` as far as ``table`` has them (an upgrade to an older revision lacks some)."""
    present = set(
        conn.execute(
            sa.text(
                "select column_name from information_schema.columns "
                "where table_schema = 'public' and table_name = :t"
            ),
            {"t": table},
        ).scalars()
    )
    return [c for c in wanted if c in present]


def ensure_app_role(*, admin_url: str, app_url: str) -> str | None:
    """Create the app's login role if needed and grant it what it may do; returns its name."""
    app = make_url(app_url)
    admin = make_url(admin_url)
    role = app.username
    if not role or role == admin.username:
        # The app shares the owner's connection (a development set-up): nothing to grant.
        return None
    ident = _quote_ident(role)
    engine = make_engine(admin_url)
    try:
        with engine.begin() as conn:
            exists = conn.execute(
                sa.text("select 1 from pg_roles where rolname = :r"), {"r": role}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f"CREATE ROLE {ident} LOGIN"))
            # Re-assert on every upgrade: a role edited by hand must not keep a bypass.
            conn.execute(
                sa.text(f"ALTER ROLE {ident} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")
            )
            if app.password:
                # Utility statements take no bind parameters: quote the literal ourselves.
                literal = "'" + app.password.replace("'", "''") + "'"
                conn.execute(sa.text(f"ALTER ROLE {ident} PASSWORD {literal}"))
            db = _quote_ident(app.database or "")
            conn.execute(sa.text(f"GRANT CONNECT ON DATABASE {db} TO {ident}"))
            conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {ident}"))
            tables = conn.execute(
                sa.text(
                    "select tablename from pg_tables where schemaname = 'public' "
                    "and tablename <> 'alembic_version'"
                )
            ).scalars()
            for table in tables:
                t = _quote_ident(table)
                if table in APPEND_ONLY_TABLES:
                    conn.execute(sa.text(f"REVOKE ALL ON {t} FROM {ident}"))
                    conn.execute(sa.text(f"GRANT SELECT, INSERT ON {t} TO {ident}"))
                    erasable = _existing_columns(conn, table, ERASABLE_COLUMNS.get(table, ()))
                    if erasable:
                        columns = ", ".join(_quote_ident(c) for c in erasable)
                        conn.execute(sa.text(f"GRANT UPDATE ({columns}) ON {t} TO {ident}"))
                else:
                    conn.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {ident}"))
            conn.execute(sa.text(f"GRANT SELECT ON alembic_version TO {ident}"))
    finally:
        engine.dispose()
    return role


# Written on every database ``make prod`` creates: only such a database may be dropped by it.
PROD_MARKER = "made by mi-portal make prod"


def database_facts(server_url: str, name: str) -> tuple[bool, bool]:
    """Whether database ``name`` exists, and whether ``make prod`` made it (its comment)."""
    engine = make_engine(server_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "select shobj_description(oid, 'pg_database') from pg_database "
                    "where datname = :d"
                ),
                {"d": name},
            ).first()
    finally:
        engine.dispose()
    if row is None:
        return False, False
    return True, row[0] == PROD_MARKER


def create_database(server_url: str, name: str) -> None:
    """Create database ``name`` through ``server_url`` (an owner's connection to another database
    of the server), marked as made by ``make prod``."""
    ident = _quote_ident(name)
    engine = make_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {ident}"))
            literal = "'" + PROD_MARKER.replace("'", "''") + "'"
            conn.execute(sa.text(f"COMMENT ON DATABASE {ident} IS {literal}"))
    finally:
        engine.engine.dispose()


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, ending its sessions; only one ``make prod`` made (else refused)."""
    exists, made_by_prod = database_facts(server_url, name)
    if not exists:
        return
    if not made_by_prod:
        raise RuntimeError(f"database {name} was not made by make prod: not dropped")
    ident = _quote_ident(name)
    engine = make_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {ident} WITH (FORCE)"))
    finally:
        engine.engine.dispose()
