"""Reflex keeps UI state in memory or Redis, never on disk, and no longer than a session idles."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mi_portal.config import IDLE_TIMEOUT_SECONDS, PROJECT_ROOT
from mi_portal.services.auth import IDLE_TIMEOUT


def _config(**env: str) -> dict[str, object]:
    code = (
        "import json, rxconfig; c = rxconfig.config; "
        'print(json.dumps([str(getattr(c.state_manager_mode, "value", c.state_manager_mode)), c.redis_token_expiration]))'
    )
    clean = {k: v for k, v in os.environ.items() if k != "REFLEX_REDIS_URL"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    mode, expiry = json.loads(out.stdout.strip().splitlines()[-1])
    return {"mode": mode, "expiry": expiry}


def test_embedded_default_keeps_state_in_memory_for_at_most_the_idle_timeout() -> None:
    assert _config() == {"mode": "memory", "expiry": IDLE_TIMEOUT_SECONDS}
    assert IDLE_TIMEOUT.total_seconds() == IDLE_TIMEOUT_SECONDS


def test_with_redis_configured_state_lives_in_redis() -> None:
    assert _config(REFLEX_REDIS_URL="redis://127.0.0.1:6379/0") == {
        "mode": "redis",
        "expiry": IDLE_TIMEOUT_SECONDS,
    }
