"""The case page's own cost, in one process: its event handler against a no-op event.

    python bench/case_page.py [--cases 20] [--rounds 200] [--profile FILE] [--statements]
                              [--first-views]

Builds a new PostgreSQL database through the project's migrations (the server from
MI_ADMIN_DATABASE_URL, default postgres@127.0.0.1), one clinic of the load test's own data
(``bench/load_data.py``: staff, cases with photos, a conversation and notes), signs a coordinator
in, and calls, interleaved in the same process, (a) ``CaseState.load`` for a case and (b) the
viewer's annotation toggle, the no-op the load test uses: both through the same guard (session
resolve, permission check), as a worker runs them. The session cache listens as in a worker, so
both resolve the session from memory as they do under load.

Prints, for each, p50/p95 of wall time and the mean CPU time of the process per call, and the
statements and transactions one case page costs. Last line
``case_cpu_ms=<x> case_wall_p95_ms=<x> ratio_cpu=<case CPU / no-op CPU> statements=<n>
transactions=<n>``. ``--profile`` writes a cProfile of the case page calls only; ``--statements`` prints the
statements one case page sends. ``--first-views`` makes every page the user's first look at
its case (the load test's usual case: its messages are marked read as it is shown).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bench.one_clinic import signed_in_clinic  # noqa: E402


class Counter:
    """Statements and transactions sent on the app's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements = 0
        self.transactions = 0
        self.shown: list[str] | None = None  # while a list: each statement's text, kept
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._ended)
        event.listen(engine, "rollback", self._ended)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements += 1
        if self.shown is not None:
            self.shown.append(" ".join(statement.split()))

    def _ended(self, *_args: Any) -> None:
        self.transactions += 1


def _root(token: str, case_id: str) -> Any:
    import reflex as rx
    from reflex.istate.data import RouterData

    root = rx.State(_reflex_internal_init=True)  # type: ignore[call-arg]
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}", "user-agent": "bench"},
            "ip": "127.0.0.1",
            "pathname": "/cases/[id]",
            "query": {"id": case_id},
            "asPath": f"/cases/{case_id}",
        }
    )
    return root


async def measure(
    token: str,
    case_ids: list[str],
    rounds: int,
    profile: str | None,
    show: bool = False,
    unread_for: uuid.UUID | None = None,
) -> int:
    from mi_portal.db import get_engine
    from mi_portal.state.case import CaseState
    from mi_portal.state.viewer import ViewerState

    counter = Counter(get_engine())
    # --first-views: before each page (untimed), the user's read markers go, as on a first look
    # at each case: the page then marks its messages read.
    owner = sa.create_engine(os.environ["MI_ADMIN_DATABASE_URL"]) if unread_for else None
    load = CaseState.event_handlers["load"].fn
    toggle = ViewerState.event_handlers["toggle_annotations"].fn
    profiler = cProfile.Profile() if profile else None
    if profiler:
        # cProfile sees one thread: the reads run inline (in turn) while profiling.
        async def inline(func: Any, /, *args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        asyncio.to_thread = inline  # type: ignore[assignment]
    times: dict[str, list[float]] = {"case": [], "noop": []}
    cpu: dict[str, list[float]] = {"case": [], "noop": []}
    per_page: list[tuple[int, int]] = []
    for index in range(rounds + 10):
        case_id = case_ids[index % len(case_ids)]
        root = _root(token, case_id)
        case = await root.get_state(CaseState)
        viewer = await root.get_state(ViewerState)
        kept = index >= 10  # the first rounds warm caches and the pool
        if owner is not None:
            with owner.begin() as conn:
                conn.execute(
                    sa.text("delete from threadread where user_id = :u"), {"u": unread_for}
                )
        statements, transactions = counter.statements, counter.transactions
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler and kept:
            profiler.enable()
        if show and index == 10:
            counter.shown = []
        await load(case)
        if counter.shown is not None:
            for n, text in enumerate(counter.shown, 1):
                print(f"  {n:2d}. {text[:150]}")
            counter.shown = None
        if profiler and kept:
            profiler.disable()
        wall, used = time.perf_counter() - started, time.process_time() - cpu_started
        if case.error or case.not_found:
            raise SystemExit(f"case page failed: {case.error or 'not found'}")
        if kept:
            times["case"].append(wall * 1000)
            cpu["case"].append(used * 1000)
            per_page.append((counter.statements - statements, counter.transactions - transactions))
        started, cpu_started = time.perf_counter(), time.process_time()
        await toggle(viewer)
        wall, used = time.perf_counter() - started, time.process_time() - cpu_started
        if kept:
            times["noop"].append(wall * 1000)
            cpu["noop"].append(used * 1000)
    if profiler and profile:
        profiler.dump_stats(profile)
    for name in ("case", "noop"):
        wall_sorted = sorted(times[name])
        p95 = wall_sorted[int(0.95 * (len(wall_sorted) - 1))]
        print(
            f"  {name:5s} wall p50 {statistics.median(wall_sorted):7.2f} ms  p95 {p95:7.2f} ms"
            f"  cpu mean {statistics.fmean(cpu[name]):7.2f} ms"
        )
    statements = round(statistics.median(s for s, _ in per_page))
    transactions = round(statistics.median(t for _, t in per_page))
    case_cpu = statistics.fmean(cpu["case"])
    case_p95 = sorted(times["case"])[int(0.95 * (len(times["case"]) - 1))]
    print(
        f"case_cpu_ms={case_cpu:.2f} case_wall_p95_ms={case_p95:.2f}"
        f" ratio_cpu={case_cpu / statistics.fmean(cpu['noop']):.2f}"
        f" statements={statements} transactions={transactions}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--profile", help="write a cProfile of the case page calls here")
    parser.add_argument(
        "--statements", action="store_true", help="print the statements of one case page"
    )
    parser.add_argument(
        "--first-views",
        action="store_true",
        help="each page is the user's first look at the case (its messages get marked read)",
    )
    args = parser.parse_args(argv)
    with signed_in_clinic("mi_bench_case", args.cases, app=True) as bench:
        return asyncio.run(
            measure(
                bench.token,
                bench.clinic.case_ids,
                args.rounds,
                args.profile,
                args.statements,
                bench.coordinator if args.first_views else None,
            )
        )


if __name__ == "__main__":
    raise SystemExit(main())
