"""The retention page's handlers: preview as typed, save after confirming, read-only for staff."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, Submission
from mi_portal.services import auth, retention, retention_rules, tenancy
from mi_portal.state.retention import RetentionState
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, sign_in_token


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    support, _ = make_user("support@p.test", platform_role="platform_support")
    return {"a": a, "b": b, "owner": owner, "manager": manager, "support": support}


async def _in_one_tab(token: str, *steps: tuple[str, tuple[Any, ...]]) -> tuple[Any, list[Any]]:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"}, "ip": "127.0.0.1"}
    )
    state = await root.get_state(RetentionState)
    results = []
    for name, args in steps:
        results.append(await RetentionState.event_handlers[name].fn(state, *args))
    return state, results


def tab(token: str, *steps: tuple[str, tuple[Any, ...]]) -> tuple[Any, list[Any]]:
    return asyncio.run(_in_one_tab(token, *steps))


def _row(state: Any, category: str) -> dict[str, Any]:
    return next(r for r in state.lines if r["category"] == category)


def _old_case(tenant_id: Any) -> None:
    _patient, case_id = make_case(tenant_id)
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        case.received_at = case.last_activity_at = case.received_at - timedelta(days=200)
        session.add(case)
        session.commit()


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_owner_previews_confirms_and_saves(world: dict[str, Any]) -> None:
    _old_case(world["a"])
    token = sign_in_token(world["owner"])
    state, _ = tab(token, ("load", ()))
    assert state.blocked == "" and state.can_manage
    assert _row(state, "health_image")["default"] and _row(state, "health_image")["days"] == "730"
    assert state.preview == "On the next run: 1 cases, 0 photos, 0 messages"  # device data
    assert not state.dirty and state.history == [] and state.runs == []

    state, _ = tab(
        token,
        ("load", ()),
        ("set_days", ("health_image", "0")),
    )
    assert _row(state, "health_image")["error"].startswith("The period must be a whole number")
    assert state.preview == "" and state.dirty
    # A period longer than the health details it belongs to: refused by the shared rules.
    state, _ = tab(token, ("load", ()), ("set_days", ("health_image", "2000")))
    assert "cannot be kept longer" in _row(state, "health_image")["error"]

    state, _ = tab(
        token,
        ("load", ()),
        ("set_days", ("health_image", "100")),
        ("set_action", ("identity", "delete")),
        ("set_action", ("health_image", "deidentify")),  # not offered for photos: ignored
        ("ask_save", ()),
    )
    assert state.errors == {} and state.confirming and state.dirty
    assert _row(state, "health_image")["action"] == "delete"
    assert state.preview == "On the next run: 1 cases, 0 photos, 0 messages"
    # Nothing is saved before the confirmation, nor by a save event sent without one.
    assert retention_rules.policy_history(_owner_actor(token)) == []
    tab(token, ("load", ()), ("set_days", ("health_image", "100")), ("save", ()))
    assert retention_rules.policy_history(_owner_actor(token)) == []

    state, _ = tab(
        token,
        ("load", ()),
        ("set_days", ("health_image", "100")),
        ("set_action", ("identity", "delete")),
        ("ask_save", ()),
        ("save", ()),
    )
    assert state.notice.startswith("Retention settings saved")
    assert not state.confirming and not state.dirty
    assert (
        not _row(state, "health_image")["default"] and _row(state, "health_image")["days"] == "100"
    )
    assert _row(state, "contact")["default"]
    assert [h["lines"] for h in state.history] == [
        [
            "Photos: 730 days, delete (default) → 100 days, delete",
            "Identity: 1095 days, de-identify (default) → 1095 days, delete",
        ]
    ]
    assert state.history[0]["who"] == "Owner"


def _owner_actor(token: str) -> Any:
    signed = auth.resolve(token)
    assert signed is not None
    return signed.actor


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_who_sees_and_who_changes(world: dict[str, Any]) -> None:
    manager = sign_in_token(world["manager"])
    state, _ = tab(manager, ("load", ()))
    assert state.blocked == "denied" and state.rows == []

    support = sign_in_token(world["support"])
    state, _ = tab(support, ("load", ()))
    assert state.blocked == "switch"
    signed = auth.resolve(support)
    assert signed is not None
    tenancy.switch_into(signed, str(world["a"]), "Ticket 7: retention question")
    state, results = tab(support, ("load", ()), ("set_days", ("identity", "30")), ("save", ()))
    assert state.blocked == "" and not state.can_manage and state.rows
    assert _row(state, "identity")["days"] == "1095"  # the edit was refused by the guard
    assert "access-denied" in repr(results[1])
    owner = _owner_actor(sign_in_token(world["owner"]))
    assert retention_rules.get_policies(owner)["identity"].is_default


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_proof_download_is_the_clinics_own_and_audited(world: dict[str, Any]) -> None:
    a, b = world["a"], world["b"]
    run_a = retention.sweep(a).run_id
    run_b = retention.sweep(b).run_id
    token = sign_in_token(world["owner"])
    state, results = tab(
        token, ("load", ()), ("download_proof", (str(run_b),)), ("download_proof", ("nonsense",))
    )
    assert results[1] is None and results[2] is None
    assert state.error == "That run was not found."
    assert [r["id"] for r in state.runs] == [str(run_a)]

    state, results = tab(token, ("download_proof", (str(run_a),)))
    assert state.error == ""
    sent = {str(name): value._var_value for name, value in results[0].args}
    assert sent["filename"].startswith("retention-proof-") and sent["filename"].endswith(".json")
    prefix = "data:application/json;base64,"
    assert sent["url"].startswith(prefix)
    document = json.loads(base64.b64decode(sent["url"][len(prefix) :]))
    assert document["run"] == str(run_a) and document["summary"]["planned"] == 0
    with tenant_session(a) as session:
        downloads = session.exec(
            select(AuditEvent.target_id).where(AuditEvent.action == "retention.proof_download")
        ).all()
    assert downloads == [str(run_a)]
