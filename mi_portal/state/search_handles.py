"""Opaque search handles: a typed name, email or phone number never goes into the address.

A list page (the queue, the conversations) keeps the tab's recent text searches in a backend-only
dict and puts a random handle in the URL instead (``?q=…``); only that tab resolves it. Case
references are not personal data and stay in clear (``?search=…``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from mi_portal.services.case_lists import parse_reference

MAX_SEARCHES = 50


def remember(searches: dict[str, str], term: str) -> tuple[dict[str, str], str]:
    """The tab's handles with ``term`` in them (the oldest dropped past the cap), and its handle."""
    for handle, known in searches.items():
        if known == term:
            return searches, handle
    handle = secrets.token_urlsafe(9)
    kept = list(searches.items())[-(MAX_SEARCHES - 1) :]
    return {**dict(kept), handle: term}, handle


def private_address(
    searches: dict[str, str], view: dict[str, str], url_for: Callable[[dict[str, str]], str]
) -> tuple[dict[str, str], str]:
    """The URL of ``view`` with a text search replaced by its handle, and the handles after."""
    term = view.get("search", "")
    if term and parse_reference(term) is None:
        searches, handle = remember(searches, term)
        view = {k: v for k, v in view.items() if k != "search"}
        view["q"] = handle
    return searches, url_for(view)
