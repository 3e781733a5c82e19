"""The database layer of tenant isolation: row-level security and the app's role (PostgreSQL)."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from mi_portal.models import Membership, Role, tenant_models
from mi_portal.services import audit
from mi_portal.services.actor import Actor
from tests.conftest import Database
from tests.factories import fill_tenant, make_tenant, make_user, owner_session

TENANT_TABLES = sorted(m.__tablename__ for m in tenant_models())  # type: ignore[attr-defined]
ALL_COMMANDS = {"SELECT", "INSERT", "UPDATE", "DELETE"}
# Tables with a tenant_id that are not plain tenant-owned tables, and the commands their
# policies cover. The audit log is append-only: no DELETE policy at all, and one UPDATE policy
# for erasing personal details in the clinic's own chain (a trigger refuses any other update).
SPECIAL_COMMANDS = {"membership": ALL_COMMANDS, "auditevent": {"SELECT", "INSERT", "UPDATE"}}
ERASURE = (
    "update auditevent set ip = NULL, user_agent = NULL, reason = NULL, details = '{}', "
    "personal_key = NULL, erased_at = now()"
)


def _tables_with_tenant_id(conn: sa.Connection) -> list[str]:
    """Every table that has a tenant_id column, found in the catalogue (not from the models)."""
    return sorted(
        conn.execute(
            sa.text(
                """
                select c.relname from pg_attribute a
                join pg_class c on c.oid = a.attrelid
                join pg_namespace n on n.oid = c.relnamespace
                where a.attname = 'tenant_id' and not a.attisdropped
                  and c.relkind in ('r', 'p') and n.nspname = 'public'
                """
            )
        ).scalars()
    )


def _catalog_tables(pg: Database) -> list[str]:
    with pg.admin_engine.connect() as conn:
        return _tables_with_tenant_id(conn)


def test_fill_tenant_covers_every_tenant_table(pg: Database) -> None:
    ids = fill_tenant(make_tenant("clinic-a"))
    assert set(TENANT_TABLES) <= set(ids)


def test_schema_every_table_with_a_tenant_id_is_forced_rls(pg: Database) -> None:
    with pg.admin_engine.connect() as conn:
        tables = _tables_with_tenant_id(conn)
        # The discovery itself works: it finds at least the models' tables and the two others.
        assert set(TENANT_TABLES) | set(SPECIAL_COMMANDS) <= set(tables)
        for table in tables:
            enabled, forced = conn.execute(
                sa.text(
                    "select relrowsecurity, relforcerowsecurity from pg_class where relname = :t"
                ),
                {"t": table},
            ).one()
            assert enabled and forced, table
            nullable = conn.execute(
                sa.text(
                    "select is_nullable from information_schema.columns "
                    "where table_name = :t and column_name = 'tenant_id'"
                ),
                {"t": table},
            ).scalar()
            # Only the audit log has tenant-less rows: the platform chain.
            assert nullable == ("YES" if table == "auditevent" else "NO"), table
            policies = conn.execute(
                sa.text(
                    "select cmd, permissive, coalesce(qual, '') || ' ' || coalesce(with_check, '') "
                    "from pg_policies where tablename = :t"
                ),
                {"t": table},
            ).all()
            assert {cmd for cmd, _, _ in policies} == SPECIAL_COMMANDS.get(table, ALL_COMMANDS), (
                table
            )
            for cmd, permissive, text in policies:
                # Every policy is bound to the clinic in scope; none is a blanket "true".
                assert permissive == "PERMISSIVE" and "app.tenant_id" in text, (table, cmd)


def test_app_role_is_powerless(pg: Database) -> None:
    role = make_url(pg.app_url).username
    with pg.admin_engine.connect() as conn:
        superuser, bypass = conn.execute(
            sa.text("select rolsuper, rolbypassrls from pg_roles where rolname = :r"), {"r": role}
        ).one()
        owned = conn.execute(
            sa.text("select count(*) from pg_tables where tableowner = :r"), {"r": role}
        ).scalar()
        owner_of_db = conn.execute(
            sa.text(
                "select count(*) from pg_database d join pg_roles r on r.oid = d.datdba "
                "where r.rolname = :r"
            ),
            {"r": role},
        ).scalar()
    assert not superuser and not bypass
    assert owned == 0 and owner_of_db == 0


@pytest.fixture
def two_full_tenants(pg: Database) -> tuple[str, str, dict]:
    """Two clinics with a row in every table that has a tenant_id, and a platform audit event."""
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    fill_tenant(a)
    b_ids = fill_tenant(b)
    for tenant, slug in ((a, "a"), (b, "b")):
        user_id, _ = make_user(f"member@{slug}.test", role="coordinator", tenants=(tenant,))
        with owner_session() as session:
            membership = session.exec(
                select(Membership.id).where(Membership.user_id == user_id)
            ).one()
        actor = Actor(user_id=user_id, role=Role.COORDINATOR, tenant_id=tenant)
        event = audit.record(actor, "case.view", target_type="submission", target_id="x")
        if tenant == b:
            b_ids["membership"], b_ids["auditevent"] = membership, event.id
    make_user("locum@example.org", role="provider", tenants=(a, b))
    audit.record(None, "auth.sign_in", outcome="failed", platform=True)
    return str(a), str(b), b_ids


def _as_app(
    pg: Database, tenant: str | None = None, *, user: str | None = None, platform: bool = False
):  # type: ignore[no-untyped-def]
    conn = pg.engine.connect()
    conn.begin()
    for name, value in (("app.tenant_id", tenant), ("app.user_id", user)):
        if value is not None:
            conn.execute(sa.text("select set_config(:n, :v, true)"), {"n": name, "v": value})
    if platform:
        conn.execute(sa.text("select set_config('app.platform', 'on', true)"))
    return conn


def _count_or_error(conn: sa.Connection, table: str) -> int | None:
    try:
        return conn.execute(sa.text(f"select count(*) from {table}")).scalar()
    except DBAPIError as exc:
        assert re.search(r"app\.tenant_id|type uuid", str(exc)), (table, str(exc))
        return None


def test_raw_sql_without_tenant_shows_nothing(pg: Database, two_full_tenants) -> None:  # type: ignore[no-untyped-def]
    # Never set on this connection → "unrecognized configuration parameter" or no row; set by an
    # earlier transaction of a pooled connection → '' → invalid uuid or no row. Never rows.
    fresh = sa.create_engine(pg.app_url, poolclass=sa.pool.NullPool)
    try:
        for table in _catalog_tables(pg):
            for tenant in (None, ""):
                with _as_app(pg, tenant) as conn:
                    assert _count_or_error(conn, table) in (None, 0), table
            with fresh.connect() as conn:
                assert _count_or_error(conn, table) in (None, 0), table
    finally:
        fresh.dispose()


def test_raw_sql_sees_only_the_tenant_set(pg: Database, two_full_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_full_tenants
    for table in _catalog_tables(pg):
        with _as_app(pg, a) as conn:
            tenants = set(conn.execute(sa.text(f"select tenant_id::text from {table}")).scalars())
        assert tenants == {a}, table  # the platform's audit rows (tenant NULL) included: none


def _columns(conn: sa.Connection, table: str) -> str:
    return ", ".join(
        conn.execute(
            sa.text(
                "select column_name from information_schema.columns where table_name = :t "
                "and column_name not in ('tenant_id', 'id') order by ordinal_position"
            ),
            {"t": table},
        ).scalars()
    )


def test_raw_sql_cannot_write_another_tenant(pg: Database, two_full_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b, b_ids = two_full_tenants
    for table in _catalog_tables(pg):
        if table == "auditevent":
            continue  # append-only: see the tests below
        # Updating B's row while A is set touches nothing; deleting neither.
        with _as_app(pg, a) as conn:
            update = sa.text(f"update {table} set tenant_id = tenant_id where id = :i")
            delete = sa.text(f"delete from {table} where id = :i")
            assert conn.execute(update, {"i": b_ids[table]}).rowcount == 0, table
            assert conn.execute(delete, {"i": b_ids[table]}).rowcount == 0, table
        # Moving A's row to B is refused by the policy's WITH CHECK.
        with _as_app(pg, a) as conn, pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(sa.text(f"update {table} set tenant_id = cast(:b as uuid)"), {"b": b})
        # Inserting a copy of A's row under B's tenant id is refused.
        with _as_app(pg, a) as conn:
            cols = _columns(conn, table)
            with pytest.raises(DBAPIError, match="row-level security"):
                conn.execute(
                    sa.text(
                        f"insert into {table} (tenant_id, id, {cols}) "
                        f"select cast(:b as uuid), gen_random_uuid(), {cols} from {table} limit 1"
                    ),
                    {"b": b},
                )


def _admin_rows(pg: Database, sql: str, **params: object) -> list[tuple]:
    with pg.admin_engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def test_membership_of_other_clinics_cannot_be_changed_moved_or_deleted(
    pg: Database, two_full_tenants
) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_full_tenants
    before_b = _admin_rows(
        pg, "select id, role from membership where tenant_id = :b order by id", b=b
    )
    with _as_app(pg, a) as conn:
        # No WHERE at all: only clinic A's two memberships are touched.
        assert conn.execute(sa.text("update membership set role = 'clinic_owner'")).rowcount == 2
        assert (
            conn.execute(
                sa.text("delete from membership where tenant_id = cast(:b as uuid)"), {"b": b}
            ).rowcount
            == 0
        )
        assert (
            conn.execute(sa.text("delete from membership where tenant_id <> tenant_id")).rowcount
            == 0
        )
    with _as_app(pg, a) as conn, pytest.raises(DBAPIError, match="row-level security"):
        conn.execute(sa.text("update membership set tenant_id = cast(:b as uuid)"), {"b": b})
    assert (
        _admin_rows(pg, "select id, role from membership where tenant_id = :b order by id", b=b)
        == before_b
    )


def test_own_memberships_are_readable_by_user_setting_and_nothing_more(
    pg: Database, two_full_tenants
) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_full_tenants
    (locum,) = _admin_rows(
        pg, "select id::text from user_account where email = 'locum@example.org'"
    )
    with _as_app(pg, user=locum[0]) as conn:
        rows = conn.execute(sa.text("select user_id::text, tenant_id::text from membership")).all()
        assert sorted(rows) == sorted([(locum[0], a), (locum[0], b)])
        # Reading one's own memberships gives no right to change them.
        assert conn.execute(sa.text("update membership set role = 'clinic_owner'")).rowcount == 0
        assert conn.execute(sa.text("delete from membership")).rowcount == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(
                sa.text(
                    "insert into membership (id, user_id, tenant_id, role, created_at) "
                    "values (gen_random_uuid(), cast(:u as uuid), cast(:a as uuid), 'viewer', now())"
                ),
                {"u": locum[0], "a": a},
            )
    # The platform flag opens no membership at all.
    with _as_app(pg, platform=True) as conn:
        assert conn.execute(sa.text("select count(*) from membership")).scalar() == 0


def test_audit_events_of_clinic_a_only_and_the_platform_chain_only_with_the_flag(
    pg: Database, two_full_tenants
) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_full_tenants
    select_chains = sa.text("select distinct chain from auditevent")
    with _as_app(pg, a) as conn:
        assert set(conn.execute(select_chains).scalars()) == {a}
    with _as_app(pg, a, platform=True) as conn:
        assert set(conn.execute(select_chains).scalars()) == {a, "platform"}
    with _as_app(pg, platform=True) as conn:
        assert set(conn.execute(select_chains).scalars()) == {"platform"}
    # Every clinic's events exist: RLS, not an empty table, is what hid them.
    assert {r[0] for r in _admin_rows(pg, "select distinct chain from auditevent")} == {
        a,
        b,
        "platform",
    }


def test_audit_appends_only_to_the_chain_in_scope(pg: Database, two_full_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_full_tenants
    insert = sa.text(
        "insert into auditevent (id, chain, seq, occurred_at, tenant_id, action, outcome, details,"
        " prev_hash, hash) values (gen_random_uuid(), :chain, 999, now(), cast(:t as uuid),"
        " 'probe', 'ok', '{}', '', '')"
    )
    refused = (
        (a, {"chain": b, "t": b}),  # another clinic's chain
        (a, {"chain": b, "t": a}),  # own tenant, another clinic's chain name
        (a, {"chain": "platform", "t": None}),  # the platform chain without the flag
    )
    for tenant, params in refused:
        with _as_app(pg, tenant) as conn, pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(insert, params)
    with _as_app(pg, a, platform=True) as conn:
        conn.execute(insert, {"chain": a, "t": a})
        conn.execute(insert, {"chain": "platform", "t": None})
        conn.rollback()


def test_audit_log_is_append_only_for_the_app(pg: Database, two_full_tenants) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_full_tenants
    for statement in ("update auditevent set action = 'edited'", "delete from auditevent"):
        for tenant, platform in ((a, False), (a, True), (None, True), (b, False)):
            with (
                _as_app(pg, tenant, platform=platform) as conn,
                pytest.raises(DBAPIError, match="permission denied"),
            ):
                conn.execute(sa.text(statement))
    role = make_url(pg.app_url).username
    with pg.admin_engine.connect() as conn:
        policies = conn.execute(
            sa.text(
                "select policyname, cmd, qual, with_check from pg_policies "
                "where tablename = 'auditevent' and cmd <> 'SELECT' and cmd <> 'INSERT'"
            )
        ).all()
        table_grants = set(
            conn.execute(
                sa.text(
                    "select privilege_type from information_schema.table_privileges "
                    "where table_name = 'auditevent' and grantee = :r"
                ),
                {"r": role},
            ).scalars()
        )
        updatable = set(
            conn.execute(
                sa.text(
                    "select column_name from information_schema.column_privileges "
                    "where table_name = 'auditevent' and grantee = :r "
                    "and privilege_type = 'UPDATE'"
                ),
                {"r": role},
            ).scalars()
        )
    # No DELETE policy, no blanket one; the only UPDATE policy opens the clinic's own chain.
    assert [(name, cmd) for name, cmd, _, _ in policies] == [("auditevent_erase", "UPDATE")]
    for text in policies[0][2:]:
        assert "app.tenant_id" in text and "chain" in text
    # The app may read, append, and update nothing but the erasable personal details.
    assert table_grants == {"SELECT", "INSERT"}
    assert updatable == {"ip", "user_agent", "reason", "details", "personal_key", "erased_at"}


def _audit_rows(pg: Database, chain: str) -> list[tuple]:
    return _admin_rows(
        pg,
        "select seq, ip, user_agent, reason, details::text, personal_key, erased_at, hash "
        "from auditevent where chain = :c order by seq",
        c=chain,
    )


def test_the_app_erases_personal_details_in_its_own_chain_only(
    pg: Database, two_full_tenants
) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_full_tenants
    before_b, before_platform = _audit_rows(pg, b), _audit_rows(pg, "platform")
    with _as_app(pg, a) as conn:
        # Another clinic's chain and the platform's are not there to erase.
        assert conn.execute(sa.text(ERASURE + " where chain = :b"), {"b": b}).rowcount == 0
        assert conn.execute(sa.text(ERASURE + " where chain = 'platform'")).rowcount == 0
        assert conn.execute(sa.text(ERASURE)).rowcount == len(_audit_rows(pg, a))
        conn.commit()
    with _as_app(pg, a, platform=True) as conn:
        assert conn.execute(sa.text(ERASURE + " where chain = 'platform'")).rowcount == 0
        conn.rollback()
    erased = _audit_rows(pg, a)
    assert erased and all(r[1:6] == (None, None, None, "{}", None) and r[6] for r in erased)
    assert _audit_rows(pg, b) == before_b and _audit_rows(pg, "platform") == before_platform
    assert audit.verify_chain(a) is None and audit.verify_chain(b) is None


@pytest.mark.parametrize(
    "statement",
    [
        # A new value where only a cleared one is an erasure.
        "update auditevent set ip = '10.9.9.9', personal_key = NULL, erased_at = now()",
        "update auditevent set user_agent = 'curl', personal_key = NULL, erased_at = now()",
        "update auditevent set reason = 'other', personal_key = NULL, erased_at = now()",
        """update auditevent set details = '{"n": 1}', personal_key = NULL, erased_at = now()""",
        # Details cleared but the key kept, or no time of erasure: not an erasure either.
        "update auditevent set ip = NULL, details = '{}'",
        "update auditevent set ip = NULL, personal_key = NULL",
        "update auditevent set personal_key = 'ab', erased_at = now()",
    ],
)
def test_an_update_that_is_not_an_erasure_is_refused(
    pg: Database, two_full_tenants, statement: str
) -> None:  # type: ignore[no-untyped-def]
    a, _, _ = two_full_tenants
    before = _audit_rows(pg, a)
    with (
        _as_app(pg, a) as conn,
        pytest.raises(DBAPIError, match="only erase personal details"),
    ):
        conn.execute(sa.text(statement))
    assert _audit_rows(pg, a) == before


def test_even_the_owner_cannot_delete_or_rewrite_an_event(pg: Database, two_full_tenants) -> None:  # type: ignore[no-untyped-def]
    a, _, _ = two_full_tenants
    before = _audit_rows(pg, a)
    refusals = (
        ("delete from auditevent", "never deleted"),
        ("update auditevent set action = 'edited'", "only erase personal details"),
        (ERASURE + ", hash = 'x'", "only erase personal details"),
        (ERASURE + ", user_id = NULL", "only erase personal details"),
    )
    for statement, message in refusals:
        with pg.admin_engine.begin() as conn, pytest.raises(DBAPIError, match=message):
            conn.execute(sa.text(statement))
    assert _audit_rows(pg, a) == before


def test_dropping_the_key_while_keeping_details_is_not_an_erasure(
    pg: Database, two_full_tenants
) -> None:  # type: ignore[no-untyped-def]
    a, _, _ = two_full_tenants
    event = audit.record(
        None, "intake.submitted", tenant_id=uuid.UUID(a), target_id="p", ip="203.0.113.5",
        reason="typed", details={"k": "v"},
    )  # fmt: skip
    keep_details = "update auditevent set reason = NULL, personal_key = NULL, erased_at = now()"
    keep_reason = "update auditevent set details = '{}', personal_key = NULL, erased_at = now()"
    keep_ip = (
        "update auditevent set ip = NULL, reason = NULL, details = '{}', personal_key = NULL, "
        "erased_at = now()"
    )
    for statement in (keep_details, keep_reason, keep_ip.replace("ip = NULL, ", "")):
        with (
            _as_app(pg, a) as conn,
            pytest.raises(DBAPIError, match="only erase personal details"),
        ):
            conn.execute(sa.text(statement + " where id = :i"), {"i": event.id})
    with _as_app(pg, a) as conn:
        conn.execute(
            sa.text(
                keep_ip.replace("ip = NULL", "ip = NULL, user_agent = NULL") + " where id = :i"
            ),
            {"i": event.id},
        )
        conn.commit()
    assert audit.verify_chain(a) is None
