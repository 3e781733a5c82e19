"""Private parts for the fault runs: PostgreSQL, Redis, an S3 that can refuse, and the app.

Nothing here touches the machine's shared PostgreSQL or Redis: the cluster is made with
``initdb`` in a temporary folder and the Redis server runs on a free port, so restarting them
disturbs nobody. S3 is moto's server behind a small TCP proxy that can refuse connections
(moto keeps its objects in memory, so stopping moto itself would lose them).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from mi_portal.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing answers on port {port}")


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(name)
    return path


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


class PrivatePostgres:
    """A throw-away cluster on a free port (trust authentication, loopback only)."""

    def __init__(self) -> None:
        # Its own folder under /tmp: pytest's folders are private to root, and the server runs
        # as the postgres user.
        self.folder = Path(tempfile.mkdtemp(prefix="mi-faults-pg-"))
        self.folder.chmod(0o755)
        self.data = self.folder / "pgdata"
        self.port = free_port()

    @property
    def server_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._ctl("-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def restart(self) -> None:
        """Stop (fast: every connection is cut) and start again."""
        self._ctl("-m", "fast", "-w", "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    """``redis-server`` on a free port, nothing persisted (a restart starts empty)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(  # noqa: S603
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def restart(self, down_seconds: float = 2.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


class RefusingProxy:
    """TCP proxy to ``target``; ``refuse()`` closes the listener and cuts open connections."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        # Called (in the proxy's thread) with every chunk the app sent, after it was passed on:
        # a fault can be injected at an exact point of the app's S3 traffic.
        self.on_request: Callable[[bytes], None] | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open.update({client, upstream})
            for a, b, watch in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, watch), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                hook = self.on_request
                if watch and hook is not None:
                    hook(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)

    def refuse(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in list(self._open):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.start()


class App:
    """``python -m mi_portal.jobs.prod`` on the private parts."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env = env
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self, seconds: float = 600.0) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "mi_portal.jobs.prod"],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited: see {self.log}")
            if self.answers():
                return
            time.sleep(1)
        raise TimeoutError(f"the app did not answer: see {self.log}")

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/ping", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def workers(self) -> list[int]:
        """The backend worker processes (children of Granian's supervisor)."""
        assert self.process is not None
        out = subprocess.run(
            ["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True
        ).stdout
        rows = [line.split(None, 2) for line in out.splitlines() if line.strip()]
        backend = [int(p) for p, pp, a in rows if int(pp) == self.process.pid and " backend " in a]
        return [int(p) for p, pp, _a in rows if backend and int(pp) == backend[0]]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``mi-portal …`` with the app's own settings."""
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "mi_portal.jobs.cli", *args],
            env=self.app_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def app_env(self) -> dict[str, str]:
        from mi_portal.jobs.prod import ProdShape

        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)
            return ProdShape.from_env().app_env()
        finally:
            os.environ.clear()
            os.environ.update(saved)
