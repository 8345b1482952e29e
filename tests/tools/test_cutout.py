"""remove_background as an agent meets it: the removeBackground task that reaches Runware (the image under inputs,
PNG out, no count), a PNG with transparency saved and previewed, its $0.01 quoted, and an image made earlier in the
session cut out by its saved path."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, cast

import mcp_types as types
import pytest
from mcp import Client
from PIL import Image

from ideogram_mcp.emulator import Emulator, rules

from ..conftest import error_of, picture, structured, text

pytestmark = pytest.mark.anyio

MODEL = "ideogram:remove-background@0"


def cutouts(emulator: Emulator) -> list[dict[str, Any]]:
    return [t for t in emulator.submitted if t["taskType"] == "removeBackground"]


def assert_transparent_png(path: str, size: tuple[int, int]) -> None:
    with Image.open(path) as made:
        assert (made.format, made.mode, made.size) == ("PNG", "RGBA", size)
        assert made.getchannel("A").getextrema() == (0, 255)  # a background cut away, a subject kept


async def test_remove_background_sends_a_remove_background_task_and_saves_a_png_with_transparency(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    picture(output / "product.png", (600, 400))
    result = await mcp.call_tool("remove_background", {"image": "product.png"})
    out = structured(result)
    (task,) = cutouts(emulator)
    (upload,) = [t for t in emulator.submitted if t["taskType"] == "imageUpload"]
    assert set(task) == {
        "taskType", "taskUUID", "model", "inputs", "outputType", "outputFormat", "includeCost", "deliveryMethod",
    }  # fmt: skip
    assert {k: v for k, v in task.items() if k != "taskUUID"} == {
        "taskType": "removeBackground",
        "model": MODEL,
        "inputs": {"image": task["inputs"]["image"]},
        "outputType": "URL",
        "outputFormat": "PNG",
        "includeCost": True,
        "deliveryMethod": "async",
    }
    assert task["inputs"]["image"] in emulator.images
    assert upload["image"].startswith("data:image/png;base64,")
    (image,) = out["images"]
    assert (out["status"], out["model"], out["requested"], image["format"]) == ("done", MODEL, 1, "PNG")
    assert (out["quote"], out["totalCost"], image["cost"]) == (0.01, 0.01, 0.01)
    assert [charge.cost for charge in emulator.ledger if charge.task_uuid == task["taskUUID"]] == [0.01]
    assert "seed" not in image
    assert f"1. {image['path']}\n" in text(result) + "\n"  # no seed to say, nor "seed None"
    assert next(c.title for c in result.content if c.type == "resource_link") == "Image 1"
    assert image["path"].endswith(".png")
    assert_transparent_png(image["path"], (600, 400))
    assert any(c.type == "image" for c in result.content)  # previewed like any result
    recipe = json.loads(Path(image["path"]).with_suffix(".json").read_text())
    assert recipe["model"] == MODEL
    listed = text(await mcp.call_tool("list_generations", {}))
    assert listed.splitlines()[-1].endswith(", $0.01, remove_background"), "no prompt to show: not an empty ''"


async def test_remove_background_on_an_image_saved_earlier_in_the_session_takes_its_path_with_no_upload(
    mcp: Client, emulator: Emulator
) -> None:
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "a red bicycle", "aspectRatio": "16:9"}))
    earlier = made["images"][0]
    out = structured(await mcp.call_tool("remove_background", {"image": earlier["path"]}))
    assert [t["taskType"] for t in emulator.submitted] == ["imageInference", "removeBackground"]
    assert cutouts(emulator)[0]["inputs"] == {"image": earlier["imageUUID"]}
    (image,) = out["images"]
    assert image["path"] != earlier["path"]
    assert_transparent_png(image["path"], (1312, 736))


async def test_a_dry_run_of_remove_background_quotes_a_cent_and_sends_nothing(mcp: Client, emulator: Emulator) -> None:
    out = structured(await mcp.call_tool("remove_background", {"image": "https://example.com/cat.jpg", "dryRun": True}))
    assert (out["status"], out["quote"], out["images"]) == ("dry_run", 0.01, [])
    assert out["task"]["taskType"] == "removeBackground"
    assert out["task"]["inputs"] == {"image": "https://example.com/cat.jpg"}
    assert "numberResults" not in out["task"]
    assert emulator.submitted == []
    assert emulator.ledger == []


async def test_remove_background_takes_a_ttl_for_its_url_as_runware_does(mcp: Client, emulator: Emulator) -> None:
    # It had been refused: "this model takes no ttl", where Runware's SDK declares it for removeBackground.
    result = await mcp.call_tool("remove_background", {"image": "https://example.com/cat.jpg", "ttl": 3600})
    assert structured(result)["status"] == "done", text(result)
    (task,) = cutouts(emulator)
    assert task["ttl"] == 3600


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({}, "image"),
        ({"image": "x", "numberResults": 2}, "numberResults"),
        ({"image": "x", "seed": 3}, "seed"),
        ({"image": "x", "ttl": 30}, "ttl"),
        ({"image": "x", "outputQuality": 90}, "a PNG (its transparency is the point), which has no quality setting"),
        ({"image": "x", "output_quality": 90}, "a PNG (its transparency is the point), which has no quality setting"),
        ({"image": "x", "quality": 90}, "a PNG (its transparency is the point), which has no quality setting"),
    ],
)
async def test_remove_background_refuses_what_it_does_not_take_before_anything_is_sent(
    arguments: dict[str, Any], named: str, mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("remove_background", arguments)
    assert result.is_error
    assert named in json.dumps(error_of(result))
    assert emulator.received == []


def test_the_emulator_refuses_a_remove_background_task_with_a_count_without_its_image_or_of_another_kind() -> None:
    task = {"taskType": "removeBackground", "taskUUID": "0", "model": MODEL, "inputs": {"image": "x" * 20}}
    assert rules.check(MODEL, {**task, "numberResults": 2})[1] is not None
    assert rules.check(MODEL, {**task, "taskType": "imageInference"})[1] is not None
    assert rules.check(MODEL, {k: v for k, v in task.items() if k != "inputs"})[1] is not None
    assert rules.check("ideogram:4@1", {**task, "positivePrompt": "a"})[1] is not None


async def test_the_preview_of_a_cutout_shows_what_is_transparent_over_a_checkerboard(mcp: Client, output: Path) -> None:
    # Flattened onto white, the cutout of a white mug had been previewed as a white square: nothing of the cut shown.
    picture(output / "mug.png", (600, 400), (250, 250, 250))
    result = await mcp.call_tool("remove_background", {"image": "mug.png"})
    (block,) = [c for c in result.content if isinstance(c, types.ImageContent)]
    with Image.open(io.BytesIO(base64.b64decode(block.data))) as shown:
        darkest, lightest = cast(tuple[int, int], shown.convert("L").getextrema())
    with Image.open(structured(result)["images"][0]["path"]) as saved:
        assert saved.getchannel("A").getextrema() == (0, 255), "the file keeps its transparency"
    assert lightest - darkest > 30, "the checkerboard's squares show where the background was cut away"
