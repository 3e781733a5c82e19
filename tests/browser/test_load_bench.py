"""bench/load.py against the suite's production app (no browser: the fixture's app is shared).

Two simulated users of two clinics sign in and work for a few seconds: nothing of the other
clinic reaches either. Then the checker is shown real frames of one clinic as if a user of the
other had received them: it must count them as leaks.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.load import INBOX, LeakChecker, Stats, User, var
from bench.load_data import Manifest
from tests.browser.conftest import ROOT, RunningApp


def test_two_users_of_two_clinics_see_only_their_own(
    app_server: RunningApp, tmp_path: Path
) -> None:
    manifest_path = tmp_path / "manifest.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            "--url",
            app_server.url,
            "--users",
            "2",
            "--clinics",
            "2",
            "--cases-per-clinic",
            "8",
            "--seconds",
            "8",
            "--think",
            "0.4",
            "--ramp",
            "0",
            "--save-manifest",
            str(manifest_path),
        ],
        env=app_server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    figures = dict(part.split("=") for part in lines[-1].split())
    assert set(figures) == {"p95_open_case_ms", "ratio_open_case", "errors", "leaks", "mem_growth"}
    assert figures["leaks"] == "0", result.stdout
    assert figures["errors"] == "0", result.stdout
    assert "users 2/2 signed in" in result.stdout
    # Both users did real work: cases opened, queue pages and photos fetched and checked.
    rows = (re.match(r"([a-z_]+) +(\d+) ", line) for line in lines)
    counted = {m.group(1): int(m.group(2)) for m in rows if m}
    assert counted.get("open_case", 0) + counted.get("queue", 0) > 0, result.stdout
    assert counted.get("thumbnail", 0) > 0, result.stdout

    # What a real user of clinic 0 receives, checked as if clinic 1's user had received it.
    manifest = Manifest.load(manifest_path)
    # Playwright's sync API keeps an event loop running on this thread: the client gets its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        received = pool.submit(asyncio.run, _queue_of_first_user(app_server.url, manifest)).result()
    rows, frames, photo = received["rows"], received["frames"], received["photo"]
    own = LeakChecker(manifest)
    assert own.rows(0, rows) == 0 and own.frame(0, frames) == 0
    assert own.photo_bytes(0, photo) == 0 and own.leaks == 0
    other = LeakChecker(manifest)
    assert other.rows(1, rows) == len(rows) > 0
    assert other.frame(1, frames) > 0
    assert other.photo_bytes(1, photo) == 1


async def _queue_of_first_user(url: str, manifest: Manifest) -> dict[str, Any]:
    import aiohttp

    checker = LeakChecker(manifest)
    clinic = manifest.clinics[0]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        # The run above signed in the first of each clinic's staff; this is the second.
        user = User(url, clinic.users[1], 0, manifest, Stats(), checker, random.Random(1), http)
        await user.sign_in()
        rows = user.state[INBOX].get(var("rows"), [])
        thumbnail = next(r["thumbnail"] for r in rows if r.get("thumbnail"))
        photo = await user.fetch(thumbnail)
        await user.disconnect()
    return {
        "rows": [r["id"] for r in rows],
        "frames": json.dumps(user.state),
        "photo": photo,
    }
