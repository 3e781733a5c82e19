"""A page of thumbnails fetched at once through the photo route, in one process: each fetch
audited in a transaction of its own against fetches whose audit events are committed together.

    python bench/photo_fetch.py [--pages 60] [--photos 12] [--threads 6] [--kept]

Builds a new PostgreSQL database through the project's migrations (the server from
MI_ADMIN_DATABASE_URL, default postgres@127.0.0.1), one clinic of the load test's own data
(``bench/load_data.py``) with its photos in a local folder, signs a coordinator in (the session
cache listening, as in a worker) and fetches, ``--photos`` at a time, the signed thumbnail links
of its cases through the API app (Starlette over ASGI: session resolve, link check, the stored
bytes, the audit event), on a thread pool of ``--threads`` as a worker's. Pages alternate
between two arms in the same process:

* ``single``: each fetch resolves the session and appends its ``image.fetch`` event alone (one
  transaction and one turn of the chain's lock each), as before group commit;
* ``grouped``: the product as it is: fetches that miss the session cache together read it
  once, and events that queue behind an append are committed together.

Every page starts with the session not kept (a worker keeps it 20 s; under load a screen's
fetches often reach a worker that has forgotten it); ``--kept`` keeps it, which leaves group
commit alone to compare.

Prints, per arm, p50/p95 of a page's wall time, the process CPU and the transactions per page.
Last line ``ratio_cpu=<grouped/single> ratio_wall_p50=<grouped/single>
transactions_single=<n> transactions_grouped=<n>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event  # noqa: E402

from bench.one_clinic import signed_in_clinic  # noqa: E402


@contextlib.contextmanager
def one_at_a_time() -> Iterator[None]:
    """The photo route as it was: no shared session read, every event its own transaction."""
    from mi_portal.services import audit, session_cache

    grouped, reader = audit._append_grouped, session_cache.SessionCache.one_reader

    def alone(fields: dict[str, Any]) -> Any:
        return audit._append_all(fields["chain"], [fields])[0]

    @contextlib.contextmanager
    def no_wait(_self: Any, _key: str) -> Iterator[None]:
        yield

    audit._append_grouped = alone  # type: ignore[assignment]
    session_cache.SessionCache.one_reader = no_wait  # type: ignore[method-assign]
    try:
        yield
    finally:
        audit._append_grouped = grouped  # type: ignore[assignment]
        session_cache.SessionCache.one_reader = reader  # type: ignore[method-assign]


async def measure(
    token: str, actor: Any, case_ids: list[str], pages: int, photos: int, kept: bool
) -> int:
    import httpx

    from mi_portal.api.routes import build_api_app
    from mi_portal.db import get_engine
    from mi_portal.services import photos as photo_links
    from mi_portal.services import session_cache

    transactions = 0

    def ended(*_args: Any) -> None:
        nonlocal transactions
        transactions += 1

    engine = get_engine()
    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    # Links of every case, made once (untimed): a page fetches ``photos`` of them.
    urls: list[str] = []
    for case_id in case_ids:
        urls += [link.url for link in photo_links.thumbnails(actor, case_id)]
    if len(urls) < photos:
        raise SystemExit(f"only {len(urls)} photos: add --cases")
    transport = httpx.ASGITransport(app=build_api_app())
    wall: dict[str, list[float]] = {"single": [], "grouped": []}
    cpu: dict[str, list[float]] = {"single": [], "grouped": []}
    count: dict[str, list[int]] = {"single": [], "grouped": []}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost:3000", cookies={"mi_session": token}
    ) as client:
        for index in range(2 * pages + 4):
            arm = ("single", "grouped")[index % 2]
            start = (index * photos) % (len(urls) - photos + 1)
            page = urls[start : start + photos]
            if not kept:
                session_cache.cache.forget_all()
            before = transactions
            started, cpu_started = time.perf_counter(), time.process_time()
            with one_at_a_time() if arm == "single" else contextlib.nullcontext():
                answers = await asyncio.gather(*(client.get(url) for url in page))
            took, used = time.perf_counter() - started, time.process_time() - cpu_started
            bad = [a.status_code for a in answers if a.status_code != 200]
            if bad:
                raise SystemExit(f"photo fetch failed: {bad}")
            if index >= 4:  # the first pages warm the pool and the caches
                wall[arm].append(took * 1000)
                cpu[arm].append(used * 1000)
                count[arm].append(transactions - before)
    for arm in ("single", "grouped"):
        ordered = sorted(wall[arm])
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(
            f"  {arm:7s} page wall p50 {statistics.median(ordered):7.2f} ms  p95 {p95:7.2f} ms"
            f"  cpu mean {statistics.fmean(cpu[arm]):7.2f} ms"
            f"  transactions {statistics.median(count[arm]):.0f}"
        )
    print(
        f"ratio_cpu={statistics.fmean(cpu['grouped']) / statistics.fmean(cpu['single']):.2f}"
        f" ratio_wall_p50={statistics.median(wall['grouped']) / statistics.median(wall['single']):.2f}"
        f" transactions_single={statistics.median(count['single']):.0f}"
        f" transactions_grouped={statistics.median(count['grouped']):.0f}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=60, help="pages per arm")
    parser.add_argument("--photos", type=int, default=12, help="thumbnails per page")
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--threads", type=int, default=6, help="the worker's thread pool")
    parser.add_argument("--kept", action="store_true", help="the session stays kept between pages")
    args = parser.parse_args(argv)
    from mi_portal.services import auth

    with signed_in_clinic("mi_bench_photos", args.cases) as bench:
        signed = auth.resolve(bench.token)
        assert signed is not None

        async def run() -> int:
            asyncio.get_running_loop().set_default_executor(
                ThreadPoolExecutor(max_workers=args.threads)
            )
            return await measure(
                bench.token, signed.actor, bench.clinic.case_ids, args.pages, args.photos, args.kept
            )

        return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())
