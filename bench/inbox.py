"""Case-queue benchmark: the service's first inbox page against one hand-written SQL query.

    python bench/inbox.py [--clinics 1000] [--per-clinic 1000] [--iterations 300]

Builds two PostgreSQL databases through the project's migrations (the server from
MI_ADMIN_DATABASE_URL, default postgres@127.0.0.1): a small one (10 clinics) and a large one
(--clinics), each clinic with --per-clinic cases. In each it times, in the same process and
interleaved, (a) `inbox_page()` for 50 rows with a status filter sorted by SLA due, as the app
role under row-level security, and (b) the same page fetched by one indexed SQL query on the same
connection settings, and (c) that query plus one audit event, the least a page view must now cost
(every list shown is recorded with its case ids). Prints p50/p95 of each, and last the line
`ratio_p95=<service p95 / SQL p95 on the large database> growth_p95=<service p95 large / small>
ratio_vs_read_and_audit_p95=<service p95 / p95 of the SQL read plus one audit event>`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.pg_database import drop_database, new_database  # noqa: E402

STATUSES = [
    "new",
    "new",
    "in_review",
    "in_review",
    "quoted",
    "accepted",
    "declined",
    "closed",
    "archived",
]

# The same page as the service shows: its rows with the patient, the assignee's name, the photo
# count and unread patient messages. (The service also returns the per-status tab counts.)
BASELINE_SQL = sa.text(
    """
    select s.id, s.status, s.concern_area, s.received_at, s.last_activity_at, s.sla_due_at,
      s.quote_sent_at, p.full_name, p.email, p.phone, u.full_name as assignee,
      (select count(*) from submissionimage i
        where i.tenant_id = s.tenant_id and i.submission_id = s.id) as photos,
      (select count(*) from messagethread t
        join message m on m.tenant_id = t.tenant_id and m.thread_id = t.id
        where t.tenant_id = s.tenant_id and t.submission_id = s.id
          and m.direction = 'inbound' and m.read_at is null) as unread
    from submission s
    join patient p on p.tenant_id = s.tenant_id and p.id = s.patient_id
    left join user_account u on u.id = s.assignee_id
    where s.tenant_id = :tenant and s.status = 'new'
    order by s.sla_due_at, s.id
    limit 50
    """
)


def create_database(clinics: int, per_clinic: int) -> tuple[str, str, str, str, list[uuid.UUID]]:
    name, role, admin, app = new_database(f"mi_bench_{clinics}")
    started = time.perf_counter()
    engine = sa.create_engine(admin)
    with engine.begin() as conn:
        # The owner here is the server's superuser, which row-level security does not apply to.
        conn.execute(
            sa.text(
                "insert into tenant (id, slug, name, quote_turnaround_hours, settings, active, created_at) "
                "select gen_random_uuid(), 'clinic-' || g, 'Clinic ' || g, 48, '{}', true, now() "
                "from generate_series(1, :n) g"
            ),
            {"n": clinics},
        )
        conn.execute(
            sa.text(
                "insert into patient (tenant_id, id, full_name, email, phone, created_at) "
                "select t.id, gen_random_uuid(), 'Patient ' || g, 'p' || g || '@example.org', '+1 555 0100 ' || g, now() "
                "from tenant t cross join generate_series(1, :m) g"
            ),
            {"m": per_clinic},
        )
        conn.execute(
            sa.text(
                "insert into submission (tenant_id, id, patient_id, status, concern_area, answers, received_at, last_activity_at, sla_due_at) "
                "select p.tenant_id, gen_random_uuid(), p.id, (cast(:statuses as text[]))[1 + floor(random() * :k)::int], 'acne', '{}', "
                "now() - random() * interval '60 days', now() - random() * interval '30 days', now() + (random() - 0.5) * interval '60 days' "
                "from patient p"
            ),
            {"statuses": STATUSES, "k": len(STATUSES)},
        )
        tenants = list(conn.execute(sa.text("select id from tenant")).scalars())
    engine.dispose()
    # The steady state autovacuum reaches on its own: statistics and the visibility map (which
    # lets the per-status counts behind the tabs use an index-only scan).
    vacuum = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with vacuum.connect() as conn:
        conn.execute(sa.text("vacuum analyze"))
    vacuum.dispose()
    print(
        f"  built {name}: {clinics} clinics x {per_clinic} cases in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return name, role, admin, app, tenants


def measure(
    app_url: str, tenants: list[uuid.UUID], iterations: int
) -> tuple[list[float], list[float], list[float]]:
    from mi_portal.config import reset_settings
    from mi_portal.db import dispose_engines, get_engine, platform_session
    from mi_portal.models import Role, User
    from mi_portal.services import audit
    from mi_portal.services.actor import Actor
    from mi_portal.services.inbox import InboxQuery, inbox_page

    os.environ["MI_DATABASE_URL"] = app_url
    reset_settings()
    dispose_engines()
    engine = get_engine(app_url)
    query = InboxQuery(status="new", sort="sla_due")
    rng = random.Random(7)
    # A real account: each page view is an audit event, and events reference their user.
    with platform_session() as session:
        user = User(email="bench@example.org", full_name="Bench Manager")
        session.add(user)
        session.commit()
        user_id = user.id

    def service(tenant: uuid.UUID) -> int:
        actor = Actor(user_id=user_id, role=Role.CLINIC_MANAGER, tenant_id=tenant)
        return len(inbox_page(actor, query).rows)

    def baseline(tenant: uuid.UUID) -> int:
        with engine.begin() as conn:
            conn.execute(
                sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)}
            )
            return len(conn.execute(BASELINE_SQL, {"tenant": tenant}).fetchall())

    def baseline_and_audit(tenant: uuid.UUID) -> int:
        # What a page view must cost at least now: the read plus one audit event naming the
        # cases shown (accountability of list views), appended to the clinic's hash chain.
        with engine.begin() as conn:
            conn.execute(
                sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)}
            )
            ids = [str(r[0]) for r in conn.execute(BASELINE_SQL, {"tenant": tenant})]
        actor = Actor(user_id=user_id, role=Role.CLINIC_MANAGER, tenant_id=tenant)
        audit.record(actor, "cases.listed", target_type="case_list", details={"cases": ids})
        return len(ids)

    for tenant in rng.sample(tenants, min(20, len(tenants))):  # warm pools and caches
        assert service(tenant) == baseline(tenant)
    times: dict[str, list[float]] = {"service": [], "sql": [], "sql+audit": []}
    for i in range(iterations):
        tenant = rng.choice(tenants)
        order = [("service", service), ("sql", baseline), ("sql+audit", baseline_and_audit)]
        if i % 2:
            order.reverse()  # alternate order so neither side always runs on a warmer cache
        for label, fn in order:
            started = time.perf_counter()
            fn(tenant)
            times[label].append(time.perf_counter() - started)
    dispose_engines()
    return times["service"], times["sql"], times["sql+audit"]


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clinics", type=int, default=1000)
    parser.add_argument("--per-clinic", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    results = {}
    for label, clinics in (("small", 10), ("large", args.clinics)):
        name, role, _admin, app, tenants = create_database(clinics, args.per_clinic)
        try:
            service_times, sql_times, audited_times = measure(app, tenants, args.iterations)
        finally:
            drop_database(name, role)
        results[label] = (p(service_times, 95), p(sql_times, 95), p(audited_times, 95))
        print(
            f"{label:5} {clinics * args.per_clinic:>9} cases: service p50 {p(service_times, 50) * 1e3:.2f} ms "
            f"p95 {p(service_times, 95) * 1e3:.2f} ms | SQL p50 {p(sql_times, 50) * 1e3:.2f} ms p95 {p(sql_times, 95) * 1e3:.2f} ms"
            f" | SQL + audit event p50 {p(audited_times, 50) * 1e3:.2f} ms p95 {p(audited_times, 95) * 1e3:.2f} ms",
            flush=True,
        )
    ratio = results["large"][0] / results["large"][1]
    ratio_audited = results["large"][0] / results["large"][2]
    growth = results["large"][0] / results["small"][0]
    print(
        f"ratio_p95={ratio:.2f} growth_p95={growth:.2f} ratio_vs_read_and_audit_p95={ratio_audited:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
