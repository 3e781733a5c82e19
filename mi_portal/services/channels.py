"""Transports: the one place that opens an SMTP connection or calls an SMS provider.

``MI_MAIL`` is ``smtp://user:pass@host:port?tls=starttls|implicit|none`` or ``file://folder``
(one ``.eml`` file per message); ``MI_SMS`` is ``https://ACCOUNT:TOKEN@host/base`` (the common
REST shape: a form POST to ``{base}/Accounts/{ACCOUNT}/Messages.json``) or ``file://folder``
(one JSON file per SMS). Failures are ``DeliveryError``: ``permanent`` ones are never retried,
``uncertain`` ones may have been delivered and are never resent. Reasons are plain sentences
built from codes only: a server's reply text can carry the recipient's address.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import functools
import json
import logging
import os
import re
import secrets
import smtplib
import ssl
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import EmailPolicy
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from mi_portal.config import get_settings, private_dir
from mi_portal.models import OutboxMessage, PlatformOutboxMessage
from mi_portal.services import clock, delivery_status

log = logging.getLogger(__name__)

# Providers report delivery hours (sometimes days) later; the link must outlive that.
DEFAULT_TIMEOUT = 30.0


class DeliveryError(Exception):
    """A send that did not succeed: ``reason`` is a plain sentence with no personal data."""

    def __init__(self, reason: str, *, permanent: bool = False, uncertain: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        # The provider may have accepted it: resending could deliver it twice.
        self.uncertain = uncertain


@dataclass(frozen=True)
class Outgoing:
    """What a transport needs of one outbox row, read once (no database object crosses a send)."""

    id: str
    tenant_id: str
    channel: str
    recipient: str
    subject: str
    body: str
    html_body: str | None
    header_id: str
    reply_to: str | None
    # A text goes from the clinic's own number when it has one, else the platform's.
    sms_from: str | None = None

    @classmethod
    def of(cls, row: OutboxMessage | PlatformOutboxMessage) -> Outgoing:
        return cls(
            id=str(row.id),
            # The platform's own rows belong to no clinic.
            tenant_id=str(row.tenant_id) if isinstance(row, OutboxMessage) else "",
            channel=row.channel,
            recipient=row.recipient,
            subject=row.subject,
            body=row.body,
            html_body=row.html_body,
            header_id=row.header_id,
            reply_to=row.reply_to,
        )


class Abandon(Exception):  # noqa: N818 (a signal, not an error)
    """Raised by a ``ready`` callback: the row is no longer the worker's, send nothing."""


Ready = Callable[[], None]


def _go() -> None:
    return None


class Transport(Protocol):
    def send(self, message: Outgoing, ready: Ready = _go) -> str | None:
        """Deliver one message; the provider's reference, if any. Raises ``DeliveryError``.

        ``ready`` is called once, just before the step that hands the message over (SMTP DATA,
        the HTTP POST, the file write); it may block, or raise ``Abandon`` to send nothing.
        """
        ...

    def close(self) -> None: ...


def file_name(header_id: str, suffix: str) -> str:
    """A safe file name derived from a Message-ID (the same id always gives the same name)."""
    stem = re.sub(r"[^A-Za-z0-9@._-]", "_", header_id.strip("<>"))[:150].lstrip(".")
    return f"{stem or 'message'}{suffix}"


def _write_atomically(folder: Path, name: str, data: bytes) -> Path:
    """Write ``folder/name`` 0600 so a reader sees the whole file or none of it."""
    target = folder / name
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:  # mkstemp creates the file 0600
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _folder(url: str) -> Path:
    parts = urlsplit(url)
    return private_dir(Path(unquote(parts.netloc + parts.path)))


# ---- email -----------------------------------------------------------------------------------


class _ReusedHeaders(HeaderRegistry):
    """The standard header parser, remembering recent results: most header values of a batch
    (From, MIME-Version, Content-Type, the Date of the second) repeat, and parsing is the
    costly part of building a message. Parsed headers are immutable, so sharing them is safe."""

    def __init__(self) -> None:
        super().__init__()
        self._parsed = functools.lru_cache(maxsize=1024)(super().__call__)

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if isinstance(value, str):
            return self._parsed(name, value)
        return super().__call__(name, value)


class _OutgoingPolicy(EmailPolicy):
    """The SMTP policy, keeping a short single-line ASCII header value as given: it is written
    out byte for byte as the parsed header would be, and skipping the parser halves the cost of
    a message. Anything else (non-ASCII, long, a line break: refused) goes through the parser."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + len(value) + 2 <= (self.max_line_length or 78)
            and "\r" not in value
            and "\n" not in value
        ):
            return name, value
        return super().header_store_parse(name, value)


# 7bit: a non-ASCII body goes quoted-printable or base64, so no server needs 8BITMIME.
_POLICY = _OutgoingPolicy(
    linesep="\r\n",
    max_line_length=SMTP_POLICY.max_line_length,
    cte_type="7bit",
    header_factory=_ReusedHeaders(),
)


def build_email(message: Outgoing, *, sender: str) -> EmailMessage:
    """The RFC 5322 message for one outbox row: text, plus an HTML alternative when there is one."""
    try:
        return _build_email(message, sender)
    except (ValueError, TypeError, LookupError) as exc:  # e.g. a line break in a header
        raise DeliveryError(
            f"The message cannot be encoded ({type(exc).__name__}).", permanent=True
        ) from None


def _build_email(message: Outgoing, sender: str) -> EmailMessage:
    msg = EmailMessage(policy=_POLICY)
    msg["Message-ID"] = message.header_id
    msg["Date"] = email.utils.format_datetime(clock.now())
    msg["From"] = sender
    msg["To"] = message.recipient
    msg["Subject"] = message.subject
    if message.reply_to:
        msg["Reply-To"] = message.reply_to
    msg.set_content(message.body)
    if message.html_body:
        msg.add_alternative(message.html_body, subtype="html")
        # A random boundary chosen here, not by the generator (which scans the whole text for
        # a clash with a fresh regex each time): "=_" never occurs in base64 or
        # quoted-printable text, and 96 random bits never in what a person typed.
        msg.replace_header(
            "Content-Type", f'multipart/alternative; boundary="=_{secrets.token_hex(12)}"'
        )
    return msg


def email_bytes(message: Outgoing, *, sender: str) -> bytes:
    """The message as it goes on the wire, built directly for the common case.

    Every header of an outgoing message is short single-line ASCII almost always (ids, dates,
    addresses the outbox has validated, a plain subject); those are written as they are, and
    the bodies as 7-bit text or base64. Anything else (a non-ASCII subject or name, a long line)
    goes through the email package, which folds and encodes it. Same bytes a reader parses as
    ``build_email``'s, at a fraction of the cost: building is the worker's own share of a send.
    """
    try:
        return _email_bytes(message, sender)
    except (ValueError, TypeError, LookupError) as exc:
        raise DeliveryError(
            f"The message cannot be encoded ({type(exc).__name__}).", permanent=True
        ) from None


def _simple(value: str) -> bool:
    return value.isascii() and "\r" not in value and "\n" not in value and len(value) <= 900


def _header_lines(message: Outgoing, sender: str) -> list[str] | None:
    headers = [
        ("Message-ID", message.header_id),
        ("Date", email.utils.format_datetime(clock.now())),
        ("From", sender),
        ("To", message.recipient),
        ("Subject", message.subject),
    ]
    if message.reply_to:
        headers.append(("Reply-To", message.reply_to))
    if not all(_simple(v) and len(n) + len(v) + 2 <= 78 for n, v in headers):
        return None
    return [f"{name}: {value}\r\n" for name, value in headers]


def _body(text: str, subtype: str) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    if text.isascii() and all(len(line) <= 76 for line in lines) and "\r" not in text:
        return (
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: 7bit\r\n\r\n" + "\r\n".join(lines) + "\r\n"
        )
    encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + encoded
    )


def _email_bytes(message: Outgoing, sender: str) -> bytes:
    headers = _header_lines(message, sender)
    if headers is None:
        return _build_email(message, sender).as_bytes()
    head = "".join(headers) + "MIME-Version: 1.0\r\n"
    if not message.html_body:
        return (head + _body(message.body, "plain")).encode("ascii")
    boundary = f"=_{secrets.token_hex(12)}"
    return (
        head
        + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        + f"--{boundary}\r\n"
        + _body(message.body, "plain")
        + f"\r\n--{boundary}\r\n"
        + _body(message.html_body, "html")
        + f"\r\n--{boundary}--\r\n"
    ).encode("ascii")


class FileMail:
    """Each message as ``<message-id>.eml`` in a private folder (the offline default)."""

    def __init__(self, url: str) -> None:
        self.folder = _folder(url)
        self.sender = get_settings().mail_from

    def send(self, message: Outgoing, ready: Ready = _go) -> str | None:
        data = email_bytes(message, sender=self.sender)
        ready()
        path = _write_atomically(self.folder, file_name(message.header_id, ".eml"), data)
        return path.name

    def close(self) -> None:
        return None


def _smtp_code_error(code: int, what: str) -> DeliveryError:
    if 500 <= code < 600:
        return DeliveryError(f"The mail server refused {what} ({code}).", permanent=True)
    return DeliveryError(f"The mail server deferred {what} ({code}); will try again.")


class SmtpMail:
    """SMTP with one connection kept for a whole batch: opened lazily, reopened after a failure."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.host = parts.hostname or "localhost"
        self.tls = (query.get("tls") or ["starttls"])[0]
        if self.tls not in {"starttls", "implicit", "none"}:
            raise ValueError("MI_MAIL: tls must be starttls, implicit or none")
        self.port = parts.port or (465 if self.tls == "implicit" else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else ""
        self.timeout = float((query.get("timeout") or [DEFAULT_TIMEOUT])[0])
        self.sender = get_settings().mail_from
        self.envelope_from = email.utils.parseaddr(self.sender)[1]
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        conn: smtplib.SMTP
        try:
            if self.tls == "implicit":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.tls == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if self.user:
                conn.login(self.user, self.password)
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError("The mail server refused the sign-in; will try again.") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"Cannot reach the mail server ({type(exc).__name__}); will try again."
            ) from None
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                conn.close()

    def _envelope(self, conn: smtplib.SMTP, recipient: str) -> None:
        """MAIL FROM and RCPT TO: nothing is accepted yet, so any failure is safe to retry."""
        code, _ = conn.mail(self.envelope_from)
        if code != 250:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                conn.rset()
            raise _smtp_code_error(code, "the sender")
        code, _ = conn.rcpt(recipient)
        if code not in (250, 251):
            with contextlib.suppress(OSError, smtplib.SMTPException):
                conn.rset()
            raise _smtp_code_error(code, "the recipient")

    def send(self, message: Outgoing, ready: Ready = _go) -> str | None:
        data = email_bytes(message, sender=self.sender)
        for attempt in (1, 2):
            fresh = self._conn is None
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            try:
                self._envelope(conn, message.recipient)
            except DeliveryError:
                raise
            except (UnicodeError, ValueError):
                # An address the server cannot take (e.g. a non-ASCII mailbox): the connection
                # may hold a half-open envelope, so it is not reused for the next message.
                self._drop()
                raise DeliveryError(
                    "The recipient's address cannot be sent over SMTP.", permanent=True
                ) from None
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                # A kept connection the server has since closed: reconnect once and go on.
                if attempt == 1 and not fresh:
                    continue
                raise DeliveryError(
                    f"The mail server dropped the connection ({type(exc).__name__}); "
                    "will try again."
                ) from None
            try:
                ready()  # nothing is accepted before DATA ends: until then a crash sends nothing
            except BaseException:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    conn.rset()
                raise
            try:
                code, _ = conn.data(data)
            except smtplib.SMTPDataError as exc:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    conn.rset()
                raise _smtp_code_error(exc.smtp_code, "the message") from None
            except (OSError, smtplib.SMTPException) as exc:
                # The content may have reached the server before the reply was lost.
                self._drop()
                raise DeliveryError(
                    f"The mail server stopped answering after the message was sent "
                    f"({type(exc).__name__}); it may have been delivered.",
                    uncertain=True,
                ) from None
            if code != 250:
                raise _smtp_code_error(code, "the message")
            return None
        raise AssertionError("unreachable")

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                conn.quit()
            with contextlib.suppress(OSError):
                conn.close()


# ---- SMS -------------------------------------------------------------------------------------


def status_callback_url(row: OutboxMessage | Outgoing) -> str:
    """Where the SMS provider reports this row's delivery (``delivery_status`` signs it)."""
    return delivery_status.status_callback_url(
        uuid.UUID(str(row.tenant_id)), uuid.UUID(str(row.id))
    )


class FileSms:
    """Each SMS as ``<id>.json`` in a private folder (the offline default)."""

    def __init__(self, url: str) -> None:
        self.folder = _folder(url)
        self.sender = get_settings().sms_from

    def send(self, message: Outgoing, ready: Ready = _go) -> str | None:
        record = {
            "To": message.recipient,
            "From": message.sms_from or self.sender,
            "Body": message.body,
            "StatusCallback": status_callback_url(message),
            "IdempotencyKey": message.header_id,
            "Date": clock.now().isoformat(),
        }
        data = json.dumps(record, indent=2).encode()
        ready()
        return _write_atomically(self.folder, file_name(message.header_id, ".json"), data).name

    def close(self) -> None:
        return None


class HttpSms:
    """A REST SMS provider: form POST with basic auth and an idempotency key per row."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if not parts.username or not parts.password:
            raise ValueError("MI_SMS needs the account and token: https://ACCOUNT:TOKEN@host/base")
        self.account = unquote(parts.username)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        base = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
        self.endpoint = f"{base}/Accounts/{self.account}/Messages.json"
        self.sender = get_settings().sms_from
        self.client = httpx.Client(
            auth=(self.account, unquote(parts.password)),
            timeout=httpx.Timeout(DEFAULT_TIMEOUT, connect=10.0),
        )

    def send(self, message: Outgoing, ready: Ready = _go) -> str | None:
        form = {
            "To": message.recipient,
            "From": message.sms_from or self.sender,
            "Body": message.body,
            "StatusCallback": status_callback_url(message),
        }
        ready()
        try:
            response = self.client.post(
                self.endpoint, data=form, headers={"Idempotency-Key": message.header_id}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the provider: safe to try again.
            raise DeliveryError(
                f"Cannot reach the SMS provider ({type(exc).__name__}); will try again."
            ) from None
        except httpx.TransportError as exc:
            # The request may have reached the provider before the answer was lost; not every
            # provider honours the idempotency key, so this one is never sent again on its own.
            raise DeliveryError(
                f"The SMS provider stopped answering ({type(exc).__name__}); "
                "it may have been sent.",
                uncertain=True,
            ) from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise DeliveryError(f"The SMS provider is unavailable ({status}); will try again.")
        if status >= 400:
            raise DeliveryError(f"The SMS provider refused the message ({status}).", permanent=True)
        try:
            sid = response.json().get("sid")
        except (ValueError, AttributeError):
            sid = None
        return str(sid)[:200] if sid else None

    def close(self) -> None:
        self.client.close()


# ---- choosing ----------------------------------------------------------------------------------


def mail_transport(url: str | None = None) -> Transport:
    url = url or get_settings().mail_url
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return FileMail(url)
    if scheme == "smtp":
        return SmtpMail(url)
    raise ValueError("MI_MAIL must be smtp://… or file://…")


def sms_transport(url: str | None = None) -> Transport:
    url = url or get_settings().sms_url
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return FileSms(url)
    if scheme in {"https", "http"}:
        return HttpSms(url)
    raise ValueError("MI_SMS must be https://… or file://…")


class Transports:
    """The transports of one delivery round, opened on first use and closed together."""

    def __init__(self, mail_url: str | None = None, sms_url: str | None = None) -> None:
        self._urls = {"email": mail_url, "sms": sms_url}
        self._open: dict[str, Transport] = {}

    def for_channel(self, channel: str) -> Transport:
        transport = self._open.get(channel)
        if transport is None:
            if channel not in self._urls:
                raise DeliveryError(f"No transport for channel {channel!r}.", permanent=True)
            setting = "MI_MAIL" if channel == "email" else "MI_SMS"
            try:
                if channel == "email":
                    transport = mail_transport(self._urls["email"])
                else:
                    transport = sms_transport(self._urls["sms"])
            except (ValueError, OSError) as exc:
                # Fixable by the operator: the rows wait (with back-off) rather than fail.
                log.warning("%s cannot be used: %s", setting, type(exc).__name__)
                raise DeliveryError(f"{setting} cannot be used; will try again.") from None
            self._open[channel] = transport
        return transport

    def close(self) -> None:
        for transport in self._open.values():
            with contextlib.suppress(Exception):
                transport.close()
        self._open.clear()


__all__ = [
    "Abandon",
    "DeliveryError",
    "Outgoing",
    "Transports",
    "build_email",
    "email_bytes",
    "mail_transport",
    "sms_transport",
    "status_callback_url",
]
