"""edit_image's region: the rectangles an agent may give, and the mask drawn at the size Runware holds the image at,
whatever form the image comes in."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest
from mcp import Client
from PIL import Image

from ideogram_mcp.arguments import show
from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator, Fault
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

from ..conftest import error_of, mask_size, picture, structured, text

pytestmark = pytest.mark.anyio

URL = "https://example.com/source.png"
WHOLE = {"x": 0, "y": 0, "width": 1, "height": 1}
SHAPE = "must be a rectangle {x, y, width, height} in fractions of the image (0 to 1), or a list of up to 20 of them"


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 140, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_the_published_schema_takes_a_region_or_a_mask_as_the_part_to_change(mcp: Client) -> None:
    (tool,) = [t for t in (await mcp.list_tools()).tools if t.name == "edit_image"]
    schema = jsonschema.Draft202012Validator(tool.input_schema)
    image = "https://example.com/sign.png"
    by_region = {"image": image, "positivePrompt": "x", "region": [{"x": 0, "y": 0, "width": 1, "height": 0.3}]}
    by_mask = {"image": image, "positivePrompt": "x", "mask": "https://example.com/mask.png"}
    assert [list(schema.iter_errors(call)) for call in (by_region, by_mask)] == [[], []]
    assert tool.input_schema["required"] == ["image", "positivePrompt"]


@pytest.mark.parametrize(
    ("region", "says"),
    [
        ("the top third", SHAPE),
        ([WHOLE] * 21, SHAPE),
        ({"x": 0, "y": 0, "width": 1}, f"{SHAPE}; rectangle 1 needs exactly x, y, width and height"),
        ([WHOLE, {"x": 0, "y": 0, "w": 1, "h": 1}], f"{SHAPE}; rectangle 2 needs exactly x, y, width and height"),
        ({"x": 0, "y": 0, "width": 1.5, "height": 1}, f"{SHAPE}; in rectangle 1 every value is a fraction from 0 to 1"),
        (
            {"x": 0, "y": 0, "width": True, "height": 1},
            f"{SHAPE}; in rectangle 1 every value is a fraction from 0 to 1",
        ),
        (
            {"x": "left", "y": 0, "width": 1, "height": 1},
            f"{SHAPE}; in rectangle 1 every value is a fraction from 0 to 1",
        ),
        ('{"x": 0, "y": 0, "width": 1', SHAPE),  # JSON text cut short
        ("[" * 100_000 + "]" * 100_000, SHAPE),  # nested too deep for Python: the server had failed
        ('{"x": ' + "1" * 5000 + ', "y": 0, "width": 1, "height": 1}', SHAPE),  # a number too long for Python
        ({"x": 0.2, "y": 0, "width": 0, "height": 1}, f"{SHAPE}; rectangle 1 is empty (width and height above 0)"),
    ],
)
async def test_a_region_that_is_not_rectangles_in_fractions_is_refused_saying_what_it_must_be(
    region: object, says: str, mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("edit_image", {"image": URL, "positivePrompt": "x", "region": region})
    assert error_of(result) == {
        "kind": "invalid_arguments",
        "problems": [{"argument": "region", "message": says + "."}],
    }
    assert emulator.requests == []


@pytest.mark.parametrize(
    "region",
    [
        '{"x": 0, "y": 0.5, "width": 1, "height": 0.5}',
        '[{"x": 0, "y": 0.5, "width": 1, "height": 0.5}]',
        {"x": "0", "y": " 0.5", "width": "1", "height": 0.5},
        [{"x": 0, "y": "0.5", "width": 1.0, "height": "0.5"}],
    ],
)
async def test_a_region_as_json_text_or_with_its_numbers_as_text_is_read_as_the_rectangles_it_says(
    region: object, mcp: Client, emulator: Emulator
) -> None:
    # Refused, where structuredPrompt as JSON text and "3" for a number anywhere else are read (found by an audit).
    image = "data:image/png;base64," + base64.b64encode(_png((320, 180))).decode()
    result = await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "y", "region": region})
    assert not result.is_error, error_of(result)
    (sent,) = emulator.submitted
    mask = Image.open(io.BytesIO(base64.b64decode(sent["inputs"]["maskImage"].split(",")[-1])))
    assert (mask.getpixel((160, 45)), mask.getpixel((160, 135))) == (0, 255), "the lower half repainted"


@pytest.mark.parametrize("form", ["data URI", "base64"])
async def test_a_region_on_an_inline_image_is_drawn_at_the_size_its_data_holds(
    form: str, mcp: Client, emulator: Emulator
) -> None:
    encoded = base64.b64encode(_png((320, 180))).decode()
    image = f"data:image/png;base64,{encoded}" if form == "data URI" else encoded
    region = {"x": 0, "y": 0.5, "width": 1, "height": 0.5}
    out = structured(await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "y", "region": region}))
    (sent,) = emulator.submitted
    assert sent["inputs"]["seedImage"] == image
    assert mask_size(sent) == (320, 180)
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (320, 180)


async def test_the_mask_drawn_from_a_region_is_kept_whole_in_the_recipe_and_the_inline_image_given_shortened(
    mcp: Client, emulator: Emulator
) -> None:
    # The recipe had kept 64 characters of the mask drawn and nothing of the region: the task could not be made again
    # from it (found by an audit). An image given inline is the agent's, and can be megabytes: still shortened.
    image = f"data:image/png;base64,{base64.b64encode(_png((1024, 1024))).decode()}"
    region = {"x": 0.25, "y": 0.1, "width": 0.5, "height": 0.3}
    out = structured(await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "a hat", "region": region}))
    (sent,) = emulator.submitted
    recipe = json.loads(Path(out["images"][0]["path"]).with_suffix(".json").read_text())
    assert recipe["task"]["inputs"]["maskImage"] == sent["inputs"]["maskImage"]
    assert recipe["task"]["inputs"]["seedImage"].endswith(f"... ({len(image)} characters)")


@pytest.mark.parametrize(
    "image",
    [
        "data:image/png;base64,QUFBQUFBQUFBQUFBQUFBQUFBQUFB",  # base64, but of no image
        "data:image/png;base64,not base64 at all!",
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFB",
    ],
)
async def test_a_region_on_inline_data_that_is_no_image_is_refused_with_nothing_sent(
    image: str, mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "y", "region": WHOLE})
    assert error_of(result)["problems"] == [
        {
            "argument": "image",
            "message": "must be an image: a local file in an allowed folder, a public http(s) URL, "
            "a data URI, base64 data or an image UUID; its inline "
            f"data is no PNG, JPEG or WEBP image; got {show(image)}.",
        }
    ]
    assert emulator.requests == []


async def test_a_region_on_an_image_larger_than_runware_keeps_is_drawn_at_the_size_runware_keeps(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    picture(output / "large.png", (3000, 2000))
    out = structured(
        await mcp.call_tool(
            "edit_image",
            {
                "image": "large.png",
                "positivePrompt": 'a sign reading "OPEN"',
                "region": {"x": 0, "y": 0, "width": 0.5, "height": 0.5},
            },
        )
    )
    upload, edit = emulator.submitted
    assert upload["taskType"] == "imageUpload"
    assert mask_size(edit) == (2048, 1365)
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (2048, 1365), "Runware's copy, edited"


async def test_a_region_on_inline_data_larger_than_runware_keeps_stores_it_first_as_a_file_is(
    mcp: Client, emulator: Emulator
) -> None:
    # Sent inline, the image was used at its full size while the mask was drawn at the size Runware keeps: refused.
    image = "data:image/png;base64," + base64.b64encode(_png((3000, 2000))).decode()
    dry = structured(
        await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "y", "region": WHOLE, "dryRun": True})
    )
    assert dry["task"]["inputs"]["maskImage"] == "<drawn from region once the image's size is known>"
    assert emulator.requests == []  # a dry run stores nothing
    result = await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "y", "region": WHOLE})
    out = structured(result)
    upload, edit = emulator.submitted
    assert (upload["taskType"], upload["image"]) == ("imageUpload", image)
    assert edit["inputs"]["seedImage"] in emulator.images  # the stored copy's UUID, not the data again
    assert mask_size(edit) == (2048, 1365)
    assert (out["images"][0]["width"], out["images"][0]["height"]) == (2048, 1365)


async def test_a_region_on_inline_data_exactly_as_large_as_runware_keeps_is_measured_here_and_sent_as_it_is(
    mcp: Client, emulator: Emulator
) -> None:
    # Runware keeps an upload of 2048 px a side whole: nothing is stored first, and the data goes inline.
    image = "data:image/png;base64," + base64.b64encode(_png((2048, 1536))).decode()
    result = await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "y", "region": WHOLE})
    assert structured(result)["status"] == "done", text(result)
    (edit,) = emulator.submitted
    assert edit["inputs"]["seedImage"] == image
    assert mask_size(edit) == (2048, 1536)


@pytest.mark.parametrize("form", ["file", "inline"])
@pytest.mark.parametrize("size", [(3281, 2500), (3631, 1999), (6000, 2049)])
async def test_a_region_on_a_large_image_is_drawn_at_the_size_of_runwares_copy_however_it_rounds(
    form: str, size: tuple[int, int], mcp: Client, emulator: Emulator, output: Path
) -> None:
    # The mask had been drawn at a size the server worked out (2048x1560 for 3281x2500) where Runware's copy was a
    # pixel taller (2048x1561): the edit refused, and the agent told to fix a mask it never gave.
    picture(output / "large.png", size)
    image = "large.png" if form == "file" else "data:image/png;base64," + base64.b64encode(_png(size)).decode()
    result = await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "y", "region": WHOLE})
    assert structured(result)["status"] == "done"
    upload, edit = emulator.submitted
    with Image.open(io.BytesIO(emulator.images[edit["inputs"]["seedImage"]].data)) as held:
        assert mask_size(edit) == held.size
    assert upload["taskType"] == "imageUpload"


async def test_a_mask_black_all_over_is_refused_as_repainting_nothing_before_anything_is_paid(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    # White = change: a black mask is an edit that changes nothing, and it had been sent and charged.
    from ideogram_mcp.tasks import prepare

    assert prepare.BLACK_MASK.startswith("is black all over, so the edit would repaint nothing and still be charged")
    picture(output / "photo.png", (400, 300))
    Image.new("L", (400, 300), 0).save(output / "black.png")
    Image.new("RGB", (400, 300), (0, 0, 0)).save(output / "black.jpg")
    one_dot = Image.new("L", (400, 300), 0)
    one_dot.putpixel((200, 150), 255)
    one_dot.save(output / "dot.png")
    for mask in (
        "black.png",
        "black.jpg",
        "data:image/png;base64," + base64.b64encode((output / "black.png").read_bytes()).decode(),
    ):
        for dry in (True, False):
            arguments = {"image": "photo.png", "positivePrompt": "x", "mask": mask, "dryRun": dry}
            (problem,) = error_of(await mcp.call_tool("edit_image", arguments))["problems"]
            assert problem == {"argument": "mask", "message": prepare.BLACK_MASK}
    assert emulator.requests == []
    dot = await mcp.call_tool("edit_image", {"image": "photo.png", "positivePrompt": "x", "mask": "dot.png"})
    assert structured(dot)["status"] == "done"


def _sheet(sheet: tuple[int, int, int, int], stroke: tuple[int, int, int, int]) -> Image.Image:
    """A 400x300 RGBA mask: ``stroke`` over the rectangle (100, 50) to (199, 149), ``sheet`` elsewhere."""
    mask = Image.new("RGBA", (400, 300), sheet)
    mask.paste(Image.new("RGBA", (100, 100), stroke), (100, 50))
    return mask


async def test_a_mask_with_see_through_pixels_is_refused_as_meaning_opposite_things_before_anything_is_paid(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    # OpenAI's edits take see-through as the part to change; strokes on a see-through sheet mean the strokes. The
    # same pixels (white opaque, black see-through) are either, and Runware's masks are documented by their grey
    # levels only: such masks had gone as they came, the part repainted depending on how Runware reads the alpha.
    from ideogram_mcp.tasks import prepare

    picture(output / "photo.png")
    erased = Image.linear_gradient("L").resize((400, 300)).convert("RGBA")
    erased.paste(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), (100, 50))
    masks = {
        "strokes-on-white.png": _sheet((255, 255, 255, 0), (255, 255, 255, 255)),
        "strokes-on-black.png": _sheet((0, 0, 0, 0), (255, 255, 255, 255)),
        "red-strokes.png": _sheet((0, 0, 0, 0), (255, 0, 0, 255)),
        "white-with-a-hole.png": _sheet((255, 255, 255, 255), (0, 0, 0, 0)),
        "black-with-a-hole.png": _sheet((0, 0, 0, 255), (0, 0, 0, 0)),
        "half-opaque.png": _sheet((0, 0, 0, 255), (255, 255, 255, 128)),
        "erased-photo.png": erased,
    }
    for name, mask in masks.items():
        mask.save(output / name)
    inline = "data:image/png;base64," + base64.b64encode((output / "strokes-on-white.png").read_bytes()).decode()
    for mask in [*masks, inline, base64.b64encode((output / "erased-photo.png").read_bytes()).decode()]:
        for dry in (True, False):
            arguments = {"image": "photo.png", "positivePrompt": "x", "mask": mask, "dryRun": dry}
            (problem,) = error_of(await mcp.call_tool("edit_image", arguments))["problems"]
            assert problem == {"argument": "mask", "message": prepare.SEE_THROUGH_MASK}, mask
    assert prepare.SEE_THROUGH_MASK.startswith("has see-through pixels, which tools read in opposite ways")
    assert emulator.requests == []


async def test_a_mask_with_an_alpha_opaque_all_over_is_sent_as_it_came(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    picture(output / "photo.png")
    _sheet((0, 0, 0, 255), (255, 255, 255, 255)).save(output / "opaque.png")
    result = await mcp.call_tool("edit_image", {"image": "photo.png", "positivePrompt": "x", "mask": "opaque.png"})
    assert structured(result)["status"] == "done", text(result)
    (edit,) = [task for task in emulator.submitted if task["taskType"] == "imageInference"]
    mask = edit["inputs"]["maskImage"]
    sent = base64.b64decode(mask.partition(",")[2]) if mask.startswith("data:") else emulator.images[mask].data
    assert sent == (output / "opaque.png").read_bytes()


async def test_region_edits_of_one_large_file_upload_it_once_and_need_no_readable_copy(
    mcp: Client, emulator: Emulator, clock: ManualClock, output: Path
) -> None:
    # Measuring Runware's copy had uploaded the file at each edit, and an edit whose copy could not be read was
    # refused, where its mask's size can still be worked out.
    picture(output / "large.png", (3281, 2500))
    for _ in range(2):
        result = await mcp.call_tool("edit_image", {"image": "large.png", "positivePrompt": "y", "region": WHOLE})
        assert structured(result)["status"] == "done"
    assert [t["taskType"] for t in emulator.submitted] == ["imageUpload", "imageInference", "imageInference"]
    clock.set_wall(clock.now() + 26 * 86_400)  # Runware may have let the upload go: again
    result = await mcp.call_tool("edit_image", {"image": "large.png", "positivePrompt": "y", "region": WHOLE})
    assert structured(result)["status"] == "done"
    assert [t["taskType"] for t in emulator.submitted[3:]] == ["imageUpload", "imageInference"]
    emulator.faults.append(
        _upload_answer(lambda item: item | {"imageURL": "http://runware.test/image/gone.png"})  # the copy: 404
    )
    picture(output / "other.png", (3281, 2500), colour=(9, 9, 9))
    result = await mcp.call_tool("edit_image", {"image": "other.png", "positivePrompt": "y", "region": WHOLE})
    assert structured(result)["status"] == "done"
    edit = emulator.submitted[-1]
    with Image.open(io.BytesIO(emulator.images[edit["inputs"]["seedImage"]].data)) as held:
        assert mask_size(edit) == held.size == (2048, 1561)


@pytest.mark.parametrize("size", [(3281, 2500), (2500, 3281), (6000, 2049), (2049, 6000), (9000, 7), (7, 9000)])
def test_the_size_an_upload_is_kept_at_is_worked_out_as_pillows_thumbnail_scales_it(size: tuple[int, int]) -> None:
    from ideogram_mcp import masks

    scaled = Image.new("1", size)
    scaled.thumbnail((2048, 2048))
    assert masks.stored_size(*size, side=2048) == scaled.size


def _upload_answer(change: Any) -> Fault:
    def rewrite(body: dict[str, Any]) -> object:
        return {"data": [change(item) for item in body["data"]]}

    return Fault.mangle(rewrite, on="imageUpload")


async def test_a_url_whose_stored_copy_cannot_be_read_is_refused_before_the_edit_is_sent(
    mcp: Client, emulator: Emulator
) -> None:
    emulator.faults.append(_upload_answer(lambda item: item | {"imageURL": "http://runware.test/image/gone.png"}))
    result = await mcp.call_tool("edit_image", {"image": URL, "positivePrompt": "y", "region": WHOLE})
    assert error_of(result)["problems"] == [
        {
            "argument": "region",
            "message": "needs the image's size, and Runware's copy could not be read: the image URL answered HTTP 404.",
        }
    ]
    assert [t["taskType"] for t in emulator.submitted] == ["imageUpload"]
    assert emulator.ledger == []


async def test_an_upload_answered_without_a_url_fails_the_edit_before_anything_is_charged(
    mcp: Client, emulator: Emulator
) -> None:
    emulator.faults.append(_upload_answer(lambda item: {k: v for k, v in item.items() if k != "imageURL"}))
    result = await mcp.call_tool("edit_image", {"image": URL, "positivePrompt": "y", "region": WHOLE})
    assert error_of(result) == {"kind": "runware_error", "retryable": True, "mayHaveBeenCharged": False}
    assert text(result) == "Runware's answer could not be used: Runware gave no URL for the uploaded image."
    assert [t["taskType"] for t in emulator.submitted] == ["imageUpload"]
    assert emulator.ledger == []


async def test_a_region_on_a_made_image_larger_than_uploads_are_kept_is_drawn_at_the_size_it_was_made(
    mcp: Client, emulator: Emulator
) -> None:
    # What the gallery's Edit sends: the UUID of a 4.0 image (2560x1440), which Runware keeps as it made it.
    made = structured(
        await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "prompt": "a fox", "aspectRatio": "16:9"})
    )
    (image,) = made["images"]
    assert (image["width"], image["height"]) == (2560, 1440)
    region = {"x": 0.2, "y": 0.3, "width": 0.4, "height": 0.4}
    # By its saved path the mask had been drawn at 2048x1152, as an upload is kept, while the file went by its UUID:
    # Runware refused the pair ("maskImage must have the same size").
    for source in (image["imageUUID"], image["imageURL"], image["path"]):
        result = await mcp.call_tool("edit_image", {"image": source, "positivePrompt": "a blue fox", "region": region})
        out = structured(result)
        edit = emulator.submitted[-1]
        assert edit["inputs"]["seedImage"] == image["imageUUID"], source  # nothing uploaded again
        assert mask_size(edit) == (2560, 1440), source
        assert out["status"] == "done", text(result)
        assert len(out["images"]) == 1
    assert [t["taskType"] for t in emulator.submitted] == ["imageInference"] * 4


async def test_a_region_on_a_saved_4_0_image_another_journal_made_is_drawn_at_its_size(
    make_settings: Callable[..., Settings], output: Path, emulator: Emulator, tmp_path: Path
) -> None:
    # Another data folder (a reinstall, another machine sharing the folder): the file still goes by its UUID, as
    # made, and its mask had been drawn at 2048x1152, as an upload is kept; Runware refused the pair.
    transport = httpx2.ASGITransport(emulator.app())
    async with Client(build_server(make_settings(output_dir=output), transport=transport, clock=emulator.clock)) as mcp:
        made = await mcp.call_tool(
            "generate_image", {"model": "ideogram-4.0", "prompt": "a fox", "aspectRatio": "16:9"}
        )
    (image,) = structured(made)["images"]
    other = make_settings(output_dir=output, data_dir=tmp_path / "elsewhere")
    async with Client(build_server(other, transport=transport, clock=emulator.clock)) as mcp:
        region = {"x": 0.2, "y": 0.3, "width": 0.4, "height": 0.4}
        result = await mcp.call_tool("edit_image", {"image": image["path"], "positivePrompt": "blue", "region": region})
    assert structured(result)["status"] == "done", text(result)
    edit = emulator.submitted[-1]
    assert edit["inputs"]["seedImage"] == image["imageUUID"]
    assert mask_size(edit) == (2560, 1440)


async def test_a_mask_or_region_under_another_spelling_is_read_as_given(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    picture(output / "shop.png", (640, 480))
    both = await mcp.call_tool(
        "edit_image", {"image": "shop.png", "positivePrompt": "x", "Mask": "shop.png", "region": WHOLE}
    )
    assert error_of(both)["problems"] == [
        {"argument": "mask/region", "message": "give either mask or region, not both."}
    ], "the mask is not dropped for the region"
    assert emulator.requests == []
    by_region = structured(
        await mcp.call_tool("edit_image", {"image": "shop.png", "positivePrompt": "x", "REGION": WHOLE})
    )
    assert by_region["status"] == "done"
    assert mask_size(emulator.submitted[-1]) == (640, 480)


async def test_inline_data_that_only_begins_as_an_image_is_refused_and_the_server_serves_on(
    mcp: Client, emulator: Emulator
) -> None:
    cut = "data:image/png;base64,iVBORw0KGgo="  # a PNG's signature, and nothing after it
    refused = await mcp.call_tool("edit_image", {"image": cut, "mask": URL, "positivePrompt": "x"})
    assert refused.is_error
    assert "image: begins as an image but cannot be read as one" in text(refused)
    assert emulator.requests == [], "nothing was sent, not even a free upload"
    later = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    assert structured(later)["status"] == "done"


def _mask(path: Path, size: tuple[int, int]) -> Path:
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0] // 2, size[1] // 2))
    mask.save(path, format="PNG")
    return path


def _held_size(emulator: Emulator, value: str) -> tuple[int, int]:
    """The size Runware holds an image argument at: a stored image by its UUID, inline data as it is."""
    data = emulator.images[value].data if value in emulator.images else base64.b64decode(value.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as held:
        return held.size


@pytest.mark.parametrize("case", ["a 4.0 image by its path, a mask file", "a file, an inline mask", "inline, a file"])
async def test_a_mask_the_size_of_an_image_larger_than_runware_keeps_is_held_at_the_images_size(
    case: str, mcp: Client, emulator: Emulator, output: Path
) -> None:
    # Runware keeps an upload at most 2048 px a side, and an image it made as made: one of the pair was scaled and
    # the other not, and the edit, checked here as fitting, was refused ("maskImage must have the same size").
    made_uuid = None
    if case.startswith("a 4.0"):
        made = await mcp.call_tool(
            "generate_image", {"model": "ideogram-4.0", "prompt": "a sign", "aspectRatio": "16:9"}
        )
        (image,) = structured(made)["images"]
        size, source, made_uuid = (image["width"], image["height"]), image["path"], image["imageUUID"]
        mask: str = "mask.png"
    else:
        size = (3000, 2000)
        picture(output / "big.png", size)
        source, mask = "big.png", "mask.png"
        if case == "inline, a file":
            source = "data:image/png;base64," + base64.b64encode((output / "big.png").read_bytes()).decode()
    _mask(output / "mask.png", size)
    if case == "a file, an inline mask":
        mask = "data:image/png;base64," + base64.b64encode((output / "mask.png").read_bytes()).decode()
    result = await mcp.call_tool("edit_image", {"image": source, "mask": mask, "positivePrompt": "a sign"})
    out = structured(result)
    assert out["status"] == "done", text(result)
    edit = emulator.submitted[-1]
    assert _held_size(emulator, edit["inputs"]["seedImage"]) == _held_size(emulator, edit["inputs"]["maskImage"])
    if made_uuid is not None:  # the file is the image made: sent by its UUID, whole, and the mask as it is
        assert edit["inputs"]["seedImage"] == made_uuid
        assert mask_size(edit) == size
    assert emulator.charged > 0


async def test_an_inline_image_and_mask_exactly_as_large_as_runware_keeps_go_as_they_are(
    mcp: Client, emulator: Emulator, tmp_path: Path
) -> None:
    # Runware keeps both whole at 2048 px a side: nothing is stored first.
    image = "data:image/png;base64," + base64.b64encode(_png((2048, 1536))).decode()
    mask = "data:image/png;base64," + base64.b64encode(_mask(tmp_path / "m.png", (2048, 1536)).read_bytes()).decode()
    result = await mcp.call_tool("edit_image", {"image": image, "mask": mask, "positivePrompt": "y"})
    assert structured(result)["status"] == "done", text(result)
    (edit,) = emulator.submitted
    assert (edit["inputs"]["seedImage"], edit["inputs"]["maskImage"]) == (image, mask)


async def test_a_mask_file_for_an_image_a_task_made_larger_than_uploads_are_kept_goes_inline_at_its_size(
    mcp: Client, emulator: Emulator, output: Path
) -> None:
    made = await mcp.call_tool("generate_image", {"model": "ideogram-4.0", "prompt": "a sign", "aspectRatio": "16:9"})
    (image,) = structured(made)["images"]
    _mask(output / "mask.png", (2560, 1440))
    wrong = await mcp.call_tool(
        "edit_image", {"image": image["imageUUID"], "mask": str(_mask(output / "m2.png", (2048, 1152))), "prompt": "x"}
    )
    assert error_of(wrong)["problems"][0]["message"].startswith("is 2048x1152 but the image is 2560x1440;")
    for source in (image["imageUUID"], image["imageURL"]):  # by its URL, it had gone as a URL, to be stored capped
        out = structured(
            await mcp.call_tool("edit_image", {"image": source, "mask": "mask.png", "positivePrompt": "x"})
        )
        edit = emulator.submitted[-1]
        assert edit["inputs"]["seedImage"] == image["imageUUID"], "Runware's own copy, as made"
        assert mask_size(edit) == (2560, 1440)
        assert out["status"] == "done"


async def test_a_region_is_repainted_exactly_its_pixels_and_one_thinner_than_a_pixel_still_one(
    mcp: Client, emulator: Emulator
) -> None:
    # The mask is what Runware repaints: a pixel too many past each rectangle's right and bottom edges changes what
    # the agent asked to keep, and a rectangle thinner than a pixel (at the image's edge, or anywhere) repaints one.
    image = base64.b64encode(_png((320, 180))).decode()
    region = [
        {"x": 0.25, "y": 0.1, "width": 0.5, "height": 0.3},
        {"x": 0.999, "y": 0, "width": 0.001, "height": 0.001},
        {"x": 0.5, "y": 0.5, "width": 0.001, "height": 0.2},
    ]
    structured(await mcp.call_tool("edit_image", {"image": image, "positivePrompt": "a hat", "region": region}))
    (sent,) = emulator.submitted
    expected = Image.new("L", (320, 180), 0)
    expected.paste(255, (80, 18, 240, 72))  # x 80 to 239, y 18 to 71: 160x54 pixels, a quarter in from the left
    expected.putpixel((319, 0), 255)
    expected.paste(255, (160, 90, 161, 126))  # a column one pixel wide
    with Image.open(io.BytesIO(base64.b64decode(sent["inputs"]["maskImage"].split(",", 1)[1]))) as mask:
        assert mask.convert("L").tobytes() == expected.tobytes()


async def test_an_edit_with_neither_mask_nor_region_and_another_bad_argument_is_told_both(
    mcp: Client, emulator: Emulator
) -> None:
    result = await mcp.call_tool("edit_image", {"image": URL, "positivePrompt": "x", "numberResults": 0})
    problems = error_of(result)["problems"]
    assert [problem["argument"] for problem in problems] == ["mask", "numberResults"]
    assert emulator.requests == []
