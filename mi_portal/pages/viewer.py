"""Image viewer: zoom, pan, rotate, compare side by side, markers, sensitive flag, download."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import error_callout, page_frame
from mi_portal.components.photo_stage import photo_stage, stage_command
from mi_portal.state.viewer import ViewerState as V

P = V.current

_FADE = {
    "animation": "viewer-notice-fade 0.6s ease-in 4s forwards",
    "@keyframes viewer-notice-fade": {"to": {"opacity": 0, "visibility": "hidden"}},
}

_TOOL_LABELS = {"pan": ("Move", "hand"), "arrow": ("Arrow", "move_up_right"), "ellipse": ("Ellipse", "circle"), "text": ("Text", "type")}  # fmt: skip


def _icon_button(icon: str, label: str, on_click: object, *, id: str) -> rx.Component:
    return rx.tooltip(
        rx.icon_button(
            rx.icon(icon, size=16),
            on_click=on_click,
            variant="soft",
            high_contrast=True,
            size="2",
            aria_label=label,
            id=id,
        ),
        content=label,
    )


def _view_tools() -> rx.Component:
    return rx.hstack(
        _icon_button("zoom_in", "Zoom in (+)", stage_command("main", "zoomIn"), id="zoom-in"),
        _icon_button("zoom_out", "Zoom out (−)", stage_command("main", "zoomOut"), id="zoom-out"),
        _icon_button("maximize", "Fit (0)", stage_command("main", "fit"), id="zoom-fit"),
        _icon_button(
            "scan", "Actual size (1:1)", stage_command("main", "actualSize"), id="zoom-actual"
        ),
        _icon_button("rotate_cw", "Rotate 90° (r)", stage_command("main", "rotate"), id="rotate"),
        _icon_button("flip_horizontal_2", "Mirror (f)", stage_command("main", "flip"), id="flip"),
        _icon_button("rotate_ccw", "Reset view", stage_command("main", "reset"), id="reset-view"),
        spacing="1",
    )


def _marker_tools() -> rx.Component:
    return rx.hstack(
        rx.cond(
            V.can_annotate & (V.compare_key == ""),
            rx.segmented_control.root(
                *[
                    rx.segmented_control.item(
                        rx.hstack(rx.icon(icon, size=14), label, spacing="1", align="center"),
                        value=tool,
                    )
                    for tool, (label, icon) in _TOOL_LABELS.items()
                ],
                value=V.tool,
                on_change=V.choose_tool,
                id="marker-tool",
                size="1",
            ),
        ),
        rx.button(
            rx.cond(V.show_annotations, rx.icon("eye", size=14), rx.icon("eye_off", size=14)),
            rx.cond(V.show_annotations, "Hide markers", "Show markers"),
            variant="soft",
            high_contrast=True,
            size="1",
            on_click=V.toggle_annotations,
            id="toggle-markers",
        ),
        spacing="3",
        align="center",
        wrap="wrap",
    )


def _strip() -> rx.Component:
    return rx.hstack(
        rx.foreach(
            V.photos,
            # Buttons, so the strip works from the keyboard too.
            lambda p, i: rx.el.button(
                rx.image(
                    # A sensitive photo's thumbnail is the blurred rendition; once opened, the
                    # strip shows it clear from the preview this page already has.
                    src=rx.cond(
                        p["sensitive"].to(bool) & V.revealed.contains(p["image_id"]),
                        p["preview_url"],
                        p["thumbnail_url"],
                    ),
                    alt=p["display_name"],
                    height="72px",
                    style={
                        "filter": rx.cond(
                            p["sensitive"].to(bool) & ~V.revealed.contains(p["image_id"]),
                            "blur(10px)",
                            "none",
                        ),
                        "border_radius": "6px",
                    },
                ),
                rx.cond(
                    p["sensitive"].to(bool),
                    rx.badge(
                        "Sensitive",
                        color_scheme="orange",
                        size="1",
                        position="absolute",
                        top="4px",
                        left="4px",
                    ),
                ),
                position="relative",
                overflow="hidden",
                border_radius="8px",
                outline=rx.cond(
                    i == V.index, "3px solid var(--accent-9)", "1px solid var(--gray-6)"
                ),
                cursor="pointer",
                padding="0",
                border="none",
                background="none",
                style={"&:focus-visible": {"box_shadow": "0 0 0 3px var(--focus-8)"}},
                type="button",
                aria_label="Photo " + p["number"].to(str),
                aria_current=rx.cond(i == V.index, "true", "false"),
                on_click=V.show_photo(i),
                class_name="viewer-thumb",
                data_number=p["number"].to(str),
                data_current=rx.cond(i == V.index, "true", "false"),
            ),
        ),
        spacing="2",
        wrap="wrap",
        id="viewer-strip",
    )


def _stage_main(height: rx.Var | str) -> rx.Component:
    return photo_stage(
        stage_id="main",
        image_id=P["image_id"].to(str),
        src=P["preview_url"].to(str),
        full_src=V.current_full,
        image_width=P["width"].to(int),
        image_height=P["height"].to(int),
        preview_width=P["preview_width"].to(int),
        preview_height=P["preview_height"].to(int),
        annotations=V.current_marks,
        show_annotations=V.show_annotations,
        tool=V.tool,
        selected=V.selected,
        sync_group=rx.cond(V.compare_key != "", "compare", ""),
        keyboard=True,
        refresh_in=V.refresh_in_ms,
        refresh_key=V.refresh_key,
        height=height,
        on_draw=V.draw,
        on_need_full=V.need_full,
        on_pick=V.pick,
        on_navigate=V.navigate,
        on_expiring=V.refresh_urls,
        on_move=V.move,
    )


def _stage_compare() -> rx.Component:
    C = V.compare_photo
    return photo_stage(
        stage_id="compare",
        image_id=C["image_id"].to(str),
        src=C["preview_url"].to(str),
        full_src=V.compare_full,
        image_width=C["width"].to(int),
        image_height=C["height"].to(int),
        preview_width=C["preview_width"].to(int),
        preview_height=C["preview_height"].to(int),
        annotations=V.compare_annotations,
        show_annotations=V.show_annotations,
        tool="pan",
        selected="",
        sync_group="compare",
        keyboard=False,
        refresh_in=0,
        height="64vh",
        on_need_full=V.need_full_compare,
    )


def _compare_picker() -> rx.Component:
    return rx.hstack(
        rx.icon("columns_2", size=16, aria_hidden="true"),
        rx.select.root(
            rx.select.trigger(
                placeholder="Compare side by side…",
                id="compare-select",
                aria_label="Compare side by side with",
            ),
            rx.select.content(
                rx.select.item("No comparison", value="off"),
                rx.foreach(
                    V.compare_choices,
                    lambda o: rx.select.item(o["label"], value=o["value"]),
                ),
            ),
            value=rx.cond(V.compare_key != "", V.compare_key, "off"),
            on_change=V.choose_compare,
        ),
        align="center",
        spacing="2",
    )


def _caption(photo: rx.Var, prefix: str) -> rx.Component:
    return rx.text(
        prefix,
        "photo ",
        photo["number"].to(str),
        " · ",
        photo["display_name"].to(str),
        size="1",
        color_scheme="gray",
    )


def _stages() -> rx.Component:
    # The main stage stays mounted when a comparison opens or closes, so its view is kept.
    comparing = V.compare_key != ""
    return rx.grid(
        rx.vstack(
            rx.cond(comparing, _caption(P, "This case · ")),
            _stage_main(rx.cond(comparing, "64vh", "68vh")),
            width="100%",
        ),
        rx.cond(
            comparing,
            rx.vstack(
                _caption(V.compare_photo, "Compared with · "),
                _stage_compare(),
                width="100%",
                id="compare-view",
            ),
        ),
        columns=rx.cond(comparing, "2", "1"),
        spacing="3",
        width="100%",
    )


def _marker_list() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Markers on this photo", size="3", as_="h2"),
                rx.badge(V.current_marks.length().to(str)),  # type: ignore[attr-defined]
                align="center",
                spacing="2",
            ),
            rx.cond(
                V.current_marks.length() == 0,  # type: ignore[attr-defined]
                rx.text(
                    rx.cond(
                        V.can_annotate,
                        "None yet. Choose Arrow, Ellipse or Text, then drag or click on the photo.",
                        "None yet.",
                    ),
                    size="2",
                    color_scheme="gray",
                    id="markers-empty",
                ),
            ),
            rx.foreach(
                V.current_marks,
                lambda m: rx.hstack(
                    rx.badge(m["kind"].to(str), color_scheme=rx.cond(m["mine"].to(bool), "yellow", "cyan")),
                    rx.vstack(
                        rx.cond(m["text"].to(str) != "", rx.text(m["text"].to(str), size="2")),
                        rx.text(m["author"].to(str), " · ", m["at"].to(str), size="1", color_scheme="gray"),
                        spacing="0",
                        flex="1",
                    ),
                    rx.cond(
                        m["mine"].to(bool) & V.can_annotate,
                        rx.hstack(
                            rx.cond(
                                m["kind"].to(str) == "text",
                                rx.icon_button(rx.icon("pencil", size=14), size="1", variant="ghost", aria_label="Edit text", on_click=V.start_edit(m["id"].to(str)), class_name="marker-edit"),
                            ),
                            rx.icon_button(rx.icon("trash_2", size=14), size="1", variant="ghost", color_scheme="red", aria_label="Delete marker", on_click=V.ask_delete(m["id"].to(str)), class_name="marker-delete"),
                            spacing="1",
                        ),
                    ),
                    on_click=V.pick(m["id"].to(str)),
                    class_name="marker-row",
                    background=rx.cond(V.selected == m["id"].to(str), "var(--accent-3)", "transparent"),
                    padding="4px",
                    border_radius="6px",
                    width="100%",
                    align="center",
                    cursor="pointer",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )  # fmt: skip


def _photo_actions() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("This photo", size="3", as_="h2"),
            rx.text(P["width"].to(str), " × ", P["height"].to(str), " px", size="2", color_scheme="gray"),
            rx.cond(
                V.can_mark_sensitive,
                rx.el.label(
                    rx.switch(checked=P["sensitive"].to(bool), on_change=lambda _v: V.toggle_sensitive(), id="sensitive-switch"),
                    rx.text("Sensitive: blur its thumbnail in lists until opened", as_="span", size="2"),
                    style={"display": "flex", "gap": "0.5em", "align_items": "center", "cursor": "pointer"},
                ),
                rx.cond(P["sensitive"].to(bool), rx.badge("Sensitive", color_scheme="orange")),
            ),
            rx.cond(
                V.can_download,
                rx.button(rx.icon("download", size=14), "Download…", variant="soft", high_contrast=True, on_click=V.open_download, id="download-open"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )  # fmt: skip


def _text_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(V.editing_id != "", "Edit marker text", "Text marker")),
            rx.form(
                rx.vstack(
                    rx.input(
                        name="text",
                        default_value=V.text_value,
                        placeholder="What should the team see here?",
                        max_length=500,
                        auto_focus=True,
                        id="marker-text",
                        width="100%",
                    ),
                    error_callout(V.error, id="marker-error"),
                    rx.hstack(
                        rx.button("Cancel", type="button", variant="soft", color_scheme="gray", on_click=V.close_text),
                        rx.button("Save marker", type="submit", id="marker-save"),
                        justify="end",
                        spacing="2",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=V.save_text,
            ),
        ),
        open=V.text_open,
        on_open_change=lambda _open: V.close_text(),
    )  # fmt: skip


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete this marker?"),
            rx.alert_dialog.description("The marker is removed for everyone in the clinic. This cannot be undone."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray", on_click=V.cancel_delete)),
                rx.alert_dialog.action(rx.button("Delete marker", color_scheme="red", on_click=V.confirm_delete, id="marker-delete-confirm")),
                justify="end",
                spacing="2",
                margin_top="12px",
            ),
        ),
        open=V.delete_id != "",
    )  # fmt: skip


def _download_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Download this photo"),
            rx.callout(
                "Once downloaded, this health photo leaves the portal and is no longer protected by it: "
                "its access controls and audit trail stop at your device. The file carries a visible "
                "watermark with your name, the clinic and the date, and no metadata. The download is "
                "recorded in the audit log.",
                icon="shield_alert",
                color_scheme="orange",
                id="download-warning",
            ),
            rx.radio_group.root(
                rx.vstack(
                    rx.radio_group.item("Preview (smaller, for sharing within the care team)", value="preview"),
                    rx.radio_group.item("Original resolution", value="original"),
                    spacing="2",
                ),
                value=V.download_variant,
                on_change=V.choose_variant,
                id="download-variant",
            ),
            rx.hstack(
                rx.button("Cancel", variant="soft", color_scheme="gray", on_click=V.close_download),
                rx.button(rx.icon("download", size=14), "Download with watermark", on_click=V.download, id="download-confirm"),
                justify="end",
                spacing="2",
                margin_top="12px",
            ),
        ),
        open=V.download_open,
        on_open_change=lambda _open: V.close_download(),
    )  # fmt: skip


def _viewer() -> rx.Component:
    return rx.vstack(
        rx.link("← Back to the case", href="/cases/" + rx.State.id.to(str), size="2"),  # type: ignore[attr-defined]
        error_callout(V.error, id="viewer-error"),
        # A notice is cleared by the next action, and fades out by itself after a few seconds.
        rx.cond(V.notice != "", rx.text(V.notice, size="2", color_scheme="green", id="viewer-notice", role="status", style=_FADE, key=V.notice_seq.to(str))),
        rx.hstack(
            _view_tools(),
            _marker_tools(),
            # Comparing needs a second photo: another of this case or an earlier case.
            rx.cond(V.compare_choices.length() > 0, _compare_picker()),  # type: ignore[attr-defined]
            spacing="5",
            wrap="wrap",
            align="center",
            width="100%",
        ),
        rx.grid(
            rx.vstack(_stages(), _strip(), width="100%", spacing="3"),
            rx.vstack(_photo_actions(), _marker_list(), width="100%", spacing="3"),
            columns=rx.breakpoints(initial="1", lg="minmax(0, 1fr) 320px"),
            spacing="4",
            width="100%",
        ),
        rx.text(
            "Keys: ← → photos · + − zoom · 0 fit · r rotate · f mirror. Drag to pan, wheel or pinch to zoom.",
            size="1",
            color_scheme="gray",
        ),
        _text_dialog(),
        _delete_dialog(),
        _download_dialog(),
        spacing="3",
        width="100%",
        id="viewer-content",
    )  # fmt: skip


def viewer_page() -> rx.Component:
    return page_frame(
        rx.cond(
            V.loading,
            rx.hstack(rx.spinner(), rx.text("Loading the photos…")),
            rx.cond(
                V.not_found,
                rx.vstack(
                    rx.callout("This case does not exist or is not in your clinic.", icon="info", id="viewer-not-found"),
                    rx.link("← Back to cases", href="/cases", size="2"),
                ),
                rx.cond(
                    V.photos.length() == 0,  # type: ignore[attr-defined]
                    rx.callout("This case has no photos you may see.", icon="image_off", id="viewer-empty"),
                    _viewer(),
                ),
            ),
        ),
        title=V.heading,  # type: ignore[arg-type]
        wide=True,
    )  # fmt: skip
