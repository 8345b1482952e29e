"""The three tools as an agent meets them, through the SDK's in-memory client."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from PIL import Image

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.specs import load_spec

from .conftest import API_KEY, error_of, text

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools_list.json"
PROMPT = 'A gallery poster, headline "NORTHERN LIGHTS" at the top, a small line "OPENS MAY 2" below'


def data(result: types.CallToolResult) -> dict[str, Any]:
    return cast(dict[str, Any], result.structured_content)


async def test_the_published_tools_match_the_snapshot(mcp: Client) -> None:
    listed = await mcp.list_tools()
    published = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(published, indent=2, ensure_ascii=False) + "\n")
    assert published == json.loads(SNAPSHOT.read_text())


async def test_the_tools_list_answer_stays_under_20_kb(mcp: Client) -> None:
    listed = await mcp.list_tools()
    assert len(listed.model_dump_json(by_alias=True, exclude_none=True).encode()) <= 20 * 1024
    assert len(listed.tools) == 9


async def test_generate_image_schema_is_derived_from_the_spec(mcp: Client) -> None:
    spec = load_spec()
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    schema = tools["generate_image"].input_schema
    props = schema["properties"]
    assert set(props) == {p.name for p in spec.exposed} | {"aspectRatio", "fileName", "preview", "dryRun"}
    assert not {"webhookURL", "uploadEndpoint"} & set(props)
    assert "enum" not in props["stylePreset"], "62 names are list_style_presets' to give, not every tools/list's"
    assert props["styleType"]["enum"] == list(spec.parameters["styleType"].values or {})
    number = props["numberResults"]
    assert (number["type"], number["minimum"], number["maximum"], number["default"]) == ("integer", 1, 20, 1)
    assert (props["width"]["minimum"], props["width"]["maximum"]) == (512, 1536)
    assert schema["required"] == ["positivePrompt"]
    assert not {"taskType", "taskUUID", "model", "outputType", "deliveryMethod", "includeCost"} & set(props)


async def test_clients_on_the_2025_11_25_handshake_get_the_same_service(
    settings: Settings, transport: httpx2.ASGITransport, emulator: Emulator
) -> None:
    async with Client(build_server(settings, transport=transport), mode="legacy") as legacy:
        assert [t.name for t in (await legacy.list_tools()).tools] == [
            "generate_image",
            "remix_image",
            "edit_image",
            "reframe_image",
            "replace_background",
            "get_generation",
            "list_generations",
            "list_sizes",
            "list_style_presets",
        ]
        result = await legacy.call_tool("generate_image", {"positivePrompt": "x", "aspectRatio": "3:2"})
    assert not result.is_error, text(result)
    assert data(result)["images"][0]["width"] == 1248
    assert len(emulator.submitted) == 1


async def test_tool_annotations_tell_clients_which_tools_cost_and_which_are_free(mcp: Client) -> None:
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    generate = tools["generate_image"].annotations
    assert generate
    assert generate.open_world_hint is True
    assert generate.idempotent_hint is False
    assert generate.read_only_hint is False
    for name in ("list_sizes", "list_style_presets"):
        hints = tools[name].annotations
        assert hints
        assert hints.read_only_hint
        assert hints.idempotent_hint
        assert hints.open_world_hint is False


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


@pytest.mark.parametrize("size", load_spec().sizes, ids=str)
async def test_every_listed_size_becomes_a_correct_runware_request(size: Any, mcp: Client, emulator: Emulator) -> None:
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "width": size.width, "height": size.height})
    assert not result.is_error, text(result)
    (task,) = emulator.submitted
    assert (task["width"], task["height"]) == (size.width, size.height)
    assert data(result)["images"][0]["width"] == size.width


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"positivePrompt": "x", "width": 1920, "height": 1080}, "1312x736 (1K (16:9))"),
        ({"positivePrompt": "x", "width": 1024}, "width needs height"),
        ({"positivePrompt": "x", "stylePreset": "graffiti"}, "GRAFFITI_I or GRAFFITI_II"),
        ({"positivePrompt": "x", "styleType": "photo"}, "Allowed: AUTO, GENERAL, REALISTIC"),
        ({"positivePrompt": "x", "numberResults": 21}, "from 1 to 20"),
        ({"positivePrompt": "x", "outputQuality": 10}, "from 20 to 99"),
        ({"positivePrompt": "", "aspectRatio": "16:9"}, "positivePrompt: must be text of 1 to 2000"),
        ({"negativePrompt": "x"}, "positivePrompt: required"),
        ({"positivePrompt": "x", "ttl": 30}, "ttl: must be a whole number from 60 to 9007199254740991; got 30."),
        ({"positivePrompt": "x", "webhookURL": "https://attacker.example/hook"}, "IDEOGRAM_MCP_WEBHOOK_URL"),
        ({"positivePrompt": "x", "upload_url": "http://127.0.0.1:6379/"}, "IDEOGRAM_MCP_UPLOAD_ENDPOINT"),
        ({"positivePrompt": "x", "characterReferenceImages": []}, "at least 1"),
        (
            {"positivePrompt": "x", "styleReferenceImages": ["https://e.com/a.png", "/home/me/ref.png"]},
            "styleReferenceImages[1]: is outside the folders this server may read",
        ),
        (
            {"positivePrompt": "x", "characterReferenceImages": ["ftp://e.com/a.png"]},
            "a public http(s) URL, a data URI",
        ),
        (
            {"positivePrompt": "x", "characterReferenceImagesMask": ["https://e.com/m.png"]},
            "needs characterReferenceImages",
        ),
        (
            {
                "positivePrompt": "x",
                "characterReferenceImages": ["https://e.com/a.png", "https://e.com/b.png"],
                "characterReferenceImagesMask": ["https://e.com/m.png"],
            },
            "has 1 items but characterReferenceImages has 2",
        ),
        ({"positivePrompt": "x", "aspectRatio": "wide"}, "expected a ratio like '16:9'"),
        ({"positivePrompt": "x", "aspectRatio": "16:9", "width": 1024, "height": 1024}, "not both"),
        ({"positivePrompt": "x", "seed": 0}, "seed: must be a whole number from 1 to 2147483647; got 0."),
        ({"positivePrompt": "x", "style": "anime"}, "styleType"),
        ({"positivePrompt": "x", "outputType": "base64Data"}, "Always URL"),
        ({"positivePrompt": "x", "negative_promt": "y"}, "Did you mean negativePrompt"),
        ({"positivePrompt": "x", "prompt": "y"}, "given twice"),
        ({"positivePrompt": "x", "numberResults": True}, "whole number"),
    ],
)
async def test_bad_arguments_get_an_actionable_error_and_never_reach_runware(
    arguments: dict[str, Any], says: str, mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("generate_image", arguments)
    assert result.is_error
    assert says in text(result)
    assert "nothing was charged" in text(result)
    assert error_of(result)["kind"] == "invalid_arguments"
    assert emulator.submitted == []


async def test_every_problem_is_reported_at_once(mcp: Client) -> None:
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "numberResults": 0, "stylePreset": "nope"})
    problems = error_of(result)["problems"]
    assert [p["argument"] for p in problems] == ["numberResults", "stylePreset"]


async def test_a_long_bad_prompt_is_not_echoed_back(mcp: Client) -> None:
    result = await mcp.call_tool("generate_image", {"positivePrompt": "lighthouse " * 300})
    assert result.is_error
    assert "must be text of 1 to 2000 characters; it has 3299." in text(result)
    assert len(text(result)) < 400


@pytest.mark.parametrize(
    ("arguments", "sent"),
    [
        ({"prompt": "x", "style_preset": "art deco"}, {"stylePreset": "ART_DECO"}),
        ({"prompt": "x", "stylePreset": "watercolor", "styleType": "render 3d"}, {"styleType": "RENDER_3D"}),
        ({"prompt": "x", "format": "png", "num_images": "3"}, {"outputFormat": "PNG", "numberResults": 3}),
        ({"prompt": "x", "size": "1344x768"}, {"width": 1344, "height": 768}),
        ({"prompt": "x", "aspect_ratio": "21:9"}, {"width": 1472, "height": 640}),
        ({"prompt": "x", "aspectRatio": "1.5"}, {"width": 1248, "height": 832}),
        ({"prompt": "x", "checkContent": "yes"}, {"safety": {"checkContent": True, "mode": "fast"}}),
        (
            {"prompt": "x", "styleReferenceImages": "https://e.com/a.png"},
            {"styleReferenceImages": ["https://e.com/a.png"]},
        ),
        (
            {
                "prompt": "x",
                "characterReferenceImages": [
                    "data:image/png;base64,iVBORw0KGgo=",
                    "https://example.com/person.png",
                ],
                "characterReferenceImagesMask": ["iVBORw0KGgoAAAANSUhEUgAA", "iVBORw0KGgoAAAANSUhEUgAA"],
            },
            {"characterReferenceImagesMask": ["iVBORw0KGgoAAAANSUhEUgAA", "iVBORw0KGgoAAAANSUhEUgAA"]},
        ),
        ({"prompt": "  x  ", "negativePrompt": None}, {"positivePrompt": "x"}),
    ],
)
async def test_plain_aliases_and_spellings_are_understood(
    arguments: dict[str, Any], sent: dict[str, Any], mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("generate_image", arguments)
    assert not result.is_error, text(result)
    (task,) = emulator.submitted
    flat = task | task.get("providerSettings", {}).get("ideogram", {})
    for key, value in sent.items():
        assert flat[key] == value
    assert "negativePrompt" not in task


async def test_list_sizes_lists_all_69_and_filters(mcp: Client) -> None:
    everything = data(await mcp.call_tool("list_sizes", {}))
    assert everything["count"] == 69 == len(everything["sizes"])
    assert everything["default"]["width"] == 1024
    wide = data(await mcp.call_tool("list_sizes", {"ratio": "16:9"}))["sizes"]
    assert {(s["width"], s["height"]) for s in wide} == {(1280, 704), (1312, 736), (1344, 768), (1216, 704)}
    square = data(await mcp.call_tool("list_sizes", {"orientation": "square"}))["sizes"]
    assert {s["ratio"] for s in square} == {"1:1"}
    assert len(square) == 5
    portrait = data(await mcp.call_tool("list_sizes", {"orientation": "Portrait", "ratio": "9:16"}))["sizes"]
    assert all(s["height"] > s["width"] for s in portrait)
    assert len(portrait) == 4


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"ratio": "7:3"}, "closest listed ratio is 21:9"),
        ({"orientation": "sideways"}, "landscape, portrait, square"),
        ({"shape": "wide"}, "Unknown argument(s) shape"),
    ],
)
async def test_list_sizes_explains_bad_filters(arguments: dict[str, Any], says: str, mcp: Client) -> None:
    result = await mcp.call_tool("list_sizes", arguments)
    assert error_of(result)["kind"] == "invalid_arguments"
    assert says in text(result)


async def test_list_style_presets_describes_all_62_and_the_style_types(mcp: Client) -> None:
    result = await mcp.call_tool("list_style_presets", {})
    out = data(result)
    assert len(out["stylePresets"]) == 62
    assert {p["name"] for p in out["stylePresets"]} == set(load_spec().parameters["stylePreset"].values or {})
    assert all(len(p["description"]) > 15 for p in out["stylePresets"])
    assert [t["name"] for t in out["styleTypes"]] == [
        "AUTO",
        "GENERAL",
        "REALISTIC",
        "DESIGN",
        "RENDER_3D",
        "ANIME",
        "FICTION",
    ]
    assert "WATERCOLOR: " in text(result)
    refused = await mcp.call_tool("list_style_presets", {"filter": "x"})
    assert error_of(refused)["kind"] == "invalid_arguments"
    assert "takes no arguments" in text(refused)


async def test_an_unknown_tool_is_a_protocol_error_naming_the_tools(mcp: Client) -> None:
    with pytest.raises(MCPError, match="generate_image, remix_image, edit_image, reframe_image, replace_background"):
        await mcp.call_tool("make_picture", {})


async def test_without_a_key_tools_list_and_generate_explains_the_fix(
    emulator: Emulator, make_settings: Callable[..., Settings]
) -> None:
    server = build_server(make_settings(runware_api_key=None), transport=httpx2.ASGITransport(emulator.app()))
    async with Client(server) as mcp:
        assert len((await mcp.list_tools()).tools) == 9
        assert not (await mcp.call_tool("list_sizes", {})).is_error
        result = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    assert result.is_error
    assert "RUNWARE_API_KEY" in text(result)
    assert "--offline" in text(result)
    assert emulator.submitted == []


async def test_a_blank_key_counts_as_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWARE_API_KEY", "  ")
    assert Settings().runware_api_key is None
    monkeypatch.setenv("RUNWARE_API_KEY", API_KEY)
    assert API_KEY not in repr(Settings())
    assert API_KEY not in str(Settings().model_dump())
