"""All tables of the product, imported together so the metadata is complete."""

from mi_portal.models.audit import PLATFORM_CHAIN, AuditEvent
from mi_portal.models.base import (
    NOT_PERSONAL,
    DataCategory,
    TenantOwned,
    tenant_models,
    utcnow,
    uuid7,
)
from mi_portal.models.cases import (
    SUBMISSION_TRANSITIONS,
    CaseNote,
    ImageRendition,
    Patient,
    RenditionKind,
    Submission,
    SubmissionImage,
    SubmissionStatus,
)
from mi_portal.models.messaging import Message, MessageThread, OutboxMessage
from mi_portal.models.privacy import (
    ConsentKind,
    ConsentRecord,
    LegalHold,
    RetentionPolicy,
    RightsRequest,
    RightsRequestForward,
    RightsRequestKind,
)
from mi_portal.models.quotes import Quote, QuoteLine, QuoteStatus, TreatmentItem
from mi_portal.models.tenancy import (
    CLINIC_ROLES,
    PLATFORM_ROLES,
    Membership,
    RecoveryCode,
    Role,
    Tenant,
    User,
    UserSession,
)

__all__ = [
    "CLINIC_ROLES",
    "NOT_PERSONAL",
    "PLATFORM_CHAIN",
    "PLATFORM_ROLES",
    "SUBMISSION_TRANSITIONS",
    "AuditEvent",
    "CaseNote",
    "ConsentKind",
    "ConsentRecord",
    "DataCategory",
    "ImageRendition",
    "LegalHold",
    "Membership",
    "Message",
    "MessageThread",
    "OutboxMessage",
    "Patient",
    "Quote",
    "QuoteLine",
    "QuoteStatus",
    "RecoveryCode",
    "RenditionKind",
    "RetentionPolicy",
    "RightsRequest",
    "RightsRequestForward",
    "RightsRequestKind",
    "Role",
    "Submission",
    "SubmissionImage",
    "SubmissionStatus",
    "Tenant",
    "TenantOwned",
    "TreatmentItem",
    "User",
    "UserSession",
    "tenant_models",
    "utcnow",
    "uuid7",
]
