"""The viewer's stage: a local React component (photo_stage.jsx) around react-zoom-pan-pinch.

Zoom, pan and pinch come from the npm package; the component adds rotation, mirroring, the SVG
overlay of markers and drawing. The toolbar drives it on the client through ``stage_command``.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

_SOURCE = rx.asset("photo_stage.jsx", shared=True)


def _one_argument(value: rx.Var[Any]) -> list[rx.Var[Any]]:
    return [value]


def _no_arguments() -> list[rx.Var[Any]]:
    return []


class PhotoStage(rx.Component):
    library = _SOURCE.importable_path
    tag = "PhotoStage"
    lib_dependencies: list[str] = ["react-zoom-pan-pinch@4.2.0"]

    stage_id: rx.Var[str]
    image_id: rx.Var[str]
    src: rx.Var[str]
    full_src: rx.Var[str]
    image_width: rx.Var[int]
    image_height: rx.Var[int]
    preview_width: rx.Var[int]
    preview_height: rx.Var[int]
    annotations: rx.Var[list[dict[str, Any]]]
    show_annotations: rx.Var[bool]
    tool: rx.Var[str]
    selected: rx.Var[str]
    sync_group: rx.Var[str]
    keyboard: rx.Var[bool]
    refresh_in: rx.Var[int]
    refresh_key: rx.Var[str]
    height: rx.Var[str]

    on_draw: rx.EventHandler[_one_argument]
    on_need_full: rx.EventHandler[_no_arguments]
    on_pick: rx.EventHandler[_one_argument]
    on_navigate: rx.EventHandler[_one_argument]
    on_expiring: rx.EventHandler[_no_arguments]
    on_move: rx.EventHandler[_one_argument]


photo_stage = PhotoStage.create


def stage_command(stage: str, command: str) -> rx.event.EventSpec:
    """Run a view command (zoomIn, zoomOut, fit, actualSize, rotate, flip, reset) in the browser."""
    allowed = {"zoomIn", "zoomOut", "fit", "actualSize", "rotate", "flip", "reset"}
    assert stage.isidentifier() and command in allowed
    return rx.call_script(
        f"window.miStages && window.miStages.{stage} && window.miStages.{stage}.{command}()"
    )
