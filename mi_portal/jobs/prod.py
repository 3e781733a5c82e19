"""``make prod``: the production shape on one machine, every part on loopback.

PostgreSQL (owner + app role), Reflex state in Redis, photos in S3 (moto's server), migrations
and demo data first, then ``reflex run --env prod --single-port`` with ``WORKERS`` backend
workers behind one port. Ctrl+C (or SIGTERM) stops everything this launcher started.

``python -m mi_portal.jobs.prod`` runs the launcher; ``python -m mi_portal.jobs.prod backend …``
is the app itself (Reflex's CLI with Granian told to start a killed worker again).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import quote, urlsplit, urlunsplit

from mi_portal.config import PROJECT_ROOT, private_dir


@dataclass(frozen=True)
class ProdShape:
    """What ``make prod`` starts, read from the environment (README: "Production shape")."""

    port: int
    workers: int
    pg_server: str  # the owner's connection to the server, without a database
    database: str
    app_role: str
    app_password: str
    redis_url: str
    moto_port: int
    bucket: str
    storage: str  # MI_STORAGE; empty: moto on ``moto_port`` with ``bucket``
    fresh: bool  # FRESH=1: drop and recreate the database first (only one ``make prod`` made)
    seed_cases: int  # demo cases per clinic
    data_dir: str

    @classmethod
    def from_env(cls) -> ProdShape:
        env = os.environ
        data_dir = env.get("MI_DATA_DIR", str(PROJECT_ROOT / "data" / "prod"))
        return cls(
            port=int(env.get("PORT", "3000")),
            workers=int(env.get("WORKERS", "2")),
            pg_server=env.get("PROD_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
            database=env.get("PROD_DB", "mi_prod"),
            app_role=env.get("PROD_APP_ROLE", "mi_app"),
            app_password=env.get("PROD_APP_PASSWORD") or stored_password(Path(data_dir)),
            redis_url=env.get("REFLEX_REDIS_URL", "redis://127.0.0.1:6379/0"),
            moto_port=int(env.get("MOTO_PORT", "5005")),
            bucket=env.get("PROD_BUCKET", "mi-prod-photos"),
            storage=env.get("MI_STORAGE", ""),
            fresh=_yes(env.get("FRESH", "")) or _yes(env.get("PROD_FRESH", "")),
            seed_cases=int(env.get("PROD_SEED_CASES", "110")),
            data_dir=data_dir,
        )

    @property
    def admin_url(self) -> str:
        return f"{self.pg_server.rstrip('/')}/{self.database}"

    @property
    def app_url(self) -> str:
        server = self.pg_server.rstrip("/").split("://", 1)
        host = server[1].rsplit("@", 1)[-1]
        credentials = f"{quote(self.app_role, safe='')}:{quote(self.app_password, safe='')}"
        return f"{server[0]}://{credentials}@{host}/{self.database}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def app_env(self) -> dict[str, str]:
        """The environment the app's workers (and the seed) run with: the database as the app
        role only. The owner's URL is not in it (see ``owner_env``)."""
        env = dict(os.environ)
        env.pop("MI_ADMIN_DATABASE_URL", None)
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        # glibc gives each thread that allocates its own malloc arena (up to 8 per CPU); the
        # workers' database reads run on a pool of threads, and memory freed in one arena is
        # not used by another. Two arenas keep a worker's resident memory near what it uses
        # (README, "Production shape": the load test's memory figures). Set it to override.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        env.update(
            MI_DATABASE_URL=self.app_url,
            MI_DATA_DIR=self.data_dir,
            MI_STORAGE=self.storage
            or f"s3://{self.bucket}?region=us-east-1&endpoint_url={self.moto_url}",
            MI_FRONTEND_ORIGIN=env.get("MI_FRONTEND_ORIGIN", f"http://localhost:{self.port}"),
            REFLEX_REDIS_URL=self.redis_url,
            GRANIAN_WORKERS=str(self.workers),
            # Every worker starts the in-process worker; one of them holds the role at a time.
            MI_OUTBOX_IN_PROCESS="1",
            REFLEX_USE_SYSTEM_BUN="1",
            REFLEX_TELEMETRY_ENABLED="false",
        )
        return env

    def owner_env(self) -> dict[str, str]:
        """``app_env`` plus the owner's URL: for ``mi-portal db upgrade`` alone (migrations, and
        creating and granting the app role)."""
        return {**self.app_env(), "MI_ADMIN_DATABASE_URL": self.admin_url}


def _yes(value: str) -> bool:
    return value.strip().lower() in {"1", "yes", "true", "on"}


def stored_password(data_dir: Path) -> str:
    """The app role's password: made once at random and kept (0600) in the private data dir."""
    path = data_dir / "app-role-password"
    if path.exists():
        return path.read_text().strip()
    private_dir(data_dir)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    return password


def masked(url: str) -> str:
    """``url`` without its password (for the console)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def persistence_warning(save: str, appendonly: str) -> str | None:
    """A warning when Redis writes its data to disk (the tabs' state is personal data)."""
    if save.strip() or appendonly.strip().lower() == "yes":
        return (
            "Redis persists its data to disk (save or appendonly is on): the tabs' state, "
            "personal data, will be written there"
        )
    return None


def check_redis_persistence(url: str) -> None:
    """Say so when the Redis of the tabs' state persists; silent if it cannot be asked."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        settings: dict[str, str] = {}
        for name in ("save", "appendonly"):
            settings.update(cast("dict[str, str]", client.config_get(name)))
        save, appendonly = settings.get("save", ""), settings.get("appendonly", "no")
    except Exception:  # CONFIG not allowed (a managed Redis) or Redis away: nothing to say
        return
    finally:
        client.close()
    warning = persistence_warning(str(save), str(appendonly))
    if warning:
        say(f"warning: {warning}")


def say(message: str) -> None:
    print(f"[prod] {message}", flush=True)


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


@contextmanager
def started(
    name: str, argv: list[str], env: dict[str, str], *, quiet: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` in its own process group; stop the whole group (TERM, then KILL) at the end.
    ``quiet`` drops its output (moto logs every request)."""
    out = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(argv, env=env, start_new_session=True, stdout=out, stderr=out)  # noqa: S603
    say(f"{name} started (pid {process.pid})")
    try:
        yield process
    finally:
        stop_group(process)
        say(f"{name} stopped")


def stop_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Refused(RuntimeError):
    """``make prod`` will not do what it was asked (the message says why)."""


def database_plan(
    *, fresh: bool, real_store: bool, exists: bool, made_by_prod: bool, name: str
) -> tuple[str, str]:
    """What to do with the database at start: ``("create" | "keep" | "recreate", message)``.

    The data is kept unless ``FRESH=1``; a database is dropped only when ``make prod`` made it
    and the photos are in moto (whose objects are gone anyway), never with a real store.
    """
    if not exists:
        return "create", f"database {name} does not exist: creating it"
    if not fresh:
        if real_store:
            return "keep", f"keeping database {name}"
        return "keep", (
            f"keeping database {name}; moto starts empty, so photos stored by an earlier run "
            "are missing (FRESH=1 starts over with fresh demo data)"
        )
    if real_store:
        raise Refused(
            f"FRESH=1 refused: MI_STORAGE names a real store, so database {name} is kept "
            "(dropping it would leave that store's objects without rows)"
        )
    if not made_by_prod:
        raise Refused(f"FRESH=1 refused: database {name} was not made by make prod")
    return "recreate", f"FRESH=1: dropping database {name} and creating it again"


def ensure_database(shape: ProdShape) -> None:
    """Create, keep or (``FRESH=1``) recreate the database, owned by the server's owner role."""
    from mi_portal import db_roles

    server = shape.pg_server.rstrip("/") + "/postgres"
    exists, made_by_prod = db_roles.database_facts(server, shape.database)
    action, message = database_plan(
        fresh=shape.fresh,
        real_store=bool(shape.storage),
        exists=exists,
        made_by_prod=made_by_prod,
        name=shape.database,
    )
    say(message)
    if action == "recreate":
        db_roles.drop_database(server, shape.database)
    if action in {"create", "recreate"}:
        db_roles.create_database(server, shape.database)
        say(f"database {shape.database} created")


def ensure_bucket(shape: ProdShape) -> None:
    import boto3

    client = boto3.client("s3", region_name="us-east-1", endpoint_url=shape.moto_url)
    names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if shape.bucket not in names:
        client.create_bucket(Bucket=shape.bucket)


def prepare(shape: ProdShape, env: dict[str, str]) -> None:
    """Migrations (as the owner; the app role is created and granted) and the demo data (as the
    app role; skipped for clinics already seeded)."""
    ensure_database(shape)
    cli = [sys.executable, "-m", "mi_portal.jobs.cli"]
    # Only the migrations see the owner's URL; the seed and the app connect as the app role.
    subprocess.run([*cli, "db", "upgrade"], env=shape.owner_env(), check=True)  # noqa: S603
    seed = [*cli, "seed", "--quiet", "--cases-per-clinic", str(shape.seed_cases)]
    subprocess.run(seed, env=env, check=True)  # noqa: S603


def launch(shape: ProdShape) -> int:
    env = shape.app_env()
    os.environ.update(env)  # this process's own calls (bucket, database) see the same settings
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:  # a second Ctrl+C during clean-up: let the clean-up finish
            return
        stopping = True
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a background start ignores it
        signal.signal(signum, on_signal)
    try:
        with moto(shape, env):
            try:
                prepare(shape, env)
            except Refused as exc:
                say(str(exc))
                return 2
            check_redis_persistence(shape.redis_url)
            app = [
                sys.executable,
                "-m",
                "mi_portal.jobs.prod",
                "backend",
                "run",
                "--env",
                "prod",
                "--single-port",
                "--frontend-port",
                str(shape.port),
                "--backend-port",
                str(shape.port),
            ]
            say(
                f"MI Portal on http://localhost:{shape.port}: {shape.workers} backend workers, "
                f"state in Redis ({masked(shape.redis_url)}), database {shape.database} as "
                f"{shape.app_role}; Ctrl+C stops everything"
            )
            with started("app", app, env) as process:
                return process.wait()
    except KeyboardInterrupt:
        say("stopping")
        return 0 if stopping else 130


@contextmanager
def moto(shape: ProdShape, env: dict[str, str]) -> Iterator[None]:
    """moto's S3 server on loopback, unless MI_STORAGE names a real store."""
    if shape.storage:
        yield
        return
    argv = [os.path.join(os.path.dirname(sys.executable), "moto_server")]
    with started(
        "S3 (moto)", [*argv, "-H", "127.0.0.1", "-p", str(shape.moto_port)], env, quiet=True
    ) as process:
        wait_for_port(shape.moto_port)
        time.sleep(0.5)
        if process.poll() is not None:  # the port answered, but not this moto
            raise RuntimeError(f"moto exited: is port {shape.moto_port} taken by another one?")
        ensure_bucket(shape)
        yield


def backend(argv: list[str]) -> int:
    """Reflex's CLI, with Granian respawning a worker that died instead of stopping them all.

    Reflex 0.10 starts Granian itself (``exec.run_granian_backend_prod``: ``workers`` from
    ``GRANIAN_WORKERS``) and leaves ``respawn_failed_workers`` off, so one killed worker would
    take the whole backend down. The class is looked up at call time, so this subclass is used.
    """
    import granian.server

    base = granian.server.Server

    class RespawningServer(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("respawn_failed_workers", True)
            super().__init__(*args, **kwargs)

    granian.server.Server = RespawningServer  # type: ignore[misc]
    from reflex.reflex import cli

    os.chdir(PROJECT_ROOT)
    return int(cli.main(args=argv, prog_name="reflex", standalone_mode=False) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["backend"]:
        return backend(argv[1:])
    return launch(ProdShape.from_env())


if __name__ == "__main__":
    sys.exit(main())
