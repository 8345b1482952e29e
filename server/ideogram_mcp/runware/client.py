"""One HTTP exchange with Runware's REST API: a task array out, parsed data and typed errors back.

It knows HTTP and Runware's wire format, and nothing of MCP. Each exchange is bounded as a
whole by ``timeout`` (a trickled answer cannot stretch it), and every failure says whether the
request may have reached Runware. Retries and polling live in ``delivery``. Tests and the
offline mode hand it the emulator through ``transport=``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Self, cast

import httpx2
from pydantic import SecretStr

from ideogram_mcp import __version__, logs
from ideogram_mcp.clock import Clock, SystemClock
from ideogram_mcp.runware import DEFAULT_BASE_URL, connections
from ideogram_mcp.runware.errors import (
    NO_CODE,
    ErrorDetail,
    RunwareAPIError,
    RunwareConnectionError,
    RunwareResponseError,
    RunwareTimeoutError,
    RunwareUnwritableError,
    api_error,
)
from ideogram_mcp.text import excerpt

logger = logs.logger(__name__)

CONNECT_WAIT = 4.0
"""Seconds to open a connection to Runware, TLS included; Runware answers that within a second anywhere."""
MAX_CONNECTIONS = 200
"""Connections kept to Runware at most: enough for hundreds of generations in flight, which share them."""
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Reply:
    """A parsed answer: the ``data`` items and the ``errors`` entries, either may be empty."""

    status: int
    data: tuple[Mapping[str, Any], ...]
    errors: tuple[ErrorDetail, ...]


class RunwareClient:
    """Sends task arrays to Runware over a pool of HTTP connections.

    Use as ``async with RunwareClient(key) as client: ...`` or call ``aclose()``.
    """

    def __init__(
        self,
        api_key: SecretStr,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.clock = clock or SystemClock()
        limits = httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS // 4)
        # No retries inside the transport: ``delivery`` retries, within the call's deadline. Connecting (TLS
        # included), and waiting for a pooled connection, time out well before the whole exchange does, so that a
        # request that never left is told from one that may have reached Runware, and an agent hears within
        # seconds that nothing could be sent.
        self._http = connections.client(
            transport=transport,
            limits=limits,
            timeout=httpx2.Timeout(timeout, connect=min(CONNECT_WAIT, timeout / 2), pool=min(10.0, timeout / 2)),
            headers={
                "Authorization": f"Bearer {api_key.get_secret_value()}",
                "User-Agent": f"ideogram-mcp/{__version__}",
            },
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self, tasks: Sequence[Mapping[str, Any]], *, errors_ok: bool = False, within: float | None = None
    ) -> Reply:
        """POST a task array and parse the answer; raise when nothing usable came back.

        The whole exchange, from connecting to the last byte, takes at most ``timeout`` seconds, or
        ``within`` when that is shorter. A 2xx answer holding only errors is returned with
        ``errors_ok`` (polls, whose errors are per task), raised without it.
        """
        host = httpx2.URL(self.base_url).host
        limit = self.timeout if within is None else max(0.001, min(self.timeout, within))
        steps: list[str] = []

        async def trace(step: str, info: Mapping[str, Any]) -> None:
            steps.append(step)

        body = written(tasks)
        try:
            with self.clock.deadline(self.clock.monotonic() + limit) as bounded:
                response = await self._http.post(
                    self.base_url, content=body, headers=_JSON, extensions={"trace": trace}
                )
            if bounded.cancelled_caught:
                raise TimeoutError
        except (
            httpx2.ConnectError,
            httpx2.ConnectTimeout,
            httpx2.PoolTimeout,
            httpx2.UnsupportedProtocol,
            httpx2.ProxyError,  # the proxy refused the tunnel (407, 403): nothing reached Runware
        ) as exc:
            variable, proxy = connections.proxy_for(self.base_url)
            via = f" through the proxy {proxy} ({variable})" if variable else ""
            said = f"{type(exc).__name__}: {excerpt(str(exc), 80)}" if isinstance(exc, httpx2.ProxyError) else ""
            raise RunwareConnectionError(
                f"could not reach Runware at {host}{via} ({said or type(exc).__name__}); nothing was sent or charged",
                sent=False,
                proxy=variable,
            ) from exc
        except (httpx2.TimeoutException, TimeoutError) as exc:
            # The time allowed, as a person would say it: "30 s", "2.5 s", "0.01 s" (not "0 s").
            waited = f"{round(limit, 1):g} s" if limit >= 1 else f"{limit:.1g} s"
            if steps and not any(".send_request_headers." in step for step in steps):
                # Still connecting when time ran out: the request never left. (A transport that tells
                # nothing, such as the tests' in-process one, counts as having sent it.)
                cut = within is not None and within < self.timeout  # by the call's wait, not the client's own
                left = ", all that was left of the call's wait" if cut else ""
                raise RunwareConnectionError(
                    f"could not reach Runware at {host} within {waited}{left}; nothing was sent or charged",
                    sent=False,
                    call_waited=cut,
                ) from exc
            raise RunwareTimeoutError(f"Runware at {host} did not answer within {waited}") from exc
        except httpx2.LocalProtocolError as exc:  # a request HTTP cannot carry, refused before Runware read it whole
            raise RunwareConnectionError(
                f"the request to Runware at {host} could not be written ({type(exc).__name__}); nothing was sent or "
                "charged",
                sent=False,
            ) from exc
        except httpx2.RequestError as exc:  # a broken connection, an undecodable body, too many redirects ...
            raise RunwareConnectionError(
                f"the exchange with Runware at {host} broke before its answer ({type(exc).__name__})", sent=True
            ) from exc
        now = self.clock.now()
        reply = _parse(response, now)
        logger.debug("runware answered %s with %d items, %d errors", reply.status, len(reply.data), len(reply.errors))
        if reply.status >= 400 or (reply.errors and not reply.data and not errors_ok):
            error = api_error(reply.status, reply.errors, retry_after=_retry_after(response, now))
            error.items = reply.data
            raise error
        return reply


def written(tasks: Sequence[Mapping[str, Any]]) -> bytes:
    """A request's body, as httpx2 would write it; ``RunwareUnwritableError`` when a value cannot be (half a
    surrogate pair, a NaN), said before anything is sent and in no words of the value's."""
    try:
        return json.dumps(list(tasks), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise RunwareUnwritableError(
            f"a task holds a value no JSON text can carry ({type(exc).__name__}), so it was not sent and nothing"
            " was charged: send the arguments as valid Unicode, with finite numbers"
        ) from exc


def _parse(response: httpx2.Response, now: float) -> Reply:
    status = response.status_code
    try:
        body: object = json.loads(response.content) if response.content else {}
    except ValueError:
        if status >= 400:
            raise api_error(status, (), retry_after=_retry_after(response, now)) from None
        raise RunwareResponseError(f"Runware answered HTTP {status} with a body that is not JSON") from None
    if not isinstance(body, dict):
        if status >= 400:
            raise api_error(status, (), retry_after=_retry_after(response, now))
        raise RunwareResponseError("Runware's answer is not a JSON object")
    fields = cast(dict[str, object], body)
    data: object = fields.get("data") or []
    if not isinstance(data, list):
        raise RunwareResponseError("Runware's 'data' is not a list")
    items = tuple(cast(dict[str, Any], item) for item in cast(list[object], data) if isinstance(item, dict))
    return Reply(status, items, error_details(fields))


def _retry_after(response: httpx2.Response, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (a number, or an HTTP date read against ``now``), if usable."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)


def error_details(body: Mapping[str, object]) -> tuple[ErrorDetail, ...]:
    """Every error entry of an answer, whatever shape it came in."""
    # Runware documents {"errors": [...]}; {"error": {...}}, {"error": [...]} and {"error": "text"} occur too.
    # Both keys are read: {"errors": null, "error": "text"} had been an answer with no error at all.
    entries: list[object] = []
    for raw in (body.get("errors"), body.get("error")):
        if raw is not None:
            entries += cast(list[object], raw) if isinstance(raw, list) else [raw]
    return tuple(_detail(entry) for entry in entries)


def _detail(entry: object) -> ErrorDetail:
    if not isinstance(entry, dict):
        return ErrorDetail(code=NO_CODE, message=str(entry))
    fields = cast(dict[str, object], entry)
    code = str(fields.get("code") or NO_CODE)
    parameter = fields.get("parameter")
    if isinstance(parameter, str):
        params: tuple[str, ...] = (parameter,)
    elif isinstance(parameter, list):
        params = tuple(str(p) for p in cast(list[object], parameter))
    else:
        params = ()
    task_uuid = fields.get("taskUUID")
    docs = fields.get("documentation")
    return ErrorDetail(
        code=code,
        message=str(fields.get("message") or code),
        parameter=params,
        task_uuid=task_uuid if isinstance(task_uuid, str) else None,
        documentation=docs if isinstance(docs, str) else None,
    )


__all__ = ["Reply", "RunwareAPIError", "RunwareClient", "error_details"]
