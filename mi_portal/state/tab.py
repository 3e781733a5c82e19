"""A tab's UI state never outlives the sign-in session it was filled for.

Reflex keeps each tab's state on the server under the tab's token and sends all of it to any
connection that presents that token, before a handler of ours runs. So before every (re)connect
the tree is checked against the session cookie of that connection: when the session is missing,
expired or revoked, or is another session or clinic than the one the state was filled under,
every staff-side state is reset to its defaults first, and the connection receives nothing it
had. A guarded handler that finds no session does the same (``forget``).

The public intake form is kept: it holds only what the tab's own visitor typed, never staff
data, and it is cleared after every refusal and every successful send.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.middleware import Middleware
from reflex_base.event import get_hydrate_event

from mi_portal.services.auth import SignedIn
from mi_portal.state.guard import signed_in


class TabState(rx.State):
    """Which session and clinic the tab's state was filled under (server only)."""

    _owner: str = ""


def owner_key(signed: SignedIn | None) -> str:
    if signed is None:
        return ""
    return f"{signed.session_id}:{signed.actor.tenant_id or ''}"


def _public_state_names() -> frozenset[str]:
    from mi_portal.state.intake import IntakeState

    return frozenset({IntakeState.get_full_name()})


def _reset_tree(state: rx.State, keep: frozenset[str]) -> None:
    for sub in list(state.substates.values()):
        if sub.get_full_name() not in keep:
            sub.reset()
        _reset_tree(sub, keep)


def forget(root: rx.State) -> None:
    """Reset every loaded staff-side state of the tab to its defaults."""
    _reset_tree(root, _public_state_names())


async def claim(state: rx.State, signed: SignedIn) -> None:
    """Before a guarded handler runs: if the tab's state was filled under another session or
    clinic (a crafted client presenting someone else's tab token), forget it first."""
    tab = await state.get_state(TabState)
    key = owner_key(signed)
    if tab._owner and tab._owner != key:
        forget(state._get_root_state())
    tab._owner = key


class SessionBoundState(Middleware):
    """Before a (re)connect's hydrate, drop state that the connection's session may not see."""

    async def preprocess(self, app: Any, state: Any, event: Any) -> None:
        hydrate = get_hydrate_event(state)
        if event.name not in (hydrate, hydrate + "_and_load"):
            return None
        signed = await signed_in(state)
        key = owner_key(signed)
        tab = await state.get_state(TabState)
        if key == "" or tab._owner != key:
            forget(state._get_root_state())
            tab._owner = key
        return None
