"""Asking the user before a large spend: a client that cannot get an answer counts as a no, and says so."""

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

from ..conftest import error_of, text

pytestmark = pytest.mark.anyio


async def test_when_the_client_fails_to_ask_the_user_nothing_is_spent(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    asked: list[str] = []

    async def failing(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ErrorData:
        asked.append(params.message)
        return types.ErrorData(code=types.INTERNAL_ERROR, message="the dialog could not be shown")

    server = build_server(make_settings(confirm_above=0.10), transport=httpx2.ASGITransport(emulator.app()))
    async with Client(server, mode="legacy", elicitation_callback=failing) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "numberResults": 3})
    assert asked == ["Spend $0.18 of Runware credit to make 3 images with Ideogram 3.0?"]
    assert error_of(result) == {"kind": "unanswered", "quote": 0.18}
    assert text(result) == (
        "The question about spending $0.18 got no answer (the client could not show it), so nothing was sent or "
        "charged. Ask the user in the chat before trying again."
    )
    assert emulator.requests == []
