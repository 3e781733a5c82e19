"""Settings for the whole app, read once from ``MI_`` environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _normalise_db_url(url: str) -> str:
    # psycopg 3 is the only PostgreSQL driver installed; accept the plain scheme too.
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def _secret_key(data_dir: Path) -> str:
    """Return MI_SECRET_KEY, or a random key kept beside the embedded database."""
    key = os.environ.get("MI_SECRET_KEY")
    if key:
        return key
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class OidcProvider:
    """One single-sign-on provider: for one clinic (``scope`` = its slug) or for platform staff."""

    name: str
    label: str
    issuer: str
    client_id: str
    client_secret: str
    scope: str  # a clinic slug, or "platform"

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def _oidc_providers() -> tuple[OidcProvider, ...]:
    """``MI_OIDC_PROVIDERS=a,b`` then ``MI_OIDC_A_ISSUER``, ``_CLIENT_ID``, ``_CLIENT_SECRET``,
    ``_SCOPE`` (clinic slug or ``platform``) and optional ``_LABEL`` for each name."""
    providers = []
    for raw in os.environ.get("MI_OIDC_PROVIDERS", "").split(","):
        name = raw.strip().lower()
        if not name:
            continue
        prefix = f"MI_OIDC_{name.upper().replace('-', '_')}_"
        try:
            providers.append(
                OidcProvider(
                    name=name,
                    label=os.environ.get(prefix + "LABEL", name.title()),
                    issuer=os.environ[prefix + "ISSUER"],
                    client_id=os.environ[prefix + "CLIENT_ID"],
                    client_secret=os.environ[prefix + "CLIENT_SECRET"],
                    scope=os.environ.get(prefix + "SCOPE", "platform"),
                )
            )
        except KeyError as exc:
            raise RuntimeError(
                f"single sign-on provider {name!r} is missing {exc.args[0]}"
            ) from None
    return tuple(providers)


@dataclass(frozen=True)
class Settings:
    """Everything the app can be configured with."""

    data_dir: Path
    database_url: str
    admin_database_url: str
    storage: str
    secret_key: str
    frontend_origin: str
    app_env: str
    oidc_providers: tuple[OidcProvider, ...] = ()

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings from the environment (cached; call ``reset_settings`` in tests)."""
    data_dir = Path(os.environ.get("MI_DATA_DIR", PROJECT_ROOT / "data")).resolve()
    database_url = _normalise_db_url(
        os.environ.get("MI_DATABASE_URL", f"sqlite:///{data_dir / 'mi_portal.db'}")
    )
    admin_url = _normalise_db_url(os.environ.get("MI_ADMIN_DATABASE_URL", database_url))
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        admin_database_url=admin_url,
        storage=os.environ.get("MI_STORAGE", f"file://{data_dir / 'objects'}"),
        secret_key=_secret_key(data_dir),
        frontend_origin=os.environ.get("MI_FRONTEND_ORIGIN", "http://localhost:3000"),
        app_env=os.environ.get("MI_ENV", "dev"),
        oidc_providers=_oidc_providers(),
    )


def reset_settings() -> None:
    """Forget cached settings so the next call reads the environment again."""
    get_settings.cache_clear()
