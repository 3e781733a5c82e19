"""The image viewer page: photos, markers, compare, sensitivity and download of one case.

The case id comes from the URL; photo, marker and case ids from the browser are only ever looked
up through the tenant-scoped services, so another clinic's ids answer like missing ones.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.api.downloads import download_link
from mi_portal.services import audit, viewer
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.inbox import reference
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.guard import current, guarded

TOOLS = ("pan", "arrow", "ellipse", "text")
# Ask for new signed URLs this long before the current ones run out.
REFRESH_MARGIN_SECONDS = 60


# The viewer's looks (its photos, then the earlier cases it offers), in the chain in this order.
PAGE_LOOKS = ("images.viewer_opened", "cases.listed")

_PageReads = tuple[list[viewer.ViewerPhoto], list[viewer.AnnotationView], list[viewer.EarlierCase]]


def _read_page(looks: audit.Batch, actor: Actor, case_id: str) -> _PageReads:
    """The viewer's photos, markers and earlier cases through one session and one transaction,
    which also appends the page's looks to the clinic's audit chain: one trip to a worker
    thread instead of three (under load each trip waits its turn), one transaction instead of
    five. When a read fails, the looks already made are still written, in a transaction of
    their own."""
    with looks.session_with_looks(actor.require_tenant(), PAGE_LOOKS) as session:
        photos = viewer.viewer_photos(actor, case_id, lent=session)
        marks = viewer.list_annotations(actor, case_id, lent=session)
        earlier = viewer.earlier_cases(actor, case_id, lent=session)
        return photos, marks, earlier


def _photo_dicts(photos: list[viewer.ViewerPhoto]) -> list[dict[str, Any]]:
    return [asdict(p) for p in photos]


def _mark_dicts(marks: list[viewer.AnnotationView]) -> list[dict[str, Any]]:
    return [asdict(m) for m in marks]


class ViewerState(rx.State):
    photos: list[dict[str, Any]] = []
    index: int = 0
    annotations: list[dict[str, Any]] = []
    full_urls: dict[str, str] = {}
    revealed: list[str] = []
    show_annotations: bool = True
    tool: str = "pan"
    selected: str = ""
    # Compare: "" (off), or "<case id>/<photo number>" of this case or an earlier one.
    compare_key: str = ""
    compare_options: list[dict[str, str]] = []
    compare_photo: dict[str, Any] = {}
    compare_annotations: list[dict[str, Any]] = []
    refresh_in_ms: int = 0
    refresh_key: str = ""
    # Dialogs.
    text_open: bool = False
    text_draft: dict[str, Any] = {}
    text_value: str = ""
    editing_id: str = ""
    delete_id: str = ""
    download_open: bool = False
    download_variant: str = "preview"
    can_annotate: bool = False
    can_download: bool = False
    can_mark_sensitive: bool = False
    loading: bool = True
    not_found: bool = False
    error: str = ""
    notice: str = ""
    # Counts notices, so that each one is shown afresh (and fades) even when the text repeats.
    notice_seq: int = 0

    def _say(self, notice: str) -> None:
        self.notice, self.notice_seq = notice, self.notice_seq + 1

    def _case_id(self) -> str:
        return str(self.id)[:64]  # type: ignore[attr-defined]  (route argument)

    @rx.var
    def current(self) -> dict[str, Any]:
        if not self.photos:
            return {}
        return self.photos[min(max(self.index, 0), len(self.photos) - 1)]

    @rx.var
    def reference(self) -> str:
        return reference(self.photos[0]["submission_id"]) if self.photos else ""

    @rx.var
    def current_full(self) -> str:
        image = self.current.get("image_id", "")
        return self.full_urls.get(image, "") if image else ""

    @rx.var
    def current_marks(self) -> list[dict[str, Any]]:
        image = self.current.get("image_id", "")
        return [m for m in self.annotations if m["image_id"] == image]

    @rx.var
    def selected_mark(self) -> dict[str, Any]:
        return next((m for m in self.annotations if m["id"] == self.selected), {})

    @rx.var
    def compare_full(self) -> str:
        image = self.compare_photo.get("image_id", "")
        return self.full_urls.get(image, "") if image else ""

    @rx.var
    def compare_choices(self) -> list[dict[str, str]]:
        """What the photo on screen can be compared with: anything but itself."""
        own = self.current.get("image_id", "")
        return [o for o in self.compare_options if not own or o.get("image_id") != own]

    @rx.var
    def heading(self) -> str:
        return f"Photos of case {self.reference}" if self.reference else "Photos"

    # --- loading ---------------------------------------------------------------------------

    def _sign_times(self, photos: list[dict[str, Any]]) -> None:
        if photos:
            expires = min(p["expires_at"] for p in photos)
            left = expires - time.time() - REFRESH_MARGIN_SECONDS
            self.refresh_in_ms = max(5_000, int(left * 1000))
            self.refresh_key = f"{expires:.3f}"

    async def _load_photos(self, *, renewal: bool = False) -> None:
        actor = current().actor
        case_id = self._case_id()
        photos = await asyncio.to_thread(
            lambda: viewer.viewer_photos(actor, case_id, renewal=renewal)
        )
        marks = await asyncio.to_thread(viewer.list_annotations, actor, case_id)
        self.photos, self.annotations = _photo_dicts(photos), _mark_dicts(marks)
        self._sign_times(self.photos)

    @rx.event
    @guarded(Permission.IMAGES_VIEW, page=True)
    async def load(self) -> None:
        self.loading, self.error, self.notice, self.not_found = True, "", "", False
        self.full_urls, self.selected, self.tool, self.index = {}, "", "pan", 0
        self.compare_key, self.compare_photo, self.compare_annotations = "", {}, []
        self.text_open, self.download_open, self.delete_id = False, False, ""
        actor = current().actor
        self.can_annotate = has_permission(actor, Permission.IMAGES_ANNOTATE)
        self.can_download = has_permission(actor, Permission.IMAGES_DOWNLOAD)
        self.can_mark_sensitive = has_permission(actor, Permission.CASES_EDIT)
        case_id = self._case_id()
        self.photos, self.annotations, self.compare_options = [], [], []
        try:
            # Its looks are recorded before anything read is put in the tab's state.
            with audit.together() as looks:
                photos, marks, earlier = await asyncio.to_thread(_read_page, looks, actor, case_id)
        except NotFound:
            self.not_found = True
            self.loading = False
            return
        self.photos, self.annotations = _photo_dicts(photos), _mark_dicts(marks)
        self._sign_times(self.photos)
        wanted = str(self.router.url.query_parameters.get("photo", ""))
        self.index = next((i for i, p in enumerate(self.photos) if str(p["number"]) == wanted), 0)
        self.revealed = [self.current["image_id"]] if self.current else []
        options = [
            {
                "value": f"{case_id}/{p['number']}",
                "label": f"This case · photo {p['number']}",
                "image_id": str(p["image_id"]),
            }
            for p in self.photos
        ]
        for case in earlier:
            options += [
                {
                    "value": f"{case.submission_id}/{n}",
                    "label": f"Earlier case {case.reference} of {case.patient} "
                    f"({case.received_at}) · photo {n}",
                }
                for n in range(1, case.photos + 1)
            ]
        self.compare_options = options
        self.loading = False

    @rx.event
    @guarded(Permission.IMAGES_VIEW, automatic=True)
    async def refresh_urls(self) -> None:
        """New signed URLs before the old ones expire (the page stays usable however long)."""
        actor = current().actor
        try:
            await self._load_photos(renewal=True)
        except NotFound:
            self.error = "This case is no longer available."
            return
        if self.compare_key:
            try:
                await self._load_compare(self.compare_key, renewal=True)
            except NotFound:
                self.compare_key, self.compare_photo, self.compare_annotations = "", {}, []
                self.error = "The photo you compared with is no longer available."
        # Originals on screen now get new URLs too (recorded as renewals, not new looks).
        on_screen = {self.current.get("image_id"), self.compare_photo.get("image_id")}
        renewed = {}
        for image_id in self.full_urls:
            if image_id not in on_screen:
                continue  # asked for again if that photo is zoomed into once more
            try:
                renewed[image_id] = await asyncio.to_thread(
                    lambda i=image_id: viewer.full_resolution_url(actor, i, renewal=True)
                )
            except NotFound:
                continue
        self.full_urls = renewed

    # --- moving between photos ---------------------------------------------------------------

    def _show(self, index: int) -> None:
        if not self.photos:
            return
        self.index = index % len(self.photos)
        self.selected, self.text_open, self.notice = "", False, ""
        if self.compare_photo.get("image_id") == self.current["image_id"]:
            # Moved onto the photo being compared with: comparing it with itself shows nothing.
            self.compare_key, self.compare_photo, self.compare_annotations = "", {}, []
        image = self.current["image_id"]
        if image not in self.revealed:
            self.revealed = [*self.revealed, image]

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def show_photo(self, index: int) -> None:
        if isinstance(index, int) and not isinstance(index, bool):
            self._show(index)

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def navigate(self, delta: int) -> None:
        if isinstance(delta, int) and not isinstance(delta, bool) and delta in (-1, 1):
            self._show(self.index + delta)

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def need_full(self) -> None:
        await self._full(self.current.get("image_id", ""))

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def need_full_compare(self) -> None:
        await self._full(self.compare_photo.get("image_id", ""))

    async def _full(self, image_id: str) -> None:
        if not image_id or image_id in self.full_urls:
            return
        if not has_permission(current().actor, Permission.IMAGES_VIEW_ORIGINAL):
            return  # read-only roles zoom into the preview; originals are not theirs to see
        try:
            url = await asyncio.to_thread(viewer.full_resolution_url, current().actor, image_id)
        except NotFound:
            return
        self.full_urls = {**self.full_urls, image_id: url}

    # --- view options --------------------------------------------------------------------------

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def choose_tool(self, tool: str | list[str]) -> None:
        if isinstance(tool, str) and tool in TOOLS and (tool == "pan" or self.can_annotate):
            self.tool = str(tool)

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def toggle_annotations(self) -> None:
        self.show_annotations = not self.show_annotations

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def pick(self, annotation_id: str) -> None:
        known = {m["id"] for m in self.annotations}
        wanted = annotation_id if isinstance(annotation_id, str) else ""
        self.selected = wanted if wanted in known else ""

    # --- markers -------------------------------------------------------------------------------

    def _own_mark(self, annotation_id: object) -> dict[str, Any] | None:
        """One of the user's own markers on this page, for the dialogs (the service decides)."""
        mark = next((m for m in self.annotations if m["id"] == annotation_id), None)
        if mark is None or not mark["mine"]:
            self.error = "You can change only the markers you drew."
            return None
        return mark

    async def _reload_marks(self) -> None:
        try:
            marks = await asyncio.to_thread(
                viewer.list_annotations, current().actor, self._case_id()
            )
        except NotFound:
            marks = []
        self.annotations = _mark_dicts(marks)

    async def _attempt(self, action) -> bool:  # type: ignore[no-untyped-def]
        self.error = self.notice = ""
        try:
            await asyncio.to_thread(action)
        except NotFound:
            self.error = "That photo or marker is no longer there."
        except PermissionDenied:
            self.error = "You can change only the markers you drew."
        except ValueError as exc:
            self.error = str(exc)
        else:
            return True
        finally:
            await self._reload_marks()
        return False

    @rx.event
    @guarded(Permission.IMAGES_ANNOTATE)
    async def draw(self, mark: dict[str, Any]) -> None:
        if not isinstance(mark, dict) or not self.current:
            return
        if mark.get("kind") == "text":
            self.text_draft = {"x1": mark.get("x1"), "y1": mark.get("y1")}
            self.text_value, self.editing_id, self.text_open = "", "", True
            return
        actor, image = current().actor, self.current["image_id"]
        values = [mark.get(k) for k in ("kind", "x1", "y1", "x2", "y2")]
        if await self._attempt(lambda: viewer.add_annotation(actor, image, *values)):
            self._say("Marker added.")

    @rx.event
    @guarded(Permission.IMAGES_ANNOTATE)
    async def move(self, mark: dict[str, Any]) -> None:
        """A marker dragged to a new place (its author's only; the service checks)."""
        if not isinstance(mark, dict):
            return
        actor, target = current().actor, str(mark.get("id", ""))
        where = (mark.get("x1"), mark.get("y1"), mark.get("x2"), mark.get("y2"))
        if await self._attempt(lambda: viewer.update_annotation(actor, target, coordinates=where)):
            self._say("Marker moved.")

    @rx.event
    @guarded(Permission.IMAGES_ANNOTATE)
    async def start_edit(self, annotation_id: str) -> None:
        mark = self._own_mark(annotation_id)
        if mark is None:
            return
        self.selected, self.editing_id = mark["id"], mark["id"]
        self.text_value, self.text_open = mark["text"], True

    @rx.event
    @guarded(Permission.IMAGES_ANNOTATE)
    async def save_text(self, form_data: dict[str, Any]) -> None:
        text = str(form_data.get("text", "")) if isinstance(form_data, dict) else ""
        actor = current().actor
        if self.editing_id:
            target = self.editing_id
            ok = await self._attempt(lambda: viewer.update_annotation(actor, target, text=text))
        elif self.current and self.text_draft:
            image, at = self.current["image_id"], self.text_draft
            ok = await self._attempt(
                lambda: viewer.add_annotation(
                    actor, image, "text", at.get("x1"), at.get("y1"), text=text
                )
            )
        else:
            ok = False
        if ok:
            self.text_open, self.text_draft, self.editing_id = False, {}, ""
            self._say("Marker saved.")

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def close_text(self) -> None:
        self.text_open, self.text_draft, self.editing_id = False, {}, ""

    @rx.event
    @guarded(Permission.IMAGES_ANNOTATE)
    async def ask_delete(self, annotation_id: str) -> None:
        mark = self._own_mark(annotation_id)
        if mark is None:
            return
        self.delete_id = mark["id"]

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def cancel_delete(self) -> None:
        self.delete_id = ""

    @rx.event
    @guarded(Permission.IMAGES_ANNOTATE)
    async def confirm_delete(self) -> None:
        target, actor = self.delete_id, current().actor
        self.delete_id = ""
        if target and await self._attempt(lambda: viewer.delete_annotation(actor, target)):
            self.selected = "" if self.selected == target else self.selected
            self._say("Marker deleted.")

    # --- sensitivity -------------------------------------------------------------------------

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def toggle_sensitive(self) -> None:
        if not self.current:
            return
        actor, image = current().actor, self.current["image_id"]
        flag = not bool(self.current.get("sensitive"))
        self.notice = ""
        try:
            await asyncio.to_thread(viewer.set_sensitive, actor, image, flag)
        except NotFound:
            self.error = "That photo is no longer there."
            return
        self.photos = [
            {**p, "sensitive": flag} if p["image_id"] == image else p for p in self.photos
        ]
        self._say(
            "Marked sensitive: its thumbnail is blurred in lists until opened."
            if flag
            else "No longer marked sensitive."
        )

    # --- compare -------------------------------------------------------------------------------

    async def _load_compare(self, key: str, *, renewal: bool = False) -> None:
        case_id, _, number = key.partition("/")
        actor = current().actor
        photos = await asyncio.to_thread(
            lambda: viewer.viewer_photos(actor, case_id, renewal=renewal)
        )
        chosen = next((p for p in photos if str(p.number) == number), None)
        if chosen is None:
            raise NotFound("image")
        marks = await asyncio.to_thread(viewer.list_annotations, actor, case_id)
        self.compare_photo = asdict(chosen)
        self.compare_annotations = [asdict(m) for m in marks if m.image_id == chosen.image_id]

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def choose_compare(self, key: str) -> None:
        key, self.notice = str(key), ""
        if key in ("", "off") or key not in {o["value"] for o in self.compare_choices}:
            self.compare_key, self.compare_photo, self.compare_annotations = "", {}, []
            return
        try:
            await self._load_compare(key)
        except NotFound:
            self.error = "That photo is no longer available."
            self.compare_key, self.compare_photo = "", {}
            return
        self.compare_key, self.tool = key, "pan"

    # --- download ------------------------------------------------------------------------------

    @rx.event
    @guarded(Permission.IMAGES_DOWNLOAD)
    async def open_download(self) -> None:
        self.download_open, self.download_variant = True, "preview"

    @rx.event
    @guarded(Permission.IMAGES_VIEW)
    async def close_download(self) -> None:
        self.download_open = False

    @rx.event
    @guarded(Permission.IMAGES_DOWNLOAD)
    async def choose_variant(self, variant: str) -> None:
        if variant in viewer.DOWNLOAD_VARIANTS:
            self.download_variant = str(variant)

    @rx.event
    @guarded(Permission.IMAGES_DOWNLOAD)
    async def download(self) -> Any:
        """Checks here, then a one-minute link for this user; the file comes over plain HTTP."""
        if not self.current:
            return None
        actor, image = current().actor, self.current["image_id"]
        variant, self.notice = self.download_variant, ""
        try:
            filename = await asyncio.to_thread(viewer.check_download, actor, image, variant)
        except (NotFound, ValueError):
            self.error = "That photo could not be prepared for download. Please try again."
            return None
        self.download_open = False
        self._say("Downloaded with a watermark; the download is recorded in the audit log.")
        return rx.download(url=download_link(actor, image, variant), filename=filename)
