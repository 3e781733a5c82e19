"""The published privacy policy and the consent texts that refer to it.

The policy text is versioned: ``POLICY_VERSIONS`` pins the sha256 of the text each version
published, and a test fails when the text changes without a new version. Each consent a patient
gives is stored with ``CONSENT_TEXT_VERSION`` and the sha256 of the exact text shown, which names
the policy version, so a policy change changes every consent's hash too.
"""

from __future__ import annotations

import hashlib
from datetime import date
from functools import lru_cache
from pathlib import Path

from mi_portal.models import ConsentKind

POLICY_FILE = Path(__file__).resolve().parent.parent / "legal" / "privacy_policy.txt"
POLICY_VERSION = "2026-12-01"
POLICY_EFFECTIVE = date(2026, 12, 1)
# Every version ever published, with the sha256 of its text (newest last).
POLICY_VERSIONS = {
    "2026-12-01": "396b5598a04b30e42b88747c7c26b17c9884120d3cd9823eed0f013d5d05fbd5",
}

# The youngest age at which a patient may use the service (the age of majority). The policy
# promises not to collect data of children; under-age submissions are refused, nothing is kept.
MIN_AGE = 18

CONSENT_TEXT_VERSION = "2026-12"
# The words "privacy policy" in the first text are shown as a link to /privacy.
CONSENT_TEXTS: dict[str, str] = {
    ConsentKind.PRIVACY_ACK.value: (
        f"I have read the privacy policy (version {POLICY_VERSION}) and I am {MIN_AGE} or older. "
        "My photos and answers go only to the clinic(s) I choose, which decide how long they "
        "keep them."
    ),
    ConsentKind.SMS_OPT_IN.value: (
        "Send me text messages about my consultation (optional). My number and this choice are "
        "used only to deliver those messages, through the text-message provider the clinic "
        "uses; they are never shared for marketing or any other purpose."
    ),
    ConsentKind.MARKETING_OPT_IN.value: (
        "Send me offers and news from the clinic(s) I choose (optional). I can withdraw this "
        "at any time."
    ),
    # Recorded from a verified privacy-rights request, never asked for at intake.
    ConsentKind.SALE_SHARING_OPT_OUT.value: (
        "Do not sell or share my personal data (recorded from my verified privacy-rights request)."
    ),
    ConsentKind.LIMIT_SENSITIVE.value: (
        "Use my sensitive personal data only for what my consultation needs (recorded from my "
        "verified privacy-rights request)."
    ),
}
# The choices the intake form asks for.
INTAKE_CONSENTS = (ConsentKind.PRIVACY_ACK, ConsentKind.SMS_OPT_IN, ConsentKind.MARKETING_OPT_IN)


@lru_cache(maxsize=1)
def policy_text() -> str:
    """The text of the current policy version."""
    return POLICY_FILE.read_text(encoding="utf-8")


def policy_sha256() -> str:
    return hashlib.sha256(policy_text().encode("utf-8")).hexdigest()


def consent_text_sha256(kind: str) -> str:
    """The sha256 of the exact consent text shown for ``kind``."""
    return hashlib.sha256(CONSENT_TEXTS[kind].encode("utf-8")).hexdigest()


def policy_blocks() -> list[tuple[str, str]]:
    """The policy as (kind, text) blocks for display: short unpunctuated lines are headings."""
    blocks = []
    for raw in policy_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        heading = len(line) <= 70 and not line.endswith((".", ":", ";", ")")) and "@" not in line
        blocks.append(("heading" if heading else "text", line))
    return blocks
