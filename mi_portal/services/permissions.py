"""Permissions: one registry, one role → permissions table, one decorator to declare them."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from mi_portal.models import Role
from mi_portal.services.actor import Actor, PermissionDenied


class Permission(StrEnum):
    """Everything a user may be allowed to do."""

    # Any signed-in user, for their own account: pick a clinic, enrol a second factor, sign out.
    SELF = "self"
    CLINICS_OVERVIEW = "clinics.overview"
    # Give a clinic its first owner: platform-level, never from inside a switch.
    CLINICS_PROVISION = "clinics.provision"
    CASES_VIEW = "cases.view"
    CASES_EDIT = "cases.edit"
    IMAGES_VIEW = "images.view"  # thumbnails and previews
    IMAGES_VIEW_ORIGINAL = "images.view_original"  # the stored full-resolution original
    IMAGES_DOWNLOAD = "images.download"
    IMAGES_ANNOTATE = "images.annotate"
    QUOTES_EDIT = "quotes.edit"  # draft a quote
    QUOTES_SEND = "quotes.send"  # send, revise or withdraw a quote to the patient
    # The clinic's treatment catalog, tax classes, packages and quote defaults.
    CATALOG_MANAGE = "catalog.manage"
    MESSAGES_SEND = "messages.send"
    # Clinic message templates (owner and manager).
    TEMPLATES_MANAGE = "templates.manage"
    RETENTION_VIEW = "retention.view"  # read the clinic's retention settings and sweep proofs
    RETENTION_MANAGE = "retention.manage"  # change them (the clinic owner, the controller)
    HOLDS_MANAGE = "holds.manage"  # place and release legal holds
    USERS_MANAGE = "users.manage"
    AUDIT_VIEW = "audit.view"
    TENANT_SWITCH = "tenant.switch"
    RIGHTS_FORWARD = "rights.forward"
    RIGHTS_ANSWER = "rights.answer"
    # The platform's list of clinics (platform staff outside any clinic).
    CLINICS_LIST = "clinics.list"
    # Create, suspend, reactivate and off-board a clinic (platform admins).
    CLINICS_MANAGE = "clinics.manage"
    # The clinic's own settings: read (owner and manager) and change (the owner).
    SETTINGS_VIEW = "settings.view"
    SETTINGS_MANAGE = "settings.manage"
    # Platform accounts: invite, change platform role, disable; reset a lost second factor.
    PLATFORM_USERS = "platform.users"
    MFA_RESET = "mfa.reset"
    # The clinic's dashboard of figures (owner and manager).
    REPORTS_VIEW = "reports.view"
    # Usage per clinic and suppressed cross-clinic trends (platform staff outside any clinic).
    PLATFORM_REPORTS = "platform.reports"


# Reviewed entry points that need no sign-in (the sign-in page itself, public intake).
PUBLIC = "public"

P = Permission
_CLINIC_READ = {P.SELF, P.CLINICS_OVERVIEW, P.CASES_VIEW, P.IMAGES_VIEW}
# Read-only roles see previews and thumbnails; originals and downloads are for those who work cases.
_CLINIC_WORK = _CLINIC_READ | {
    P.CASES_EDIT,
    P.IMAGES_VIEW_ORIGINAL,
    P.IMAGES_ANNOTATE,
    P.QUOTES_EDIT,
    P.MESSAGES_SEND,
}
_CLINIC_LEAD = _CLINIC_WORK | {
    P.IMAGES_DOWNLOAD,
    P.HOLDS_MANAGE,
    P.RIGHTS_ANSWER,
    P.TEMPLATES_MANAGE,
    P.CATALOG_MANAGE,
    P.QUOTES_SEND,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM_ADMIN: frozenset(
        {
            P.SELF,
            P.CLINICS_OVERVIEW,
            P.TENANT_SWITCH,
            P.RIGHTS_FORWARD,
            P.AUDIT_VIEW,
            P.USERS_MANAGE,
            P.CLINICS_PROVISION,
            P.RETENTION_VIEW,
            P.CLINICS_LIST,
            P.CLINICS_MANAGE,
            P.PLATFORM_USERS,
            P.MFA_RESET,
            P.PLATFORM_REPORTS,
        }
        | _CLINIC_READ
    ),
    Role.PLATFORM_SUPPORT: frozenset(
        {
            P.SELF,
            P.CLINICS_OVERVIEW,
            P.TENANT_SWITCH,
            P.RIGHTS_FORWARD,
            P.AUDIT_VIEW,
            P.RETENTION_VIEW,
            P.CLINICS_LIST,
            P.PLATFORM_REPORTS,
        }
    ),
    # The clinic's audit log and its retention are the owner's (the controller's).
    Role.CLINIC_OWNER: frozenset(
        _CLINIC_LEAD
        | {
            P.USERS_MANAGE,
            P.AUDIT_VIEW,
            P.RETENTION_VIEW,
            P.RETENTION_MANAGE,
            P.SETTINGS_VIEW,
            P.SETTINGS_MANAGE,
            P.REPORTS_VIEW,
        }
    ),
    Role.CLINIC_MANAGER: frozenset(_CLINIC_LEAD | {P.SETTINGS_VIEW, P.REPORTS_VIEW}),
    Role.COORDINATOR: frozenset(_CLINIC_WORK),
    Role.PROVIDER: frozenset(_CLINIC_WORK | {P.IMAGES_DOWNLOAD, P.QUOTES_SEND}),
    Role.VIEWER: frozenset(_CLINIC_READ),
}

# Platform staff act on clinic data only after switching into one clinic; these need that.
NEEDS_CLINIC = frozenset(
    {
        P.CASES_VIEW,
        P.CASES_EDIT,
        P.IMAGES_VIEW,
        P.IMAGES_VIEW_ORIGINAL,
        P.IMAGES_DOWNLOAD,
        P.IMAGES_ANNOTATE,
        P.QUOTES_EDIT,
        P.QUOTES_SEND,
        P.CATALOG_MANAGE,
        P.MESSAGES_SEND,
        P.TEMPLATES_MANAGE,
        P.RETENTION_VIEW,
        P.RETENTION_MANAGE,
        P.HOLDS_MANAGE,
        P.RIGHTS_ANSWER,
        P.USERS_MANAGE,  # memberships belong to one clinic
        P.SETTINGS_VIEW,
        P.SETTINGS_MANAGE,
        P.REPORTS_VIEW,
    }
)


# Platform work that is never done from inside a clinic: a switched-in operator leaves first.
NEEDS_PLATFORM = frozenset(
    {
        P.RIGHTS_FORWARD,
        P.CLINICS_PROVISION,
        P.CLINICS_LIST,
        P.CLINICS_MANAGE,
        P.PLATFORM_USERS,
        P.MFA_RESET,
        P.PLATFORM_REPORTS,
    }
)


def has_permission(actor: Actor | None, permission: Permission) -> bool:
    if actor is None:
        return False
    if permission not in ROLE_PERMISSIONS.get(actor.role, frozenset()):
        return False
    if permission in NEEDS_PLATFORM and actor.tenant_id is not None:
        return False
    return not (permission in NEEDS_CLINIC and actor.tenant_id is None)


def page_access(actor: Actor, permission: Permission, *, has_memberships: bool) -> str:
    """Why a signed-in person may not open a clinic page, or "" when they may.

    "pick": a member of several clinics who has not chosen one; "switch": platform staff whose
    role could see it inside a clinic; "leave": platform staff switched into a clinic opening a
    platform-only page; "denied": the role never may.
    """
    if has_permission(actor, permission):
        return ""
    granted = permission in ROLE_PERMISSIONS.get(actor.role, frozenset())
    if granted and permission in NEEDS_PLATFORM and actor.tenant_id is not None:
        return "leave"
    if actor.tenant_id is None and not actor.is_platform and has_memberships:
        return "pick"
    if actor.tenant_id is None and permission in ROLE_PERMISSIONS.get(actor.role, frozenset()):
        return "switch"
    return "denied"


def elevates(before: str, after: str) -> bool:
    """Whether moving a member from role ``before`` to ``after`` grants anything new."""
    try:
        old, new = ROLE_PERMISSIONS[Role(before)], ROLE_PERMISSIONS[Role(after)]
    except (ValueError, KeyError):
        return True  # an unknown role is never assumed harmless
    return not new <= old


def check(actor: Actor | None, permission: Permission) -> Actor:
    """Return the actor if it holds ``permission``; raise ``PermissionDenied`` otherwise."""
    if actor is None or not has_permission(actor, permission):
        raise PermissionDenied(permission.value)
    return actor


F = TypeVar("F", bound=Callable[..., object])
PERMISSION_ATTR = "__mi_permission__"


def declare(permission: Permission | str) -> Callable[[F], F]:
    """Record which permission an entry point needs (checked by the caller's guard)."""

    def mark(fn: F) -> F:
        setattr(fn, PERMISSION_ATTR, permission)
        return fn

    return mark


def declared_permission(fn: object) -> Permission | str | None:
    return getattr(fn, PERMISSION_ATTR, None)
