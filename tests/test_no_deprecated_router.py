"""Reflex 0.10 prints a deprecation for RouterData.page (removed in 1.0): the code never reads it.

The notice is printed once per process rather than raised as a warning, so a test that ran the
handlers could miss it; the source is checked instead.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mi_portal"


def test_no_code_reads_router_page() -> None:
    pattern = re.compile(r"\brouter\.page\b")
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{n}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
