"""The direct email builder reads back exactly like the email package's message."""

from __future__ import annotations

import email
import email.policy

import pytest

from mi_portal.services.channels import DeliveryError, Outgoing, build_email, email_bytes

SENDER = "MI Portal <no-reply@mi-portal.test>"


def _outgoing(**changes: object) -> Outgoing:
    values: dict[str, object] = {
        "id": "1",
        "tenant_id": "2",
        "channel": "email",
        "recipient": "robin@example.org",
        "subject": "Your photos",
        "body": "Hello Robin,\n\n. a line starting with a dot\nthanks",
        "html_body": None,
        "header_id": "<abc@mi-portal.outbox>",
        "reply_to": "reply+00ff.key@reply.mi-portal.test",
    }
    values.update(changes)
    return Outgoing(**values)  # type: ignore[arg-type]


CASES = [
    _outgoing(),
    _outgoing(html_body="<!doctype html><p>Hello &lt;b&gt;Eve&lt;/b&gt;</p>" + "x" * 200),
    _outgoing(subject="Vos photos — café", body="Bonjour Zoë,\nmerci 🙂"),
    _outgoing(body="a very long line " * 80, reply_to=None),
    _outgoing(subject="s" * 120),
]


@pytest.mark.parametrize("message", CASES)
def test_direct_bytes_read_back_like_the_email_package(message: Outgoing) -> None:
    fast = email.message_from_bytes(
        email_bytes(message, sender=SENDER), policy=email.policy.default
    )
    slow = email.message_from_bytes(
        build_email(message, sender=SENDER).as_bytes(), policy=email.policy.default
    )
    for name in ("Message-ID", "From", "To", "Subject", "Reply-To", "MIME-Version"):
        assert fast[name] == slow[name], name
    assert fast.get_content_type() == slow.get_content_type()
    fast_parts = [
        (p.get_content_type(), p.get_content()) for p in fast.walk() if not p.is_multipart()
    ]
    slow_parts = [
        (p.get_content_type(), p.get_content()) for p in slow.walk() if not p.is_multipart()
    ]
    norm = [(t, c.replace("\r\n", "\n").rstrip("\n")) for t, c in fast_parts]
    assert norm == [(t, c.replace("\r\n", "\n").rstrip("\n")) for t, c in slow_parts]
    assert all(len(line) <= 998 for line in email_bytes(message, sender=SENDER).split(b"\r\n"))


def test_a_line_break_in_a_header_is_refused() -> None:
    with pytest.raises(DeliveryError):
        email_bytes(_outgoing(subject="Hi\r\nBcc: someone@example.org"), sender=SENDER)
