"""Page-speed benchmark: the app's pages in headless Chromium against a static page of the same bundle.

    python bench/pages.py [--repeats 9] [--cases-per-clinic 60]

Starts the app as the browser tests do (`tests/browser/conftest.running_app`: a private
MI_DATA_DIR, migrations, the demo seed, `reflex run --env prod --single-port` on a free port),
signs the demo owner of Lakeside Dermatology in (password + TOTP), then, in interleaved rounds,
loads each page cold (a new browser context: empty HTTP cache, new tab token; signed-in pages get
the session cookie only) and warm (the same tab reloaded: cached bundle, same tab token):

- ``baseline``: a static HTML page of the same bundle, written into the build directory for the run
  and served by the same server: the queue page's prerendered HTML (the same stylesheet, the same
  ``modulepreload`` list) whose only script downloads, parses and evaluates every JS module of that
  page (all but ``entry.client``, which would hydrate React and open the event socket), then shows a
  marker. Ready = the marker is visible: the cost of the bundle with no app work (no hydration, no
  socket, no state).
- ``signin``: ``/signin`` — the form is visible and hydrated (React has attached to the button).
- ``queue``: ``/cases`` — the first queue row is visible.
- ``case``: ``/cases/<id>`` — the case's "Received …" line shows its date.
- ``viewer``: ``/cases/<id>/photos`` — the main photo has loaded (complete, with a width).

Times are ``performance.now()`` (from the navigation's start) at the first animation frame the
condition holds. Prints p50/p95 per page and mode and the ratio of each median to the baseline's.

Then the Reflex state sent on the queue page: every Socket.IO frame received on the page's event
socket in a fresh tab from navigation until the rows are shown and the socket has been quiet for a
second (hydrate + on_load), summed, against the JSON of the visible rows (each row's cell texts,
link targets and image sources, read from the table). The heaviest vars of those frames are listed.

Last line: ``queue_cold_ms=<p50 cold /cases> ratio_cold=<that / p50 cold baseline>
state_bytes=<n> state_ratio=<state bytes / visible rows JSON bytes>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    RunningApp,
    running_app,
    sign_in,
)

OWNER = "owner@lakeside-derm.test"
BUILD = ROOT / ".web" / "build" / "client"
BASELINE_HTML = "bench-baseline.html"
BASELINE_JS = "bench-baseline.js"
VIEWPORT: Any = {"width": 1280, "height": 800}  # playwright's ViewportSize

# Each is the body of a JS function: true once the page's main content is there.
READY = {
    "baseline": "const m = document.getElementById('bench-ready');"
    " return !!m && !m.hidden && m.getClientRects().length > 0;",
    "signin": "const b = document.getElementById('sign-in-submit');"
    " const e = document.getElementById('email');"
    " return !!b && !!e && e.getClientRects().length > 0"
    " && Object.keys(b).some(k => k.startsWith('__reactFiber'));",
    "queue": "const r = document.querySelector('.inbox-row');"
    " return !!r && r.getClientRects().length > 0;",
    "case": "const r = document.getElementById('case-reference');"
    " return !!r && r.getClientRects().length > 0 && /Received \\S/.test(r.textContent || '');",
    "viewer": "const i = document.querySelector('.photo-stage[data-stage=main] img.photo-preview');"
    " return !!i && i.complete && i.naturalWidth > 0 && i.getClientRects().length > 0;",
}

# The visible queue: what each row shows (cells), links to and displays (images).
VISIBLE_ROWS_JS = """() => [...document.querySelectorAll('.inbox-row')].map(r => ({
  cells: [...r.querySelectorAll('td, th')].map(c => c.innerText.trim()),
  links: [...r.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  images: [...r.querySelectorAll('img')].map(i => i.getAttribute('src')),
}))"""

SOCKET_CLOCK_JS = """(() => {
  const Native = window.WebSocket;
  window.__socketLog = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const log = window.__socketLog;
      this.addEventListener('open', () => log.push(['open', performance.now(), 0]));
      this.addEventListener('message', e =>
        log.push(['frame', performance.now(), typeof e.data === 'string' ? e.data.length : 0]));
    }
  };
})();"""

PHASES_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const log = window.__socketLog || [];
  const open = log.find(e => e[0] === 'open');
  const events = log.filter(e => e[0] === 'frame' && e[2] > 2);
  const big = events.reduce((a, e) => (!a || e[2] > a[2] ? e : a), null);
  return {
    html_done: nav.responseEnd,
    dom_content_loaded: nav.domContentLoadedEventEnd,
    socket_open: open ? open[1] : -1,
    first_frame: events.length ? events[0][1] : -1,
    largest_frame: big ? big[1] : -1,
  };
}"""

BASELINE_SCRIPT = """// bench/pages.py baseline: the page's whole bundle, evaluated, with no hydration or socket.
const urls = [...document.querySelectorAll('link[rel=modulepreload]')]
  .map(l => l.href)
  .filter(h => !h.includes('/entry.client'));
const results = await Promise.allSettled(urls.map(u => import(u)));
window.__benchFailed = results.filter(r => r.status === 'rejected').map(r => String(r.reason));
window.__benchModules = urls.length;
document.getElementById('bench-ready').hidden = false;
"""


def write_baseline() -> None:
    """The queue page's built HTML with its inline scripts replaced by the baseline script."""
    import re

    html = (BUILD / "cases.html").read_text(encoding="utf-8")
    head, _, rest = html.partition("</head>")
    body = rest.partition("<body>")[2].partition("</body>")[0]
    body = re.sub(r"<script\b[^>]*>.*?</script>", "", body, flags=re.S)
    body = re.sub(r"<template\b[^>]*></template>|<div hidden id=\"S:\d+\"></div>", "", body)
    marker = '<p id="bench-ready" hidden>Bundle loaded.</p>'
    page = (
        f'{head}<script type="module" src="/{BASELINE_JS}"></script></head>'
        f"<body>{marker}{body}</body></html>"
    )
    (BUILD / BASELINE_HTML).write_text(page, encoding="utf-8")
    (BUILD / BASELINE_JS).write_text(BASELINE_SCRIPT, encoding="utf-8")


def remove_baseline() -> None:
    for name in (BASELINE_HTML, BASELINE_JS):
        (BUILD / name).unlink(missing_ok=True)


def case_with_photos(app: RunningApp) -> str:
    """The most recent case of the owner's clinic that has photos."""
    with sqlite3.connect(app.data_dir / "mi_portal.db") as conn:
        row = conn.execute(
            """
            select s.id from submission s join tenant t on t.id = s.tenant_id
            where t.slug = 'lakeside-derm' and exists (
                select 1 from submissionimage i
                where i.tenant_id = s.tenant_id and i.submission_id = s.id)
            order by s.received_at desc limit 1
            """
        ).fetchone()
    if not row:
        raise SystemExit("the seed has no case with photos in Lakeside Dermatology")
    return str(uuid.UUID(hex=str(row[0]).replace("-", "")))


def until_ready(page: Any, name: str) -> float:
    """``performance.now()`` at the first animation frame the page's condition holds."""
    check = (
        f"() => {{ const ok = (() => {{ {READY[name]} }})(); return ok ? performance.now() : 0; }}"
    )
    handle = page.wait_for_function(check, polling="raf", timeout=60_000)
    return float(handle.json_value())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def frame_bytes(payload: str | bytes) -> int:
    return len(payload.encode("utf-8")) if isinstance(payload, str) else len(payload)


def heavy_vars(frames: list[str | bytes]) -> dict[str, int]:
    """Bytes of each ``state.var`` across the deltas of the Socket.IO event frames."""
    sizes: dict[str, int] = defaultdict(int)
    for payload in frames:
        if isinstance(payload, bytes) or not payload.startswith("42"):
            continue
        body = payload[2:]
        if body.startswith("/"):  # a namespace: 42/_event,[...]
            body = body.partition(",")[2]
        try:
            message = json.loads(body)
        except ValueError:
            continue
        update = message[1] if isinstance(message, list) and len(message) > 1 else None
        delta = update.get("delta") if isinstance(update, dict) else None
        if not isinstance(delta, dict):
            continue
        for state, fields in delta.items():
            if not isinstance(fields, dict):
                continue
            for var, value in fields.items():
                sizes[f"{state}.{var}"] += len(json.dumps(value, separators=(",", ":")))
                if isinstance(value, list):  # a list of rows: what each field of them costs
                    for row in value:
                        for key, item in row.items() if isinstance(row, dict) else ():
                            pair = json.dumps({key: item}, separators=(",", ":"))
                            sizes[f"{state}.{var}[].{key}"] += len(pair) - 1
    return dict(sizes)


def queue_state(browser: Any, app: RunningApp, storage: Any) -> tuple[int, int, dict]:
    """(bytes received on the event socket, bytes of the visible rows' JSON, bytes per var)."""
    context = browser.new_context(viewport=VIEWPORT, storage_state=storage)
    page = context.new_page()
    frames: list[str | bytes] = []
    last = [time.monotonic()]

    def on_socket(ws: Any) -> None:
        if "/_event" not in ws.url:
            return

        def received(payload: str | bytes) -> None:
            frames.append(payload)
            last[0] = time.monotonic()

        ws.on("framereceived", received)

    page.on("websocket", on_socket)
    # This tab only (it is not timed with the others): note when the event socket opens and
    # when its frames arrive, on the page's clock.
    page.add_init_script(SOCKET_CLOCK_JS)
    page.goto(app.url + "/cases", wait_until="commit")
    shown = until_ready(page, "queue")
    while time.monotonic() - last[0] < 1.0:
        page.wait_for_timeout(200)
    rows = page.evaluate(VISIBLE_ROWS_JS)
    phases = page.evaluate(PHASES_JS)
    print(
        "queue, one fresh tab (ms from navigation start): "
        + " ".join(f"{k}={v:.0f}" for k, v in phases.items())
        + f" rows_visible={shown:.0f}"
    )
    context.close()
    visible = len(json.dumps(rows, separators=(",", ":")).encode("utf-8"))
    total = sum(frame_bytes(f) for f in frames)
    print(f"queue: {len(rows)} rows shown, {len(frames)} frames on the event socket")
    return total, visible, heavy_vars(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cases-per-clinic", type=int, default=60)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    print(f"load at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="mi-pages-") as data,
        running_app(Path(data), cases_per_clinic=args.cases_per_clinic) as app,
    ):
        print(f"app built and started in {time.monotonic() - started:.0f} s at {app.url}")
        write_baseline()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
                context = browser.new_context(viewport=VIEWPORT)
                sign_in(context.new_page(), app, OWNER)
                storage = context.storage_state()
                context.close()
                case_id = case_with_photos(app)
                urls = {
                    "baseline": (f"{app.url}/{BASELINE_HTML}", False),
                    "signin": (f"{app.url}/signin", False),
                    "queue": (f"{app.url}/cases", True),
                    "case": (f"{app.url}/cases/{case_id}", True),
                    "viewer": (f"{app.url}/cases/{case_id}/photos", True),
                }
                times: dict[tuple[str, str], list[float]] = defaultdict(list)
                errors: list[str] = []
                # One unmeasured round first: the server's first answers (imports, caches).
                for round_no in range(args.repeats + 1):
                    for name, (url, signed_in) in urls.items():
                        context = browser.new_context(
                            viewport=VIEWPORT, storage_state=storage if signed_in else None
                        )
                        page = context.new_page()
                        page.on("pageerror", lambda exc, n=name: errors.append(f"{n}: {exc}"))
                        page.goto(url, wait_until="commit")
                        cold = until_ready(page, name)
                        if name == "baseline":
                            failed = page.evaluate("window.__benchFailed")
                            if failed:
                                raise SystemExit(f"baseline modules failed: {failed[:3]}")
                        page.reload(wait_until="commit")
                        warm = until_ready(page, name)
                        context.close()
                        if round_no:
                            times[(name, "cold")].append(cold)
                            times[(name, "warm")].append(warm)
                state_bytes, visible_bytes, per_var = queue_state(browser, app, storage)
                browser.close()
        finally:
            remove_baseline()

    base = {mode: statistics.median(times[("baseline", mode)]) for mode in ("cold", "warm")}
    for name in urls:
        for mode in ("cold", "warm"):
            values = times[(name, mode)]
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(
                f"{name:8} {mode}: p50={p50:7.1f} ms p95={p95:7.1f} ms "
                f"ratio_p50={p50 / base[mode]:.2f} (n={len(values)})"
            )
    if errors:
        print(f"JavaScript errors on the pages: {len(errors)}, first: {errors[0][:200]}")
    print("heaviest vars sent on the queue page (bytes of their JSON, summed over the deltas):")
    for var, size in sorted(per_var.items(), key=lambda kv: -kv[1])[:24]:
        print(f"  {size:8d}  {var}")
    print(f"state frames {state_bytes} B, visible rows JSON {visible_bytes} B")
    print(f"load at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    queue_cold = statistics.median(times[("queue", "cold")])
    print(
        f"queue_cold_ms={queue_cold:.0f} ratio_cold={queue_cold / base['cold']:.2f} "
        f"state_bytes={state_bytes} state_ratio={state_bytes / max(visible_bytes, 1):.2f}"
    )


if __name__ == "__main__":
    main()
