"""The HTTP client of every request this server makes (Runware's API, the image URLs it gives): httpx2's own, as
httpx2 builds it (the environment's proxies and certificates honoured), with pools whose look at their idle
connections is cheap, and one TLS context a process.

httpx2 builds a TLS context for each client, reading the system's certificate authorities each time: ~20 ms, on the
event loop, at a server's first call (Runware's client) and again at its first download. The clients made here share
one, made once (``tls_context``) as httpx2 makes it; a server for many clients makes it at its start.

Before each request and after each response, httpcore2's pool asks every idle connection whether its server closed
it. To answer, anyio's socket stream gives up its socket by building a map of all its attributes, calling
``getpeername`` on the way: ~35 us a connection, each time; ~0.25 ms of CPU a download with 20 connections idle in
the pool (``benchmarks/downloads.py``). The streams here take their socket once, when they connect, and ask it the
same question httpcore2 does.
"""

# ruff: noqa: ASYNC109  (the ``timeout`` arguments are httpcore2's network interface, passed on as they come)

from __future__ import annotations

import functools
import os
import re
import select
import ssl
import sys
from collections.abc import Iterable
from typing import Any, Protocol, cast

import httpcore2
import httpx2

from ideogram_mcp.errors import ConfigurationError

_HASHED = re.compile(r"[0-9a-fA-F]{8}\.\d+")
"""How OpenSSL names each certificate in a folder it looks them up in (the subject's hash, a number); httpcore2
checks the system's folder for such names the same way."""


def client(**options: Any) -> httpx2.AsyncClient:
    """``httpx2.AsyncClient(**options)``, each of its pools (the direct one and those of proxies the environment
    names) making its connections here, with the process's TLS context unless ``options`` give one (``verify``) or a
    client certificate (``cert``, which httpx2 loads into the context it is given). A transport given in ``options``
    (the emulator's, a test's) is left as it is, and needs no TLS context made.
    """
    if not {"verify", "cert"} & options.keys() and options.get("transport") is None:  # a client certificate: its own
        options["verify"] = tls_context(
            trust_env=bool(options.get("trust_env", True)),
            http1=bool(options.get("http1", True)),
            http2=bool(options.get("http2", False)),
        )
    try:
        made = httpx2.AsyncClient(**options)
    except (httpx2.InvalidURL, ValueError, ImportError) as exc:  # ImportError: a SOCKS proxy without socksio
        if _fine_without_the_environment(options):
            raise ConfigurationError(_unusable_proxy(exc)) from exc
        raise
    # httpx2 builds its pools itself and takes no network backend; httpcore2's pools do (their public argument), so
    # it is set on the pools made. Were either to change, the client stays httpx2's as it is, and
    # tests/runware/test_connections.py fails to say so.
    transports = [getattr(made, "_transport", None), *getattr(made, "_mounts", {}).values()]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if isinstance(pool, httpcore2.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
            pool._network_backend = Backend()  # pyright: ignore[reportPrivateUsage]
    return made


def proxy_for(url: str) -> tuple[str, str]:
    """The environment's variable naming the proxy a request to ``url`` goes through, and the proxy's address
    without its user part (a password may be in it); empty strings where it goes direct. Worked out as httpx2 picks
    the proxy its client mounts for a URL (its reading of ``NO_PROXY``: wildcards, address ranges), from its own
    helpers: a newer httpx2 without them fails tests/runware/test_client.py, and no request goes any other way."""
    from httpx2._utils import URLPattern, get_environment_proxies  # pyright: ignore[reportPrivateUsage]

    mounts = sorted((URLPattern(key), key, proxy) for key, proxy in get_environment_proxies().items())
    target = httpx2.URL(url)
    for pattern, key, proxy in mounts:
        if pattern.matches(target):
            if proxy is None:  # NO_PROXY names it
                return "", ""
            wanted = f"{key.partition('://')[0]}_proxy"
            variable = next((v for v in os.environ if v.lower() == wanted), wanted.upper())
            return variable, httpx2.URL(proxy).copy_with(username=None, password=None).netloc.decode()
    return "", ""


def _fine_without_the_environment(options: dict[str, Any]) -> bool:
    """Whether the client httpx2 could not make is made when it reads nothing from the environment: then what the
    environment names (its proxies; the TLS context is given) is at fault, and nothing else of ``options``."""
    if not options.get("trust_env", True):
        return False
    without: dict[str, Any] = {**options, "trust_env": False}
    try:
        httpx2.AsyncClient(**without)  # it connects nothing until asked: dropping it is enough
    except (httpx2.InvalidURL, ValueError, ImportError):
        return False
    return True


PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")
"""The variables httpx2 takes proxies from (any case; the lower-case one first where both are set)."""


def _unusable_proxy(exc: BaseException) -> str:
    """What to say of a proxy the environment names that httpx2 cannot use: the variables set, by the names they were
    set under, and the fix; never the proxy's address, nor httpx2's words about it, which may quote part of a
    password that was not written as a URL takes it."""
    named = sorted(name for name in os.environ if name.upper() in PROXY_VARIABLES and os.environ[name])
    subject = f"The proxy {' or '.join(named)} names" if named else "The system's proxy settings"
    if isinstance(exc, ImportError):
        fix = "a SOCKS proxy needs the socksio package in this server's environment; name an HTTP proxy instead"
    else:
        fix = "write it as http://host:port, or http://user:password@host:port with any / ? # @ : in the password"
        fix += " written %2F %3F %23 %40 %3A"
    return f"{subject} cannot be used ({type(exc).__name__}): {fix}, or unset it."


def tls_context(*, trust_env: bool = True, http1: bool = True, http2: bool = False) -> ssl.SSLContext:
    """The TLS context httpx2 would make for a client (with ``trust_env``, from ``SSL_CERT_FILE`` or ``SSL_CERT_DIR``
    where set), made once a process for each such setting and shared by every client that has it: the certificate
    authorities are read once, so a store updated in place is read at the next start. Each connection sets the
    context's ALPN protocols from its client's ``http1`` and ``http2``, so clients that differ there share none.
    Raises ``ConfigurationError`` naming the setting to mend when the authorities cannot be read."""
    cafile, capath = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if trust_env else (None, None)
    try:
        return _made_tls_context(trust_env, http1, http2, cafile, capath)
    except OSError as exc:  # ssl.SSLError is one: a file that is no PEM of certificates
        named = f"SSL_CERT_FILE names {cafile}" if cafile else f"SSL_CERT_DIR names {capath}" if capath else None
        if named is None:
            raise ConfigurationError(
                f"The system's certificate authorities cannot be read ({exc}), so no HTTPS connection can be made:"
                " install them (Debian's ca-certificates), or set SSL_CERT_FILE to a PEM file of them."
            ) from exc
        fix = "a PEM file of them" if cafile else "a folder of them, named as `openssl rehash` names them"
        raise ConfigurationError(
            f"{named}, which cannot be read as certificate authorities ({exc}): point it at {fix},"
            " or unset it to use the system's."
        ) from exc


@functools.cache
def _made_tls_context(
    trust_env: bool, http1: bool, http2: bool, cafile: str | None, capath: str | None
) -> ssl.SSLContext:
    """One TLS context for each setting; ``http1``, ``http2``, ``cafile`` and ``capath`` only tell the settings apart
    (httpx2 reads the last two from the environment itself). A folder that is not there, or holds no certificate
    under the hashed names OpenSSL looks them up by, is refused here, once: OpenSSL takes it, and every handshake
    then fails ("unable to get local issuer certificate")."""
    if capath and not cafile:
        if not os.path.isdir(capath):
            raise NotADirectoryError(f"no folder at {capath}")
        if not any(_HASHED.fullmatch(name) for name in os.listdir(capath)):
            raise FileNotFoundError(f"no file in {capath} is named like 1a2b3c4d.0")
    return httpx2.create_ssl_context(trust_env=trust_env)


class Backend(httpcore2.AsyncNetworkBackend):
    """httpcore2's anyio backend, its streams keeping their socket."""

    def __init__(self) -> None:
        # httpcore2 declares a stand-in class of that name for when anyio is missing; the type checker sees that one.
        self._backend = cast(httpcore2.AsyncNetworkBackend, httpcore2.AnyIOBackend())

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class Stream(httpcore2.AsyncNetworkStream):
    """A connection's stream that took its socket once; everything else is the stream's own."""

    def __init__(self, stream: httpcore2.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: Descriptor | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        return Stream(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "socket":
            return self._socket
        if info == "is_readable":
            return readable(self._socket)
        return self._stream.get_extra_info(info)


class Descriptor(Protocol):
    """A socket as httpcore2's streams give it (asyncio's ``TransportSocket``, a ``socket.socket``)."""

    def fileno(self) -> int: ...


def readable(sock: Descriptor | None) -> bool:
    """Whether reading the socket would return at once: for an idle connection, that its server closed it (or sent
    what it should not have). A socket that is gone counts as readable, as httpcore2 counts it."""
    descriptor = -1 if sock is None else sock.fileno()
    if descriptor < 0:
        return True
    if sys.platform == "win32" or not hasattr(select, "poll"):  # pragma: no cover - Windows has no poll
        ready, _, _ = select.select([descriptor], [], [], 0)
        return bool(ready)
    poller = select.poll()
    poller.register(descriptor, select.POLLIN)
    return bool(poller.poll(0))
