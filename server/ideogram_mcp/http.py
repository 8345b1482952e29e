"""Serving MCP over streamable HTTP: the SDK's stateless transport at ``/mcp``, behind authentication.

Stateless means no per-session state in a process: any request may go to any process, so several
processes behind any load balancer serve one client; what must outlive a request (tasks, spend,
images) is in the journal and on disk, which they share. Every request carries a bearer token:

- a static token (``IDEOGRAM_MCP_TOKENS`` or ``IDEOGRAM_MCP_TOKENS_FILE``), compared in constant time;
- or an OAuth 2.1 access token (a JWT) from ``IDEOGRAM_MCP_OAUTH_ISSUER``, checked against the
  issuer's published keys for signature, issuer, audience (``IDEOGRAM_MCP_PUBLIC_URL``) and expiry.
  The server then publishes its Protected Resource Metadata (RFC 9728) for clients to find the issuer.

Each token is an owner: its spending, its tasks and its saved images are its own.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import signal
from collections.abc import Sequence
from ipaddress import ip_address
from typing import Any, cast
from urllib.parse import urlsplit

import httpx2
from mcp.server.auth.middleware.bearer_auth import RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ideogram_mcp import __version__, logs
from ideogram_mcp.door import BrowsersLetIn, NoStandaloneStream
from ideogram_mcp.errors import ConfigurationError
from ideogram_mcp.issuer import JWTVerifier, owner_of
from ideogram_mcp.refusals import UnfitExplained
from ideogram_mcp.server import build_server, tune_collector
from ideogram_mcp.settings import ENV, Settings
from ideogram_mcp.stopping import Draining

logger = logs.logger(__name__)

PATH = "/mcp"


class StaticTokens(TokenVerifier):
    """Bearer tokens from the settings: each is its own owner. Compared in constant time, all of them each time."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = [token.encode() for token in tokens if token]

    async def verify_token(self, token: str) -> AccessToken | None:
        token = token.lstrip(" ")  # "Bearer  <token>": RFC 6750 allows more than one space, the SDK cuts one
        given = token.encode()
        matched = False
        for known in self._tokens:
            matched |= hmac.compare_digest(given, known)  # no early exit: the time says nothing
        if not matched:
            return None
        return AccessToken(token=token, client_id=owner_of(f"token:{token}"), scopes=[])


class _Either(TokenVerifier):
    """Static tokens beside an issuer's: a token the settings name (a service's, say) first, as one issued for this
    server (its resource), else the issuer's."""

    def __init__(self, static: StaticTokens, issued: JWTVerifier) -> None:
        self._static, self._issued = static, issued

    async def verify_token(self, token: str) -> AccessToken | None:
        if (named := await self._static.verify_token(token)) is not None:
            return named.model_copy(update={"resource": self._issued.audience})
        return await self._issued.verify_token(token)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    jwks_transport: httpx2.AsyncBaseTransport | None = None,
) -> Starlette:
    """The HTTP app: MCP at ``/mcp`` (stateless, SSE or JSON as the client asks), ``/healthz``, and, with
    OAuth, the Protected Resource Metadata. Raises ``ConfigurationError`` when it would be unsafe to serve.

    ``transport`` replaces the network to Runware, ``jwks_transport`` the one to the OAuth issuer (tests).
    """
    host = settings.http_host
    verifier, auth = _authentication(settings, host, jwks_transport)
    server = build_server(settings, transport=transport, shared=True)
    security = _transport_security(settings, host)
    app = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=False,
        transport_security=security,
        host=host,
        auth=auth,
        token_verifier=verifier,
        custom_starlette_routes=[Route("/healthz", _healthz, methods=["GET"])],
    )
    app.add_middleware(UnfitExplained)
    app.add_middleware(JsonForJsonClients)
    (endpoint,) = [route for route in app.routes if isinstance(route, Route) and route.path == PATH]
    if isinstance(endpoint.app, RequireAuthMiddleware):  # behind the token check: a GET without one is its 401
        endpoint.app.app = NoStandaloneStream(endpoint.app.app, security)
    else:
        endpoint.app = NoStandaloneStream(endpoint.app, security)
    # /mcp/ is the endpoint too: Starlette had redirected it first, before the token and Host checks, to the Host given.
    app.router.routes.append(Route(PATH + "/", endpoint=endpoint.app))
    app.router.redirect_slashes = False  # /healthz/ too had been redirected to whatever Host the request named
    if settings.oauth_issuer is not None:
        app.add_middleware(IssuerAsGiven, issuer=settings.oauth_issuer)
    app.add_middleware(BrowsersLetIn, security=security)  # a preflight is answered before any check
    # A call's wait, the saving's grace after it, and a margin for its answer.
    app.add_middleware(Draining, most=settings.wait_seconds + 15.0)
    return app


class IssuerAsGiven:
    """The Protected Resource Metadata names the authorization server exactly as the settings give it. The SDK writes
    it as pydantic's ``AnyHttpUrl`` renders it, which adds "/" to a bare host (``https://auth.example.com/``), and
    strict clients (the TypeScript SDK's v2, per RFC 8414 section 3.3) refuse an issuer whose own metadata spells it
    otherwise, as Okta's, Google's and most others' do."""

    def __init__(self, app: ASGIApp, issuer: str) -> None:
        self.app, self.issuer = app, issuer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not scope["path"].startswith(_METADATA):
            await self.app(scope, receive, send)
            return
        started, answer = await _collected(self.app, {**scope, "method": "GET"}, receive)  # HEAD: GET's headers
        try:
            metadata = json.loads(answer)
        except ValueError:
            metadata = None
        if isinstance(metadata, dict) and "authorization_servers" in metadata:
            answer = json.dumps(cast(dict[str, Any], metadata) | {"authorization_servers": [self.issuer]}).encode()
        headers = [(k, v) for k, v in started.get("headers", []) if k != b"content-length"]
        await send({**started, "headers": [*headers, (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer if scope["method"] == "GET" else b""})


async def _collected(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[dict[str, Any], bytes]:
    """The answer ``app`` gives, whole: its start message and its body (for a middleware that answers otherwise)."""
    started: dict[str, Any] = {}
    body = bytearray()

    async def collect(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, collect)
    return started, bytes(body)


_METADATA = "/.well-known/oauth-protected-resource"
"""Where the Protected Resource Metadata is served (RFC 9728), followed by the resource's path."""


class JsonForJsonClients:
    """Answers a POST that accepts only JSON with the JSON-RPC response alone, as one JSON body.

    The transport answers with an SSE stream, which carries progress events before the response; a
    client that asks for ``application/json`` only gets the response without them. A ``subscriptions/listen`` (named
    in its ``Mcp-Method`` header) is passed on as it came: its answer is a stream that never ends, so the transport's
    own refusal (406) is what such a client must get, not a wait for a last response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        said = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        accept = said.get(b"accept", b"").decode().lower()
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or "application/json" not in accept
            or "text/event-stream" in accept
            or said.get(b"mcp-method", b"").strip() == b"subscriptions/listen"
        ):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"accept"] + [
            (b"accept", b"application/json, text/event-stream")
        ]
        started, body = await _collected(self.app, {**scope, "headers": headers}, receive)
        content_type = dict(started.get("headers") or []).get(b"content-type", b"")
        if not content_type.startswith(b"text/event-stream"):
            await send(started)  # an error, an accepted notification: already not a stream
            await send({"type": "http.response.body", "body": body})
            return
        answer = _last_response(body)
        await send(
            {
                "type": "http.response.start",
                "status": started.get("status", 200),
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def _last_response(stream: bytes) -> bytes:
    """The JSON-RPC response (the message with an id and a result or an error) of an SSE stream."""
    found = b""
    for event in stream.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = b"\n".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if data and b'"id"' in data and (b'"result"' in data or b'"error"' in data):
            found = data
    return found


_COMMENT = re.compile(r"(?:^|\s)#")
"""Where a comment starts on a line of the tokens file: at its start, or at a # after a space (a # inside a token is
the token's, never a cut that would leave a shorter token accepted)."""


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


def _authentication(
    settings: Settings, host: str, jwks_transport: httpx2.AsyncBaseTransport | None
) -> tuple[TokenVerifier | None, AuthSettings | None]:
    tokens = list(settings.tokens)
    if settings.tokens_file is not None:
        try:
            lines = settings.tokens_file.read_text(encoding="utf-8-sig").splitlines()  # as Notepad saves it too
        except OSError as exc:
            raise ConfigurationError(f"{ENV.tokens_file} cannot be read: {exc}") from exc
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"{ENV.tokens_file} names {settings.tokens_file}, which is not UTF-8 text (UTF-16, say): save it as "
                "UTF-8, one token a line"
            ) from None
        tokens += [token for line in lines if (token := _COMMENT.split(line, maxsplit=1)[0].strip())]
        if not tokens and settings.oauth_issuer is None:  # every token revoked: never taken for "no authentication"
            raise ConfigurationError(
                f"{ENV.tokens_file} names {settings.tokens_file}, which holds no token (blank or comments only); "
                "add one token a line, or unset it to serve this machine alone without authentication"
            )
    if settings.oauth_issuer is not None:
        if settings.public_url is None:
            raise ConfigurationError(
                f"{ENV.oauth_issuer} needs {ENV.public_url}: the server's public URL, which tokens "
                "must be issued for (their audience), e.g. https://images.example.com/mcp"
            )
        audience = settings.public_url.rstrip("/")
        auth = AuthSettings(
            issuer_url=AnyHttpUrl(settings.oauth_issuer),
            resource_server_url=AnyHttpUrl(audience),
            validate_token_resource=True,
        )
        verifier = JWTVerifier(settings.oauth_issuer, audience, transport=jwks_transport)
        return (_Either(StaticTokens(tokens), verifier) if tokens else verifier), auth
    if tokens:
        # The SDK's auth seam needs an issuer even for static tokens; with no resource URL none is published.
        auth = AuthSettings(issuer_url=AnyHttpUrl(f"http://{bracketed(host)}"), resource_server_url=None)
        return StaticTokens(tokens), auth
    if not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve on {host} with no authentication: set {ENV.tokens} (or "
            f"{ENV.tokens_file}, or {ENV.oauth_issuer} with {ENV.public_url}), or use a "
            "loopback host such as 127.0.0.1"
        )
    logger.warning("serving on %s without authentication: only this machine can reach it", host)
    return None, None


def _wire_forms(hostname: str) -> list[str]:
    """A host name as written and as clients send it: ``bücher.example`` and ``xn--bcher-kva.example``;
    ``2001:db8:0:0::1`` and ``2001:db8::1``. A name IDNA 2003 and 2008 write differently (``faß.example``) in both:
    browsers and httpx write 2008's (UTS 46), Python's own codec 2003's."""
    import httpx2

    forms = [hostname]
    try:
        forms.append(ip_address(hostname).compressed)
    except ValueError:
        with contextlib.suppress(UnicodeError):
            forms.append(hostname.encode("idna").decode("ascii"))
        with contextlib.suppress(httpx2.InvalidURL, UnicodeError):
            forms.append(httpx2.URL(f"http://{hostname}/").raw_host.decode("ascii"))
    return list(dict.fromkeys(forms))


def bracketed(host: str) -> str:
    """A host as URLs and Host headers write it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _transport_security(settings: Settings, host: str) -> TransportSecuritySettings:
    """DNS-rebinding protection: only these Host and Origin values are answered."""
    # Each name with any port and with none: a Host header leaves out the scheme's own port (a server on port 80,
    # or behind a proxy that keeps the name), and such a request had been refused with 421.
    local = ["127.0.0.1", "localhost", "[::1]"]
    names = list(local)
    every_address = host in ("0.0.0.0", "::")
    if not is_loopback(host) and not every_address:
        names.append(bracketed(host))
    origins = [f"http://{name}{port}" for name in local for port in (":*", "")]
    extra: list[str] = []
    if settings.public_url is not None:
        public = urlsplit(settings.public_url)
        extra.append(public.netloc)
        origins.append(f"{public.scheme}://{public.netloc}")
        # A browser's Origin leaves out the scheme's own port, whether the URL names it or not.
        default = {"https": 443, "http": 80}.get(public.scheme)
        # As clients write it: the host in lower case (hostname is), a Unicode name in IDNA, an IPv6 address in its
        # short form; no user info; the port where it is not the scheme's own (another port is another origin).
        for named in dict.fromkeys(bracketed(form) for form in _wire_forms(public.hostname or "")):
            names.append(named)
            if default is not None and public.port in (None, default):
                origins += [f"{public.scheme}://{named}", f"{public.scheme}://{named}:{default}"]
            else:
                origins.append(f"{public.scheme}://{named}:{public.port}")
    hosts = [f"{name}{port}" for name in names for port in (":*", "")] + extra
    hosts += list(settings.allowed_hosts)
    origins += list(settings.allowed_origins)
    if every_address and settings.public_url is None and not settings.allowed_hosts:
        logger.warning(
            "serving on every address (%s), but only this machine's own names are answered: a request from another "
            "machine gets 421 Invalid Host header. Set %s to the URL clients use, or %s to the names they reach it by",
            host,
            ENV.public_url,
            ENV.allowed_hosts,
        )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


def app() -> Starlette:
    """The app for ``uvicorn --factory`` and for each worker of ``ideogram-mcp http --workers N``: its settings
    come from the environment, as ``ideogram-mcp http`` leaves them for its workers."""
    return create_app(Settings())


def worker_app() -> Starlette:
    """``app`` for a worker of ``ideogram-mcp http --workers N``: it logs as the command does, leaves Ctrl-C to the
    supervisor, which stops it (so one Ctrl-C prints one line, not one per worker), and sets the garbage collector for
    serving (``server.tune_collector``)."""
    from ideogram_mcp.logs import configure_logging

    settings = Settings()
    configure_logging(settings)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    app = create_app(settings)
    tune_collector()
    return app
