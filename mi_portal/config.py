"""Settings for the whole app, read once from ``MI_`` environment variables."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# A signed-in session ends after this long without an event; a tab's UI state must not outlive it.
IDLE_TIMEOUT_SECONDS = 15 * 60


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only: 0700."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is filtered by the umask; an older folder may be 0755
    for folder in missing:
        folder.chmod(0o700)
    return path


def private_file(path: Path) -> None:
    """Make an existing file readable and writable by this user only: 0600."""
    with contextlib.suppress(FileNotFoundError):
        path.chmod(0o600)


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
    private_dir(data_dir)
    try:
        # Exclusive create: workers starting together agree on the first key written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    for _ in range(50):
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)  # another process is between creating and writing it
    raise RuntimeError(f"{path} is empty; set MI_SECRET_KEY")


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
    oidc_providers: tuple[OidcProvider, ...] = ()
    redis_url: str | None = None  # shared rate-limit windows when several workers run
    rate_limit_factor: float = 1.0  # multiplies every rate limit (many users behind one address)
    # Where email goes: smtp://user:pass@host:port?tls=starttls|implicit|none, or file://folder.
    mail_url: str = ""
    # Where SMS goes: https://account:token@provider/base (REST shape), or file://folder.
    sms_url: str = ""
    mail_from: str = "MI Portal <no-reply@mi-portal.test>"
    # Patients answer emails to reply+<key>@this domain; the inbound hook maps the key to a thread.
    reply_domain: str = "reply.mi-portal.test"
    sms_from: str = "+12025550100"
    # Phone numbers typed without a country code are read as this region's.
    phone_region: str = "US"
    # Secrets the inbound email and SMS providers sign their webhooks with (HMAC-SHA256).
    inbound_email_secret: str = ""
    inbound_sms_secret: str = ""
    # Staff sessions revoked or expired this many days ago lose their IP and user agent.
    session_network_days: int = 30


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
        oidc_providers=_oidc_providers(),
        redis_url=os.environ.get("MI_REDIS_URL") or os.environ.get("REFLEX_REDIS_URL") or None,
        rate_limit_factor=float(os.environ.get("MI_RATE_LIMIT_FACTOR", "1") or 1),
        mail_url=os.environ.get("MI_MAIL") or f"file://{data_dir / 'mail'}",
        sms_url=os.environ.get("MI_SMS") or f"file://{data_dir / 'sms'}",
        mail_from=os.environ.get("MI_MAIL_FROM", "MI Portal <no-reply@mi-portal.test>"),
        reply_domain=os.environ.get("MI_REPLY_DOMAIN", "reply.mi-portal.test"),
        sms_from=os.environ.get("MI_SMS_FROM", "+12025550100"),
        phone_region=os.environ.get("MI_PHONE_REGION", "US"),
        inbound_email_secret=os.environ.get("MI_INBOUND_EMAIL_SECRET")
        or _derived(data_dir, "inbound-email"),
        inbound_sms_secret=os.environ.get("MI_INBOUND_SMS_SECRET")
        or _derived(data_dir, "inbound-sms"),
        session_network_days=_int_setting("MI_SESSION_NETWORK_DAYS", 30, low=1, high=3650),
    )


def _int_setting(name: str, default: int, *, low: int, high: int) -> int:
    """A whole number from the environment within ``low``..``high`` (a bad value stops start-up)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise RuntimeError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _derived(data_dir: Path, purpose: str) -> str:
    """A per-purpose secret derived from the app's secret key (when none is configured)."""
    import hashlib
    import hmac

    key = _secret_key(data_dir).encode()
    return hmac.new(key, purpose.encode(), hashlib.sha256).hexdigest()


def reset_settings() -> None:
    """Forget cached settings so the next call reads the environment again."""
    get_settings.cache_clear()
