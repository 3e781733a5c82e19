"""Second-factor enrolment: QR code and manual key, then one-time recovery codes."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from mi_portal.services import auth
from mi_portal.services.permissions import Permission
from mi_portal.state.guard import client_info, current, guarded


class MfaState(rx.State):
    # "enrol" (first time) or "verify" (enrolled, but this session has no second factor yet,
    # e.g. after single sign-on without MFA at the provider).
    mode: str = "enrol"
    otpauth_uri: str = ""
    manual_key: str = ""
    recovery_codes: list[str] = []
    error: str = ""

    _secret: str = ""
    _secret_user: str = ""

    @rx.event
    @guarded(Permission.SELF, before_mfa=True)
    async def start(self):  # type: ignore[no-untyped-def]
        signed = current()
        if not signed.needs_enrolment and signed.mfa_passed:
            return rx.redirect("/")
        if not signed.needs_enrolment:
            self.mode = "verify"
            self.error = ""
            return None
        self.mode = "enrol"
        if not self._secret or self._secret_user != str(signed.user_id):
            # Kept across reloads of this page: a code from an app that already scanned the
            # first QR code must keep working.
            self._secret = auth.new_totp_secret()
            self._secret_user = str(signed.user_id)
        self.manual_key = " ".join(self._secret[i : i + 4] for i in range(0, len(self._secret), 4))
        self.otpauth_uri = auth.provisioning_uri(self._secret, signed.email)
        self.recovery_codes = []
        self.error = ""
        return None

    @rx.event
    @guarded(Permission.SELF, before_mfa=True)
    async def confirm(self, form_data: dict[str, Any]) -> None:
        signed = current()
        code = str(form_data.get("code", ""))[:16] if isinstance(form_data, dict) else ""
        if not self._secret or not signed.needs_enrolment:
            self.error = "Start the enrolment again."
            return
        ip, agent = client_info(self)
        codes = await asyncio.to_thread(
            auth.confirm_enrolment, signed.user_id, self._secret, code, ip=ip, user_agent=agent
        )
        if codes is None:
            self.error = (
                "That code does not match. Check the time on your phone and try the next code."
            )
            return
        await asyncio.to_thread(auth.mark_mfa_passed, signed.session_id)
        self._secret = ""
        self.otpauth_uri = self.manual_key = self.error = ""
        self.recovery_codes = codes

    @rx.event
    @guarded(Permission.SELF, before_mfa=True)
    async def verify(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        signed = current()
        code = str(form_data.get("code", ""))[:64] if isinstance(form_data, dict) else ""
        if signed.needs_enrolment:
            return rx.redirect("/mfa/enroll")
        ip, agent = client_info(self)
        if not await asyncio.to_thread(
            auth.check_second_factor, signed.user_id, code, ip=ip, user_agent=agent
        ):
            self.error = (
                "That code is not valid. Use the current code from your app or a recovery code."
            )
            return None
        await asyncio.to_thread(auth.mark_mfa_passed, signed.session_id)
        return rx.redirect("/")
