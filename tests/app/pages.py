"""The test host's two origins: its page, with the MCP server behind it at ``/mcp``, and its sandbox proxy.

The page reaches the MCP server on its own origin: ``ideogram-mcp http`` answers no CORS preflight (a web host's
page calls a remote server through its own back end, not from the browser), so ``/mcp`` here is passed on to the
server as it comes, streams included. The sandbox proxy is served from another port, another origin, as the MCP
Apps spec requires of a web host, with the CSP the spec asks a host to build from the view's ``_meta.ui.csp`` sent
as a header (as ext-apps' basic-host does): the view is written into the proxy's origin, so it runs under it.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlsplit

from ..processes import PATIENCE

TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "host"}
OWN = {"server", "date"}
"""Headers this server sends itself, not passed on from the MCP server's answer."""
UNSAFE_SOURCE = re.compile(r"[\s;,'\"]")
"""What a declared domain may not hold: it could close the directive or add a keyword such as 'unsafe-eval'."""


def content_security_policy(declared: Mapping[str, Sequence[str]] | None) -> str:
    """The CSP the MCP Apps spec (2026-01-26) asks of a host for a view: its restrictive default, opened only to the
    domains the resource declares in ``_meta.ui.csp`` (no 'unsafe-eval', no blob: as basic-host allows)."""

    def domains(key: str) -> list[str]:
        given = (declared or {}).get(key) or []
        return [d for d in given if isinstance(d, str) and d and not UNSAFE_SOURCE.search(d)]

    resources = domains("resourceDomains")
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'", "'unsafe-inline'", *resources],
        "style-src": ["'self'", "'unsafe-inline'", *resources],
        "img-src": ["'self'", "data:", *resources],
        "media-src": ["'self'", "data:", *resources],
        "font-src": resources or ["'none'"],
        "connect-src": domains("connectDomains") or ["'none'"],
        "frame-src": domains("frameDomains") or ["'none'"],
        "base-uri": domains("baseUriDomains") or ["'self'"],
        "object-src": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class Origin(ThreadingHTTPServer):
    """One origin on a loopback port: some files of the bundle, and either the MCP server at ``/mcp`` (the host
    page's origin) or the views' CSP on its pages (the sandbox's)."""

    daemon_threads = True

    def __init__(self, files: Mapping[str, Path], *, mcp: str | None = None, sandbox: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.mcp = urlsplit(mcp) if mcp else None
        self.sandbox = sandbox

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:  # the tests' output is the test's, not each request's
        pass

    def _answer(self) -> None:
        origin = cast(Origin, self.server)
        path = urlsplit(self.path).path
        if origin.mcp is not None and path == origin.mcp.path:
            self._forward(origin.mcp.netloc)
        elif self.command == "GET" and path in origin.files:
            self._file(origin, origin.files[path])
        else:
            self.send_error(404)

    def _file(self, origin: Origin, file: Path) -> None:
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", TYPES[file.suffix])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if origin.sandbox and file.suffix == ".html":
            declared = parse_qs(urlsplit(self.path).query).get("csp")
            csp = content_security_policy(json.loads(declared[0]) if declared else None)
            self.send_header("Content-Security-Policy", csp)
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, netloc: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP} | {"Host": netloc}
        upstream = http.client.HTTPConnection(netloc, timeout=PATIENCE)
        try:
            upstream.request(self.command, self.path, self.rfile.read(length) if length else None, headers)
            answer = upstream.getresponse()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP | OWN:
                    self.send_header(name, value)
            self.send_header("Connection", "close")  # an answer without a length (a stream) ends when this closes
            self.end_headers()
            while chunk := answer.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
        except (http.client.HTTPException, ConnectionError):
            pass  # the server stopped or the tab closed mid-stream: the stream ends here, as it would unproxied
        finally:
            upstream.close()


@dataclass(frozen=True)
class Site:
    """The test host's page and sandbox, each on its own origin."""

    page: Origin
    sandbox: Origin

    @property
    def index(self) -> str:
        return f"{self.page.url}/index.html"

    @property
    def sandbox_page(self) -> str:
        return f"{self.sandbox.url}/sandbox.html"


@contextmanager
def serving(bundle: Path, mcp: str) -> Iterator[Site]:
    """The host page of ``bundle`` (tests/app/host/dist) on one origin, with ``mcp`` behind it, and its sandbox
    proxy on another, while the block runs."""
    site = Site(
        page=Origin({"/index.html": bundle / "index.html", "/host.js": bundle / "host.js"}, mcp=mcp),
        sandbox=Origin({"/sandbox.html": bundle / "sandbox.html", "/sandbox.js": bundle / "sandbox.js"}, sandbox=True),
    )
    # Each checks for shutdown this often (the standard library's default, 0.5 s, is as long as a test's call).
    threads = [
        threading.Thread(target=origin.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for origin in (site.page, site.sandbox)
    ]
    for thread in threads:
        thread.start()
    try:
        yield site
    finally:
        for origin in (site.page, site.sandbox):
            origin.shutdown()
            origin.server_close()
        for thread in threads:
            thread.join(timeout=10)
