"""Which cases a list showed, for the audit log; and the case reference masked roles search by."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from mi_portal.services import audit
from mi_portal.services.actor import Actor

# One page of the queue holds at most this many; a longer list is cut, with its length kept.
MAX_RECORDED = 100
REFERENCE_LENGTH = 8
_REFERENCE = re.compile(rf"#?([0-9a-f]{{{REFERENCE_LENGTH}}})")
SEARCH_BY_REFERENCE = "Search by case reference (the 8 characters shown with each case)."


def parse_reference(term: str) -> str | None:
    """The lower-case reference a search term names (``#1A2B3C4D``, ``1a2b3c4d`` or a full id)."""
    text = term.strip().lower()
    try:
        return uuid.UUID(text).hex[-REFERENCE_LENGTH:]
    except ValueError:
        pass
    found = _REFERENCE.fullmatch(text)
    return found.group(1) if found else None


def record_shown(
    actor: Actor,
    *,
    view: str,
    case_ids: Sequence[object],
    search: str = "",
    outcome: str = "ok",
    target_id: object = None,
    extra: dict[str, object] | None = None,
) -> None:
    """One audit event for one list shown to the actor, naming its cases (never one per row).

    ``search`` is the kind of search ("reference" or "text"), never the term: a typed name or
    email address would put a patient's details into the hash-chained log.
    """
    shown = [str(c) for c in case_ids]
    details: dict[str, object] = {"view": view, "cases": shown[:MAX_RECORDED]}
    if len(shown) > MAX_RECORDED:
        details["more"] = len(shown) - MAX_RECORDED
    if search:
        details["search"] = search
    details.update(extra or {})
    audit.record(
        actor,
        "cases.listed",
        target_type="submission" if target_id is not None else "case_list",
        target_id=target_id,
        outcome=outcome,
        details=details,
    )
