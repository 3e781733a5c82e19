"""Run one retention sweep in its own process and SIGKILL it at a failpoint.

    python -m tests.retention_driver TENANT_ID NOW_ISO

The database and the store are the app's usual settings (``MI_DATABASE_URL``, ``MI_STORAGE``…,
inherited from the test). The failpoint comes from the environment and the service is left as
it is: the driver wraps the service's step functions and the store, and kills the process with
SIGKILL (no cleanup, no ``finally``, no rollback sent to the database):

``MI_RETENTION_KILL_AFTER``
    ``plan``                  once the run's items are planned and committed;
    ``<step>:before:<batch>`` after the step changed its batch, before its transaction commits;
    ``<step>:after:<batch>``  just after the step's transaction committed;
    ``purge:<k>``             after the k-th object purged from the store (mid-step);
``MI_RETENTION_BATCH``
    items carried through the steps together (small, so that a run has several batches).

``<step>`` is one of ``_delete_objects``, ``_verify_objects``, ``_change_rows``,
``_record_proof``; ``<batch>`` counts from 1. Exits 0 with the summary line if the failpoint was
never reached (the test then fails: it expects the process to die by SIGKILL).
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import event

STEPS = ("_delete_objects", "_verify_objects", "_change_rows", "_record_proof")


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(failpoint: str, store: Any) -> None:
    from mi_portal.services import retention

    if failpoint == "plan":
        planner = retention._plan_items

        def plan_then_die(*args: Any, **kwargs: Any) -> None:
            planner(*args, **kwargs)
            _die()

        retention._plan_items = plan_then_die  # type: ignore[assignment]
        return
    if failpoint.startswith("purge:"):
        left = {"n": int(failpoint.split(":", 1)[1])}
        purge = store.purge

        def purge_then_maybe_die(key: str) -> None:
            purge(key)
            left["n"] -= 1
            if left["n"] == 0:
                _die()

        store.purge = purge_then_maybe_die
        return
    step_name, when, batch = failpoint.split(":")
    if step_name not in STEPS or when not in ("before", "after"):
        raise SystemExit(f"unknown failpoint {failpoint!r}")
    step = getattr(retention, step_name)
    calls = {"n": 0}

    def step_then_maybe_die(session: Any, *args: Any) -> None:
        step(session, *args)
        calls["n"] += 1
        if calls["n"] != int(batch):
            return
        if when == "before":
            _die()
        event.listen(session, "after_commit", lambda _session: _die())

    setattr(retention, step_name, step_then_maybe_die)


def main() -> None:
    tenant_id, now_text = sys.argv[1], sys.argv[2]
    from mi_portal.services import clock, retention
    from mi_portal.storage import get_store

    moment = datetime.fromisoformat(now_text)
    clock.set_clock(lambda: moment)
    if os.environ.get("MI_RETENTION_BATCH"):
        retention.BATCH = int(os.environ["MI_RETENTION_BATCH"])
    store = get_store()
    _arm(os.environ["MI_RETENTION_KILL_AFTER"], store)
    result = retention.sweep(uuid.UUID(tenant_id), store=store)
    print(result.line())


if __name__ == "__main__":
    main()
