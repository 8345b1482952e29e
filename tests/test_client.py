"""The Runware client against the emulator (in process and over loopback HTTP), and Runware's failures."""

from __future__ import annotations

import json

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from ideogram_mcp.emulator import Emulator, Fault, serving
from ideogram_mcp.runware import errors
from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

from .conftest import API_KEY, BASE_URL, error_of, task, text

pytestmark = pytest.mark.anyio


async def test_the_client_generates_against_the_emulator_over_real_loopback_http(emulator: Emulator) -> None:
    async with serving(emulator) as url, RunwareClient(SecretStr(API_KEY), base_url=url) as client:
        assert url.startswith("http://127.0.0.1:")
        result = await client.image_inference(task(numberResults=3, includeCost=True, outputFormat="WEBP"))
        async with httpx2.AsyncClient() as http:
            fetched = await http.get(result.images[0].image_url or "")
    assert len(result.images) == 3
    assert [i.cost for i in result.images] == [0.06] * 3
    assert fetched.headers["content-type"] == "image/webp"
    assert fetched.content[8:12] == b"WEBP"
    assert emulator.charged == pytest.approx(0.18)


async def test_the_client_sends_the_key_as_a_bearer_token(emulator: Emulator) -> None:
    seen: list[httpx2.Request] = []
    app = httpx2.ASGITransport(emulator.app())

    async def spy(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return await app.handle_async_request(request)

    async with RunwareClient(SecretStr(API_KEY), base_url=BASE_URL, transport=httpx2.MockTransport(spy)) as client:
        await client.image_inference(task())
    (request,) = seen
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.url == BASE_URL
    assert isinstance(json.loads(request.content), list)


def _answer(status: int, body: object) -> httpx2.MockTransport:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx2.MockTransport(lambda request: httpx2.Response(status, content=raw))


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (
            400,
            {"errors": [{"code": "invalidParameter", "message": "bad", "parameter": "width"}]},
            errors.InvalidRequestError,
        ),
        (400, {"errors": [{"code": "conflictTaskUUID", "message": "dup"}]}, errors.TaskConflictError),
        (400, {"errors": [{"code": "nsfwContentDetected", "message": "no"}]}, errors.ContentRejectedError),
        (
            401,
            {"errors": [{"code": "invalidApiKey", "message": "Invalid API key.", "parameter": "apiKey"}]},
            errors.AuthenticationError,
        ),
        (402, {"errors": [{"code": "insufficientCredits", "message": "top up"}]}, errors.InsufficientCreditsError),
        (403, {"error": {"code": "forbidden", "message": "not for you"}}, errors.PermissionDeniedError),
        (404, {"error": "model not found"}, errors.NotFoundError),
        (429, {"errors": [{"code": "rateLimitExceeded", "message": "slow down"}]}, errors.RateLimitError),
        (500, {"errors": [{"code": "timeoutProvider", "message": "provider slow"}]}, errors.UpstreamTimeoutError),
        (502, "<html>bad gateway</html>", errors.ServerError),
        (200, {"errors": [{"code": "inferenceError", "message": "failed"}]}, errors.ServerError),
        (200, "not json", errors.RunwareResponseError),
        (200, {"data": []}, errors.RunwareResponseError),
    ],
)
async def test_runware_errors_become_typed_exceptions_with_runwares_words(
    status: int, body: object, raised: type[errors.RunwareError]
) -> None:
    async with RunwareClient(SecretStr(API_KEY), transport=_answer(status, body)) as client:
        with pytest.raises(raised) as caught:
            await client.image_inference(task())
    assert type(caught.value) is raised
    if isinstance(body, dict) and isinstance(caught.value, errors.RunwareAPIError):
        assert caught.value.status == status
        assert caught.value.message != ""


async def test_a_list_parameter_in_an_error_is_kept() -> None:
    body = {"errors": [{"code": "invalidParameter", "message": "size", "parameter": ["width", "height"]}]}
    async with RunwareClient(SecretStr(API_KEY), transport=_answer(400, body)) as client:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await client.image_inference(task())
    assert caught.value.parameter == ("width", "height")


async def test_images_that_arrive_beside_errors_are_kept() -> None:
    sent = task(numberResults=2)
    body = {
        "data": [
            {
                "taskType": "imageInference",
                "taskUUID": sent["taskUUID"],
                "imageUUID": "u1",
                "imageURL": "http://x/1.jpg",
                "seed": 5,
            }
        ],
        "errors": [{"code": "inferenceError", "message": "second image failed", "taskUUID": sent["taskUUID"]}],
    }
    async with RunwareClient(SecretStr(API_KEY), transport=_answer(200, body)) as client:
        result = await client.image_inference(sent)
    assert [i.image_uuid for i in result.images] == ["u1"]
    assert [e.message for e in result.errors] == ["second image failed"]


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        (httpx2.ReadTimeout("slow"), errors.RunwareTimeoutError),
        (httpx2.ConnectError("refused"), errors.RunwareConnectionError),
    ],
)
async def test_transport_failures_are_wrapped(failure: Exception, raised: type[Exception]) -> None:
    def fail(request: httpx2.Request) -> httpx2.Response:
        raise failure

    async with RunwareClient(SecretStr(API_KEY), transport=httpx2.MockTransport(fail)) as client:
        with pytest.raises(raised) as caught:
            await client.image_inference(task())
    assert caught.value.__cause__ is failure


@pytest.mark.parametrize(
    ("fault", "says", "retryable"),
    [
        (Fault.error(401, "invalidApiKey", "Invalid API key.", "apiKey"), "refused the API key", False),
        (Fault.error(402, "insufficientCredits", "Not enough credits."), "too little credit", False),
        (Fault.error(403, "forbidden", "Key lacks permission."), "not allowed to run", False),
        (Fault.error(400, "invalidParameter", "Bad width.", "width"), "(parameter width)", False),
        (Fault.error(429, "rateLimitExceeded", "Too many."), "Wait a few seconds", True),
        (Fault.error(500, "internalServerError", "Oops."), "failed on its side", True),
        (Fault(502, "<html>gateway</html>"), "failed on its side", True),
    ],
)
async def test_each_runware_failure_is_a_tool_error_an_agent_can_act_on(
    fault: Fault, says: str, retryable: bool, mcp: Client, emulator: Emulator
) -> None:
    emulator.faults.append(fault)
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    shown = text(result)
    assert result.is_error
    assert says in shown
    assert error_of(result)["retryable"] is retryable
    assert API_KEY not in shown
    assert API_KEY not in json.dumps(error_of(result))


async def test_a_key_echoed_by_upstream_is_redacted_from_the_result(mcp: Client, emulator: Emulator) -> None:
    emulator.faults.append(Fault.error(401, "invalidApiKey", f"Key {API_KEY} is unknown."))
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    dumped = result.model_dump_json()
    assert API_KEY not in dumped
    assert "[redacted]" in dumped


async def test_a_timeout_is_a_tool_error_warning_that_the_task_may_still_be_charged(settings: Settings) -> None:
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow")

    async with Client(build_server(settings, transport=httpx2.MockTransport(slow))) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    shown = text(result)
    assert result.is_error
    assert "may still finish and be charged" in shown
    assert error_of(result)["retryable"] is True
