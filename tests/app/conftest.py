"""Fixtures of the browser tests: the system Chromium driven by Playwright, a real ``ideogram-mcp http --offline``,
and a small MCP Apps host page (``host/``, built on ext-apps' AppBridge) connected to it.

What they need comes from outside Python: Chromium from the Debian packages (``apt-get install chromium``; never
a browser download) and the host page's bundle (``npm ci`` then ``npm run build`` in ``tests/app/host``; the
tests build it themselves when npm and the packages are there). ``.ci/apps.sh`` does both. Without them the
tests are skipped, saying why; under CI they fail.

Playwright's sync API drives the browser: the tests are plain functions, outside the anyio loop of the suite's
async tests (the sync API refuses to run inside a running event loop).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest
from playwright.sync_api import Browser, ConsoleMessage, FrameLocator, Page, sync_playwright

from .. import processes
from .pages import serving

HOST = Path(__file__).resolve().parent / "host"
BUNDLE = HOST / "dist"
SOURCES = ("host.ts", "sandbox.ts", "index.html", "sandbox.html", "package-lock.json")
CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which Playwright drives as it is (``executable_path``): no browser of Playwright's own."""
TOKEN = "gallery-token-27182818"
"""The browser's bearer token: a host reaches a remote server with one, as claude.ai does."""
WIDTH = 720
"""The width the host gives each view (``containerDimensions.width``), about a chat column's."""
TIMEOUT_MS = 20_000
"""How long Playwright waits for something the page should show before failing; only a broken page waits it out."""

Shot = Callable[[Page, str], Path]


def missing(what: str, fix: str) -> NoReturn:
    """Skip, saying what is missing and how to get it; under CI, where ``.ci/apps.sh`` provides it, fail."""
    processes.missing(what, fix, in_ci=".ci/apps.sh should have provided it")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium from the Debian packages, driven by Playwright, once per test module: Playwright's sync API
    keeps an event loop marked running in its thread while it is started, so it must stop before the next module,
    whose async tests anyio runs in that same thread."""
    if not CHROMIUM.is_file():
        missing(f"Chromium is not installed ({CHROMIUM})", "apt-get install chromium (or bash .ci/apps.sh)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The host page's folder (``host/dist``), built first when it is missing or older than its sources."""
    built = BUNDLE / "host.js"
    if not (HOST / "node_modules").is_dir():
        if not built.is_file():
            missing("the test host's npm packages are not installed", "cd tests/app/host && npm ci")
        return BUNDLE
    npm = shutil.which("npm")
    if npm is None:
        if not built.is_file():
            missing("npm is not installed, and the test host is not built", "install Node.js 20 or later")
        return BUNDLE
    # Test processes (xdist workers) may all find it stale at once: one builds, the others wait for it.
    HOST.joinpath(".build.lock").touch()
    with HOST.joinpath(".build.lock").open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        newest = max((HOST / name).stat().st_mtime for name in SOURCES)
        if not built.is_file() or built.stat().st_mtime < newest:
            done = subprocess.run([npm, "run", "--silent", "build"], cwd=HOST, capture_output=True, text=True)
            assert done.returncode == 0, f"npm run build in {HOST} failed:\n{done.stdout}{done.stderr}"
    return BUNDLE


@dataclass(frozen=True)
class Gallery:
    """A real ``ideogram-mcp http --offline`` (Runware emulated in it) for the browser to reach."""

    url: str
    token: str
    output: Path


@pytest.fixture
def gallery_server(tmp_path: Path) -> Iterator[Gallery]:
    """``ideogram-mcp http --offline`` on a free port, with a bearer token, its journal and images in the test's
    temporary folder; stopped after the test."""
    with processes.offline_http(tmp_path, TOKEN) as url:
        yield Gallery(url, TOKEN, tmp_path / "out")


@dataclass
class HostPage:
    """The test host in a browser tab, connected to the server: what a person sees in a chat with MCP Apps."""

    page: Page
    tools: list[dict[str, Any]]
    console: list[str] = field(default_factory=list[str])
    """What every frame wrote to the console but debug lines (the bridge's own echo of each message), and the page
    errors, as ``type: text``."""

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a tool as the model would; a tool with a UI opens a view of its own, which gets the input and the
        result. The tool's result, once the view has it."""
        return self.page.evaluate("([name, args]) => window.host.callTool(name, args)", [name, arguments])

    def view(self, number: int = 1) -> FrameLocator:
        """The inside of the view the ``number``-th call with a UI opened (the app's own document)."""
        return self.page.frame_locator(f"#app-{number}").frame_locator("iframe")

    def log(self, method: str | None = None) -> list[dict[str, Any]]:
        """What the views sent the host, in order: ``view``, ``at`` (ms since its call began), ``method``,
        ``params``, and for a request its ``id`` and the host's ``result`` or ``error``; only ``method``'s."""
        entries: list[dict[str, Any]] = self.page.evaluate("() => window.host.log")
        return [entry for entry in entries if method is None or entry["method"] == method]

    def settle(self, number: int = 1) -> None:
        """Wait until the view's frame is as tall as the view last asked (``ui/notifications/size-changed``)."""
        self.page.wait_for_function(
            """(number) => {
                const asked = window.host.log.filter((entry) => entry.view === number
                    && entry.method === "ui/notifications/size-changed" && entry.params?.height !== undefined);
                const frame = document.getElementById(`app-${number}`);
                return asked.length > 0 && frame.style.height === `${asked.at(-1).params.height}px`;
            }""",
            arg=number,
        )

    def blocked(self) -> list[str]:
        """What the views' CSP refused, from the console: a view needing more than its ``_meta.ui.csp`` declares
        (or a blob: image, which the spec's CSP does not allow) breaks in a host that enforces it."""
        return [line for line in self.console if "Content Security Policy" in line]

    def first_paint(self, number: int = 1) -> float | None:
        """Milliseconds from the call that opened the view to the view's first contentful paint, when Chromium
        reports one (the view's own clock starts with its frame, so both are taken as times since the epoch)."""
        painted = (
            self.view(number)
            .locator(":root")
            .evaluate(
                "() => { const [paint] = performance.getEntriesByName('first-contentful-paint');"
                " return paint ? performance.timeOrigin + paint.startTime : null; }"
            )
        )
        called: float = self.page.evaluate("(number) => window.host.calledAt(number)", number)
        return None if painted is None else painted - called


@pytest.fixture
def host_page(chromium: Browser, bundle: Path, gallery_server: Gallery) -> Iterator[HostPage]:
    """A tab with the test host loaded and connected to ``gallery_server`` (its tools listed)."""
    with serving(bundle, gallery_server.url) as site:
        context = chromium.new_context(viewport={"width": WIDTH + 80, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        console: list[str] = []

        def heard(message: ConsoleMessage) -> None:
            if message.type != "debug":  # the bridge's echo of each message it passes, which the log has
                console.append(f"{message.type}: {message.text}")

        page.on("console", heard)
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        try:
            page.goto(site.index)
            page.wait_for_function("() => window.host !== undefined")
            options = {"mcp": "/mcp", "sandbox": site.sandbox_page, "token": gallery_server.token, "width": WIDTH}
            page.evaluate("(options) => window.host.connect(options)", options)
            tools: list[dict[str, Any]] = page.evaluate("() => window.host.tools()")
            yield HostPage(page, tools, console)
        finally:
            context.close()


@pytest.fixture
def shot(tmp_path: Path) -> Shot:
    """``shot(page, name)``: a screenshot of the whole page, kept in the test's temporary folder as ``NN-name.png``
    in the order taken (CI keeps that folder as an artifact)."""
    taken: list[Path] = []

    def take(page: Page, name: str) -> Path:
        path = tmp_path / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)
        taken.append(path)
        return path

    return take
