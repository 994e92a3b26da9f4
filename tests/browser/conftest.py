"""A live SecondLook for the browser tests: `manage.py demo` (the embedded default: SQLite,
in-process tasks, the bundled model and photos, every stimulus really prepared) and its
server, which tests may stop and start again; and Debian's Chromium through Playwright."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.requirements import unavailable

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The demo's development server; stop() and start() keep the port and the data.
    start() returns once `ready_path` answers."""

    ready_path = "/s/demo-topk/"

    def __init__(self, env: dict, port: int):
        self.env, self.port, self.process = env, port, None
        self.base = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.base}{self.ready_path}", timeout=2)
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    raise AssertionError(f"the server did not start ({self.ready_path})") from None
                time.sleep(0.3)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)

    def manage(self, *args: str) -> str:
        """A management command against the same database (e.g. to read what was stored)."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """`manage.py demo` in a fresh data directory with no service configured, then its
    development server on a free port."""
    data = tmp_path_factory.mktemp("demo-data")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.embedded", "SECONDLOOK_DATA_DIR": str(data)})
    port = free_port()
    setup = subprocess.run(
        [sys.executable, "manage.py", "demo", "--no-serve", "--addrport", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert setup.returncode == 0, setup.stderr
    assert (data / "secondlook.sqlite3").exists()
    server = Server(env, port)
    server.start()
    password = (data / "demo-admin-password.txt").read_text().strip()
    yield {"base": server.base, "output": setup.stdout, "password": password, "server": server}
    server.stop()


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        unavailable(
            "SECONDLOOK_REQUIRE_BROWSER", "Debian's chromium is not installed (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def screenshot(page, name: str) -> Path:
    """A test artefact: artifacts/screenshots/<name>.png (ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page) -> list[dict]:
    """WCAG 2.1 A/AA violations axe-core finds on the page as it is now."""
    if not AXE.exists():
        unavailable("SECONDLOOK_REQUIRE_BROWSER", "axe-core is not installed (npm ci)")
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
            const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")),
            }));
        }"""
    )
