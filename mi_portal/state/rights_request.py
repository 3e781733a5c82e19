"""Public privacy-rights requests: the form, then the page that takes the emailed code.

No sign-in. The form only fills this tab's own fields; the verify page's reference comes from
the address and every answer is the service's, worded the same for everyone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from mi_portal.components.fields import focus_first
from mi_portal.services import rights_intake
from mi_portal.services.permissions import PUBLIC
from mi_portal.services.rights_files import MAX_AUTHORISATION_BYTES
from mi_portal.state.guard import client_info, guarded

TEXT_FIELDS = {
    "requester_name": 200,
    "requester_email": 254,
    "requester_phone": 40,
    "details": 4000,
    "agent_name": 200,
    "agent_email": 254,
}
# Where focus goes after a failed send: the first invalid field, in the order the form shows them.
FOCUS_TARGETS = {
    "kind": "#kind-choices input",
    "agent_name": "#agent_name",
    "agent_email": "#agent_email",
    "authorisation": "#authorisation",
    "jurisdiction": "#jurisdiction",
    "requester_name": "#requester_name",
    "requester_email": "#requester_email",
    "requester_phone": "#requester_phone",
    "details": "#details",
}


class RightsRequestState(rx.State):
    kind: str = ""
    by_agent: bool = False
    requester_name: str = ""
    requester_email: str = ""
    requester_phone: str = ""
    jurisdiction: str = ""
    details: str = ""
    agent_name: str = ""
    agent_email: str = ""
    errors: dict[str, str] = {}
    failure: str = ""
    submitting: bool = False

    def _form(self) -> rights_intake.RequestForm:
        return rights_intake.RequestForm(
            kind=self.kind,
            by_agent=self.by_agent,
            requester_name=self.requester_name,
            requester_email=self.requester_email,
            requester_phone=self.requester_phone,
            jurisdiction=self.jurisdiction,
            details=self.details,
            agent_name=self.agent_name,
            agent_email=self.agent_email,
        )

    def _clear_form(self) -> None:
        for name in TEXT_FIELDS:
            setattr(self, name, "")
        self.kind = self.jurisdiction = self.failure = ""
        self.by_agent = False
        self.errors = {}

    @rx.event
    @guarded(PUBLIC)
    async def load(self) -> None:
        self.failure = ""
        self.submitting = False

    @rx.event
    @guarded(PUBLIC)
    async def update_field(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or isinstance(value, dict | list):
            return
        if name in TEXT_FIELDS:
            setattr(self, name, str(value)[: TEXT_FIELDS[name]])
        elif name == "kind" and value in rights_intake.KIND_LABELS:
            self.kind = str(value)
        elif name == "jurisdiction" and isinstance(value, str):
            self.jurisdiction = value[:8]
        elif name == "by_agent":
            self.by_agent = value is True or value == "agent"
            self.errors = {
                k: v
                for k, v in self.errors.items()
                if k not in ("agent_name", "agent_email", "authorisation")
            }
        else:
            return
        self.errors = {k: v for k, v in self.errors.items() if k != name}

    def _invalid(self, errors: dict[str, str]) -> rx.event.EventSpec:
        self.errors = errors
        return focus_first([sel for key, sel in FOCUS_TARGETS.items() if key in errors])

    @rx.event
    @guarded(PUBLIC)
    async def submit(self, files: list[rx.UploadFile]):  # type: ignore[no-untyped-def]
        self.failure = ""
        files = list(files or [])
        errors: dict[str, str] = {}
        try:
            rights_intake.clean_request(self._form())
        except rights_intake.Invalid as exc:
            errors.update(exc.errors)
        if self.by_agent and not files:
            errors["authorisation"] = "Upload the patient's signed authorisation."
        if errors:
            yield self._invalid(errors)
            return
        self.submitting = True
        yield
        authorisation = None
        if self.by_agent and files:
            data = await files[0].read(MAX_AUTHORISATION_BYTES + 1)
            authorisation = (data, files[0].filename or "authorisation")
        ip, agent = client_info(self)
        try:
            reference = await asyncio.to_thread(
                rights_intake.submit,
                self._form(),
                authorisation=authorisation,
                ip=ip,
                user_agent=agent,
            )
        except rights_intake.Invalid as exc:
            self.submitting = False
            yield self._invalid(exc.errors)
            return
        except rights_intake.RateLimited as exc:
            self.submitting = False
            self.failure = str(exc)
            return
        self._clear_form()
        self.submitting = False
        yield rx.clear_selected_files("authorisation")
        yield rx.redirect(f"/privacy/request/verify/{reference}")


class RightsVerifyState(rx.State):
    # waiting, wrong, locked, expired, exhausted, sent, limited, verified, closed
    view: str = ""
    message: str = ""
    shown_reference: str = ""
    code_error: str = ""

    def _reference(self) -> str:
        return rights_intake.clean_reference(self.reference)  # type: ignore[attr-defined]  (route argument)

    def _show(self, outcome: rights_intake.VerifyOutcome) -> None:
        self.shown_reference = outcome.reference
        if outcome.state == "wrong":
            self.view, self.message, self.code_error = "waiting", "", outcome.message
        else:
            self.view, self.message, self.code_error = outcome.state, outcome.message, ""

    @rx.event
    @guarded(PUBLIC)
    async def load(self) -> None:
        self._show(await asyncio.to_thread(rights_intake.lookup, self._reference()))

    @rx.event
    @guarded(PUBLIC)
    async def check_code(self, form_data: dict[str, Any]) -> None:
        code = form_data.get("code") if isinstance(form_data, dict) else None
        if not isinstance(code, str) or not code.strip():
            self.code_error = "Enter the 6-digit code from the email."
            return
        ip, _agent = client_info(self)
        self._show(
            await asyncio.to_thread(rights_intake.verify, self._reference(), code[:20], ip=ip)
        )

    @rx.event
    @guarded(PUBLIC)
    async def resend(self) -> None:
        ip, _agent = client_info(self)
        self._show(await asyncio.to_thread(rights_intake.resend_code, self._reference(), ip=ip))
