"""The production shape under faults: PostgreSQL and Redis restarted mid-load, S3 refusing for a
minute, a worker killed during a photo upload (``make test-faults``; several minutes).

Every test checks the same promises: nobody is told something succeeded that did not, every
photo row has its object (``mi-portal storage check``), a signed-in tab keeps working, and the
app answers again with no manual step.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import sqlalchemy as sa

from tests.faults.portal_client import Tab, fill_intake, sign_in, upload_intake
from tests.faults.shape import App, PrivatePostgres, PrivateRedis, RefusingProxy, free_port
from tests.intake_helpers import jpeg_bytes

pytestmark = pytest.mark.faults

INBOX = "reflex___state____state.mi_portal___state___inbox____inbox_state"
BUCKET = "faults-photos"
S3_OUTAGE_SECONDS = 60.0
USER = "coordinator@lakeside-derm.test"


class Shape:
    def __init__(self, pg: PrivatePostgres, redis: PrivateRedis, s3: RefusingProxy, app: App):
        self.pg, self.redis, self.s3, self.app = pg, redis, s3, app

    def leaders(self) -> int:
        """Backends holding the in-process worker's lock (exactly one when all is well)."""
        from mi_portal.services.outbox import LEADER_KEY

        engine = sa.create_engine(f"{self.pg.server_url}/mi_faults")
        held = sa.text(
            "select count(*) from pg_locks where locktype = 'advisory' and granted "
            "and objsubid = 1 and objid = (hashtext(:k)::bigint & 4294967295)::oid"
        )
        try:
            with engine.connect() as conn:
                return int(conn.execute(held, {"k": LEADER_KEY}).scalar_one())
        finally:
            engine.dispose()

    def one_leader_within(self, seconds: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            if self.leaders() == 1:
                return time.monotonic() - start
            time.sleep(0.5)
        raise AssertionError(f"{self.leaders()} holders of the in-process worker's lock")

    def storage_check(self) -> str:
        done = self.app.cli("storage", "check")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "row without object" not in done.stdout, done.stdout
        return done.stdout

    def submissions(self) -> int:
        """Photo rows the database holds, counted by the database (as the server's superuser:
        the count spans clinics, and works while S3 is away)."""
        from mi_portal.models import ImageRendition

        engine = sa.create_engine(f"{self.pg.server_url}/mi_faults")
        try:
            with engine.connect() as conn:
                count = sa.select(sa.func.count()).select_from(ImageRendition.__table__)  # type: ignore[attr-defined]
                return int(conn.execute(count).scalar_one())
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shape]:
    folder = tmp_path_factory.mktemp("faults")
    pg = PrivatePostgres()
    redis = PrivateRedis()
    moto_port = free_port()
    moto = subprocess.Popen(  # noqa: S603
        [
            os.path.join(os.path.dirname(sys.executable), "moto_server"),
            "-H",
            "127.0.0.1",
            "-p",
            str(moto_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proxy = RefusingProxy(moto_port)
    app: App | None = None
    try:
        pg.start()
        redis.start()
        from tests.faults.shape import wait_port

        wait_port(moto_port)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        boto3.client(
            "s3", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{moto_port}"
        ).create_bucket(Bucket=BUCKET)
        proxy.start()
        port = free_port()
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("MI_", "PROD_", "REFLEX_", "GRANIAN_")):
                env.pop(name)
        env.update(
            PORT=str(port),
            WORKERS="2",
            PROD_PG=pg.server_url,
            PROD_DB="mi_faults",
            PROD_SEED_CASES="4",
            REFLEX_REDIS_URL=redis.url,
            MI_STORAGE=f"s3://{BUCKET}?region=us-east-1&endpoint_url=http://127.0.0.1:{proxy.port}",
            MI_DATA_DIR=str(folder / "data"),
            # Many simulated users from one address: the per-address limits are not under test.
            MI_RATE_LIMIT_FACTOR="50",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        )
        app = App(env, port, folder / "app.log")
        app.start()
        yield Shape(pg, redis, proxy, app)
    finally:
        if app is not None:
            app.stop()
        proxy.refuse()
        moto.terminate()
        moto.wait(10)
        redis.stop()
        pg.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def signed_in_tab(shape: Shape, http: httpx.AsyncClient) -> Tab:
    tab = Tab(shape.app.base_url, http)
    await sign_in(tab, USER)
    await tab.close()
    queue = Tab(shape.app.base_url, http)
    await queue.open("/cases/")
    assert queue.var(INBOX, "rows"), "the queue shows the clinic's cases"
    return queue


async def queue_loads(shape: Shape, http: httpx.AsyncClient, seconds: float = 90.0) -> float:
    """Open the queue until it shows rows again; how long it took."""
    start = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - start < seconds:
        tab = Tab(shape.app.base_url, http)
        try:
            await tab.open("/cases/", timeout=10)
            if tab.var(INBOX, "rows"):
                return time.monotonic() - start
        except Exception as exc:  # the fault is still on: try again
            last = exc
        finally:
            await tab.close()
        await asyncio.sleep(1)
    raise AssertionError(f"the queue did not load again within {seconds} s: {last!r}")


async def load(shape: Shape, http: httpx.AsyncClient, stop: asyncio.Event) -> dict[str, int]:
    """Staff traffic while a fault happens: queue pages, each a new tab; counts outcomes."""
    counts = {"ok": 0, "failed": 0}
    while not stop.is_set():
        tab = Tab(shape.app.base_url, http)
        try:
            await tab.open("/cases/", timeout=10)
            counts["ok" if tab.var(INBOX, "rows") else "failed"] += 1
        except Exception:
            counts["failed"] += 1
        finally:
            await tab.close()
        await asyncio.sleep(0.2)
    return counts


async def intake_outcome(shape: Shape) -> tuple[str, dict[str, Any]]:
    """Send one public form with a photo: ("receipt", …), ("failure", …) or ("error", …)."""
    async with httpx.AsyncClient() as http:
        tab = Tab(shape.app.base_url, http)
        try:
            await fill_intake(tab)
            final = await upload_intake(tab, jpeg_bytes(int(time.time()) % 1000))
        except Exception as exc:
            return "error", {"exception": repr(exc)}
        finally:
            await tab.close()
    if final.get("receipts"):
        return "receipt", final
    return "failure", final


def assert_told_the_truth(
    shape: Shape, outcome: str, final: dict[str, Any], rows_before: int, *, s3_up: bool = True
) -> None:
    """A receipt means the photo rows and objects exist; anything else means nothing was added."""
    rows_after = shape.submissions()
    if outcome == "receipt":
        assert rows_after > rows_before, "a receipt was shown for a submission that is not stored"
    else:
        assert rows_after == rows_before, f"not told of success, yet rows were added: {final}"
    if s3_up:
        shape.storage_check()


def test_the_shape_serves_with_two_workers(shape: Shape) -> None:
    assert len(shape.app.workers()) == 2
    shape.one_leader_within(30)  # of two workers, one runs the outbox and the upkeep

    async def scenario() -> None:
        async with httpx.AsyncClient() as http:
            tab = await signed_in_tab(shape, http)
            links = [r["thumbnail"] for r in tab.var(INBOX, "rows") if r.get("thumbnail")]
            await tab.close()
            assert links, "the seeded cases show their photos"
            got = await http.get(shape.app.base_url + links[0])  # from S3, via the signed route
            assert got.status_code == 200 and got.content[:3] == b"\xff\xd8\xff"

    run(scenario())
    shape.storage_check()


def test_a_worker_killed_during_a_photo_upload(shape: Shape) -> None:
    rows_before = shape.submissions()

    async def scenario() -> tuple[str, dict[str, Any], float]:
        async with httpx.AsyncClient() as http:
            queue = await signed_in_tab(shape, http)
            await queue.call(f"{INBOX}.apply_filters", {"form_data": {"search": "Garcia"}})
            search_url = queue.redirects[-1]
            token = queue.token
            await queue.close()

            tab = Tab(shape.app.base_url, http)
            await fill_intake(tab)
            killed: list[int] = []

            async def kill_the_uploads_worker() -> None:
                out = subprocess.run(
                    ["ss", "-tnpH", f"sport = :{shape.app.port}"],
                    capture_output=True,
                    text=True,
                ).stdout
                pids = {int(p) for p in re.findall(r"pid=(\d+)", out)}
                workers = [p for p in shape.app.workers() if p in pids] or shape.app.workers()
                for pid in workers:  # whichever holds the upload's connection (or both)
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

            photo = jpeg_bytes(7, size=(1600, 1200))
            try:
                final = await upload_intake(
                    tab, photo, pause_after=len(photo) // 2, on_pause=kill_the_uploads_worker
                )
                outcome = "receipt" if final.get("receipts") else "failure"
            except httpx.HTTPError as exc:
                outcome, final = "error", {"exception": repr(exc)}
            assert killed
            with_state = Tab(shape.app.base_url, http, token=token)
            recovered = await queue_loads(shape, http)
            await with_state.open(search_url)
            kept = with_state.var(INBOX, "view").get("search")
            await with_state.close()
            return outcome, final, recovered if kept == "Garcia" else -1.0

    outcome, final, recovered = run(scenario())
    assert outcome != "receipt" or final.get("receipts"), final
    assert_told_the_truth(shape, outcome, final, rows_before)
    assert recovered >= 0, "the signed-in tab lost its state when its worker was killed"
    assert len(shape.app.workers()) == 2  # Granian started new workers
    shape.one_leader_within(30)  # if the holder was killed, the other worker took over
    after = run(intake_outcome(shape))
    assert after[0] == "receipt", after
    shape.storage_check()
    print(f"\nFAULT worker-kill: upload answered {outcome}; queue back in {recovered:.1f} s")


def test_s3_refusing_for_a_minute(shape: Shape) -> None:
    rows_before = shape.submissions()
    shape.s3.refuse()
    started = time.monotonic()
    try:
        outcome, final = run(intake_outcome(shape))
        during = outcome
        assert outcome != "receipt", "a receipt was shown while S3 refused every request"
        if outcome == "failure":
            assert final.get("failure"), final  # the patient is told it did not go through
        assert_told_the_truth(shape, outcome, final, rows_before, s3_up=False)
        time.sleep(max(0.0, S3_OUTAGE_SECONDS - (time.monotonic() - started)))
    finally:
        shape.s3.restore()
    outage = time.monotonic() - started
    deadline = time.monotonic() + 60
    outcome = "failure"
    while time.monotonic() < deadline:
        outcome, final = run(intake_outcome(shape))
        if outcome == "receipt":
            break
        time.sleep(2)
    assert outcome == "receipt", final
    shape.storage_check()  # nothing of the refused submission was left behind either
    print(
        f"\nFAULT s3-refuses: {outage:.0f} s outage; the form sent during it answered "
        f"{during!r} (no receipt); accepted again after"
    )


def test_postgres_restarted_mid_load(shape: Shape) -> None:
    rows_before = shape.submissions()

    async def scenario() -> tuple[dict[str, int], tuple[str, dict[str, Any]], float]:
        async with httpx.AsyncClient() as http:
            await signed_in_tab(shape, http)
            stop = asyncio.Event()
            traffic = asyncio.create_task(load(shape, http, stop))
            await asyncio.sleep(3)
            restart = asyncio.create_task(asyncio.to_thread(shape.pg.restart))
            during = asyncio.create_task(intake_outcome(shape))
            await restart
            submitted = await during
            recovered = await queue_loads(shape, http)
            await asyncio.sleep(2)
            stop.set()
            return await traffic, submitted, recovered

    counts, (outcome, final), recovered = run(scenario())
    assert counts["ok"] > 0
    assert_told_the_truth(shape, outcome, final, rows_before)
    # The holder's connection died with the restart: one worker holds the lock again.
    relocked = shape.one_leader_within(30)
    after = run(intake_outcome(shape))
    assert after[0] == "receipt", after
    print(
        f"\nFAULT postgres-restart: {counts['ok']} pages ok, {counts['failed']} failed during; "
        f"form sent during it: {outcome}; queue back in {recovered:.1f} s; "
        f"one holder of the in-process worker's lock again ({relocked:.1f} s after the queue)"
    )


def test_redis_restarted_mid_load(shape: Shape) -> None:
    rows_before = shape.submissions()

    async def scenario() -> tuple[dict[str, int], float]:
        async with httpx.AsyncClient() as http:
            await signed_in_tab(shape, http)
            stop = asyncio.Event()
            traffic = asyncio.create_task(load(shape, http, stop))
            await asyncio.sleep(3)
            await asyncio.to_thread(shape.redis.restart)
            # The sign-in (a cookie and a database row) outlives the tabs' state in Redis.
            recovered = await queue_loads(shape, http)
            await asyncio.sleep(2)
            stop.set()
            return await traffic, recovered

    counts, recovered = run(scenario())
    assert counts["ok"] > 0
    outcome, final = run(intake_outcome(shape))
    assert outcome == "receipt", final
    assert_told_the_truth(shape, outcome, final, rows_before)
    print(
        f"\nFAULT redis-restart: {counts['ok']} pages ok, {counts['failed']} failed during; "
        f"signed-in queue back in {recovered:.1f} s with no new sign-in"
    )


def test_nothing_of_the_tabs_on_disk(shape: Shape) -> None:
    from mi_portal.config import PROJECT_ROOT

    assert not (Path(PROJECT_ROOT) / ".states").exists()
