"""A client for Runware's REST inference API: tasks in, results or typed errors out.

It knows HTTP and Runware's wire format, and nothing of MCP. Tests and the offline mode
hand it the emulator through ``transport=``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self, cast

import httpx2
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ideogram_mcp import __version__
from ideogram_mcp.runware import DEFAULT_BASE_URL
from ideogram_mcp.runware.errors import (
    ErrorDetail,
    RunwareAPIError,
    RunwareConnectionError,
    RunwareResponseError,
    RunwareTimeoutError,
    ServerError,
    api_error,
)

logger = logging.getLogger(__name__)


class ImageResult(BaseModel):
    """One generated image as Runware reports it (``imageInference`` result item)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    task_type: str = Field(alias="taskType")
    task_uuid: str = Field(alias="taskUUID")
    image_uuid: str = Field(alias="imageUUID")
    image_url: str | None = Field(default=None, alias="imageURL")
    image_base64_data: str | None = Field(default=None, alias="imageBase64Data")
    image_data_uri: str | None = Field(default=None, alias="imageDataURI")
    seed: int | None = None
    nsfw_content: bool | None = Field(default=None, alias="NSFWContent")
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A parsed answer: the ``data`` items and the ``errors`` entries, either may be empty."""

    status: int
    data: tuple[Mapping[str, Any], ...]
    errors: tuple[ErrorDetail, ...]


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """The images of one task, and the errors of any of its images that failed."""

    images: tuple[ImageResult, ...]
    errors: tuple[ErrorDetail, ...]


class RunwareClient:
    """Sends task arrays to Runware over one pooled HTTP connection.

    Use as ``async with RunwareClient(key) as client: ...`` or call ``aclose()``.
    """

    def __init__(
        self,
        api_key: SecretStr,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 120.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        # Connection errors are retried by the transport: the request never left, so nothing is charged.
        self._http = httpx2.AsyncClient(
            transport=transport or httpx2.AsyncHTTPTransport(retries=2),
            timeout=httpx2.Timeout(timeout, connect=10.0),
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

    async def send(self, tasks: Sequence[Mapping[str, Any]]) -> Reply:
        """POST a task array and parse the answer; raise only when nothing usable came back."""
        try:
            response = await self._http.post(self.base_url, json=list(tasks))
        except httpx2.TimeoutException as exc:
            raise RunwareTimeoutError(
                "Runware did not answer in time; the task may still finish and be charged"
            ) from exc
        except httpx2.TransportError as exc:
            host = httpx2.URL(self.base_url).host
            raise RunwareConnectionError(f"could not reach Runware at {host}: {type(exc).__name__}") from exc
        reply = _parse(response)
        logger.debug("runware answered %s with %d items, %d errors", reply.status, len(reply.data), len(reply.errors))
        if reply.errors and not reply.data:
            raise api_error(reply.status, reply.errors)
        if reply.status >= 400 and not reply.data:
            raise api_error(reply.status, ())
        return reply

    async def image_inference(self, task: Mapping[str, Any]) -> InferenceResult:
        """Run one ``imageInference`` task synchronously and return its images.

        Errors that come beside successful images are returned, not raised, so that images
        already paid for are never lost.
        """
        task_uuid = task["taskUUID"]
        reply = await self.send([task])
        images: list[ImageResult] = []
        for item in reply.data:
            if item.get("taskUUID") != task_uuid or item.get("taskType") != "imageInference":
                continue
            try:
                images.append(ImageResult.model_validate(item))
            except ValidationError as exc:
                raise RunwareResponseError(f"Runware sent a result item this client cannot read: {exc}") from exc
        errors = tuple(e for e in reply.errors if e.task_uuid in (None, task_uuid))
        if not images:
            raise (api_error(reply.status, errors) if errors else RunwareResponseError("Runware sent no images"))
        return InferenceResult(tuple(images), errors)

    async def upload_image(self, image: str) -> str:
        """Store an image (a data URI, base64 or a URL) with Runware's ``imageUpload`` task; returns its image UUID.

        Runware keeps uploads for 30 days after their last use, and takes the UUID wherever an image is an input.
        """
        task_uuid = str(uuid.uuid4())
        reply = await self.send([{"taskType": "imageUpload", "taskUUID": task_uuid, "image": image}])
        for item in reply.data:
            found = item.get("imageUUID")
            if item.get("taskUUID") == task_uuid and isinstance(found, str) and found:
                return found
        errors = tuple(e for e in reply.errors if e.task_uuid in (None, task_uuid))
        raise api_error(reply.status, errors) if errors else RunwareResponseError("Runware stored no image")


def _parse(response: httpx2.Response) -> Reply:
    try:
        body: object = json.loads(response.content) if response.content else {}
    except ValueError:
        if response.status_code >= 500:
            raise ServerError(
                response.status_code,
                [ErrorDetail(code="serverError", message=f"HTTP {response.status_code} with a non-JSON body")],
            ) from None
        if response.status_code >= 400:
            raise api_error(response.status_code, ()) from None
        raise RunwareResponseError(f"HTTP {response.status_code} with a non-JSON body") from None
    if not isinstance(body, dict):
        raise RunwareResponseError("Runware's answer is not a JSON object")
    fields = cast(dict[str, object], body)
    data: object = fields.get("data") or []
    if not isinstance(data, list):
        raise RunwareResponseError("Runware's 'data' is not a list")
    items = tuple(cast(dict[str, Any], item) for item in cast(list[object], data) if isinstance(item, dict))
    return Reply(response.status_code, items, _error_details(fields))


def _error_details(body: Mapping[str, object]) -> tuple[ErrorDetail, ...]:
    # Runware documents {"errors": [...]}; {"error": {...}}, {"error": [...]} and {"error": "text"} occur too.
    raw = body.get("errors", body.get("error"))
    if raw is None:
        return ()
    entries = cast(list[object], raw) if isinstance(raw, list) else [raw]
    return tuple(_detail(entry) for entry in entries)


def _detail(entry: object) -> ErrorDetail:
    if not isinstance(entry, dict):
        return ErrorDetail(code="unknown", message=str(entry))
    fields = cast(dict[str, object], entry)
    code = str(fields.get("code") or "unknown")
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


__all__ = [
    "DEFAULT_BASE_URL",
    "ImageResult",
    "InferenceResult",
    "Reply",
    "RunwareAPIError",
    "RunwareClient",
]
