"""Running the Alembic revisions and setting up the app's database role."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from mi_portal.config import PROJECT_ROOT, get_settings


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    cfg.attributes["url"] = url or get_settings().admin_database_url
    return cfg


def upgrade(
    revision: str = "head", *, admin_url: str | None = None, app_url: str | None = None
) -> None:
    """Apply revisions as the owner, then (PostgreSQL) make sure the app role can work."""
    settings = get_settings()
    admin_url = admin_url or settings.admin_database_url
    command.upgrade(alembic_config(admin_url), revision)
    if admin_url.startswith("postgresql"):
        from mi_portal.db_roles import ensure_app_role

        ensure_app_role(admin_url=admin_url, app_url=app_url or settings.database_url)


def downgrade(revision: str = "base", *, admin_url: str | None = None) -> None:
    command.downgrade(alembic_config(admin_url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from mi_portal.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
