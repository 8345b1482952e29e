"""The emulator speaks Runware's protocol: auth, validation, outputs, ids, costs, deliveries."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from PIL import Image

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator, Fault, app, artwork
from ideogram_mcp.emulator.app import FORGET_EVERY, KEPT, LOGGED, SPILLED

from ..conftest import API_KEY, BASE_URL, pixels_cut, task

pytestmark = pytest.mark.anyio


async def post(emulator: Emulator, body: Any, key: str | None = API_KEY) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(emulator.app())) as http:
        return await http.post(BASE_URL, json=body, headers=headers)


async def test_a_wrong_or_missing_key_gets_401_invalid_api_key(emulator: Emulator) -> None:
    for key in ("wrong", None):
        answer = await post(emulator, [task()], key)
        assert answer.status_code == 401
        assert answer.json()["errors"][0] | {} == {
            "code": "invalidApiKey",
            "message": "Invalid API key.",
            "parameter": "apiKey",
        }
    assert emulator.received == []
    assert emulator.ledger == []


async def test_an_authentication_task_first_in_the_array_also_authenticates(emulator: Emulator) -> None:
    answer = await post(emulator, [{"taskType": "authentication", "apiKey": API_KEY}, task()], key=None)
    assert answer.status_code == 200
    assert len(answer.json()["data"]) == 1


@pytest.mark.parametrize(
    ("change", "code", "parameter"),
    [
        ({"width": 1000}, "invalidParameter", ["width", "height"]),
        ({"positivePrompt": ""}, "invalidPositivePrompt", "positivePrompt"),
        ({"numberResults": 21}, "invalidParameter", "numberResults"),
        ({"upscaleFactor": 2}, "unsupportedParameter", "upscaleFactor"),
        (
            {"providerSettings": {"ideogram": {"stylePreset": "NOPE"}}},
            "invalidParameter",
            "providerSettings.ideogram.stylePreset",
        ),
        (
            {"providerSettings": {"ideogram": {"colorPalette": "x"}}},
            "unsupportedParameter",
            "providerSettings.ideogram.colorPalette",
        ),
        ({"outputType": "base64Data", "ttl": 60}, "invalidParameter", ["ttl", "outputType"]),
        ({"taskUUID": "not-a-uuid"}, "invalidTaskUUID", "taskUUID"),
    ],
)
async def test_invalid_tasks_get_runware_shaped_errors(
    change: dict[str, Any], code: str, parameter: Any, emulator: Emulator
) -> None:
    sent = task(**change)
    answer = await post(emulator, [sent])
    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert (error["code"], error["parameter"], error["taskUUID"]) == (code, parameter, sent["taskUUID"])
    assert emulator.ledger == []


async def test_a_missing_required_parameter_is_named(emulator: Emulator) -> None:
    sent = task()
    del sent["height"], sent["width"]
    (error,) = (await post(emulator, [sent])).json()["errors"]
    assert (error["code"], error["parameter"]) == ("missingParameter", "width")


async def test_a_reused_task_uuid_is_a_conflict_but_a_refused_one_may_be_resent(emulator: Emulator) -> None:
    refused = task(width=1000)
    assert (await post(emulator, [refused])).status_code == 400
    assert (await post(emulator, [refused | {"width": 1024}])).status_code == 200
    again = await post(emulator, [refused | {"width": 1024}])
    assert again.json()["errors"][0]["code"] == "conflictTaskUUID"
    assert len(emulator.ledger) == 1


@pytest.mark.parametrize(("output_type", "field"), [("base64Data", "imageBase64Data"), ("dataURI", "imageDataURI")])
async def test_inline_output_types_carry_the_image_itself(output_type: str, field: str, emulator: Emulator) -> None:
    (item,) = (await post(emulator, [task(outputType=output_type, outputFormat="png")])).json()["data"]
    assert "imageURL" not in item
    encoded = item[field].split(",", 1)[-1]
    assert item[field].startswith("data:image/png;base64,") == (output_type == "dataURI")
    assert Image.open(io.BytesIO(base64.b64decode(encoded))).size == (1024, 1024)


async def test_the_seed_asked_for_draws_the_first_image_and_is_reported_the_next_images_the_next_seeds(
    emulator: Emulator,
) -> None:
    # It had drawn every image from seeds of its own: a seed passed back did not redraw the image it was reported for.
    asked = {"seed": 12345, "numberResults": 2, "outputType": "base64Data"}
    first, again = [(await post(emulator, [task(**asked)])).json()["data"] for _ in range(2)]
    assert [item["seed"] for item in first] == [12345, 12346]
    assert [item["imageBase64Data"] for item in first] == [item["imageBase64Data"] for item in again]
    assert first[0]["imageBase64Data"] != first[1]["imageBase64Data"]
    (last,) = [(await post(emulator, [task(seed=2147483647, numberResults=2)])).json()["data"]]
    assert [item["seed"] for item in last] == [2147483647, 1], "within Runware's range"


async def test_quality_changes_the_encoded_file(emulator: Emulator) -> None:
    sizes: list[int] = []
    for quality in (20, 99):
        (item,) = (await post(emulator, [task(outputQuality=quality, outputType="base64Data")])).json()["data"]
        sizes.append(len(base64.b64decode(item["imageBase64Data"])))
    assert sizes[0] < sizes[1]


def test_the_same_seed_draws_the_same_picture_and_another_seed_another() -> None:
    one = artwork.render(512, 1536, seed=7, prompt='"HELLO"', image_format="PNG")
    assert one == artwork.render(512, 1536, seed=7, prompt='"HELLO"', image_format="PNG")
    assert one != artwork.render(512, 1536, seed=8, prompt='"HELLO"', image_format="PNG")
    assert Image.open(io.BytesIO(one)).size == (512, 1536)


def test_quoted_phrases_are_found_in_straight_curly_and_single_quotes() -> None:
    prompt = "A sign \"OPEN LATE\", a board “Fresh bread” and a tag 'SALE' on Bob's door"
    assert artwork.quoted_text(prompt) == ["OPEN LATE", "Fresh bread", "SALE"]


async def test_costs_safety_flags_and_the_ledger(emulator: Emulator) -> None:
    answer = await post(
        emulator,
        [
            task(
                numberResults=3,
                includeCost=True,
                safety={"checkContent": True, "mode": "fast"},
                positivePrompt="nsfw test",
            )
        ],
    )
    items = answer.json()["data"]
    assert [i["cost"] for i in items] == [0.06] * 3
    assert [i["NSFWContent"] for i in items] == [True] * 3
    assert len({i["imageUUID"] for i in items}) == 3
    assert emulator.charged == pytest.approx(0.18)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(emulator.app())) as http:
        ledger = (await http.get("http://runware.test/ledger")).json()
        missing = await http.get("http://runware.test/image/nope.jpg")
    assert ledger["total"] == pytest.approx(0.18)
    assert missing.status_code == 404


async def test_without_include_cost_the_emulator_still_bills_but_does_not_report(emulator: Emulator) -> None:
    (item,) = (await post(emulator, [task()])).json()["data"]
    assert "cost" not in item
    assert "NSFWContent" not in item
    assert emulator.charged == pytest.approx(0.06)


async def test_results_are_uploaded_and_posted_to_webhooks() -> None:
    delivered: list[httpx2.Request] = []

    def receive(request: httpx2.Request) -> httpx2.Response:
        delivered.append(request)
        return httpx2.Response(200)

    emulator = Emulator(api_key=API_KEY, outbound=httpx2.MockTransport(receive))
    sent = task(
        uploadEndpoint="https://bucket.test/put?sig=1", webhookURL="https://hooks.test/done", outputFormat="PNG"
    )
    (item,) = (await post(emulator, [sent])).json()["data"]
    upload, hook = delivered
    assert (upload.method, str(upload.url), upload.headers["content-type"]) == (
        "PUT",
        sent["uploadEndpoint"],
        "image/png",
    )
    assert Image.open(io.BytesIO(upload.content)).size == (1024, 1024)
    assert (hook.method, json.loads(hook.content)) == ("POST", {"data": [item]})


async def test_faults_are_answered_in_order_before_normal_service(emulator: Emulator) -> None:
    emulator.faults.extend([Fault.error(429, "rateLimitExceeded", "slow"), Fault(502, "bad gateway")])
    assert (await post(emulator, [task()])).status_code == 429
    assert (await post(emulator, [task()])).status_code == 502
    assert (await post(emulator, [task()])).status_code == 200


def _encoded(size: tuple[int, int], image_format: str, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=image_format)
    return buffer.getvalue()


def _upload(image: str) -> dict[str, Any]:
    return {"taskType": "imageUpload", "taskUUID": task()["taskUUID"], "image": image}


async def _fetch(emulator: Emulator, url: str) -> httpx2.Response:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(emulator.app())) as http:
        return await http.get(url)


@pytest.mark.parametrize(
    ("image_format", "extension", "mime_type"),
    [("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("WEBP", "webp", "image/webp")],
)
async def test_an_upload_is_stored_in_its_own_format_and_served_at_its_url(
    image_format: str, extension: str, mime_type: str, emulator: Emulator
) -> None:
    data = _encoded((120, 80), image_format)
    encoded = base64.b64encode(data).decode()
    for image in (f"data:{mime_type};base64,{encoded}", encoded):
        sent = _upload(image)
        (item,) = (await post(emulator, [sent])).json()["data"]
        assert item == {
            "taskType": "imageUpload",
            "taskUUID": sent["taskUUID"],
            "imageUUID": item["imageUUID"],
            "imageURL": f"http://runware.test/image/{item['imageUUID']}.{extension}",
        }
        served = await _fetch(emulator, item["imageURL"])
        assert (served.headers["content-type"], served.content) == (mime_type, data)


async def test_an_upload_larger_than_runware_keeps_is_stored_at_most_2048_a_side_as_png(emulator: Emulator) -> None:
    big = base64.b64encode(_encoded((3000, 1500), "JPEG")).decode()
    (item,) = (await post(emulator, [_upload(f"data:image/jpeg;base64,{big}")])).json()["data"]
    served = await _fetch(emulator, item["imageURL"])
    with Image.open(io.BytesIO(served.content)) as kept:
        assert (kept.format, kept.size) == ("PNG", (2048, 1024))


def _noise_png() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_of(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image", "error"),
    [
        (
            "data:image/png;base64,not base64!",
            {"code": "invalidImage", "message": "The image is neither a data URI, base64 data nor a URL."},
        ),
        (
            base64.b64encode(b"GIF89a" + bytes(32)).decode(),
            {"code": "invalidImage", "message": "The image is not a PNG, JPEG or WEBP image."},
        ),
        ("", {"code": "missingParameter", "message": "Missing required parameter: image."}),
        (  # each chunk whole and its checksum right: stored, then every render of it failed with HTTP 500
            base64.b64encode(pixels_cut(_noise_png())).decode(),
            {"code": "invalidImage", "message": "The image could not be read: its data is damaged or cut short."},
        ),
        (  # 24 KB of 196 million pixels: Pillow will not open it, and the emulator answered HTTP 500
            base64.b64encode(_png_of(14000, 14000)).decode(),
            {"code": "invalidImage", "message": "The image has too many pixels."},
        ),
    ],
)
async def test_an_upload_that_is_no_image_is_refused(image: str, error: dict[str, str], emulator: Emulator) -> None:
    sent = _upload(image)
    answer = await post(emulator, [sent])
    assert answer.status_code == 400
    assert answer.json() == {
        "errors": [error | {"parameter": "image", "taskType": "imageUpload", "taskUUID": sent["taskUUID"]}]
    }
    assert emulator.images == {}


async def test_an_upload_with_a_parameter_it_does_not_take_is_refused(emulator: Emulator) -> None:
    sent = _upload(base64.b64encode(_encoded((8, 8), "PNG")).decode()) | {"outputFormat": "PNG"}
    answer = await post(emulator, [sent])
    assert (answer.status_code, answer.json()["errors"][0]["code"], answer.json()["errors"][0]["message"]) == (
        400,
        "unsupportedParameter",
        "Unsupported parameter for this task: outputFormat.",
    )


async def test_a_source_image_is_taken_from_the_emulators_own_url_and_never_fetched_from_a_callers(
    emulator: Emulator,
) -> None:
    own = base64.b64encode(_encoded((300, 200), "PNG")).decode()
    (stored,) = (await post(emulator, [_upload(own)])).json()["data"]
    made: dict[str, tuple[int, int]] = {}
    for source in (stored["imageURL"], "https://example.com/theirs.png"):
        sent = task(model="ideogram:4@5", inputs={"seedImage": source}, outputType="base64Data")
        del sent["width"], sent["height"]
        (item,) = (await post(emulator, [sent])).json()["data"]
        with Image.open(io.BytesIO(base64.b64decode(item["imageBase64Data"]))) as picture:
            made[source] = picture.size
    assert made == {stored["imageURL"]: (300, 200), "https://example.com/theirs.png": (256, 256)}
    assert emulator.deliveries == []


async def test_an_inline_input_that_is_no_whole_image_is_refused_and_not_charged(emulator: Emulator) -> None:
    # Accepted and charged, then every poll of its render had been answered HTTP 500.
    whole, cut = (base64.b64encode(data).decode() for data in (_noise_png(), pixels_cut(_noise_png())))
    sent = {
        "inputs.referenceImages": task(model="ideogram:4@2", inputs={"referenceImages": [cut]}),
        "providerSettings.ideogram.styleReferenceImages": task(
            providerSettings={"ideogram": {"styleReferenceImages": [whole, cut]}}
        ),
        "providerSettings.ideogram.characterReferenceImages": task(
            providerSettings={"ideogram": {"characterReferenceImages": [cut]}}
        ),
    }
    for parameter, each in sent.items():
        answer = await post(emulator, [each])
        assert answer.status_code == 400, parameter
        (error,) = answer.json()["errors"]
        assert (error["code"], error["parameter"]) == ("invalidImage", parameter)
    assert emulator.ledger == []


async def test_an_unknown_image_uuid_as_input_is_refused_and_not_charged(emulator: Emulator) -> None:
    unknown = "6f1c1b9e-2b7a-4c3e-9a57-0d1e2f3a4b5c"
    sent = task(providerSettings={"ideogram": {"styleReferenceImages": [unknown]}})
    answer = await post(emulator, [sent])
    assert answer.status_code == 400
    assert answer.json()["errors"] == [
        {
            "code": "invalidParameter",
            "message": f"Unknown image UUID in providerSettings.ideogram.styleReferenceImages: {unknown}.",
            "parameter": "providerSettings.ideogram.styleReferenceImages",
            "taskType": "imageInference",
            "taskUUID": sent["taskUUID"],
        }
    ]
    assert emulator.ledger == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"[{not json", 400, {"code": "invalidJSON", "message": "The request body is not valid JSON."}),
        (
            b'{"taskType": "imageInference"}',
            400,
            {"code": "invalidRequest", "message": "The request body must be a JSON array of task objects."},
        ),
        (
            b"[1, 2]",
            400,
            {"code": "invalidRequest", "message": "The request body must be a JSON array of task objects."},
        ),
    ],
)
async def test_a_body_that_is_no_array_of_tasks_is_refused_before_anything_else(
    body: bytes, status: int, error: dict[str, str], emulator: Emulator
) -> None:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(emulator.app())) as http:
        answer = await http.post(BASE_URL, content=body, headers={"Authorization": f"Bearer {API_KEY}"})
    assert (answer.status_code, answer.json()) == (status, {"errors": [error]})
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("sent", "status", "error"),
    [
        (
            {"taskType": "videoInference", "taskUUID": "8f4b6a3e-2c51-4d0b-9a77-1f0e6c2d9b10"},
            400,
            {
                "code": "invalidTaskType",
                "message": "Unsupported taskType. The emulator handles: imageInference, removeBackground, imageUpload, "
                "getResponse.",
                "parameter": "taskType",
            },
        ),
        (
            task(model="ideogram:9@9", taskUUID="8f4b6a3e-2c51-4d0b-9a77-1f0e6c2d9b10"),
            400,
            {
                "code": "modelNotFound",
                "message": "Unknown model. The emulator serves: "
                "ideogram:4@1, ideogram:4@2, ideogram:4@3, ideogram:4@4, ideogram:4@5, ideogram:4@0, "
                "ideogram:remove-background@0.",
                "parameter": "model",
            },
        ),
        (
            {"taskType": "getResponse", "taskUUID": "8f4b6a3e-2c51-4d0b-9a77-1f0e6c2d9b10"},
            404,
            {
                "code": "taskFailedOrNotFound",
                "message": "No task with this taskUUID is known.",
                "parameter": "taskUUID",
            },
        ),
    ],
)
async def test_an_unknown_task_type_model_or_task_is_refused_in_runwares_shape(
    sent: dict[str, Any], status: int, error: dict[str, Any], emulator: Emulator
) -> None:
    answer = await post(emulator, [sent])
    assert (answer.status_code, answer.json()) == (
        status,
        {"errors": [error | {"taskType": sent["taskType"], "taskUUID": sent["taskUUID"]}]},
    )
    assert emulator.ledger == []


async def test_the_emulator_says_what_it_is_at_its_root(emulator: Emulator) -> None:
    answer = await _fetch(emulator, "http://runware.test/")
    assert (answer.status_code, answer.text) == (
        200,
        "Runware emulator for ideogram:4@1, ideogram:4@2, ideogram:4@3, ideogram:4@4, ideogram:4@5, ideogram:4@0, "
        "ideogram:remove-background@0. "
        "POST task arrays to /v1.\n",
    )


async def test_a_webhook_that_cannot_be_reached_is_logged_and_the_task_still_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unreachable(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    emulator = Emulator(api_key=API_KEY, outbound=httpx2.MockTransport(unreachable))
    answer = await post(emulator, [task(webhookURL="https://hooks.test/done?token=abc")])
    assert answer.status_code == 200
    assert len(answer.json()["data"]) == 1
    assert emulator.deliveries == [("POST", "https://hooks.test/done?token=abc")]
    assert [r.getMessage() for r in caplog.records if r.name == "ideogram_mcp.emulator.handlers"] == [
        "emulator could not deliver to hooks.test: ConnectError"
    ]


async def test_an_emulator_left_serving_keeps_its_images_in_files_and_lets_go_of_its_tasks_after_a_day(
    clock: ManualClock, tmp_path: Path
) -> None:
    # The offline server, left running, had kept every image it made and every request it was sent in memory: 70 KB
    # a call (found by an audit of a server running for days). Its images stay, as Runware keeps them for weeks;
    # tests' emulators hold everything in memory.
    emulator = Emulator(api_key=API_KEY, clock=clock, kept=KEPT)
    emulator.spill = tmp_path  # as while it is served
    upload = _upload(f"data:image/png;base64,{base64.b64encode(_encoded((8, 8), 'PNG')).decode()}")
    first = (await post(emulator, [task(), upload])).json()["data"]
    assert all(image.held == b"" and image.file == tmp_path / name for name, image in emulator.images.items())
    await clock.sleep(KEPT + FORGET_EVERY)
    (latest,) = (await post(emulator, [task()])).json()["data"]
    assert list(emulator.jobs) == [latest["taskUUID"]]
    assert len(emulator.images) == 3
    for made in (*first, latest):
        assert (await _fetch(emulator, made["imageURL"])).content == (tmp_path / made["imageUUID"]).read_bytes()
    for _ in range(LOGGED):
        await post(emulator, [{"taskType": "getResponse", "taskUUID": latest["taskUUID"]}])
    await clock.sleep(FORGET_EVERY)
    await post(emulator, [{"taskType": "getResponse", "taskUUID": latest["taskUUID"]}])
    assert len(emulator.received) == len(emulator.requests) == LOGGED + 1
    assert len(emulator.ledger) == 2, "what was charged is kept"


async def test_an_emulator_served_to_be_left_serving_keeps_its_images_in_a_folder_removed_as_it_stops() -> None:
    emulator = Emulator(api_key=API_KEY, kept=KEPT)
    async with emulator.served():
        folder = emulator.spill
        assert folder is not None
        assert folder.is_dir()
        async with emulator.served():  # served twice: the first serving's folder, left to it (found by review)
            assert emulator.spill == folder
        assert emulator.spill == folder
        assert folder.is_dir()
    assert emulator.spill is None
    assert not folder.exists()
    plain = Emulator(api_key=API_KEY)
    async with plain.served():
        assert plain.spill is None  # a test's emulator holds its images in memory


async def test_an_emulator_served_twice_at_once_keeps_its_images_until_the_last_serving_stops() -> None:
    # The first serving to stop had removed the folder the other still served from: its images answered 404 (found
    # by review; nested servings had been fixed, overlapping ones not).
    emulator = Emulator(api_key=API_KEY, kept=KEPT)
    first_up, second_up, first_done = anyio.Event(), anyio.Event(), anyio.Event()
    statuses: list[int] = []
    folders: list[Path | None] = []

    async def first() -> None:
        async with emulator.served():
            first_up.set()
            await second_up.wait()
        first_done.set()

    async def second() -> None:
        await first_up.wait()
        async with emulator.served() as url, httpx2.AsyncClient() as http:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            made = (await http.post(url, json=[task()], headers=headers)).json()["data"][0]
            statuses.append((await http.get(made["imageURL"])).status_code)
            second_up.set()
            await first_done.wait()
            statuses.append((await http.get(made["imageURL"])).status_code)
            folders.append(emulator.spill)

    async with anyio.create_task_group() as both:
        both.start_soon(first)
        both.start_soon(second)
    assert statuses == [200, 200]
    assert emulator.spill is None
    (folder,) = folders
    assert folder is not None
    assert not folder.exists(), "removed as the last serving stopped"


async def test_an_emulator_left_serving_works_on_where_its_folder_cannot_be_made_or_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no writable temporary folder (a read-only root in a container) the offline server had not started; with
    # its folder or a file of it removed, every later task had been charged and answered 500 (found by review).
    emulator = Emulator(api_key=API_KEY, kept=KEPT)
    emulator.spill = tmp_path / "gone"  # its folder removed underneath
    (made,) = (await post(emulator, [task()])).json()["data"]
    assert (await _fetch(emulator, made["imageURL"])).status_code == 200
    emulator.spill = tmp_path
    (filed,) = (await post(emulator, [task()])).json()["data"]
    (tmp_path / filed["imageUUID"]).unlink()
    assert (await _fetch(emulator, filed["imageURL"])).status_code == 404
    edit = task(inputs={"seedImage": filed["imageUUID"]}, model="ideogram:4@4", positivePrompt=None)
    assert (await post(emulator, [{k: v for k, v in edit.items() if v is not None}])).status_code == 200

    def unwritable(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("No usable temporary directory found")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", unwritable)
    served = Emulator(api_key=API_KEY, kept=KEPT)
    async with served.served() as url, httpx2.AsyncClient() as http:
        assert served.spill is None
        answer = await http.post(url, json=[task()], headers={"Authorization": f"Bearer {API_KEY}"})
        assert (await http.get(answer.json()["data"][0]["imageURL"])).status_code == 200


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """A folder an emulator of another process holds (one of another container, whose process id means nothing
    here, alike)."""
    folder = tmp_path / f"{SPILLED}999999-h1e2l3"
    folder.mkdir()
    holder = "import fcntl, os, sys, time; fcntl.flock(os.open(sys.argv[1], os.O_RDONLY), fcntl.LOCK_EX); print(1)"
    with subprocess.Popen(
        [sys.executable, "-c", holder + "; sys.stdout.flush(); time.sleep(60)", str(folder)], stdout=subprocess.PIPE
    ) as holding:
        assert holding.stdout is not None
        holding.stdout.readline()  # held
        yield folder
        holding.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="no flock: nothing is swept on Windows")
async def test_what_an_emulator_stopped_by_a_signal_left_is_removed_by_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: Path
) -> None:
    # An offline server or `ideogram-mcp emulator` stopped by SIGTERM or SIGKILL runs no clean-up: its folder of
    # images stayed in the temporary folder for good, one more at each such stop. A folder is known to be in use by its
    # lock, not by its process id: one of another PID namespace (a container sharing /tmp) had been removed while its
    # emulator served (found by review).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    left, old = tmp_path / f"{SPILLED}12345-a1b2c3", tmp_path / f"{SPILLED}x1y2z3"
    for folder in (left, old):  # a killed emulator's, and one of a version naming no process (and holding no lock)
        folder.mkdir()
        (folder / "image").write_bytes(b"\xff\xd8")
    emulator = Emulator(api_key=API_KEY, kept=KEPT)
    async with emulator.served():  # all changed within the minute: nothing is taken yet
        assert sorted(p.name for p in tmp_path.iterdir() if p != emulator.spill) == sorted(
            [left.name, old.name, held.name]
        )
    monkeypatch.setattr(app, "FRESH", 0.0)
    async with emulator.served():
        assert emulator.spill is not None
        assert emulator.spill.parent == tmp_path
        kept = sorted(p.name for p in tmp_path.iterdir() if p != emulator.spill)
        async with Emulator(api_key=API_KEY, kept=KEPT).served():  # another, meanwhile: the serving one's is held
            assert emulator.spill.is_dir()
    assert kept == sorted([old.name, held.name])
    assert not list(tmp_path.glob(f"{SPILLED}{os.getpid()}-*")), "its own, removed as it stops"
