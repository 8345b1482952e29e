"""The demo: a real MCP client session over stdio against ``ideogram-mcp``, saving what it makes.

Offline (the built-in emulator, no cost) unless RUNWARE_API_KEY is set; then it spends real
credit: three images at the model's price.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from PIL import Image

_JOBS: list[tuple[str, dict[str, Any]]] = [
    (
        "poster",
        {
            "positivePrompt": (
                'A bold screen-printed concert poster. Headline "MIDNIGHT TRAIN" in tall condensed letters at '
                'the top, a steam locomotive under a full moon in the middle, and "LIVE AT THE DEPOT · JUNE 14" '
                "in small caps at the foot. Two-colour palette, deep navy and warm cream, generous margins."
            ),
            "negativePrompt": "misspelled text, extra letters, cluttered layout, watermark",
            "aspectRatio": "2:3",
            "styleType": "DESIGN",
            "stylePreset": "art poster",
            "magicPrompt": "OFF",
            "outputFormat": "PNG",
        },
    ),
    (
        "bakery",
        {
            "positivePrompt": (
                'A street-facing bakery at early morning, straight-on. Gold-leaf window lettering reads "MAPLE & '
                'FLOUR", a chalk sandwich board says "FRESH SOURDOUGH", warm light inside, flower boxes.'
            ),
            "aspectRatio": "16:9",
            "styleType": "REALISTIC",
            "numberResults": 2,
        },
    ),
]


def _say(text: str = "") -> None:
    print(text, flush=True)


async def run(output_dir: Path, offline: bool) -> int:
    """Run the session; returns the process exit code."""
    env = dict(os.environ)
    env.setdefault("IDEOGRAM_MCP_LOG_LEVEL", "WARNING")
    command = [sys.executable, "-m", "ideogram_mcp"] + (["--offline"] if offline else [])
    where = "offline: built-in Runware emulator, placeholder pictures, no cost" if offline else "LIVE Runware API"
    _say(f"ideogram-mcp demo ({where})")
    _say(f"spawning MCP server over stdio: {' '.join(command[1:])}")
    await anyio.Path(output_dir).mkdir(parents=True, exist_ok=True)
    server = StdioServerParameters(command=command[0], args=command[1:], env=env)
    saved: list[Path] = []
    total = 0.0
    async with Client(server) as client, httpx2.AsyncClient(timeout=60) as http:
        listed = await client.list_tools()
        _say(f"tools: {', '.join(t.name for t in listed.tools)}")

        sizes = await client.call_tool("list_sizes", {"ratio": "16:9"})
        found = _data(sizes)["sizes"]
        shown = ", ".join(f"{s['width']}x{s['height']}" for s in found)
        _say(f"list_sizes ratio=16:9 -> {shown}")

        presets = await client.call_tool("list_style_presets", {})
        names = [p["name"] for p in _data(presets)["stylePresets"]]
        _say(f"list_style_presets -> {len(names)} presets ({', '.join(names[:4])}, ...)")

        prompts = await client.list_prompts()
        _say(f"prompts: {', '.join(p.name for p in prompts.prompts)}")

        refused = await client.call_tool(
            "generate_image", {"positivePrompt": "a lighthouse", "width": 1920, "height": 1080}
        )
        _say(f"generate_image 1920x1080 -> refused before any request (is_error={refused.is_error}):")
        _say("   " + _text(refused).replace("\n", "\n   "))

        for name, arguments in _JOBS:
            result = await client.call_tool("generate_image", arguments)
            if result.is_error:
                _say(f"generate_image {name} failed: {_text(result)}")
                return 1
            made = _data(result)
            total += made.get("totalCost") or 0.0
            for n, image in enumerate(made.get("images", []), 1):
                path = await _save(http, image, output_dir / f"{name}-{n}-seed{image['seed']}")
                saved.append(path)
                _say(
                    f"generate_image {name} #{n}: {image['width']}x{image['height']} {image['format']}, "
                    f"seed {image['seed']}, ${image.get('cost', 0):.2f} -> {path} ({path.stat().st_size:,} bytes)"
                )
    _say(f"done: {len(saved)} images in {output_dir}/, total cost ${total:.2f}")
    return 0


def _data(result: types.CallToolResult) -> dict[str, Any]:
    return cast(dict[str, Any], result.structured_content or {})


def _text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def _save(http: httpx2.AsyncClient, image: dict[str, Any], stem: Path) -> Path:
    response = await http.get(image["imageURL"])
    response.raise_for_status()
    picture = Image.open(io.BytesIO(response.content))
    if picture.size != (image["width"], image["height"]):
        raise RuntimeError(f"image is {picture.size}, expected {image['width']}x{image['height']}")
    path = stem.with_suffix("." + {"JPEG": "jpg"}.get(picture.format or "", (picture.format or "bin").lower()))
    await anyio.Path(path).write_bytes(response.content)
    await anyio.Path(path.with_suffix(".json")).write_text(json.dumps(image, indent=2) + "\n")
    return path
