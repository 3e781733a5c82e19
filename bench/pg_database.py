"""A throw-away PostgreSQL database for a benchmark: made through the project's migrations (its
owner and a login role for the app, as ``make prod`` has them), dropped afterwards.

The server is the one ``MI_ADMIN_DATABASE_URL`` names (default: the local PostgreSQL server as
``postgres``).
"""

from __future__ import annotations

import os
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import make_url

SERVER = os.environ.get(
    "MI_ADMIN_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
).replace("postgresql://", "postgresql+psycopg://")


def new_database(prefix: str) -> tuple[str, str, str, str]:
    """A new, migrated database: (its name, the app role's name, owner URL, app URL)."""
    from mi_portal import migrations

    suffix = secrets.token_hex(3)
    name, role = f"{prefix}_{suffix}", f"{prefix}_app_{suffix}"
    server = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    server.dispose()
    base = make_url(SERVER)
    admin = base.set(database=name).render_as_string(hide_password=False)
    app = base.set(database=name, username=role, password=None).render_as_string(
        hide_password=False
    )
    try:
        migrations.upgrade(admin_url=admin, app_url=app)
    except BaseException:
        drop_database(name, role)
        raise
    return name, role, admin, app


def drop_database(name: str, role: str) -> None:
    """Remove a database ``new_database`` made, and its app role."""
    server = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        conn.execute(sa.text(f'drop role if exists "{role}"'))
    server.dispose()
