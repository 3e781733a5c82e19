"""/settings/clinic: the clinic's profile, logo, patient-page colour, regional settings and the
link to its patient form. Owners edit; managers read."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import described, error_text, field_label
from mi_portal.components.layout import confirm_dialog, notice_callout, page_frame
from mi_portal.components.qrcode import qr_code
from mi_portal.components.settings_tabs import settings_tabs
from mi_portal.services import clinic_choices
from mi_portal.services.clinic_brand import MIN_CONTRAST
from mi_portal.services.images import LOGO_EDGE
from mi_portal.state.clinic_settings import ClinicSettingsState as S

_SELECT_CLASS = "rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface"
LOGO_UPLOAD = "clinic-logo-upload"
LOGO_TYPES = {"image/png": [".png"], "image/jpeg": [".jpg", ".jpeg"], "image/webp": [".webp"]}
# The product's own accent (contrast.css), shown when the clinic has not chosen a colour.
PRODUCT_COLOR = "#0a7c6f"


def _has_error(key: str) -> rx.Var:
    return S.errors.contains(key)  # type: ignore[attr-defined]


def _error(key: str) -> rx.Component:
    return rx.cond(_has_error(key), error_text(S.errors[key], key=key))


def _field(
    label: str,
    name: str,
    *,
    type_: str = "text",
    hint: str = "",
    autocomplete: str = "off",
    multiline: bool = False,
) -> rx.Component:
    hint_id = f"hint-{name}" if hint else ""
    props = {
        "id": name,
        "name": name,
        # Remounted with the saved (normalised) value after each save; typed text stays on error.
        "key": name + "-" + S.revision.to_string(),
        "default_value": getattr(S, name),
        "on_blur": lambda value: S.set_field(name, value),
        "disabled": ~S.can_manage,
        "width": "100%",
        **described(_has_error(name), name, hint_id=hint_id),
    }
    control = (
        rx.text_area(rows="3", **props)
        if multiline
        else rx.input(type=type_, auto_complete=autocomplete, **props)
    )
    return rx.vstack(
        field_label(label, for_=name),
        control,
        rx.text(hint, size="1", color_scheme="gray", id=hint_id) if hint else rx.fragment(),
        _error(name),
        spacing="1",
        width="100%",
    )


def _section(title: str, key: str, *children: rx.Component, save: object = None) -> rx.Component:
    """One section: its heading, its fields, its success notice and (as a form) its own Save."""
    body = rx.vstack(
        rx.heading(title, as_="h2", size="4"),
        *children,
        rx.cond(
            S.notices.contains(key),  # type: ignore[attr-defined]
            notice_callout(S.notices[key].to(str), id=f"notice-{key}"),
        ),
        rx.cond(S.can_manage, rx.button("Save", type="submit", id=f"save-{key}"))
        if save is not None
        else rx.fragment(),
        spacing="3",
        width="100%",
    )
    if save is not None:
        body = rx.el.form(body, on_submit=save, prevent_default=True, aria_label=title)
    return rx.card(body, width="100%", id=f"section-{key}")


def _profile() -> rx.Component:
    return _section(
        "Profile",
        "profile",
        _field("Clinic name", "name", autocomplete="organization"),
        _field("Contact email", "contact_email", type_="email", hint="Shown to patients."),
        _field(
            "Contact phone",
            "contact_phone",
            type_="tel",
            hint="With the country code, e.g. +1 202 555 0143.",
        ),
        _field("Address", "address", multiline=True, hint="At most 500 characters."),
        save=S.save_profile,
    )


def _logo() -> rx.Component:
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
    return _section(
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
                _error("logo"),
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


def _branding() -> rx.Component:
    swatch = rx.cond(S.brand_color != "", S.brand_color, PRODUCT_COLOR)
    return _section(
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
                    **described(_has_error("brand_color"), "brand_color"),
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
            _error("brand_color"),
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


def _select(label: str, name: str, options: list[rx.Component]) -> rx.Component:
    return rx.vstack(
        field_label(label, for_=name),
        rx.el.select(
            *options,
            id=name,
            name=name,
            value=getattr(S, name),
            on_change=lambda v: S.set_field(name, v),
            disabled=~S.can_manage,
            class_name=_SELECT_CLASS,
            style={"max_width": "100%", "width": "100%"},
            **described(_has_error(name), name),
        ),
        _error(name),
        spacing="1",
        width="100%",
    )


def _zone_options() -> list[rx.Component]:
    return [
        rx.el.optgroup(*(rx.el.option(z, value=z) for z in zones), label=group)
        for group, zones in clinic_choices.timezone_groups()
    ]


def _regional() -> rx.Component:
    return _section(
        "Regional settings",
        "regional",
        rx.text(
            "Dates and times are shown to the clinic's staff in its time zone; quotes use its "
            "currency and locale (a new currency also prices the catalog in it; amounts are not "
            "converted); the jurisdiction sets the deadlines of privacy requests.",
            size="2",
        ),
        _select("Time zone", "timezone", _zone_options()),
        _select(
            "Language and country (number and date formats)",
            "locale",
            [rx.el.option(f"{n} ({c})", value=c) for c, n in clinic_choices.locales().items()],
        ),
        _select(
            "Currency",
            "currency",
            [rx.el.option(f"{c} — {n}", value=c) for c, n in clinic_choices.currencies().items()],
        ),
        _select(
            "Jurisdiction",
            "jurisdiction",
            [
                rx.el.option("Not set", value=""),
                *(rx.el.option(n, value=c) for c, n in clinic_choices.jurisdictions()),
            ],
        ),
        save=S.save_regional,
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


def _form_link() -> rx.Component:
    return _section(
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


def _remove_dialog() -> rx.Component:
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


def clinic_settings_page() -> rx.Component:
    return page_frame(
        settings_tabs("profile"),
        rx.match(
            S.blocked,
            (
                "switch",
                rx.callout(
                    "Clinic settings belong to a clinic. Switch into a clinic to see them.",
                    icon="building_2",
                    id="settings-needs-clinic",
                ),
            ),
            (
                "denied",
                rx.callout(
                    "Only the clinic's owner and managers see the clinic's settings.",
                    icon="info",
                    id="settings-denied",
                ),
            ),
            rx.cond(
                S.loading,
                rx.hstack(rx.spinner(), rx.text("Loading the clinic's settings…")),
                rx.vstack(
                    rx.cond(
                        ~S.can_manage,
                        rx.callout(
                            "You can see these settings; only the clinic's owner can change them.",
                            icon="eye",
                            id="settings-read-only",
                        ),
                    ),
                    _profile(),
                    _logo(),
                    _branding(),
                    _regional(),
                    _form_link(),
                    _remove_dialog(),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
        title="Clinic settings",
    )
