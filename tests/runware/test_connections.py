"""The client of every outgoing request: httpx2's as it builds it (the environment's proxies too), its connections
keeping their socket, and an idle connection its server closed still never reused."""

from __future__ import annotations

import asyncio
import datetime
import importlib.util
import os
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpcore2
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ideogram_mcp.errors import ConfigurationError
from ideogram_mcp.runware import connections

pytestmark = pytest.mark.anyio

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


@asynccontextmanager
async def server(*, close_after_answer: bool) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback HTTP/1.1 server answering every GET with ``ok``; with ``close_after_answer`` it closes each
    connection right after its first answer, as a server whose keep-alive ran out does (without saying so). Yields
    its URL and how many connections it took."""
    taken: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        taken.append(1)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(ANSWER)
                await writer.drain()
                if close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/", taken
    finally:
        listening.close()
        await listening.wait_closed()


async def test_requests_go_through_streams_that_keep_their_socket() -> None:
    async with server(close_after_answer=False) as (url, taken), connections.client() as http:
        first = await http.get(url)
        stream = first.extensions["network_stream"]
        assert isinstance(stream, connections.Stream)  # httpx2 still builds its pool so that ours can be set on it
        assert stream.get_extra_info("socket").fileno() >= 0
        assert stream.get_extra_info("is_readable") is False  # idle, open: usable
        second = await http.get(url)
    assert (first.text, second.text, len(taken)) == ("ok", "ok", 1)  # the one connection, kept alive and reused


def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable set (any case, ``NO_PROXY`` too), whatever the machine running the tests has."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


def _no_certificate_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither ``SSL_CERT_FILE`` nor ``SSL_CERT_DIR`` set: the system's certificate authorities."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)


async def test_a_proxy_the_environment_names_is_used_and_its_connections_made_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Behind a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) images and Runware are reached through it, as httpx2 does.
    async with server(close_after_answer=False) as (proxy, taken):
        _no_proxies(monkeypatch)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        async with connections.client() as http:
            answer = await http.get("http://images.runware.invalid/a.jpg")  # no such host: only the proxy answers
        assert (answer.text, len(taken)) == ("ok", 1)
        assert isinstance(answer.extensions["network_stream"], connections.Stream)
        given = httpx2.MockTransport(lambda request: httpx2.Response(204))
        async with connections.client(transport=given) as http:  # a transport given is used as it is: no proxy
            assert (await http.get("http://images.runware.invalid/a.jpg")).status_code == 204


@pytest.mark.parametrize("told", [True, False], ids=["told closed", "never told"])
async def test_an_idle_connection_its_server_closed_is_not_used_again(
    told: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool asks each idle connection whether it may still be used; a wrong answer reuses a dead one.
    if not told:
        monkeypatch.setattr(connections, "readable", lambda _: False)
    async with (
        server(close_after_answer=True) as (url, taken),
        connections.client() as http,
    ):
        assert (await http.get(url)).text == "ok"
        await asyncio.sleep(0.1)  # the server has closed that connection by now
        if told:
            assert (await http.get(url)).text == "ok"
            assert len(taken) == 2
        else:
            with pytest.raises(httpx2.RemoteProtocolError):
                await http.get(url)


def test_a_socket_is_readable_once_its_peer_wrote_or_closed_and_a_missing_one_always() -> None:
    mine, theirs = socket.socketpair()
    with mine, theirs:
        assert not connections.readable(mine)
        theirs.sendall(b"x")
        assert connections.readable(mine)
        mine.recv(1)
        theirs.close()
        assert connections.readable(mine)
    assert connections.readable(mine)  # closed: no descriptor
    assert connections.readable(None)


class _Fake(httpcore2.AsyncNetworkStream):
    def __init__(self, sock: socket.socket, info: dict[str, Any]) -> None:
        self.sock, self.info, self.secured_with = sock, info, None

    def get_extra_info(self, info: str) -> Any:
        return self.sock if info == "socket" else self.info.get(info)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's interface
    ) -> httpcore2.AsyncNetworkStream:
        return _Fake(self.sock, {"ssl_object": server_hostname})


async def test_a_stream_secured_with_tls_keeps_its_socket_and_says_the_rest_as_its_own() -> None:
    mine, theirs = socket.socketpair()
    with mine, theirs:
        plain = connections.Stream(_Fake(mine, {"server_addr": ("127.0.0.1", 443)}))
        secured = await plain.start_tls(ssl.create_default_context(), "im.runware.ai")
        assert isinstance(secured, connections.Stream)
        assert secured.get_extra_info("socket") is mine
        assert secured.get_extra_info("ssl_object") == "im.runware.ai"
        assert plain.get_extra_info("server_addr") == ("127.0.0.1", 443)
        assert secured.get_extra_info("is_readable") is False


async def test_a_unix_socket_connection_is_a_stream_that_keeps_its_socket(tmp_path: Path) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()

    path = str(tmp_path / "s")
    listening = await asyncio.start_unix_server(echo, path)
    backend = connections.Backend()
    try:
        stream = await backend.connect_unix_socket(path, timeout=5)
        assert isinstance(stream, connections.Stream)
        await stream.write(b"ping", timeout=5)
        assert await stream.read(4, timeout=5) == b"ping"
        await backend.sleep(0)
        await stream.aclose()
    finally:
        listening.close()
        await listening.wait_closed()


def _tls_of(made: httpx2.AsyncClient) -> ssl.SSLContext:
    """The TLS context a client's direct pool connects with."""
    pool = getattr(made, "_transport")._pool  # noqa: B009 - httpx2 keeps its transport private
    return pool._ssl_context


def _names(context: ssl.SSLContext) -> list[str]:
    """The common names of the certificate authorities a TLS context trusts."""
    found: list[str] = []
    for der in context.get_ca_certs(binary_form=True):
        subject = x509.load_der_x509_certificate(der).subject
        found += [str(attribute.value) for attribute in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return found


def _authority(folder: Path, name: str, *, key_file: Path | None = None) -> Path:
    """A PEM file holding one self-signed certificate authority called ``name`` (its key written to ``key_file``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    if key_file is not None:
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{name}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


async def test_the_clients_share_one_tls_context_and_one_given_its_own_keeps_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_certificate_settings(monkeypatch)
    own = ssl.create_default_context()
    async with (
        connections.client() as api,
        connections.client(timeout=5.0) as images,
        connections.client(verify=own) as given,
    ):
        assert _tls_of(api) is _tls_of(images) is connections.tls_context()  # read once, not for each client
        assert _tls_of(given) is own
        assert _tls_of(api).verify_mode == ssl.CERT_REQUIRED
        assert _tls_of(api).check_hostname
    # Each connection sets the context's ALPN protocols from these two, so no two settings of them share one.
    settings = [connections.tls_context(http1=h1, http2=h2) for h1 in (True, False) for h2 in (True, False)]
    assert len({id(context) for context in settings}) == 4


async def test_a_client_with_a_certificate_of_its_own_does_not_put_it_in_the_shared_context(tmp_path: Path) -> None:
    key_file = tmp_path / "client.key"
    certificate = _authority(tmp_path, "client", key_file=key_file)
    with pytest.warns(DeprecationWarning, match="cert"):  # httpx2's word for loading it into the context it is given
        made = connections.client(cert=(str(certificate), str(key_file)))
    async with made:
        assert _tls_of(made) is not connections.tls_context()
    async with connections.client() as plain:  # and the shared one was never handed to it, so holds no certificate
        assert _tls_of(plain) is connections.tls_context()


async def test_the_certificate_authorities_the_environment_names_are_the_ones_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for name in ("first-ca", "second-ca"):  # each file its own context, as httpx2 would make it afresh
        monkeypatch.setenv("SSL_CERT_FILE", str(_authority(tmp_path, name)))
        async with connections.client() as made:
            trusted = _names(_tls_of(made))
        assert trusted == [name]
    ours = _tls_of(made).get_ca_certs(binary_form=True)
    assert ours[0] not in connections.tls_context(trust_env=False).get_ca_certs(binary_form=True)  # the system's


@pytest.mark.parametrize("what", ["missing", "not a certificate"])
def test_certificate_authorities_that_cannot_be_read_are_a_configuration_error_naming_the_setting(
    what: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_certificate_settings(monkeypatch)
    named = tmp_path / "authorities.pem"
    if what == "not a certificate":
        named.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(named))
    with pytest.raises(
        ConfigurationError, match=r"^SSL_CERT_FILE names .*, which cannot be read as certificate"
    ) as raised:
        connections.client()
    assert str(raised.value).endswith("point it at a PEM file of them, or unset it to use the system's.")


@pytest.mark.parametrize("what", ["no folder", "an empty folder", "a folder of PEM files not named by their hash"])
def test_a_certificate_folder_openssl_would_find_nothing_in_is_a_configuration_error_naming_the_setting(
    what: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """OpenSSL takes any folder, and looks a certificate up in it by the hash of its issuer's name: without files so
    named, every handshake would fail as a connection error, after the task was recorded."""
    _no_certificate_settings(monkeypatch)
    folder = tmp_path / "authorities"
    if what != "no folder":
        folder.mkdir()
    if what.startswith("a folder of"):
        _authority(folder, "first-ca").rename(folder / "first-ca.pem")
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    with pytest.raises(
        ConfigurationError, match=r"^SSL_CERT_DIR names .*, which cannot be read as certificate"
    ) as raised:
        connections.client()
    assert str(raised.value).endswith(
        "point it at a folder of them, named as `openssl rehash` names them, or unset it to use the system's."
    )


def test_a_certificate_folder_with_hashed_names_is_taken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_certificate_settings(monkeypatch)
    folder = tmp_path / "authorities"
    folder.mkdir()
    (folder / "README").write_text("made by openssl rehash")
    _authority(folder, "first-ca").rename(folder / "0a1b2c3d.0")  # OpenSSL reads it only when it looks one up
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    made = connections.client()
    assert _tls_of(made) is connections.tls_context()
    assert _tls_of(made) is not connections.tls_context(trust_env=False)  # its own, not the system's


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("HTTPS_PROXY", "http://alice:pa/ss-hunter2@proxy.example:8080"),  # httpx2 reads "pa" as the port
        ("https_proxy", "http://alice:hunter2@proxy.example:port"),  # the lower-case name, as it was set
        ("ALL_PROXY", "http://alice:pa#ss-hunter2@proxy.example:8080"),
    ],
)
def test_a_proxy_the_environment_names_that_cannot_be_used_is_named_as_set_with_the_fix_and_nothing_of_its_url(
    variable: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_proxies(monkeypatch)
    monkeypatch.setenv(variable, url)
    with pytest.raises(ConfigurationError) as raised:
        connections.client()
    assert str(raised.value) == (
        f"The proxy {variable} names cannot be used (InvalidURL): write it as http://host:port, or"
        " http://user:password@host:port with any / ? # @ : in the password written %2F %3F %23 %40 %3A, or unset it."
    )


def test_a_socks_proxy_without_socksio_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("socksio") is not None:
        pytest.skip("socksio is installed here, so a SOCKS proxy can be used")
    _no_proxies(monkeypatch)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(ConfigurationError, match=r"^The proxy ALL_PROXY names cannot be used \(ImportError\): a SOCKS"):
        connections.client()


def test_an_error_of_the_callers_own_is_raised_as_it_is_even_with_a_proxy_set(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_proxies(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:8080")  # a proxy httpx2 can use
    with pytest.raises(httpx2.InvalidURL):
        connections.client(base_url="http://host:port")


def test_a_system_store_that_cannot_be_read_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_certificate_settings(monkeypatch)

    def unreadable(**_: object) -> ssl.SSLContext:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(httpx2, "create_ssl_context", unreadable)
    connections._made_tls_context.cache_clear()  # pyright: ignore[reportPrivateUsage]
    try:
        with pytest.raises(ConfigurationError, match=r"^The system's certificate authorities cannot be read \("):
            connections.tls_context()
    finally:
        connections._made_tls_context.cache_clear()  # pyright: ignore[reportPrivateUsage]
