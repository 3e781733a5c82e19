"""A real sign-in session for tests of links bound to one session."""

from __future__ import annotations

import uuid

from mi_portal.services.actor import Actor
from tests.factories import sign_in_token


def signed_in(user_id: uuid.UUID) -> tuple[str, Actor]:
    """(session token, the actor the server rebuilds from it), as for a browser's request."""
    from mi_portal.services.auth import resolve

    token = sign_in_token(user_id)
    signed = resolve(token)
    assert signed is not None and signed.actor.session_id == signed.session_id
    return token, signed.actor
