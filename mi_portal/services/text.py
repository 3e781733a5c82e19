"""Text typed into the app, made safe to store and to show to staff: one rule for every field."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

# Control, format (bidi overrides such as U+202E, zero-width joiners, the BOM), private-use and
# surrogate code points: invisible or reordering on screen, so what staff read could differ from
# what was stored. Line and paragraph separators become newlines where newlines are allowed.
_DROPPED = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
_NEWLINES = str.maketrans({"\r": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"})
MAX_EMAIL = 254


class TextTooLong(ValueError):
    """The cleaned text is longer than the field allows."""

    def __init__(self, max_length: int) -> None:
        super().__init__(f"Use at most {max_length} characters.")
        self.max_length = max_length


def _kept(char: str, multiline: bool) -> str:
    if multiline and char in "\n\t":
        return char
    if char.isspace():
        return " "  # a tab or vertical tab in a one-line field separates words
    return "" if unicodedata.category(char) in _DROPPED else char


def clean_text(
    value: object, *, max_length: int, multiline: bool = False, trim: bool = False
) -> str:
    """NFC text without invisible characters; one line unless ``multiline``; stripped.

    Longer than ``max_length`` after cleaning: cut when ``trim``, else ``TextTooLong``.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if multiline:
        text = text.replace("\r\n", "\n").translate(_NEWLINES)
    text = "".join(_kept(c, multiline) for c in text)
    # Again after removal: a dropped character between a letter and its accent kept them apart.
    text = unicodedata.normalize("NFC", text)
    if multiline:
        lines = [line.rstrip() for line in text.split("\n")]
        text = "\n".join(lines).strip()
    else:
        text = " ".join(text.split())
    if len(text) > max_length:
        if not trim:
            raise TextTooLong(max_length)
        text = text[:max_length].rstrip()
    return text


def clean_email(value: object) -> str:
    """A syntactically valid address, lower-cased; ``ValueError`` otherwise. No network use."""
    text = clean_text(value, max_length=MAX_EMAIL * 2, trim=True)
    if not text or len(text) > MAX_EMAIL:
        raise ValueError("Enter a valid email address.")
    try:
        # test_environment admits the reserved .test domain (demo clinics and the test suite use
        # it; it can never be delivered); localhost, .local, .onion and the like stay refused.
        # Mail servers without SMTPUTF8 cannot take a non-ASCII mailbox name, so it is refused
        # here, where the person can still fix it; a non-ASCII domain is kept in its ASCII form.
        checked = validate_email(
            text,
            check_deliverability=False,
            test_environment=True,
            strict=True,
            allow_smtputf8=False,
        )
    except EmailNotValidError:
        raise ValueError("Enter a valid email address.") from None
    return (checked.ascii_email or checked.normalized).lower()
