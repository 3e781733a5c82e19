"""The real app in production mode, driven by Debian's Chromium through Playwright.

Run in its own pytest process (`make test-browser`): Reflex's build disturbs unit tests.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import loud_skip
from tests.oidc_provider import Provider, RunningProvider

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MI_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "assets" / "screenshots"
# Debian's Chromium as root, headless, with nothing of its own on the network.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Conftest hooks see every collected item: mark only the ones below this folder.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    env: dict[str, str]
    data_dir: Path
    idp: Provider

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "mi-portal"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout


class AppStartError(RuntimeError):
    """The app exited or did not answer in time; the message ends with its log."""


@contextmanager
def running_app(data: Path, *, cases_per_clinic: int = 7) -> Iterator[RunningApp]:
    """`mi-portal db upgrade`, `mi-portal seed`, then `reflex run --env prod` on a free port.

    Everything the app writes goes to ``data`` (its own MI_DATA_DIR). Also used by
    ``bench/pages.py``.
    """
    port = _free_port()
    bin_dirs = [str(ROOT / ".tools" / "node_modules" / ".bin"), str(Path(sys.executable).parent)]
    env = {
        **os.environ,
        "PATH": os.pathsep.join([*bin_dirs, os.environ.get("PATH", "")]),
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "MI_DATA_DIR": str(data),
        "MI_FRONTEND_ORIGIN": f"http://localhost:{port}",
        # Every browser of the suite comes from 127.0.0.1: one address for all the tests.
        "MI_RATE_LIMIT_FACTOR": "10",
    }
    for key in ("MI_DATABASE_URL", "MI_ADMIN_DATABASE_URL", "MI_STORAGE"):
        env.pop(key, None)
    # A real OpenID Connect provider on loopback, configured for one clinic.
    idp_runner = RunningProvider(Provider())
    idp = idp_runner.__enter__()
    proc: subprocess.Popen[bytes] | None = None
    try:
        idp.redirect_uris.add(f"http://localhost:{port}/api/auth/oidc/lakeside/callback")
        env.update(
            {
                "MI_OIDC_PROVIDERS": "lakeside",
                "MI_OIDC_LAKESIDE_LABEL": "Lakeside SSO",
                "MI_OIDC_LAKESIDE_ISSUER": idp.issuer,
                "MI_OIDC_LAKESIDE_CLIENT_ID": idp.client_id,
                "MI_OIDC_LAKESIDE_CLIENT_SECRET": idp.client_secret,
                "MI_OIDC_LAKESIDE_SCOPE": "lakeside-derm",
            }
        )
        app = RunningApp(url=f"http://localhost:{port}", env=env, data_dir=data, idp=idp)
        app.cli("db", "upgrade")
        app.cli("seed", "--cases-per-clinic", str(cases_per_clinic), "--quiet")
        log_path = data / "server.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "reflex"),
                    "run",
                    "--env",
                    "prod",
                    "--single-port",
                    "--frontend-port",
                    str(port),
                    "--backend-port",
                    str(port),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None:
                raise AppStartError(f"app exited early:\n{log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{app.url}/api/health", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        with urllib.request.urlopen(app.url + "/", timeout=5) as page:  # noqa: S310
                            if page.status == 200:
                                break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AppStartError(f"app did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(1)
        yield app
    finally:
        idp_runner.__exit__(None, None, None)
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app in production mode on a free port, seeded with the demo data."""
    try:
        with running_app(tmp_path_factory.mktemp("app")) as app:
            yield app
    except AppStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        loud_skip("browser tests", f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_server: RunningApp) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def save_screenshot(page, name: str, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Always to the test's folder; to the README's folder when MI_UPDATE_SCREENSHOTS=1."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("MI_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / f"{name}.png")
    return path


_USED_STEPS: dict[str, int] = {}


def sign_in(page, app: RunningApp, email: str) -> None:  # type: ignore[no-untyped-def]
    """Password, then the current TOTP code of the seeded demo user, as a person would."""
    import pyotp
    from playwright.sync_api import expect

    from mi_portal.jobs.seed import DEMO_PASSWORD, demo_totp_secret

    page.goto(app.url + "/signin")
    page.locator("#email").fill(email)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("#sign-in-submit").click()
    expect(page.locator("#code")).to_be_visible(timeout=20_000)
    totp = pyotp.TOTP(demo_totp_secret(email))
    # Each code is accepted once: if this user already used the current step, wait for the next.
    step = int(time.time()) // totp.interval
    if _USED_STEPS.get(email, -1) >= step:
        time.sleep(totp.interval - time.time() % totp.interval + 0.5)
    _USED_STEPS[email] = int(time.time()) // totp.interval
    page.locator("#code").fill(totp.now())
    page.locator("#code-submit").click()
    signed_in_or_refused = page.locator("#user-menu").or_(page.locator("#form-error"))
    expect(signed_in_or_refused.first).to_be_visible(timeout=20_000)
    if page.locator("#form-error").count():
        # Each code is accepted once: this user signed in earlier in the same 30 s window.
        time.sleep(totp.interval - time.time() % totp.interval + 1)
        _USED_STEPS[email] = int(time.time()) // totp.interval
        page.locator("#code").fill(totp.now())
        page.locator("#code-submit").click()
    expect(page.locator("#user-menu")).to_be_visible(timeout=20_000)
    # The prerendered header shows the menu before the page is live; the user's name arrives
    # only once it has hydrated, so a click on the menu from here on opens it.
    expect(page.locator("#user-menu")).to_contain_text(re.compile(r"\S"), timeout=20_000)
