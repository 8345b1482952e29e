"""Against the real Runware API: skipped unless RUNWARE_API_KEY is set and IDEOGRAM_MCP_LIVE=1 (costs $0.06)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import pytest
from mcp import Client
from PIL import Image

from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not (os.environ.get("RUNWARE_API_KEY") and os.environ.get("IDEOGRAM_MCP_LIVE") == "1"),
        reason="live Runware test: set RUNWARE_API_KEY and IDEOGRAM_MCP_LIVE=1 (spends $0.06)",
    ),
]


async def test_runware_generates_one_image_of_the_requested_size(output: Path) -> None:
    with anyio.fail_after(180):
        async with Client(build_server(Settings(output_dir=output))) as mcp, httpx2.AsyncClient() as http:
            result = await mcp.call_tool(
                "generate_image",
                {
                    "positivePrompt": 'A chalkboard that reads "LIVE TEST"',
                    "aspectRatio": "4:3",
                    "renderingSpeed": "TURBO",
                },
            )
            assert not result.is_error, result.content
            (image,) = cast(dict[str, Any], result.structured_content)["images"]
            served = (await http.get(image["imageURL"])).content
            picture = Image.open(io.BytesIO(served))
    assert picture.size == (1152, 864)
    assert Path(image["path"]).read_bytes() == served
    assert image["cost"] > 0
