"""Image inputs checked whole before anything is sent: inline data that only begins as an image, more than an input
may hold, or too many pixels, and local files likewise; base64 wrapped in lines, as tools write it, read as meant."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, cast

import pytest
from mcp import Client
from PIL import Image

from ideogram_mcp.emulator import Emulator

from ..conftest import error_of, picture, pixels_cut, structured, text

pytestmark = pytest.mark.anyio

TOOLS = [
    ("remix_image", {"positivePrompt": "x"}),
    ("reframe_image", {"aspectRatio": "16:9"}),
    ("replace_background", {"positivePrompt": "x"}),
    ("remove_background", {}),
    ("edit_image", {"positivePrompt": "x", "region": {"x": 0, "y": 0, "width": 1, "height": 0.5}}),
]


def _noise(fmt: str = "PNG", size: tuple[int, int] = (400, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def _uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


DAMAGED = {
    "a PNG cut short": (lambda: _uri(_noise()[:300]), "is a damaged or cut-short image"),
    "a JPEG cut short": (lambda: _uri(_noise("JPEG")[:2000], "image/jpeg"), "is a damaged or cut-short image"),
    # Its chunks' checksums alone were checked: it was sent, paid for, and failed (found by an audit).
    "a PNG's pixels cut short": (lambda: _uri(pixels_cut(_noise())), "is a damaged or cut-short image"),
    "a PNG's head, then no base64": (
        lambda: "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg" + "!" * 40,
        "is inline data that is not valid base64",
    ),
    "bare base64 of a PNG cut short": (
        lambda: base64.b64encode(_noise()[:300]).decode(),
        "is a damaged or cut-short image",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGED))
@pytest.mark.parametrize(("tool", "extra"), TOOLS, ids=[tool for tool, _ in TOOLS])
async def test_inline_data_that_is_no_whole_image_is_refused_before_anything_is_sent(
    tool: str, extra: dict[str, Any], damage: str, mcp: Client, emulator: Emulator
) -> None:
    # Each was sent in a paid task: Runware takes it, charges, then fails the image.
    made, said = DAMAGED[damage]
    result = await mcp.call_tool(tool, {"image": made(), **extra})
    (problem,) = error_of(result)["problems"]
    assert problem["argument"] == ("image[0]" if tool == "remix_image" else "image")  # remix's takes a list
    assert problem["message"].startswith(said)
    assert emulator.requests == []


async def test_a_damaged_reference_among_several_is_named_by_its_place(mcp: Client, emulator: Emulator) -> None:
    whole, cut = _uri(_noise()), _uri(_noise()[:300])
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "styleReferenceImages": [whole, cut]})
    (problem,) = error_of(result)["problems"]
    assert problem["argument"] == "styleReferenceImages[1]"
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            "https://exa mple.com/a.png",
            "the URL's host ('exa mple.com') has a space, which no host name has: remove it",
        ),
        ("https://example.com/a\x00.png", "character 22 of the URL is a control character (\\u0000): remove it"),
        ("https:///a.png", "it is no http(s) URL with a host: give the whole address, such as https://example.com/"),
    ],
)
@pytest.mark.parametrize(("tool", "extra"), TOOLS, ids=[tool for tool, _ in TOOLS])
async def test_a_url_no_server_could_be_fetched_at_is_refused_saying_why(
    url: str, says: str, tool: str, extra: dict[str, Any], mcp: Client, emulator: Emulator
) -> None:
    # A space in the host, or a NUL, had been sent: the render was asked for (and quoted) with an image no one could
    # fetch; "none of these" alone had not said what was wrong with it.
    refused = await mcp.call_tool(tool, {"image": url, **extra})
    (problem,) = error_of(refused)["problems"]
    assert problem["argument"] == "image"
    assert says in problem["message"]
    assert emulator.submitted == []


async def test_inline_data_over_the_input_limit_is_refused_as_a_file_is(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    data = _noise(size=(2600, 1800))
    assert len(data) > 10 * 1024 * 1024
    output.mkdir(parents=True)
    (output / "large.png").write_bytes(data)
    inline = await mcp.call_tool("remix_image", {"image": _uri(data), "positivePrompt": "x"})
    local = await mcp.call_tool("remix_image", {"image": "large.png", "positivePrompt": "x"})
    said = [error_of(result)["problems"][0]["message"] for result in (inline, local)]
    assert said[0] == said[1]
    assert said[0].startswith(f"is {len(data) / 1024 / 1024:.1f} MB; input images may be at most 10 MB")
    assert emulator.requests == []


async def test_inline_data_of_exactly_the_input_limit_is_sent_and_a_byte_more_is_not(
    mcp: Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ideogram_mcp import files

    data = _noise()
    monkeypatch.setattr(files, "MAX_INPUT", len(data))
    at_limit = await mcp.call_tool("remix_image", {"image": _uri(data), "positivePrompt": "x"})
    assert structured(at_limit)["status"] == "done"
    sent = len(emulator.requests)
    monkeypatch.setattr(files, "MAX_INPUT", len(data) - 1)
    over = await mcp.call_tool("remix_image", {"image": _uri(data), "positivePrompt": "x"})
    assert "MB; input images may be at most" in error_of(over)["problems"][0]["message"]
    assert len(emulator.requests) == sent


async def test_a_damaged_or_enormous_local_file_is_refused_before_it_is_uploaded(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    output.mkdir(parents=True)
    (output / "cut.jpg").write_bytes(_noise("JPEG")[:2000])
    (output / "cut.png").write_bytes(pixels_cut(_noise()))
    bomb = io.BytesIO()
    Image.new("L", (14000, 14000)).save(bomb, format="PNG")  # 24 KB of 196 million pixels
    (output / "bomb.png").write_bytes(bomb.getvalue())
    cut = await mcp.call_tool("remove_background", {"image": "cut.jpg"})
    pixels = await mcp.call_tool("reframe_image", {"image": "cut.png", "aspectRatio": "16:9"})
    huge = await mcp.call_tool("remix_image", {"image": "bomb.png", "positivePrompt": "x"})
    inline = await mcp.call_tool("remix_image", {"image": _uri(bomb.getvalue()), "positivePrompt": "x"})
    assert error_of(cut)["problems"][0]["message"].startswith(
        "is a damaged or cut-short image (image file is truncated"
    )
    assert error_of(pixels)["problems"][0]["message"].startswith("is a damaged or cut-short image")
    for result in (huge, inline):
        assert error_of(result)["problems"][0]["message"].startswith("has more pixels than an input image may")
    assert emulator.requests == [], "not even the free upload"


@pytest.mark.parametrize("form", ["data URI", "bare base64"])
async def test_base64_wrapped_in_lines_is_sent_whole(form: str, mcp: Client, emulator: Emulator) -> None:
    data = _noise()
    wrapped = base64.encodebytes(data).decode()  # 76 characters a line, as base64 and MIME tools write it
    assert "\n" in wrapped
    image = f"data:image/png;base64,{wrapped}" if form == "data URI" else wrapped
    out = structured(await mcp.call_tool("remix_image", {"image": image, "positivePrompt": "x"}))
    (sent,) = emulator.submitted
    joined = base64.b64encode(data).decode()
    assert sent["inputs"]["referenceImages"] == [f"data:image/png;base64,{joined}" if form == "data URI" else joined]
    assert out["status"] == "done"
    assert emulator.charged > 0


async def test_a_file_name_with_spaces_is_still_read_as_a_file(mcp: Client, emulator: Emulator, output: Path) -> None:
    output.mkdir(parents=True)
    (output / "first draft poster design").write_bytes(_noise())
    out = structured(
        await mcp.call_tool("remove_background", {"image": "first draft poster design"}),
    )
    upload, _ = emulator.submitted
    assert upload["taskType"] == "imageUpload"
    assert out["status"] == "done"


@pytest.mark.parametrize(
    ("tool", "given", "meant", "base"),
    [
        ("edit_image", "maskImage", "mask", {"image": "https://e.com/a.png", "positivePrompt": "x"}),
        ("edit_image", "mask_image", "mask", {"image": "https://e.com/a.png", "positivePrompt": "x"}),
        ("edit_image", "seedImage", "image", {"mask": "https://e.com/m.png", "positivePrompt": "x"}),
        ("edit_image", "source_image", "image", {"mask": "https://e.com/m.png", "positivePrompt": "x"}),
        ("edit_image", "regions", "region", {"image": "https://e.com/a.png", "positivePrompt": "x"}),
        ("remix_image", "referenceImages", "image", {"positivePrompt": "x"}),
        ("remix_image", "image_url", "image", {"positivePrompt": "x"}),
        ("reframe_image", "seedImage", "image", {"aspectRatio": "16:9"}),
        ("remove_background", "inputImage", "image", {}),
    ],
)
async def test_runwares_own_names_for_the_images_and_other_apis_are_read_as_the_arguments_they_mean(
    tool: str, given: str, meant: str, base: dict[str, Any], mcp: Client
) -> None:
    # Each was an unknown argument whose hint pointed elsewhere: remix's referenceImages at styleReferenceImages
    # (the source image would have gone in as a style), edit's mask_image at numberResults.
    value: object = {"x": 0, "y": 0, "width": 1, "height": 0.5} if meant == "region" else "https://e.com/b.png"
    dry = structured(await mcp.call_tool(tool, base | {given: value, "dryRun": True}))
    inputs = dry["task"]["inputs"]
    sent = {  # where the argument it means goes in the task: read there, not anywhere in it
        "mask": inputs.get("maskImage"),
        "region": inputs.get("maskImage"),
        "image": {
            "remix_image": (inputs.get("referenceImages") or [None])[0],
            "remove_background": inputs.get("image"),
        }.get(tool, inputs.get("seedImage")),
    }[meant]
    drawn = "<drawn from region once the image's size is known>"
    assert sent == {"region": drawn}.get(meant, "https://e.com/b.png")


@pytest.mark.parametrize("given", ["imageWeight", "image_weight", "IMAGE_WEIGHT", "imageweight"])
async def test_ideograms_image_weight_is_refused_naming_remix_strength_which_runs_the_other_way(
    given: str, mcp: Client, emulator: Emulator
) -> None:
    # It was read as remixStrength with the same number: 90 (keep close to the source) asked for a bold change.
    result = await mcp.call_tool("remix_image", {"image": "https://e.com/a.png", "positivePrompt": "x", given: 90})
    said = {problem["argument"]: problem["message"] for problem in error_of(result)["problems"]}
    assert said == {
        given: "not accepted: Runware takes remixStrength instead, which runs the other way to Ideogram's image_weight "
        "(where high keeps more of the source): remixStrength is 1 to 100, low keeps the source's layout and "
        "colours, high takes more from the prompt."
    }
    assert emulator.requests == []


@pytest.mark.parametrize("given", ["imageWeight", "image_weight", "IMAGE_WEIGHT"])
async def test_ideograms_image_weight_as_null_is_not_given_however_spelt(given: str, mcp: Client) -> None:
    # Spelt other than as the spec refuses it, a null was "unknown argument", with no word of remixStrength.
    arguments = {"image": "https://e.com/a.png", "positivePrompt": "x", given: None, "dryRun": True}
    result = await mcp.call_tool("remix_image", arguments)
    assert not result.is_error, text(result)


async def test_a_misspelt_region_is_told_of_region_among_edit_images_arguments(mcp: Client) -> None:
    result = await mcp.call_tool("edit_image", {"image": "https://e.com/a.png", "positivePrompt": "x", "regon": {}})
    said = {problem["argument"]: problem["message"] for problem in error_of(result)["problems"]}
    assert said["regon"].startswith("unknown argument. Did you mean region?")
    assert "region" in said["regon"].split("Known arguments: ")[1].rstrip(".").split(", ")


@pytest.mark.parametrize(("tool", "extra"), TOOLS, ids=[tool for tool, _ in TOOLS])
async def test_a_task_uuid_given_as_the_image_is_told_the_image_uuids_it_made(
    tool: str, extra: dict[str, Any], mcp: Client, emulator: Emulator
) -> None:
    # Results show the taskUUID first: sent as an image, Runware answered "unknown image UUID".
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "a kite", "numberResults": 2}))
    sent = len(emulator.requests)
    result = await mcp.call_tool(tool, {"image": made["taskUUID"], **extra})
    (problem,) = error_of(result)["problems"]
    uuids = ", ".join(image["imageUUID"] for image in made["images"])
    assert problem["message"] == (
        f"is the taskUUID of a generate_image task, not an image: pass one of its images' imageUUID ({uuids})."
    )
    assert len(emulator.requests) == sent


async def test_a_task_uuid_of_a_task_that_made_more_than_four_images_is_told_its_first_four(
    mcp: Client, emulator: Emulator
) -> None:
    made = structured(await mcp.call_tool("generate_image", {"positivePrompt": "a kite", "numberResults": 5}))
    result = await mcp.call_tool("remix_image", {"image": made["taskUUID"], "positivePrompt": "x"})
    (problem,) = error_of(result)["problems"]
    uuids = ", ".join(image["imageUUID"] for image in made["images"][:4])
    assert problem["message"] == (
        f"is the taskUUID of a generate_image task, not an image: pass one of its images' imageUUID ({uuids}, ...)."
    )


def _sideways(size: tuple[int, int] = (400, 300)) -> bytes:
    """A phone's photo: stored 400x300 and tagged to be seen turned a quarter (300x400), the top of what is seen
    red, the rest blue."""
    stored = Image.new("RGB", size, (30, 30, 200))
    stored.paste((220, 20, 20), (0, 0, size[0] // 4, size[1]))  # the stored left edge is the top as seen
    tags = stored.getexif()
    tags[0x0112] = 6  # rotated 90 degrees clockwise to be seen
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=tags, quality=95)
    return buffer.getvalue()


def _as_held(emulator: Emulator, value: str) -> Image.Image:
    data = emulator.images[value].data if value in emulator.images else base64.b64decode(value.split(",", 1)[1])
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize("form", ["file", "data URI"])
async def test_a_photo_tagged_to_be_seen_turned_is_sent_measured_and_masked_as_seen(
    form: str, mcp: Client, emulator: Emulator, output: Path
) -> None:
    # Measured as stored, a portrait photo was remixed at a landscape size, its region drawn on the sideways pixels,
    # and a mask painted on the photo as seen refused: "is 300x400 but the image is 400x300".
    output.mkdir(parents=True)
    (output / "photo.jpg").write_bytes(_sideways())
    image = "photo.jpg" if form == "file" else _uri(_sideways(), "image/jpeg")
    remixed = structured(await mcp.call_tool("remix_image", {"image": image, "positivePrompt": "x"}))
    assert remixed["images"][0]["height"] > remixed["images"][0]["width"], "a portrait size for a portrait photo"
    sent = emulator.submitted[-1]["inputs"]["referenceImages"][0]
    with _as_held(emulator, sent) as held:
        assert held.size == (300, 400)
        top_seen = cast(tuple[int, int, int], held.getpixel((150, 20)))
        assert top_seen[0] > 150, "the top as seen is red"
        assert held.getexif().get(0x0112) is None
    top = {"x": 0, "y": 0, "width": 1, "height": 0.25}
    edited = await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "x", "region": top})
    assert structured(edited)["status"] == "done"
    mask = emulator.submitted[-1]["inputs"]["maskImage"]
    with _as_held(emulator, mask) as drawn:
        assert drawn.size == (300, 400)
        assert (drawn.getpixel((150, 50)), drawn.getpixel((150, 300))) == (255, 0)
    painted = Image.new("L", (300, 400), 0)
    painted.paste(255, (0, 0, 300, 100))  # the top as seen
    painted.save(output / "seen.png")
    by_mask = await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "x", "mask": "seen.png"})
    assert structured(by_mask)["status"] == "done"


async def test_a_large_phone_photo_is_turned_as_seen_at_its_own_quality(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    # Turned and saved again at quality 95, a 5.5 MB photo taken at a phone's quality became 11.8 MB, over what an
    # input may be; it was then sent as it came, sideways: remixed at a landscape size, its "top quarter" drawn on the
    # right side as seen, and the edit charged.
    output.mkdir(parents=True)
    stored = Image.effect_noise((4000, 3000), 90).convert("RGB")
    tags = stored.getexif()
    tags[0x0112] = 6
    stored.save(output / "phone.jpg", format="JPEG", quality=60, exif=tags)
    remixed = structured(await mcp.call_tool("remix_image", {"image": "phone.jpg", "positivePrompt": "x"}))
    assert remixed["images"][0]["height"] > remixed["images"][0]["width"], "a portrait size for a portrait photo"
    top = {"x": 0, "y": 0, "width": 1, "height": 0.25}
    structured(await mcp.call_tool("edit_image", {"image": "phone.jpg", "positivePrompt": "x", "region": top}))
    with _as_held(emulator, emulator.submitted[-1]["inputs"]["maskImage"]) as drawn:
        assert drawn.size == (1536, 2048)


async def test_a_photo_too_large_once_turned_is_refused_saying_so_not_sent_sideways(
    mcp: Client, emulator: Emulator, output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ideogram_mcp import files

    output.mkdir(parents=True)
    stored = Image.effect_noise((400, 300), 90).convert("RGB")
    tags = stored.getexif()
    tags[0x0112] = 6
    stored.save(output / "phone.jpg", format="JPEG", quality=80, exif=tags, optimize=True)  # turned, not optimized
    monkeypatch.setattr(files, "MAX_INPUT", (output / "phone.jpg").stat().st_size)  # it, but not it turned
    result = await mcp.call_tool("remix_image", {"image": "phone.jpg", "positivePrompt": "x"})
    (problem,) = error_of(result)["problems"]
    assert problem["argument"] == "image[0]"  # remix's takes a list
    assert problem["message"].startswith("is stored sideways with a tag that says how it is seen, and turned upright")
    assert problem["message"].endswith(": save it upright (or smaller) and send that file.")
    assert emulator.requests == []


async def test_base64_in_the_url_safe_alphabet_or_a_data_uri_in_capitals_is_read_as_the_image(
    mcp: Client, emulator: Emulator
) -> None:
    # Both had been looked for as files: "cannot be read (File name too long)".
    png = _noise()
    url_safe = base64.urlsafe_b64encode(png).decode()
    for image in (
        url_safe,
        "data:image/png;base64," + url_safe,
        "DATA:IMAGE/PNG;BASE64," + base64.b64encode(png).decode(),
    ):
        result = await mcp.call_tool("reframe_image", {"image": image, "aspectRatio": "16:9"})
        assert structured(result)["status"] == "done"
        sent = emulator.submitted[-1]["inputs"]["seedImage"]
        assert base64.b64decode(sent.split(",", 1)[-1]) == png


async def test_a_small_images_base64_url_safe_or_with_a_stray_character_is_told_from_a_file_name(
    mcp: Client, emulator: Emulator
) -> None:
    # Shorter than a file name may be, both had been looked for as files ("no such file: .../iVBORw0KGgo...").
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (0, 0, 200)).save(buffer, "PNG")
    url_safe = base64.urlsafe_b64encode(buffer.getvalue()).decode()
    assert "-" in url_safe or "_" in url_safe
    assert len(url_safe) <= 255
    assert structured(await mcp.call_tool("remove_background", {"image": url_safe}))["status"] == "done"
    standard = base64.b64encode(buffer.getvalue()).decode()
    damaged = await mcp.call_tool("remove_background", {"image": f"{standard[:100]}!{standard[100:]}"})
    (problem,) = error_of(damaged)["problems"]
    assert "it begins as an image's base64, but character 101 ('!') is not base64" in problem["message"]


@pytest.mark.parametrize(
    "name",
    [
        "Data: Q3, final.png",
        "UklGR-notes-from-the-shoot",
        "iVBORw0KGgo_holiday_snapshot_2024",
        "iVBORw0KGgo_holiday_snapshot_2024_v2_final_copy",
    ],
)
async def test_a_file_named_like_an_images_base64_or_a_data_uri_is_read_as_the_file(
    name: str, mcp: Client, output: Path
) -> None:
    # Read as base64 (its '-' and '_' translated) or as a data URI in capitals, each had been refused.
    picture(output / name)
    assert structured(await mcp.call_tool("remove_background", {"image": name}))["status"] == "done"


async def test_an_images_base64_with_a_stray_character_is_said_to_be_so_not_looked_for_as_a_file(
    mcp: Client, emulator: Emulator
) -> None:
    # It had been told it "is outside the folders this server may read ... Move the file into one of them".
    encoded = base64.b64encode(_noise("JPEG")).decode()
    result = await mcp.call_tool("reframe_image", {"image": f"{encoded[:100]}!{encoded[100:]}", "aspectRatio": "16:9"})
    (problem,) = error_of(result)["problems"]
    assert (
        "it begins as an image's base64, but character 101 ('!') is not base64: send the image's base64 whole"
        in (problem["message"])
    )
    assert emulator.requests == []


async def test_a_folder_or_a_pipe_named_as_the_image_is_said_to_be_one(mcp: Client, output: Path) -> None:
    # Both had been told "no such file", beside the folder the agent could list.
    import os

    (output / "photos").mkdir(parents=True)
    os.mkfifo(output / "pipe.png")
    said = [
        error_of(await mcp.call_tool("remove_background", {"image": name}))["problems"][0]["message"]
        for name in ("photos", "pipe.png")
    ]
    assert said == [
        f"is a folder ({output / 'photos'}), not an image file: name a file in it.",
        f"is not a regular file ({output / 'pipe.png'}): name an image file.",
    ]


async def test_one_image_in_a_list_where_one_is_taken_is_that_image_and_more_are_told_to_be_one(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    # Sent the remix way, ["a.png"] had been told it "must be an image: a public http(s) URL, ... or an image UUID":
    # neither the list nor a local file named.
    picture(output / "a.png", (900, 500))
    done = await mcp.call_tool("reframe_image", {"image": ["a.png"], "aspectRatio": "16:9"})
    assert structured(done)["status"] == "done"
    two = await mcp.call_tool("remove_background", {"image": ["a.png", "a.png"]})
    (problem,) = error_of(two)["problems"]
    assert problem == {"argument": "image", "message": "takes one image, not a list of 2: pass it as a string."}
    assert len([t for t in emulator.submitted if t["taskType"] != "imageUpload"]) == 1


@pytest.mark.parametrize("size", [(1, 1), (4, 4), (100, 5), (3, 9)])
async def test_a_jpeg_a_few_pixels_across_is_taken(size: tuple[int, int], mcp: Client, emulator: Emulator) -> None:
    # Read at an eighth of its size to find it whole, it was asked for 0 pixels and the call ended in an internal error.
    result = await mcp.call_tool("remove_background", {"image": _uri(_noise("JPEG", size), "image/jpeg")})
    assert structured(result)["status"] == "done"


def test_reading_images_in_many_threads_leaves_the_warning_filters_as_they_were() -> None:
    # The check had set a filter for Pillow's warning in each thread: threads share the filters, and one left behind
    # turned every image of 89 to 179 million pixels into an exception elsewhere (or let one through).
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from ideogram_mcp import masks

    big = io.BytesIO()
    Image.new("1", (10000, 9000)).save(big, format="PNG")  # 90 million pixels: Pillow warns, and opens it
    before = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        filters = list(warnings.filters)
        with ThreadPoolExecutor(8) as pool:
            said = list(pool.map(masks.unreadable, [big.getvalue(), _noise()] * 40))
        assert warnings.filters == filters
    assert warnings.filters == before
    assert set(said[::2]) == {
        "has more pixels than an input image may (89,478,485); scale it down (Runware keeps at most 2048 a side)"
    }
    assert set(said[1::2]) == {None}


async def test_a_dry_run_shows_inline_images_shortened_as_the_journal_keeps_them(
    mcp: Client, emulator: Emulator
) -> None:
    # Echoed whole, a dry run of four style references in data URIs had answered 23 MB of structured content.
    image = _uri(_noise(size=(600, 600)))
    arguments = {"positivePrompt": "x", "styleReferenceImages": [image] * 4, "dryRun": True}
    result = await mcp.call_tool("generate_image", arguments)
    shown = structured(result)["task"]["providerSettings"]["ideogram"]["styleReferenceImages"]
    assert shown == [f"{image[:64]}... ({len(image)} characters)"] * 4
    assert len(json.dumps(result.structured_content)) < 5_000 < len(image)
    assert emulator.requests == []


def test_a_png_without_exif_is_not_decoded_to_learn_it_needs_no_turning(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow's getexif() decodes a whole PNG to look for an eXIf chunk after its pixels: a 340 KB PNG of 88 million
    # blank pixels had made each call hold 416 MB, a dry run too, and with the tag 767 MB for 2 s.
    from PIL import PngImagePlugin

    from ideogram_mcp import masks

    loads: list[tuple[int, int]] = []
    load = PngImagePlugin.PngImageFile.load

    def counted(self: PngImagePlugin.PngImageFile) -> Any:
        loads.append(self.size)
        return load(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", counted)
    assert masks.upright(_noise()) is None
    assert loads == []
    tagged = Image.open(io.BytesIO(_noise()))
    exif = tagged.getexif()
    exif[0x0112] = 6  # seen turned: decoded, then, to be turned
    buffer = io.BytesIO()
    tagged.save(buffer, format="PNG", exif=exif)
    turned = masks.upright(buffer.getvalue())
    assert turned is not None
    assert Image.open(io.BytesIO(turned)).size == (300, 400)


async def test_input_images_are_checked_a_few_at_a_time_whatever_the_calls_in_flight(
    mcp: Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each check may decode hundreds of MB: one caller's calls had all decoded at once (4 gave 2.8 GB), on 40 threads.
    # Then the calls waiting their turn held those threads, and the journal, which needs one, waited behind them.
    import threading

    import anyio
    from PIL import PngImagePlugin

    from ideogram_mcp.tasks.services import INPUT_LANES

    lock, running, most, release = threading.Lock(), [0], [0], threading.Event()
    verify = PngImagePlugin.PngImageFile.verify

    def watched(self: PngImagePlugin.PngImageFile) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(10)  # held until the journal has answered
        with lock:
            running[0] -= 1
        verify(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "verify", watched)
    image = _uri(_noise(size=(40, 40)))
    listed = None
    async with anyio.create_task_group() as calls:
        for _ in range(45):  # more than the 40 threads anyio runs at once
            calls.start_soon(mcp.call_tool, "remove_background", {"image": image, "dryRun": True})
        with anyio.fail_after(5):
            while running[0] < INPUT_LANES:  # noqa: ASYNC110  (a count kept by threads, which no anyio event follows)
                await anyio.sleep(0.01)
            await anyio.sleep(0.1)  # the others come to wait their turn
            listed = await mcp.call_tool("list_generations", {})
        release.set()
    assert most[0] == INPUT_LANES == 2
    assert listed is not None
    assert not listed.is_error


async def test_a_photo_tagged_as_mirrored_is_sent_mirrored_back_as_seen(mcp: Client, emulator: Emulator) -> None:
    # Orientation 2 turns nothing, it only mirrors: the photo is its own size, and still must be sent as seen.
    stored = Image.new("RGB", (400, 300), (30, 30, 200))
    stored.paste((220, 20, 20), (0, 0, 100, 300))  # red on the stored left: on the right as seen
    tags = stored.getexif()
    tags[0x0112] = 2  # mirrored left to right to be seen
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=tags, quality=95)
    structured(
        await mcp.call_tool("remix_image", {"image": _uri(buffer.getvalue(), "image/jpeg"), "positivePrompt": "x"})
    )
    with _as_held(emulator, emulator.submitted[-1]["inputs"]["referenceImages"][0]) as held:
        assert held.size == (400, 300)
        right, left = (
            cast(tuple[int, int, int], held.getpixel((380, 150))),
            cast(tuple[int, int, int], held.getpixel((20, 150))),
        )
        assert (right[0] > 150, left[0] > 150) == (True, False), "red on the right, as seen"
        assert held.getexif().get(0x0112) is None


@pytest.mark.parametrize(("fmt", "colour"), [("PNG", (75, 0, 200)), ("WEBP", (0, 0, 200))])
async def test_a_small_images_base64_url_safe_with_only_one_of_its_two_characters_is_sent_as_the_image(
    fmt: str, colour: tuple[int, int, int], mcp: Client, emulator: Emulator
) -> None:
    # The PNG's base64url has a '-' and no '_'; the WEBP's is 56 characters, told from a file name by its RIFF size.
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    url_safe = base64.urlsafe_b64encode(buffer.getvalue()).decode()
    assert ("-" in url_safe) != ("_" in url_safe) or fmt == "WEBP"
    assert structured(await mcp.call_tool("remove_background", {"image": url_safe}))["status"] == "done"
    assert base64.b64decode(emulator.submitted[-1]["inputs"]["image"]) == buffer.getvalue()


async def test_a_phones_mpo_photo_is_turned_as_seen_and_sent_as_a_jpeg_at_its_own_quality(
    mcp: Client, emulator: Emulator
) -> None:
    # A phone saves its JPEG as MPO (a JPEG with more pictures after it): turned, it is the JPEG, at its own tables.
    stored = Image.effect_noise((400, 300), 90).convert("RGB")
    tags = stored.getexif()
    tags[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, format="MPO", quality=60, exif=tags, save_all=True, append_images=[stored])
    with Image.open(io.BytesIO(buffer.getvalue())) as given:
        assert given.format == "MPO"
        tables = given.quantization  # pyright: ignore[reportAttributeAccessIssue]
    structured(
        await mcp.call_tool("remix_image", {"image": _uri(buffer.getvalue(), "image/jpeg"), "positivePrompt": "x"})
    )
    with _as_held(emulator, emulator.submitted[-1]["inputs"]["referenceImages"][0]) as held:
        assert (held.format, held.size) == ("JPEG", (300, 400))
        assert held.quantization == tables  # pyright: ignore[reportAttributeAccessIssue]


async def test_base64_without_its_padding_is_sent_whole_with_it(mcp: Client, emulator: Emulator) -> None:
    # Refused as "not valid base64", saying nothing of the missing '=' (found by an audit); base64url is most often
    # written without it.
    data = next(d for d in (_noise(size=(64 + n, 64)) for n in range(8)) if len(d) % 3)
    plain, url_safe = base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()
    assert plain.endswith("=")
    assert "-" in url_safe or "_" in url_safe
    forms = {
        "bare": plain.rstrip("="),
        "data URI": "data:image/png;base64," + plain.rstrip("="),
        "bare base64url": url_safe.rstrip("="),
        "data URI of base64url": "data:image/png;base64," + url_safe.rstrip("="),
        "wrapped": base64.encodebytes(data).decode().rstrip("=\n"),
    }
    for form, image in forms.items():
        result = await mcp.call_tool("remove_background", {"image": image})
        assert structured(result)["status"] == "done", form
        sent = emulator.submitted[-1]["inputs"]["image"]
        assert sent.removeprefix("data:image/png;base64,") == plain, form
