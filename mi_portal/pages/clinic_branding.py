"""/settings/clinic, the patient-facing sections: logo, colour and the patient form's link."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import described, field_label
from mi_portal.components.layout import confirm_dialog
from mi_portal.components.qrcode import qr_code
from mi_portal.pages.clinic_settings_parts import error, has_error, section
from mi_portal.services.clinic_brand import MIN_CONTRAST
from mi_portal.services.images import LOGO_EDGE
from mi_portal.state.clinic_settings import ClinicSettingsState as S

LOGO_UPLOAD = "clinic-logo-upload"
LOGO_TYPES = {"image/png": [".png"], "image/jpeg": [".jpg", ".jpeg"], "image/webp": [".webp"]}
# The product's own accent (contrast.css), shown when the clinic has not chosen a colour.
PRODUCT_COLOR = "#0a7c6f"


def logo_section() -> rx.Component:
    upload = rx.upload(
        rx.text(f"Drop a PNG, JPEG or WebP here or click (2 MB at most, up to {LOGO_EDGE} px)"),
        id=LOGO_UPLOAD,
        accept=LOGO_TYPES,
        max_files=1,
        multiple=False,
        on_drop=S.upload_logo(rx.upload_files(upload_id=LOGO_UPLOAD)),  # type: ignore[call-arg]
        border="1px dashed var(--gray-a7)",
        padding="0.75em",
        width="100%",
        cursor="pointer",
        font_size="var(--font-size-2)",
    )
    upload.children[0].children[0].id = "clinic-logo-input"
    return section(
        "Logo",
        "logo",
        rx.text(
            "Shown at the top of the clinic's patient pages. It is re-encoded as a PNG without "
            "any metadata; transparency is kept.",
            size="2",
        ),
        rx.cond(
            S.logo_url != "",
            rx.box(
                rx.image(
                    src=S.logo_url,
                    alt="The clinic's current logo",
                    id="current-logo",
                    style={"max_height": "96px", "max_width": "100%", "object_fit": "contain"},
                ),
                padding="0.5em",
                border="1px solid var(--gray-a6)",
                border_radius="var(--radius-2)",
                width="fit-content",
            ),
            rx.text("No logo yet.", size="2", color_scheme="gray", id="no-logo"),
        ),
        rx.cond(
            S.can_manage,
            rx.vstack(
                field_label("Upload a new logo", for_="clinic-logo-input"),
                upload,
                error("logo"),
                rx.cond(
                    S.logo_url != "",
                    rx.button(
                        "Remove logo",
                        type="button",
                        color_scheme="red",
                        variant="soft",
                        on_click=S.ask_remove_logo,
                        id="remove-logo",
                    ),
                ),
                spacing="2",
                width="100%",
            ),
        ),
    )


def colour_section() -> rx.Component:
    swatch = rx.cond(S.brand_color != "", S.brand_color, PRODUCT_COLOR)
    return section(
        "Patient pages colour",
        "branding",
        rx.text(
            "The header and buttons of the clinic's patient pages. White text must stay readable "
            f"on it: the contrast must be at least {MIN_CONTRAST}:1. Leave it empty for the "
            "product's own colours.",
            size="2",
        ),
        rx.vstack(
            field_label("Brand colour", for_="brand_color"),
            rx.hstack(
                rx.input(
                    id="brand_color",
                    name="brand_color",
                    value=S.brand_color,
                    on_change=lambda v: S.set_field("brand_color", v),
                    placeholder="#1d4ed8",
                    max_length=7,
                    disabled=~S.can_manage,
                    width="9em",
                    **described(has_error("brand_color"), "brand_color"),
                ),
                rx.el.input(
                    type="color",
                    value=S.picker_color,
                    on_change=lambda v: S.set_field("brand_color", v),
                    disabled=~S.can_manage,
                    aria_label="Pick the brand colour",
                    id="brand-color-picker",
                    name="brand_color_picker",
                    style={"width": "2.5em", "height": "2em", "padding": 0, "border": "none"},
                ),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            error("brand_color"),
            spacing="1",
            width="100%",
        ),
        rx.hstack(
            rx.box(
                rx.text("Book a consultation", weight="medium", size="2"),
                background=swatch,
                color="#ffffff",
                padding="0.5em 1em",
                border_radius="var(--radius-2)",
                id="brand-swatch",
            ),
            rx.text("Preview", size="1", color_scheme="gray"),
            align="center",
            spacing="3",
        ),
        rx.cond(
            S.can_manage,
            rx.button(
                "Use the product's colours",
                type="button",
                variant="soft",
                on_click=S.reset_branding,
                id="reset-branding",
            ),
        ),
        save=S.save_branding,
    )


def _copy_button(what: str, label: str) -> rx.Component:
    return rx.button(
        rx.icon(rx.cond(S.copied == what, "check", "copy"), size=14, aria_hidden="true"),
        rx.cond(S.copied == what, "Copied", label),
        type="button",
        variant="soft",
        on_click=S.copy(what),
        id=f"copy-{what}",
    )


def link_section() -> rx.Component:
    return section(
        "Patient form link",
        "link",
        rx.text("Share this address with patients, or print the QR code.", size="2"),
        rx.flex(
            rx.link(
                S.consult_url,
                href=S.consult_url,
                is_external=True,
                id="consult-url",
                style={"overflow_wrap": "anywhere"},
            ),
            _copy_button("link", "Copy link"),
            gap="3",
            align="center",
            wrap="wrap",
        ),
        rx.box(
            qr_code(value=S.consult_url, size=160),
            role="img",
            aria_label="QR code of the patient form's address",
            background="white",
            padding="8px",
            width="fit-content",
            id="consult-qr",
        ),
        rx.text("To link to it from the clinic's website, paste this HTML:", size="2"),
        rx.el.pre(
            rx.el.code(S.embed_snippet),
            id="embed-snippet",
            aria_label="HTML link to the patient form",
            style={
                "white_space": "pre-wrap",
                "overflow_wrap": "anywhere",
                "margin": 0,
                "padding": "0.75em",
                "font_size": "var(--font-size-2)",
                "background": "var(--gray-a3)",
                "border_radius": "var(--radius-2)",
                "width": "100%",
            },
        ),
        _copy_button("snippet", "Copy HTML"),
    )


def remove_logo_dialog() -> rx.Component:
    return confirm_dialog(
        "Remove the logo?",
        "Patient pages will show the clinic's name without a logo. The image is deleted.",
        open=S.confirming_remove,
        on_confirm=S.remove_logo,
        on_cancel=S.cancel_remove_logo,
        confirm_label="Remove logo",
        confirm_id="confirm-remove-logo",
        cancel_label="Keep it",
    )
