"""``make prod``: the production shape on one machine, every part on loopback.

PostgreSQL (owner + app role), Reflex state in Redis, photos in S3 (moto's server), migrations
and demo data first, then ``reflex run --env prod --single-port`` with ``WORKERS`` backend
workers behind one port. Ctrl+C (or SIGTERM) stops everything this launcher started.

``python -m mi_portal.jobs.prod`` runs the launcher; ``python -m mi_portal.jobs.prod backend …``
is the app itself (Reflex's CLI with Granian told to start a killed worker again).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

from mi_portal.config import PROJECT_ROOT


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
    fresh: bool  # drop and recreate the database first (moto forgets its objects when stopped)
    data_dir: str

    @classmethod
    def from_env(cls) -> ProdShape:
        env = os.environ
        return cls(
            port=int(env.get("PORT", "3000")),
            workers=int(env.get("WORKERS", "2")),
            pg_server=env.get("PROD_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
            database=env.get("PROD_DB", "mi_prod"),
            app_role=env.get("PROD_APP_ROLE", "mi_app"),
            app_password=env.get("PROD_APP_PASSWORD", "mi-app-local"),
            redis_url=env.get("REFLEX_REDIS_URL", "redis://127.0.0.1:6379/0"),
            moto_port=int(env.get("MOTO_PORT", "5005")),
            bucket=env.get("PROD_BUCKET", "mi-prod-photos"),
            storage=env.get("MI_STORAGE", ""),
            fresh=env.get("PROD_FRESH", "") not in {"0", "no", "false"},
            data_dir=env.get("MI_DATA_DIR", str(PROJECT_ROOT / "data" / "prod")),
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
        """The environment every process of the app runs with."""
        env = dict(os.environ)
        env.setdefault("AWS_ACCESS_KEY_ID", "testing")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        env.update(
            MI_DATABASE_URL=self.app_url,
            MI_ADMIN_DATABASE_URL=self.admin_url,
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


def ensure_database(shape: ProdShape) -> None:
    """Create the database (afresh when ``fresh``), owned by the server's owner role."""
    from mi_portal.db_roles import ensure_database as create

    if create(shape.pg_server.rstrip("/") + "/postgres", shape.database, fresh=shape.fresh):
        say(f"database {shape.database} created")


def ensure_bucket(shape: ProdShape) -> None:
    import boto3

    client = boto3.client("s3", region_name="us-east-1", endpoint_url=shape.moto_url)
    names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if shape.bucket not in names:
        client.create_bucket(Bucket=shape.bucket)


def prepare(shape: ProdShape, env: dict[str, str]) -> None:
    """Migrations (as the owner; the app role is created and granted) and the demo data."""
    ensure_database(shape)
    cli = [sys.executable, "-m", "mi_portal.jobs.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True)  # noqa: S603
    subprocess.run([*cli, "seed", "--quiet"], env=env, check=True)  # noqa: S603


def launch(shape: ProdShape) -> int:
    env = shape.app_env()
    os.environ.update(env)  # this process's own calls (bucket, database) see the same settings
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        with moto(shape, env):
            prepare(shape, env)
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
                f"state in Redis ({shape.redis_url}), database {shape.database} as "
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
    ):
        wait_for_port(shape.moto_port)
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
