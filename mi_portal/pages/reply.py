"""The patient's reply page: the conversation with the clinic, a reply box, photos, SMS consent."""

from __future__ import annotations

import reflex as rx
from reflex.vars import Var

from mi_portal.components.fields import field_label
from mi_portal.components.layout import error_callout
from mi_portal.pages.intake import patient_frame
from mi_portal.services.patient_photos import MAX_REPLY_PHOTOS
from mi_portal.services.patient_reply import MAX_REPLY
from mi_portal.state.reply import ReplyState

UPLOAD_ID = "reply-photos"


def _attachment(a: Var) -> rx.Component:
    return rx.cond(
        a["url"].to(str) != "",
        rx.hstack(
            rx.icon("paperclip", size=14, aria_hidden="true"),
            rx.link(
                a["name"].to(str),
                href=a["url"].to(str),
                is_external=True,
                underline="always",
                class_name="reply-attachment",
                word_break="break-all",
            ),
            align="center",
            spacing="1",
        ),
        rx.hstack(
            rx.icon("image", size=14, aria_hidden="true"),
            rx.text(
                a["name"].to(str),
                size="2",
                class_name="reply-own-photo",
                word_break="break-all",
            ),
            align="center",
            spacing="1",
        ),
    )


def _message(m: Var) -> rx.Component:
    mine = m["mine"].to(bool)
    return rx.box(
        rx.text(
            rx.text.strong(m["author"].to(str)),
            " · ",
            m["when"].to(str),
            " ",
            m["how"].to(str),
            size="1",
            color_scheme="gray",
        ),
        rx.text(m["body"].to(str), size="3", white_space="pre-wrap", word_break="break-word"),
        rx.vstack(rx.foreach(m["attachments"].to(list[dict[str, str]]), _attachment), spacing="1"),
        class_name=rx.cond(mine, "reply-message mine", "reply-message theirs"),
        padding="0.75em",
        border_radius="var(--radius-3)",
        background=rx.cond(mine, "var(--accent-a3)", "var(--gray-a3)"),
        margin_left=rx.cond(mine, "1.5em", "0"),
        margin_right=rx.cond(mine, "0", "1.5em"),
        align_self=rx.cond(mine, "flex-end", "flex-start"),
        max_width="100%",
    )


def _photo_picker() -> rx.Component:
    upload = rx.upload(
        rx.vstack(
            rx.icon("image_plus", aria_hidden="true"),
            rx.text("Drop photos here or click to choose", size="2"),
            align="center",
        ),
        id=UPLOAD_ID,
        multiple=True,
        accept={
            "image/jpeg": [".jpg", ".jpeg"],
            "image/png": [".png"],
            "image/webp": [".webp"],
        },
        max_files=MAX_REPLY_PHOTOS,
        border="1px dashed var(--gray-a7)",
        padding="1em",
        width="100%",
        cursor="pointer",
    )
    # As on the intake form: the label names the file input, the zone says what it is.
    zone = upload.children[0]
    zone.special_props = [
        *zone.special_props,
        Var(_js_expr='({role: "group", "aria-labelledby": "reply-photos-label"})'),
    ]
    zone.children[0].id = "reply-photos-input"
    return rx.vstack(
        field_label(
            f"Photos (optional; JPEG, PNG or WebP, up to {MAX_REPLY_PHOTOS}, 20 MB each)",
            for_="reply-photos-input",
            id="reply-photos-label",
        ),
        upload,
        rx.foreach(
            rx.selected_files(UPLOAD_ID),
            lambda name: rx.text(
                name, size="2", class_name="selected-photo", word_break="break-all"
            ),
        ),
        spacing="1",
        width="100%",
    )


def _reply_box() -> rx.Component:
    return rx.vstack(
        rx.heading("Reply", size="4", as_="h2"),
        field_label("Your message", for_="reply-text"),
        rx.text_area(
            id="reply-text",
            name="reply-text",
            default_value=ReplyState.reply_text,
            on_blur=ReplyState.update_reply,
            max_length=MAX_REPLY,
            rows="5",
            width="100%",
        ),
        _photo_picker(),
        rx.button(
            rx.cond(ReplyState.sending, rx.spinner(size="2"), rx.fragment()),
            "Send to the clinic",
            on_click=ReplyState.send(rx.upload_files(upload_id=UPLOAD_ID)),
            disabled=ReplyState.sending,
            id="reply-send",
            size="3",
        ),
        spacing="2",
        width="100%",
    )


def _sms_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Text messages", size="4", as_="h2"),
        rx.cond(
            ReplyState.sms_consent,
            rx.vstack(
                rx.text("You agreed to receive text messages from the clinic.", id="sms-state"),
                rx.button(
                    "Stop text messages",
                    on_click=ReplyState.change_sms(False),
                    variant="soft",
                    color_scheme="red",
                    id="sms-withdraw",
                ),
                spacing="2",
            ),
            rx.vstack(
                rx.text("The clinic does not send you text messages.", id="sms-state"),
                rx.cond(
                    ReplyState.has_phone,
                    rx.button(
                        "Receive text messages",
                        on_click=ReplyState.change_sms(True),
                        variant="soft",
                        id="sms-give",
                    ),
                ),
                spacing="2",
            ),
        ),
        rx.cond(
            ReplyState.sms_notice != "",
            rx.callout(
                ReplyState.sms_notice,
                icon="check",
                color_scheme="green",
                id="sms-notice",
                role="status",
            ),
        ),
        error_callout(ReplyState.sms_error, id="sms-error"),
        spacing="2",
        width="100%",
        id="sms-consent",
    )


def _conversation() -> rx.Component:
    return rx.vstack(
        rx.text("From ", rx.text.strong(ReplyState.clinic_name), size="3"),
        rx.text("Case reference ", rx.code(ReplyState.reference), size="2"),
        rx.el.section(
            rx.vstack(rx.foreach(ReplyState.messages, _message), spacing="3", width="100%"),
            aria_label="Messages",
            id="reply-thread",
            style={"width": "100%"},
        ),
        rx.cond(
            ReplyState.notice != "",
            rx.callout(
                ReplyState.notice,
                icon="check",
                color_scheme="green",
                id="reply-notice",
                role="status",
            ),
        ),
        error_callout(ReplyState.error, id="reply-error"),
        _reply_box(),
        rx.divider(),
        _sms_section(),
        spacing="4",
        width="100%",
    )


def reply_page() -> rx.Component:
    return patient_frame(
        "messages_square",
        "Your conversation with the clinic",
        rx.cond(
            ReplyState.invalid,
            rx.callout(ReplyState.error, icon="info", color_scheme="amber", id="reply-invalid"),
            rx.cond(ReplyState.loaded, _conversation(), rx.spinner(size="3")),
        ),
    )
