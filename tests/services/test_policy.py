"""The published policy is versioned, and consents point at the exact text shown."""

from __future__ import annotations

import hashlib

from mi_portal.models import ConsentKind
from mi_portal.services import policy


def test_the_policy_text_matches_its_published_version() -> None:
    # Changing the text without a new version (and its hash here) fails: bump POLICY_VERSION.
    assert policy.POLICY_VERSIONS[policy.POLICY_VERSION] == policy.policy_sha256()
    assert list(policy.POLICY_VERSIONS)[-1] == policy.POLICY_VERSION
    assert policy.POLICY_EFFECTIVE.isoformat() == policy.POLICY_VERSION


def test_every_consent_has_a_text_and_the_privacy_consent_names_the_policy_version() -> None:
    assert set(policy.CONSENT_TEXTS) == {k.value for k in ConsentKind}
    assert policy.POLICY_VERSION in policy.CONSENT_TEXTS[ConsentKind.PRIVACY_ACK.value]
    assert "privacy policy" in policy.CONSENT_TEXTS[ConsentKind.PRIVACY_ACK.value]
    for kind, text in policy.CONSENT_TEXTS.items():
        assert policy.consent_text_sha256(kind) == hashlib.sha256(text.encode()).hexdigest()


def test_the_sms_consent_does_not_promise_what_delivery_cannot_keep() -> None:
    sms = policy.CONSENT_TEXTS[ConsentKind.SMS_OPT_IN.value].lower()
    assert "never shared with anyone" not in sms
    assert "provider" in sms  # delivery needs a messaging provider, and the text says so


def test_the_policy_is_shown_as_headings_and_paragraphs() -> None:
    blocks = policy.policy_blocks()
    headings = [text for kind, text in blocks if kind == "heading"]
    assert "Who We Are" in headings and "Minors" in headings
    assert sum(1 for kind, _ in blocks if kind == "text") > 30
