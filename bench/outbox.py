"""Outbox benchmark: the delivery worker against plain smtplib, to the same SMTP server.

    python bench/outbox.py [--n 5000] [--batch 500] [--pg] [--server-in-process]

Queues N emails in one clinic of a fresh database (a temporary SQLite file, or with --pg a new
PostgreSQL database on the server from MI_ADMIN_DATABASE_URL, default postgres@127.0.0.1),
starts aiosmtpd on loopback (in its own process, like a real mail server, unless
--server-in-process), and times in the same run (a) the baseline: the same N messages, built
beforehand and flattened to bytes, sent over one smtplib connection, and (b) the worker: ``deliver_once`` rounds until
the queue is empty (claiming, one durable state commit per message, building each message,
sending it). The baseline runs before and after the worker; its mean is the reference. Checks
that the server took every message, prints the timings, and last the line
``ratio=<worker time / baseline time> msgs_per_s=<worker messages per second>``.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402

from bench.pg_database import drop_database, new_database  # noqa: E402


class Counting:
    """An SMTP handler that takes every message and counts it (the same for both runs)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.count += 1
        return "250 OK"


@contextmanager
def database(pg: bool) -> Iterator[tuple[str, str]]:
    """(owner URL, app URL) of a fresh, migrated database, removed afterwards."""
    from mi_portal import migrations

    if not pg:
        with tempfile.TemporaryDirectory(prefix="mi-bench-outbox-") as folder:
            url = f"sqlite:///{Path(folder) / 'mi_portal.db'}"
            migrations.upgrade(admin_url=url, app_url=url)
            yield url, url
        return
    name, role, admin, app = new_database("mi_bench_outbox")
    try:
        yield admin, app
    finally:
        from mi_portal.db import dispose_engines

        dispose_engines()
        drop_database(name, role)


def queue(n: int) -> list[Any]:
    """N emails in one clinic; returns them as the transports see them (for the baseline)."""
    from sqlmodel import select

    from mi_portal.db import platform_session, tenant_session
    from mi_portal.models import OutboxMessage, Tenant
    from mi_portal.services import channels, outbox

    with platform_session() as session:
        tenant = Tenant(slug="bench-clinic", name="Bench Clinic")
        session.add(tenant)
        session.commit()
        tenant_id = tenant.id
    with tenant_session(tenant_id) as session:
        for i in range(n):
            outbox.enqueue(
                session,
                channel="email",
                recipient=f"patient{i}@example.org",
                subject=f"Your consultation {i}",
                body=f"Hello,\n\nthe clinic has answered your consultation {i}.\n" * 3,
                html_body=f"<p>Hello,</p><p>the clinic has answered consultation {i}.</p>",
                reply_to=f"reply+{i:08d}@reply.mi-portal.test",
            )
        session.commit()
        rows = session.exec(select(OutboxMessage)).all()
        return [channels.Outgoing.of(row) for row in rows]


def baseline(port: int, prepared: list[tuple[str, str, bytes]]) -> float:
    """The same messages, already flattened to bytes, over one plain smtplib connection."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for sender, recipient, data in prepared:
            conn.sendmail(sender, [recipient], data)
    return time.perf_counter() - started


def worker(batch: int) -> tuple[float, int]:
    from mi_portal.services import outbox

    sent = 0
    started = time.perf_counter()
    while True:
        counts = outbox.deliver_once(batch=batch, worker_id="bench")
        sent += counts.sent
        if not counts.claimed:
            break
    return time.perf_counter() - started, sent


def serve_smtp(port: int) -> None:
    """Child mode: aiosmtpd counting messages until stdin closes, then print the count."""
    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()
    print(handler.count, flush=True)


@contextmanager
def smtp_server(in_process: bool) -> Iterator[tuple[int, Callable[[], int]]]:
    """(port, a function giving the count of messages taken) of a running aiosmtpd."""
    port = _free_port()
    if in_process:
        handler = Counting()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            yield port, lambda: handler.count
        finally:
            controller.stop()
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-smtp", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    counted: list[int] = []

    def count() -> int:
        if not counted:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.close()
            counted.append(int(child.stdout.readline()))
        return counted[0]

    try:
        yield port, count
    finally:
        count()
        child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="emails to deliver")
    parser.add_argument("--batch", type=int, default=500, help="rows the worker claims at a time")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument(
        "--server-in-process",
        action="store_true",
        help="run aiosmtpd in this process (it then competes with the client for the GIL)",
    )
    parser.add_argument("--serve-smtp", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_smtp:
        serve_smtp(args.serve_smtp)
        return

    with (
        smtp_server(args.server_in_process) as (port, received),
        tempfile.TemporaryDirectory(prefix="mi-bench-data-") as data,
        database(args.pg) as urls,
    ):
        os.environ.update(
            MI_DATA_DIR=data,
            MI_ADMIN_DATABASE_URL=urls[0],
            MI_DATABASE_URL=urls[1],
            MI_MAIL=f"smtp://127.0.0.1:{port}?tls=none",
        )
        from mi_portal.config import get_settings, reset_settings
        from mi_portal.services import channels

        reset_settings()
        outgoing = queue(args.n)
        sender = get_settings().mail_from
        envelope = email.utils.parseaddr(sender)[1]
        # Fully prepared: built by the email package and flattened before the clock starts.
        prepared = [
            (envelope, m.recipient, channels.build_email(m, sender=sender).as_bytes())
            for m in outgoing
        ]
        kind = "PostgreSQL" if args.pg else "SQLite"
        where = "this process" if args.server_in_process else "its own process"
        print(f"  {args.n} emails queued in one clinic ({kind}); aiosmtpd in {where}")

        before = baseline(port, prepared)
        print(f"  baseline (smtplib, one connection): {before:.2f}s")
        took, sent = worker(args.batch)
        print(f"  worker (deliver_once, batch {args.batch}): {took:.2f}s, {sent} sent")
        after = baseline(port, prepared)
        print(f"  baseline again: {after:.2f}s")
        total = received()
    if sent != args.n or total != 3 * args.n:
        raise SystemExit(f"expected {args.n} sent and {3 * args.n} received, got {sent}, {total}")
    reference = (before + after) / 2
    print(f"ratio={took / reference:.2f} msgs_per_s={sent / took:.0f}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
