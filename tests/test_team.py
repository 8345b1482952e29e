"""Serving a team: two `ideogram-mcp http` processes on two ports (two "machines", two workers each) with nothing
in common but a PostgreSQL database, an S3 bucket (a real SeaweedFS), the key ring and the Runware emulator. Each
has a data folder of its own; both name the same images root, which no one ever creates on disk.

What one machine did, the other knows: a daily budget holds across both; an image made through one is listed,
read and edited through the other; a task whose machine was killed while it rendered is delivered through the
other, charged and stored once; a spend question asked by one is answered through the other and sent once; a
listener of one hears of an image the other saved. Each test has a token (an owner) of its own.
"""

from __future__ import annotations

import base64
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import httpx2
import mcp_types as types
import obstore
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ResourcesListChanged

from ideogram_mcp import http
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.emulator.state import Answer
from ideogram_mcp.specs import load_spec

from .conftest import API_KEY
from .conftest import structured as data
from .objectstore import S3Server
from .postgresql import PostgreSQL
from .processes import Running, clean_env, serving
from .test_http import STATE_KEY, RoundRobin

pytestmark = pytest.mark.anyio

TOKENS = {name: f"token-{name}-0123456789" for name in ("budget", "shared", "killed", "asked", "heard")}
ONE_IMAGE = load_spec().quote({})
"""What one image of generate_image costs: the daily budget allows three."""
PATIENCE = 60.0


@dataclass
class Team:
    """Two machines serving one address, and what they share."""

    ports: list[int]
    machines: list[Running]
    emulator: Emulator
    s3: S3Server
    place: str
    images_root: Path
    watched: dict[str, threading.Event]

    def watch(self, prompt: str) -> threading.Event:
        """Set once a task with this prompt reaches the emulated Runware (it runs in a thread of its own)."""
        self.watched[prompt] = threading.Event()
        return self.watched[prompt]

    def url(self, machine: int) -> str:
        return f"http://127.0.0.1:{self.ports[machine]}/mcp"

    def objects(self, owner_token: str) -> list[str]:
        """The names of the objects kept in the bucket for one token."""
        owner = http.owner_of(f"token:{owner_token}")
        listed = obstore.list(self.s3.store(self.place), prefix=owner).collect()
        return sorted(Path(meta["path"]).name for meta in listed)


@pytest.fixture(scope="module")
def team(postgresql: PostgreSQL, s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    emulator = Emulator(api_key=API_KEY)
    watched: dict[str, threading.Event] = {}
    rendering = emulator.handlers["imageInference"]

    async def watching(task: dict[str, Any], base: str) -> Answer:
        if (arrived := watched.get(str(task.get("positivePrompt")))) is not None:
            arrived.set()
        return await rendering(task, base)

    emulator.handlers["imageInference"] = watching
    place, images_root = s3.place(), tmp_path_factory.mktemp("team") / "images-root"
    with anyio.from_thread.start_blocking_portal() as portal, portal.wrap_async_context_manager(
        emulator.served()
    ) as runware:  # fmt: skip
        shared = clean_env(
            RUNWARE_API_KEY=API_KEY,
            RUNWARE_BASE_URL=runware,
            IDEOGRAM_MCP_TOKENS=",".join(TOKENS.values()),
            IDEOGRAM_MCP_DATABASE_URL=postgresql.database(),
            IDEOGRAM_MCP_STORAGE_URL=s3.url(place),
            IDEOGRAM_MCP_OUTPUT_DIR=str(images_root),
            IDEOGRAM_MCP_STATE_KEYS=STATE_KEY,
            IDEOGRAM_MCP_DAILY_BUDGET=str(3 * ONE_IMAGE),
            IDEOGRAM_MCP_CONFIRM_ABOVE=str(ONE_IMAGE),
            IDEOGRAM_MCP_MAX_IN_FLIGHT="50",
            IDEOGRAM_MCP_WAIT_SECONDS="20",
            IDEOGRAM_MCP_PREVIEW="false",
            **s3.env(),
        )
        ports: list[int] = []
        machines: list[Running] = []
        try:
            for n in range(2):
                port, machine = serving(
                    ["--workers", "2"], shared | {"IDEOGRAM_MCP_DATA_DIR": str(tmp_path_factory.mktemp(f"machine-{n}"))}
                )
                ports.append(port)
                machines.append(machine)
            yield Team(ports, machines, emulator, s3, place, images_root, watched)
        finally:
            for machine in machines:
                if machine.process.poll() is None:
                    os.killpg(machine.process.pid, signal.SIGTERM)
                machine.ended()


@asynccontextmanager
async def client(
    url: str, token: str, *, transport: httpx2.AsyncBaseTransport | None = None, mode: str | None = None, **extra: Any
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(transport=transport, headers=headers, timeout=PATIENCE) as http_client,
        Client(
            streamable_http_client(url, http_client=http_client), **({"mode": mode} if mode else {}), **extra
        ) as mcp,
    ):
        yield mcp


def kind(result: types.CallToolResult) -> str:
    return (result.meta or {})["ideogram-mcp/error"]["kind"] if result.is_error else data(result)["status"]


async def test_twenty_calls_spread_over_both_machines_against_a_budget_for_three_send_exactly_three(
    team: Team,
) -> None:
    token = TOKENS["budget"]
    outcomes: list[str] = []
    async with (
        client(team.url(0), token, transport=RoundRobin([str(p) for p in team.ports])) as spread,
        anyio.create_task_group() as group,
    ):

        async def call(n: int) -> None:
            outcomes.append(kind(await spread.call_tool("generate_image", {"positivePrompt": f"poster {n}"})))

        for n in range(20):
            group.start_soon(call, n)
    sent = [t for t in team.emulator.received if t.get("positivePrompt", "").startswith("poster ")]
    assert sorted(outcomes) == ["done"] * 3 + ["over_budget"] * 17
    assert len(sent) == 3
    assert len(team.objects(token)) == 6, "three images and their recipes, in the bucket"


async def test_an_image_made_through_one_machine_is_listed_read_and_edited_through_the_other(team: Team) -> None:
    token = TOKENS["shared"]
    async with client(team.url(0), token) as a:
        made = data(await a.call_tool("generate_image", {"positivePrompt": "a red kite", "fileName": "kite"}))
    (image,) = made["images"]
    async with client(team.url(1), token) as b:
        listed = await b.list_resources()
        read = await b.read_resource("ideogram://images/kite.jpg")
        by_uri = data(
            await b.call_tool(
                "edit_image",
                {
                    "image": "ideogram://images/kite.jpg",
                    "region": {"x": 0.25, "y": 0.25, "width": 0.5, "height": 0.5},
                    "positivePrompt": "a blue kite",
                    "fileName": "kite-blue",
                },
            )
        )
        by_uuid = data(
            await b.call_tool(
                "edit_image",
                {
                    "image": image["imageUUID"],
                    "region": {"x": 0.0, "y": 0.0, "width": 0.5, "height": 0.5},
                    "positivePrompt": "a green kite",
                    "fileName": "kite-green",
                },
            )
        )
    assert [str(r.uri) for r in listed.resources] == ["ideogram://images/kite.jpg"]
    content = read.contents[0]
    assert isinstance(content, types.BlobResourceContents)
    owner = http.owner_of(f"token:{token}")
    saved = bytes(obstore.get(team.s3.store(team.place), f"{owner}/kite.jpg").bytes())
    assert base64.b64decode(content.blob) == saved
    edits = [t for t in team.emulator.received if t.get("positivePrompt") in ("a blue kite", "a green kite")]
    assert len(edits) == 2
    assert all(image["imageUUID"] in str(t) for t in edits), "both edits sent the image made through the other"
    assert (by_uri["images"][0]["path"], by_uuid["images"][0]["path"]) == ("kite-blue.jpg", "kite-green.jpg")
    assert team.objects(token) == sorted(
        ["kite.jpg", "kite.json", "kite-blue.jpg", "kite-blue.json", "kite-green.jpg", "kite-green.json"]
    )
    assert not team.images_root.exists(), "no machine wrote an image to its disk"


async def test_a_spend_question_asked_through_one_machine_is_answered_through_the_other_and_sent_once(
    team: Team,
) -> None:
    token = TOKENS["asked"]
    balancer = RoundRobin([str(p) for p in team.ports if p != team.ports[0]] + [str(team.ports[0])])

    async def accept(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    arguments = {"positivePrompt": "two posters", "numberResults": 2}
    async with client(team.url(1), token, transport=balancer, mode="2026-07-28", elicitation_callback=accept) as mcp:
        asked = await mcp.session.call_tool("generate_image", arguments, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        answered = await mcp.session.call_tool(
            "generate_image",
            arguments,
            input_responses={"confirmSpend": types.ElicitResult(action="accept", content={"confirm": True})},
            request_state=asked.request_state,
        )
    made = data(answered)
    asked_at, answered_at = balancer.served[-2:]
    assert asked_at != answered_at, "asked by one machine, answered through the other"
    assert [t["taskUUID"] for t in team.emulator.received if t.get("positivePrompt") == "two posters"] == [
        made["taskUUID"]
    ]


async def test_a_listener_of_one_machine_hears_of_an_image_the_other_saved(team: Team) -> None:
    token = TOKENS["heard"]
    async with client(team.url(1), token, mode="2026-07-28") as b, b.listen(resources_list_changed=True) as heard:
        with anyio.fail_after(PATIENCE):
            assert await anext(heard) == ResourcesListChanged()  # it hears the other machines from now on
            async with client(team.url(0), token) as a:
                made = data(await a.call_tool("generate_image", {"positivePrompt": "a harbour at dawn"}))
            assert await anext(heard) == ResourcesListChanged()
    assert made["status"] == "done"


async def test_a_task_whose_machine_was_killed_while_it_rendered_is_delivered_through_the_other_once(
    team: Team,
) -> None:
    token = TOKENS["killed"]
    team.emulator.render_seconds = 3.0
    try:
        with anyio.fail_after(PATIENCE):
            async with anyio.create_task_group() as group:

                async def doomed() -> None:
                    async with client(team.url(0), token) as a:
                        await a.call_tool(
                            "generate_image",
                            {"positivePrompt": "a lighthouse", "numberResults": 2, "approvedCost": 2 * ONE_IMAGE},
                        )

                arrived = team.watch("a lighthouse")
                group.start_soon(doomed)
                assert await anyio.to_thread.run_sync(arrived.wait, PATIENCE), "the task reached Runware"
                os.killpg(team.machines[0].process.pid, signal.SIGKILL)  # the machine, its workers and all
                team.machines[0].ended()
                group.cancel_scope.cancel()  # the call to the dead machine ends with it
            async with client(team.url(1), token) as b:
                (pending,) = data(await b.call_tool("list_generations", {}))["generations"]
                assert pending["state"] == "pending", "A died before it could deliver: B takes the task over"
                delivered = data(await b.call_tool("get_generation", {"taskUUID": pending["taskUUID"]}))
                while delivered["status"] != "done":
                    delivered = data(await b.call_tool("get_generation", {"taskUUID": pending["taskUUID"]}))
                again = data(await b.call_tool("get_generation", {"taskUUID": pending["taskUUID"]}))
    finally:
        team.emulator.render_seconds = 0.0
    charges = [c for c in team.emulator.ledger if c.task_uuid == pending["taskUUID"]]
    assert len(charges) == 1, "the task was sent once and charged once"
    assert len(delivered["images"]) == 2
    assert [i["path"] for i in again["images"]] == [i["path"] for i in delivered["images"]]
    images = [name for name in team.objects(token) if not name.endswith(".json")]
    assert len(images) == 2, "each image stored once"
