"""The patient's quote page (``/q/<token>``): no account, the link's token is the credential.

As on the reply page, every handler reads the token from the page address and opens it again
through the service, so a link that expired or a version that was replaced while the page is
open is noticed at the next click. A bad token empties the state: the page then says only that
the link is not valid. The tab's state is reset before every reconnect (``state/tab.py``), so
a tab token presented elsewhere receives nothing of the quote.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta
from typing import Any

import reflex as rx

from mi_portal.services import patient_quotes, quote_pdf, ratelimit
from mi_portal.services.clinic_brand import Brand
from mi_portal.services.permissions import PUBLIC
from mi_portal.state.brand import show_brand
from mi_portal.state.guard import client_info, guarded

# Opening the page and typing in it; answering is counted again, more strictly.
QUOTE_PAGE_PER_ADDRESS = ratelimit.Limit("quote-page", 300, timedelta(minutes=10))
QUOTE_ANSWER_PER_ADDRESS = ratelimit.Limit("quote-answer", 20, timedelta(minutes=10))
INVALID = "This link is not valid or has expired. Ask the clinic for a new one."
UNAVAILABLE = (
    "This clinic is not available on MI Portal right now, so this page cannot be shown. "
    "Please contact the clinic directly."
)


def why(exc: Exception) -> str:
    """What the page says about a refused link: a closed clinic is named as such."""
    return UNAVAILABLE if isinstance(exc, patient_quotes.ClinicUnavailable) else INVALID


class QuotePageState(rx.State):
    loaded: bool = False
    invalid: bool = False
    clinic_name: str = ""
    reference: str = ""
    version: int = 0
    status: str = ""
    status_label: str = ""
    lines: list[dict[str, str]] = []
    subtotal: str = ""
    discount: str = ""
    tax: str = ""
    total: str = ""
    deposit: str = ""
    sent_on: str = ""
    valid_until: str = ""
    message: str = ""
    terms: str = ""
    accepted_name: str = ""
    accepted_at: str = ""
    answerable: bool = False
    notice: str = ""
    current_link: str = ""
    pdf_url: str = ""
    # The answer being given: "" (choosing), "accept" or "decline" (confirming).
    answering: str = ""
    typed_name: str = ""
    reason: str = ""
    error: str = ""
    done: str = ""

    def _token(self) -> str:
        value = self.token  # type: ignore[attr-defined]  (route argument, from the address)
        return value if isinstance(value, str) else ""

    def _forget(self, message: str = INVALID) -> None:
        """Nothing of a quote stays in a tab whose link is not (or no longer) valid."""
        self.reset()
        self.loaded = self.invalid = True
        self.error = message

    def _show(self, page: patient_quotes.PatientQuote) -> None:
        doc = page.document
        self.loaded, self.invalid = True, False
        self.clinic_name, self.reference, self.version = doc.clinic_name, doc.reference, doc.version
        self.status, self.status_label = doc.status, doc.status_label
        self.lines = [
            {
                "description": line.description,
                "unit_label": line.unit_label,
                "quantity": str(line.quantity),
                "unit_price": line.unit_price,
                "discount": line.discount,
                "tax": line.tax,
                "amount": line.amount,
            }
            for line in doc.lines
        ]
        self.subtotal, self.discount, self.tax = doc.subtotal, doc.discount, doc.tax
        self.total, self.deposit = doc.total, doc.deposit
        self.sent_on, self.valid_until = doc.sent_on, doc.valid_until
        self.message, self.terms = doc.message, doc.terms
        self.accepted_name, self.accepted_at = doc.accepted_name, doc.accepted_at
        self.answerable, self.notice = page.answerable, page.notice
        self.current_link = page.current_link
        self.pdf_url = quote_pdf.patient_link(self._token())
        if not page.answerable:
            self.answering = ""

    async def _allowed(self, limit: ratelimit.Limit) -> bool:
        wait = await asyncio.to_thread(ratelimit.hit, limit, client_info(self)[0] or "unknown")
        if wait:
            self.error = ratelimit.try_again_message(wait, what="requests")
        return not wait

    async def _refresh(self) -> bool:
        ip, agent = client_info(self)
        try:
            page = await asyncio.to_thread(
                functools.partial(patient_quotes.view, self._token(), ip=ip, user_agent=agent)
            )
        except patient_quotes.LinkInvalid as exc:
            self._forget(why(exc))
            await show_brand(self, Brand())
            return False
        self._show(page)
        await show_brand(self, page.brand)
        return True

    @rx.event
    @guarded(PUBLIC)
    async def load(self) -> None:
        self.error = self.done = ""
        self.answering = self.typed_name = self.reason = ""
        if not await self._allowed(QUOTE_PAGE_PER_ADDRESS):
            self._forget(self.error)
            return
        await self._refresh()

    @rx.event
    @guarded(PUBLIC)
    async def choose(self, answer: Any) -> None:
        """Open the confirmation for accepting or declining (or close it with "")."""
        if answer not in ("accept", "decline", "") or not self.answerable:
            return
        if await self._allowed(QUOTE_PAGE_PER_ADDRESS):
            self.answering, self.error = str(answer), ""

    @rx.event
    @guarded(PUBLIC)
    async def update_name(self, value: Any) -> None:
        if isinstance(value, str) and await self._allowed(QUOTE_PAGE_PER_ADDRESS):
            self.typed_name = value[: patient_quotes.MAX_NAME + 50]

    @rx.event
    @guarded(PUBLIC)
    async def update_reason(self, value: Any) -> None:
        if isinstance(value, str) and await self._allowed(QUOTE_PAGE_PER_ADDRESS):
            self.reason = value[: patient_quotes.MAX_REASON + 100]

    async def _answer(self, accepting: bool) -> None:
        self.error = self.done = ""
        if not await self._allowed(QUOTE_ANSWER_PER_ADDRESS):
            return
        ip, agent = client_info(self)
        token = self._token()
        call = (
            functools.partial(
                patient_quotes.accept, token, self.typed_name, ip=ip, user_agent=agent
            )
            if accepting
            else functools.partial(
                patient_quotes.decline, token, self.reason, ip=ip, user_agent=agent
            )
        )
        try:
            await asyncio.to_thread(call)
        except patient_quotes.LinkInvalid as exc:
            self._forget(why(exc))
            return
        except patient_quotes.AnswerProblem as exc:
            message = str(exc)
            if await self._refresh():  # an expired or replaced version now says so
                self.error = message
            return
        self.answering = self.typed_name = self.reason = ""
        if await self._refresh():
            self.done = (
                "Thank you. The clinic has your acceptance and will be in touch."
                if accepting
                else "Thank you. The clinic has your answer."
            )

    @rx.event
    @guarded(PUBLIC)
    async def accept(self) -> None:
        """Accept with the full name typed in the field."""
        await self._answer(True)

    @rx.event
    @guarded(PUBLIC)
    async def decline(self) -> None:
        """Decline, with the reason typed (optional)."""
        await self._answer(False)
