"""The emulator speaks Runware's protocol: auth, validation, outputs, ids, costs, deliveries."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx2
import pytest
from PIL import Image

from ideogram_mcp.emulator import Emulator, Fault, artwork

from ..conftest import API_KEY, BASE_URL, task

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
