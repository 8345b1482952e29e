"""The demo: a real MCP client session over stdio against ``ideogram-mcp``, which saves what it makes.

Offline (the built-in emulator, no cost) unless RUNWARE_API_KEY is set; then it spends real
credit, three images at the model's price, and says how much (from the server's own dry runs)
before it spends anything.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import sys
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.from_thread
import anyio.lowlevel
import mcp_types as types
from mcp import Client, StdioServerParameters
from PIL import Image

from ideogram_mcp.settings import ENV

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


async def run(output_dir: Path, offline: bool, save: bool = True, told: Collection[str] = ()) -> int:
    """Run the session, the server saving into ``output_dir`` (absolute) unless ``save`` is off; returns the process
    exit code: 1 when an image was made but not saved (or a call failed). The variables in ``told`` (no settings, and
    said so already) are not passed on, for the server would say so again."""
    env = {name: value for name, value in os.environ.items() if name not in told}
    if not env.get(ENV.log_level, "").strip():  # a blank one is as unset: the server's INFO lines would come
        env[ENV.log_level] = "WARNING"
    try:
        folder = Path(await (await anyio.Path(output_dir).expanduser()).resolve())
    except (OSError, RuntimeError) as exc:  # "~nobody/x", a loop of links, a working folder deleted since
        _say(f"stopped before anything was sent: the output folder {output_dir} cannot be followed ({exc}); give "
             "another with --output-dir")  # fmt: skip
        return 2
    command = [sys.executable, "-m", "ideogram_mcp", "--output-dir", str(folder)]
    command += ["--offline"] if offline else []
    where = "offline: built-in Runware emulator, placeholder pictures, no cost" if offline else "LIVE Runware API"
    _say(f"ideogram-mcp demo ({where})")
    _say(f"spawning MCP server over stdio: ideogram-mcp {' '.join(command[3:])}")
    server = StdioServerParameters(command=command[0], args=command[1:], env=env)
    saved: list[Path] = []
    made = 0
    total = 0.0
    async with Client(server) as client:
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

        quoted = await _quote(client)
        if isinstance(quoted, str):  # a spend limit, or a folder that cannot take files: said as the server says it
            _say(f"stopped before anything was sent: {quoted}")
            return 1
        count, quote = quoted
        if offline:
            _say(f"cost: emulated; nothing is charged (on Runware these {count} images would cost ${quote:.2f})")
        else:
            _say(f"cost: this will spend ${quote:.2f} of real Runware credit on {count} images")
            if sys.stdin.isatty() and not await _confirmed("Press Enter to go on, Ctrl-C to stop: "):
                _say("stopped: nothing was spent")
                return 1

        refused = await client.call_tool(
            "generate_image", {"positivePrompt": "a lighthouse", "width": 1920, "height": 1080}
        )
        _say(f"generate_image 1920x1080 -> refused before any request (is_error={refused.is_error}):")
        _say("   " + _text(refused).replace("\n", "\n   "))

        for name, arguments in _JOBS:
            result = await client.call_tool("generate_image", {**arguments, "fileName": f"demo-{name}"})
            if result.is_error:
                _say(f"generate_image {name} failed: {_text(result)}")
                return 1
            answer = _data(result)
            total += answer.get("totalCost") or 0.0
            said = _text(result).splitlines()
            made += len(answer.get("images", []))
            for n, image in enumerate(answer.get("images", []), 1):
                path = Path(image["path"]) if "path" in image else None
                why = next((line.partition("Not saved: ")[2] for line in said if line.startswith(f"{n}. ")), "")
                why = why.removesuffix(".")
                unsaved = f"not saved ({why})" if why else "not saved"
                where_to = f"{path} ({path.stat().st_size:,} bytes)" if path else f"{unsaved}: {image['imageURL']}"
                _say(
                    f"generate_image {name} #{n}: {image['width']}x{image['height']} {image['format']}, "
                    f"seed {image['seed']}, ${image.get('cost', 0):.2f} -> {where_to}"
                )
                saved += [path] if path else []
            _say(f"   previews in the result: {_previews(result)}")
        resources = await client.list_resources()
        newest = f", newest {resources.resources[0].name}" if resources.resources else ""
        _say(f"resources/list -> {len(resources.resources)} saved image(s){newest}")
    cost = f"${total:.2f}" + (" (emulated: nothing was charged)" if offline else "")
    if not save:
        _say(f"done: {made} images, not saved ({ENV.save} is false: their URLs are above), total cost {cost}")
        return 0
    if len(saved) < made:
        _say(f"failed: {made} images were made, {len(saved)} saved in {folder}/ (the lines above say why); cost {cost}")
        return 1
    _say(f"done: {len(saved)} images and their .json recipes in {folder}/, total cost {cost}")
    return 0


async def _confirmed(question: str) -> bool:
    """Whether the person at the terminal pressed Enter (end of input means no). A daemon thread reads the
    answer: a worker thread would keep the process alive after Ctrl-C until a line came."""
    token = anyio.lowlevel.current_token()
    answered = anyio.Event()
    answer: list[bool] = []

    descriptor = os.dup(sys.stdin.fileno())

    def ask() -> None:
        # Its own descriptor: a thread still blocked in sys.stdin at exit would hold its lock and abort the process.
        try:
            with open(descriptor, encoding="utf-8", errors="replace") as terminal:
                answer.append(bool(terminal.readline()))  # "" is the end of input
        except OSError:  # the terminal went away: no answer, which is no
            pass
        finally:
            with contextlib.suppress(Exception):  # the loop may be gone by then
                anyio.from_thread.run_sync(answered.set, token=token)

    print(question, end="", flush=True)
    threading.Thread(target=ask, name="confirm", daemon=True).start()
    await answered.wait()
    return answer == [True]


async def _quote(client: Client) -> tuple[int, float] | str:
    """How many images the demo makes and what they cost: the server's dry runs say, sending nothing; or the first
    refusal a dry run answers (a spend limit, a folder that cannot take files), in the server's words."""
    count, quote = 0, 0.0
    for _, arguments in _JOBS:
        result = await client.call_tool("generate_image", {**arguments, "dryRun": True})
        if result.is_error:
            return _text(result)
        if " would be refused: " in (said := _text(result)):  # a folder that cannot take the images: no call made
            return said.split(" The task it would send")[0].removeprefix("Dry run: nothing was sent or charged. ")
        planned = _data(result)
        count += planned["requested"]
        quote += planned["quote"]
    return count, quote


def _data(result: types.CallToolResult) -> dict[str, Any]:
    return cast(dict[str, Any], result.structured_content or {})


def _text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _previews(result: types.CallToolResult) -> str:
    shown: list[str] = []
    for block in result.content:
        if isinstance(block, types.ImageContent):
            with Image.open(io.BytesIO(base64.b64decode(block.data))) as picture:
                shown.append(f"{picture.width}x{picture.height} {picture.format} ({len(block.data) // 1024} KB base64)")
    return ", ".join(shown) or "none"
