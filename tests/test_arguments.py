"""What agents send, read leniently where the meaning is plain and refused with an actionable error where not;
nothing refused ever reaches Runware."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from mcp import Client

from ideogram_mcp import arguments
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.specs import load_specs

from .conftest import error_of, png, text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"positivePrompt": "x", "width": 1920, "height": 1080}, "1312x736 (1K (16:9))"),
        ({"positivePrompt": "x", "width": 1024}, "width needs height"),
        ({"positivePrompt": "x", "stylePreset": "graffiti"}, "GRAFFITI_I or GRAFFITI_II"),
        ({"positivePrompt": "x", "styleType": "painting"}, "Allowed: AUTO, GENERAL, REALISTIC"),
        (
            {"positivePrompt": "\u200b \u2060"},
            "positivePrompt: must be text of 1 to 2000 characters, with a visible character; it has none.",
        ),
        ({"positivePrompt": "x", "negativePrompt": "\u3000 "}, "negativePrompt: must be text of 1 to 2000"),
        ({"positivePrompt": "x", "numberResults": 21}, "from 1 to 20"),
        ({"positivePrompt": "x", "outputQuality": 10}, "from 20 to 99"),
        ({"positivePrompt": "", "aspectRatio": "16:9"}, "positivePrompt: must be text of 1 to 2000"),
        ({"negativePrompt": "x"}, "positivePrompt: required"),
        ({"positivePrompt": "x", "ttl": 30}, "ttl: must be a whole number from 60 to 9007199254740991; got 30."),
        ({"positivePrompt": "x", "webhookURL": "https://attacker.example/hook"}, "IDEOGRAM_MCP_WEBHOOK_URL"),
        ({"positivePrompt": "x", "upload_url": "http://127.0.0.1:6379/"}, "IDEOGRAM_MCP_UPLOAD_ENDPOINT"),
        ({"positivePrompt": "x", "characterReferenceImages": []}, "exactly 1 image, each"),
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
                "characterReferenceImages": ["https://e.com/a.png"],
                "characterReferenceImagesMask": ["https://e.com/m.png", "https://e.com/n.png"],
            },
            "has 2 items but characterReferenceImages has 1",
        ),
        (
            {"positivePrompt": "x", "characterReferenceImages": ["https://e.com/a.png", "https://e.com/b.png"]},
            "characterReferenceImages: must be a list of exactly 1 image, each a local file in an allowed folder, a "
            "public http(s) URL, a data URI, base64 data or an image UUID; it has 2.",
        ),
        (
            {"positivePrompt": "x", "styleReferenceImages": [f"https://e.com/{n}.png" for n in range(5)]},
            "styleReferenceImages: must be a list of 1 to 4 images,",
        ),
        ({"positivePrompt": "x", "styleReferenceImages": []}, "styleReferenceImages: must be a list of 1 to 4 images,"),
        ({"positivePrompt": "x", "aspectRatio": "wide"}, "expected a ratio like '16:9'"),
        ({"positivePrompt": "x", "aspectRatio": "200:1"}, 'no listed size comes near the shape "200:1". Listed: 3:1,'),
        (
            {"model": "ideogram-4.0", "positivePrompt": ""},
            "positivePrompt: must be text of at least 1 character; it has 0.",  # had been "must be text; it has 0"
        ),
        # A key of 4.0's structured prompt given as an argument had been an unknown one: where it goes is said.
        (
            {"model": "ideogram-4.0", "positivePrompt": "x", "color_palette": ["#FF0000"]},
            "color_palette: not an argument of its own: it goes inside structuredPrompt (given in place of "
            "positivePrompt), as structuredPrompt.style_description.color_palette.",
        ),
        (
            {"positivePrompt": "x", "colorPalette": ["#FF0000"]},
            "colorPalette: not accepted by Ideogram 3.0; Ideogram 4.0 takes it as "
            "structuredPrompt.style_description.color_palette (model: ideogram-4.0).",
        ),
        (
            {"model": "ideogram-4.0", "positivePrompt": "x", "artStyle": "bauhaus"},
            "artStyle: not an argument of its own: it goes inside structuredPrompt (given in place of positivePrompt), "
            "as structuredPrompt.style_description.art_style.",
        ),
        # One word names too much to be taken for a key of it: the closest arguments are said, as before.
        ({"positivePrompt": "x", "type": "REALISTIC"}, "type: unknown argument. Did you mean styleType"),
        ({"model": "ideogram-4.0", "positivePrompt": "x", "text": "SALE"}, "text: unknown argument."),
        ({"model": "ideogram-4.0", "positivePrompt": "x", "colorpalette": []}, "as structuredPrompt.style_descr"),
        (
            {"model": "ideogram-4.0", "structuredPrompt": '{"a": ' * 100_000 + "1" + "}" * 100_000},
            "structuredPrompt: must be a JSON object; this text nests too deep or holds a number too long to be one.",
        ),
        ({"positivePrompt": "x", "aspectRatio": "16:9", "width": 1024, "height": 1024}, "not both"),
        ({"positivePrompt": "x", "seed": 0}, "seed: must be a whole number from 1 to 2147483647; got 0."),
        ({"positivePrompt": "x", "style": "anime"}, "styleType"),
        ({"positivePrompt": "x", "outputType": "base64Data"}, "Always URL"),
        ({"positivePrompt": "x", "negative_promt": "y"}, "Did you mean negativePrompt"),
        ({"positivePrompt": "x", "prompt": "y"}, "given twice"),
        ({"positivePrompt": "x", "numberResults": True}, "whole number"),
        # Two spellings of one argument with two values, whichever comes first: never one silently dropped.
        ({"positivePrompt": "x", "width": 1280, "height": 768, "size": "1024x1024"}, "width: given twice"),
        ({"positivePrompt": "x", "n": True, "numberResults": 1}, "numberResults: given twice"),
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


@pytest.mark.parametrize(
    ("tool", "given", "argument"),
    [
        ("generate_image", {"prompt": "a \ud800 cat"}, "positivePrompt"),
        ("generate_image", {"positivePrompt": "x", "aspectRatio": "16:9\udfff"}, "aspectRatio"),
        (
            "generate_image",
            {"model": "ideogram-4.0", "structuredPrompt": {"high_level_description": "\ud83d"}},
            "structuredPrompt",
        ),
        ("get_generation", {"taskUUID": "\ud800"}, "taskUUID"),
    ],
)
async def test_text_with_half_a_surrogate_pair_is_refused_naming_the_argument_and_the_server_serves_on(
    tool: str, given: dict[str, Any], argument: str, mcp: Client, emulator: Emulator
) -> None:
    # JSON's \ud800 escape is valid JSON, but no UTF-8 text can carry it: sent on, it stopped the sending of every task.
    result = await mcp.call_tool(tool, given)
    assert result.is_error
    (problem,) = error_of(result)["problems"]
    assert problem["argument"] == argument
    assert "holds half of a UTF-16 surrogate pair alone (\\u" in problem["message"]
    assert problem["message"].endswith("send the character whole (both halves of its \\u escape pair, or itself).")
    assert emulator.requests == []
    # JSON's pair of escapes is read as one character, which any request carries.
    whole = await mcp.call_tool("generate_image", {"prompt": json.loads('"a \\ud83d\\ude00 cat"')})
    assert (whole.structured_content or {}).get("status") == "done"
    assert emulator.submitted[0]["positivePrompt"] == "a \N{GRINNING FACE} cat"


async def test_a_missing_argument_is_said_with_the_first_sentence_of_its_description_whole(mcp: Client) -> None:
    result = await mcp.call_tool("replace_background", {"image": "00000000-0000-4000-8000-000000000001"})
    (problem,) = error_of(result)["problems"]
    assert problem == {  # not cut at the full stop of its "e.g."
        "argument": "positivePrompt",
        "message": "required: The new background, e.g. 'a marble countertop in a sunlit kitchen'.",
    }


async def test_every_problem_is_reported_at_once(mcp: Client) -> None:
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "numberResults": 0, "stylePreset": "nope"})
    problems = error_of(result)["problems"]
    assert [p["argument"] for p in problems] == ["numberResults", "stylePreset"]


async def test_a_size_half_unreadable_is_said_once_not_also_as_missing(mcp: Client) -> None:
    # The height given but unreadable had also been reported as missing: "width needs height".
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "width": 1024, "height": "1024px"})
    problems = {p["argument"]: p["message"] for p in error_of(result)["problems"]}
    assert problems == {"height": 'must be a whole number; got "1024px".'}


async def test_a_null_is_not_given_but_a_name_nothing_takes_is_told_even_as_null(
    mcp: Client, emulator: Emulator
) -> None:
    # "colour": null had passed without a word, where "colour": "red" is an unknown argument.
    refused = await mcp.call_tool("generate_image", {"positivePrompt": "x", "colour": None, "dryRun": True})
    assert [p["argument"] for p in error_of(refused)["problems"]] == ["colour"]
    fetched = await mcp.call_tool("get_generation", {"taskUUID": "0b6f6a3e-8f0e-4a53-9d4e-4d8a8cbe2a11", "tsk": None})
    assert "tsk: unknown argument." in text(fetched)
    assert not (await mcp.call_tool("list_sizes", {"size": None, "model": None})).is_error
    # Nulls for what some model or tool takes are "not given" (a client filling every field of the schema it saw).
    other_tools = {"wait": None, "state": None, "limit": None, "orientation": None, "region": None}
    other_tools |= {"color_palette": None, "styleDescription": None, "colorpalette": None}  # 4.0's structured prompt's
    for model, nulls in (
        ("ideogram-4.0", {"seed": None, "negative": None, "mask": None}),
        ("ideogram-3.0", other_tools),
    ):
        arguments = {"model": model, "positivePrompt": "x", "width": None, "quality": None, "dryRun": True}
        result = await mcp.call_tool("generate_image", arguments | nulls)
        assert not result.is_error, text(result)
    assert emulator.requests == []


async def test_unknown_names_are_not_kept_by_the_server(mcp: Client) -> None:
    # The lookup of the tools that take a name was cached for any name sent: 20 MB kept by five refused calls.
    from ideogram_mcp.arguments import generation

    before = generation._tools_taking.cache_info().currsize  # pyright: ignore[reportPrivateUsage]
    names = {f"unknown{n}": 1 for n in range(200)}
    assert (await mcp.call_tool("generate_image", {"positivePrompt": "x", **names})).is_error
    assert generation._tools_taking.cache_info().currsize == before  # pyright: ignore[reportPrivateUsage]


async def test_a_prompt_of_the_longest_length_is_taken_and_one_character_more_is_not(
    mcp: Client, emulator: Emulator
) -> None:
    longest = await mcp.call_tool("generate_image", {"positivePrompt": "a" * 2000, "dryRun": True})
    over = await mcp.call_tool("generate_image", {"positivePrompt": "a" * 2001, "dryRun": True})
    assert not longest.is_error, text(longest)
    assert "positivePrompt: must be text of 1 to 2000 characters; it has 2001." in text(over)
    assert emulator.submitted == []


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
        ({"prompt": "x", "numberResults": 2.0}, {"numberResults": 2}),
        (
            {"prompt": "x", "outputFormat": "jpeg", "styleType": "photo"},
            {"outputFormat": "JPG", "styleType": "REALISTIC"},
        ),
        ({"prompt": "x", "size": "1344x768"}, {"width": 1344, "height": 768}),
        ({"prompt": "x", "aspect_ratio": "21:9"}, {"width": 1472, "height": 640}),
        ({"prompt": "x", "aspectRatio": "1.5"}, {"width": 1248, "height": 832}),
        ({"prompt": "x", "aspectRatio": 1.5}, {"width": 1248, "height": 832}),
        ({"prompt": "x", "aspectRatio": "16:9", "width": 1312, "height": 736}, {"width": 1312, "height": 736}),
        ({"prompt": "x", "stylePreset": "watercol"}, {"stylePreset": "WATERCOLOR"}),
        ({"prompt": "x", "checkContent": "yes"}, {"safety": {"checkContent": True, "mode": "fast"}}),
        (
            {"prompt": "x", "styleReferenceImages": "https://e.com/a.png"},
            {"styleReferenceImages": ["https://e.com/a.png"]},
        ),
        (
            {
                "prompt": "x",
                "characterReferenceImages": "data:image/png;base64," + base64.b64encode(png()).decode(),
                "characterReferenceImagesMask": base64.b64encode(png()).decode(),
            },
            {"characterReferenceImagesMask": [base64.b64encode(png()).decode()]},
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


def test_the_names_a_model_takes_are_read_from_the_spec_given() -> None:
    # The served models' names are worked out once; a spec that is not one of them (a test's changed copy) is read
    # as it is, not answered from that cache.
    served = load_specs()["ideogram:4@1"]
    with pytest.raises(arguments.InvalidArgumentsError) as refused:
        arguments.parse(served, {"prompt": "x", "house_style": "AUTO"})
    assert [p.argument for p in refused.value.problems] == ["house_style"]
    extra = served.parameters["styleType"].model_copy(update={"name": "houseStyle", "wire": "houseStyle"})
    changed = served.model_copy(update={"parameters": served.parameters | {"houseStyle": extra}})
    assert arguments.parse(changed, {"prompt": "x", "house_style": "AUTO"}).values["houseStyle"] == "AUTO"


def test_inline_data_that_is_no_image_is_refused_before_anything_is_sent() -> None:
    # Found by the property-based run: sixteen zeros are base64, of no picture; Runware refused it once it had it.
    edit = load_specs()["ideogram:4@3"]
    given = {"image": "https://example.com/a.png", "mask": "0000000000000000", "positivePrompt": "x"}
    with pytest.raises(arguments.InvalidArgumentsError) as refused:
        arguments.parse(edit, given)
    assert refused.value.problems == [
        arguments.Problem(
            "mask",
            "must be an image: a local file in an allowed folder, a public http(s) URL, "
            "a data URI, base64 data or an image UUID; its inline data is no "
            'PNG, JPEG or WEBP image; got "0000000000000000".',
        )
    ]
    remix = load_specs()["ideogram:4@2"]
    png_data = "data:image/png;base64," + base64.b64encode(png()).decode()
    assert arguments.parse(remix, {"image": png_data, "positivePrompt": "x"}).values["image"] == [png_data]


@pytest.mark.parametrize(
    ("tool", "given"),
    [
        ("edit_image", {"image": "https://e.com/a.png", "mask": "https://e.com/m.png", "positivePrompt": "x"}),
        ("replace_background", {"image": "https://e.com/a.png", "positivePrompt": "x"}),
        ("remove_background", {"image": "https://e.com/a.png"}),
    ],
)
async def test_a_size_given_to_a_tool_that_keeps_the_sources_is_refused_saying_so(
    tool: str, given: dict[str, Any], mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool(tool, given | {"size": "1024x1024"})
    assert error_of(result)["kind"] == "invalid_arguments", text(result)
    assert "size: not accepted: this model keeps the source image's size." in text(result)
    assert emulator.submitted == []


async def test_two_spellings_of_one_number_are_one_value(mcp: Client, emulator: Emulator) -> None:
    for given in ({"size": "1024x1024", "width": 1024.0}, {"numberResults": 2, "n": 2.0}):
        result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "dryRun": True} | given)
        assert not result.is_error, text(result)
    assert emulator.submitted == []


@pytest.mark.parametrize("width", [2**63, -(2**63), 10**100])
async def test_a_whole_number_too_large_for_json_is_told_its_bounds_not_that_it_is_no_whole_number(
    width: int, mcp: Client, emulator: Emulator
) -> None:
    # 9223372036854775808 had been refused as "must be a whole number", which it is.
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "width": width, "height": 1024})
    problems = {p["argument"]: p["message"] for p in error_of(result)["problems"]}
    assert problems["width"].startswith("must be a whole number from -9007199254740991 to 9007199254740991; got ")
    assert emulator.requests == []
