"""The public intake refuses a sixth submission from one address within ten minutes."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlalchemy import func
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.db import tenant_session
from mi_portal.models import Submission
from mi_portal.services import ratelimit
from mi_portal.state.intake import IntakeState
from tests.conftest import Database
from tests.factories import make_tenant
from tests.intake_helpers import form, jpeg_bytes


def _fill(state: IntakeState) -> None:
    filled = form()
    for name in ("full_name", "email", "phone", "date_of_birth", "concern_area"):
        setattr(state, name, getattr(filled, name))
    state.answers = dict(filled.answers)
    state.privacy_ack = True
    state.chosen = ["clinic-a"]


async def _submit(ip: str, times: int) -> list[IntakeState]:
    outcomes = []
    for _ in range(times):
        root = rx.State(_reflex_internal_init=True)
        root.router = RouterData.from_router_data(
            {"headers": {"user-agent": "pytest"}, "ip": ip, "pathname": "/consult"}
        )
        state = await root.get_state(IntakeState)
        _fill(state)
        upload: Any = rx.UploadFile(file=io.BytesIO(jpeg_bytes(1)), path=Path("photo.jpg"))
        async for _update in IntakeState.event_handlers["submit"].fn(state, [upload]):
            pass
        outcomes.append(state)
    return outcomes


def _stored(tenant_id: Any) -> int:
    with tenant_session(tenant_id) as session:
        return session.exec(select(func.count()).select_from(Submission)).one()


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_sixth_submission_from_one_address_is_refused(db: Database) -> None:
    a = make_tenant("clinic-a")
    states = asyncio.run(_submit("203.0.113.5", ratelimit.INTAKE_PER_ADDRESS.max_hits + 1))
    assert all(s.receipts and not s.failure for s in states[:-1])
    last = states[-1]
    assert last.receipts == [] and last.failure == (
        "Too many submissions from this connection. Please try again in 10 minutes."
    )
    assert _stored(a) == ratelimit.INTAKE_PER_ADDRESS.max_hits
    # Another connection is not held back by the first one.
    (other,) = asyncio.run(_submit("198.51.100.7", 1))
    assert other.receipts and not other.failure
    assert _stored(a) == ratelimit.INTAKE_PER_ADDRESS.max_hits + 1
