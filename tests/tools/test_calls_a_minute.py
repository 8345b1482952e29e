"""The limit of paid calls a minute as an agent meets it: a tool error that says how long to wait, and nothing sent."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

from ..conftest import error_of, structured, text

pytestmark = pytest.mark.anyio


async def test_a_call_past_the_calls_a_minute_is_refused_with_the_wait_and_sent_once_the_minute_has_passed(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    settings = make_settings(max_calls_per_minute=2)
    server = build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=clock)
    async with Client(server) as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": "first"})
        second = await mcp.call_tool("generate_image", {"positivePrompt": "second"})
        refused = await mcp.call_tool("generate_image", {"positivePrompt": "third"})
        priced = await mcp.call_tool("generate_image", {"positivePrompt": "third", "dryRun": True})
        sent_by_then = [task["positivePrompt"] for task in emulator.submitted]
        wait = error_of(refused)["retryAfterSeconds"]
        assert 0 < wait <= 60, "the first call leaves the minute within it"
        await clock.advance(wait)
        later = await mcp.call_tool("generate_image", {"positivePrompt": "third, later"})
    assert (structured(first)["status"], structured(second)["status"]) == ("done", "done")
    assert error_of(refused) == {"kind": "rate_limited", "limit": 2, "retryAfterSeconds": wait}
    assert text(refused) == (
        "This server lets each client start 2 paid call(s) a minute (IDEOGRAM_MCP_MAX_CALLS_PER_MINUTE), and that "
        "many were started in the last 60 seconds, so nothing was sent or charged. Try again in "
        f"{wait} second(s), or have the user raise IDEOGRAM_MCP_MAX_CALLS_PER_MINUTE in the server's environment."
    )
    assert structured(priced)["quote"] == 0.06, "a dry run meets the spend limits alone, not this moment's count"
    assert sent_by_then == ["first", "second"], "the refused call never reached Runware"
    assert structured(later)["status"] == "done", "the wait it was told was enough"
    assert [task["positivePrompt"] for task in emulator.submitted] == ["first", "second", "third, later"]


async def test_a_call_past_the_calls_a_minute_is_refused_before_the_user_is_asked_to_approve_its_price(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    asked: list[str] = []

    async def approve(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    settings = make_settings(max_calls_per_minute=1, confirm_above=0.0)
    server = build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=clock)
    async with Client(server, elicitation_callback=approve) as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": "first"})
        refused = await mcp.call_tool("generate_image", {"positivePrompt": "second"})
    assert structured(first)["status"] == "done"
    assert error_of(refused)["kind"] == "rate_limited"
    assert len(asked) == 1, "the user approved the first call's price, and was not asked about one refused anyway"
    assert [task["positivePrompt"] for task in emulator.submitted] == ["first"]
