"""The production shape under faults: PostgreSQL and Redis restarted mid-load, S3 refusing for a
minute, workers killed while a photo is being stored (``make test-faults``; several minutes).

What each checks is said in its own docstring. In every one: no receipt without its stored case,
no photo row without its object (``mi-portal storage check``), and the app answers again with
no manual step. Only the worker-kill tests keep a signed-in tab open through the fault.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import sqlalchemy as sa

from tests.faults.portal_client import INTAKE_STATE, Tab, fill_intake, sign_in, upload_intake
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
        """Backends holding the in-process worker's lock. PostgreSQL never grants it twice, so
        this shows there is a holder, not that no two workers work (the unit tests show that)."""
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

    def a_leader_within(self, seconds: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            if self.leaders() == 1:
                return time.monotonic() - start
            time.sleep(0.5)
        raise AssertionError(f"{self.leaders()} holders of the in-process worker's lock")

    def storage_check(self) -> int:
        """``mi-portal storage check``: no row without its object. Objects without a row (a
        submission that failed after writing them, within the grace period) are allowed by
        design; their count is returned."""
        done = self.app.cli("storage", "check")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "row without object" not in done.stdout, done.stdout
        return done.stdout.count("object without row")

    def references_stored(self, final: dict[str, Any]) -> bool:
        """Whether every receipt's reference names a case the database holds."""
        from mi_portal.models import Submission

        refs = [str(r["reference"]) for r in final.get("receipts") or []]
        table = Submission.__table__  # type: ignore[attr-defined]
        tail = sa.func.upper(sa.func.right(sa.cast(table.c.id, sa.String), 8))
        engine = sa.create_engine(f"{self.pg.server_url}/mi_faults")
        try:
            with engine.connect() as conn:
                found = conn.execute(sa.select(sa.func.count()).where(tail.in_(refs)))
                return bool(refs) and int(found.scalar_one()) == len(refs)
        finally:
            engine.dispose()

    def cases(self) -> int:
        """Cases (submissions) in the database, all clinics (as the server's superuser)."""
        from mi_portal.models import Submission

        engine = sa.create_engine(f"{self.pg.server_url}/mi_faults")
        try:
            with engine.connect() as conn:
                count = sa.select(sa.func.count()).select_from(Submission.__table__)  # type: ignore[attr-defined]
                return int(conn.execute(count).scalar_one())
        finally:
            engine.dispose()

    def kill_workers(self) -> list[int]:
        """SIGKILL every backend worker (Granian starts new ones)."""
        pids = self.app.workers()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

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
            if name.startswith(("MI_", "PROD_", "REFLEX_", "GRANIAN_")) or name == "FRESH":
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
        assert shape.references_stored(final), f"a receipt names a case that is not stored: {final}"
    else:
        assert rows_after == rows_before, f"not told of success, yet rows were added: {final}"
    if s3_up:
        shape.storage_check()


def test_the_shape_serves_with_two_workers(shape: Shape) -> None:
    assert len(shape.app.workers()) == 2
    shape.a_leader_within(30)  # of two workers, one runs the outbox and the upkeep

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


PUT_REQUEST = re.compile(rb"(?:^|\r\n)PUT /")


def test_a_worker_killed_while_a_photo_is_being_stored(shape: Shape) -> None:
    """The workers are killed when the app's first PUT of the upload reaches S3: the body is in,
    the app is storing the photo, nothing is committed yet. Meanwhile a signed-in tab has its
    socket OPEN on a killed worker. Checked: the upload is not answered with a receipt for a case
    that is not stored; no row lacks its object; the tab reconnects under its OWN token (Reflex
    does not rename it as a duplicate) and finds its search, which lives only in its state."""
    rows_before, cases_before = shape.submissions(), shape.cases()
    killed: list[int] = []

    def at_the_first_put(data: bytes) -> None:
        if not killed and PUT_REQUEST.search(data):
            # Both: the one storing the upload and the one holding the open tab's socket.
            killed.extend(shape.kill_workers())

    async def scenario() -> tuple[str, dict[str, Any], bool, float, Any, list[str]]:
        async with httpx.AsyncClient() as http:
            queue = await signed_in_tab(shape, http)
            await queue.call(f"{INBOX}.apply_filters", {"form_data": {"search": "Garcia"}})
            search_url = queue.redirects[-1]
            form = Tab(shape.app.base_url, http)
            await fill_intake(form)
            assert queue.sio.connected, "the signed-in tab is open during the kill"
            shape.s3.on_request = at_the_first_put
            try:
                final = await upload_intake(form, jpeg_bytes(7, size=(1600, 1200)))
                outcome = "receipt" if final.get("receipts") else "failure"
            except httpx.HTTPError as exc:
                outcome, final = "error", {"exception": repr(exc)}
            finally:
                shape.s3.on_request = None
            assert killed, "no PUT reached S3: the kill did not land while the photo was stored"
            for _ in range(100):  # the open socket is cut by the kill, not closed by the tab
                if not queue.sio.connected:
                    break
                await asyncio.sleep(0.1)
            cut = not queue.sio.connected
            recovered = await queue_loads(shape, http)
            # The same tab again (same token, as the page's sessionStorage keeps it).
            again = Tab(shape.app.base_url, http, token=queue.token)
            await again.open(search_url)
            kept = again.var(INBOX, "view").get("search")
            renamed = list(again.new_tokens)
            await again.close()
            await queue.close()
            return outcome, final, cut, recovered, kept, renamed

    outcome, final, cut, recovered, kept, renamed = run(scenario())
    assert cut, "the tab's socket outlived the kill: it was not on a killed worker"
    assert outcome != "receipt", f"the workers died before committing, yet a receipt: {final}"
    assert shape.cases() == cases_before
    assert_told_the_truth(shape, outcome, final, rows_before)
    assert renamed == [], "Reflex gave the tab a new token: its state is lost"
    assert kept == "Garcia", f"the signed-in tab lost its state when its worker was killed: {kept}"
    assert len(shape.app.workers()) == 2  # Granian started new workers
    shape.a_leader_within(30)  # if the holder was killed, the other worker took over
    after = run(intake_outcome(shape))
    assert after[0] == "receipt", after
    orphans = shape.storage_check()
    print(
        f"\nFAULT worker-kill-at-put: {len(killed)} workers killed at the upload's first S3 PUT; "
        f"upload answered {outcome}; open signed-in tab back under its own token with its "
        f"search in {recovered:.1f} s; storage check: no row without object, {orphans} "
        "object(s) without row (grace)"
    )


def test_a_worker_killed_right_after_the_photo_is_committed(shape: Shape) -> None:
    """A form sent to two clinics; the workers are killed once the first clinic's case is
    committed and before the patient is answered: the test holds the second clinic's
    audit-chain lock, so the worker waits there, inside the second clinic's transaction, and
    the kill lands while it waits. Checked: no receipt; the first case was committed with its
    intake event, the second not at all. Then the same tab (its token, its state in Redis)
    loads the form again, as a patient told nothing would: the button works, the form is still
    filled, and sending it again is answered with the first clinic's stored case and a new
    case at the second, with no case twice and each intake recorded once."""
    first, second = "lakeside-derm", "riverbend-aesthetics"
    cases_before = shape.cases()
    killed: list[int] = []
    done = threading.Event()
    engine = sa.create_engine(f"{shape.pg.server_url}/mi_faults", poolclass=sa.pool.NullPool)
    holder = engine.connect()
    since = holder.execute(sa.text("select clock_timestamp()")).scalar()
    clinic = holder.execute(sa.text("select id from tenant where slug = :s"), {"s": second})
    holder.execute(
        sa.text("select pg_advisory_xact_lock(hashtext(:k))"), {"k": f"audit:{clinic.scalar()}"}
    )

    def kill_at_commit() -> None:
        with engine.connect() as poll:
            count = sa.text("select count(*) from submission")
            while not done.is_set():
                if int(poll.execute(count).scalar_one()) > cases_before:
                    killed.extend(shape.kill_workers())
                    break
                poll.rollback()
                time.sleep(0.005)
        holder.rollback()  # the chain's lock goes: the killed worker's database session ends

    def intake_events() -> dict[str, int]:
        """``intake.submitted`` events per clinic slug, for cases made after the test began."""
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "select t.slug, count(*) from auditevent e join tenant t on t.id = e.tenant_id"
                    " join submission s on cast(s.id as text) = e.target_id"
                    " where e.action = 'intake.submitted' and s.received_at >= :since"
                    " group by t.slug"
                ),
                {"since": since},
            )
            return {slug: int(n) for slug, n in rows}

    photo = jpeg_bytes(int(time.time()) % 1000)

    async def send(tab: Tab) -> tuple[str, dict[str, Any]]:
        try:
            final = await upload_intake(tab, photo)
        except Exception as exc:
            return "error", {"exception": repr(exc)}
        return ("receipt" if final.get("receipts") else "failure"), final

    async def scenario() -> tuple[str, dict[str, Any], str, dict[str, Any], float, int]:
        async with httpx.AsyncClient() as http:
            tab = Tab(shape.app.base_url, http)
            await fill_intake(tab, first, also=(second,))
            watcher = threading.Thread(target=kill_at_commit, daemon=True)
            watcher.start()
            try:
                outcome, final = await send(tab)
            finally:
                done.set()
                watcher.join(10)
                holder.close()
            await tab.close()
            stored = shape.cases() - cases_before
            if outcome == "receipt":  # the answer got out: a new form is a new sending
                return outcome, final, "", {}, 0.0, stored
            # The patient loads the page again in the same tab (same token, same state).
            started = time.monotonic()
            while True:
                again = Tab(shape.app.base_url, http, token=tab.token)
                try:
                    await again.open("/consult")
                    break
                except Exception:
                    await again.close()
                    assert time.monotonic() - started < 90, "the form did not load again"
                    await asyncio.sleep(2)
            reloaded = time.monotonic() - started
            assert again.var(INTAKE_STATE, "submitting") is False, "the button stayed disabled"
            assert again.var(INTAKE_STATE, "full_name") == "Fault Patient", "the form was lost"
            assert again.var(INTAKE_STATE, "chosen") == [first, second], "the clinics were lost"
            resent, final_again = await send(again)
            await again.close()
            return outcome, final, resent, final_again, reloaded, stored

    try:
        outcome, final, resent, final_again, reloaded, stored = run(scenario())
        assert killed, "the case was never committed"
        assert outcome != "receipt", "answered before every clinic had the case"
        assert stored == 1, f"{stored} cases were committed before the kill, not the first one"
        assert resent == "receipt", final_again
        assert [r["clinic_name"] for r in final_again["receipts"]] == [
            "Lakeside Dermatology",
            "Riverbend Aesthetics",
        ], final_again
        assert shape.references_stored(final_again), final_again
        assert shape.cases() == cases_before + 2, "the form sent again stored a case twice"
        assert intake_events() == {first: 1, second: 1}, "an intake is not recorded once"
    finally:
        engine.dispose()
    orphans = shape.storage_check()  # the committed case has all its objects
    after = ("none", {})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # Granian starts new workers: forms are accepted again
        after = run(intake_outcome(shape))
        if after[0] == "receipt":
            break
        time.sleep(2)
    assert after[0] == "receipt", after
    assert len(shape.app.workers()) == 2
    shape.storage_check()
    print(
        f"\nFAULT worker-kill-at-commit: {len(killed)} workers killed once the first of two "
        f"clinics' cases was committed (with its intake event), before the answer; upload "
        f"answered {outcome}; the same tab loaded the form again in {reloaded:.1f} s (button "
        f"free, form and clinics kept) and sending it again was answered {resent}: the first "
        f"clinic's stored case and a new one at the second, no case twice, each intake "
        f"recorded once; storage check: no row without object, {orphans} object(s) without row"
    )


def test_s3_refusing_for_a_minute(shape: Shape) -> None:
    """A public form is sent while S3 refuses every connection for 60 s. Checked: no receipt,
    the patient is told it failed, no row was added, and forms are accepted again after."""
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


def timed(action: Any) -> tuple[float, float]:
    started = time.monotonic()
    action()
    return started, time.monotonic()


def test_postgres_restarted_mid_load(shape: Shape) -> None:
    """New tabs load the queue during a fast restart (each page a new tab); a public form is
    sent while it happens (whether the two overlapped is reported, not forced). Checked: the
    form's answer matches the database, no row lacks its object, the queue loads again and a
    worker holds the in-process worker's lock again."""
    rows_before = shape.submissions()
    windows: dict[str, tuple[float, float]] = {}

    async def scenario() -> tuple[dict[str, int], tuple[str, dict[str, Any]], float]:
        async with httpx.AsyncClient() as http:
            await signed_in_tab(shape, http)
            stop = asyncio.Event()
            traffic = asyncio.create_task(load(shape, http, stop))
            await asyncio.sleep(3)
            restart = asyncio.create_task(asyncio.to_thread(timed, shape.pg.restart))
            during = asyncio.create_task(intake_outcome(shape))
            sent_at = time.monotonic()
            restarted = await restart
            submitted = await during
            windows["restart"], windows["form"] = restarted, (sent_at, time.monotonic())
            recovered = await queue_loads(shape, http)
            await asyncio.sleep(2)
            stop.set()
            return await traffic, submitted, recovered

    counts, (outcome, final), recovered = run(scenario())
    (r0, r1), (f0, f1) = windows["restart"], windows["form"]
    overlap = f0 < r1 and r0 < f1
    assert counts["ok"] > 0
    assert_told_the_truth(shape, outcome, final, rows_before)
    # The holder's connection died with the restart: one worker holds the lock again.
    relocked = shape.a_leader_within(30)
    after = run(intake_outcome(shape))
    assert after[0] == "receipt", after
    print(
        f"\nFAULT postgres-restart: {counts['ok']} pages ok, {counts['failed']} failed during; "
        f"form sent during it: {outcome}; queue back in {recovered:.1f} s; "
        f"a holder of the in-process worker's lock again ({relocked:.1f} s after the queue); "
        f"the form {'overlapped' if overlap else 'did not overlap'} the restart"
    )


def test_redis_restarted_mid_load(shape: Shape) -> None:
    """New tabs load the queue while Redis restarts empty; nothing is written during the outage.
    Checked: the signed-in user's next page loads with no new sign-in, and a form sent after it
    is stored with its objects."""
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
