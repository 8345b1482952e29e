"""The gallery App as a server gives it: the image tools point at it, the extension is advertised, the page is one
self-contained document with its facts from the specs, and a client without Apps gets the very same results."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx2
import mcp.server.apps as sdk_apps
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.extension import ClientExtension

from ideogram_mcp import app
from ideogram_mcp.clock import ManualClock
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.sizes import ratios
from ideogram_mcp.specs import models_of

from ..conftest import IMAGE_TOOLS

pytestmark = pytest.mark.anyio

RESULT_SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "generate_image_result.json"


class Apps(ClientExtension):
    """A host that renders MCP Apps, as it says so at the handshake."""

    identifier = sdk_apps.EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [sdk_apps.APP_MIME_TYPE]}


def test_the_names_are_the_sdks() -> None:
    assert (app.EXTENSION, app.MIME_TYPE) == (sdk_apps.EXTENSION_ID, sdk_apps.APP_MIME_TYPE)


async def test_the_image_tools_point_at_the_gallery_and_the_others_do_not(mcp: Client) -> None:
    listed = {tool.name: tool for tool in (await mcp.list_tools()).tools}
    linked = {name for name, tool in listed.items() if (tool.meta or {}).get("ui") == {"resourceUri": app.URI}}
    assert linked == IMAGE_TOOLS
    assert all(listed[name].meta is None for name in set(listed) - linked)
    assert mcp.server_capabilities.extensions == {app.EXTENSION: {}}


async def test_the_gallery_is_one_document_that_loads_nothing_from_elsewhere(mcp: Client) -> None:
    read = await mcp.read_resource(app.URI)
    (page,) = read.contents
    assert isinstance(page, types.TextResourceContents)
    assert (page.uri, page.mime_type) == (app.URI, "text/html;profile=mcp-app")
    assert page.meta == {"ui": {"csp": {"resourceDomains": ["https://im.runware.ai"]}, "prefersBorder": False}}
    html = page.text
    assert html.startswith("<!doctype html>")
    assert not re.search(r"/\*(STYLE|SCRIPT|FACTS|IMAGE_HOSTS)\*/", html), "every part is written in"
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", html), "nothing is loaded from elsewhere"
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) == {"https://im.runware.ai"}
    assert "default-src 'none'" in html
    assert 'img-src data: https://im.runware.ai"' in html, "the page's own CSP names the host's hosts"
    written = re.search(r'<script id="facts" type="application/json">(.*?)</script>', html, re.S)
    assert written is not None
    facts = json.loads(written[1])
    strength = models_of("remix_image")[0].parameters["remixStrength"]
    assert facts == {
        "imageHosts": ["https://im.runware.ai"],
        "ratios": ratios(models_of("reframe_image")[0].sizes),
        "strength": {"min": strength.minimum, "max": strength.maximum, "default": strength.default},
        "promptNames": ["positivePrompt", "positive_prompt", "positiveprompt", "prompt"],  # as the server reads them
        # The models whose prompt says what a whole image shows (generate_image's and remix_image's), not an edit's.
        "wholePrompts": ["ideogram:4@1", "ideogram:4@0", "ideogram:4@2"],
        "remixPromptMost": 2000,
        "imageNames": [  # the image an edit is made of, as the server reads it
            "image",
            "seedImage",
            "seedimage",
            "seed_image",
            "referenceImages",
            "referenceimages",
            "reference_images",
            "inputImage",
            "inputimage",
            "input_image",
            "init_image",
            "source_image",
            "image_url",
            "imageURL",
            "imageurl",
            "images",
        ],
    }
    assert len(html.encode()) < 40_000, "a page, not a bundle"


async def test_a_client_with_apps_and_one_without_get_the_same_result_as_before_the_gallery(
    settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock, output: Path
) -> None:
    arguments = {"positivePrompt": "a red kite", "numberResults": 2, "fileName": "kite"}
    # What differs between any two calls: the task's and images' UUIDs, the next free file name, the seeds the
    # emulator draws from the task's UUID, and so the pictures' bytes.
    varying = re.compile(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        r'|kite(-[0-9]+)*\.jpg|seed"?:? ?[0-9]+|"data":"[^"]+"'
    )
    results: list[str] = []
    for extensions in ([], [Apps()]):
        async with Client(build_server(settings, transport=transport, clock=clock), extensions=extensions) as client:
            result = await client.call_tool("generate_image", arguments)
        said = result.model_dump_json(by_alias=True, exclude_none=True).replace(str(output), "<output folder>")
        results.append(varying.sub("<differs per call>", said))
    without, with_apps = results
    assert with_apps == without
    # The result as it was before the gallery came (its shape, its words): kept, whoever asks.
    if os.environ.get("UPDATE_SNAPSHOTS"):
        RESULT_SNAPSHOT.write_text(without + "\n")
    assert without == RESULT_SNAPSHOT.read_text().rstrip("\n")
