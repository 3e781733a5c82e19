"""The intake form's handler: every error at once, focus on the first, photo errors tied to files."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.state.intake import IntakeState, photo_names
from tests.conftest import Database
from tests.factories import make_tenant
from tests.intake_helpers import form


async def _submit(fill: dict[str, Any], files: list[tuple[str, bytes]]) -> tuple[IntakeState, str]:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"user-agent": "pytest"}, "ip": "198.51.100.7", "pathname": "/consult"}
    )
    state = await root.get_state(IntakeState)
    for name, value in fill.items():
        setattr(state, name, value)
    uploads: list[Any] = [
        rx.UploadFile(file=io.BytesIO(data), path=Path(name)) for name, data in files
    ]
    scripts = []
    async for update in IntakeState.event_handlers["submit"].fn(state, uploads):
        if update is not None:
            scripts.append(repr(update))
    return state, " ".join(scripts)


def test_no_clinic_is_reported_with_the_other_errors_and_focus_goes_to_the_first(
    db: Database,
) -> None:
    make_tenant("clinic-a")
    state, script = asyncio.run(_submit({"chosen": []}, []))
    assert list(state.errors)[:2] == ["clinics", "full_name"]
    assert {"email", "date_of_birth", "concern_area", "privacy_ack", "photos"} <= set(state.errors)
    assert "#clinic-choices [role=checkbox]" in script and "focus" in script
    # Only the clinic is missing: it alone is reported, and focus goes to the clinic list.
    filled = form()
    fields = {
        n: getattr(filled, n) for n in ("full_name", "email", "date_of_birth", "concern_area")
    }
    state, script = asyncio.run(
        _submit({**fields, "privacy_ack": True, "chosen": []}, [("a.jpg", b"x")])
    )
    assert list(state.errors) == ["clinics"] and "#clinic-choices" in script


def test_a_photo_error_names_the_files_it_was_about(db: Database) -> None:
    make_tenant("clinic-a")
    filled = form()
    fields = {
        n: getattr(filled, n) for n in ("full_name", "email", "date_of_birth", "concern_area")
    }
    state, script = asyncio.run(
        _submit(
            {**fields, "privacy_ack": True, "chosen": ["clinic-a"]},
            [("not-a-photo.jpg", b"plain text")],
        )
    )
    assert "not-a-photo.jpg" in state.errors["photos"] and "#photos" in script
    assert state.photo_error_files == "not-a-photo.jpg"
    assert photo_names(["./dir/a.jpg", "b.png"]) == "a.jpg\nb.png"


def test_a_form_sent_again_after_its_answer_was_lost_shows_the_stored_case(db: Database) -> None:
    """A worker can die after the case is committed and before the tab hears of it: the tab's
    state (in Redis) never saw the answer. Re-sent from that state, the form is answered with
    the stored case's receipt, not stored again; the next form is a new case."""
    from sqlmodel import func, select

    from mi_portal.db import tenant_session
    from mi_portal.models import Submission
    from mi_portal.services import intake
    from tests.intake_helpers import jpeg_bytes, photos

    a = make_tenant("clinic-a")
    filled = form()
    fields: dict[str, Any] = {
        n: getattr(filled, n)
        for n in ("full_name", "email", "phone", "date_of_birth", "concern_area")
    }
    fields.update(privacy_ack=True, chosen=["clinic-a"], _sending_key="tab-key")
    # What the worker that died had committed for this tab's sending.
    lost = intake.submit(
        clinic_slugs=["clinic-a"],
        form=filled,
        photos=photos(1),
        ip="198.51.100.7",
        user_agent="pytest",
        source="directory",
        sending_key="tab-key",
    )

    def cases() -> int:
        with tenant_session(a) as session:
            return session.exec(select(func.count()).select_from(Submission)).one()

    state, _ = asyncio.run(_submit(dict(fields), [("a.jpg", jpeg_bytes(3))]))
    assert state.receipts == [{"clinic_name": "Clinic-A", "reference": lost[0].reference}]
    assert cases() == 1 and not state.submitting and not state.failure
    renewed = state._sending_key
    assert renewed and renewed != "tab-key"
    # The same tab's next form is a new sending: a new case.
    state, _ = asyncio.run(_submit({**fields, "_sending_key": renewed}, [("b.jpg", jpeg_bytes(4))]))
    assert state.receipts[0]["reference"] != lost[0].reference and cases() == 2


def test_loading_the_form_again_keeps_its_sending_and_frees_the_button(db: Database) -> None:
    """A sending cut off with its worker can leave ``submitting`` set in the tab's state. A page
    load (events of one tab take turns, so none is sending then) frees the button and keeps the
    sending's key, so the form sent again finds a case that was stored."""
    make_tenant("clinic-a")

    async def scenario() -> tuple[bool, str, str]:
        root = rx.State(_reflex_internal_init=True)
        root.router = RouterData.from_router_data(
            {"headers": {"user-agent": "pytest"}, "ip": "127.0.0.1", "pathname": "/consult"}
        )
        state = await root.get_state(IntakeState)
        await IntakeState.event_handlers["load"].fn(state)
        first = state._sending_key
        state.submitting = True  # as a worker killed mid-sending leaves it
        await IntakeState.event_handlers["load"].fn(state)
        # The key is never part of what the browser is sent.
        assert first not in json.dumps(state.dict(), default=str)
        return state.submitting, first, state._sending_key

    submitting, first, after = asyncio.run(scenario())
    assert not submitting
    assert len(first) >= 32 and after == first
