"""The database layer of tenant isolation: row-level security and the app's role (PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from mi_portal.models import tenant_models
from tests.conftest import Database
from tests.factories import fill_tenant, make_tenant

TENANT_TABLES = sorted(m.__tablename__ for m in tenant_models())  # type: ignore[attr-defined]


def _db_tenant_tables(conn: sa.Connection) -> list[str]:
    """Tables whose primary key includes tenant_id, discovered from the catalogue itself."""
    return sorted(
        conn.execute(
            sa.text(
                """
                select tc.table_name from information_schema.table_constraints tc
                join information_schema.key_column_usage k
                  on k.constraint_name = tc.constraint_name and k.table_name = tc.table_name
                where tc.constraint_type = 'PRIMARY KEY' and k.column_name = 'tenant_id'
                  and tc.table_schema = 'public'
                """
            )
        ).scalars()
    )


def test_fill_tenant_covers_every_tenant_table(pg: Database) -> None:
    ids = fill_tenant(make_tenant("clinic-a"))
    assert set(TENANT_TABLES) <= set(ids)


def test_schema_every_tenant_table_is_forced_rls_with_four_policies(pg: Database) -> None:
    with pg.admin_engine.connect() as conn:
        tables = _db_tenant_tables(conn)
        assert tables == TENANT_TABLES
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
            assert nullable == "NO", table
            cmds = set(
                conn.execute(
                    sa.text("select cmd from pg_policies where tablename = :t"), {"t": table}
                ).scalars()
            )
            assert cmds == {"SELECT", "INSERT", "UPDATE", "DELETE"}, table


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
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    fill_tenant(a)
    b_ids = fill_tenant(b)
    return str(a), str(b), b_ids


def _as_app(pg: Database, tenant: str | None = None):  # type: ignore[no-untyped-def]
    conn = pg.engine.connect()
    conn.begin()
    if tenant is not None:
        conn.execute(sa.text("select set_config('app.tenant_id', :t, true)"), {"t": tenant})
    return conn


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_raw_sql_without_tenant_is_an_error(pg: Database, two_full_tenants, table: str) -> None:  # type: ignore[no-untyped-def]
    # Never set on this connection → "unrecognized configuration parameter"; set by an earlier
    # transaction of a pooled connection → '' → invalid uuid. Both are errors, never rows.
    with _as_app(pg) as conn, pytest.raises(DBAPIError, match="app.tenant_id|type uuid"):
        conn.execute(sa.text(f"select count(*) from {table}"))
    fresh = sa.create_engine(pg.app_url, poolclass=sa.pool.NullPool)
    with fresh.connect() as conn, pytest.raises(DBAPIError, match="app.tenant_id"):
        conn.execute(sa.text(f"select count(*) from {table}"))
    fresh.dispose()
    # A tenant reset to '' fails too (invalid uuid), rather than matching nothing or everything.
    with _as_app(pg, "") as conn, pytest.raises(DBAPIError, match="uuid"):
        conn.execute(sa.text(f"select count(*) from {table}"))


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_raw_sql_sees_only_the_tenant_set(pg: Database, two_full_tenants, table: str) -> None:  # type: ignore[no-untyped-def]
    a, b, _ = two_full_tenants
    with _as_app(pg, a) as conn:
        tenants = set(conn.execute(sa.text(f"select tenant_id::text from {table}")).scalars())
    assert tenants == {a}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_raw_sql_cannot_write_another_tenant(pg: Database, two_full_tenants, table: str) -> None:  # type: ignore[no-untyped-def]
    a, b, b_ids = two_full_tenants
    # Updating B's row while A is set touches nothing; deleting neither.
    with _as_app(pg, a) as conn:
        assert (
            conn.execute(
                sa.text(f"update {table} set tenant_id = tenant_id where id = :i"),
                {"i": b_ids[table]},
            ).rowcount
            == 0
        )
        assert (
            conn.execute(
                sa.text(f"delete from {table} where id = :i"), {"i": b_ids[table]}
            ).rowcount
            == 0
        )
    # Moving A's row to B is refused by the policy's WITH CHECK.
    with _as_app(pg, a) as conn, pytest.raises(DBAPIError, match="row-level security"):
        conn.execute(sa.text(f"update {table} set tenant_id = cast(:b as uuid)"), {"b": b})
    # Inserting a copy of A's row under B's tenant id is refused.
    with _as_app(pg, a) as conn:
        cols = [
            c
            for c in conn.execute(
                sa.text(
                    "select column_name from information_schema.columns where table_name = :t "
                    "and column_name not in ('tenant_id', 'id') order by ordinal_position"
                ),
                {"t": table},
            ).scalars()
        ]
        col_list = ", ".join(cols)
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(
                sa.text(
                    f"insert into {table} (tenant_id, id, {col_list}) "
                    f"select cast(:b as uuid), gen_random_uuid(), {col_list} from {table} limit 1"
                ),
                {"b": b},
            )


def test_audit_log_is_append_only_for_the_app(pg: Database) -> None:
    make_tenant("clinic-a")
    with _as_app(pg) as conn:
        conn.execute(
            sa.text(
                "insert into auditevent (id, chain, seq, occurred_at, action, outcome, details, prev_hash, hash) "
                "values (gen_random_uuid(), 'platform', 1, now(), 'probe', 'ok', '{}', '', '')"
            )
        )
        conn.commit()
    for statement in ("update auditevent set action = 'edited'", "delete from auditevent"):
        with _as_app(pg) as conn, pytest.raises(DBAPIError, match="permission denied"):
            conn.execute(sa.text(statement))
