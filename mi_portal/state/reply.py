"""The patient's reply page: no account, the link's token is the credential.

Every handler reads the token from the page address and opens it again through the service
(never from a var), so a link retired or expired while the page is open stops working at the
next click. A bad token empties the state: the page then says only that the link is not valid.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import reflex as rx

from mi_portal.services import patient_reply, ratelimit
from mi_portal.services.clinic_brand import Brand
from mi_portal.services.images import MAX_BYTES, ImageRejected, process_image
from mi_portal.services.patient_photos import MAX_REPLY_PHOTOS
from mi_portal.services.permissions import PUBLIC
from mi_portal.state.brand import show_brand
from mi_portal.state.guard import client_info, guarded

# Opening the page and clicking on it; sending is counted again, more strictly.
REPLY_PAGE_PER_ADDRESS = ratelimit.Limit("reply-page", 300, timedelta(minutes=10))
REPLY_SEND_PER_ADDRESS = ratelimit.Limit("reply-send", 20, timedelta(minutes=10))
_DECODING = asyncio.Semaphore(2)
INVALID = "This link has expired or is not valid; ask the clinic for a new one."
UNAVAILABLE = (
    "This clinic is not available on MI Portal right now, so this page cannot be shown. "
    "Please contact the clinic directly."
)


def why(exc: Exception) -> str:
    """What the page says about a refused link: a closed clinic is named as such."""
    return UNAVAILABLE if isinstance(exc, patient_reply.ClinicUnavailable) else INVALID


class ReplyState(rx.State):
    loaded: bool = False
    invalid: bool = False
    clinic_name: str = ""
    reference: str = ""
    messages: list[dict[str, Any]] = []
    sms_consent: bool = False
    has_phone: bool = False
    reply_text: str = ""
    error: str = ""
    notice: str = ""
    sms_notice: str = ""
    sms_error: str = ""  # a consent change that could not be saved, shown by its buttons
    sending: bool = False

    def _token(self) -> str:
        value = self.token  # type: ignore[attr-defined]  (route argument, from the address)
        return value if isinstance(value, str) else ""

    def _forget(self, message: str = INVALID) -> None:
        """Nothing of a conversation stays in a tab whose link is not (or no longer) valid."""
        self.reset()
        self.loaded = self.invalid = True
        self.error = message

    def _show(self, view: patient_reply.ReplyView) -> None:
        self.loaded, self.invalid = True, False
        self.clinic_name, self.reference = view.clinic_name, view.reference
        self.messages = view.messages
        self.sms_consent, self.has_phone = view.sms_consent, view.has_phone

    async def _allowed(self, limit: ratelimit.Limit) -> bool:
        wait = await asyncio.to_thread(ratelimit.hit, limit, client_info(self)[0] or "unknown")
        if wait:
            self.error = ratelimit.try_again_message(wait, what="requests")
        return not wait

    async def _refresh(self) -> bool:
        try:
            view = await asyncio.to_thread(patient_reply.view, self._token())
        except patient_reply.LinkInvalid as exc:
            self._forget(why(exc))
            await show_brand(self, Brand())
            return False
        self._show(view)
        await show_brand(self, view.brand)
        return True

    @rx.event
    @guarded(PUBLIC)
    async def load(self) -> None:
        self.error = self.notice = self.sms_notice = self.sms_error = ""
        if not await self._allowed(REPLY_PAGE_PER_ADDRESS):
            message = self.error
            self._forget()
            self.error = message
            return
        await self._refresh()

    @rx.event
    @guarded(PUBLIC)
    async def update_reply(self, value: Any) -> None:
        if isinstance(value, str) and await self._allowed(REPLY_PAGE_PER_ADDRESS):
            self.reply_text = value[: patient_reply.MAX_REPLY + 100]
            self.error = ""

    @rx.event
    @guarded(PUBLIC)
    async def send(self, files: list[rx.UploadFile]):  # type: ignore[no-untyped-def]
        self.error = self.notice = self.sms_notice = self.sms_error = ""
        files = list(files or [])
        if not await self._allowed(REPLY_SEND_PER_ADDRESS):
            return
        token = self._token()
        try:
            await asyncio.to_thread(patient_reply.opened, token)
        except patient_reply.LinkInvalid as exc:
            self._forget(why(exc))
            return
        if len(files) > MAX_REPLY_PHOTOS:
            self.error = f"Add at most {MAX_REPLY_PHOTOS} photos."
            return
        self.sending = True
        yield
        photos, problems = [], []
        for upload in files:
            data = await upload.read(MAX_BYTES + 1)
            name = upload.filename or "photo"
            try:
                async with _DECODING:
                    photos.append(await asyncio.to_thread(process_image, data, name))
            except ImageRejected as exc:
                problems.append(
                    f"{name.replace(chr(92), '/').rsplit('/', 1)[-1][:60]}: {exc.reason}"
                )
        if problems:
            self.sending = False
            self.error = " ".join(problems)
            return
        ip, agent = client_info(self)
        try:
            await asyncio.to_thread(
                lambda: patient_reply.reply(
                    token, body=self.reply_text, photos=photos, ip=ip, user_agent=agent
                )
            )
        except patient_reply.LinkInvalid as exc:
            self._forget(why(exc))
            return
        except (patient_reply.ReplyProblem, patient_reply.ReplyFailed) as exc:
            self.sending = False  # what was typed stays, to send again
            self.error = str(exc)
            return
        self.reply_text = ""
        self.sending = False
        if await self._refresh():
            self.notice = "Your message was sent to the clinic."
        yield rx.clear_selected_files("reply-photos")
        yield rx.set_value("reply-text", "")

    @rx.event
    @guarded(PUBLIC)
    async def change_sms(self, granted: Any) -> None:
        self.error = self.notice = self.sms_notice = self.sms_error = ""
        if not isinstance(granted, bool) or not await self._allowed(REPLY_SEND_PER_ADDRESS):
            return
        ip, agent = client_info(self)
        token = self._token()
        try:
            await asyncio.to_thread(
                lambda: patient_reply.set_sms_consent(token, granted, ip=ip, user_agent=agent)
            )
        except patient_reply.LinkInvalid as exc:
            self._forget(why(exc))
            return
        except patient_reply.ReplyFailed as exc:
            self.sms_error = str(exc)
            return
        if await self._refresh():
            self.sms_notice = (
                "You will receive text messages from the clinic."
                if granted
                else "You will receive no more text messages from the clinic."
            )
