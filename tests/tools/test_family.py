"""remix_image, edit_image, reframe_image and replace_background as an agent meets them: the task each
sends (inputs nested as the family notes say, no size or prompt where the model takes none), what is
refused before anything is sent, and images made earlier reused with no new upload."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from PIL import Image

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

from ..conftest import error_of, mask_size, picture, png, structured, text

pytestmark = pytest.mark.anyio

URL = "https://example.com/source.png"
WHOLE = {"x": 0, "y": 0, "width": 1, "height": 1}
TOO_WIDE = {"x": 0.5, "y": 0, "width": 0.6, "height": 1}
TOO_TALL = {"x": 0, "y": 0.5, "width": 1, "height": 0.8}
UNKNOWN = "6f1c1b9e-2b7a-4c3e-9a57-0d1e2f3a4b5c"


def inference(emulator: Emulator) -> dict[str, Any]:
    (task,) = [t for t in emulator.submitted if t["taskType"] == "imageInference"]
    task = dict(task)
    task.pop("taskUUID")
    return task


OWNED = {"taskType": "imageInference", "outputType": "URL", "deliveryMethod": "async", "includeCost": True}


async def test_remix_sends_its_source_under_inputs_with_a_size_and_a_strength(mcp: Client, emulator: Emulator) -> None:
    own = emulator.images  # a source the emulator holds, as Runware would
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "a lighthouse"}))["images"][0]
    emulator.received.clear()
    result = await mcp.call_tool(
        "remix_image",
        {
            "image": made["imageUUID"],
            "prompt": "the same lighthouse as a 1960s travel poster",
            "aspectRatio": "2:3",
            "remixStrength": 70,
            "stylePreset": "travel poster",
            "renderingSpeed": "QUALITY",
        },
    )
    out = structured(result)
    assert inference(emulator) == OWNED | {
        "model": "ideogram:4@2",
        "positivePrompt": "the same lighthouse as a 1960s travel poster",
        "width": 832,
        "height": 1248,
        "inputs": {"referenceImages": [made["imageUUID"]]},
        "providerSettings": {
            "ideogram": {"remixStrength": 70, "stylePreset": "TRAVEL_POSTER", "renderingSpeed": "QUALITY"}
        },
    }
    assert (out["quote"], out["totalCost"]) == (0.09, 0.09)
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (832, 1248)
    assert made["imageUUID"] in own


async def test_remix_without_a_size_keeps_the_sources_shape_when_it_can_be_measured(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    picture(output / "wide.png", (900, 600))
    picture(output / "strip.png", (4000, 12))
    inline = "data:image/png;base64," + base64.b64encode((output / "wide.png").read_bytes()).decode()
    sizes = []
    for arguments in (
        {"image": "wide.png"},
        {"image": inline},
        {"image": "wide.png", "aspectRatio": "1:1"},  # a size given is kept
        {"image": URL},  # not measured here: the model's default
        {"image": "strip.png"},  # wider than any ratio a listed size comes near: the widest, not a square
    ):
        task = structured(await mcp.call_tool("remix_image", arguments | {"positivePrompt": "x", "dryRun": True}))
        sizes.append((task["task"]["width"], task["task"]["height"]))
    assert sizes == [(1248, 832), (1248, 832), (1024, 1024), (1024, 1024), (1536, 512)]
    assert emulator.requests == []


async def test_remix_of_an_image_this_server_made_keeps_its_shape_by_uuid_and_url_as_by_path(
    mcp: Client, emulator: Emulator
) -> None:
    # By its imageUUID, then by its URL, it had been remixed square, by its saved path in its own shape: two paid
    # results for one image.
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "wide", "aspectRatio": "16:9"}))
    (image,) = made["images"]
    sizes = []
    unknown = ("0b6f6a3e-8f0e-4a53-9d4e-4d8a8cbe2a11", "https://example.test/other.jpg")
    for source in (image["path"], image["imageUUID"], image["imageURL"], *unknown):
        task = structured(await mcp.call_tool("remix_image", {"image": source, "positivePrompt": "x", "dryRun": True}))
        sizes.append((task["task"]["width"], task["task"]["height"]))
    assert sizes == [(1312, 736), (1312, 736), (1312, 736), (1024, 1024), (1024, 1024)]
    assert len(emulator.submitted) == 1


async def test_an_image_this_server_made_named_by_its_url_is_sent_by_its_uuid_while_runware_keeps_it(
    mcp: Client, emulator: Emulator, clock: ManualClock
) -> None:
    # By its URL it had gone as that URL, for Runware to fetch and store again (capped): an hour later, past its
    # task's ttl, an expired URL, where its UUID still named the image (found by an audit); only a region's edit had
    # sent the UUID. After 25 days Runware may have let the UUID go: the URL goes as given.
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "fox", "ttl": 60}))
    (image,) = made["images"]
    await clock.sleep(3600.0)
    calls = {
        "remix_image": {"positivePrompt": "x"},
        "reframe_image": {"aspectRatio": "16:9"},
        "replace_background": {"positivePrompt": "x"},
        "remove_background": {},
    }
    for tool, arguments in calls.items():
        task = structured(await mcp.call_tool(tool, arguments | {"image": image["imageURL"], "dryRun": True}))["task"]
        assert _naming(task, image) == [image["imageUUID"]], tool
        done = structured(await mcp.call_tool(tool, arguments | {"image": image["imageURL"]}))
        (sent,) = [t for t in emulator.submitted if t["taskUUID"] == done["taskUUID"]]
        assert _naming(sent, image) == [image["imageUUID"]], tool
    await clock.sleep(26 * 86400.0)
    later = structured(await mcp.call_tool("remix_image", {"image": image["imageURL"], "positivePrompt": "x"}))
    (sent,) = [t for t in emulator.submitted if t["taskUUID"] == later["taskUUID"]]
    assert _naming(sent, image) == [image["imageURL"]]


async def test_an_edit_of_an_image_named_by_its_url_past_runwares_keeping_sends_the_url_measured_as_made(
    mcp: Client, emulator: Emulator, clock: ManualClock
) -> None:
    # By a region, or by a mask on a 4.0 image over 2048 px, the UUID had been sent all the same after 25 days, when
    # Runware may have let it go (found by an audit); a mask not the image's size is still refused here.
    made = {
        model: structured(
            await mcp.call_tool("generate_image", {"model": model, "positivePrompt": "fox", "aspectRatio": "16:9"})
        )["images"][0]
        for model in ("ideogram-3.0", "ideogram-4.0")
    }
    old, large = made["ideogram-3.0"], made["ideogram-4.0"]
    assert max(old["width"], old["height"]) <= 2048 < large["width"]
    await clock.sleep(26 * 86400.0)
    region = {"x": 0, "y": 0, "width": 1, "height": 0.5}

    def mask(image: dict[str, Any], width: int | None = None) -> str:
        data = png(width or image["width"], image["height"], (255, 255, 255))
        return f"data:image/png;base64,{base64.b64encode(data).decode()}"

    async def sent(image: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
        done = structured(
            await mcp.call_tool("edit_image", {"image": image["imageURL"], "positivePrompt": "x", **part})
        )
        (task,) = [t for t in emulator.submitted if t["taskUUID"] == done["taskUUID"]]
        return task

    by_region = await sent(old, {"region": region})
    assert by_region["inputs"]["seedImage"] == old["imageURL"], "within the cap: its size as made, the URL sent"
    assert mask_size(by_region) == (old["width"], old["height"])
    copied = (await sent(large, {"region": region}))["inputs"]["seedImage"]
    assert copied not in (large["imageUUID"], large["imageURL"]), "stored at Runware from its URL, and measured there"
    assert (await sent(large, {"mask": mask(large)}))["inputs"]["seedImage"] == large["imageURL"]
    before = len(emulator.submitted)
    narrow = await mcp.call_tool("edit_image", {"image": old["imageURL"], "positivePrompt": "x", "mask": mask(old, 8)})
    assert error_of(narrow)["problems"][0]["message"].startswith(f"is 8x{old['height']} but the image is ")
    assert len(emulator.submitted) == before


def _naming(task: dict[str, Any], image: dict[str, Any]) -> list[str]:
    """The values of a task that name ``image``, by its UUID or its URL."""
    found = re.findall(r'"([^"]*)"', json.dumps(task))
    return [value for value in found if value in (image["imageUUID"], image["imageURL"])]


async def test_reframe_sends_no_prompt_and_the_new_shape(mcp: Client, emulator: Emulator, output: Path) -> None:
    source = picture(output / "square.png", (512, 512))
    result = await mcp.call_tool("reframe_image", {"image": str(source), "aspectRatio": "9:16"})
    out = structured(result)
    (upload,) = [t for t in emulator.submitted if t["taskType"] == "imageUpload"]
    task = inference(emulator)
    assert task == OWNED | {
        "model": "ideogram:4@4",
        "width": 736,
        "height": 1312,
        "inputs": {"seedImage": emulator.submitted[-1]["inputs"]["seedImage"]},
    }
    assert emulator.images[task["inputs"]["seedImage"]].data == source.read_bytes()
    assert upload["image"].startswith("data:image/png;base64,")
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (736, 1312)


async def test_replace_background_keeps_the_source_size_and_sends_no_size(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    source = picture(output / "product.png", (600, 400))
    result = await mcp.call_tool(
        "replace_background", {"image": "product.png", "positivePrompt": "a marble counter", "styleType": "REALISTIC"}
    )
    out = structured(result)
    task = inference(emulator)
    assert "width" not in task
    assert task["model"] == "ideogram:4@5"
    assert set(task["inputs"]) == {"seedImage"}
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (600, 400)
    with Image.open(out["images"][0]["path"]) as made:
        assert made.size == (600, 400)
    assert source.exists()
    recipe = json.loads(Path(out["images"][0]["path"]).with_suffix(".json").read_text())
    assert (recipe["width"], recipe["height"]) == (600, 400)  # measured: the task named no size
    (listed,) = [r for r in (await mcp.list_resources()).resources if r.name != "product.png"]
    assert (listed.description or "").startswith("600x400, seed ")


async def test_edit_draws_the_mask_from_a_region_at_the_images_own_size(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    picture(output / "sign.png", (640, 480))
    result = await mcp.call_tool(
        "edit_image",
        {
            "image": "sign.png",
            "positivePrompt": 'a sign reading "GRAND OPENING"',
            "region": {"x": 0.25, "y": 0, "width": 0.5, "height": 0.25},
        },
    )
    out = structured(result)
    task = inference(emulator)
    assert task["model"] == "ideogram:4@3"
    assert not {"width", "height", "negativePrompt"} & set(task)
    mask_uri = task["inputs"]["maskImage"]
    assert mask_uri.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(mask_uri.split(",", 1)[1]))) as mask:
        assert mask.size == (640, 480)
        assert (mask.getpixel((320, 60)), mask.getpixel((100, 60)), mask.getpixel((320, 200))) == (255, 0, 0)
        assert mask.getbbox() == (160, 0, 480, 120)
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (640, 480)


async def test_edit_an_image_made_earlier_by_its_uuid_url_or_saved_path_with_no_upload(
    mcp: Client, emulator: Emulator
) -> None:
    # By its URL it had been uploaded (copied by Runware) and downloaded again only to measure it.
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "x", "aspectRatio": "16:9"}))
    image = made["images"][0]
    for reference in (image["imageUUID"], image["imageURL"], image["path"], Path(image["path"]).name):
        result = await mcp.call_tool(
            "edit_image",
            {"image": reference, "positivePrompt": "y", "region": [{"x": 0, "y": 0, "width": 1, "height": 0.5}]},
        )
        structured(result)
    assert [t["taskType"] for t in emulator.submitted] == ["imageInference"] * 5
    edits = emulator.submitted[1:]
    assert {t["inputs"]["seedImage"] for t in edits} == {image["imageUUID"]}
    for task in edits:
        with Image.open(io.BytesIO(base64.b64decode(task["inputs"]["maskImage"].split(",", 1)[1]))) as mask:
            assert mask.size == (1312, 736)


async def test_an_image_uuid_or_url_in_another_form_is_sent_as_runware_reads_it(
    mcp: Client, emulator: Emulator
) -> None:
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "x"}))
    uuid = made["images"][0]["imageUUID"]
    forms = (
        uuid.upper(),
        f"{{{uuid}}}",
        f"urn:uuid:{uuid}",
        f"urn:uuid:{{{uuid}}}",
        uuid.replace("-", ""),
        f"  {uuid} ",
    )
    for form in forms:
        structured(await mcp.call_tool("remix_image", {"image": form, "positivePrompt": "y"}))
    structured(
        await mcp.call_tool("remix_image", {"image": "HTTPS://example.com/a.png?Sig=AbC", "positivePrompt": "y"})
    )
    remixes = emulator.submitted[1:]
    assert [t["inputs"]["referenceImages"] for t in remixes[:-1]] == [[uuid]] * len(forms)
    assert remixes[-1]["inputs"]["referenceImages"] == ["https://example.com/a.png?Sig=AbC"], "the rest as given"
    fetched = structured(await mcp.call_tool("get_generation", {"taskUUID": made["taskUUID"].upper()}))
    assert fetched["taskUUID"] == made["taskUUID"]


async def test_edit_with_a_url_and_a_region_has_runware_store_the_image_and_measures_its_copy(
    mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool(
        "edit_image", {"image": URL, "positivePrompt": "y", "region": {"x": 0, "y": 0, "width": 1, "height": 1}}
    )
    structured(result)
    upload, edit = emulator.submitted
    assert (upload["taskType"], upload["image"]) == ("imageUpload", URL)
    assert edit["inputs"]["seedImage"] != URL
    assert edit["inputs"]["seedImage"] in emulator.images


async def test_edit_with_a_mask_sends_it_as_given(mcp: Client, emulator: Emulator, output: Path) -> None:
    picture(output / "a.png", (300, 200))
    picture(output / "m.png", (300, 200), (255, 255, 255))
    structured(await mcp.call_tool("edit_image", {"image": "a.png", "mask": "m.png", "positivePrompt": "y"}))
    task = inference(emulator)
    assert task["inputs"]["maskImage"] != task["inputs"]["seedImage"]
    assert emulator.images[task["inputs"]["maskImage"]].data == (output / "m.png").read_bytes()


@pytest.mark.parametrize(
    ("tool", "arguments", "argument", "says"),
    [
        ("remix_image", {"positivePrompt": "x"}, "image", "required"),
        ("remix_image", {"image": URL, "positivePrompt": "x", "seed": 3}, "seed",
         "only generate_image with Ideogram 3.0 does"),
        ("remix_image", {"image": URL, "positivePrompt": "x", "remixStrength": 101}, "remixStrength", "1 to 100"),
        ("remix_image", {"image": URL, "positivePrompt": "x", "styleCode": "xyz"}, "styleCode", "[0-9A-Fa-f]{8}"),
        (
            "remix_image",
            {"image": URL, "positivePrompt": "x", "styleCode": "A1B2C3D4", "styleType": "DESIGN"},
            "styleCode/styleType",
            "cannot be used together",
        ),
        ("reframe_image", {"image": URL}, "aspectRatio", "required: the new shape"),
        ("reframe_image", {"image": URL, "aspectRatio": "1:1", "positivePrompt": "x"}, "positivePrompt",
         "reframe_image takes no positivePrompt; generate_image, remix_image, edit_image and replace_background "
         "take it"),
        ("reframe_image", {"image": URL, "aspectRatio": "1:1", "characterReferenceImages": [URL]},
         "characterReferenceImages",
         "reframe_image takes no characterReferenceImages; generate_image, remix_image and edit_image take it"),
        ("edit_image", {"image": URL, "positivePrompt": "x"}, "mask", "region"),
        # An editing tool's argument given to generate_image names the tools that take it, as seed does the other way.
        ("generate_image", {"positivePrompt": "x", "image": URL}, "image", "generate_image takes no image; "
         "remix_image, edit_image, reframe_image, replace_background and remove_background take it"),
        ("generate_image", {"positivePrompt": "x", "mask": URL}, "mask", "generate_image takes no mask; edit_image "
         "takes it"),
        ("generate_image", {"positivePrompt": "x", "regions": []}, "regions", "generate_image takes no region; "
         "edit_image takes it"),
        ("generate_image", {"positivePrompt": "x", "remixStrength": 30}, "remixStrength", "remix_image takes it"),
        # "quality" in words had been read as outputQuality (a number), and "cost" suggested numberResults.
        ("generate_image", {"positivePrompt": "x", "quality": "QUALITY"}, "quality", "it could mean renderingSpeed "
         "(TURBO, DEFAULT or QUALITY: how carefully the image is rendered, which sets its price) or outputQuality"),
        ("generate_image", {"positivePrompt": "x", "cost": 0.6}, "cost", "Did you mean approvedCost or numberResults?"),
        ("edit_image", {"image": URL, "positivePrompt": "x", "region": [], "mask": URL}, "region", "rectangle"),
        ("edit_image", {"image": URL, "positivePrompt": "x", "region": TOO_WIDE}, "region", "reaches past the image"),
        ("edit_image", {"image": URL, "positivePrompt": "x", "region": TOO_TALL}, "region", "reaches past the image"),
        ("edit_image", {"image": URL, "positivePrompt": "x", "mask": URL, "region": WHOLE}, "mask/region", "not both"),
        ("edit_image", {"image": URL, "mask": URL, "positivePrompt": "x", "aspectRatio": "1:1"}, "aspectRatio",
         "keeps the source image's size"),
        ("edit_image", {"image": UNKNOWN, "positivePrompt": "x", "region": WHOLE}, "region", "cannot know"),
        ("replace_background", {"image": URL, "positivePrompt": "x", "width": 1024, "height": 1024}, "width",
         "keeps the source image's size"),
        ("replace_background", {"image": "/nowhere/a.png", "positivePrompt": "x"}, "image", "outside the folders"),
        ("reframe_image", {"image": URL, "aspectRatio": "1:1", "prompt": "x"}, "prompt", "takes no positivePrompt"),
        ("edit_image", {"image": URL, "mask": URL, "positivePrompt": "x", "negative": "y"}, "negative",
         "takes no negativePrompt"),
        # Another tool's argument in snake_case had been "unknown argument. Did you mean positivePrompt?": a negative
        # prompt steered into the positive one.
        ("edit_image", {"image": URL, "mask": URL, "positivePrompt": "x", "negative_prompt": "y"}, "negative_prompt",
         "edit_image takes no negativePrompt; generate_image and remix_image take it"),
        ("generate_image", {"positivePrompt": "x", "style_code": "AABBCCDD"}, "style_code",
         "generate_image takes no styleCode; remix_image"),
        ("reframe_image", {"image": URL, "aspectRatio": "1:1", "REMIX_STRENGTH": 5}, "REMIX_STRENGTH",
         "remix_image takes it"),
    ],
)  # fmt: skip
async def test_bad_calls_to_the_family_are_refused_with_the_fix_and_nothing_is_sent(
    tool: str, arguments: dict[str, Any], argument: str, says: str, mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool(tool, arguments)
    problems = {p["argument"]: p["message"] for p in error_of(result)["problems"]}
    assert argument in problems, text(result)
    assert says in problems[argument]
    assert emulator.requests == []


SCENE = {"high_level_description": "A gig poster, amber type on near-black."}


@pytest.mark.parametrize(
    ("tool", "arguments", "default"),
    [
        ("remix_image", {"image": URL, "positivePrompt": "x", "styleCode": "A1B2C3D4"}, {"styleType": "AUTO"}),
        ("edit_image", {"image": URL, "mask": URL, "positivePrompt": "x", "styleCode": "A1B2C3D4"},
         {"style_type": "auto"}),
        ("reframe_image", {"image": URL, "aspectRatio": "1:1", "styleCode": "A1B2C3D4"}, {"styleType": "AUTO"}),
        ("generate_image", {"model": "ideogram-4.0", "structuredPrompt": SCENE}, {"magicPrompt": "AUTO"}),
        ("generate_image", {"model": "ideogram-4.0", "positivePrompt": "x"}, {"styleType": "AUTO"}),
    ],
)  # fmt: skip
async def test_a_default_the_schema_shows_sent_as_it_is_means_leaving_it_out(
    tool: str, arguments: dict[str, Any], default: dict[str, Any], mcp: Client, emulator: Emulator
) -> None:
    # Clients fill in the defaults a schema shows: styleType AUTO beside a styleCode, or on 4.0, which takes no
    # styleType, and 4.0's magicPrompt AUTO beside a structuredPrompt had each been refused. (The editing tools'
    # settings are "as in generate_image", whose schema shows their defaults.)
    (shown,) = [t.input_schema["properties"] for t in (await mcp.list_tools()).tools if t.name == "generate_image"]
    name = next(iter(default)).replace("_", "").lower()
    assert next(v["default"] for k, v in shown.items() if k.lower() == name) == "AUTO"
    for given in (arguments, arguments | default):
        result = await mcp.call_tool(tool, given)
        assert not result.is_error, text(result)
    left_out, filled_in = ({k: v for k, v in t.items() if k != "taskUUID"} for t in emulator.submitted[-2:])
    assert left_out == filled_in
    assert emulator.charged == round(2 * structured(result)["totalCost"], 2)


@pytest.mark.parametrize(
    ("tool", "arguments", "quote"),
    [
        ("remix_image", {"image": URL, "positivePrompt": "x", "renderingSpeed": "TURBO", "numberResults": 2}, 0.12),
        ("edit_image", {"image": URL, "mask": URL, "positivePrompt": "x"}, 0.06),
        ("reframe_image", {"image": URL, "aspectRatio": "16:9", "renderingSpeed": "QUALITY"}, 0.09),
        ("replace_background", {"image": URL, "positivePrompt": "x", "numberResults": 3}, 0.18),
    ],
)
async def test_each_tool_quotes_its_models_price_in_a_dry_run(
    tool: str, arguments: dict[str, Any], quote: float, mcp: Client, emulator: Emulator
) -> None:
    out = structured(await mcp.call_tool(tool, arguments | {"dryRun": True}))
    assert (out["status"], out["quote"]) == ("dry_run", quote)
    assert out["task"]["model"].startswith("ideogram:4@")
    assert emulator.requests == []


async def test_a_dry_run_edit_with_a_region_shows_where_the_mask_goes_and_sends_nothing(
    mcp: Client, emulator: Emulator
) -> None:
    out = structured(
        await mcp.call_tool(
            "edit_image",
            {"image": URL, "positivePrompt": "x", "region": WHOLE, "dryRun": True},
        )
    )
    assert out["task"]["inputs"] == {
        "seedImage": URL,
        "maskImage": "<drawn from region once the image's size is known>",
    }
    assert emulator.requests == []


async def test_a_mask_of_another_size_than_the_image_is_refused_before_anything_is_sent(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    picture(output / "a.png", (300, 200))
    picture(output / "m.png", (200, 200))
    mask = "data:image/png;base64," + base64.b64encode((output / "m.png").read_bytes()).decode()
    for given in ("m.png", mask):
        result = await mcp.call_tool("edit_image", {"image": "a.png", "mask": given, "positivePrompt": "y"})
        assert error_of(result)["problems"] == [
            {
                "argument": "mask",
                "message": "is 200x200 but the image is 300x200; a mask must be the image's size (white = change), "
                "or give region instead and the server draws one.",
            }
        ]
    assert emulator.requests == []


async def test_the_emulator_refuses_a_mask_of_another_size_the_way_runware_would(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    picture(output / "m.png", (200, 200))
    server = build_server(
        make_settings(output_dir=output), transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock
    )
    async with Client(server) as mcp:
        # An image of another site is not measured here: Runware (the emulator) finds the mismatch. (One this server
        # made, by its UUID or URL, has the size the journal recorded: the mismatch is said before anything is sent.)
        arguments = {"image": "https://example.test/photo.jpg", "mask": "m.png", "positivePrompt": "y"}
        result = await mcp.call_tool("edit_image", arguments)
        made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "x"}))["images"][0]
        ours = await mcp.call_tool("edit_image", arguments | {"image": made["imageURL"]})
    inferences = [task for task in emulator.submitted if task["taskType"] == "imageInference"]
    sent = inferences[0]
    assert len(inferences) == 2, "the edit of an image this server made was never sent"
    assert error_of(ours)["problems"][0]["message"].startswith("is 200x200 but the image is 1024x1024")
    assert error_of(result) == {
        "kind": "runware_error",
        "retryable": False,
        "mayHaveBeenCharged": False,
        "status": 400,
        "errors": [
            {
                "code": "invalidParameter",
                "message": "maskImage must have the same size as seedImage",
                "parameter": ["inputs.maskImage"],
            }
        ],
        "taskUUID": sent["taskUUID"],
    }
    assert text(result) == (
        "Runware refused the request (argument mask). Change the arguments it names and try again. "
        "Runware said: maskImage must have the same size as seedImage (invalidParameter)."
    )


@pytest.mark.parametrize(
    ("tool", "extra"),
    [
        ("remix_image", {"positivePrompt": "as a woodcut"}),
        ("reframe_image", {"aspectRatio": "1:1"}),
        ("replace_background", {"positivePrompt": "a beach"}),
    ],
)
async def test_an_image_made_in_the_session_is_taken_by_its_saved_path_with_no_upload(
    tool: str, extra: dict[str, Any], mcp: Client, emulator: Emulator
) -> None:
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "x"}))["images"][0]
    structured(await mcp.call_tool(tool, {"image": made["path"], **extra}))
    assert [t["taskType"] for t in emulator.submitted] == ["imageInference", "imageInference"]
    sent = emulator.submitted[1]["inputs"]
    assert made["imageUUID"] in (sent.get("seedImage"), *sent.get("referenceImages", []))


async def test_a_dry_run_shows_a_saved_image_as_the_uuid_it_would_go_by_and_another_as_an_upload(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    # A dry run had shown "<upload of ...>" for an image the real call sends by its recorded UUID, uploading nothing.
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "x"}))["images"][0]
    picture(output / "own.png", (300, 200))
    dry = structured(
        await mcp.call_tool("remix_image", {"image": [made["path"]], "positivePrompt": "y", "dryRun": True})
    )
    other = structured(
        await mcp.call_tool("remix_image", {"image": ["own.png"], "positivePrompt": "y", "dryRun": True})
    )
    assert dry["task"]["inputs"]["referenceImages"] == [made["imageUUID"]]
    assert other["task"]["inputs"]["referenceImages"] == [f"<upload of {(output / 'own.png').resolve()}>"]
    assert [t["taskType"] for t in emulator.submitted] == ["imageInference"]
