"""Ideogram 4.0 and background removal against the real Runware API: skipped unless RUNWARE_API_KEY is set and
IDEOGRAM_MCP_LIVE=1.

It spends about $0.07: one TURBO 4.0 image from a text prompt, one from a structured prompt, and one background
removal. Most of what the specs say of these models is [sdk] or [guess] (``specs/ideogram-4.0.toml``,
``specs/ideogram-remove-background.toml``); this check prints each such fact as confirmed or contradicted by what
Runware accepts, answers and charges, and fails if any is contradicted.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import cast

import anyio
import pytest
from mcp import Client
from PIL import Image

from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.specs import load_spec

from .conftest import structured as data

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not (os.environ.get("RUNWARE_API_KEY") and os.environ.get("IDEOGRAM_MCP_LIVE") == "1"),
        reason="live Runware test: set RUNWARE_API_KEY and IDEOGRAM_MCP_LIVE=1 (spends about $0.07)",
    ),
]

SCENE = {
    "high_level_description": "A minimal gig poster, amber type on near-black.",
    "style_description": {"aesthetics": "confident type hierarchy", "color_palette": ["#0E0C0A", "#E8A13B"]},
    "compositional_deconstruction": {
        "background": "Near-black textured paper.",
        "elements": [
            {"type": "text", "text": "LIVE CHECK", "desc": "huge condensed capitals", "bbox": [80, 80, 400, 920]},
            {"type": "obj", "desc": "a vintage microphone", "bbox": [500, 300, 950, 700]},
        ],
    },
}


async def test_ideogram_4_and_background_removal_answer_as_the_specs_say(output: Path, data_dir: Path) -> None:
    four = load_spec("ideogram:4@0")
    checks: list[tuple[str, bool]] = []
    settings = Settings(output_dir=output, data_dir=data_dir, wait_seconds=120, confirm_above=1.0)
    with anyio.fail_after(600):
        async with Client(build_server(settings)) as mcp:
            text_made = data(
                await mcp.call_tool(
                    "generate_image",
                    {
                        "model": "ideogram-4.0",
                        "positivePrompt": 'A chalkboard that reads "LIVE TEST"',
                        "renderingSpeed": "TURBO",
                    },
                )
            )
            scene_made = data(
                await mcp.call_tool(
                    "generate_image",
                    {
                        "model": "ideogram-4.0",
                        "structuredPrompt": SCENE,
                        "aspectRatio": "2:3",
                        "renderingSpeed": "TURBO",
                    },
                )
            )
            (image,) = text_made["images"]
            cut = data(await mcp.call_tool("remove_background", {"image": image["imageUUID"]}))
    (scene,) = scene_made["images"]
    (cutout,) = cut["images"]
    turbo = cast(dict[str, float], four.model.prices or {}).get("TURBO", 0.03)
    checks += [
        ("4.0 takes settings.renderingSpeed TURBO and prices it at the spec's TURBO price", image["cost"] == turbo),
        ("4.0 answers at the spec's default size, 2048x2048", (image["width"], image["height"]) == (2048, 2048)),
        ("4.0 answers a text prompt with the structured prompt it ran", bool(image.get("structuredPrompt"))),
        ("4.0 takes settings.structuredPrompt", scene_made["status"] == "done"),
        ("4.0 makes a listed 2:3 size, 1664x2496", (scene["width"], scene["height"]) == (1664, 2496)),
        (
            "4.0 answers a structured prompt with its elements' text",
            "LIVE CHECK" in str(scene.get("structuredPrompt")),
        ),
        ("removeBackground costs $0.01", cutout["cost"] == 0.01),
        ("removeBackground answers a PNG", cutout["format"] == "PNG"),
    ]
    picture = Image.open(io.BytesIO(Path(cutout["path"]).read_bytes()))
    alpha = picture.getchannel("A") if picture.mode in ("RGBA", "LA") else None
    checks.append(
        ("removeBackground's PNG has transparency", alpha is not None and cast(int, alpha.getextrema()[0]) < 255)
    )
    for fact, held in checks:
        print(f"{'confirmed' if held else 'CONTRADICTED'}: {fact}")
    assert [fact for fact, held in checks if not held] == []
