"""The audit chain: verify finds every planted edit, deletion and reordering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from mi_portal.models import Role
from mi_portal.services import audit
from mi_portal.services.actor import Actor
from tests.conftest import Database
from tests.factories import make_tenant

N = 8


def _fill(tenant_id) -> str:  # type: ignore[no-untyped-def]
    actor = Actor(
        user_id=None,
        role=Role.CLINIC_MANAGER,
        tenant_id=tenant_id,
        ip="127.0.0.1",
        user_agent="pytest",
    )
    for i in range(N):
        audit.record(actor, "case.view", target_type="submission", target_id=f"case-{i}")
    return audit.chain_for(tenant_id)


def _admin(db: Database, sql: str, **params: object) -> None:
    with db.admin_engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_chain_verifies_and_is_per_tenant(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    chain_a, chain_b = _fill(a), _fill(b)
    assert audit.verify_chain(chain_a) is None and audit.verify_chain(chain_b) is None
    assert audit.chain_length(chain_a) == N
    assert audit.chains() == sorted({chain_a, chain_b, "platform"})
    assert audit.chains("clinic-a") == [chain_a]


def test_many_appends_at_once_all_land_in_one_unbroken_chain(db: Database) -> None:
    """A page of thumbnails fetches (and audits) dozens of photos at the same moment."""
    from concurrent.futures import ThreadPoolExecutor

    a = make_tenant("clinic-a")
    actor = Actor(user_id=None, role=Role.CLINIC_MANAGER, tenant_id=a)
    with ThreadPoolExecutor(max_workers=16) as pool:
        events = list(
            pool.map(lambda i: audit.record(actor, "image.fetch", details={"n": i}), range(64))
        )
    chain = str(a)
    assert sorted(e.seq for e in events) == list(range(1, 65))
    assert audit.chain_length(chain) == 64 and audit.verify_chain(chain) is None


@pytest.mark.parametrize(
    "column,value",
    [
        ("action", "'case.edit'"),
        ("target_id", "'case-x'"),
        ("outcome", "'denied'"),
        ("ip", "'10.0.0.9'"),
    ],
)
@pytest.mark.parametrize("seq", range(1, N + 1))
def test_every_planted_edit_is_found(db: Database, seq: int, column: str, value: str) -> None:
    chain = _fill(make_tenant("clinic-a"))
    _admin(
        db,
        f"update auditevent set {column} = {value} where chain = :c and seq = :s",
        c=chain,
        s=seq,
    )
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == seq and "edited" in problem.problem


@pytest.mark.parametrize("seq", range(1, N))
def test_every_planted_deletion_is_found(db: Database, seq: int) -> None:
    chain = _fill(make_tenant("clinic-a"))
    _admin(db, "delete from auditevent where chain = :c and seq = :s", c=chain, s=seq)
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == seq + 1


def test_deletion_with_renumbering_is_found(db: Database) -> None:
    chain = _fill(make_tenant("clinic-a"))
    _admin(db, "delete from auditevent where chain = :c and seq = 3", c=chain)
    for s in range(4, N + 1):
        _admin(
            db,
            "update auditevent set seq = :n where chain = :c and seq = :s",
            c=chain,
            s=s,
            n=s - 1,
        )
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == 3


@pytest.mark.parametrize("first", range(1, N))
def test_every_planted_reordering_is_found(db: Database, first: int) -> None:
    chain = _fill(make_tenant("clinic-a"))
    # Swap two neighbours' positions (via a free number, as the pair is unique).
    _admin(db, "update auditevent set seq = -1 where chain = :c and seq = :s", c=chain, s=first)
    _admin(
        db,
        "update auditevent set seq = :s where chain = :c and seq = :t",
        c=chain,
        s=first,
        t=first + 1,
    )
    _admin(db, "update auditevent set seq = :t where chain = :c and seq = -1", c=chain, t=first + 1)
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == first


def test_cli_exits_non_zero_naming_the_broken_entry(db: Database, tmp_path: Path) -> None:
    import os

    chain = _fill(make_tenant("clinic-a"))
    script = Path(sys.executable).parent / "mi-portal"
    env = {**os.environ}
    ok = subprocess.run(
        [str(script), "audit", "verify", "--tenant", "clinic-a"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    _admin(db, "update auditevent set reason = 'tampered' where chain = :c and seq = 5", c=chain)
    broken = subprocess.run(
        [str(script), "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert broken.returncode == 1
    assert "#5" in broken.stdout and "BROKEN" in broken.stdout
    missing = subprocess.run(
        [str(script), "audit", "verify", "--tenant", "nope"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
