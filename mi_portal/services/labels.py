"""Words people read for the codes the app stores: roles, audit actions, record kinds."""

from __future__ import annotations

ROLE_LABELS: dict[str, str] = {
    "platform_admin": "Platform administrator",
    "platform_support": "Platform support",
    "clinic_owner": "Clinic owner",
    "clinic_manager": "Clinic manager",
    "coordinator": "Coordinator",
    "provider": "Provider",
    "viewer": "Viewer",
}

ACTION_LABELS: dict[str, str] = {
    "access.denied": "Was refused access",
    "audit.export": "Exported the audit log",
    "auth.sign_in": "Signed in",
    "auth.sign_out": "Signed out",
    "auth.sign_out_everywhere": "Signed out on every device",
    "auth.sso": "Signed in with single sign-on",
    "case.assigned": "Assigned a case",
    "case.note_added": "Added a note to a case",
    "case.status_changed": "Changed a case's status",
    "case.view": "Opened a case",
    "cases.listed": "Opened the case list",
    "clinic.identity_exposure_changed": "Changed who sees patient details in lists",
    "clinic.hours_changed": "Changed the clinic's opening hours or closed days",
    "clinic.sla_changed": "Changed the clinic's reply and quote targets",
    "clinic.question_added": "Added an intake question",
    "clinic.question_moved": "Moved an intake question",
    "clinic.question_restored": "Restored an intake question",
    "clinic.question_retired": "Retired an intake question",
    "clinic.logo_changed": "Changed the clinic's logo",
    "clinic.logo_removed": "Removed the clinic's logo",
    "clinic.settings_changed": "Changed the clinic's settings",
    "consent.changed": "A patient's consent changed",
    "attachment.fetched_by_patient": "A patient opened an attachment",
    "image.annotation_added": "Added a marker to a photo",
    "image.annotation_changed": "Changed a marker on a photo",
    "image.annotation_deleted": "Deleted a marker from a photo",
    "image.downloaded": "Downloaded a photo",
    "image.fetch": "Opened a photo",
    "image.full_url_renewed": "Renewed a photo link",
    "image.full_viewed": "Viewed a photo unblurred",
    "image.sensitivity_changed": "Changed a photo's sensitivity",
    "images.thumbnails_listed": "Looked at the photo thumbnails",
    "images.urls_renewed": "Renewed photo links",
    "images.viewer_opened": "Opened the photo viewer",
    "intake.rolled_back": "A consultation was removed: another chosen clinic could not store it",
    "intake.submitted": "Patient sent a consultation",
    "message.received": "A patient wrote",
    "message.retry": "Sent a failed message again",
    "message.sent": "Wrote to a patient",
    "mfa.enrol": "Started two-step sign-in set-up",
    "mfa.enrolled": "Set up two-step sign-in",
    "mfa.verify": "Entered a two-step sign-in code",
    "notifications.changed": "Changed which notices they receive",
    "photo.added": "Added a photo to a case",
    "platform_user.disabled": "Disabled an account everywhere",
    "platform_user.enabled": "Enabled an account again",
    "platform_user.invite_resent": "Sent a platform invitation again",
    "platform_user.invited": "Invited platform staff",
    "platform_user.mfa_reset": "Reset a lost two-step sign-in",
    "platform_user.role_changed": "Changed a platform role",
    "quote.accepted": "A patient accepted a quote",
    "quote.declined": "A patient declined a quote",
    "quote.discarded": "Discarded a quote draft",
    "quote.drafted": "Started a quote",
    "quote.expired": "A quote expired",
    "quote.pdf_downloaded": "Downloaded a quote PDF",
    "quote.sent": "Sent a quote",
    "quote.viewed": "A patient opened a quote",
    "quote.viewed_by_staff": "Looked at a case's quote",
    "quote.withdrawn": "Withdrew a quote",
    "reports.exported": "Downloaded a report's figures (CSV)",
    "reports.platform_exported": "Downloaded the platform's figures (CSV)",
    "reports.platform_viewed": "Looked at the platform's reports",
    "reports.summary_viewed": "Looked at the clinic's figures on the home page",
    "reports.viewed": "Looked at the clinic's reports",
    "rights.answered": "Answered a privacy request",
    "rights.clinic_answered": "A clinic answered a privacy request",
    "rights.closed_no_data": "Closed a privacy request: no data held",
    "rights.corrected": "Corrected a patient's details for a privacy request",
    "rights.denied": "Denied a privacy request",
    "rights.extended": "Extended a privacy request's deadline",
    "rights.forward_denied": "A privacy request was denied by the platform",
    "rights.forward_withdrawn": "A privacy request was withdrawn",
    "rights.forwarded": "Forwarded a privacy request",
    "rights.started": "Started work on a privacy request",
    "rights.withdrawn": "Marked a privacy request withdrawn",
    "rights.submitted": "A privacy request was sent through the public form",
    "rights.verified": "A privacy request's requester confirmed their email",
    "rights.code_resent": "A privacy request's confirmation code was sent again",
    "rights.expired": "An unconfirmed privacy request expired (details erased)",
    "rights.package_prepared": "Prepared an access package for a privacy request",
    "rights.package_link": "Sent an access package's download link",
    "rights.package_download": "An access package's download link was used",
    "rights.erased": "Erased a patient's data for a privacy request",
    "clinic.created": "Created the clinic",
    "clinic.suspended": "Suspended the clinic",
    "clinic.reactivated": "Reactivated the clinic",
    "clinic.offboarded": "Off-boarded the clinic (exported, then purged)",
    "template.changed": "Changed a message template",
    "template.created": "Created a message template",
    "tenant.select": "Chose a clinic to work in",
    "thread.viewed": "Read a conversation",
    "tenant.switch_expired": "Platform access to the clinic ended",
    "tenant.switch_in": "Platform staff entered the clinic",
    "tenant.switch_out": "Platform staff left the clinic",
    "user.disabled": "Disabled a user's access",
    "user.enabled": "Restored a user's access",
    "user.invite_accepted": "Accepted an invitation",
    "user.invited": "Invited a user",
    "user.owner_provisioned": "Created the clinic's first owner",
    "user.role_changed": "Changed a user's role",
}

# Repeated views collapse into one line: the plural says what the group holds.
VIEW_PLURALS: dict[str, str] = {
    "image.fetch": "Opened {n} photos",
    "cases.listed": "Opened the case list {n} times",
    "case.view": "Opened cases {n} times",
    "images.thumbnails_listed": "Looked at photo thumbnails {n} times",
    "images.viewer_opened": "Opened the photo viewer {n} times",
    "images.urls_renewed": "Renewed photo links {n} times",
    "image.full_url_renewed": "Renewed photo links {n} times",
    "thread.viewed": "Read conversations {n} times",
    "quote.viewed_by_staff": "Looked at quotes {n} times",
    "reports.viewed": "Looked at the clinic's reports {n} times",
    "reports.summary_viewed": "Looked at the clinic's figures on the home page {n} times",
}

TARGET_LABELS: dict[str, str] = {
    "membership": "Membership",
    "object": "Photo file",
    "outboxmessage": "Delivery",
    "template": "Message template",
    "intake_question": "Intake question",
    "patient": "Patient",
    "attachment": "Attachment",
    "queue_page": "Case list page",
    "report": "Report",
    "session": "Sign-in session",
    "submission": "Case",
    "tenant": "Clinic",
    "image": "Photo",
    "annotation": "Marker",
    "user": "User",
}


def _words(code: str) -> str:
    text = code.replace("_", " ").replace(".", ": ").strip()
    return text[:1].upper() + text[1:]


def role_label(role: str) -> str:
    """'clinic_manager' -> 'Clinic manager'; an unknown role is still made readable."""
    return ROLE_LABELS.get(role, _words(role))


def action_label(action: str) -> str:
    """'image.fetch' -> 'Opened a photo'; an unknown code is still made readable."""
    return ACTION_LABELS.get(action, _words(action))


def target_label(target: str) -> str:
    """'submission:3f2a…' -> 'Case 3f2a…'; the id stays, the record kind becomes a word."""
    kind, sep, ident = target.partition(":")
    if not sep:
        return target
    return f"{TARGET_LABELS.get(kind, _words(kind))} {ident}".strip()
