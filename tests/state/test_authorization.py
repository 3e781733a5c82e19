"""Authorization matrix: every event handler and HTTP route, every role, signed-out, foreign ids.

Handlers are discovered from the app's State classes, so one added without a declared
permission fails here. Each call goes through the real guard with a real session cookie.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlalchemy import func
from sqlmodel import col, select

import mi_portal.mi_portal  # noqa: F401  (registers every page and state)
from mi_portal.api.routes import api_app
from mi_portal.models import AuditEvent, Membership, Role, User
from mi_portal.services import auth, tenancy
from mi_portal.services.permissions import PUBLIC, Permission, declared_permission, has_permission
from mi_portal.state.clinics import ClinicPickerState
from mi_portal.state.users import AcceptInviteState, UsersState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token

# Reviewed: these need no sign-in. Adding to this list needs a reason in review.
PUBLIC_ALLOWED = {
    "SignInState.submit_password",  # the sign-in form itself
    "SignInState.submit_code",  # second step; only for a password-verified pending user
    "SignInState.start_over",
    "SignInState.load",  # provider names and labels only
    "SignInState.start_sso",  # sends the browser to a configured provider only
    "route:/api/auth/oidc/{name}/login",  # starts the provider round trip
    "route:/api/auth/oidc/{name}/callback",  # validates the ID token before anything else
    "AcceptInviteState.accept",  # the one-time invitation token is the credential
    # Public intake: patients have no account. These only fill the form of this browser tab and
    # create new cases; they read nothing back but public clinic names and, on a clinic's own
    # form, that clinic's active question texts (load and a change of concern area, rate-limited).
    "IntakeState.load",
    "IntakeState.update_field",
    "IntakeState.update_answer",
    "IntakeState.toggle_clinic",
    "IntakeState.submit",
    "IntakeState.start_again",  # empties this tab's form after a refusal
    # The patient's reply page: no account; the link's signed token (read from the address and
    # opened again by the service on every event) is the credential.
    "ReplyState.load",
    "ReplyState.update_reply",  # keeps this tab's own typing only
    "ReplyState.send",
    "ReplyState.change_sms",
    # The patient's quote page: no account; the link's signed token names one quote version and
    # is opened again by the service on every event. Answers need the patient's full name.
    "QuotePageState.load",
    "QuotePageState.choose",  # opens or closes this tab's confirmation only
    "QuotePageState.update_name",  # keeps this tab's own typing only
    "QuotePageState.update_reason",  # keeps this tab's own typing only
    "QuotePageState.accept",
    "QuotePageState.decline",
    # The public privacy-request form and its code page: no account. The form fills this tab's
    # own fields and stores a new unverified request; the code page's reference comes from the
    # address, and its answers (the same for everyone) name nothing personal.
    "RightsRequestState.load",
    "RightsRequestState.update_field",  # keeps this tab's own typing only
    "RightsRequestState.submit",
    "RightsVerifyState.load",
    "RightsVerifyState.check_code",
    "RightsVerifyState.resend",
    # Provider webhooks: the HMAC signature of the body (per-provider secret) is the credential.
    "route:/api/inbound/email",
    "route:/api/inbound/sms",
    "route:/api/inbound/sms/status",  # the signed ?o= token also names the one outbox row
    "route:/api/reply-files/{attachment_id}",  # a 15-minute signed link from the reply page
    "route:/api/q/{token}.pdf",  # the quote page's own signed token; its one version only
    # A rights request's access package: the single-use, expiring token is the credential.
    "route:/api/privacy/package/{token}",
    "route:/api/health",
    "route:/api/auth/session",  # exchanges a one-time ticket for the cookie
    "route:/api/auth/signout",
}
# Reflex's built-in setvar only calls explicit set_* handlers, which are themselves guarded.
FRAMEWORK_HANDLERS = {"setvar"}


def _app_states() -> list[type[rx.State]]:
    found, stack = [], [rx.State]
    while stack:
        cls = stack.pop()
        for sub in cls.get_substates():
            stack.append(sub)
            if sub.__module__.startswith("mi_portal."):
                found.append(sub)
    return sorted(found, key=lambda c: c.__name__)


HANDLERS = [
    (cls, name, handler.fn)
    for cls in _app_states()
    for name, handler in sorted(cls.event_handlers.items())
    if name not in FRAMEWORK_HANDLERS
]
GUARDED = [(c, n, f) for c, n, f in HANDLERS if declared_permission(f) != PUBLIC]


def test_handlers_were_discovered() -> None:
    names = {f"{c.__name__}.{n}" for c, n, _ in HANDLERS}
    assert {
        "UsersState.invite",
        "AuditState.export_csv",
        "SessionState.sign_out",
        "ClinicPickerState.switch_in",
    } <= names


@pytest.mark.parametrize("cls,name,fn", HANDLERS, ids=lambda x: getattr(x, "__name__", str(x)))
def test_every_handler_declares_a_permission(cls: type, name: str, fn: Any) -> None:
    permission = declared_permission(fn)
    assert permission is not None, f"{cls.__name__}.{name} has no @guarded(...) permission"
    assert permission == PUBLIC or isinstance(permission, Permission)
    if permission == PUBLIC:
        assert f"{cls.__name__}.{name}" in PUBLIC_ALLOWED, (
            f"{cls.__name__}.{name} is public but not reviewed"
        )


def test_every_route_declares_a_permission() -> None:
    for route in api_app.routes:
        permission = declared_permission(route.endpoint)  # type: ignore[attr-defined]
        assert permission is not None, f"route {route.path} has no declared permission"  # type: ignore[attr-defined]
        if permission == PUBLIC:
            assert f"route:{route.path}" in PUBLIC_ALLOWED  # type: ignore[attr-defined]


def test_setters_reachable_through_setvar_are_guarded() -> None:
    for cls in _app_states():
        for name, handler in cls.event_handlers.items():
            if name.startswith("set_"):
                assert declared_permission(handler.fn) not in (None, PUBLIC), (
                    f"{cls.__name__}.{name}"
                )


# --- running handlers through the real guard -------------------------------------------------


def _dummy(annotation: Any) -> Any:
    text = str(annotation)
    if "dict" in text:
        return {}
    if "bool" in text:
        return True
    if "int" in text:
        return 0
    return "x"


def _args(fn: Any) -> list[Any]:
    params = list(inspect.signature(inspect.unwrap(fn)).parameters.values())[1:]
    return [_dummy(p.annotation) for p in params]


async def _call(
    cls: type[rx.State], name: str, token: str | None, *args: Any
) -> tuple[rx.State, Any]:
    root = rx.State(_reflex_internal_init=True)
    cookie = f"mi_session={token}" if token else ""
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": cookie, "user-agent": "pytest"}, "ip": "127.0.0.1"}
    )
    state = await root.get_state(cls)
    result = await cls.event_handlers[name].fn(state, *args)
    return state, result


def call(cls: type[rx.State], name: str, token: str | None, *args: Any) -> tuple[rx.State, Any]:
    return asyncio.run(_call(cls, name, token, *args))


def _denials() -> int:
    with owner_session() as session:
        return session.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "access.denied")
        ).one()


PERSONAS = [
    "signed_out",
    "password_only",
    "platform_admin",
    "platform_admin_switched",
    "platform_support",
    "platform_support_switched",
    "clinic_owner",
    "clinic_manager",
    "coordinator",
    "provider",
    "viewer",
    "no_clinic_chosen",
]


@pytest.fixture
def personas(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    users: dict[str, uuid.UUID] = {}
    for role in ("clinic_owner", "clinic_manager", "coordinator", "provider", "viewer"):
        users[role], _ = make_user(f"{role}@a.test", role=role, tenants=(a,))
    users["b_owner"], _ = make_user("owner@b.test", role="clinic_owner", tenants=(b,))
    users["platform_admin"], _ = make_user("admin@p.test", platform_role="platform_admin")
    users["platform_support"], _ = make_user("support@p.test", platform_role="platform_support")
    users["no_clinic_chosen"], _ = make_user("locum@p.test", role="provider", tenants=(a, b))
    users["password_only"], _ = make_user(
        "new@a.test", role="clinic_manager", tenants=(a,), enrolled=False
    )
    return {"a": a, "b": b, "users": users}


def _token(personas: dict[str, Any], persona: str) -> str | None:
    users = personas["users"]
    if persona == "signed_out":
        return None
    if persona == "password_only":
        return sign_in_token(users["password_only"], mfa=False)
    base = persona.removesuffix("_switched")
    token = sign_in_token(users[base])
    if persona.endswith("_switched"):
        signed = auth.resolve(token)
        assert signed is not None
        tenancy.switch_into(signed, str(personas["a"]), "Matrix test: support ticket 1")
    return token


def _is_redirect_to(result: Any, path: str) -> bool:
    text = repr(result)
    return "_redirect" in text and repr(path) in text


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("cls,name,fn", GUARDED, ids=lambda x: getattr(x, "__name__", str(x)))
def test_matrix(
    personas: dict[str, Any], persona: str, cls: type[rx.State], name: str, fn: Any
) -> None:
    permission = declared_permission(fn)
    assert isinstance(permission, Permission)
    token = _token(personas, persona)
    signed = auth.resolve(token) if token else None
    before = _denials()
    _state, result = call(cls, name, token, *_args(fn))
    denied = _denials() > before
    if persona == "signed_out":
        assert _is_redirect_to(result, "/signin") and not denied
        return
    if persona == "password_only":
        before_mfa = fn.__qualname__.split(".")[-1] in ("start", "confirm", "verify", "sign_out")
        if not before_mfa:
            assert _is_redirect_to(result, "/mfa/enroll") and not denied
        return
    assert signed is not None
    expected = has_permission(signed.actor, permission)
    assert denied == (not expected), (
        f"{persona} on {cls.__name__}.{name}: expected allowed={expected}"
    )


def test_matrix_expectations_match_the_role_table() -> None:
    # A few rows spelled out, so the table itself cannot drift unnoticed.
    from mi_portal.services.actor import Actor

    a = uuid.uuid4()
    viewer = Actor(user_id=None, role=Role.VIEWER, tenant_id=a)
    owner = Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=a)
    support = Actor(user_id=None, role=Role.PLATFORM_SUPPORT)
    support_in = Actor(user_id=None, role=Role.PLATFORM_SUPPORT, tenant_id=a)
    assert not has_permission(viewer, Permission.USERS_MANAGE)
    assert not has_permission(viewer, Permission.AUDIT_VIEW)
    assert has_permission(owner, Permission.USERS_MANAGE) and has_permission(
        owner, Permission.AUDIT_VIEW
    )
    assert not has_permission(owner, Permission.TENANT_SWITCH)
    assert has_permission(support, Permission.TENANT_SWITCH)
    assert not has_permission(support, Permission.CASES_VIEW)  # not switched in: no clinic data
    assert not has_permission(support_in, Permission.CASES_VIEW)  # support never reads cases
    assert not has_permission(None, Permission.SELF)


# --- foreign ids answer like missing ones; forged arguments change nothing -------------------


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_foreign_and_missing_ids_answer_alike(personas: dict[str, Any]) -> None:
    token = _token(personas, "clinic_owner")
    with owner_session() as session:
        foreign = str(
            session.exec(select(Membership.id).where(Membership.tenant_id == personas["b"])).first()
        )
    answers = []
    for target in (foreign, str(uuid.uuid4())):
        state, _ = call(UsersState, "change_role", token, target, "viewer")
        answers.append(state.error)  # type: ignore[attr-defined]
        state, _ = call(UsersState, "set_active", token, target, False)
        answers.append(state.error)  # type: ignore[attr-defined]
    assert answers[0] == answers[2] and answers[1] == answers[3] and answers[0]
    with owner_session() as session:
        row = session.get(Membership, uuid.UUID(foreign))
        assert row is not None and row.role == "clinic_owner" and row.disabled_at is None
    locum = _token(personas, "no_clinic_chosen")
    outside = make_tenant("clinic-c")
    errors = [
        call(ClinicPickerState, "choose", locum, str(t))[0].error for t in (outside, uuid.uuid4())
    ]  # type: ignore[attr-defined]
    assert errors[0] == errors[1] != ""


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_forged_tenant_user_and_role_arguments_change_nothing(personas: dict[str, Any]) -> None:
    a, b = personas["a"], personas["b"]
    token = _token(personas, "clinic_owner")
    forged = {
        "email": "forged@example.org",
        "full_name": "Forged Person",
        "role": "coordinator",
        "tenant_id": str(b),
        "user_id": str(personas["users"]["b_owner"]),
        "platform_role": "platform_admin",
    }
    call(UsersState, "invite", token, forged)
    with owner_session() as session:
        rows = session.exec(
            select(Membership.tenant_id, Membership.role)
            .join(User, col(User.id) == Membership.user_id)
            .where(User.email == "forged@example.org")
        ).all()
    # The invitation landed in the inviter's clinic with the role asked for, nowhere else.
    assert rows == [(a, "coordinator")]
    # Role argument cannot make a platform role; a clinic owner cannot switch clinics.
    members = call(UsersState, "load", token)[0].members  # type: ignore[attr-defined]
    target = next(m["membership_id"] for m in members if m["email"] == "viewer@a.test")
    state, _ = call(UsersState, "change_role", token, target, "platform_admin")
    assert state.error  # type: ignore[attr-defined]
    before = _denials()
    call(
        ClinicPickerState,
        "switch_in",
        token,
        {"tenant_id": str(b), "reason": "forged switch attempt"},
    )
    assert _denials() == before + 1
    signed = auth.resolve(token)
    assert signed is not None and signed.actor.tenant_id == a


def test_invite_acceptance_needs_no_session() -> None:
    assert declared_permission(AcceptInviteState.event_handlers["accept"].fn) == PUBLIC
