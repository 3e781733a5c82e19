"""Password rules after NIST SP 800-63B and argon2id hashing."""

from __future__ import annotations

import pytest

from mi_portal.services.passwords import hash_password, password_problems, verify_password


@pytest.mark.parametrize(
    "password",
    ["short", "password1234", "Password123!", "qwertyuiop123", "aaaaaaaaaaaaaa", "welcome2026!!"],
)
def test_weak_or_common_passwords_are_refused(password: str) -> None:
    assert password_problems(password)


def test_context_words_are_refused() -> None:
    assert password_problems("dana-loves-mi-portal", context=("dana", "mi-portal"))


@pytest.mark.parametrize(
    "password", ["violet kettle harbour", "zebra-lamp-87-orbit", "long enough ünïcode phrase"]
)
def test_long_passphrases_need_no_symbols(password: str) -> None:
    assert password_problems(password) == []


def test_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password("violet kettle harbour")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "violet kettle harbour")
    assert not verify_password(hashed, "violet kettle harbor")
    assert not verify_password(None, "anything")
