"""generate_image with Ideogram 4.0 as an agent meets it: the task that reaches Runware, the structured prompt there
and back, and every call 4.0 cannot take refused before anything is sent, naming the fix."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.specs import load_spec

from ..conftest import error_of, structured, text

pytestmark = pytest.mark.anyio

PROMPT = 'Gig poster that reads "NIGHT SIGNALS", a vintage microphone below'
# The notes' example (shared/notes/ideogram-4.md), its keys as the notes order them.
SCENE: dict[str, Any] = {
    "high_level_description": "A modern indie gig poster, amber type on near-black.",
    "style_description": {
        "aesthetics": "confident type hierarchy",
        "lighting": "low amber glow",
        "art_style": "screen-print poster",
        "color_palette": ["#0E0C0A", "#E8A13B", "#F2E6D0"],
    },
    "compositional_deconstruction": {
        "background": "Near-black textured field.",
        "elements": [
            {
                "type": "text",
                "text": "NIGHT SIGNALS",
                "desc": "huge condensed capitals, upper half",
                "bbox": [60, 80, 420, 920],
                "color_palette": ["#E8A13B"],
            },
            {"type": "obj", "desc": "a vintage microphone, lower right"},
        ],
    },
}
SIZES_4 = {(s.width, s.height) for s in load_spec("ideogram:4@0").sizes}


async def test_a_4_0_call_sends_an_ideogram_4_task_with_a_listed_2k_size_and_its_speed_under_settings(
    mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool(
        "generate_image",
        {
            "model": "ideogram-4.0",
            "prompt": PROMPT,
            "aspectRatio": "16:9",
            "renderingSpeed": "TURBO",
            "magicPrompt": "ON",
            "numberResults": 2,
            "outputFormat": "PNG",
        },
    )
    out = structured(result)
    (task,) = emulator.submitted
    assert task.pop("taskUUID") == out["taskUUID"]
    assert task == {
        "taskType": "imageInference",
        "model": "ideogram:4@0",
        "outputType": "URL",
        "includeCost": True,
        "deliveryMethod": "async",
        "positivePrompt": PROMPT,
        "width": 2560,
        "height": 1440,
        "settings": {"renderingSpeed": "TURBO", "magicPrompt": "ON"},
        "numberResults": 2,
        "outputFormat": "PNG",
    }
    assert (task["width"], task["height"]) in SIZES_4
    assert (out["model"], out["quote"], out["totalCost"]) == ("ideogram:4@0", 0.06, 0.06)
    assert emulator.charged == 0.06, "TURBO: $0.03 an image"
    for image in out["images"]:
        assert (image["width"], image["height"], image["format"], image["cost"]) == (2560, 1440, "PNG", 0.03)
    scene = out["images"][0]["structuredPrompt"]  # the one Magic Prompt wrote from the text prompt (both's, here)
    assert "structuredPrompt" not in out["images"][1], "the same scene is given once"
    assert scene["high_level_description"] == PROMPT
    assert {"type": "text", "text": "NIGHT SIGNALS"}.items() <= scene["compositional_deconstruction"]["elements"][
        0
    ].items()
    assert text(result).splitlines()[0] == "Generated 2 image(s) with Ideogram 4.0: 2560x1440 PNG, $0.06."
    assert "structuredPrompt" in text(result)


async def test_without_a_size_4_0_gets_the_square_2k_size_and_the_default_speeds_price(
    mcp: Client, emulator: Emulator
) -> None:
    out = structured(await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "prompt": "a red fox"}))
    (task,) = emulator.submitted
    assert (task["width"], task["height"]) == (2048, 2048)
    assert "settings" not in task, "nothing under settings that the call did not ask for"
    assert not {"providerSettings", "seed", "negativePrompt"} & set(task)
    assert (out["quote"], out["totalCost"]) == (0.06, 0.06)


@pytest.mark.parametrize(("speed", "quote"), [("TURBO", 0.09), ("DEFAULT", 0.18), ("QUALITY", 0.30)])
async def test_the_quote_of_4_0_depends_on_its_speed(speed: str, quote: float, mcp: Client, emulator: Emulator) -> None:
    arguments = {"model": "ideogram-4.0", "prompt": "x", "renderingSpeed": speed, "numberResults": 3, "dryRun": True}
    out = structured(await mcp.call_tool("generate_image", arguments))
    assert out["quote"] == pytest.approx(quote)
    assert out["task"]["settings"] == {"renderingSpeed": speed}
    assert emulator.requests == []


@pytest.mark.parametrize("model", ["ideogram-4.0", "ideogram:4@0", "4.0", "Ideogram 4", "ideogram_v4", "4", 4.0])
async def test_obvious_spellings_of_4_0_pick_it(model: object, mcp: Client, emulator: Emulator) -> None:
    out = structured(await mcp.call_tool("generate_image", {"model": model, "prompt": "x", "dryRun": True}))
    assert out["task"]["model"] == "ideogram:4@0"


@pytest.mark.parametrize("name", ["Model", "MODEL"])
async def test_the_model_argument_is_read_under_its_obvious_spellings(
    name: str, mcp: Client, emulator: Emulator
) -> None:
    # "Model" had been refused as "set by the server, not by callers": the spec's own model, not the tool's choice.
    out = structured(await mcp.call_tool("generate_image", {name: "ideogram-4.0", "prompt": "x", "dryRun": True}))
    assert out["task"]["model"] == "ideogram:4@0"


async def test_a_structured_prompt_goes_under_settings_in_the_canonical_order_and_comes_back_to_resend(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    # Sent as an agent might: keys in another order, one camelCase, a colour in lower case, a box side as 60.0.
    sent = copy.deepcopy(SCENE)
    sent["compositional_deconstruction"]["elements"][0]["bbox"] = [60.0, 80, 420, 920]
    sent["style_description"]["color_palette"][1] = "#e8a13b"
    scrambled = {
        "compositionalDeconstruction": sent["compositional_deconstruction"],
        "style_description": dict(reversed(sent["style_description"].items())),
        "high_level_description": sent["high_level_description"],
    }
    first = structured(
        await mcp.call_tool(
            "generate_image", {"model": "ideogram-4.0", "structuredPrompt": scrambled, "renderingSpeed": "QUALITY"}
        )
    )
    task = emulator.submitted[0]
    assert "positivePrompt" not in task
    assert task["settings"] == {"structuredPrompt": SCENE, "renderingSpeed": "QUALITY"}
    scene = task["settings"]["structuredPrompt"]
    assert list(scene) == ["high_level_description", "style_description", "compositional_deconstruction"]
    assert list(scene["style_description"]) == ["aesthetics", "lighting", "art_style", "color_palette"]
    assert list(scene["compositional_deconstruction"]["elements"][0]) == [
        "type",
        "text",
        "desc",
        "bbox",
        "color_palette",
    ]
    assert json.dumps(scene) == json.dumps(SCENE), "byte for byte as the notes' example"
    (image,) = first["images"]
    assert image["structuredPrompt"] == SCENE
    assert first["totalCost"] == 0.10
    recipe = json.loads(Path(image["path"]).with_suffix(".json").read_text())
    assert recipe["structuredPrompt"] == SCENE
    assert recipe["task"]["settings"]["structuredPrompt"] == SCENE
    assert "-a-modern-indie-gig-poster-" in Path(image["path"]).name, "named from its summary"

    # An agent edits one element of the answer and sends it back: only that element changes.
    edited = copy.deepcopy(image["structuredPrompt"])
    edited["compositional_deconstruction"]["elements"][0]["text"] = "DAY SIGNALS"
    structured(await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "structuredPrompt": edited}))
    resent = emulator.submitted[1]["settings"]["structuredPrompt"]
    assert resent["compositional_deconstruction"]["elements"][0]["text"] == "DAY SIGNALS"
    resent["compositional_deconstruction"]["elements"][0]["text"] = "NIGHT SIGNALS"
    assert resent == SCENE


async def test_a_scene_many_images_share_is_given_once_and_each_recipe_keeps_its_own(mcp: Client) -> None:
    # Twenty copies of one long scene made a result too large for hosts (1.3 MB for a 58 KB scene).
    result = await mcp.call_tool(
        "generate_image", {"model": "ideogram-4.0", "structuredPrompt": SCENE, "numberResults": 4}
    )
    images = structured(result)["images"]
    assert [("structuredPrompt" in image) for image in images] == [True, False, False, False]
    assert images[0]["structuredPrompt"] == SCENE
    assert "Images 2 to 4 share image 1's, given there only." in text(result)
    recipes = [json.loads(Path(image["path"]).with_suffix(".json").read_text()) for image in images]
    assert [recipe["structuredPrompt"] for recipe in recipes] == [SCENE] * 4


async def test_get_generation_shows_the_structured_prompt_the_image_was_made_from(mcp: Client) -> None:
    made = structured(await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "structuredPrompt": SCENE}))
    fetched = structured(await mcp.call_tool("get_generation", {"taskUUID": made["taskUUID"]}))
    assert fetched["images"][0]["structuredPrompt"] == SCENE
    listed = structured(await mcp.call_tool("list_generations", {}))
    assert listed["generations"][0]["prompt"] == SCENE["high_level_description"]


def _element(**changes: Any) -> dict[str, Any]:
    scene = copy.deepcopy(SCENE)
    scene["compositional_deconstruction"]["elements"][0] |= changes
    return scene


async def test_blank_optional_parts_of_a_structured_prompt_are_left_out_as_runwares_own_builder_does(
    mcp: Client, emulator: Emulator
) -> None:
    # An agent filling the scene's template had sent "lighting": "" and "background": " " as they came: Runware's
    # ComfyUI builder of this object leaves blank fields out (and an object left empty), and so now does this one.
    sent = copy.deepcopy(SCENE)
    sent["style_description"] |= {"lighting": "", "photo": "  "}  # photo beside art_style: blank, no clash
    sent["compositional_deconstruction"]["background"] = " "
    sent["compositional_deconstruction"]["elements"][0]["desc"] = ""  # a text element's desc, its text given
    structured(await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "structuredPrompt": sent}))
    scene = emulator.submitted[0]["settings"]["structuredPrompt"]
    assert scene["style_description"] == {k: v for k, v in SCENE["style_description"].items() if k != "lighting"}
    assert "background" not in scene["compositional_deconstruction"]
    assert "desc" not in scene["compositional_deconstruction"]["elements"][0]
    bare = {"high_level_description": "a quiet shore", "style_description": {"aesthetics": ""},
            "compositional_deconstruction": {"background": ""}}  # fmt: skip
    structured(await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "structuredPrompt": bare}))
    assert emulator.submitted[1]["settings"]["structuredPrompt"] == {"high_level_description": "a quiet shore"}
    blank = {"high_level_description": " ", "compositional_deconstruction": {"elements": [{"type": "obj", "desc": ""}]}}
    refused = await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "structuredPrompt": blank})
    assert [p["argument"] for p in error_of(refused)["problems"]] == [
        "structuredPrompt.high_level_description",
        f"{ELEMENT}.desc",
    ], "a part that must have a character is still refused when blank"
    assert len(emulator.submitted) == 2
    # A scene with no elements (as Magic Prompt may give one back): its empty list left out, not refused as "must be
    # a list of objects ... got []", which had kept it from being sent back.
    empty = {"high_level_description": "an empty beach", "compositional_deconstruction": {"background": "sand",
             "elements": []}, "style_description": {"color_palette": []}}  # fmt: skip
    structured(await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "structuredPrompt": empty}))
    assert emulator.submitted[2]["settings"]["structuredPrompt"] == {
        "high_level_description": "an empty beach",
        "compositional_deconstruction": {"background": "sand"},
    }


ELEMENT = "structuredPrompt.compositional_deconstruction.elements[0]"
FOUR = {"model": "ideogram-4.0"}


@pytest.mark.parametrize(
    ("arguments", "argument", "says"),
    [
        (FOUR | {"prompt": "x", "structuredPrompt": SCENE}, "positivePrompt/structuredPrompt", "not both"),
        (FOUR, "positivePrompt/structuredPrompt", "required: positivePrompt or structuredPrompt"),
        (FOUR | {"prompt": "x", "stylePreset": "ART_DECO"}, "stylePreset",
         "not accepted by Ideogram 4.0; Ideogram 3.0 takes it (model: ideogram-3.0)"),
        (FOUR | {"prompt": "x", "seed": 7}, "seed", "Ideogram 3.0 takes it (model: ideogram-3.0)"),
        (FOUR | {"prompt": "x", "negative": "blur"}, "negative", "Ideogram 3.0 takes it (model: ideogram-3.0)"),
        (FOUR | {"prompt": "x", "style_type": "DESIGN"}, "style_type", "Ideogram 3.0 takes it"),
        (FOUR | {"prompt": "x", "width": 1024, "height": 1024}, "width/height",
         "not a size Ideogram 4.0 takes. Nearest supported: 2048x2048 (2K (1:1))"),
        (FOUR | {"prompt": "x", "size": "1312x736"}, "width/height", "2560x1440 (2K (16:9))"),
        (FOUR | {"prompt": "x", "renderingSpeed": "FAST"}, "renderingSpeed", "TURBO, DEFAULT, QUALITY"),
        # Words for 3.0 had answered these: "use styleType or stylePreset", which 4.0 refuses, and a 3.0 size.
        (FOUR | {"prompt": "x", "style": "watercolor"}, "style",
         "Ideogram 4.0 takes no style controls: describe the style in the prompt, or in structuredPrompt's "
         "style_description"),
        (FOUR | {"prompt": "x", "size": "large"}, "size",
         "give width and height (e.g. width=2560, height=1440; list_sizes with model ideogram-4.0 lists them)"),
        ({"prompt": "x", "structuredPrompt": SCENE}, "structuredPrompt",
         "not accepted by Ideogram 3.0; Ideogram 4.0 takes it (model: ideogram-4.0)"),
        ({"model": "ideogram-5", "prompt": "x"}, "model", "give ideogram-3.0 or ideogram-4.0"),
        ({"model": "ideogram:4@2", "prompt": "x"}, "model", "Ideogram 3.0 Remix, which remix_image runs"),
        (FOUR | {"structuredPrompt": _element(bbox=[420, 80, 60, 920])}, f"{ELEMENT}.bbox",
         "y_min 420 is not below y_max 60"),
        (FOUR | {"structuredPrompt": _element(bbox=[500, 0, 500, 1000])}, f"{ELEMENT}.bbox",
         "y_min 500 is not below y_max 500"),  # no height, as [0, 500, 1000, 500] has no width
        (FOUR | {"structuredPrompt": _element(bbox=[0.1, 0.1, 0.5, 0.9])}, f"{ELEMENT}.bbox", "from 0 to 1000"),
        (FOUR | {"structuredPrompt": _element(type="obj")}, f"{ELEMENT}.text", "only for type \"text\""),
        (FOUR | {"structuredPrompt": _element(type="obj", text=None, desc=None)}, f"{ELEMENT}.desc",
         "required when type is \"obj\""),
        (FOUR | {"structuredPrompt": _element(text=None, desc=None)}, ELEMENT, "give text or desc"),
        (FOUR | {"structuredPrompt": _element(color_palette=["amber"])}, f"{ELEMENT}.color_palette", "#[0-9A-F]{6}"),
        (FOUR | {"structuredPrompt": _element(colour="red")}, f"{ELEMENT}.colour",
         "unknown key; the keys here are type, text, desc, bbox, color_palette"),
        (FOUR | {"structuredPrompt": {"style_description": {"photo": "85mm", "art_style": "poster"}}},
         "structuredPrompt.high_level_description", "required: the whole image in a sentence or two"),
        (FOUR | {"structuredPrompt": {"high_level_description": "x", "style_description": {"photo": "85mm",
         "art_style": "poster"}}}, "structuredPrompt.style_description.photo", "not together with art_style"),
        (FOUR | {"structuredPrompt": "not json"}, "structuredPrompt", "must be an object"),
        (FOUR | {"structuredPrompt": {"high_level_description": "a red fox", "highLevelDescription": "a whale"}},
         "structuredPrompt.high_level_description", "given twice, as high_level_description and as "
         "highLevelDescription"),  # neither value dropped
        (FOUR | {"structuredPrompt": SCENE, "magicPrompt": "ON"}, "magicPrompt/structuredPrompt",
         "magicPrompt cannot be used together with structuredPrompt; leave one of them out"),
        # Found by an audit. A scene as the text prompt had been told only "must be text", or sent as text (its JSON
        # drawn as the image's words); a \ud800 escape in a scene sent as JSON text passed the dry run, then failed
        # as "Runware's answer could not be used"; the scene's parts put a level too high were only "unknown".
        (FOUR | {"prompt": {"high_level_description": "a fox"}}, "positivePrompt",
         "holds a scene (high_level_description), not text: give it as structuredPrompt instead, and leave "
         "positivePrompt out"),
        (FOUR | {"prompt": '{"high_level_description": "a fox"}'}, "positivePrompt",
         "give it as structuredPrompt instead"),
        (FOUR | {"structuredPrompt": '{"high_level_description": "a fox \\ud800 in snow"}'}, "structuredPrompt",
         "holds half of a UTF-16 surrogate pair alone (\\ud800"),
        (FOUR | {"structuredPrompt": {"high_level_description": "x", "elements": []}}, "structuredPrompt.elements",
         "It goes one level down, as compositional_deconstruction.elements."),
    ],
)  # fmt: skip
async def test_calls_4_0_cannot_take_are_refused_naming_the_fix_before_anything_is_sent(
    arguments: dict[str, Any], argument: str, says: str, mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("generate_image", arguments)
    problems = {p["argument"]: p["message"] for p in error_of(result)["problems"]}
    assert argument in problems, text(result)
    assert says in problems[argument], problems[argument]
    assert text(result).startswith("Nothing was generated and nothing was charged.")
    assert emulator.requests == []


async def test_naming_ideogram_3_0_sends_what_a_call_without_a_model_sends(mcp: Client, emulator: Emulator) -> None:
    arguments = {"prompt": PROMPT, "aspectRatio": "2:3", "stylePreset": "ART_POSTER", "seed": 11}
    for model in (None, "ideogram-3.0", "ideogram:4@1"):
        structured(await mcp.call_tool("generate_image", arguments | ({"model": model} if model else {})))
    sent = [{k: v for k, v in task.items() if k != "taskUUID"} for task in emulator.submitted]
    assert sent[0] == sent[1] == sent[2]
    assert sent[0]["model"] == "ideogram:4@1"
    assert json.dumps(sent[0]) == json.dumps(sent[1]), "the same keys in the same order"


def test_scenes_that_differ_are_each_given_with_its_image() -> None:
    from ideogram_mcp.tools.published import GeneratedImage
    from ideogram_mcp.tools.wording import _scenes_once  # pyright: ignore[reportPrivateUsage]

    def made(scene: dict[str, Any] | None) -> GeneratedImage:
        return GeneratedImage(image_uuid="u", image_url="https://im/u.jpg", format="JPG", structured_prompt=scene)

    a, b = {"high_level_description": "a"}, {"high_level_description": "b"}
    differ = [made(a), made(b), made(b)]
    assert [i.structured_prompt for i in _scenes_once(differ)] == [a, b, b], "as Magic Prompt wrote each"
    assert [i.structured_prompt for i in _scenes_once([made(None), made(a), made(a)])] == [None, a, None]
