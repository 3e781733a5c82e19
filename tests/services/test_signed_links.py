"""The one signed-link mechanism: purpose, expiry, subject binding, tampering."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from mi_portal.config import reset_settings
from mi_portal.models import Role
from mi_portal.services import signed_links
from mi_portal.services.actor import Actor

CLAIMS = {"k": "tenant/abc/thumbnail.jpg", "v": "thumbnail"}


@pytest.fixture(autouse=True)
def _own_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A secret key of this test's own, in its own data folder."""
    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path / "data"))
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def _tampered(token: str) -> str:
    middle = len(token) - 10
    return token[:middle] + ("B" if token[middle] == "A" else "A") + token[middle + 1 :]


def test_a_token_opens_for_its_purpose_and_subject_only() -> None:
    token = signed_links.sign("object", subject="u1/s1", lifetime=60, claims=CLAIMS)
    assert signed_links.verify("object", token, subject="u1/s1") == CLAIMS
    assert signed_links.verify("download", token, subject="u1/s1") is None
    assert signed_links.verify("object", token, subject="u1/s2") is None
    assert signed_links.verify("object", token, subject="u2/s1") is None
    assert signed_links.verify("object", _tampered(token), subject="u1/s1") is None
    assert signed_links.verify("object", "", subject="u1/s1") is None
    assert signed_links.verify("object", "x" * 5000, subject="u1/s1") is None


def test_a_token_expires() -> None:
    token = signed_links.sign("object", subject="u1/s1", lifetime=-1, claims=CLAIMS)
    assert signed_links.verify("object", token, subject="u1/s1") is None


def test_the_subject_is_not_readable_from_the_token() -> None:
    session = uuid.uuid4()
    actor = Actor(user_id=uuid.uuid4(), role=Role.PROVIDER, session_id=session)
    token = signed_links.sign(
        "object", subject=signed_links.actor_subject(actor), lifetime=60, claims=CLAIMS
    )
    # What anyone holding the link can read, without the key:
    _valid, decoded = URLSafeSerializer("not the key").loads_unsafe(token)
    assert isinstance(decoded, dict) and decoded["c"] == CLAIMS
    assert str(session) not in json.dumps(decoded) and str(actor.user_id) not in json.dumps(decoded)


def test_a_link_needs_a_subject() -> None:
    with pytest.raises(ValueError):
        signed_links.sign("object", subject="/", lifetime=60, claims=CLAIMS)
