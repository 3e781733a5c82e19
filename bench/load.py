"""Load test: simulated clinic staff speaking the app's own event protocol, every answer checked.

    python bench/load.py [--users 200] [--minutes 10] [--clinics 20] [--url http://localhost:3000]
                         [--prod] [--think 5] [--ramp 60] [--cases-per-clinic 120] [--manifest FILE]

Run it with the environment of the app under test (``MI_DATA_DIR`` or ``MI_DATABASE_URL``,
``MI_STORAGE`` …; with ``--prod``, the settings ``make prod`` derives from the same variables):
the set-up (``bench/load_data.py``) writes new clinics, staff with known passwords and TOTP
secrets, and cases with photos into that app's database and object store;
``--manifest`` reuses an earlier set-up instead. The app must allow this many sign-ins from one
address (``MI_RATE_LIMIT_FACTOR``: each limit allows 30 in 10 minutes, times the factor).

Each simulated user signs in as a browser does: it loads ``/signin`` (the binding cookie),
opens the event socket (Socket.IO on ``/_event``, the hydrate event in the CONNECT packet),
sends the password and TOTP events, follows the one-time ticket to ``/api/auth/session`` for
the HttpOnly session cookie, then opens a new socket with that cookie on the queue page. For
the duration it repeats, with think time (``--think`` seconds on average): the queue paged and
filtered (client-side navigation: the ``on_load_internal`` event with the URL's query),
a case opened, the photo viewer opened (previews and some originals fetched over HTTP from the
signed URLs the state carries; a screen's thumbnails side by side, as a browser fetches
them), a note written, a message sent, and a no-op event
(``ViewerState.toggle_annotations``: the guard and one flag) next to a bare Socket.IO ping.

Every frame received is scanned for ids and markers of the other clinics; rows must be the
clinic's own cases, photo URLs must name its storage prefix and photo bytes must be one of its
stored renditions, messages and notes must carry its marker. Prints p50/p95/p99 per action,
errors, the RSS of the app's backend processes (those holding the listening socket) at the
start and end of the load, and last the line
``p95_open_case_ms=<x> ratio_open_case=<x> errors=<n> leaks=<n> mem_growth=<x>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import statistics
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_data import Manifest  # noqa: E402

NAMESPACE = "/_event"
ROOT = "reflex___state____state"
SIGNIN = f"{ROOT}.mi_portal___state___signin____sign_in_state"
INBOX = f"{ROOT}.mi_portal___state___inbox____inbox_state"
CASE = f"{ROOT}.mi_portal___state___case____case_state"
CONVERSATION = f"{ROOT}.mi_portal___state___conversation____conversation_state"
VIEWER = f"{ROOT}.mi_portal___state___viewer____viewer_state"
HYDRATE = f"{ROOT}.hydrate_and_load"
ON_LOAD = f"{ROOT}.reflex___state____on_load_internal_state.on_load_internal"
NOOP = f"{VIEWER}.toggle_annotations"
HYDRATED = "is_hydrated_rx_state_"
TIMEOUT = 30.0
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MARK_RE = re.compile(r"LOADMARK-(\d\d)-")
STATUSES = ("", "", "new", "in_review", "quoted")
SORTS = ("", "", "received", "last_activity")
ACTIONS = (
    ("queue", 25),
    ("open_case", 25),
    ("open_photos", 15),
    ("add_note", 10),
    ("send_message", 10),
    ("noop", 15),
)


def var(name: str) -> str:
    """The name Reflex gives a state var in frames."""
    return f"{name}_rx_state_"


def form(**fields: str) -> dict[str, Any]:
    """A form's data as the browser encodes it (``encodeFormDataArgs``)."""
    return {"__reflex_form_data__": [[k, v] for k, v in fields.items()]}


# --- the leak checker ------------------------------------------------------------------------


class LeakChecker:
    """What each clinic may receive, from the set-up's manifest; counts everything else."""

    def __init__(self, manifest: Manifest) -> None:
        self.owner: dict[str, int] = {}
        self.cases: dict[int, set[str]] = {}
        self.tenants: dict[int, str] = {}
        self.digests: dict[str, int] = {}
        for clinic in manifest.clinics:
            ids = [
                clinic.tenant_id,
                *clinic.user_ids,
                *clinic.case_ids,
                *clinic.patient_ids,
                *clinic.image_ids,
            ]
            self.owner.update(dict.fromkeys(ids, clinic.index))
            self.cases[clinic.index] = set(clinic.case_ids)
            self.tenants[clinic.index] = clinic.tenant_id
            self.digests.update(dict.fromkeys(clinic.photo_digests, clinic.index))
        self.leaks = 0
        self.examples: list[str] = []

    def _leak(self, clinic: int, what: str) -> None:
        self.leaks += 1
        if len(self.examples) < 10:
            self.examples.append(f"clinic {clinic:02d}: {what}")

    def frame(self, clinic: int, text: str) -> int:
        """Any id or marker of another load clinic anywhere in a received frame."""
        found = 0
        for match in set(UUID_RE.findall(text)):
            other = self.owner.get(match)
            if other is not None and other != clinic:
                self._leak(clinic, f"id {match} of clinic {other:02d} in a frame")
                found += 1
        for match in set(MARK_RE.findall(text)):
            if int(match) != clinic:
                self._leak(clinic, f"marker of clinic {match} in a frame")
                found += 1
        return found

    def rows(self, clinic: int, ids: list[str]) -> int:
        """Queue rows: each must be one of the clinic's own cases."""
        stray = [i for i in ids if i not in self.cases[clinic]]
        for case_id in stray:
            self._leak(clinic, f"row {case_id} is not one of its cases")
        return len(stray)

    def photo_url(self, clinic: int, url: str) -> int:
        """A signed photo URL must name an object under the clinic's own storage prefix."""
        path = urlsplit(url).path
        key = unquote(path.removeprefix("/api/objects/"))
        if not path.startswith("/api/objects/") or key.split("/", 1)[0] != self.tenants[clinic]:
            self._leak(clinic, f"photo URL outside its prefix: {path[:80]}")
            return 1
        return 0

    def photo_bytes(self, clinic: int, data: bytes) -> int:
        """Fetched photo bytes must be one of the clinic's stored renditions."""
        digest = hashlib.sha256(data).hexdigest()
        owner = self.digests.get(digest)
        if owner != clinic:
            self._leak(
                clinic,
                f"photo bytes {f'of clinic {owner:02d}' if owner is not None else 'unknown'}",
            )
            return 1
        return 0

    def texts(self, clinic: int, texts: list[str], what: str) -> int:
        """Messages and notes: each must carry the clinic's own marker."""
        own = f"LOADMARK-{clinic:02d}-"
        stray = [t for t in texts if own not in t]
        for text in stray:
            self._leak(clinic, f"{what} without its marker: {text[:40]!r}")
        return len(stray)


# --- measurements ----------------------------------------------------------------------------


@dataclass
class Stats:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_examples: list[str] = field(default_factory=list)
    recording: bool = True
    lag: list[float] = field(default_factory=list)  # ms the client's event loop woke up late

    def add(self, action: str, ms: float) -> None:
        if self.recording:
            self.times[action].append(ms)

    def fail(self, action: str, why: str) -> None:
        if self.recording:
            self.errors[action] += 1
            if len(self.error_examples) < 15:
                self.error_examples.append(f"{action}: {why}")

    def total(self) -> int:
        """Timed operations (the steps inside one, named "<action> <n>:<step>", not counted)."""
        timed = sum(len(v) for k, v in self.times.items() if " " not in k)
        return timed + sum(self.errors.values())


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class ActionFailed(Exception):
    pass


# --- one simulated user ----------------------------------------------------------------------


class User:
    """One member of staff in one browser tab, speaking the frontend's socket protocol."""

    def __init__(
        self,
        base: str,
        email: str,
        clinic: int,
        manifest: Manifest,
        stats: Stats,
        checker: LeakChecker,
        rng: random.Random,
        http: Any,
    ) -> None:
        self.base, self.email, self.clinic = base.rstrip("/"), email, clinic
        self.manifest, self.stats, self.checker, self.rng = manifest, stats, checker, rng
        self.http = http
        self.cookies: dict[str, str] = {}
        self.state: dict[str, dict[str, Any]] = defaultdict(dict)
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.pongs: asyncio.Queue[float] = asyncio.Queue()
        self.sio: Any = None
        self.router: dict[str, Any] = {}
        self.case_id = ""
        self.seen_cases: list[str] = []
        self.written = 0

    # -- transport ------------------------------------------------------------------------

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep_cookies(self, response: Any) -> None:
        for name, morsel in response.cookies.items():
            self.cookies[name] = morsel.value

    async def _on_update(self, update: dict[str, Any]) -> None:
        text = json.dumps(update)
        self.checker.frame(self.clinic, text)
        for name, changes in (update.get("delta") or {}).items():
            self.state[name].update(changes)
        await self.updates.put(update)

    async def _on_pong(self, _data: Any = None) -> None:
        await self.pongs.put(time.perf_counter())

    @staticmethod
    def _router(path: str, query: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
        search = f"?{urlencode(query)}" if query else ""
        data: dict[str, Any] = {"pathname": path, "asPath": path + search}
        if query or params:
            data["query"] = {**query, **params}
        return data

    async def connect(self, path: str, query: dict[str, str] | None = None) -> None:
        """A page load: a new tab token, the hydrate event riding in the CONNECT packet."""
        import socketio

        await self.disconnect()
        self.state.clear()
        self.updates = asyncio.Queue()
        self.router = self._router(path, query or {}, {})
        # Its own HTTP session: the Socket.IO client moves the Cookie header into the session's
        # cookie jar, which must not be shared between users.
        sio = socketio.AsyncClient(reconnection=False)
        sio.on("event", self._on_update, namespace=NAMESPACE)
        # The backend answers a "ping" event with a "ping" event carrying "pong".
        sio.on("ping", self._on_pong, namespace=NAMESPACE)
        self.sio = sio
        token = str(uuid.uuid4())
        await sio.connect(
            f"{self.base}?token={token}",
            socketio_path="_event",
            namespaces=[NAMESPACE],
            transports=["websocket"],
            headers={"Cookie": self._cookie_header(), "Origin": self.base},
            auth={"event": {"name": HYDRATE, "payload": {}, "router_data": self.router}},
            wait_timeout=int(TIMEOUT),
        )
        await self._until(lambda u: (u.get("delta") or {}).get(ROOT, {}).get(HYDRATED) is True)

    async def disconnect(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):  # already gone
                await self.sio.disconnect()
            self.sio = None

    async def _emit(self, name: str, payload: dict[str, Any] | None = None) -> None:
        event = {"name": name, "payload": payload or {}, "router_data": self.router}
        await self.sio.emit("event", event, namespace=NAMESPACE)

    async def _until(self, done: Any) -> dict[str, Any]:
        """Read updates until one satisfies ``done``. A redirect is a failure: the bench asks
        only for canonical URLs, so the app has no reason to send one."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ActionFailed("no answer within the timeout")
            try:
                update = await asyncio.wait_for(self.updates.get(), left)
            except TimeoutError:
                raise ActionFailed("no answer within the timeout") from None
            for event in update.get("events") or []:
                if event.get("name") == "_redirect":
                    raise ActionFailed(f"redirected to {event.get('payload', {}).get('path')}")
            if done(update):
                return update

    def _changed(self, substate: str) -> Any:
        return lambda u: substate in (u.get("delta") or {})

    async def navigate(self, path: str, query: dict[str, str], params: dict[str, str]) -> None:
        """Client-side navigation: the page's on_load event, finished when hydrated again."""
        self.router = self._router(path, query, params)
        self.updates = asyncio.Queue()
        await self._emit(ON_LOAD)
        await self._until(lambda u: (u.get("delta") or {}).get(ROOT, {}).get(HYDRATED) is True)

    async def fetch(self, url: str, action: str = "photo") -> bytes:
        started = time.perf_counter()
        async with self.http.get(
            self.base + url, headers={"Cookie": self._cookie_header()}, allow_redirects=False
        ) as response:
            data = await response.read()
            if response.status != 200:
                self.stats.fail(action, f"HTTP {response.status}")
                raise ActionFailed(f"HTTP {response.status} for a photo")
        self.stats.add(action, (time.perf_counter() - started) * 1000)
        return data

    async def photo(self, url: str, action: str = "photo") -> None:
        if not url:
            return
        self.checker.photo_url(self.clinic, url)
        self.checker.photo_bytes(self.clinic, await self.fetch(url, action))

    async def photos(self, urls: list[str], action: str) -> None:
        """Fetched side by side, as a browser fetches a screen's images; the first failure is
        raised once all have ended."""
        ended = await asyncio.gather(*(self.photo(u, action) for u in urls), return_exceptions=True)
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome

    # -- sign-in ----------------------------------------------------------------------------

    async def sign_in(self) -> None:
        from pyotp.totp import TOTP

        async with self.http.get(self.base + "/signin/") as response:
            await response.read()
            self._keep_cookies(response)
            if response.status != 200:
                raise ActionFailed(f"sign-in page HTTP {response.status}")
        await self.connect("/signin/")
        await self._emit(
            f"{SIGNIN}.submit_password",
            {"form_data": form(email=self.email, password=self.manifest.password)},
        )
        await self._until(self._changed(SIGNIN))
        if self.state[SIGNIN].get(var("step")) != "code":
            raise ActionFailed(f"password refused: {self.state[SIGNIN].get(var('error'))}")
        code = TOTP(self.manifest.totp[self.email]).now()
        await self._emit(f"{SIGNIN}.submit_code", {"form_data": form(code=code)})
        update = await self._until(lambda u: bool(u.get("events")) or self._signin_error(u))
        script = json.dumps(update.get("events"))
        found = re.search(r"/api/auth/session\?ticket=([A-Za-z0-9_-]+)", script)
        if not found:
            raise ActionFailed(f"code refused: {self.state[SIGNIN].get(var('error'))}")
        await self.disconnect()
        async with self.http.get(
            f"{self.base}/api/auth/session?ticket={found.group(1)}&next=/",
            headers={"Cookie": self._cookie_header()},
            allow_redirects=False,
        ) as response:
            await response.read()
            self._keep_cookies(response)
            if response.status != 303 or "mi_session" not in self.cookies:
                raise ActionFailed(f"ticket refused: HTTP {response.status}")
        await self.connect("/cases")
        self.check_queue()

    def _signin_error(self, update: dict[str, Any]) -> bool:
        return bool((update.get("delta") or {}).get(SIGNIN, {}).get(var("error")))

    # -- the work -----------------------------------------------------------------------------

    def check_queue(self) -> list[dict[str, Any]]:
        rows = self.state[INBOX].get(var("rows"), [])
        self.checker.rows(self.clinic, [r.get("id", "") for r in rows])
        self.seen_cases = [r["id"] for r in rows if r.get("id")] or self.seen_cases
        return rows

    async def queue(self) -> None:
        view = {
            "status": self.rng.choice(STATUSES),
            "sort": self.rng.choice(SORTS),
            "page": self.rng.choice(["", "", "2"]),
        }
        query = {k: v for k, v in view.items() if v}
        self.case_id = ""
        started = time.perf_counter()
        await self.navigate("/cases", query, {})
        self.stats.add("queue", (time.perf_counter() - started) * 1000)
        if self.state[INBOX].get(var("error")):
            raise ActionFailed(f"queue error: {self.state[INBOX][var('error')]}")
        rows = self.check_queue()
        for row in rows:
            if row.get("thumbnail"):
                self.checker.photo_url(self.clinic, row["thumbnail"])
        # What a screen shows at once: the first rows' thumbnails, side by side as a browser
        # fetches them (six connections to one origin).
        await self.photos([row.get("thumbnail", "") for row in rows[:6]], "thumbnail")

    def _pick_case(self) -> str:
        cases = self.seen_cases or self.manifest.clinics[self.clinic].case_ids
        return self.rng.choice(cases)

    async def open_case(self, case_id: str | None = None) -> None:
        case_id = case_id or self._pick_case()
        started = time.perf_counter()
        await self.navigate(f"/cases/{case_id}", {}, {"id": case_id})
        self.stats.add("open_case", (time.perf_counter() - started) * 1000)
        case = self.state[CASE].get(var("case"), {})
        if self.state[CASE].get(var("not_found")) or case.get("id") != case_id:
            raise ActionFailed("the case did not open")
        self.case_id = case_id
        self.checker.texts(
            self.clinic, [str(case.get("patient_name", ""))], "patient name on the case"
        )
        messages = self.state[CONVERSATION].get(var("messages"), [])
        self.checker.texts(self.clinic, [str(m.get("body", "")) for m in messages], "message")
        notes = case.get("notes", [])
        self.checker.texts(self.clinic, [json.dumps(n) for n in notes], "note")
        thumbs = self.state[CASE].get(var("thumbnails"), [])[:2]
        await self.photos([t.get("url", "") for t in thumbs], "thumbnail")

    async def open_photos(self) -> None:
        case_id = self._pick_case()
        started = time.perf_counter()
        await self.navigate(f"/cases/{case_id}/photos", {}, {"id": case_id})
        self.stats.add("open_photos", (time.perf_counter() - started) * 1000)
        self.case_id = ""
        photos = self.state[VIEWER].get(var("photos"), [])
        if self.state[VIEWER].get(var("not_found")) or not photos:
            raise ActionFailed("the viewer showed no photos")
        for photo in photos:
            if photo.get("submission_id") != case_id:
                self.checker._leak(self.clinic, "viewer photo of another case")
            self.checker.photo_url(self.clinic, photo.get("thumbnail_url", ""))
        await self.photo(photos[0].get("preview_url", ""), "preview")
        if self.rng.random() < 0.5:
            self.updates = asyncio.Queue()
            started = time.perf_counter()
            await self._emit(f"{VIEWER}.need_full")
            await self._until(self._changed(VIEWER))
            self.stats.add("zoom_event", (time.perf_counter() - started) * 1000)
            full = self.state[VIEWER].get(var("current_full"), "")
            await self.photo(full, "original")

    async def _on_case(self) -> None:
        if not self.case_id:
            await self.open_case()

    async def add_note(self) -> None:
        await self._on_case()
        self.written += 1
        text = f"{self.manifest.clinics[self.clinic].marker} note {self.written} by {self.email}"
        self.updates = asyncio.Queue()
        started = time.perf_counter()
        await self._emit(f"{CASE}.add_note", {"form_data": form(body=text)})
        await self._until(self._changed(CASE))
        self.stats.add("add_note", (time.perf_counter() - started) * 1000)
        if self.state[CASE].get(var("error")) or text not in json.dumps(
            self.state[CASE].get(var("case"), {})
        ):
            raise ActionFailed(f"note not saved: {self.state[CASE].get(var('error'))}")

    async def send_message(self) -> None:
        await self._on_case()
        self.written += 1
        mark = self.manifest.clinics[self.clinic].marker
        text = f"{mark} message {self.written}: your photos were reviewed."
        self.updates = asyncio.Queue()
        await self._emit(f"{CONVERSATION}.set_subject", {"value": f"Case update {mark}"})
        await self._until(self._changed(CONVERSATION))
        await self._emit(f"{CONVERSATION}.set_body", {"value": text})
        await self._until(self._changed(CONVERSATION))
        started = time.perf_counter()
        await self._emit(f"{CONVERSATION}.send")
        await self._until(self._changed(CONVERSATION))
        self.stats.add("send_message", (time.perf_counter() - started) * 1000)
        problem = self.state[CONVERSATION].get(var("compose_error"))
        bodies = [m.get("body", "") for m in self.state[CONVERSATION].get(var("messages"), [])]
        if problem or text not in bodies:
            raise ActionFailed(f"message not sent: {problem}")
        self.checker.texts(self.clinic, bodies, "message")

    async def noop(self) -> None:
        self.updates = asyncio.Queue()
        started = time.perf_counter()
        await self._emit(NOOP)
        await self._until(self._changed(VIEWER))
        self.stats.add("noop", (time.perf_counter() - started) * 1000)
        self.pongs = asyncio.Queue()
        started = time.perf_counter()
        await self.sio.emit("ping", namespace=NAMESPACE)
        try:
            answered = await asyncio.wait_for(self.pongs.get(), TIMEOUT)
        except TimeoutError:
            raise ActionFailed("no pong") from None
        self.stats.add("socket_ping", (answered - started) * 1000)

    async def run(self, until: float, think: float, mix: tuple[tuple[str, int], ...]) -> None:
        names = [a for a, _ in mix]
        weights = [w for _, w in mix]
        while time.monotonic() < until:
            await asyncio.sleep(think * self.rng.uniform(0.5, 1.5))
            if time.monotonic() >= until:
                break
            action = self.rng.choices(names, weights)[0]
            try:
                await getattr(self, action)()
            except ActionFailed as exc:
                self.stats.fail(action, str(exc))
                await self._recover()
            except Exception as exc:  # a broken socket, a refused HTTP connection
                self.stats.fail(action, f"{type(exc).__name__}: {exc}"[:200])
                await self._recover()

    async def _recover(self) -> None:
        """After a failure the tab is reloaded, as a person would do."""
        self.case_id = ""
        try:
            await self.connect("/cases")
        except Exception as exc:
            self.stats.fail("reload", f"{type(exc).__name__}: {exc}"[:200])


# --- the app's processes ---------------------------------------------------------------------


def listening_pids(port: int) -> list[int]:
    """Processes holding a listening TCP socket on ``port`` (the backend workers)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                inodes.add(parts[9])
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.append(int(proc.name))
                    break
        except OSError:
            continue
    return sorted(pids)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(pids: list[int]) -> dict[int, int]:
    return {pid: rss_kb(pid) for pid in pids}


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the run -----------------------------------------------------------------------------------


async def run_load(
    base: str,
    manifest: Manifest,
    *,
    users: int,
    seconds: float,
    think: float,
    ramp: float,
    pids: list[int],
    seed: int = 1,
    mix: tuple[tuple[str, int], ...] = ACTIONS,
) -> dict[str, Any]:
    """Sign everyone in (spread over ``ramp``), run for ``seconds``, return the figures."""
    import aiohttp

    stats = Stats()
    checker = LeakChecker(manifest)
    staff = [
        (clinic.index, email) for n in range(10) for clinic in manifest.clinics
        for email in clinic.users[n : n + 1]
    ][:users]  # fmt: skip
    if len(staff) < users:
        raise SystemExit(f"the set-up has {len(staff)} users, fewer than --users {users}")
    mem_before = memory(pids)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        people = [
            User(
                base, email, clinic, manifest, stats, checker, random.Random(seed * 1000 + i), http
            )
            for i, (clinic, email) in enumerate(staff)
        ]

        async def sign_in(i: int, person: User) -> bool:
            await asyncio.sleep(ramp * i / max(1, len(people)))
            started = time.perf_counter()
            try:
                await person.sign_in()
            except Exception as exc:
                stats.fail("sign_in", f"{type(exc).__name__}: {exc}"[:200])
                return False
            stats.add("sign_in", (time.perf_counter() - started) * 1000)
            return True

        signed = await asyncio.gather(*(sign_in(i, p) for i, p in enumerate(people)))
        active = [p for p, ok in zip(people, signed, strict=True) if ok]
        mem_start = memory(pids)
        app_cpu_start = cpu_seconds(pids)
        started = time.monotonic()
        until = started + seconds
        cpu_start = time.process_time()
        lag = asyncio.create_task(_loop_lag(stats, until))
        await asyncio.gather(*(p.run(until, think, mix) for p in active))
        elapsed = time.monotonic() - started
        client_cpu = (time.process_time() - cpu_start) / elapsed
        mem_end = memory(pids)
        app_cpu = cpu_seconds(pids) - app_cpu_start
        stats.recording = False
        lag.cancel()
        await asyncio.gather(*(p.disconnect() for p in people))
    return {
        "stats": stats,
        "checker": checker,
        "signed_in": len(active),
        "elapsed": elapsed,
        "mem_before": mem_before,
        "mem_start": mem_start,
        "mem_end": mem_end,
        "client_cpu": client_cpu,
        "app_cpu": app_cpu,
    }


async def _loop_lag(stats: Stats, until: float) -> None:
    """How late the client's own event loop wakes up: when this grows, the client (not the
    app) adds to the times measured."""
    while time.monotonic() < until:
        started = time.perf_counter()
        await asyncio.sleep(0.1)
        stats.lag.append((time.perf_counter() - started - 0.1) * 1000)


def report(result: dict[str, Any], *, users: int, think: float) -> tuple[str, dict[str, float]]:
    stats: Stats = result["stats"]
    checker: LeakChecker = result["checker"]
    lines = [
        f"{'action':<24} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}",
    ]
    names = sorted(set(stats.times) | set(stats.errors))
    for name in names:
        t = stats.times.get(name, [])
        lines.append(
            f"{name:<24} {len(t):>6} {pct(t, 50):>8.1f} {pct(t, 95):>8.1f} {pct(t, 99):>8.1f}"
            f" {stats.errors.get(name, 0):>7}"
        )
    total, errors = stats.total(), sum(stats.errors.values())
    actions = sum(len(stats.times.get(a, [])) for a, _ in ACTIONS)
    lines.append(
        f"users {result['signed_in']}/{users} signed in; {result['elapsed']:.0f} s of load, think "
        f"{think} s; {actions} actions ({actions / max(result['elapsed'], 1):.1f}/s), {total} timed "
        f"operations; errors {errors} ({100 * errors / max(total, 1):.3f} %); leaks {checker.leaks}"
    )
    if stats.lag:
        lines.append(
            f"client: {100 * result.get('client_cpu', 0):.0f} % of one CPU; its event loop woke "
            f"up late by p50 {pct(stats.lag, 50):.1f} ms, p95 {pct(stats.lag, 95):.1f} ms, "
            f"p99 {pct(stats.lag, 99):.1f} ms (part of every time above)"
        )
    for example in stats.error_examples:
        lines.append(f"  error: {example}")
    for example in checker.examples:
        lines.append(f"  LEAK: {example}")
    if result.get("app_cpu"):
        lines.append(
            f"backend workers: {result['app_cpu']:.0f} s of CPU in {result['elapsed']:.0f} s "
            f"({result['app_cpu'] / result['elapsed']:.2f} CPUs), "
            f"{1000 * result['app_cpu'] / max(actions, 1):.0f} ms of CPU per action (its photo "
            f"fetches included); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
    before, start, end = result["mem_before"], result["mem_start"], result["mem_end"]
    for pid in sorted(start):
        lines.append(
            f"backend pid {pid}: RSS {before.get(pid, 0) / 1024:.1f} MB before sign-in, "
            f"{start[pid] / 1024:.1f} MB at start, {end.get(pid, 0) / 1024:.1f} MB at end"
        )
    mem_start, mem_end = sum(start.values()), sum(end.values())
    growth = (mem_end - mem_start) / mem_start if mem_start else float("nan")
    p95_case = pct(stats.times.get("open_case", []), 95)
    p95_noop = pct(stats.times.get("noop", []), 95)
    figures = {
        "p95_open_case_ms": p95_case,
        "ratio_open_case": p95_case / p95_noop if p95_noop else float("nan"),
        "errors": errors,
        "leaks": checker.leaks,
        "mem_growth": growth,
    }
    lines.append(
        f"p95_open_case_ms={p95_case:.1f} ratio_open_case={figures['ratio_open_case']:.2f} "
        f"errors={errors} leaks={checker.leaks} mem_growth={growth:.3f}"
    )
    return "\n".join(lines), figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="the running app (default http://localhost:3000)")
    parser.add_argument(
        "--prod",
        action="store_true",
        help="the app is `make prod` started with this environment (PORT, PROD_DB, …): its "
        "database and object store settings are taken from there",
    )
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, help="the duration in seconds (for tests)")
    parser.add_argument("--clinics", type=int, default=20)
    parser.add_argument("--cases-per-clinic", type=int, default=120)
    parser.add_argument("--think", type=float, default=5.0, help="mean seconds between actions")
    parser.add_argument("--ramp", type=float, help="seconds over which sign-ins are spread")
    parser.add_argument(
        "--actions",
        help="only these actions, comma-separated (their usual weights; noop is always kept)",
    )
    parser.add_argument("--manifest", type=Path, help="reuse this set-up instead of a new one")
    parser.add_argument("--save-manifest", type=Path, help="write the set-up's manifest here")
    parser.add_argument("--pids", help="backend pids to watch (default: the port's listeners)")
    args = parser.parse_args(argv)
    if args.prod:
        from mi_portal.jobs.prod import ProdShape

        shape = ProdShape.from_env()
        os.environ.update(shape.app_env())
        args.url = args.url or f"http://localhost:{shape.port}"
    args.url = args.url or "http://localhost:3000"
    if args.manifest:
        manifest = Manifest.load(args.manifest)
    else:
        from bench import load_data

        if args.users > args.clinics * len(load_data.ROLES):
            parser.error(f"at most {len(load_data.ROLES)} users per clinic")
        print(f"set-up: {args.clinics} clinics x {args.cases_per_clinic} cases, ten staff each")
        manifest = load_data.create(args.clinics, args.cases_per_clinic)
    if args.save_manifest:
        manifest.save(args.save_manifest)
    port = urlsplit(args.url).port or 80
    pids = [int(p) for p in args.pids.split(",")] if args.pids else listening_pids(port)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    mix = ACTIONS
    if args.actions:
        wanted = {a.strip() for a in args.actions.split(",") if a.strip()} | {"noop"}
        unknown = wanted - {a for a, _ in ACTIONS}
        if unknown:
            parser.error(f"unknown actions: {', '.join(sorted(unknown))}")
        mix = tuple((a, w) for a, w in ACTIONS if a in wanted)
    ramp = args.ramp if args.ramp is not None else min(60.0, args.users * 0.3)
    print(
        f"load: {args.users} users of {len(manifest.clinics)} clinics against {args.url} for "
        f"{seconds:.0f} s (think {args.think} s, sign-ins over {ramp:.0f} s); backend pids {pids}",
        flush=True,
    )
    result = asyncio.run(
        run_load(
            args.url,
            manifest,
            users=args.users,
            seconds=seconds,
            think=args.think,
            ramp=ramp,
            pids=pids,
            mix=mix,
        )
    )
    text, _ = report(result, users=args.users, think=args.think)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
