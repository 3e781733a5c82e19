"""Passwords: argon2id hashes and rules after NIST SP 800-63B.

Length over complexity (at least 12 characters, up to 128, any characters), no composition rules,
no forced rotation, and a blocklist of commonly used and context-specific passwords.
"""

from __future__ import annotations

import re
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when an account does not exist, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing-only")

MIN_LENGTH = 12
MAX_LENGTH = 128

# Frequently used passwords (and their stems) seen in public breach corpora.
COMMON = frozenset(
    """
    password password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword
    123456 1234567 12345678 123456789 1234567890 12345678910 0123456789 987654321 111111111111
    qwerty qwerty123 qwertyuiop qwertyuiop123 1q2w3e4r 1q2w3e4r5t6y asdfghjkl asdfghjkl123
    zxcvbnm zxcvbnm123 iloveyou iloveyou123 letmein letmein123 welcome welcome123 welcome2024
    welcome2025 welcome2026 admin admin123 administrator changeme changeme123 trustno1 dragon
    monkey football baseball superman batman sunshine princess starwars whatever shadow master
    michael jennifer abc123 abcdef123456 aaaaaaaaaaaa summer2024 summer2025 winter2025
    spring2026 autumn2026 secret secret123 default default123 test1234 testtest guest
    letmeinplease correcthorsebatterystaple clinic clinic123 doctor doctor123 medical
    healthcare hospital patient nurse123 dentist aesthetics portal portal123
    """.split()
)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def password_problems(password: str, *, context: tuple[str, ...] = ()) -> list[str]:
    """Reasons a new password is refused (empty when it is acceptable)."""
    pw = _normalise(password)
    problems: list[str] = []
    if len(pw) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters; a few words make a good password.")
    if len(pw) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = pw.lower()
    stem = re.sub(r"[\d\W_]+$", "", lowered)
    if lowered in COMMON or stem in COMMON:
        problems.append("This password is too common; choose something harder to guess.")
    if len(set(lowered)) <= 2:
        problems.append("Avoid repeating the same characters.")
    for word in context:
        word = word.lower().strip()
        if len(word) >= 4 and word in lowered:
            problems.append("Do not use your name, email or the service's name in the password.")
            break
    return problems


def hash_password(password: str) -> str:
    return _hasher.hash(_normalise(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; takes the same time when there is no hash to check."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, _normalise(password)) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False
