"""Clinic message templates: stored per clinic, rendered in Jinja2's sandbox with strict undefined.

A template may use only the variables listed in ``VARIABLES``; anything else (a typo, an attribute
that does not exist, a call into Python) is a ``TemplateProblem`` with a plain sentence, raised
before anything is queued. The email's HTML part is rendered with autoescape, so what a patient
typed (their name) can never become markup in a staff-sent email.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import MessageChannel, MessageTemplate
from mi_portal.services import audit, clock
from mi_portal.services.actor import Actor, NotFound, PermissionDenied, parse_id
from mi_portal.services.permissions import Permission, check
from mi_portal.services.text import TextTooLong, clean_text

MAX_NAME = 100
MAX_SUBJECT = 200
MAX_BODY = 5_000
MAX_TEMPLATES = 200

# What a template may refer to, with the sample used to check a template when it is saved.
VARIABLES: dict[str, str] = {
    "patient.first_name": "Alex",
    "clinic.name": "Your clinic",
    "case.reference": "1A2B3C4D",
    "staff.name": "Sam Rivera",
    "reply_link": "https://portal.example/m/…",
    "quote.link": "https://portal.example/q/…",
}
# Variables that need more than the conversation: the case's current sent quote for quote.link
# (a message using it cannot be sent while the case has none).
LATER = frozenset({"quote.link"})


class TemplateProblem(ValueError):
    """A template that cannot be rendered, said in a sentence staff can act on."""


def _environment(*, autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=False
    )


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def _nested(values: dict[str, str]) -> dict[str, Any]:
    """{"patient.first_name": x} → {"patient": {"first_name": x}}."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        head, _, tail = key.partition(".")
        if tail:
            out.setdefault(head, {})[tail] = value
        else:
            out[head] = value
    return out


# A template is text with {{ variable }} placeholders and nothing else: no expressions, filters,
# loops or calls. The sandbox stops escapes, but not work (``'x' * 10**9``); this stops both.
_ALLOWED_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr)


def _only_placeholders(env: SandboxedEnvironment, source: str) -> None:
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"The template has a mistake on line {exc.lineno}: {exc.message}."
        ) from None
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            raise TemplateProblem(
                "Only placeholders such as {{ patient.first_name }} can be used in a template."
            )


def render(source: str, values: dict[str, str], *, as_html: bool = False) -> str:
    """``source`` with ``values`` filled in; ``TemplateProblem`` for anything unknown or unsafe."""
    env = _HTML if as_html else _TEXT
    _only_placeholders(env, source)
    try:
        return env.from_string(source).render(_nested(values))
    except UndefinedError as exc:
        raise TemplateProblem(_undefined_sentence(exc)) from None
    except TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"The template has a mistake on line {exc.lineno}: {exc.message}."
        ) from None
    except SecurityError:
        raise TemplateProblem("The template uses something that is not allowed.") from None
    except (TemplateError, OverflowError, MemoryError, RecursionError):
        raise TemplateProblem("The template cannot be filled in.") from None


def _undefined_sentence(exc: UndefinedError) -> str:
    known = ", ".join("{{ " + k + " }}" for k in VARIABLES)
    detail = str(exc.message or "").replace("'dict object' has no attribute", "no variable")
    return f"Unknown variable ({detail}). Use only: {known}."


def render_message(subject: str, body: str, values: dict[str, str]) -> tuple[str, str, str]:
    """(subject, text body, html body) of a message, each rendered from the same values.

    The HTML part is rendered from the template with autoescape, then paragraphs are formed, so
    a patient's name containing markup arrives as text in every part.
    """
    rendered_subject = " ".join(render(subject, values).split())
    text = render(body, values)
    escaped = render(body, values, as_html=True)
    paragraphs = [p for p in str(escaped).split("\n\n") if p.strip()]
    inner = "".join("<p>" + p.replace("\n", "<br>") + "</p>" for p in paragraphs)
    page = f'<!doctype html><html><body style="font-family:sans-serif">{inner}</body></html>'
    return rendered_subject, text, page


# Links that let their holder act as the patient: only the outgoing body may carry them (staff
# and the conversation see a placeholder), so never a subject, which is stored as sent.
LINK_VARIABLES = ("reply_link", "quote.link")


def check_subject(subject: str) -> None:
    if any(name in subject for name in LINK_VARIABLES):
        raise TemplateProblem("Put links in the message itself, not in its subject.")


def check_template(subject: str, body: str) -> None:
    """Render with the sample values: unknown variables and syntax errors are found on save."""
    check_subject(subject)
    render_message(subject, body, VARIABLES)


@dataclass(frozen=True)
class TemplateRow:
    id: str
    name: str
    channel: str
    subject: str
    body: str
    marketing: bool
    active: bool
    updated_at: str


def _row(t: MessageTemplate) -> TemplateRow:
    return TemplateRow(
        id=str(t.id),
        name=t.name,
        channel=t.channel,
        subject=t.subject,
        body=t.body,
        marketing=t.marketing,
        active=t.active,
        updated_at=t.updated_at.strftime("%Y-%m-%d %H:%M"),
    )


def list_templates(
    actor: Actor, *, active_only: bool = False, lent: ScopedSession | None = None
) -> list[TemplateRow]:
    """The clinic's templates by name (everyone who may send messages may use them).
    (``lent``: see ``tenant_session``.)"""
    check(actor, Permission.MESSAGES_SEND if active_only else Permission.TEMPLATES_MANAGE)
    with tenant_session(actor.require_tenant(), lent=lent) as session:
        stmt = select(MessageTemplate).order_by(col(MessageTemplate.name))
        if active_only:
            stmt = stmt.where(col(MessageTemplate.active).is_(True))
        return [_row(t) for t in session.exec(stmt)]


def get_template(actor: Actor, template_id: object) -> TemplateRow:
    check(actor, Permission.MESSAGES_SEND)
    with tenant_session(actor.require_tenant()) as session:
        row = session.get(MessageTemplate, (actor.tenant_id, parse_id(template_id, "template")))
        if row is None:
            raise NotFound("template")
        return _row(row)


def _clean(
    name: object, channel: object, subject: object, body: object
) -> tuple[str, str, str, str]:
    try:
        clean_name = clean_text(name, max_length=MAX_NAME)
        clean_subject = clean_text(subject, max_length=MAX_SUBJECT)
        clean_body = clean_text(body, max_length=MAX_BODY, multiline=True)
    except TextTooLong as exc:
        raise ValueError(str(exc)) from None
    if not clean_name:
        raise ValueError("Give the template a name.")
    if channel not in (MessageChannel.EMAIL.value, MessageChannel.SMS.value):
        raise ValueError("Choose email or text message.")
    if not clean_body:
        raise ValueError("Write the message.")
    if channel == MessageChannel.EMAIL.value and not clean_subject:
        raise ValueError("An email template needs a subject.")
    if channel == MessageChannel.SMS.value:
        clean_subject = ""
    check_template(clean_subject, clean_body)
    return clean_name, str(channel), clean_subject, clean_body


def save_template(
    actor: Actor,
    template_id: object | None,
    *,
    name: object,
    channel: object,
    subject: object,
    body: object,
    marketing: bool = False,
    active: bool = True,
) -> str:
    """Create (``template_id`` None) or change a template; audited with what changed."""
    check(actor, Permission.TEMPLATES_MANAGE)
    clean_name, clean_channel, clean_subject, clean_body = _clean(name, channel, subject, body)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        clash = session.exec(
            select(MessageTemplate.id).where(MessageTemplate.name == clean_name)
        ).first()
        if template_id in (None, ""):
            if clash is not None:
                raise ValueError("A template with this name exists.")
            count = len(session.exec(select(MessageTemplate.id)).all())
            if count >= MAX_TEMPLATES:
                raise ValueError(f"A clinic can keep at most {MAX_TEMPLATES} templates.")
            row = MessageTemplate(name=clean_name)
            before: dict[str, Any] = {}
            action = "template.created"
        else:
            found = session.get(MessageTemplate, (tenant_id, parse_id(template_id, "template")))
            if found is None:
                raise NotFound("template")
            if clash is not None and clash != found.id:
                raise ValueError("A template with this name exists.")
            row = found
            before = _summary(row)
            action = "template.changed"
        row.name, row.channel, row.subject, row.body = (
            clean_name, clean_channel, clean_subject, clean_body
        )  # fmt: skip
        row.marketing, row.active = bool(marketing), bool(active)
        row.updated_by_id, row.updated_at = actor.user_id, clock.now()
        session.add(row)
        session.commit()
        after, target = _summary(row), row.id
    changed = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    audit.record(actor, action, target_type="template", target_id=target, details=changed)
    return str(target)


def _summary(t: MessageTemplate) -> dict[str, Any]:
    # Templates are clinic text, not patient data: old and new values are kept in the audit log.
    return {
        "name": t.name,
        "channel": t.channel,
        "subject": t.subject,
        "body": t.body,
        "marketing": t.marketing,
        "active": t.active,
    }


def template_for_send(actor: Actor, template_id: uuid.UUID) -> MessageTemplate:
    """The stored template (active) a message is being sent with."""
    with tenant_session(actor.require_tenant()) as session:
        row = session.get(MessageTemplate, (actor.tenant_id, template_id))
        if row is None:
            raise NotFound("template")
        if not row.active:
            raise PermissionDenied("this template is retired")
        session.expunge(row)
        return row
