"""Asking the user before a large spend: a client that cannot put the question is treated as one that cannot ask."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.tools import spending

from ..conftest import error_of, text

pytestmark = pytest.mark.anyio


async def test_when_the_client_fails_to_ask_the_user_nothing_is_spent_until_the_agent_says_they_agreed(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    asked: list[str] = []

    async def failing(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ErrorData:
        asked.append(params.message)
        return types.ErrorData(code=types.INTERNAL_ERROR, message="the dialog could not be shown")

    server = build_server(
        make_settings(confirm_above=0.10), transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock
    )
    async with Client(server, mode="legacy", elicitation_callback=failing) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "numberResults": 3})
        assert emulator.requests == []
        agreed = await mcp.call_tool(
            "generate_image", {"positivePrompt": "x", "numberResults": 3, "approvedCost": 0.18}
        )
    assert asked == ["Spend $0.18 of Runware credit to make 3 images with Ideogram 3.0?"] * 2
    assert error_of(result) == {"kind": "approval_needed", "quote": 0.18, "threshold": 0.1}
    assert text(result) == (
        "This call would cost $0.18, above the $0.10 that needs the user's approval (IDEOGRAM_MCP_CONFIRM_ABOVE), and "
        "this client could not show the question, so nothing was sent or charged. Ask the user in the chat whether "
        "to spend $0.18; if they agree, call again with the same arguments and approvedCost: 0.18. Or ask for at "
        "most 1 image, at most $0.10 in all."
    )
    assert not agreed.is_error
    assert len(emulator.submitted) == 1


def test_a_client_that_takes_questions_only_as_links_cannot_be_asked_a_form() -> None:
    elicitation = types.ElicitationCapability
    form, url = types.FormElicitationCapability(), types.UrlElicitationCapability()
    assert spending.asks_forms(types.ClientCapabilities(elicitation=elicitation(form=form, url=url)))
    assert spending.asks_forms(types.ClientCapabilities(elicitation=elicitation()))  # the spec's compatibility rule
    assert not spending.asks_forms(types.ClientCapabilities(elicitation=elicitation(url=url)))
    assert not spending.asks_forms(types.ClientCapabilities())
    assert not spending.asks_forms(None)
