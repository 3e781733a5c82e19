"""The Reflex app: pages registered here, HTTP routes mounted from api/."""

import reflex as rx

from mi_portal.api.limits import UploadSizeLimit
from mi_portal.api.routes import api_app
from mi_portal.pages.audit import audit_page
from mi_portal.pages.auth import accept_invite, mfa_enroll, signin
from mi_portal.pages.case import case_page
from mi_portal.pages.clinics import clinic_picker
from mi_portal.pages.inbox import inbox_page
from mi_portal.pages.index import index
from mi_portal.pages.intake import clinic_consult, directory_consult
from mi_portal.pages.users import users_page
from mi_portal.state.audit import AuditState
from mi_portal.state.case import CaseState
from mi_portal.state.clinics import ClinicPickerState
from mi_portal.state.inbox import InboxState
from mi_portal.state.intake import IntakeState
from mi_portal.state.mfa import MfaState
from mi_portal.state.overview import OverviewState
from mi_portal.state.session import SessionState
from mi_portal.state.signin import SignInState
from mi_portal.state.users import UsersState

app = rx.App(api_transformer=[api_app, UploadSizeLimit])
app.add_page(signin, route="/signin", title="Sign in — MI Portal", on_load=SignInState.load)
app.add_page(
    mfa_enroll, route="/mfa/enroll", title="Two-step sign-in — MI Portal", on_load=MfaState.start
)
app.add_page(
    inbox_page,
    route="/cases",
    title="Cases — MI Portal",
    on_load=[SessionState.refresh, InboxState.load],
)
app.add_page(
    case_page,
    route="/cases/[id]",
    title="Case — MI Portal",
    on_load=[SessionState.refresh, CaseState.load],
)
app.add_page(accept_invite, route="/invite", title="Choose your password — MI Portal")
app.add_page(
    clinic_consult, route="/c/[slug]/consult", title="Photo consultation", on_load=IntakeState.load
)
app.add_page(
    directory_consult, route="/consult", title="Photo consultation", on_load=IntakeState.load
)
app.add_page(
    index,
    route="/",
    title="MI Portal — Clinics",
    on_load=[SessionState.refresh, OverviewState.load],
)
app.add_page(
    clinic_picker,
    route="/clinics/pick",
    title="Clinics — MI Portal",
    on_load=[SessionState.refresh, ClinicPickerState.load],
)
app.add_page(
    users_page,
    route="/admin/users",
    title="Users — MI Portal",
    on_load=[SessionState.refresh, UsersState.load],
)
app.add_page(
    audit_page,
    route="/audit",
    title="Audit log — MI Portal",
    on_load=[SessionState.refresh, AuditState.load],
)
