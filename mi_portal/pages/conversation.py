"""The case page's conversation panel: messages, delivery states, consent, compose."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import field_label
from mi_portal.components.layout import error_callout, notice_callout
from mi_portal.state.conversation import ConversationState as S

DELIVERY_COLOURS = {
    "pending": "gray",
    "claimed": "gray",
    "sending": "gray",
    "sent": "blue",
    "delivered": "green",
    "failed": "red",
}
FILE_TYPES = {
    "application/pdf": [".pdf"],
    "image/jpeg": [".jpg", ".jpeg"],
    "image/png": [".png"],
    "image/webp": [".webp"],
}


def _delivery(m: rx.Var) -> rx.Component:
    return rx.cond(
        m["delivery"].to(str) != "",
        rx.match(
            m["delivery_state"].to(str),
            *[
                (state, rx.badge(m["delivery"], color_scheme=colour, class_name="delivery-state"))
                for state, colour in DELIVERY_COLOURS.items()
            ],  # type: ignore[arg-type]
            rx.badge(m["delivery"], class_name="delivery-state"),
        ),
    )


def _attachment(a: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.icon(rx.cond(a["kind"] == "pdf", "file_text", "image"), size=14, aria_hidden="true"),
        rx.text(a["name"], size="1", word_break="break-all"),
        rx.text(a["size"], size="1", color_scheme="gray"),
        spacing="1",
        align="center",
        class_name="message-attachment",
    )


def _message(m: rx.Var) -> rx.Component:
    failed = m["delivery_state"].to(str) == "failed"
    return rx.box(
        rx.flex(
            rx.text(m["author"], size="2", weight="medium"),
            rx.text(
                rx.cond(m["outbound"].to(bool), "to patient", "from patient"),
                " · ",
                m["channel_label"],
                " · ",
                m["created_at"],
                size="1",
                color_scheme="gray",
            ),
            rx.cond(m["unread"].to(bool), rx.badge("New", color_scheme="blue")),
            _delivery(m),
            gap="0 0.5em",
            wrap="wrap",
            align="baseline",
        ),
        rx.cond(m["subject"].to(str) != "", rx.text(m["subject"], size="2", weight="medium")),
        rx.text(m["body"], size="2", white_space="pre-wrap", word_break="break-word"),
        rx.foreach(m["attachments"].to(list[dict[str, str]]), _attachment),
        rx.cond(
            failed,
            rx.flex(
                rx.text("Not delivered: ", m["failure"], size="1", color_scheme="red"),
                rx.cond(
                    S.can_send,
                    rx.button(
                        "Retry",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=S.retry(m["outbox_id"].to(str)),
                        class_name="message-retry",
                    ),
                ),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
        ),
        padding="0.6em 0.8em",
        border_radius="8px",
        background=rx.cond(m["outbound"].to(bool), "var(--accent-a2)", "var(--gray-a2)"),
        border_left=rx.cond(
            m["outbound"].to(bool), "3px solid var(--accent-8)", "3px solid var(--gray-8)"
        ),
        width="100%",
        class_name=rx.cond(m["outbound"].to(bool), "message outbound", "message inbound"),
    )


def _consent() -> rx.Component:
    return rx.vstack(
        rx.flex(
            rx.text("Text messages: ", rx.text.strong(rx.cond(S.sms_allowed, "yes", "no"))),
            rx.text("Marketing: ", rx.text.strong(rx.cond(S.marketing_allowed, "yes", "no"))),
            gap="0 1.5em",
            wrap="wrap",
            id="consent-state",
        ),
        rx.el.details(
            rx.el.summary("Consent history", style={"cursor": "pointer"}),
            rx.el.ul(
                rx.foreach(
                    S.consent,
                    lambda c: rx.el.li(
                        rx.text(
                            c["kind"],
                            ": ",
                            c["state"],
                            " · ",
                            c["source"],
                            " · ",
                            c["at"],
                            size="1",
                        ),  # fmt: skip
                        class_name="consent-line",
                    ),
                ),
                style={"margin": "0.25em 0 0 1.25em", "padding": 0},
            ),
            id="consent-history",
        ),
        spacing="1",
        width="100%",
    )


def _select(
    label: str, id: str, value: rx.Var, on_change: rx.EventHandler, *items: rx.Component
) -> rx.Component:
    return rx.vstack(
        field_label(label, for_=id),
        rx.select.root(
            rx.select.trigger(id=id, width="100%"),
            rx.select.content(*items),
            value=value,
            on_change=on_change,
        ),
        spacing="1",
        width="100%",
        min_width="0",
    )


def _preview() -> rx.Component:
    return rx.cond(
        S.preview.contains("to"),  # type: ignore[attr-defined]
        rx.box(
            rx.text("Preview", size="2", weight="bold"),
            rx.text("To: ", S.preview["to"], size="2", id="preview-to"),
            rx.cond(
                S.preview["subject"] != "",
                rx.text("Subject: ", S.preview["subject"], size="2", id="preview-subject"),
            ),
            rx.text(
                S.preview["body"],
                size="2",
                white_space="pre-wrap",
                word_break="break-word",
                id="preview-body",
            ),  # fmt: skip
            padding="0.75em",
            border="1px dashed var(--gray-a8)",
            border_radius="8px",
            width="100%",
            id="message-preview",
            role="region",
            aria_label="Preview of the message",
        ),
    )


def _compose() -> rx.Component:
    return rx.vstack(
        rx.heading("Write to the patient", size="2", as_="h3"),
        rx.grid(
            _select(
                "Channel",
                "compose-channel",
                S.channel,
                S.set_channel,
                rx.select.item("Email", value="email"),
                rx.select.item("Text message", value="sms", disabled=~S.sms_allowed),
            ),  # fmt: skip
            _select(
                "Template",
                "compose-template",
                rx.cond(S.template_id != "", S.template_id, "none"),
                S.choose_template,
                rx.select.item("No template", value="none"),
                rx.foreach(S.templates, lambda t: rx.select.item(t["name"], value=t["id"])),
            ),  # fmt: skip
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="3",
            width="100%",
        ),
        rx.cond(
            ~S.sms_allowed,
            rx.text(
                "Text messages are off: the patient has not agreed to them or gave no mobile "
                "number.",
                size="1",
                color_scheme="gray",
                id="sms-off-reason",
            ),
        ),
        rx.cond(
            S.channel == "email",
            rx.vstack(
                field_label("Subject", for_="compose-subject"),
                rx.input(
                    id="compose-subject",
                    value=S.subject,
                    on_change=S.set_subject,
                    max_length=200,
                    width="100%",
                ),  # fmt: skip
                spacing="1",
                width="100%",
            ),
        ),
        rx.vstack(
            field_label("Message", for_="compose-body"),
            rx.text_area(
                id="compose-body",
                value=S.body,
                on_change=S.set_body,
                rows="6",
                width="100%",
                max_length=5_000,
            ),  # fmt: skip
            spacing="1",
            width="100%",
        ),
        _attachments(),
        error_callout(S.compose_error, id="compose-error"),
        _preview(),
        rx.flex(
            rx.button("Preview", variant="soft", on_click=S.show_preview, id="compose-preview"),
            rx.button(
                rx.icon("send", size=14, aria_hidden="true"),
                "Send",
                on_click=S.send,
                id="compose-send",
            ),
            spacing="3",
        ),
        spacing="3",
        width="100%",
        id="compose",
    )


def _attachments() -> rx.Component:
    upload = rx.upload(
        rx.text("Attach a PDF (5 MB) or a photo: drop it here or click", size="2"),
        id="message-files",
        accept=FILE_TYPES,
        max_files=5,
        multiple=True,
        on_drop=S.upload_attachment(rx.upload_files(upload_id="message-files")),  # type: ignore[call-arg]
        border="1px dashed var(--gray-a7)",
        padding="0.75em",
        width="100%",
        cursor="pointer",
    )
    zone = upload.children[0]
    zone.children[0].id = "message-files-input"
    return rx.vstack(
        field_label("Attachments", for_="message-files-input"),
        upload,
        rx.foreach(
            S.attachments,
            lambda a, i: rx.hstack(
                _attachment(a),
                rx.button(
                    "Remove",
                    size="1",
                    variant="ghost",
                    on_click=S.remove_attachment(i),
                    aria_label="Remove " + a["name"].to(str),
                ),
                align="center",
                class_name="staged-attachment",
            ),
        ),
        spacing="1",
        width="100%",
    )


def conversation_panel() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Conversation", size="3", as_="h2"),
            rx.cond(
                S.loaded,
                rx.vstack(
                    _consent(),
                    error_callout(S.error, id="conversation-error"),
                    notice_callout(S.notice, id="conversation-notice"),
                    rx.cond(
                        S.messages.length() > 0,  # type: ignore[attr-defined]
                        rx.vstack(
                            rx.foreach(S.messages, _message),
                            spacing="2",
                            width="100%",
                            id="messages",
                        ),
                        rx.text("No messages yet.", size="2", color_scheme="gray"),
                    ),
                    rx.cond(S.can_send, _compose()),
                    spacing="3",
                    width="100%",
                ),
                rx.hstack(rx.spinner(), rx.text("Loading the conversation…", size="2")),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="conversation",
    )
