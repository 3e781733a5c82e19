"""The Reflex app: pages registered here, HTTP routes mounted from api/."""

from collections.abc import Callable

import reflex as rx
from reflex.event import EventHandler
from starlette.formparsers import MultiPartParser

from mi_portal.api.binding import BrowserBinding
from mi_portal.api.headers import security_headers
from mi_portal.api.limits import MAX_UPLOAD_BYTES, UploadSizeLimit
from mi_portal.api.routes import api_app
from mi_portal.pages.audit import audit_page
from mi_portal.pages.auth import accept_invite, mfa_enroll, signin
from mi_portal.pages.case import case_page
from mi_portal.pages.catalog import catalog_page
from mi_portal.pages.clinic_hours import clinic_hours_page
from mi_portal.pages.clinic_questions import clinic_questions_page
from mi_portal.pages.clinic_settings import clinic_settings_page
from mi_portal.pages.clinics import clinic_picker
from mi_portal.pages.inbox import KEYBOARD, inbox_page
from mi_portal.pages.index import index
from mi_portal.pages.intake import clinic_consult, directory_consult
from mi_portal.pages.messages import messages_page
from mi_portal.pages.not_found import not_found_page
from mi_portal.pages.notice_prefs import notice_prefs_page
from mi_portal.pages.platform_clinics import platform_clinics_page
from mi_portal.pages.platform_reports import platform_reports_page
from mi_portal.pages.platform_users import platform_users_page
from mi_portal.pages.privacy import privacy_page
from mi_portal.pages.quote_builder import quote_builder_page
from mi_portal.pages.quote_page import quote_page
from mi_portal.pages.reply import reply_page
from mi_portal.pages.reports import reports_page
from mi_portal.pages.retention import retention_page
from mi_portal.pages.rights_forwarded import forward_page, forwarded_page
from mi_portal.pages.rights_request import rights_request_page, rights_verify_page
from mi_portal.pages.rights_requests import request_page, requests_page
from mi_portal.pages.templates import templates_page
from mi_portal.pages.users import users_page
from mi_portal.pages.viewer import viewer_page
from mi_portal.services import outbox, session_cache
from mi_portal.state import tokens
from mi_portal.state.audit import AuditState
from mi_portal.state.case import CaseState
from mi_portal.state.catalog import CatalogState
from mi_portal.state.clinic_hours import ClinicHoursState
from mi_portal.state.clinic_questions import ClinicQuestionsState
from mi_portal.state.clinic_settings import ClinicSettingsState
from mi_portal.state.clinics import ClinicPickerState
from mi_portal.state.inbox import InboxState
from mi_portal.state.intake import IntakeState
from mi_portal.state.messages import MessagesState
from mi_portal.state.mfa import MfaState
from mi_portal.state.notice_prefs import NoticePrefsState
from mi_portal.state.overview import OverviewState
from mi_portal.state.platform_clinics import PlatformClinicsState
from mi_portal.state.platform_reports import PlatformReportsState
from mi_portal.state.platform_users import PlatformUsersState
from mi_portal.state.quote_builder import QuoteBuilderState
from mi_portal.state.quote_page import QuotePageState
from mi_portal.state.reply import ReplyState
from mi_portal.state.reports import ReportsState
from mi_portal.state.retention import RetentionState
from mi_portal.state.rights_forwarded import ForwardedListState, ForwardState
from mi_portal.state.rights_request import RightsRequestState, RightsVerifyState
from mi_portal.state.rights_requests import RightsWorkItemState, RightsWorkListState
from mi_portal.state.signin import SignInState
from mi_portal.state.tab import SessionBoundState
from mi_portal.state.templates import TemplatesState
from mi_portal.state.users import UsersState
from mi_portal.state.viewer import ViewerState

# Uploaded photos stay in memory (bounded by UploadSizeLimit) instead of spilling to temp files:
# health images are written nowhere but the object store.
MultiPartParser.spool_max_size = MAX_UPLOAD_BYTES

# The last wrapper is outermost: every response, refusals of the inner ones included, carries
# the security headers. The inbox's keyboard script is inserted at run time, so the page policy
# is told its hash (the built HTML does not contain it).
app = rx.App(
    # Darker shades of the theme's colours, so text and buttons pass WCAG AA contrast.
    stylesheets=["/contrast.css"],
    api_transformer=[
        api_app,
        UploadSizeLimit,
        BrowserBinding,
        security_headers(extra_scripts=[KEYBOARD]),
    ],
)
# The outbox's delivery worker runs inside the app on the embedded default (see outbox.py).
app.register_lifespan_task(outbox.in_process_lifespan)
# Every worker hears when access changes, so it may keep resolved sessions (session_cache.py).
app.register_lifespan_task(session_cache.lifespan)
# Several workers on Redis: a tab served by a worker that died comes back with its own state.
app.register_lifespan_task(tokens.lifespan(app))
# Before any (re)connect's hydrate: a tab whose session ended receives nothing it had.
app.add_middleware(SessionBoundState(), index=0)

# Public pages: no sign-in (their handlers are on the reviewed public allow-list).
app.add_page(signin, route="/signin", title="Sign in — MI Portal", on_load=SignInState.load)
app.add_page(
    mfa_enroll, route="/mfa/enroll", title="Two-step sign-in — MI Portal", on_load=MfaState.start
)
app.add_page(accept_invite, route="/invite", title="Choose your password — MI Portal")
app.add_page(
    clinic_consult, route="/c/[slug]/consult", title="Photo consultation", on_load=IntakeState.load
)
app.add_page(
    directory_consult, route="/consult", title="Photo consultation", on_load=IntakeState.load
)
app.add_page(privacy_page, route="/privacy", title="Privacy policy")
app.add_page(
    rights_request_page,
    route="/privacy/request",
    title="Privacy request",
    on_load=RightsRequestState.load,
)
app.add_page(
    rights_verify_page,
    route="/privacy/request/verify/[reference]",
    title="Confirm your privacy request",
    on_load=RightsVerifyState.load,
)
app.add_page(reply_page, route="/m/[token]", title="Your conversation", on_load=ReplyState.load)
app.add_page(quote_page, route="/q/[token]", title="Your quote", on_load=QuotePageState.load)
# Reflex serves the page registered under "404" for any unknown address.
app.add_page(not_found_page, route="404", title="Page not found — MI Portal")


def signed_in_page(
    component: Callable[[], rx.Component], route: str, title: str, load: EventHandler
) -> None:
    """A staff page: its one load event fills the header's user and clinic and the page's own
    data (``guarded(..., page=True)``)."""
    if not getattr(load.fn, "page_load", False):
        raise TypeError(f"{route}: {load.fn.__qualname__} is not a page load (page=True)")
    app.add_page(component, route=route, title=title, on_load=load)


signed_in_page(index, "/", "MI Portal — Clinics", OverviewState.load)
signed_in_page(inbox_page, "/cases", "Cases — MI Portal", InboxState.load)
signed_in_page(
    case_page,
    "/cases/[id]",
    "Case — MI Portal",
    CaseState.load,
)
signed_in_page(messages_page, "/messages", "Messages — MI Portal", MessagesState.load)
signed_in_page(
    templates_page, "/settings/templates", "Message templates — MI Portal", TemplatesState.load
)
signed_in_page(
    catalog_page, "/settings/catalog", "Treatment catalog — MI Portal", CatalogState.load
)
signed_in_page(
    clinic_questions_page,
    "/settings/clinic/questions",
    "Intake questions — MI Portal",
    ClinicQuestionsState.load,
)
signed_in_page(
    retention_page, "/settings/retention", "Data retention — MI Portal", RetentionState.load
)
signed_in_page(
    clinic_settings_page,
    "/settings/clinic",
    "Clinic settings — MI Portal",
    ClinicSettingsState.load,
)
signed_in_page(
    clinic_hours_page,
    "/settings/clinic/hours",
    "Hours and targets — MI Portal",
    ClinicHoursState.load,
)
signed_in_page(
    requests_page, "/privacy/requests", "Privacy requests — MI Portal", RightsWorkListState.load
)
signed_in_page(
    request_page,
    "/privacy/requests/[reference]",
    "Privacy request — MI Portal",
    RightsWorkItemState.load,
)
signed_in_page(
    forwarded_page,
    "/privacy/forwarded",
    "Forwarded privacy requests — MI Portal",
    ForwardedListState.load,
)
signed_in_page(
    forward_page, "/privacy/forwarded/[id]", "Privacy request — MI Portal", ForwardState.load
)
signed_in_page(viewer_page, "/cases/[id]/photos", "Photos — MI Portal", ViewerState.load)
signed_in_page(quote_builder_page, "/cases/[id]/quote", "Quote — MI Portal", QuoteBuilderState.load)
signed_in_page(clinic_picker, "/clinics/pick", "Clinics — MI Portal", ClinicPickerState.load)
signed_in_page(users_page, "/admin/users", "Users — MI Portal", UsersState.load)
signed_in_page(
    platform_users_page, "/platform/users", "Platform users — MI Portal", PlatformUsersState.load
)
signed_in_page(audit_page, "/audit", "Audit log — MI Portal", AuditState.load)
signed_in_page(
    notice_prefs_page,
    "/settings/notifications",
    "Notifications — MI Portal",
    NoticePrefsState.load,
)
signed_in_page(
    platform_clinics_page, "/platform/clinics", "Clinics — MI Portal", PlatformClinicsState.load
)
signed_in_page(reports_page, "/reports", "Reports — MI Portal", ReportsState.load)
signed_in_page(
    platform_reports_page,
    "/platform/reports",
    "Platform reports — MI Portal",
    PlatformReportsState.load,
)
