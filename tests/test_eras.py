"""The main flows end to end, on both protocol eras (the 2025-11-25 handshake and the 2026-07-28 per-request
envelope), over stdio (the installed command, as clients spawn it) and over HTTP (`ideogram-mcp http --workers 2`):
images saved and previewed, the spend question accepted, declined or impossible, pending then get_generation,
resources and prompts. One emulated Runware, over loopback HTTP, serves them all."""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext, ElicitationFnT
from mcp.client.streamable_http import streamable_http_client

from ideogram_mcp.emulator import Emulator

from .conftest import API_KEY, text
from .conftest import structured as data
from .processes import Running, free_port

pytestmark = pytest.mark.anyio

COMMAND = str(Path(sys.executable).with_name("ideogram-mcp"))
ERAS = {"2025-11-25": "legacy", "2026-07-28": "2026-07-28"}
TRANSPORTS = ("stdio", "http")
LARGE = {"positivePrompt": 'A shop banner reading "SALE"', "numberResults": 10}
"""$0.60, above the default $0.50 that needs the user's approval."""


@dataclass
class Runware:
    """The emulated Runware every server here uses, and the environment that points a server at it."""

    emulator: Emulator
    env: dict[str, str]

    def paid(self) -> int:
        return len([task for task in self.emulator.submitted if task.get("taskType") == "imageInference"])


@pytest.fixture(scope="module")
def runware(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runware]:
    emulator = Emulator(api_key=API_KEY)
    folder = tmp_path_factory.mktemp("eras")
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(emulator.served()) as url,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWARE_", "IDEOGRAM_MCP_"))} | {
            "RUNWARE_API_KEY": API_KEY,
            "RUNWARE_BASE_URL": url,
            "IDEOGRAM_MCP_DATA_DIR": str(folder / "data"),
            "IDEOGRAM_MCP_OUTPUT_DIR": str(folder / "out"),
            "IDEOGRAM_MCP_WAIT_SECONDS": "2",  # time enough on a loaded machine; the slow render is longer
            "IDEOGRAM_MCP_LOG_LEVEL": "WARNING",
        }
        yield Runware(emulator, env)


@pytest.fixture(scope="module")
def http_url(runware: Runware) -> Iterator[str]:
    """`ideogram-mcp http --workers 2` on a free loopback port: two processes behind one address."""
    server = Running(["http", "--port", str(free_port()), "--workers", "2"], runware.env)
    try:
        yield server.listening()
    finally:
        server.terminate()


Answer = ElicitationFnT


def answering(action: str) -> Answer:
    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)  # pyright: ignore[reportArgumentType]

    return answer


@pytest.fixture
def connect(request: pytest.FixtureRequest, runware: Runware) -> Callable[..., AbstractAsyncContextManager[Client]]:
    """A client of the era and transport the test is parametrized with (an HTTP server is started only when used)."""
    era, transport = request.node.callspec.params["era"], request.node.callspec.params["transport"]

    @asynccontextmanager
    async def client(elicitation: Answer | None = None) -> AsyncIterator[Client]:
        if transport == "stdio":
            server: Any = StdioServerParameters(command=COMMAND, args=[], env=runware.env)
            async with Client(server, mode=ERAS[era], elicitation_callback=elicitation) as mcp:
                yield mcp
            return
        url = request.getfixturevalue("http_url")
        async with (
            httpx2.AsyncClient(timeout=60) as http,
            Client(
                streamable_http_client(url, http_client=http), mode=ERAS[era], elicitation_callback=elicitation
            ) as mcp,
        ):
            yield mcp

    return client


both = pytest.mark.parametrize(("era", "transport"), [(e, t) for e in ERAS for t in TRANSPORTS])


def on_disk(runware: Runware, image: dict[str, Any]) -> Path:
    """Where an image of a result is: over HTTP its path is told relative to the connection's folder."""
    return Path(runware.env["IDEOGRAM_MCP_OUTPUT_DIR"]) / image["path"]


def resource_uri(transport: str, image: dict[str, Any]) -> str:
    return Path(image["path"]).as_uri() if transport == "stdio" else f"ideogram://images/{image['path']}"


def kind(result: types.CallToolResult) -> str:
    assert result.is_error, text(result)
    return str((result.meta or {})["ideogram-mcp/error"]["kind"])


@both
async def test_generated_images_are_saved_previewed_and_linked(
    era: str, transport: str, connect: Callable[..., AbstractAsyncContextManager[Client]], runware: Runware
) -> None:
    async with connect() as mcp:
        assert mcp.session.protocol_version == era
        result = await mcp.call_tool("generate_image", {"positivePrompt": '"HELLO" on a wall', "numberResults": 2})
    made = data(result)
    assert (made["status"], len(made["images"])) == ("done", 2)
    for image in made["images"]:
        assert on_disk(runware, image).read_bytes()[:3] == b"\xff\xd8\xff"
        assert Path(image["path"]).is_absolute() == (transport == "stdio"), "no server path is told over HTTP"
    assert len([b for b in result.content if isinstance(b, types.ImageContent)]) == 2
    links = [b for b in result.content if isinstance(b, types.ResourceLink)]
    assert [str(link.uri) for link in links] == [resource_uri(transport, image) for image in made["images"]]


@both
async def test_a_spend_above_the_threshold_waits_for_the_users_yes(
    era: str, transport: str, connect: Callable[..., AbstractAsyncContextManager[Client]], runware: Runware
) -> None:
    can_ask = not (era == "2025-11-25" and transport == "http")  # stateless HTTP on the handshake: no channel back
    before = runware.paid()
    async with connect(answering("decline")) as mcp:
        declined = await mcp.call_tool("generate_image", LARGE)
    async with connect() as mcp:  # a client without elicitation cannot be asked
        not_asked = await mcp.call_tool("generate_image", LARGE)
        approved = await mcp.call_tool("generate_image", LARGE | {"approvedCost": 0.6})
    assert kind(declined) == ("declined" if can_ask else "approval_needed")
    assert kind(not_asked) == "approval_needed"
    assert "approvedCost: 0.6" in text(not_asked)
    assert len(data(approved)["images"]) == 10
    assert runware.paid() == before + 1, "only the call with approvedCost was sent, once"
    async with connect(answering("accept")) as mcp:
        accepted = await mcp.call_tool("generate_image", LARGE)
    if can_ask:
        assert len(data(accepted)["images"]) == 10
    else:
        assert kind(accepted) == "approval_needed"
    assert runware.paid() == before + 1 + can_ask


@both
async def test_a_slow_generation_is_pending_and_get_generation_brings_it(
    era: str, transport: str, connect: Callable[..., AbstractAsyncContextManager[Client]], runware: Runware
) -> None:
    runware.emulator.render_seconds = 4.0  # longer than the call's wait: pending, then fetched
    try:
        async with connect() as mcp:
            first = data(await mcp.call_tool("generate_image", {"positivePrompt": "slow", "numberResults": 2}))
            assert (first["status"], first["images"]) == ("pending", [])
            with anyio.fail_after(30):
                while (later := data(await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]})))[
                    "status"
                ] != "done":
                    pass
    finally:
        runware.emulator.render_seconds = 0.0
    assert len(later["images"]) == 2
    assert all(on_disk(runware, image).is_file() for image in later["images"])


@both
async def test_saved_images_are_resources_read_whole(
    era: str, transport: str, connect: Callable[..., AbstractAsyncContextManager[Client]], runware: Runware
) -> None:
    async with connect() as mcp:
        (image,) = data(await mcp.call_tool("generate_image", {"positivePrompt": "a resource"}))["images"]
        listed = await mcp.list_resources()
        read = await mcp.read_resource(resource_uri(transport, image))
    assert resource_uri(transport, image) in [str(r.uri) for r in listed.resources]
    (content,) = read.contents
    assert isinstance(content, types.BlobResourceContents)
    assert base64.b64decode(content.blob) == on_disk(runware, image).read_bytes()


@both
async def test_prompts_are_listed_and_filled_in(
    era: str, transport: str, connect: Callable[..., AbstractAsyncContextManager[Client]]
) -> None:
    async with connect() as mcp:
        listed = await mcp.list_prompts()
        poster = await mcp.get_prompt("poster", {"headline": "OPEN LATE", "subject": "a night market"})
    assert "poster" in [p.name for p in listed.prompts]
    (message,) = poster.messages
    assert isinstance(message.content, types.TextContent)
    assert '"OPEN LATE"' in message.content.text


async def test_a_2026_stdio_session_started_in_a_project_saves_there(runware: Runware, tmp_path: Path) -> None:
    project = tmp_path / "my-project"
    project.mkdir()
    env = {k: v for k, v in runware.env.items() if k != "IDEOGRAM_MCP_OUTPUT_DIR"}
    server = StdioServerParameters(command=COMMAND, args=[], env=env, cwd=project)
    async with Client(server, mode="2026-07-28") as mcp:
        (image,) = data(await mcp.call_tool("generate_image", {"positivePrompt": "in the project"}))["images"]
        outside = await mcp.call_tool("generate_image", {"positivePrompt": "x", "outputDir": str(tmp_path)})
    assert Path(image["path"]).parent == (project / "ideogram-output").resolve()
    assert kind(outside) == "invalid_arguments"
