"""The conversation panel of the case page: the thread, consent, compose, preview and send.

What staff typed stays in the fields whenever a preview or a send is refused; only a sent
message clears them.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.services import audit, message_attachments, message_templates, messaging, outbox
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.images import MAX_BYTES, ImageRejected
from mi_portal.services.message_attachments import MAX_ATTACHMENTS, Staged, from_dict
from mi_portal.services.permissions import Permission
from mi_portal.state.guard import current, guarded

CHANNELS = ("email", "sms")
CONSENT_KINDS = {
    "sms_opt_in": "Text messages",
    "marketing_opt_in": "Marketing",
    "privacy_ack": "Privacy notice",
}
SMS_REFUSED = "Text messages are off: the patient has not agreed to them or has no mobile number."


def _problem(exc: Exception) -> str:
    if isinstance(exc, NotFound):
        return "That case, template or file was not found."
    if isinstance(exc, PermissionDenied):
        return "That template is retired; choose another one."
    if isinstance(exc, ImageRejected):
        return exc.reason
    return str(exc) or "That did not work. Please try again."


def _send_and_read(
    actor: Actor, case_id: str, staged: list[Staged], draft: dict[str, Any]
) -> messaging.Conversation | None:
    """Check the attachments, store and queue the message (committed), then read the thread
    again: one trip to a worker thread through one session, instead of three (under load each
    trip waits its turn, and an event that waits too long loses the tab's lock). The read is
    the conversation as the panel shows it after a send (``None`` if the case went away): its
    look and the read marker it moves are committed together, after the message; a look whose
    commit fails is still recorded on its own, as the case page does."""
    with (
        audit.together() as looks,
        looks.session_with_looks(actor.require_tenant(), ("thread.viewed",)) as session,
    ):
        rows = message_attachments.attachment_rows(actor, case_id, staged, lent=session)
        messaging.send_message(actor, case_id, attachments=rows, lent=session, **draft)
        try:
            return messaging.conversation(actor, case_id, lent=session)
        except NotFound:
            return None


class ConversationState(rx.State):
    messages: list[dict[str, Any]] = []
    consent: list[dict[str, str]] = []
    sms_allowed: bool = False
    marketing_allowed: bool = False
    can_send: bool = False
    loaded: bool = False
    error: str = ""
    notice: str = ""
    templates: list[dict[str, str]] = []
    channel: str = "email"
    template_id: str = ""
    subject: str = ""
    body: str = ""
    preview: dict[str, str] = {}
    compose_error: str = ""
    sending: bool = False
    attachments: list[dict[str, str]] = []
    # What was stored for the next message (keys and image ids): never sent to the browser.
    _staged: list[dict[str, Any]] = []

    def _case_id(self) -> str:
        return str(self.id)[:64]  # type: ignore[attr-defined]  (route argument)

    async def _refresh(self) -> None:
        actor = current().actor
        try:
            view = await asyncio.to_thread(messaging.conversation, actor, self._case_id())
        except NotFound:
            view = None
        self._show(view)

    def _show(self, view: messaging.Conversation | None) -> None:
        """Fill the panel from the conversation read (``None``: the case was not found)."""
        if view is None:
            self.messages, self.consent, self.loaded = [], [], False
            return
        lines = []
        for m in view.messages:
            line = asdict(m)
            line["outbound"] = m.direction == "outbound"
            line["channel_label"] = {"sms": "Text", "portal": "Reply page"}.get(m.channel, "Email")
            lines.append(line)
        self.messages = lines
        self.consent = [
            {
                "kind": CONSENT_KINDS.get(c.kind, c.kind),
                "state": "Yes" if c.granted else "No",
                "source": c.source,
                "at": c.recorded_at,
            }
            for c in view.consent
        ]
        self.sms_allowed, self.marketing_allowed = view.sms_allowed, view.marketing_allowed
        self.can_send = view.can_send
        if not self.sms_allowed and self.channel == "sms":
            self.channel = "email"
        self.loaded = True

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def load(self) -> None:
        await self._open()

    async def _open(self) -> None:
        """Opening the case marks its inbound messages read for this user (inside a guarded
        handler)."""
        self._start()
        await self._refresh()
        rows: list[message_templates.TemplateRow] = []
        if self.can_send:
            actor = current().actor
            rows = await asyncio.to_thread(
                functools.partial(message_templates.list_templates, actor, active_only=True)
            )
        self._show_templates(rows)

    def _start(self) -> None:
        """A freshly opened panel: nothing composed, no message shown."""
        self.error = self.notice = self.compose_error = ""
        self.preview = {}
        self.channel, self.template_id, self.subject, self.body = "email", "", "", ""
        self.attachments, self._staged = [], []

    def _show_templates(self, rows: list[message_templates.TemplateRow]) -> None:
        """The templates offered (only to those who may send; none otherwise)."""
        self.templates = (
            [{"id": t.id, "name": t.name, "channel": t.channel} for t in rows]
            if self.can_send
            else []
        )

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def set_channel(self, channel: str) -> None:
        if channel not in CHANNELS:
            return
        if channel == "sms" and not self.sms_allowed:
            self.compose_error = SMS_REFUSED
            return
        self.channel, self.preview = channel, {}

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def choose_template(self, template_id: str) -> None:
        """Fill subject and body with the template's own text (variables filled on preview)."""
        if not isinstance(template_id, str) or template_id in ("", "none"):
            self.template_id = ""
            return
        actor = current().actor
        try:
            row = await asyncio.to_thread(message_templates.get_template, actor, template_id[:64])
        except (NotFound, ValueError):
            self.compose_error = "That template was not found."
            return
        if not row.active:
            self.compose_error = "That template is retired; choose another one."
            return
        if row.channel == "sms" and not self.sms_allowed:
            self.compose_error = SMS_REFUSED
            return
        self.template_id, self.channel = row.id, row.channel
        self.subject, self.body = row.subject, row.body
        self.preview, self.compose_error = {}, ""

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def set_subject(self, value: str) -> None:
        if isinstance(value, str):
            self.subject, self.preview = value[: messaging.MAX_SUBJECT + 50], {}

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def set_body(self, value: str) -> None:
        if isinstance(value, str):
            self.body, self.preview = value[: messaging.MAX_BODY + 500], {}

    def _draft(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "subject": self.subject if self.channel == "email" else "",
            "body": self.body,
            "template_id": self.template_id or None,
        }

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def show_preview(self) -> None:
        actor, case_id = current().actor, self._case_id()
        self.compose_error, self.notice = "", ""
        try:
            seen = await asyncio.to_thread(
                functools.partial(messaging.preview, actor, case_id, **self._draft())
            )
        except (ValueError, NotFound, PermissionDenied) as exc:
            self.preview, self.compose_error = {}, _problem(exc)
            return
        self.preview = {"to": seen.to, "subject": seen.subject, "body": seen.body}

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def close_preview(self) -> None:
        self.preview = {}

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def send(self) -> None:
        actor, case_id = current().actor, self._case_id()
        self.compose_error, self.notice = "", ""
        staged = [from_dict(s) for s in self._staged]
        try:
            view = await asyncio.to_thread(_send_and_read, actor, case_id, staged, self._draft())
        except (ValueError, NotFound, PermissionDenied) as exc:
            self.compose_error = _problem(exc)  # the draft stays as typed
            return
        self.template_id, self.subject, self.body, self.preview = "", "", "", {}
        self.attachments, self._staged = [], []
        self.notice = "Message queued for delivery."
        self._show(view)

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def retry(self, outbox_id: str) -> None:
        actor = current().actor
        self.error, self.notice = "", ""
        try:
            await asyncio.to_thread(outbox.retry, actor, str(outbox_id)[:64])
        except (ValueError, NotFound) as exc:
            self.error = _problem(exc)
        else:
            self.notice = "The message will be sent again."
        await self._refresh()

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def upload_attachment(self, files: list[rx.UploadFile]) -> None:
        """A PDF or a photo for the next message (stored now, attached when it is sent)."""
        actor, case_id = current().actor, self._case_id()
        self.compose_error = ""
        chosen = list(files) if isinstance(files, list) else []
        for upload in chosen[: MAX_ATTACHMENTS - len(self._staged)]:
            data = await upload.read(MAX_BYTES + 1)
            name = upload.filename or ""
            # Named or shaped like a PDF: checked as one (its bytes decide, not its name).
            is_pdf = data.startswith(message_attachments.PDF_MAGIC) or name.lower().endswith(".pdf")
            stage = message_attachments.stage_pdf if is_pdf else message_attachments.stage_photo
            try:
                staged: Staged = await asyncio.to_thread(stage, actor, case_id, data, name)
            except (ValueError, NotFound) as exc:
                self.compose_error = f"{name[:60]}: {_problem(exc)}" if name else _problem(exc)
                return
            self._staged = [*self._staged, staged.as_dict()]
            self.attachments = [
                *self.attachments,
                {"name": staged.display_name, "kind": staged.kind, "size": _size(staged.byte_size)},
            ]
        if len(chosen) > MAX_ATTACHMENTS:
            self.compose_error = f"A message can carry at most {MAX_ATTACHMENTS} files."

    @rx.event
    @guarded(Permission.MESSAGES_SEND)
    async def remove_attachment(self, index: int) -> None:
        if not isinstance(index, int) or not 0 <= index < len(self._staged):
            return
        actor = current().actor
        gone = from_dict(self._staged[index])
        await asyncio.to_thread(message_attachments.discard, actor, gone)
        self._staged = [s for i, s in enumerate(self._staged) if i != index]
        self.attachments = [a for i, a in enumerate(self.attachments) if i != index]


def _size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{max(1, n // 1024)} KB"
