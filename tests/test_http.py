"""MCP over streamable HTTP: tokens and JWTs, DNS-rebinding protection, one owner's images and spend
kept from another's, and one client served by two processes in turn."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
import mcp_types as types
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourcesListChanged

from ideogram_mcp import door, http, notices
from ideogram_mcp.clock import ManualClock
from ideogram_mcp.embedded import serving
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.errors import ConfigurationError
from ideogram_mcp.issuer import ISSUER_MOST, JWKS_REFETCH, JWKS_TTL, JWTVerifier
from ideogram_mcp.runware import connections
from ideogram_mcp.server import YOUNG_COLLECTION_AFTER
from ideogram_mcp.settings import Settings

from .conftest import API_KEY, error_of, text
from .conftest import structured as data
from .processes import Running, clean_env, free_port

pytestmark = pytest.mark.anyio

TOKENS = ("token-alice-0123456789", "token-bob-9876543210")
ISSUER = "https://auth.example.test"
PUBLIC = "https://images.example.test/mcp"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
STATE_KEY = "7c1f" * 16
"""The key ring the two processes share, so that a question one asks may be answered through the other."""


@asynccontextmanager
async def served(settings: Settings, emulator: Emulator, **options: Any) -> AsyncIterator[str]:
    """The HTTP app on a loopback port, its Runware the emulator; yields the MCP URL."""
    app = http.create_app(settings, transport=httpx2.ASGITransport(emulator.app()), **options)
    async with serving(app, lifespan=True) as root:
        yield root + http.PATH


@asynccontextmanager
async def connect(url: str, token: str | None) -> AsyncIterator[Client]:
    """An MCP client over HTTP with this token; the HTTP client it was given is the caller's to close."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http_client,
        Client(streamable_http_client(url, http_client=http_client)) as client,
    ):
        yield client


@pytest.fixture
def with_tokens(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(output_dir=tmp_path / "out", tokens=TOKENS)


async def test_without_a_valid_token_every_request_is_refused(with_tokens: Settings, emulator: Emulator) -> None:
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient() as raw:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKENS[0]}"}):
            answer = await raw.post(url, json=INIT, headers=ACCEPT | headers)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
        ok = await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"})
        health = await raw.get(url.removesuffix(http.PATH) + "/healthz")
    assert ok.status_code == 200
    assert health.json() == {"status": "ok", "version": "0.1.0"}
    assert emulator.requests == []


async def test_no_path_is_redirected_to_the_host_a_request_gives(with_tokens: Settings, emulator: Emulator) -> None:
    # Starlette redirected /healthz/ to /healthz at the Host header given, unchecked: a cache in front could keep a
    # redirect to another host for everyone.
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient() as raw:
        root = url.removesuffix(http.PATH)
        slashed = await raw.get(root + "/healthz/", headers={"Host": "evil.example"})
        health = await raw.get(root + "/healthz")
    assert (slashed.status_code, slashed.headers.get("location")) == (404, None)
    assert health.json()["status"] == "ok"


async def test_a_foreign_host_or_origin_is_refused(with_tokens: Settings, emulator: Emulator) -> None:
    auth = {"Authorization": f"Bearer {TOKENS[0]}"}
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient() as raw:
        host = await raw.post(url, json=INIT, headers=ACCEPT | auth | {"Host": "evil.example.com"})
        origin = await raw.post(url, json=INIT, headers=ACCEPT | auth | {"Origin": "https://evil.example.com"})
        local = await raw.post(url, json=INIT, headers=ACCEPT | auth | {"Origin": "http://localhost:3000"})
    assert host.status_code == 421
    assert origin.status_code == 403
    assert local.status_code == 200


async def test_a_page_on_an_origin_the_server_answers_may_call_it_from_a_browser(
    make_settings: Callable[..., Settings], tmp_path: Path, emulator: Emulator
) -> None:
    # A browser asks first (an OPTIONS with no token), and shows a page no answer that does not name its origin: the
    # token check had answered the question 401, and no answer named the origin, so no page could call the server.
    settings = make_settings(
        output_dir=tmp_path / "out", tokens=TOKENS, public_url=PUBLIC, allowed_origins=("https://app.example.com",)
    )
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"}
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        asked = {
            origin: await raw.options(url, headers=ask | {"Origin": origin})
            for origin in ("https://app.example.com", "http://localhost:5173", PUBLIC.removesuffix("/mcp"))
        }
        foreign = await raw.options(url, headers=ask | {"Origin": "https://evil.example.com"})
        rebound = await raw.options(url, headers=ask | {"Origin": "http://localhost:5173", "Host": "evil.example"})
        called = await raw.post(url, json=INIT, headers=auth | {"Origin": "https://app.example.com"})
        unknown = await raw.post(url, json=INIT, headers=ACCEPT | {"Origin": "http://localhost:5173"})
        evil = await raw.post(url, json=INIT, headers=auth | {"Origin": "https://evil.example.com"})
    for origin, answer in asked.items():
        assert answer.status_code == 200, origin
        assert answer.headers["access-control-allow-origin"] == origin
        assert {"POST", "GET"} <= set(answer.headers["access-control-allow-methods"].split(", "))
        assert answer.headers["access-control-allow-headers"] == "authorization,content-type"
    for refused, status in ((foreign, 403), (rebound, 421)):  # the Host and Origin check first, as for any request
        assert refused.status_code == status
        assert "access-control-allow-origin" not in refused.headers
    assert called.status_code == 200
    assert called.headers["access-control-allow-origin"] == "https://app.example.com"
    # A refused token is readable too, with where to get one.
    assert unknown.status_code == 401
    assert unknown.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "www-authenticate" in unknown.headers["access-control-expose-headers"].lower()
    assert evil.status_code == 403, "the Origin check holds"
    assert "access-control-allow-origin" not in evil.headers
    assert emulator.requests == []


async def test_this_machines_names_are_answered_without_a_port(with_tokens: Settings, emulator: Emulator) -> None:
    # A server on port 80, or behind a proxy that keeps the name, gets a Host header with no port: it had been 421.
    auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"}
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient() as raw:
        answers = [
            (await raw.post(url, json=INIT, headers=auth | {"Host": name, "Origin": f"http://{name}"})).status_code
            for name in ("127.0.0.1", "localhost", "[::1]")
        ]
        foreign = await raw.post(url, json=INIT, headers=auth | {"Host": "evil.example.com"})
    assert answers == [200, 200, 200]
    assert foreign.status_code == 421


async def test_a_client_with_a_token_lists_the_tools_and_generates_and_owners_stay_apart(
    with_tokens: Settings, emulator: Emulator, tmp_path: Path
) -> None:
    async with served(with_tokens, emulator) as url:
        async with connect(url, TOKENS[0]) as alice:
            tools = await alice.list_tools()
            made = data(await alice.call_tool("generate_image", {"positivePrompt": '"HELLO" on a wall'}))
            (image,) = made["images"]
            listed = await alice.list_resources()
            read = await alice.read_resource(listed.resources[0].uri)
        async with connect(url, TOKENS[1]) as bob:
            bob_listed = await bob.list_resources()
            with pytest.raises(Exception, match="resources/list"):
                await bob.read_resource(listed.resources[0].uri)
            bob_spend = data(await bob.call_tool("list_generations", {}))
    assert len(tools.tools) == 10
    path = tmp_path / "out" / http.owner_of(f"token:{TOKENS[0]}") / image["path"]
    assert image["path"] == path.name, "over HTTP a path is told relative to the token's own folder"
    assert str(listed.resources[0].uri) == f"ideogram://images/{path.name}"
    content = read.contents[0]
    assert isinstance(content, types.BlobResourceContents)
    assert base64.b64decode(content.blob) == path.read_bytes()
    assert bob_listed.resources == []
    assert (bob_spend["generations"], bob_spend["spentToday"]) == ([], 0)


async def test_a_task_saved_before_the_output_folder_moved_names_no_folder_over_http(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # Its folder lies outside the token's folder now: it had been named by its last part, the owner's hash, as if
    # it were a folder inside the connection's own (found by review).
    then, now = (make_settings(output_dir=tmp_path / folder, tokens=TOKENS) for folder in ("then", "now"))
    async with served(then, emulator) as url, connect(url, TOKENS[0]) as alice:
        made = data(await alice.call_tool("generate_image", {"positivePrompt": "a", "fileName": "logo"}))
    async with served(now, emulator) as url, connect(url, TOKENS[0]) as alice:
        fetched = await alice.call_tool("get_generation", {"taskUUID": made["taskUUID"]})
    assert made["folder"] == "."
    assert (tmp_path / "then" / http.owner_of(f"token:{TOKENS[0]}") / "logo.jpg").is_file()
    assert "folder" not in data(fetched)
    assert "Saved in" not in text(fetched)


async def test_a_2025_client_over_http_is_told_of_its_new_images_on_the_calls_own_stream(
    with_tokens: Settings, emulator: Emulator
) -> None:
    # Sent for the connection, the notice went nowhere: a stateless server has no stream open for it (GET is 405).
    announced: list[object] = []

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceListChangedNotification):
            announced.append(message)

    async with (
        served(with_tokens, emulator) as url,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[0]}"}, timeout=30) as http_client,
        Client(streamable_http_client(url, http_client=http_client), mode="legacy", message_handler=on_message) as old,
    ):
        resources = old.server_capabilities.resources
        assert resources is not None
        assert resources.list_changed is True
        assert data(await old.call_tool("generate_image", {"positivePrompt": "a sign"}))["status"] == "done"
        assert len(announced) == 1, "told with the result, once"
        await old.call_tool("generate_image", {"positivePrompt": "a sign", "dryRun": True})
        assert len(announced) == 1, "a dry run saves nothing"


async def test_a_listener_hears_of_its_own_tokens_images_and_never_of_another_tokens(
    with_tokens: Settings, emulator: Emulator
) -> None:
    async with (
        served(with_tokens, emulator) as url,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[0]}"}, timeout=30) as http_client,
        Client(streamable_http_client(url, http_client=http_client), mode="2026-07-28") as alice,
        alice.listen(resources_list_changed=True) as heard,
        connect(url, TOKENS[1]) as bob,
    ):
        assert data(await bob.call_tool("generate_image", {"positivePrompt": "bob's"}))["status"] == "done"
        # Nothing, though the server also looks at the journal for other processes' saves meanwhile.
        with anyio.move_on_after(notices.WATCH_EVERY * 2.5) as waited:
            said = await anext(heard)
            raise AssertionError(f"alice heard of bob's image: {said}")
        assert data(await alice.call_tool("generate_image", {"positivePrompt": "alice's"}))["status"] == "done"
        with anyio.fail_after(10):
            assert await anext(heard) == ResourcesListChanged()
    assert waited.cancelled_caught


async def test_one_token_cannot_take_every_listen_stream_of_the_process(
    with_tokens: Settings, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The only bound was the process's 1,024 streams, every token's together: one token could hold them all.
    monkeypatch.setattr(notices, "STREAMS_AN_OWNER", 2)
    async with (
        served(with_tokens, emulator) as url,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[0]}"}, timeout=30) as alices,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[1]}"}, timeout=30) as bobs,
        Client(streamable_http_client(url, http_client=alices), mode="2026-07-28") as alice,
        Client(streamable_http_client(url, http_client=bobs), mode="2026-07-28") as bob,
        alice.listen(resources_list_changed=True),
        alice.listen(resources_list_changed=True),
    ):
        with pytest.raises(MCPError, match="already has 2 subscriptions/listen streams open, the most one may") as no:
            async with alice.listen(resources_list_changed=True) as third:
                await anext(third)
        assert no.value.error.code == types.INVALID_REQUEST, "the client's doing, not the server failing"
        async with bob.listen(resources_list_changed=True) as heard:  # another token's streams are its own
            assert data(await bob.call_tool("generate_image", {"positivePrompt": "bob's"}))["status"] == "done"
            with anyio.fail_after(10):
                assert await anext(heard) == ResourcesListChanged()


async def test_a_spend_question_answered_with_another_tokens_state_is_refused_naming_that_cause(
    with_tokens: Settings, emulator: Emulator
) -> None:
    # Refused, and nothing sent, but told only of time, arguments and other processes: the cause was the token.
    async def accept(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    large = {"positivePrompt": "a banner", "numberResults": 10}
    async with (
        served(with_tokens, emulator) as url,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[0]}"}, timeout=30) as alices,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[1]}"}, timeout=30) as bobs,
        Client(streamable_http_client(url, http_client=alices), mode="2026-07-28", elicitation_callback=accept) as a,
        Client(streamable_http_client(url, http_client=bobs), mode="2026-07-28", elicitation_callback=accept) as b,
    ):
        asked = await a.session.call_tool("generate_image", large, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        answers: dict[str, types.InputResponse] = {
            "confirmSpend": types.ElicitResult(action="accept", content={"confirm": True})
        }
        taken = await b.session.call_tool(
            "generate_image", large, input_responses=answers, request_state=asked.request_state
        )
    assert error_of(taken)["kind"] == "question_expired"
    assert "for another token (another client or user)" in text(taken)
    assert emulator.requests == []


async def test_the_connections_own_folder_is_named_in_words_in_a_dry_run_and_a_call_that_cannot_save(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # "Images cannot be saved in .:" in the dry run, where the call itself had been fixed.
    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / http.owner_of(f"token:{TOKENS[0]}")).write_text("in the way")  # the token's own folder
    async with served(settings, emulator) as url, connect(url, TOKENS[0]) as alice:
        real = text(await alice.call_tool("generate_image", {"positivePrompt": "x"}))
        dry = text(await alice.call_tool("generate_image", {"positivePrompt": "x", "dryRun": True}))
    assert real.startswith("Images cannot be saved in this connection's folder: ")
    assert "Images cannot be saved in this connection's folder: " in dry
    assert emulator.requests == []


async def test_a_token_cannot_send_another_tokens_image_even_from_an_allowed_folder(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    shared = tmp_path / "out"
    settings = make_settings(output_dir=shared, tokens=TOKENS, allowed_dirs=(shared,))
    async with served(settings, emulator) as url:
        async with connect(url, TOKENS[0]) as alice:
            (alices,) = data(await alice.call_tool("generate_image", {"positivePrompt": "alice's"}))["images"]
        async with connect(url, TOKENS[1]) as bob:
            (bobs,) = data(await bob.call_tool("generate_image", {"positivePrompt": "bob's"}))["images"]
            alices_file = shared / http.owner_of(f"token:{TOKENS[0]}") / alices["path"]  # as if Bob knew the layout
            taken = await bob.call_tool("remix_image", {"image": str(alices_file), "positivePrompt": "mine now"})
            own = await bob.call_tool("remix_image", {"image": bobs["path"], "positivePrompt": "again"})
    assert "is among images kept for another client of this server" in text(taken)
    assert data(own)["status"] == "done"
    sent = [t for t in emulator.submitted if t["taskType"] == "imageInference"]
    assert [t["positivePrompt"] for t in sent] == ["alice's", "bob's", "again"]


async def test_an_image_path_a_result_gave_names_the_same_file_in_a_call_saving_into_another_folder(
    with_tokens: Settings, emulator: Emulator
) -> None:
    # Read relative to the call's own outputDir, "campaign/hero.jpg" had been "no such file" in a call saving into
    # "campaign": the path the result had just given.
    async with served(with_tokens, emulator) as url, connect(url, TOKENS[0]) as alice:
        made = data(
            await alice.call_tool(
                "generate_image", {"positivePrompt": "hero", "fileName": "hero", "outputDir": "campaign"}
            )
        )
        (hero,) = made["images"]
        again = {"image": hero["path"], "aspectRatio": "9:16", "outputDir": "campaign"}
        reframed = data(await alice.call_tool("reframe_image", again))
    assert hero["path"] == "campaign/hero.jpg"
    assert reframed["status"] == "done"
    assert reframed["images"][0]["path"].startswith("campaign/")
    assert emulator.submitted[-1]["inputs"]["seedImage"] == hero["imageUUID"], "its own image, by its recorded UUID"


async def test_spend_limits_and_generations_in_flight_count_per_token(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    settings = make_settings(
        output_dir=tmp_path / "out", tokens=TOKENS, daily_budget=0.20, max_in_flight=1, wait_seconds=2.0
    )
    async with served(settings, emulator) as url:
        async with connect(url, TOKENS[0]) as alice:
            spent = data(await alice.call_tool("generate_image", {"positivePrompt": "x", "numberResults": 3}))
            refused = await alice.call_tool("generate_image", {"positivePrompt": "x"})
        outcomes: list[str] = []
        async with connect(url, TOKENS[1]) as bob:
            emulator.render_seconds = 5.0

            async def generate(prompt: str) -> None:
                result = await bob.call_tool("generate_image", {"positivePrompt": prompt})
                outcomes.append(
                    (result.meta or {})["ideogram-mcp/error"]["kind"] if result.is_error else data(result)["status"]
                )

            async with anyio.create_task_group() as group:  # at once: none may slip past the limit
                for prompt in ("w", "x", "y", "z"):
                    group.start_soon(generate, prompt)
    assert spent["status"] == "done"
    assert (refused.meta or {})["ideogram-mcp/error"]["kind"] == "over_budget", "alice's budget is spent"
    assert sorted(outcomes) == ["pending"] + ["too_many_in_flight"] * 3, "bob's budget is his own; his limit is 1"
    assert len([t for t in emulator.submitted if t["taskType"] == "imageInference"]) == 2


def _issuer(keys: list[rsa.RSAPrivateKey]) -> httpx2.MockTransport:
    """A local OAuth issuer: its metadata and its key set (JWKS)."""
    public = [json.loads(RSAAlgorithm.to_jwk(key.public_key())) for key in keys]
    jwks = {"keys": [dict(jwk, kid=f"k{n}") for n, jwk in enumerate(public)]}

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        if request.url.path == "/jwks":
            return httpx2.Response(200, json=jwks)
        return httpx2.Response(404)

    return httpx2.MockTransport(answer)


def _token(key: rsa.RSAPrivateKey, kid: str = "k0", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": PUBLIC, "sub": "user-1", "iat": now, "exp": now + 300} | claims
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def _jwks(key: rsa.RSAPrivateKey, kid: str = "k0") -> dict[str, Any]:
    """A key set of one key."""
    return {"keys": [dict(json.loads(RSAAlgorithm.to_jwk(key.public_key())), kid=kid)]}


def _answering(
    pages: Mapping[str, object], otherwise: Callable[[str], httpx2.Response] | None = None
) -> httpx2.MockTransport:
    """An issuer's host answering these paths with their JSON, any other path as ``otherwise`` says (404)."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        if (page := pages.get(request.url.path)) is not None:
            return httpx2.Response(200, json=page)
        return otherwise(request.url.path) if otherwise is not None else httpx2.Response(404)

    return httpx2.MockTransport(answer)


async def test_oauth_tokens_are_checked_for_signature_issuer_audience_and_expiry(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    key, stranger = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    settings = make_settings(output_dir=tmp_path / "out", oauth_issuer=ISSUER, public_url=PUBLIC, tokens=TOKENS[:1])
    cases = {
        "valid": (_token(key), 200),
        "a static token named beside the issuer": (TOKENS[0], 200),
        "issued by a clock 3 s ahead": (_token(key, iat=int(time.time()) + 3, nbf=int(time.time()) + 3), 200),
        "for the URL with a slash at its end": (_token(key, aud=PUBLIC + "/"), 200),
        "expired": (_token(key, exp=int(time.time()) - 60), 401),
        "wrong audience": (_token(key, aud="https://other.example/mcp"), 401),
        "wrong issuer": (_token(key, iss="https://evil.example"), 401),
        "wrong key": (_token(stranger), 401),
        "unknown key id": (_token(key, kid="k9"), 401),
        "no subject": (_token(key, sub=None), 401),
        "an empty subject, which every such token would share as one owner": (_token(key, sub=" "), 401),
        "not a jwt": ("not-a-jwt", 401),
    }
    async with served(settings, emulator, jwks_transport=_issuer([key])) as url, httpx2.AsyncClient() as raw:
        answers = {
            name: await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {token}"})
            for name, (token, _) in cases.items()
        }
        metadata = await raw.get(url.removesuffix(http.PATH) + "/.well-known/oauth-protected-resource/mcp")
        bare = await raw.post(url, json=INIT, headers=ACCEPT)
    assert {name: a.status_code for name, a in answers.items()} == {name: status for name, (_, status) in cases.items()}
    assert 'resource_metadata="' in bare.headers["www-authenticate"]
    assert metadata.status_code == 200
    assert metadata.json()["resource"] == PUBLIC
    assert metadata.json()["authorization_servers"] == [ISSUER], "as given: no '/' added to a bare host"


def test_every_address_without_a_public_url_or_hosts_is_warned_of_at_the_start(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    http.create_app(make_settings(http_host="0.0.0.0", tokens=TOKENS))
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "421" in r.getMessage()]
    assert warning.endswith(
        "Set IDEOGRAM_MCP_PUBLIC_URL to the URL clients use, or IDEOGRAM_MCP_ALLOWED_HOSTS to the names they reach "
        "it by"
    )
    caplog.clear()
    http.create_app(make_settings(http_host="0.0.0.0", tokens=TOKENS, allowed_hosts=("images.lan:*",)))
    assert not [r for r in caplog.records if "421" in r.getMessage()]


def test_a_public_host_without_authentication_refuses_to_start(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigurationError, match=r"refusing to serve on 0\.0\.0\.0 with no authentication"):
        http.create_app(make_settings(http_host="0.0.0.0"))
    with pytest.raises(ConfigurationError, match="IDEOGRAM_MCP_PUBLIC_URL"):
        http.create_app(make_settings(oauth_issuer=ISSUER))
    assert http.create_app(make_settings(http_host="0.0.0.0", tokens=TOKENS))


@pytest.fixture
def two_processes(tmp_path: Path, data_dir: Path) -> Iterator[tuple[list[str], Emulator, Callable[[], None]]]:
    """Two `ideogram-mcp http` processes on two ports, sharing a journal and an output folder."""
    ports: list[str] = []
    processes: list[Running] = []
    emulator = Emulator(api_key=API_KEY, render_seconds=1.5)
    portal_cm = anyio.from_thread.start_blocking_portal()
    portal = portal_cm.__enter__()
    url_cm = portal.wrap_async_context_manager(emulator.served())
    runware = url_cm.__enter__()
    env = clean_env(
        RUNWARE_API_KEY=API_KEY,
        RUNWARE_BASE_URL=runware,
        IDEOGRAM_MCP_TOKENS=TOKENS[0],
        IDEOGRAM_MCP_DATA_DIR=str(data_dir),
        IDEOGRAM_MCP_OUTPUT_DIR=str(tmp_path / "out"),
        IDEOGRAM_MCP_WAIT_SECONDS="0.5",
        IDEOGRAM_MCP_STATE_KEYS=STATE_KEY,
    )
    for port in (str(free_port()), str(free_port())):
        processes.append(Running(["http", "--port", port], env))
        ports.append(port)

    def stop() -> None:
        for process in processes:
            if process.process.poll() is None:
                process.terminate()
        url_cm.__exit__(None, None, None)
        portal_cm.__exit__(None, None, None)

    for process in processes:
        process.listening()
    try:
        yield ports, emulator, stop
    finally:
        stop()


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer in the client: each request goes to the next process in turn."""

    def __init__(self, ports: list[str]) -> None:
        self._ports, self._next = ports, 0
        self._inner = httpx2.AsyncHTTPTransport()
        self.served: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self._ports[self._next % len(self._ports)]
        self._next += 1
        self.served.append(port)
        request.url = request.url.copy_with(port=int(port))
        request.headers["host"] = f"127.0.0.1:{port}"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_two_processes_serve_one_client_interchangeably(
    two_processes: tuple[list[str], Emulator, Callable[[], None]], tmp_path: Path
) -> None:
    ports, emulator, _ = two_processes
    out = tmp_path / "out"
    balancer = RoundRobin(ports)
    headers = {"Authorization": f"Bearer {TOKENS[0]}"}
    async with (
        httpx2.AsyncClient(transport=balancer, headers=headers, timeout=30) as client,
        Client(streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp", http_client=client)) as mcp,
    ):
        tools = await mcp.list_tools()
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": "x"}))
        assert first["status"] == "pending"
        with anyio.fail_after(30):
            later = first
            while later["status"] != "done":
                later = data(await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]}))
    assert len(tools.tools) == 10
    assert set(balancer.served) == set(ports)
    assert later["taskUUID"] == first["taskUUID"]
    assert (out / http.owner_of(f"token:{TOKENS[0]}") / later["images"][0]["path"]).is_file()
    assert [c.task_uuid for c in emulator.ledger] == [first["taskUUID"]]


async def test_a_listener_of_one_process_hears_of_an_image_the_other_saved_in_the_journal_they_share(
    two_processes: tuple[list[str], Emulator, Callable[[], None]],
) -> None:
    # SQLite carries no notices between processes (several workers on one machine): each asks the journal.
    ports, _, _ = two_processes
    headers = {"Authorization": f"Bearer {TOKENS[0]}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as one,
        httpx2.AsyncClient(headers=headers, timeout=30) as other,
        Client(streamable_http_client(f"http://127.0.0.1:{ports[1]}/mcp", http_client=one), mode="2026-07-28") as b,
        Client(streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp", http_client=other)) as a,
        b.listen(resources_list_changed=True) as heard,
    ):
        first = data(await a.call_tool("generate_image", {"positivePrompt": "x"}))
        with anyio.fail_after(30):
            while first["status"] != "done":
                first = data(await a.call_tool("get_generation", {"taskUUID": first["taskUUID"]}))
            assert await anext(heard) == ResourcesListChanged()
    assert first["images"][0]["path"]


async def test_a_spend_question_asked_by_one_process_is_answered_through_the_other_and_sent_once(
    two_processes: tuple[list[str], Emulator, Callable[[], None]],
) -> None:
    ports, emulator, _ = two_processes
    emulator.render_seconds = 0.0
    balancer = RoundRobin(ports)
    headers = {"Authorization": f"Bearer {TOKENS[0]}"}

    async def accept(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with (
        httpx2.AsyncClient(transport=balancer, headers=headers, timeout=30) as client,
        Client(
            streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp", http_client=client),
            mode="2026-07-28",
            elicitation_callback=accept,
        ) as mcp,
    ):
        asked = await mcp.session.call_tool(
            "generate_image", {"positivePrompt": "x", "numberResults": 10}, allow_input_required=True
        )
        assert isinstance(asked, types.InputRequiredResult)
        answered = await mcp.session.call_tool(
            "generate_image",
            {"positivePrompt": "x", "numberResults": 10},
            input_responses={"confirmSpend": types.ElicitResult(action="accept", content={"confirm": True})},
            request_state=asked.request_state,
        )
    made = data(answered)
    assert balancer.served[-2] != balancer.served[-1], "asked by one process, answered through the other"
    assert [c.task_uuid for c in emulator.ledger] == [made["taskUUID"]]


async def test_answers_come_as_json_or_as_an_event_stream_as_the_client_asks(
    with_tokens: Settings, emulator: Emulator
) -> None:
    auth = {"Authorization": f"Bearer {TOKENS[0]}", "Mcp-Protocol-Version": "2025-11-25"}
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "generate_image",
            "arguments": {"positivePrompt": "x"}, "_meta": {"progressToken": "p"}}}  # fmt: skip
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient(timeout=30) as raw:
        as_json = await raw.post(url, json=call, headers=auth | {"Accept": "application/json"})
        as_stream = await raw.post(url, json=call, headers=auth | ACCEPT)
    assert as_json.headers["content-type"] == "application/json"
    answer = as_json.json()
    assert (answer["id"], answer["result"]["structuredContent"]["status"]) == (7, "done")
    assert as_stream.headers["content-type"].startswith("text/event-stream")
    events = [line for line in as_stream.text.splitlines() if line.startswith("data:")]
    assert any('"notifications/progress"' in event for event in events), "progress rides the stream"
    assert '"id":7' in events[-1]


LISTEN = {"jsonrpc": "2.0", "id": "l1", "method": "subscriptions/listen", "params": {
    "notifications": {"resourcesListChanged": True}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}}  # fmt: skip


@pytest.mark.parametrize("method", ["subscriptions/listen", None], ids=["named", "unnamed"])
async def test_a_json_only_client_asking_to_listen_is_answered_at_once(
    method: str | None, with_tokens: Settings, emulator: Emulator
) -> None:
    # A listen's answer is a stream that never ends: collected for a JSON body, it was never answered at all. One
    # that does not name itself is refused by the transport at once, as it was before (a guard).
    headers = {"Authorization": f"Bearer {TOKENS[0]}", "Mcp-Protocol-Version": "2026-07-28"}
    headers |= {"Mcp-Method": method} if method else {}
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient(timeout=10) as raw:
        refused = await raw.post(url, json=LISTEN, headers=headers | {"Accept": "application/json"})
    if method:
        assert refused.status_code == 406, "a listen is a stream: the transport's own refusal"
    else:
        assert refused.json()["error"]["message"], "the transport's refusal of a request that does not name itself"


async def test_tokens_can_come_from_a_file_with_comments_and_blank_lines(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    listed = tmp_path / "tokens.txt"
    carol, dave = "token-carol-5555555555", "token#dave-7777777777"
    listed.write_text(
        f"# the team's tokens\n\n  {TOKENS[1]}  \n# {TOKENS[0]} was revoked\n{carol}  # carol's laptop\n{dave}\n",
        encoding="utf-8",
    )
    settings = make_settings(output_dir=tmp_path / "out", tokens_file=listed)
    tried = (*TOKENS, "# the team's tokens", carol, f"{carol}  # carol's laptop", dave, "token")
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        answers = {
            token: (await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {token}"})).status_code
            for token in tried
        }
    assert answers == {
        TOKENS[0]: 401,
        TOKENS[1]: 200,
        "# the team's tokens": 401,
        carol: 200,  # a note after the token, as people write one
        f"{carol}  # carol's laptop": 401,
        dave: 200,  # a # inside a token is the token's
        "token": 401,  # never cut short there
    }


def _tokens_file(folder: Path, text: str, *, encoding: str = "utf-8") -> Path:
    listed = folder / "tokens.txt"
    listed.write_text(text, encoding=encoding)
    return listed


def test_a_tokens_file_that_holds_no_token_stops_the_start(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # Every token revoked (commented out) had served paid calls to anyone reaching it, behind a proxy too.
    listed = _tokens_file(tmp_path, "# one token a line\n# token-alice-1111111111 (revoked)\n\n")
    with pytest.raises(ConfigurationError, match=r"IDEOGRAM_MCP_TOKENS_FILE names .*tokens\.txt, which holds no token"):
        http.create_app(make_settings(tokens_file=listed, public_url="https://images.example.com/mcp"))


def test_a_tokens_file_of_revoked_tokens_beside_oauth_starts_with_oauth_alone(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    listed = _tokens_file(tmp_path, "# service-token-1111111111 (revoked)\n")
    http.create_app(make_settings(tokens_file=listed, oauth_issuer=ISSUER, public_url=PUBLIC))


def test_a_tokens_file_that_is_not_utf_8_stops_the_start_saying_so(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # Notepad's "Unicode": a traceback (UnicodeDecodeError) had ended the start.
    listed = _tokens_file(tmp_path, "token-alice-0123456789\r\n", encoding="utf-16")
    with pytest.raises(ConfigurationError, match=r"which is not UTF-8 text \(UTF-16, say\): save it as UTF-8"):
        http.create_app(make_settings(tokens_file=listed))


async def test_a_tokens_file_saved_with_a_byte_order_mark_takes_its_first_token(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # As Windows Notepad saves it: the mark had stuck to the first token, refused with 401 and no word why.
    listed = tmp_path / "tokens.txt"
    listed.write_bytes(f"\ufeff{TOKENS[0]}\r\n{TOKENS[1]}\r\n".encode())
    settings = make_settings(output_dir=tmp_path / "out", tokens_file=listed)
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        answers = [
            (await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {token}"})).status_code
            for token in TOKENS
        ]
    assert answers == [200, 200]


def test_a_tokens_file_that_cannot_be_read_stops_the_start_with_the_reason(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-tokens.txt"
    with pytest.raises(ConfigurationError) as refused:
        http.create_app(make_settings(tokens_file=missing))
    assert str(refused.value) == (
        f"IDEOGRAM_MCP_TOKENS_FILE cannot be read: [Errno 2] No such file or directory: '{missing}'"
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("[::1]", True), ("", True), ("images.example.com", False),
     ("192.168.1.20", False), ("0.0.0.0", False)],
)  # fmt: skip
def test_only_loopback_hosts_count_as_this_machine(host: str, loopback: bool) -> None:
    assert http.is_loopback(host) is loopback


async def test_a_named_public_host_is_served_with_tokens_and_answers_to_its_own_name(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=r"refusing to serve on images\.example\.com"):
        http.create_app(make_settings(http_host="images.example.com"))
    settings = make_settings(output_dir=tmp_path / "out", http_host="images.example.com", tokens=TOKENS)
    auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"}
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        named = await raw.post(url, json=INIT, headers=auth | {"Host": "images.example.com:443"})
        bare = await raw.post(url, json=INIT, headers=auth | {"Host": "images.example.com"})
        other = await raw.post(url, json=INIT, headers=auth | {"Host": "evil.example.com"})
    assert (named.status_code, bare.status_code, other.status_code) == (200, 200, 421)


@pytest.mark.parametrize("host", ["::1", "::", "2001:db8::5"])
async def test_an_ipv6_host_is_served_and_answers_to_its_bracketed_name(
    host: str, make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    settings = make_settings(output_dir=tmp_path / "out", http_host=host, tokens=TOKENS)
    auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"}
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        named = await raw.post(url, json=INIT, headers=auth | {"Host": f"[{host}]:8000"})
    assert named.status_code == (421 if host == "::" else 200)  # "::" is every address, not a name


@pytest.mark.parametrize("public", ["https://images.example.com:443/mcp", "https://images.example.com/mcp"])
async def test_a_public_url_answers_a_browsers_origin_with_or_without_its_default_port(
    public: str, make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # A browser leaves the scheme's own port out of Origin: with the port in the public URL, it had been 403.
    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS, public_url=public)
    auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"}
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        answers = [
            (await raw.post(url, json=INIT, headers=auth | {"Host": "images.example.com", "Origin": o})).status_code
            for o in ("https://images.example.com", "https://images.example.com:443", "https://images.example.com:8443")
        ]
    assert answers == [200, 200, 403]


async def test_a_public_url_on_another_port_answers_only_its_own_origin(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    settings = make_settings(
        output_dir=tmp_path / "out", tokens=TOKENS, public_url="https://images.example.com:8443/mcp"
    )
    auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"}
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        answers = [
            (await raw.post(url, json=INIT, headers=auth | {"Host": "images.example.com", "Origin": o})).status_code
            for o in ("https://images.example.com:8443", "https://images.example.com", "https://images.example.com:443")
        ]
    assert answers == [200, 403, 403], "port 443 is another origin"


@pytest.mark.parametrize(
    ("public", "host", "origin"),
    [
        ("https://bücher.example:8443/mcp", "xn--bcher-kva.example:8443", "https://xn--bcher-kva.example:8443"),
        ("https://[2001:db8:0:0::1]:8443/mcp", "[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
        ("https://bücher.example/mcp", "xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        # IDNA 2008 (browsers, httpx) writes these otherwise than IDNA 2003 (Python's codec): 421 had answered them
        ("https://faß.example/mcp", "xn--fa-hia.example", "https://xn--fa-hia.example"),
        ("https://ελληνικός.example/mcp", "xn--qxaegecap6byf.example", "https://xn--qxaegecap6byf.example"),
    ],
)
async def test_a_public_url_is_answered_under_the_names_clients_send_for_it(
    public: str, host: str, origin: str, make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # A Unicode name travels in IDNA and an IPv6 address in its short form: both had been 421 for every request.
    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS, public_url=public)
    headers = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}", "Host": host, "Origin": origin}
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        answer = await raw.post(url, json=INIT, headers=headers)
        foreign = await raw.post(url, json=INIT, headers=headers | {"Host": "xn--bcher-kva.example.evil.com"})
    assert (answer.status_code, foreign.status_code) == (200, 421), answer.text


@pytest.mark.parametrize(
    "public", ["https://Images.Example.com:8443/mcp", "https://deploy@images.example.com:8443/mcp"]
)
async def test_a_public_url_on_its_own_port_answers_the_origin_a_browser_writes_for_it(
    public: str, make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # A browser writes the host in lower case and no user info: both had been 403 on a port of the URL's own.
    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS, public_url=public)
    headers = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}", "Origin": "https://images.example.com:8443"}
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        answer = await raw.post(url, json=INIT, headers=headers)
    assert answer.status_code == 200, answer.text


async def test_a_public_url_with_an_ipv6_address_answers_to_it_on_any_port(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS, public_url="https://[2001:db8::5]/mcp")
    auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"}
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        named = await raw.post(url, json=INIT, headers=auth | {"Host": "[2001:db8::5]:8443"})
    assert named.status_code == 200


async def test_a_json_only_client_gets_a_refusal_as_it_was_given(with_tokens: Settings, emulator: Emulator) -> None:
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient() as raw:
        refused = await raw.post(url, json=INIT, headers={"Accept": "application/json"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert refused.json()["error"] == "invalid_token"


def _openid_issuer(keys: list[rsa.RSAPrivateKey], *, jwks_uri: object = f"{ISSUER}/keys") -> httpx2.MockTransport:
    """An issuer publishing only OpenID Connect discovery (no RFC 8414 metadata), with these keys and no key ids."""
    jwks = {"keys": [json.loads(RSAAlgorithm.to_jwk(key.public_key())) for key in keys]}

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": jwks_uri})
        if request.url.path == "/keys":
            return httpx2.Response(200, json=jwks)
        return httpx2.Response(404)

    return httpx2.MockTransport(answer)


def _unnamed_token(key: rsa.RSAPrivateKey) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": PUBLIC, "sub": "user-1", "iat": now, "exp": now + 300}
    return jwt.encode(body, key, algorithm="RS256")


async def test_an_issuer_found_by_openid_discovery_with_one_unnamed_key_verifies_tokens_without_a_key_id(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    key, stranger = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    settings = make_settings(output_dir=tmp_path / "out", oauth_issuer=ISSUER, public_url=PUBLIC)
    async with served(settings, emulator, jwks_transport=_openid_issuer([key])) as url, httpx2.AsyncClient() as raw:
        ours, theirs = [
            (await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {token}"})).status_code
            for token in (_unnamed_token(key), _unnamed_token(stranger))
        ]
    assert (ours, theirs) == (200, 401)


@pytest.mark.parametrize("jwks_uri", [None, 42])
async def test_an_issuer_that_publishes_no_key_set_has_every_token_refused(
    jwks_uri: object, make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO, logger="ideogram_mcp.issuer")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = make_settings(output_dir=tmp_path / "out", oauth_issuer=ISSUER, public_url=PUBLIC)
    issuer = _openid_issuer([key], jwks_uri=jwks_uri)
    async with served(settings, emulator, jwks_transport=issuer) as url, httpx2.AsyncClient() as raw:
        answer = await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {_unnamed_token(key)}"})
    assert answer.status_code == 401
    assert "refused a bearer token: IssuerError" in [r.getMessage() for r in caplog.records]
    assert emulator.requests == []


async def test_an_issuers_key_set_too_large_to_be_one_is_refused_not_held(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A 200 MB key set had been read whole and parsed (550 MB of memory, kept).
    caplog.set_level(logging.INFO, logger="ideogram_mcp.issuer")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    served_bytes: list[int] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        padding = b" " * (2 * ISSUER_MOST)
        served_bytes.append(len(padding))
        return httpx2.Response(200, content=b'{"keys": []' + padding + b"}")

    settings = make_settings(output_dir=tmp_path / "out", oauth_issuer=ISSUER, public_url=PUBLIC)
    issuer = httpx2.MockTransport(answer)
    async with served(settings, emulator, jwks_transport=issuer) as url, httpx2.AsyncClient() as raw:
        refused = await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {_token(key)}"})
    assert refused.status_code == 401
    assert "refused a bearer token: IssuerError" in [r.getMessage() for r in caplog.records]


async def test_the_app_factory_takes_its_settings_from_the_environment_and_starts_ready_for_calls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    monkeypatch.setenv("IDEOGRAM_MCP_TOKENS", f" {TOKENS[0]} , {TOKENS[1]} ")
    monkeypatch.setenv("IDEOGRAM_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("IDEOGRAM_MCP_OUTPUT_DIR", str(tmp_path / "out"))
    made_tls = connections._made_tls_context  # pyright: ignore[reportPrivateUsage]
    made_tls.cache_clear()
    async with serving(http.app(), lifespan=True) as root, httpx2.AsyncClient() as raw:
        answers = [
            (await raw.post(root + http.PATH, json=INIT, headers=ACCEPT | headers)).status_code
            for headers in ({}, {"Authorization": f"Bearer {TOKENS[1]}"})
        ]
    assert answers == [401, 200]
    # The outgoing connections' TLS context was made at the start, with no call made: not in the first calls' time;
    # and it is the one the clients the calls make are given.
    assert made_tls.cache_info().currsize == 1
    async with connections.client() as runware:
        assert made_tls.cache_info().currsize == 1
        assert getattr(runware, "_transport")._pool._ssl_context is connections.tls_context()  # noqa: B009


async def test_a_certificate_file_that_cannot_be_read_does_not_stop_the_server_starting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ideogram_mcp.server")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("IDEOGRAM_MCP_TOKENS", TOKENS[0])
    monkeypatch.setenv("IDEOGRAM_MCP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("IDEOGRAM_MCP_OUTPUT_DIR", str(tmp_path / "out"))
    async with serving(http.app(), lifespan=True) as root, httpx2.AsyncClient(verify=False) as raw:
        answer = await raw.post(root + http.PATH, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"})
    assert answer.status_code == 200
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"SSL_CERT_FILE names {tmp_path / 'missing.pem'}, which cannot be read") for m in said), (
        said
    )


def test_a_worker_reads_the_environment_leaves_ctrl_c_to_its_supervisor_and_sets_its_collector(
    tmp_path: Path, data_dir: Path
) -> None:
    probe = (
        "import gc, signal, sys\n"
        "from ideogram_mcp.http import worker_app\n"
        "loaded = len(gc.get_objects())\n"
        "app = worker_app()\n"
        "frozen = gc.get_freeze_count() > loaded + 2_000\n"  # the app built, not only the program loaded
        "print(type(app).__name__, signal.getsignal(signal.SIGINT) is signal.SIG_IGN, frozen, gc.get_threshold())\n"
        "import logging; logging.getLogger('ideogram_mcp.test').warning('a worker logs to stderr')\n"
    )
    env = {
        **os.environ,
        "IDEOGRAM_MCP_HTTP_HOST": "0.0.0.0",
        "IDEOGRAM_MCP_TOKENS": TOKENS[0],
        "IDEOGRAM_MCP_DATA_DIR": str(data_dir),
        "IDEOGRAM_MCP_OUTPUT_DIR": str(tmp_path / "out"),
    }
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    # What it made to start is frozen (out of the garbage collector's walks), as the stdio server's is.
    tuned = (YOUNG_COLLECTION_AFTER, 20, 10)
    assert (done.returncode, done.stdout) == (0, f"Starlette True True {tuned}\n"), done.stderr
    assert "a worker logs to stderr" in done.stderr


async def test_over_stateless_http_a_2025_client_cannot_be_asked_so_a_large_call_waits_for_approved_cost(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    asked: list[str] = []

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="decline")

    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS, confirm_above=0.10, max_cost_per_call=0.20)
    async with (
        served(settings, emulator) as url,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[0]}"}, timeout=30) as http_client,
        Client(streamable_http_client(url, http_client=http_client), mode="legacy", elicitation_callback=answer) as mcp,
    ):
        refused = await mcp.call_tool("generate_image", {"positivePrompt": "x", "numberResults": 3})
        made = data(
            await mcp.call_tool("generate_image", {"positivePrompt": "x", "numberResults": 3, "approvedCost": 0.18})
        )
        over = await mcp.call_tool("generate_image", {"positivePrompt": "x", "numberResults": 4, "approvedCost": 0.24})
    assert asked == []
    assert (refused.meta or {})["ideogram-mcp/error"] == {"kind": "approval_needed", "quote": 0.18, "threshold": 0.1}
    # The client can answer questions; the connection cannot carry one. It had been told "this client cannot ask".
    assert "and this connection cannot carry the question, so nothing was sent" in text(refused)
    assert (made["status"], len(made["images"])) == ("done", 3)
    assert (over.meta or {})["ideogram-mcp/error"] == {"kind": "over_limit", "quote": 0.24, "limit": 0.2}
    assert len(emulator.submitted) == 1


class QuickDoor(door.GuardedH11):
    """The HTTP server's door with its limits made short, so that a test needs no more than a second."""

    header_seconds = 1.5
    body_seconds = 0.5
    max_connections = 20


async def _closed_within(stream: anyio.abc.SocketStream, seconds: float) -> bool:
    """Whether the server closed the connection within ``seconds`` (reading what it may send first)."""
    with anyio.move_on_after(seconds):
        try:
            while await stream.receive():
                pass
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
            return True
    return False


async def test_a_client_too_slow_with_its_headers_or_its_body_is_shut_out_and_others_still_get_in(
    with_tokens: Settings, emulator: Emulator
) -> None:
    app = http.create_app(with_tokens, transport=httpx2.ASGITransport(emulator.app()))
    async with serving(app, lifespan=True, http=QuickDoor) as root:
        port = int(root.rsplit(":", 1)[1])
        slow_body = await anyio.connect_tcp("127.0.0.1", port)
        head = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKENS[0]}\r\n"
        await slow_body.send(f"{head}Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{{".encode())
        silent = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(30)]  # past the 20 allowed
        async with httpx2.AsyncClient(timeout=5) as newcomer:  # a connection of its own, made after them all
            health = await newcomer.get(root + "/healthz")
        evicted = [False] * len(silent)

        async def look(n: int) -> None:
            evicted[n] = await _closed_within(silent[n], 0.2)

        async with anyio.create_task_group() as group:  # all at once, well within their 1.5 s for headers
            for n in range(len(silent)):
                group.start_soon(look, n)
        body_closed = await _closed_within(slow_body, 2.0)
        for stream in (*silent, slow_body):
            await stream.aclose()
    assert health.status_code == 200, "silent connections cannot keep a client out: the oldest gives way"
    assert evicted[:10] == [True] * 10, "the oldest silent connections made room"
    assert not any(evicted[-5:]), "the newest keep their place until their own time runs out"
    assert body_closed, "a request too slow in its body loses its connection"


async def test_requests_answered_before_their_bodies_are_in_give_way_and_still_hear_their_answer(
    with_tokens: Settings, emulator: Emulator
) -> None:
    # Clients with no token, sending large bodies slowly, got their 401 at once and kept their connections for the
    # whole body time, uncounted by the eviction: 512 of them kept every token holder out. Closing such a connection
    # at once instead reset it before a client still sending could read its answer (a 413, a 401 to re-authenticate).
    class PatientDoor(QuickDoor):
        body_seconds = 60.0

    app = http.create_app(with_tokens, transport=httpx2.ASGITransport(emulator.app()))
    async with serving(app, lifespan=True, http=PatientDoor) as root:
        port = int(root.rsplit(":", 1)[1])
        head = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        slow = []
        for _ in range(PatientDoor.max_connections + 5):  # past the 20 allowed, each answered 401 at once
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.send(f"{head}Content-Length: 100000\r\n\r\n{{".encode())
            slow.append(stream)
        for stream in slow:  # each answered (or, past the bound, refused) before the token holder comes
            said = b""
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                while b"\r\n\r\n" not in said:
                    said += await stream.receive()
        async with httpx2.AsyncClient(timeout=10) as raw:
            auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}"}
            admitted = await raw.post(root + http.PATH, json=INIT, headers=auth)  # a token holder gets in
            big = await raw.post(root + http.PATH, content=b"{" + b" " * 8_000_000 + b"}", headers=ACCEPT)
        for stream in slow:
            await stream.aclose()
    assert admitted.status_code == 200
    assert big.status_code == 401, "a large body with a bad token hears its 401"


async def test_an_issuer_that_cannot_be_reached_is_asked_once_not_per_token_and_no_check_waits_long(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    asked: list[str] = []

    async def unreachable(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.url.path)
        await anyio.sleep_forever()  # a host that never answers
        return httpx2.Response(503)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = make_settings(output_dir=tmp_path / "out", oauth_issuer=ISSUER, public_url=PUBLIC)
    statuses: list[int] = []
    async with (
        served(settings, emulator, jwks_transport=httpx2.MockTransport(unreachable)) as url,
        httpx2.AsyncClient(timeout=30) as raw,
    ):

        async def attempt(n: int) -> None:
            headers = ACCEPT | {"Authorization": f"Bearer {_token(key, sub=f'user-{n}')}"}
            statuses.append((await raw.post(url, json=INIT, headers=headers)).status_code)

        with anyio.fail_after(8):  # each check is bounded by the 3 s fetch, once; not 10 x 10 s
            async with anyio.create_task_group() as group:
                for n in range(10):
                    group.start_soon(attempt, n)
        with anyio.fail_after(2):  # the failure stands for a while: no new fetch, an answer at once
            await attempt(10)
    assert statuses == [401] * 11
    assert asked == ["/.well-known/oauth-authorization-server"], "one fetch for ten tokens, and none for the next"


async def test_the_keys_held_still_check_tokens_while_the_issuer_cannot_be_asked_again() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    working = {"up": True}
    issuer = _issuer([key])

    async def sometimes(request: httpx2.Request) -> httpx2.Response:
        if not working["up"]:
            return httpx2.Response(503)
        return await issuer.handle_async_request(request)

    clock = ManualClock()
    verifier = JWTVerifier(ISSUER, PUBLIC, transport=httpx2.MockTransport(sometimes), clock=clock)
    assert await verifier.verify_token(_token(key)) is not None
    working["up"] = False
    clock.jump(clock.monotonic() + JWKS_TTL + 1)  # the keys are old now: the next token asks for them again
    assert await verifier.verify_token(_token(key, sub="user-2")) is not None, "the keys held still serve"


@pytest.mark.parametrize("answer", [["not", "an", "object"], "a string", 7])
async def test_an_issuer_answering_json_that_is_no_object_is_a_failed_fetch_asked_once(answer: object) -> None:
    asked: list[str] = []

    def odd(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.url.path)
        return httpx2.Response(200, json=answer)

    verifier = JWTVerifier(ISSUER, PUBLIC, transport=httpx2.MockTransport(odd))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    results = [await verifier.verify_token(_token(key, sub=f"user-{n}")) for n in range(3)]
    assert results == [None, None, None]
    assert len(asked) == 2, "the metadata's two places asked once; the failure stands for the next tokens"


async def test_params_a_method_cannot_take_are_named_over_http_after_the_handshake(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # A stateless server knows no handshake of a connection: a bad request after initialize is told its field.
    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS)
    headers = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}", "MCP-Protocol-Version": "2025-11-25"}
    asked = {"jsonrpc": "2.0", "id": 2, "method": "prompts/get", "params": {"name": "poster", "arguments": 5}}
    async with served(settings, emulator) as url, httpx2.AsyncClient(headers=headers) as raw:
        assert (await raw.post(url, json=INIT)).status_code == 200
        refused = await raw.post(url, json=asked, headers={"Accept": "application/json"})
    assert refused.json()["error"]["message"].startswith(
        "Invalid params for prompts/get: params.arguments: Input should be a valid dictionary."
    )


async def test_the_resource_metadata_head_carries_the_length_its_get_does(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    settings = make_settings(oauth_issuer=ISSUER, public_url=PUBLIC)
    async with served(settings, emulator, jwks_transport=_issuer([])) as url, httpx2.AsyncClient() as raw:
        where = url.removesuffix(http.PATH) + "/.well-known/oauth-protected-resource/mcp"
        got, head = await raw.get(where), await raw.head(where)
    assert head.status_code == got.status_code == 200
    assert head.headers["content-length"] == str(len(got.content))
    assert head.content == b""


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
async def test_a_body_that_is_no_json_rpc_request_is_answered_with_what_is_wrong(
    with_tokens: Settings, emulator: Emulator, era: str
) -> None:
    # The SDK answered these with pydantic's dump of four models' errors under -32602, or (an id null or a fraction,
    # read as a notification) with 202 and no answer at all; the 2026-07-28 entry with one sentence for them all.
    cases = {
        '[{"jsonrpc":"2.0","id":3,"method":"ping"}]': (
            None,
            "a batch (an array) is not MCP's: send each message alone",
        ),
        '{"jsonrpc":"2.0","id":"t1","method":"ping","params":["x"]}': ("t1", "its params must be an object"),
        '{"jsonrpc":"2.0","id":null,"method":"ping"}': (None, "its id must be a string or a whole number"),
        '{"jsonrpc":"2.0","id":4.5,"method":"ping"}': (None, "its id must be a string or a whole number"),
        '{"jsonrpc":"1.0","id":5,"method":"ping"}': (5, 'say "jsonrpc": "2.0"'),
        '{"jsonrpc":"2.0","id":6,"method":7}': (6, "name its method as a string"),
        "42": (None, "a message is one JSON object"),
        # With no id, these were pydantic's dump: JSON-RPC answers them under a null id.
        '{"jsonrpc":"2.0","method":7}': (None, "name its method as a string"),
        '{"jsonrpc":"1.0","method":"notifications/initialized"}': (None, 'say "jsonrpc": "2.0"'),
        '{"jsonrpc":"2.0","method":"notifications/initialized","params":[1]}': (None, "its params must be an object"),
    }
    auth = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}", "MCP-Protocol-Version": era, "Mcp-Method": "ping"}
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient() as raw:
        answers = {body: await raw.post(url, content=body, headers=auth) for body in cases}
        unauthenticated = await raw.post(url, content="[]", headers=ACCEPT)
        foreign = await raw.post(url, content="[]", headers=auth | {"Host": "evil.example.com"})
        not_json = await raw.post(url, content='{"jsonrpc":"2.0","id":2', headers=auth)
        half = '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"generate_image","arguments":'
        half = await raw.post(url, content=half + '{"positivePrompt":"a \\ud800 b","dryRun":true}}}', headers=auth)
        notified = await raw.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=auth)
    for body, (ident, said) in cases.items():
        answer = answers[body]
        assert (answer.status_code, answer.headers["content-type"]) == (400, "application/json"), body
        error = answer.json()
        assert (error["id"], error["error"]["code"]) == (ident, types.INVALID_REQUEST), body
        assert error["error"]["message"].startswith("Invalid request: "), body
        assert said in error["error"]["message"], body
    assert unauthenticated.status_code == 401, "authentication is checked first, as before"
    assert foreign.status_code == 421, "so are the Host and Origin"
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == types.PARSE_ERROR
    # Half a surrogate pair alone: "not a JSON-RPC 2.0 request" had replaced the SDK's parse error (found by audit).
    # The 2026-07-28 entry reads it (as Python's JSON does), and answers it itself.
    said = half.json()["error"]
    assert (half.status_code, half.json()["id"]) == (400, 8)
    if era == "2026-07-28":
        assert said["code"] == types.INVALID_PARAMS
        assert "surrogate" not in said["message"]
    else:
        assert said["code"] == types.PARSE_ERROR
        assert said["message"].startswith(
            "The request's text at params.arguments.positivePrompt holds half of a UTF-16 surrogate pair alone"
        )
    assert (notified.status_code, notified.content) == (202, b""), "a notification is taken as before"
    assert emulator.requests == []


async def test_a_2026_request_holding_a_lone_half_keeps_the_sdks_own_answer(
    with_tokens: Settings, emulator: Emulator
) -> None:
    # The 2026-07-28 entry reads a lone half as Python's JSON does: its answer (an unknown tool) had been replaced by
    # "holds half of a UTF-16 surrogate pair alone ... so it was not read" (found by review).
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "x", "version": "1"},
    }
    headers = ACCEPT | {"Authorization": f"Bearer {TOKENS[0]}", "MCP-Protocol-Version": "2026-07-28"}
    headers |= {"Mcp-Method": "tools/call", "Mcp-Name": "nope"}
    body = (
        '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"nope",'
        '"arguments":{"positivePrompt":"a \\ud800 b"},"_meta":' + json.dumps(meta) + "}}"
    )
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient() as raw:
        whole = await raw.post(url, content=body.replace("\\ud800", "x"), headers=headers)
        half = await raw.post(url, content=body, headers=headers)
    assert whole.json()["error"]["code"] == types.INVALID_PARAMS, whole.text
    assert half.json()["error"] == whole.json()["error"], half.text


async def test_a_get_of_the_endpoint_opens_no_stream_that_would_carry_nothing(
    with_tokens: Settings, emulator: Emulator
) -> None:
    # Stateless, the server sends nothing on a GET stream, which the SDK kept open for ever: one token's hundreds of
    # them held every connection the process may have.
    auth = {"Authorization": f"Bearer {TOKENS[0]}", "Accept": "text/event-stream"}
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient(timeout=5) as raw:
        got = await raw.get(url, headers=auth)
        async with connect(url, TOKENS[0]) as client:  # the SDK's own client takes the 405 as the spec says
            listed = await client.list_tools()
    assert (got.status_code, got.headers["allow"]) == (405, "POST")
    assert "subscriptions/listen" in got.text
    assert listed.tools


async def test_a_get_of_the_endpoint_is_authenticated_and_its_host_checked_before_it_is_refused(
    with_tokens: Settings, make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    # The 405 had come first: a client starting with a GET never met the 401 that points it to the OAuth metadata,
    # and a foreign Host was not 421 (found by audit).
    stream = {"Accept": "text/event-stream"}
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient(timeout=5) as raw:
        anonymous = await raw.get(url, headers=stream)
        wrong = await raw.get(url, headers=stream | {"Authorization": "Bearer not-a-token"})
        foreign = await raw.get(url, headers=stream | {"Authorization": f"Bearer {TOKENS[0]}", "Host": "evil.example"})
        elsewhere = await raw.get(
            url, headers=stream | {"Authorization": f"Bearer {TOKENS[0]}", "Origin": "https://evil.example"}
        )
        allowed = await raw.get(url, headers=stream | {"Authorization": f"Bearer {TOKENS[0]}"})
        slashed = [  # the same at /mcp/, which Starlette had redirected first, to the Host given
            (await raw.get(url + "/", headers=stream | extra)).status_code
            for extra in ({}, {"Authorization": f"Bearer {TOKENS[0]}", "Host": "evil.example"})
        ]
        slashed.append(
            (await raw.get(url + "/", headers=stream | {"Authorization": f"Bearer {TOKENS[0]}"})).status_code
        )
        head = await raw.head(url, headers={"Authorization": f"Bearer {TOKENS[0]}"})
    assert slashed == [401, 421, 405]
    assert (head.status_code, head.headers["allow"], head.content) == (405, "POST", b""), "it had listed GET too"
    async with served(with_tokens, emulator) as url, httpx2.AsyncClient(timeout=5) as raw:
        others = {
            method: await raw.request(method, url, headers={"Authorization": f"Bearer {TOKENS[0]}"})
            for method in ("DELETE", "PUT", "PATCH", "OPTIONS")
        }
    assert {method: (got.status_code, got.headers["allow"]) for method, got in others.items()} == dict.fromkeys(
        others, (405, "POST")
    ), "the SDK's 405 had named GET and DELETE as allowed (found by review)"
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert (foreign.status_code, elsewhere.status_code) == (421, 403)
    assert (allowed.status_code, allowed.headers["allow"]) == (405, "POST")
    async with served(make_settings(), emulator) as url, httpx2.AsyncClient(timeout=5) as raw:  # no authentication
        unchecked = await raw.get(url, headers=stream)
        unchecked_foreign = await raw.get(url, headers=stream | {"Host": "evil.example"})
    assert (unchecked.status_code, unchecked_foreign.status_code) == (405, 421)


@pytest.mark.parametrize(
    "public", ["https://Images.Example.test/mcp", "https://images.example.test:443/mcp", "https://bücher.example/mcp"]
)
async def test_a_token_for_the_resource_as_published_is_taken_however_the_public_url_is_written(
    public: str, make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # The metadata publishes the URL as a parser writes it, and clients ask their issuer for a token to that; the
    # audience had been compared with the setting as written, and every such token refused.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = make_settings(output_dir=tmp_path / "out", oauth_issuer=ISSUER, public_url=public)
    async with served(settings, emulator, jwks_transport=_issuer([key])) as url, httpx2.AsyncClient() as raw:
        challenge = (await raw.post(url, json=INIT, headers=ACCEPT)).headers["www-authenticate"]
        metadata = httpx2.URL(challenge.split('resource_metadata="')[1].split('"')[0]).path
        resource = (await raw.get(url.removesuffix("/mcp") + metadata)).json()["resource"]
        token = _token(key, aud=resource)
        answer = await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer {token}"})
    assert resource != public
    assert answer.status_code == 200, answer.text


async def test_while_the_issuer_fails_tokens_of_unknown_key_ids_do_not_ask_it_again_nor_hold_up_valid_ones() -> None:
    # After a failed refresh with keys held, each token of an unknown kid had fetched again (20 tokens, 40 fetches),
    # and with an issuer that hung, a valid token had waited 3 s behind each of them.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    working, asked, issuer = {"up": True}, list[str](), _issuer([key])

    async def sometimes(request: httpx2.Request) -> httpx2.Response:
        asked.append(request.url.path)
        return await issuer.handle_async_request(request) if working["up"] else httpx2.Response(503)

    clock = ManualClock()
    verifier = JWTVerifier(ISSUER, PUBLIC, transport=httpx2.MockTransport(sometimes), clock=clock)
    assert await verifier.verify_token(_token(key)) is not None
    working["up"] = False
    clock.jump(clock.monotonic() + JWKS_TTL + 1)
    assert await verifier.verify_token(_token(key, sub="user-2")) is not None, "the keys held serve"
    asked.clear()
    for n in range(20):
        assert await verifier.verify_token(_token(key, kid=f"unknown-{n}")) is None
    assert asked == []
    assert await verifier.verify_token(_token(key, sub="user-3")) is not None


def _acme_site(path: str) -> httpx2.Response:
    """A host whose root answers every path outside the issuer's with a web page."""
    return httpx2.Response(404) if path.startswith("/realms/acme") else httpx2.Response(200, html="<title>Acme")


@pytest.mark.parametrize(
    ("path", "metadata", "keys", "otherwise"),
    [
        ("/tenant1", "/.well-known/oauth-authorization-server/tenant1", "/tenant1/jwks", None),
        # The host's root answered RFC 8414's place with a web page (200), which failed the fetch before OpenID's
        # place under the issuer's path was asked: every token refused.
        ("/realms/acme", "/realms/acme/.well-known/openid-configuration", "/realms/acme/certs", _acme_site),
    ],
    ids=["at RFC 8414's place", "at OpenID's, behind a site answering its root with pages"],
)
async def test_an_issuer_with_a_path_is_found_where_its_metadata_is(
    path: str, metadata: str, keys: str, otherwise: Callable[[str], httpx2.Response] | None
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = ISSUER + path
    pages = {metadata: {"issuer": issuer, "jwks_uri": ISSUER + keys}, keys: _jwks(key)}
    verifier = JWTVerifier(issuer, PUBLIC, transport=_answering(pages, otherwise))
    assert await verifier.verify_token(_token(key, iss=issuer)) is not None


async def test_a_bearer_token_after_more_than_one_space_is_taken(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS)
    async with served(settings, emulator) as url, httpx2.AsyncClient() as raw:
        spaced = await raw.post(url, json=INIT, headers=ACCEPT | {"Authorization": f"Bearer   {TOKENS[0]}"})
    assert spaced.status_code == 200, "RFC 6750: one or more spaces"


async def test_a_key_rotated_in_while_one_fetch_failed_is_taken_once_an_unknown_kid_may_ask_again() -> None:
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    state: dict[str, Any] = {"keys": [old], "fail_once": False}

    async def answer(request: httpx2.Request) -> httpx2.Response:
        if state["fail_once"]:
            state["fail_once"] = False
            return httpx2.Response(503)
        return await _issuer(state["keys"]).handle_async_request(request)

    clock = ManualClock()
    verifier = JWTVerifier(ISSUER, PUBLIC, transport=httpx2.MockTransport(answer), clock=clock)
    assert await verifier.verify_token(_token(old)) is not None
    clock.jump(clock.monotonic() + 60)
    state.update(keys=[old, new], fail_once=True)
    assert await verifier.verify_token(_token(new, kid="k1")) is None  # the fetch failed
    clock.jump(clock.monotonic() + JWKS_REFETCH + 1)  # it had been refused for 30 s
    assert await verifier.verify_token(_token(new, kid="k1")) is not None


async def test_an_issuer_with_a_path_is_not_given_the_keys_of_the_issuer_at_its_hosts_root() -> None:
    # The host's own issuer answered every path under its well-known place, and its keys were taken for the
    # tenant's: every tenant token refused. Metadata naming another issuer is passed over, as RFC 8414 has it.
    root_key, tenant_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    tenant = f"{ISSUER}/tenant1"
    pages = {
        "/jwks": _jwks(root_key, "root"),
        "/tenant1/.well-known/openid-configuration": {"issuer": tenant, "jwks_uri": f"{tenant}/jwks"},
        "/tenant1/jwks": _jwks(tenant_key, "t1"),
    }

    def hosts_own(path: str) -> httpx2.Response:
        if path.startswith("/.well-known/oauth-authorization-server"):
            return httpx2.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks"})
        return httpx2.Response(404)

    verifier = JWTVerifier(tenant, PUBLIC, transport=_answering(pages, hosts_own))
    assert await verifier.verify_token(_token(tenant_key, kid="t1", iss=tenant)) is not None


@pytest.mark.parametrize("named", ["https://AUTH.example.test", "https://auth.example.test:443", ISSUER + "/"])
async def test_metadata_writing_this_issuer_in_another_spelling_is_its_own(named: str) -> None:
    # Passing over another issuer's metadata had compared spellings: a host in capitals or the default port written
    # had every token refused.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pages = {"/.well-known/oauth-authorization-server": {"issuer": named, "jwks_uri": f"{ISSUER}/jwks"}}
    verifier = JWTVerifier(ISSUER, PUBLIC, transport=_answering(pages | {"/jwks": _jwks(key)}))
    assert await verifier.verify_token(_token(key)) is not None
    assert await verifier.verify_token(_token(key, iss=named)) is not None, "its tokens carry its metadata's spelling"
    assert await verifier.verify_token(_token(key, iss="https://auth.example.test.evil")) is None


async def test_an_oauth_token_without_an_expiry_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = JWTVerifier(ISSUER, PUBLIC, transport=_issuer([key]))
    body = {"iss": ISSUER, "aud": PUBLIC, "sub": "user-1", "iat": int(time.time())}
    never_expiring = jwt.encode(body, key, algorithm="RS256", headers={"kid": "k0"})
    assert await verifier.verify_token(_token(key)) is not None
    assert await verifier.verify_token(never_expiring) is None


async def test_two_subjects_of_one_issuer_are_two_owners() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = JWTVerifier(ISSUER, PUBLIC, transport=_issuer([key]))
    alice = await verifier.verify_token(_token(key, sub="alice"))
    bob = await verifier.verify_token(_token(key, sub="bob"))
    assert alice is not None
    assert bob is not None
    assert alice.client_id != bob.client_id


async def test_a_token_naming_no_key_is_refused_where_the_issuer_publishes_several() -> None:
    # Only a key set of one key says which key a token without a key id means.
    first, second = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    verifier = JWTVerifier(ISSUER, PUBLIC, transport=_issuer([first, second]))
    now = int(time.time())
    body = {"iss": ISSUER, "aud": PUBLIC, "sub": "user-1", "iat": now, "exp": now + 300}
    assert await verifier.verify_token(_token(first, kid="k0")) is not None
    assert await verifier.verify_token(jwt.encode(body, first, algorithm="RS256")) is None


@pytest.mark.skipif(sys.platform == "win32", reason="no file descriptor limit to raise")
def test_the_file_descriptor_limit_is_raised_for_the_connections_allowed_and_kept_when_it_cannot_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import resource

    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: (256, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda which, limits: asked.append(limits))
    assert door.make_room() == door.MAX_CONNECTIONS * 2
    assert asked == [(door.MAX_CONNECTIONS * 2, 4096)]
    monkeypatch.setattr(resource, "getrlimit", lambda which: (256, 512))  # the hard limit is as far as it goes
    assert door.make_room() == 512
    monkeypatch.setattr(resource, "getrlimit", lambda which: (4096, 8192))  # enough already: left as it is
    assert door.make_room() == 4096
    assert asked == [(door.MAX_CONNECTIONS * 2, 4096), (512, 512)]
