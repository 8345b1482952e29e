"""generate_image as an agent meets it: the task that reaches Runware, the result, progress."""

from __future__ import annotations

import io
from pathlib import Path

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from PIL import Image

from ideogram_mcp.emulator import Emulator

from ..conftest import structured as data
from ..conftest import text

pytestmark = pytest.mark.anyio

PROMPT = 'A gallery poster, headline "NORTHERN LIGHTS" at the top, a small line "OPENS MAY 2" below'


async def test_generate_image_sends_a_runware_task_with_everything_in_its_place(
    mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool(
        "generate_image",
        {
            "positivePrompt": PROMPT,
            "negativePrompt": "blurry text",
            "width": 832,
            "height": 1248,
            "styleType": "DESIGN",
            "stylePreset": "ART_POSTER",
            "magicPrompt": "OFF",
            "renderingSpeed": "QUALITY",
            "numberResults": 2,
            "outputFormat": "PNG",
            "outputQuality": 80,
            "checkContent": True,
            "ttl": 3600,
            "styleReferenceImages": ["https://example.com/style.png"],
        },
    )
    assert not result.is_error, text(result)
    (task,) = emulator.submitted
    assert task.pop("taskUUID") == data(result)["taskUUID"]
    assert task == {
        "taskType": "imageInference",
        "model": "ideogram:4@1",
        "outputType": "URL",
        "deliveryMethod": "async",
        "includeCost": True,
        "positivePrompt": PROMPT,
        "negativePrompt": "blurry text",
        "width": 832,
        "height": 1248,
        "numberResults": 2,
        "outputFormat": "PNG",
        "outputQuality": 80,
        "ttl": 3600,
        "safety": {"checkContent": True, "mode": "fast"},
        "providerSettings": {
            "ideogram": {
                "styleType": "DESIGN",
                "stylePreset": "ART_POSTER",
                "magicPrompt": "OFF",
                "renderingSpeed": "QUALITY",
                "styleReferenceImages": ["https://example.com/style.png"],
            }
        },
    }


async def test_generate_image_returns_files_urls_seeds_sizes_costs_and_links(
    mcp: Client, transport: httpx2.ASGITransport, output: Path
) -> None:
    result = await mcp.call_tool(
        "generate_image", {"positivePrompt": PROMPT, "aspectRatio": "16:9", "numberResults": 2, "checkContent": True}
    )
    assert not result.is_error, text(result)
    out = data(result)
    assert out["model"] == "ideogram:4@1"
    assert out["totalCost"] == pytest.approx(0.12)
    assert out["folder"] == str(output.resolve())
    assert len(out["images"]) == 2
    assert len({i["seed"] for i in out["images"]}) == 2
    links = [b for b in result.content if isinstance(b, types.ResourceLink)]
    assert [str(link.uri) for link in links] == [Path(i["path"]).as_uri() for i in out["images"]]
    async with httpx2.AsyncClient(transport=transport) as http:
        for image in out["images"]:
            assert (image["width"], image["height"], image["format"]) == (1312, 736, "JPG")
            assert image["cost"] == 0.06
            assert image["NSFWContent"] is False
            served = (await http.get(image["imageURL"])).content
            assert Path(image["path"]).read_bytes() == served
            picture = Image.open(io.BytesIO(served))
            assert (picture.format, picture.size) == ("JPEG", (1312, 736))
    lines = text(result).splitlines()
    assert lines[0] == "Generated 2 image(s) with Ideogram 3.0: 1312x736 JPG, $0.12."
    assert lines[1:3] == [f"{n}. {i['path']} (seed {i['seed']})" for n, i in enumerate(out["images"], 1)]
    assert "imageURL" not in text(result)
    assert not any(i["imageURL"] in text(result) for i in out["images"])


async def test_generate_image_reports_progress_to_clients_that_ask(mcp: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    await mcp.call_tool("generate_image", {"prompt": "x", "numberResults": 2}, progress_callback=on_progress)
    assert [message for _, _, message in seen[:2]] == [
        "Preparing the task (make 2 images with Ideogram 3.0)",
        "Sending the task (make 2 images with Ideogram 3.0)",
    ]
    message = seen[-1][2]
    assert message is not None
    assert message.startswith("2 of 2 ready, ")
    values = [progress for progress, _, _ in seen]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert {total for _, total, _ in seen} == {2}


async def test_without_a_safety_check_results_carry_no_nsfw_flag(mcp: Client, emulator: Emulator) -> None:
    result = await mcp.call_tool("generate_image", {"prompt": "a red fox"})
    (image,) = data(result)["images"]
    assert "NSFWContent" not in image
    assert "safety" not in emulator.submitted[0]
    assert (image["width"], image["height"]) == (1024, 1024)
