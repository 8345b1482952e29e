"""One exchange with Runware: the key as a bearer token, every error shape and status mapped, and whether a
failed exchange may have reached Runware (and so may be charged)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest
from pydantic import SecretStr

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.runware import errors
from ideogram_mcp.runware.client import RunwareClient

from ..conftest import API_KEY, BASE_URL, task

pytestmark = pytest.mark.anyio


async def test_an_exchange_reaches_the_emulator_over_real_loopback_http(emulator: Emulator) -> None:
    async with emulator.served() as url, RunwareClient(SecretStr(API_KEY), base_url=url) as client:
        reply = await client.send([task(numberResults=3, includeCost=True, outputFormat="WEBP")])
        async with httpx2.AsyncClient() as http:
            fetched = await http.get(reply.data[0]["imageURL"])
    assert url.startswith("http://127.0.0.1:")
    assert [item["cost"] for item in reply.data] == [0.06] * 3
    assert fetched.headers["content-type"] == "image/webp"
    assert emulator.charged == pytest.approx(0.18)


async def test_the_key_goes_as_a_bearer_token_and_the_body_is_a_task_array(emulator: Emulator) -> None:
    seen: list[httpx2.Request] = []
    app = httpx2.ASGITransport(emulator.app())

    async def spy(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return await app.handle_async_request(request)

    async with RunwareClient(SecretStr(API_KEY), base_url=BASE_URL, transport=httpx2.MockTransport(spy)) as client:
        await client.send([task()])
    (request,) = seen
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.url == BASE_URL
    assert isinstance(json.loads(request.content), list)


def _answer(status: int, body: object, headers: dict[str, str] | None = None) -> httpx2.MockTransport:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return httpx2.MockTransport(lambda request: httpx2.Response(status, content=raw, headers=headers))


ANSWERS: list[tuple[int, object, type[errors.RunwareError], bool, bool]] = [
    (400, {"errors": [{"code": "invalidParameter", "message": "bad"}]}, errors.InvalidRequestError, False, False),
    (400, {"errors": [{"code": "conflictTaskUUID", "message": "dup"}]}, errors.TaskConflictError, False, True),
    (
        400,
        {"errors": [{"code": "nsfwContentDetected", "message": "no"}]},
        errors.ContentRejectedError,
        False,
        False,
    ),
    (401, {"errors": [{"code": "invalidApiKey", "message": "key"}]}, errors.AuthenticationError, False, False),
    (
        402,
        {"errors": [{"code": "insufficientCredits", "message": "top up"}]},
        errors.InsufficientCreditsError,
        False,
        False,
    ),
    (
        402,
        {"errors": [{"code": "paymentRequired", "message": "pay"}]},
        errors.InsufficientCreditsError,
        False,
        False,
    ),
    (403, {"error": {"code": "forbidden", "message": "not for you"}}, errors.PermissionDeniedError, False, False),
    (404, {"error": "model not found"}, errors.NotFoundError, False, False),
    (404, {"errors": [{"code": "taskFailedOrNotFound", "message": "?"}]}, errors.NotFoundError, False, False),
    (408, {"errors": [{"code": "requestTimeout", "message": "slow"}]}, errors.UpstreamTimeoutError, True, True),
    (429, {"errors": [{"code": "rateLimitExceeded", "message": "slow down"}]}, errors.RateLimitError, True, False),
    (
        500,
        {"errors": [{"code": "timeoutProvider", "message": "provider"}]},
        errors.UpstreamTimeoutError,
        True,
        True,
    ),
    (500, {"errors": [{"code": "internalServerError", "message": "oops"}]}, errors.ServerError, True, True),
    (500, "<html>Internal Server Error</html>", errors.ServerError, True, True),  # a proxy's: sent again, as any 5xx
    (502, "<html>bad gateway</html>", errors.ServerError, True, True),
    (503, {"errors": [{"code": "inferenceError", "message": "busy"}]}, errors.ServerError, True, True),
    (418, {"errors": [{"code": "teapot", "message": "short and stout"}]}, errors.RunwareAPIError, False, True),
    (200, {"errors": [{"code": "inferenceError", "message": "failed"}]}, errors.ServerError, True, True),
    (200, {"errors": [{"code": "modelNotFound", "message": "no"}]}, errors.NotFoundError, False, False),
    (200, {"errors": [{"message": "Service temporarily unavailable"}]}, errors.ServerError, True, True),
    (422, {"error": "Request rejected"}, errors.RunwareAPIError, False, True),
    *(
        (200, {"errors": [{"code": code, "message": "refused"}]}, errors.InvalidRequestError, False, False)
        for code in (
            "invalidParameter",
            "missingParameter",
            "unsupportedParameter",
            "invalidPositivePrompt",
            "invalidImage",
            "invalidTaskType",
            "invalidTaskUUID",
        )
    ),
    (200, "not json", errors.RunwareResponseError, True, True),
    (200, [1, 2], errors.RunwareResponseError, True, True),
    (503, ["not", "an", "object"], errors.ServerError, True, True),
    (200, {"data": {"not": "a list"}}, errors.RunwareResponseError, True, True),
]


def test_the_answers_below_exercise_every_status_and_every_code_the_error_mapping_names() -> None:
    statuses = {status for status, *_ in ANSWERS}
    codes = {
        e.get("code", errors.NO_CODE)
        for _, body, *_ in ANSWERS
        if isinstance(body, dict)
        for e in body.get("errors", [])
    }
    codes |= {
        body["error"]["code"]
        for _, body, *_ in ANSWERS
        if isinstance(body, dict) and isinstance(body.get("error"), dict)
    }
    assert set(errors._BY_STATUS) <= statuses  # pyright: ignore[reportPrivateUsage]
    assert set(errors._BY_CODE) <= codes  # pyright: ignore[reportPrivateUsage]
    assert {raised for *_, raised, _, _ in ANSWERS} >= {
        cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.RunwareAPIError)
    }


@pytest.mark.parametrize(("status", "body", "raised", "retryable", "may_have_run"), ANSWERS)
async def test_every_error_answer_becomes_a_typed_exception_that_says_if_it_may_be_retried_and_charged(
    status: int, body: object, raised: type[errors.RunwareError], retryable: bool, may_have_run: bool
) -> None:
    async with RunwareClient(SecretStr(API_KEY), transport=_answer(status, body)) as client:
        with pytest.raises(raised) as caught:
            await client.send([task()])
    assert type(caught.value) is raised
    assert (caught.value.retryable, caught.value.may_have_run) == (retryable, may_have_run)
    if isinstance(caught.value, errors.RunwareAPIError):
        assert caught.value.status == status
        assert caught.value.message


async def test_every_error_runware_sends_is_kept_with_its_parameters() -> None:
    body = {
        "errors": [
            {"code": "invalidParameter", "message": "size", "parameter": ["width", "height"], "taskUUID": "t1"},
            {"code": "invalidParameter", "message": "style", "parameter": "stylePreset"},
        ]
    }
    async with RunwareClient(SecretStr(API_KEY), transport=_answer(400, body)) as client:
        with pytest.raises(errors.InvalidRequestError) as caught:
            await client.send([task()])
    assert [(d.message, d.parameter, d.task_uuid) for d in caught.value.details] == [
        ("size", ("width", "height"), "t1"),
        ("style", ("stylePreset",), None),
    ]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("1.5", 1.5), ("soon", None), ("", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
async def test_retry_after_is_read_from_a_rate_limit_answer(header: str, seconds: float | None) -> None:
    transport = _answer(429, {"errors": [{"code": "rateLimitExceeded", "message": "x"}]}, {"Retry-After": header})
    async with RunwareClient(SecretStr(API_KEY), transport=transport) as client:
        with pytest.raises(errors.RateLimitError) as caught:
            await client.send([task()])
    assert caught.value.retry_after == seconds


async def test_retry_after_as_a_date_gives_the_seconds_until_then(clock: ManualClock) -> None:
    then = format_datetime(datetime.fromtimestamp(clock.now(), UTC) + timedelta(seconds=120), usegmt=True)
    transport = _answer(503, {"errors": [{"code": "internalServerError", "message": "x"}]}, {"Retry-After": then})
    async with RunwareClient(SecretStr(API_KEY), transport=transport, clock=clock) as client:
        with pytest.raises(errors.ServerError) as caught:
            await client.send([task()])
    assert caught.value.retry_after == 120


@pytest.mark.parametrize(
    ("failure", "raised", "sent"),
    [
        (httpx2.ConnectError("refused"), errors.RunwareConnectionError, False),
        (httpx2.ConnectTimeout("slow dns"), errors.RunwareConnectionError, False),
        (httpx2.PoolTimeout("busy pool"), errors.RunwareConnectionError, False),
        (httpx2.ReadTimeout("slow"), errors.RunwareTimeoutError, True),
        (httpx2.WriteTimeout("slow"), errors.RunwareTimeoutError, True),
        (httpx2.RemoteProtocolError("peer closed"), errors.RunwareConnectionError, True),
        (httpx2.ReadError("reset"), errors.RunwareConnectionError, True),
        (httpx2.LocalProtocolError("Illegal header value"), errors.RunwareConnectionError, False),
        (httpx2.ProxyError("407 Proxy Authentication Required"), errors.RunwareConnectionError, False),
    ],
)
async def test_a_failure_before_anything_was_sent_is_never_reported_as_possibly_charged(
    failure: Exception, raised: type[errors.RunwareError], sent: bool
) -> None:
    def fail(request: httpx2.Request) -> httpx2.Response:
        raise failure

    async with RunwareClient(SecretStr(API_KEY), transport=httpx2.MockTransport(fail)) as client:
        with pytest.raises(raised) as caught:
            await client.send([task()])
    assert caught.value.__cause__ is failure
    assert caught.value.may_have_run is sent
    assert caught.value.retryable
    assert ("nothing was sent" in str(caught.value)) is not sent


async def test_a_trickled_answer_cannot_stretch_an_exchange_past_its_timeout(clock: ManualClock) -> None:
    class Trickle(httpx2.AsyncByteStream):
        async def __aiter__(self):
            for _ in range(100):
                await clock.sleep(5.0)  # each byte arrives well inside any read timeout
                yield b" "

    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, stream=Trickle()))
    async with RunwareClient(SecretStr(API_KEY), timeout=30.0, transport=transport, clock=clock) as client:
        started = clock.monotonic()
        with pytest.raises(errors.RunwareTimeoutError, match=r"within 30 s"):
            await client.send([task()])
    assert clock.monotonic() - started == 30.0, "the exchange ends at its timeout, not when the trickle does"


def test_connecting_gives_up_before_the_exchange_does_so_a_request_never_sent_is_told_apart() -> None:
    for timeout in (2.0, 30.0, 120.0):
        client = RunwareClient(SecretStr(API_KEY), timeout=timeout)
        limits = client._http.timeout  # pyright: ignore[reportPrivateUsage]
        assert limits.connect is not None
        assert limits.pool is not None
        assert limits.connect < timeout
        assert limits.pool < timeout


@pytest.mark.parametrize(("within", "said"), [(0.5, "0.5 s"), (0.02, "0.02 s")])  # 0.02 had read "within 0 s"
async def test_a_connection_still_being_made_when_the_deadline_comes_is_reported_as_nothing_sent(
    within: float, said: str
) -> None:
    # A listener whose queue is full: the kernel answers no further connection, as a firewall dropping them would.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = [socket.socket() for _ in range(3)]
        for waiting in queued:
            waiting.setblocking(False)
            waiting.connect_ex(("127.0.0.1", port))
        try:
            async with RunwareClient(SecretStr(API_KEY), base_url=f"http://127.0.0.1:{port}/v1") as client:
                with pytest.raises(errors.RunwareConnectionError) as caught:
                    await client.send([task()], within=within)  # far less than its 10 s for connecting
        finally:
            for waiting in queued:
                waiting.close()
    assert str(caught.value) == (
        f"could not reach Runware at 127.0.0.1 within {said}, all that was left of the call's wait; nothing was sent "
        "or charged"
    )
    assert caught.value.may_have_run is False
    assert caught.value.call_waited, "the call's wait ran out, not the client's timeout: the wait is named"


async def test_a_proxy_that_cannot_be_reached_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    # It had been told as Runware unreachable, "check the network or RUNWARE_BASE_URL", the proxy never named.
    from ideogram_mcp.tools.results import describe

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # closed again before the request: nothing listens there
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://me:hunter2@127.0.0.1:{port}")
    async with RunwareClient(SecretStr(API_KEY), base_url="https://api.runware.ai/v1", timeout=5) as client:
        with pytest.raises(errors.RunwareConnectionError) as caught:
            await client.send([task()])
    said, details = describe(caught.value)
    assert said == (
        f"Could not reach Runware at api.runware.ai through the proxy 127.0.0.1:{port} (HTTPS_PROXY) (ConnectError); "
        "nothing was sent or charged. Check the network, the proxy (HTTPS_PROXY), or RUNWARE_BASE_URL, then try again."
    )
    assert "hunter2" not in said
    assert details["mayHaveBeenCharged"] is False


RUNWARE = "https://api.runware.ai/v1"


@pytest.mark.parametrize(
    ("environment", "url", "named"),
    [  # as httpx2 itself mounts the proxies: urllib's reading of NO_PROXY had named proxies never used
        ({"HTTPS_PROXY": "http://u:p@proxy.corp:3128", "NO_PROXY": "*.runware.ai"}, RUNWARE, ("", "")),
        ({"HTTP_PROXY": "http://proxy.corp:3128", "NO_PROXY": "127.0.0.0/8"}, "http://127.0.0.1:9/v1", ("", "")),
        ({"https_proxy": "http://u:p@proxy.corp:3128"}, RUNWARE, ("https_proxy", "proxy.corp:3128")),
        ({"ALL_PROXY": "socks5://proxy.corp:1080"}, RUNWARE, ("ALL_PROXY", "proxy.corp:1080")),
        ({}, RUNWARE, ("", "")),
    ],
)  # fmt: skip
def test_the_proxy_named_is_the_one_httpx2_goes_through(
    environment: dict[str, str], url: str, named: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ideogram_mcp.runware.connections import proxy_for

    for name in ("NO_PROXY", "ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(url) == named


async def test_a_2xx_answer_with_items_beside_errors_is_an_answer_not_a_refusal() -> None:
    # Runware answers a request in part: what it did is in data, what it did not in errors; a task's own data stands.
    body = {
        "data": [{"taskType": "imageUpload", "taskUUID": "t", "imageUUID": "i", "imageURL": "https://x/i.png"}],
        "errors": [{"code": "someWarning", "message": "not all of it", "taskUUID": "t"}],
    }
    async with RunwareClient(SecretStr(API_KEY), base_url=BASE_URL, transport=_answer(200, body)) as client:
        reply = await client.send([task()])
    assert [item["imageUUID"] for item in reply.data] == ["i"]
    assert [error.code for error in reply.errors] == ["someWarning"]
