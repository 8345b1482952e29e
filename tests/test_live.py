"""Against the real Runware API: skipped unless RUNWARE_API_KEY is set and IDEOGRAM_MCP_LIVE=1.

It spends about $0.20: one image, then one TURBO call of each editing model on it. The editing
models' input keys are [guess]es in their spec files; this is the test that confirms them.
"""

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
        reason="live Runware test: set RUNWARE_API_KEY and IDEOGRAM_MCP_LIVE=1 (spends about $0.20)",
    ),
]


def data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return cast(dict[str, Any], result.structured_content)


async def test_runware_generates_then_each_family_model_takes_the_image(output: Path, data_dir: Path) -> None:
    settings = Settings(output_dir=output, data_dir=data_dir, wait_seconds=120)
    with anyio.fail_after(600):
        async with Client(build_server(settings)) as mcp, httpx2.AsyncClient() as http:
            made = data(
                await mcp.call_tool(
                    "generate_image",
                    {
                        "positivePrompt": 'A chalkboard that reads "LIVE TEST"',
                        "aspectRatio": "4:3",
                        "renderingSpeed": "TURBO",
                    },
                )
            )
            (image,) = made["images"]
            served = (await http.get(image["imageURL"])).content
            edits = {
                "remix_image": {"positivePrompt": "the same chalkboard as a watercolour", "remixStrength": 40},
                "edit_image": {
                    "positivePrompt": 'a chalkboard that reads "EDITED"',
                    "region": {"x": 0.1, "y": 0.2, "width": 0.8, "height": 0.6},
                },
                "reframe_image": {"aspectRatio": "16:9"},
                "replace_background": {"positivePrompt": "a sunny classroom"},
            }
            made_by = {
                tool: data(await mcp.call_tool(tool, {"image": image["imageUUID"], "renderingSpeed": "TURBO", **extra}))
                for tool, extra in edits.items()
            }
    assert Image.open(io.BytesIO(served)).size == (1152, 864)
    assert Path(image["path"]).read_bytes() == served
    assert image["cost"] > 0
    for tool, out in made_by.items():
        assert out["status"] == "done", tool
        assert out["images"][0]["cost"] > 0, tool
    assert (made_by["reframe_image"]["images"][0]["width"], made_by["reframe_image"]["images"][0]["height"]) == (
        1312,
        736,
    )
