"""The intake form's photo picker: a named drop zone and the chosen files, each removable."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventChain
from reflex.vars import Var, VarData

from mi_portal.components.fields import field_label
from mi_portal.services.intake import MAX_PHOTOS
from mi_portal.state.intake import IntakeState


def photo_error_shown() -> Var:
    """A photo error is about the files it named: choosing other files puts it away."""
    same_files = rx.selected_files("photos").join("\n") == IntakeState.photo_error_files  # type: ignore[attr-defined]
    return IntakeState.errors.contains("photos") & same_files  # type: ignore[attr-defined]


def _remove_photo(index: Var) -> Var:
    """Drop one chosen file from the browser's list (nothing was sent yet)."""
    return Var(
        _js_expr=(
            "(() => setFilesById((byId) => ({...byId, photos: (byId.photos || [])"
            f".filter((_f, j) => j !== {index!s})}})))"
        ),
        _var_type=EventChain,
        _var_data=VarData.merge(
            rx.selected_files("photos")._get_all_var_data(), index._get_all_var_data()
        ),
    )


def _chosen_photo(name: Var, index: Var) -> rx.Component:
    return rx.hstack(
        rx.icon("image", size=14, aria_hidden="true"),
        rx.text(name, size="2", class_name="selected-photo", word_break="break-all"),
        rx.button(
            "Remove",
            rx.el.span(" ", name, class_name="rt-visually-hidden", style=_HIDDEN),
            size="1",
            variant="ghost",
            color_scheme="red",
            type="button",
            on_click=_remove_photo(index),
            class_name="remove-photo",
        ),
        align="center",
        spacing="2",
        width="100%",
    )


# Visually hidden but read out: the remove button says which photo it removes.
_HIDDEN = {
    "position": "absolute",
    "width": "1px",
    "height": "1px",
    "overflow": "hidden",
    "clip": "rect(0 0 0 0)",
    "white_space": "nowrap",
}


def photo_picker(error: rx.Component) -> rx.Component:
    """The drop zone, the chosen files (each with a remove button) and the photo error."""
    upload = rx.upload(
        rx.vstack(
            rx.icon("image_plus", aria_hidden="true"),
            rx.text("Drop photos here or click to choose", size="2"),
            align="center",
        ),
        id="photos",
        multiple=True,
        accept={
            "image/jpeg": [".jpg", ".jpeg"],
            "image/png": [".png"],
            "image/webp": [".webp"],
        },
        max_files=MAX_PHOTOS,
        border="1px dashed var(--gray-a7)",
        padding="1.5em",
        width="100%",
        cursor="pointer",
    )
    _name_the_dropzone(upload)
    return rx.vstack(
        field_label(
            f"Photos (JPEG, PNG or WebP, up to {MAX_PHOTOS}, 20 MB each)",
            for_="photos-input",
            id="photos-label",
        ),
        upload,
        rx.foreach(rx.selected_files("photos"), _chosen_photo),
        error,
        spacing="1",
        width="100%",
    )


def _name_the_dropzone(upload: rx.Component) -> None:
    # rx.upload builds its file input and drop zone itself and offers no props for them: name
    # the input (so the label above is its label) and let the focusable zone say what it is.
    zone = upload.children[0]
    zone.special_props = [
        *zone.special_props,
        Var(
            _js_expr=(
                '({role: "group", "aria-labelledby": "photos-label", "aria-invalid": '
                + str(rx.cond(photo_error_shown(), "true", "false"))
                + ', "aria-describedby": '
                + str(rx.cond(photo_error_shown(), "error-photos", ""))
                + "})"
            ),
            _var_data=photo_error_shown()._get_all_var_data(),
        ),
    ]
    zone.children[0].id = "photos-input"
