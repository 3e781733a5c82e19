"""Typed text: invisible and control characters are removed everywhere the app takes text."""

from __future__ import annotations

import pytest
from sqlmodel import select

from mi_portal.models import Role, User, UserSession
from mi_portal.services import auth, tenancy, users
from mi_portal.services.actor import Actor
from mi_portal.services.text import TextTooLong, clean_email, clean_text
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token

# Right-to-left override, zero-width joiner / non-joiner / space, word joiner, BOM, soft hyphen,
# bidi isolates, a private-use character and C0/C1 controls.
INVISIBLE = "\u202e\u200d\u200c\u200b\u2060\ufeff\u00ad\u2066\u2069\ue000\x00\x07\x1b\x7f\x9b"


def test_invisible_and_control_characters_are_removed() -> None:
    assert clean_text(f"A{INVISIBLE}va", max_length=50) == "Ava"
    # What U+202E would have displayed reversed now reads as stored.
    assert clean_text("invoice\u202efdp.exe", max_length=50) == "invoicefdp.exe"
    assert clean_text("\ufeff  Ava \t Stone\n\r ", max_length=50) == "Ava Stone"
    assert clean_text(INVISIBLE, max_length=50) == ""
    assert clean_text(None, max_length=5) == "" and clean_text(12, max_length=5) == "12"


def test_text_is_nfc_and_a_removed_character_does_not_split_an_accent() -> None:
    assert clean_text("Rene\u0301e", max_length=10) == "Renée"
    assert clean_text("Rene\u200b\u0301e", max_length=10) == "Renée"


def test_multiline_keeps_newlines_and_tabs_only() -> None:
    typed = "Line one\u202e\r\nline\ttwo\u2028line three\x0b\x00  \n\n\ufeff"
    assert clean_text(typed, max_length=100, multiline=True) == ("Line one\nline\ttwo\nline three")
    assert clean_text("one\ntwo", max_length=100) == "one two"  # single-line field


def test_overlong_text_is_refused_or_cut() -> None:
    with pytest.raises(TextTooLong):
        clean_text("x" * 11, max_length=10)
    assert clean_text("x" * 11, max_length=10, trim=True) == "x" * 10
    # Invisible characters do not count against the limit: they are gone.
    assert clean_text("x" * 10 + "\u200b" * 50, max_length=10) == "x" * 10


@pytest.mark.parametrize(
    "email",
    [
        "xq<svg/onload=alert(1)>@example.org",
        "a'-prompt(1)-'@example.org'",
        "<a@example.org>",
        "a@example.org>",
        "a@exam_ple.org",
        "a@example",
        "a@localhost",
        "a@example.onion",
        "a@[::1]",
        "a..b@example.org",
        ".a@example.org",
        "a@example.org, b@example.org",
        "a@example.org\r\nBcc: b@example.org",
        "a" * 245 + "@example.org",
        "",
    ],
)
def test_hostile_email_addresses_are_refused(email: str) -> None:
    with pytest.raises(ValueError):
        clean_email(email)


def test_valid_addresses_are_normalised() -> None:
    assert clean_email(" Robin.Patient+skin@Example.ORG ") == "robin.patient+skin@example.org"
    assert clean_email("\u200brobin@example.org\u202e") == "robin@example.org"
    assert clean_email("staff@clinic.test") == "staff@clinic.test"  # reserved for tests and demos
    # A non-ASCII domain is kept in its ASCII form; a non-ASCII mailbox cannot cross SMTP without
    # SMTPUTF8, so it is refused while the person can still fix it.
    assert clean_email("zoe@bücher.de") == "zoe@xn--bcher-kva.de"
    with pytest.raises(ValueError, match="valid email"):
        clean_email("zoë@bücher.de")


def test_invites_refuse_hostile_addresses_and_clean_names(db: Database) -> None:
    a = make_tenant("clinic-a")
    owner_id, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    owner = Actor(user_id=owner_id, role=Role.CLINIC_OWNER, tenant_id=a, home_tenant_id=a)
    for hostile in ("xq<svg/onload=alert(1)>@example.org", "x@localhost", "x@example.org>"):
        with pytest.raises(ValueError, match="valid email"):
            users.invite(owner, email=hostile, full_name="X", role="viewer")
    users.invite(
        owner, email="\ufeffNew@Example.org", full_name="Ne\u200dw\u202e Person", role="viewer"
    )
    with owner_session() as session:
        emails = session.exec(select(User.email, User.full_name)).all()
    assert ("new@example.org", "New Person") in emails
    assert all("<" not in e and "localhost" not in e for e, _ in emails)


def test_switch_reason_is_cleaned(db: Database) -> None:
    a = make_tenant("clinic-a")
    user_id, _ = make_user("support@example.org", platform_role="platform_support")
    signed = auth.resolve(sign_in_token(user_id))
    assert signed is not None
    tenancy.switch_into(signed, str(a), "Ticket\u202e 42:\u200b clinic\x00 asked")
    with owner_session() as session:
        reasons = session.exec(select(UserSession.switch_reason)).all()
    assert "Ticket 42: clinic asked" in reasons
