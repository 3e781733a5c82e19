"""The intake form's handler: every error at once, focus on the first, photo errors tied to files."""

from __future__ import annotations

import asyncio
import io
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
