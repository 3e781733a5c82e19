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

``--trips`` compares the route instead, group commit on in both arms:

* ``two_trips``: the route as it was: the stored object opened on a worker thread, the audit
  event appended on another, and the bytes streamed chunk by chunk (each chunk read on a
  thread of its own trip);
* ``one_trip``: the product: one trip opens the object, reads it (a thumbnail is one chunk)
  and appends the event, and the bytes are answered whole.

Every page starts with the session not kept (a worker keeps it 20 s; under load a screen's
fetches often reach a worker that has forgotten it); ``--kept`` keeps it, which leaves group
commit alone to compare.

Prints, per arm, p50/p95 of a page's wall time, the process CPU and the transactions per page.
Last line ``ratio_cpu=<grouped/single> ratio_wall_p50=<grouped/single>
transactions_single=<n> transactions_grouped=<n>`` (with ``--trips``: ``one_trip/two_trips``
and ``transactions_two_trips=… transactions_one_trip=…``).
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


def as_before() -> Any:
    """The photo route before its bytes and its event shared a trip (the baseline of
    ``--trips``): the same checks, three or more trips to threads per thumbnail."""
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse

    from mi_portal.api import objects
    from mi_portal.api.limits import client_address
    from mi_portal.services import audit, object_links
    from mi_portal.services.auth import resolve_async
    from mi_portal.storage import ObjectMissing, StorageUnavailable, get_store

    async def two_trips(request: Request) -> Response:
        key = request.path_params.get("key", "")
        token = request.query_params.get("t", "")
        ip, agent = client_address(request.scope), request.headers.get("user-agent")
        signed = await resolve_async(request.cookies.get("mi_session"), ip=ip, user_agent=agent)
        if signed is None or not signed.mfa_passed:
            return objects._NOT_FOUND
        kind = object_links.check(signed.actor, key=key, token=token)
        if kind is None:
            return objects._NOT_FOUND
        try:
            chunks = await asyncio.to_thread(get_store().stream, key)
        except (ObjectMissing, StorageUnavailable, ValueError):
            return objects._NOT_FOUND
        await asyncio.to_thread(
            audit.record,
            signed.actor,
            "image.fetch",
            target_type="object",
            target_id=key.split("/", 1)[-1][:64],
            details={"kind": kind},
            ip=ip,
            user_agent=agent,
        )
        return StreamingResponse(chunks, media_type="image/jpeg", headers=objects._HEADERS)

    return two_trips


def api_app(route: Any = None) -> Any:
    """The API app; with ``route``, its photo route answered by ``route`` instead."""
    from starlette.routing import Route

    from mi_portal.api.routes import build_api_app

    app = build_api_app()
    if route is not None:
        app.router.routes.insert(0, Route("/api/objects/{key:path}", route, methods=["GET"]))
    return app


async def measure(
    token: str,
    actor: Any,
    case_ids: list[str],
    pages: int,
    photos: int,
    kept: bool,
    trips: bool = False,
) -> int:
    import httpx

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
    base, product = ("two_trips", "one_trip") if trips else ("single", "grouped")
    apps = {base: api_app(as_before() if trips else None), product: api_app()}
    wall: dict[str, list[float]] = {base: [], product: []}
    cpu: dict[str, list[float]] = {base: [], product: []}
    count: dict[str, list[int]] = {base: [], product: []}
    clients = {
        arm: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://localhost:3000",
            cookies={"mi_session": token},
        )
        for arm, app in apps.items()
    }
    async with clients[base], clients[product]:
        for index in range(2 * pages + 4):
            arm = (base, product)[index % 2]
            start = (index * photos) % (len(urls) - photos + 1)
            page = urls[start : start + photos]
            if not kept:
                session_cache.cache.forget_all()
            before = transactions
            started, cpu_started = time.perf_counter(), time.process_time()
            alone = arm == "single"
            with one_at_a_time() if alone else contextlib.nullcontext():
                answers = await asyncio.gather(*(clients[arm].get(url) for url in page))
            took, used = time.perf_counter() - started, time.process_time() - cpu_started
            bad = [a.status_code for a in answers if a.status_code != 200]
            if bad:
                raise SystemExit(f"photo fetch failed: {bad}")
            if index >= 4:  # the first pages warm the pool and the caches
                wall[arm].append(took * 1000)
                cpu[arm].append(used * 1000)
                count[arm].append(transactions - before)
    for arm in (base, product):
        ordered = sorted(wall[arm])
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        print(
            f"  {arm:9s} page wall p50 {statistics.median(ordered):7.2f} ms  p95 {p95:7.2f} ms"
            f"  cpu mean {statistics.fmean(cpu[arm]):7.2f} ms"
            f"  transactions {statistics.median(count[arm]):.0f}"
        )
    print(
        f"ratio_cpu={statistics.fmean(cpu[product]) / statistics.fmean(cpu[base]):.2f}"
        f" ratio_wall_p50={statistics.median(wall[product]) / statistics.median(wall[base]):.2f}"
        f" transactions_{base}={statistics.median(count[base]):.0f}"
        f" transactions_{product}={statistics.median(count[product]):.0f}"
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
    parser.add_argument(
        "--trips", action="store_true", help="compare the route in one trip with it in several"
    )
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
                bench.token,
                signed.actor,
                bench.clinic.case_ids,
                args.pages,
                args.photos,
                args.kept,
                args.trips,
            )

        return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())
