"""Public intake: a patient sends photos and answers to one clinic, or to several at once."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.components.fields import focus_first
from mi_portal.services import intake, intake_questions, ratelimit
from mi_portal.services.clinic_brand import Brand, public_brand
from mi_portal.services.images import MAX_BYTES, ImageRejected, process_image
from mi_portal.services.permissions import PUBLIC
from mi_portal.state.brand import show_brand
from mi_portal.state.guard import client_info, guarded

# At most two photos decode at once per worker: a 50-megapixel decode needs ~200 MB.
_DECODING = asyncio.Semaphore(2)

TEXT_FIELDS = ("full_name", "email", "phone", "date_of_birth", "concern_area")
FLAG_FIELDS = ("privacy_ack", "sms_opt_in", "marketing_opt_in")
# Where focus goes after a failed send: the first invalid field, in the order the form shows them.
FOCUS_TARGETS = {
    "clinics": "#clinic-choices [role=checkbox]",
    "full_name": "#full_name",
    "email": "#email",
    "phone": "#phone",
    "date_of_birth": "#date_of_birth",
    "concern_area": "#concern_area",
    "answers": "",  # the questions' own fields go here, in the order shown
    "photos": "#photos",
    "privacy_ack": "#privacy_ack",
}


def _shown(questions: list[intake_questions.AskedQuestion]) -> list[dict[str, Any]]:
    return [
        {"key": q.key, "text": q.text, "help": q.help_text, "required": q.required}
        for q in questions
    ]


def photo_names(names: list[str]) -> str:
    """The chosen files as the browser lists them (base names), to tie a photo error to them."""
    return "\n".join(n.replace("\\", "/").rsplit("/", 1)[-1] for n in names)


class IntakeState(rx.State):
    clinic_slug: str = ""
    clinic_name: str = ""
    directory: list[dict[str, str]] = []
    chosen: list[str] = []
    full_name: str = ""
    email: str = ""
    phone: str = ""
    date_of_birth: str = ""
    concern_area: str = ""
    answers: dict[str, str] = {}
    # The questions shown: the standard ones, or the clinic's own for the chosen concern area.
    questions: list[dict[str, Any]] = _shown(intake_questions.BUILT_IN)
    questions_note: str = ""
    # The same, as the server checks answers against them before sending.
    _asked: list[intake_questions.AskedQuestion] = list(intake_questions.BUILT_IN)
    privacy_ack: bool = False
    sms_opt_in: bool = False
    marketing_opt_in: bool = False
    errors: dict[str, str] = {}
    # The files a photo error was about: once the patient picks others, that error is not shown.
    photo_error_files: str = ""
    failure: str = ""
    submitting: bool = False
    receipts: list[dict[str, str]] = []
    unknown_clinic: bool = False
    # The clinic exists but takes no submissions now (suspended): said plainly, not a 404.
    closed_clinic: bool = False
    # Set when the service refused the patient (under age): the form is gone, only this shows.
    refused: str = ""
    # A random key for this sending of the form, kept in the tab's server-side state (never
    # sent to the browser): a form re-sent after its answer was lost finds the case it made.
    # A new one is made after each receipt.
    _sending_key: str = ""

    def _clear_form(self) -> None:
        """Forget everything typed: after a refusal and after a successful send."""
        self.full_name = self.email = self.phone = self.date_of_birth = self.concern_area = ""
        self.answers = {}
        self.privacy_ack = self.sms_opt_in = self.marketing_opt_in = False
        self.errors = {}
        self.photo_error_files = ""  # file names can carry a person's name

    async def _load_questions(self) -> None:
        """The clinic's questions for the chosen area (rate-limited: a public read)."""
        self.questions_note = ""
        if not self.clinic_slug or self.unknown_clinic:
            asked = list(intake_questions.BUILT_IN)
        else:
            address = client_info(self)[0] or "unknown"
            wait = await asyncio.to_thread(
                ratelimit.hit, ratelimit.INTAKE_QUESTIONS_PER_ADDRESS, address
            )
            if wait:
                self.questions_note = ratelimit.try_again_message(wait, what="requests")
                return
            asked = await asyncio.to_thread(
                intake_questions.for_clinic_form, self.clinic_slug, self.concern_area
            )
        self._asked = asked
        self.questions = _shown(asked)

    def _form(self) -> intake.IntakeForm:
        return intake.IntakeForm(
            full_name=self.full_name,
            email=self.email,
            phone=self.phone,
            date_of_birth=self.date_of_birth,
            concern_area=self.concern_area,
            answers=dict(self.answers),
            privacy_ack=self.privacy_ack,
            sms_opt_in=self.sms_opt_in,
            marketing_opt_in=self.marketing_opt_in,
        )

    @rx.event
    @guarded(PUBLIC)
    async def load(self) -> None:
        clinics = await asyncio.to_thread(intake.public_clinics)
        slug = str(self.slug or "")  # type: ignore[attr-defined]  (route argument)
        self.receipts, self.errors, self.failure, self.refused = [], {}, "", ""
        self.unknown_clinic = self.closed_clinic = False
        # A page load never runs beside this tab's sending (events of one tab take turns), so
        # a sending still marked here was cut off with its worker: the button works again.
        self.submitting = False
        self._sending_key = self._sending_key or secrets.token_urlsafe(24)
        if slug:
            names = dict(clinics)
            self.clinic_slug = slug
            self.clinic_name = names.get(slug, "")
            if slug not in names:
                closed = await asyncio.to_thread(intake.closed_clinic, slug)
                self.clinic_name = closed or ""
                self.closed_clinic = closed is not None
            self.unknown_clinic = slug not in names and not self.closed_clinic
            self.directory = []
            self.chosen = [slug] if slug in names else []
        else:
            self.clinic_slug = self.clinic_name = ""
            self.directory = [{"slug": s, "name": n} for s, n in clinics]
            self.chosen = [s for s in self.chosen if s in dict(clinics)]
        await self._load_questions()
        # The clinic's own colour and logo on its form; the directory keeps the product's look.
        brand = await asyncio.to_thread(public_brand, slug) if slug else Brand()
        await show_brand(self, brand)

    @rx.event
    @guarded(PUBLIC)
    async def update_field(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or isinstance(value, dict | list):
            return
        if name in TEXT_FIELDS:
            changed = getattr(self, name) != str(value)[:254]
            setattr(self, name, str(value)[:254])
            if name == "concern_area" and changed and self.clinic_slug:
                await self._load_questions()
        elif name in FLAG_FIELDS:
            setattr(self, name, value is True)
        self.errors = {k: v for k, v in self.errors.items() if k != name}

    @rx.event
    @guarded(PUBLIC)
    async def update_answer(self, question: str, value: str) -> None:
        asked = {q.key for q in self._asked}
        if isinstance(question, str) and isinstance(value, str) and question in asked:
            self.answers = {**self.answers, question: str(value)[: intake_questions.MAX_ANSWER]}
            self.errors = {k: v for k, v in self.errors.items() if k != f"answer-{question}"}

    @rx.event
    @guarded(PUBLIC)
    async def toggle_clinic(self, slug: str, selected: bool) -> None:
        known = {c["slug"] for c in self.directory}
        if not isinstance(slug, str) or slug not in known:
            return
        chosen = [s for s in self.chosen if s != slug]
        if selected is True:
            chosen.append(slug)
        self.chosen = chosen
        self.errors = {k: v for k, v in self.errors.items() if k != "clinics"}

    @rx.event
    @guarded(PUBLIC)
    async def start_again(self) -> None:
        """After a refusal: an empty form (nothing of the refused one was kept)."""
        self._clear_form()
        self.refused = self.failure = ""
        await self._load_questions()  # the standard ones again until an area is chosen

    def _invalid(self, errors: dict[str, str]) -> rx.event.EventSpec:
        """Show the errors and take the patient to the first one."""
        self.errors = errors
        order = []
        for key, selector in FOCUS_TARGETS.items():
            if key == "answers":
                order += [f"#answer-{q.key}" for q in self._asked if f"answer-{q.key}" in errors]
            elif key in errors:
                order.append(selector)
        return focus_first(order)

    def _refuse(self, exc: intake.IntakeRefused) -> rx.event.EventSpec:
        self._clear_form()
        self.refused = next(iter(exc.errors.values()), "This form cannot be accepted.")
        return rx.clear_selected_files("photos")

    @rx.event
    @guarded(PUBLIC)
    async def submit(self, files: list[rx.UploadFile]):  # type: ignore[no-untyped-def]
        self.failure = ""
        files = list(files or [])
        self.photo_error_files = photo_names([f.filename or "" for f in files])
        errors: dict[str, str] = {}
        if not self.chosen:
            errors["clinics"] = "Choose at least one clinic."
        try:
            intake.validate(self._form(), photo_count=len(files), questions=self._asked)
        except intake.IntakeRefused as exc:
            yield self._refuse(exc)
            return
        except intake.IntakeInvalid as exc:
            errors.update(exc.errors)
        if errors:
            yield self._invalid(errors)
            return
        address = client_info(self)[0] or "unknown"
        refusal = await asyncio.to_thread(
            ratelimit.intake_refusal, address=address, clinics=list(self.chosen)
        )
        if refusal:
            self.failure = refusal
            return
        self.submitting = True
        self._sending_key = self._sending_key or secrets.token_urlsafe(24)
        yield
        photos = []
        problems = []
        for upload in files:
            data = await upload.read(MAX_BYTES + 1)
            name = upload.filename or "photo"
            try:
                # CPU-heavy decoding and re-encoding runs in a worker thread, off the event loop.
                async with _DECODING:
                    photos.append(await asyncio.to_thread(process_image, data, name))
            except ImageRejected as exc:
                problems.append(f"{name[:60]}: {exc.reason}")
        if problems:
            self.submitting = False
            yield self._invalid({"photos": " ".join(problems)})
            return
        ip, agent = client_info(self)
        try:
            receipts = await asyncio.to_thread(
                intake.submit,
                clinic_slugs=list(self.chosen),
                form=self._form(),
                photos=photos,
                ip=ip,
                user_agent=agent,
                source="directory" if not self.clinic_slug else f"clinic_page:{self.clinic_slug}",
                own_questions=bool(self.clinic_slug),
                sending_key=self._sending_key,
            )
        except intake.IntakeRefused as exc:
            self.submitting = False
            yield self._refuse(exc)
            return
        except intake.IntakeInvalid as exc:
            self.submitting = False
            yield self._invalid(exc.errors)
            return
        except intake.IntakeFailed as exc:
            self.failure = str(exc)
        else:
            self.receipts = [asdict(r) for r in receipts]
            self._clear_form()
            self._sending_key = secrets.token_urlsafe(24)  # the next form is a new sending
        self.submitting = False
        yield rx.clear_selected_files("photos")
