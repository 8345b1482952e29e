"""A local emulator of Runware's REST API for Ideogram 3.0, with no key and no network.

It speaks the protocol from the outside, so that the server cannot tell it from Runware:
``POST`` task arrays (Bearer or ``authentication``-task auth), checked against its own reading
of Runware's rules (``rules``, not the server's specs) with Runware-shaped errors, sync and async
delivery (``getResponse``, several polls in one request), a render time, real encoded images of
the requested size served at their URLs, ``imageUpload``, Runware's prices, and a ledger of what
it charged.

``Emulator.faults`` makes the next answers misbehave on purpose, the way a real network and a
real service do: error answers (with ``Retry-After``), a dropped connection or no answer at all
after the task was charged, answers rewritten into malformed ones. ``Emulator.failing`` makes
some images of every task fail.

It never sends a request to an address it was given: webhook and upload deliveries go only
through ``outbound`` (a transport a test hands it), and are otherwise recorded, not sent.

Where Runware's behaviour is not documented the emulator guesses; those places say so.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ideogram_mcp.emulator import artwork, rules

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Answer:
    """What one task contributes to a response: result items and error entries."""

    data: list[dict[str, Any]] = field(default_factory=lambda: [])
    errors: list[dict[str, Any]] = field(default_factory=lambda: [])


TaskHandler = Callable[[dict[str, Any], str], Awaitable[Answer]]


class TaskError(Exception):
    """A task was refused; becomes one entry of the ``errors`` array."""

    def __init__(self, code: str, message: str, parameter: str | list[str] | None = None, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.parameter, self.status = code, message, parameter, status


@dataclass(frozen=True, slots=True)
class Fault:
    """A misbehaviour for the next request that carries a task of type ``on`` (any request when None).

    Either a canned answer instead of the work (``status``, ``body``, ``headers``: nothing is done or
    charged), or the work done and charged, then ``after``: ``"drop"`` the connection before the
    answer is complete, ``"hang"`` without answering, or ``"mangle"`` the answer with ``rewrite``.
    """

    status: int = 200
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=lambda: {})
    on: str | None = None
    after: Literal["drop", "hang", "mangle"] | None = None
    rewrite: Callable[[dict[str, Any]], object] | None = None

    @classmethod
    def error(
        cls,
        status: int,
        code: str,
        message: str,
        parameter: str | None = None,
        *,
        retry_after: float | None = None,
        on: str | None = None,
    ) -> Fault:
        """A Runware-shaped error answer; nothing is done or charged."""
        entry: dict[str, Any] = {"code": code, "message": message}
        if parameter is not None:
            entry["parameter"] = parameter
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status, json.dumps({"errors": [entry]}), headers, on=on)

    @classmethod
    def drop(cls, on: str | None = None) -> Fault:
        """Do the work (and charge it), then break the connection before the answer is complete."""
        return cls(on=on, after="drop")

    @classmethod
    def hang(cls, on: str | None = None) -> Fault:
        """Do the work (and charge it), then never answer."""
        return cls(on=on, after="hang")

    @classmethod
    def mangle(
        cls,
        rewrite: Callable[[dict[str, Any]], object],
        on: str | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> Fault:
        """Do the work (and charge it), then answer ``rewrite(answer)`` (a string as it is), with ``headers``,
        under ``status`` when given (else the answer's own)."""
        return cls(status or 0, headers=dict(headers or {}), on=on, after="mangle", rewrite=rewrite)

    def applies_to(self, tasks: list[dict[str, Any]]) -> bool:
        return self.on is None or any(task.get("taskType") == self.on for task in tasks)


@dataclass(frozen=True, slots=True)
class Charge:
    """One task the emulator billed."""

    task_uuid: str
    images: int
    cost: float


@dataclass(frozen=True, slots=True)
class StoredImage:
    data: bytes
    mime_type: str


@dataclass(slots=True)
class Job:
    """An accepted inference task: what to draw, when each image is ready, and what was drawn."""

    model: str
    task: dict[str, Any]
    values: dict[str, Any]
    """The task's values by dotted wire path (``providerSettings.ideogram.styleType``)."""
    seeds: list[int]
    failing: frozenset[int]
    accepted: float
    items: dict[int, dict[str, Any]] = field(default_factory=lambda: {})
    drawing: anyio.Lock = field(default_factory=anyio.Lock)
    """Held while its images are drawn: two polls at once get the same image, drawn once."""

    def ready_at(self, index: int, render: float) -> float:
        """Images finish one after another over the render time."""
        return self.accepted + render * (index + 1) / len(self.seeds)


@dataclass
class Emulator:
    """The emulated Runware account: its key, what it was sent, what it made and charged."""

    api_key: str | None = None
    """The only key accepted; None accepts any non-empty key."""
    outbound: httpx2.AsyncBaseTransport | None = None
    """Transport for webhook and upload deliveries (tests capture them here); without it nothing is sent."""
    render_seconds: float = 0.0
    """How long a task takes to render all its images."""

    received: list[dict[str, Any]] = field(default_factory=lambda: [], init=False)
    """Every task that reached the emulator, as sent, after authentication."""
    requests: list[list[dict[str, Any]]] = field(default_factory=lambda: [], init=False)
    """The tasks of every request, before faults and authentication: what reached the wire."""
    ledger: list[Charge] = field(default_factory=lambda: [], init=False)
    images: dict[str, StoredImage] = field(default_factory=lambda: {}, init=False)
    jobs: dict[str, Job] = field(default_factory=lambda: {}, init=False)
    deliveries: list[tuple[str, str]] = field(default_factory=lambda: [], init=False)
    """Webhook and upload deliveries asked for, as (method, URL), whether sent or not."""
    faults: deque[Fault] = field(default_factory=lambda: deque[Fault](), init=False)
    """Misbehaviours for the next matching requests, in order."""
    failing: set[int] = field(default_factory=lambda: set[int](), init=False)
    """Positions (0-based) of the images that fail in every task."""
    handlers: dict[str, TaskHandler] = field(default_factory=lambda: {}, init=False)
    _task_uuids: set[str] = field(default_factory=lambda: set[str](), init=False)

    def __post_init__(self) -> None:
        self.handlers["imageInference"] = self._image_inference
        self.handlers["imageUpload"] = self._image_upload
        self.handlers["getResponse"] = self._get_response

    @property
    def arrived(self) -> list[dict[str, Any]]:
        """Every task of every request, resends and refused ones included."""
        return [task for tasks in self.requests for task in tasks]

    @property
    def submitted(self) -> list[dict[str, Any]]:
        """Every task received that asks for work (all but ``getResponse`` polls), as sent."""
        return [task for task in self.received if task.get("taskType") != "getResponse"]

    @property
    def charged(self) -> float:
        """Total USD billed so far."""
        return round(sum(c.cost for c in self.ledger), 6)

    def served(self, host: str = "127.0.0.1", port: int = 0) -> contextlib.AbstractAsyncContextManager[str]:
        """The emulator over HTTP inside the running event loop; yields the URL to POST tasks to."""
        from ideogram_mcp.embedded import serving

        return serving(self.app(), host, port, path="/v1")

    def app(self) -> Starlette:
        """The ASGI app: ``POST /v1`` (and ``/``) for tasks, ``GET /image/{name}`` for results."""
        return Starlette(
            routes=[
                Route("/", self._tasks, methods=["POST"]),
                Route("/v1", self._tasks, methods=["POST"]),
                Route("/", self._about, methods=["GET"]),
                Route("/image/{name}", self._image, methods=["GET"]),
                Route("/ledger", self._ledger, methods=["GET"]),
            ]
        )

    async def _about(self, request: Request) -> Response:
        return PlainTextResponse(f"Runware emulator for {', '.join(rules.MODELS)}. POST task arrays to /v1.\n")

    async def _ledger(self, request: Request) -> Response:
        rows = [{"taskUUID": c.task_uuid, "images": c.images, "cost": c.cost} for c in self.ledger]
        return JSONResponse({"charges": rows, "total": self.charged})

    async def _image(self, request: Request) -> Response:
        name = request.path_params["name"]
        stored = self.images.get(name.rsplit(".", 1)[0])
        if stored is None:
            return JSONResponse(_errors(TaskError("imageNotFound", "No such image.", status=404)), 404)
        return Response(stored.data, media_type=stored.mime_type)

    async def _tasks(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _refuse(TaskError("invalidJSON", "The request body is not valid JSON."))
        if not isinstance(body, list) or not all(isinstance(t, dict) for t in body):  # pyright: ignore[reportUnknownVariableType]
            return _refuse(TaskError("invalidRequest", "The request body must be a JSON array of task objects."))
        tasks = cast(list[dict[str, Any]], body)
        self.requests.append(list(tasks))
        fault = next((f for f in self.faults if f.applies_to(tasks)), None)
        if fault is not None:
            self.faults.remove(fault)
            if fault.after is None:
                return Response(fault.body, fault.status, dict(fault.headers), media_type="application/json")
        key = _bearer(request.headers.get("authorization", ""))
        if tasks and tasks[0].get("taskType") == "authentication":
            key = str(tasks.pop(0).get("apiKey") or "")
        if not key or (self.api_key is not None and key != self.api_key):
            return _refuse(TaskError("invalidApiKey", "Invalid API key.", "apiKey", status=401))

        base = str(request.base_url)
        answer = Answer()
        statuses: list[int] = []
        for task in tasks:
            self.received.append(task)
            try:
                part = await self._run(task, base)
            except TaskError as exc:
                answer.errors.append(_entry(task, exc))
                statuses.append(exc.status)
                continue
            answer.data += part.data
            answer.errors += part.errors
        if answer.errors and not answer.data and statuses:
            body_out: dict[str, Any] = {"errors": answer.errors}
            response: Response = JSONResponse(body_out, max(statuses))
        else:
            body_out = {"data": answer.data} | ({"errors": answer.errors} if answer.errors else {})
            response = JSONResponse(body_out)
        if fault is None:
            return response
        return await _misbehave(fault, body_out, response)

    async def _run(self, task: dict[str, Any], base: str) -> Answer:
        handler = self.handlers.get(str(task.get("taskType")))
        if handler is None:
            known = ", ".join(self.handlers)
            # [guess] Runware's code for a task type it does not know.
            raise TaskError("invalidTaskType", f"Unsupported taskType. The emulator handles: {known}.", "taskType")
        task_uuid = task.get("taskUUID")
        try:
            uuid.UUID(str(task_uuid), version=4)
        except ValueError:
            raise TaskError("invalidTaskUUID", "taskUUID must be a UUID v4.", "taskUUID") from None
        if task.get("taskType") == "getResponse":
            return await handler(task, base)  # it names an earlier task's UUID
        if task_uuid in self._task_uuids:
            raise TaskError("conflictTaskUUID", "A task with this taskUUID was already received.", "taskUUID")
        self._task_uuids.add(str(task_uuid))
        try:
            return await handler(task, base)
        except TaskError:
            # [guess] A refused task leaves no trace, so a corrected resend may reuse its taskUUID.
            self._task_uuids.discard(str(task_uuid))
            raise

    async def _image_inference(self, task: dict[str, Any], base: str) -> Answer:
        model = str(task.get("model"))
        if model not in rules.MODELS:
            # [guess] Runware's answer to a model it does not serve.
            raise TaskError("modelNotFound", f"Unknown model. The emulator serves: {', '.join(rules.MODELS)}.", "model")
        values = self._validated(model, task)
        await self._check_mask(values, base)
        count = int(values.get("numberResults", 1))
        rng = random.Random(task["taskUUID"])
        job = Job(
            model=model,
            task=task,
            values=values,
            seeds=[rng.randrange(1, 2**31) for _ in range(count)],
            failing=frozenset(i for i in self.failing if i < count),
            accepted=time.monotonic(),
        )
        self.jobs[task["taskUUID"]] = job
        made = count - len(job.failing)
        # [guess] Runware bills a task when it accepts it, for the images it will deliver.
        self.ledger.append(Charge(task["taskUUID"], made, round(made * rules.price(model, values), 6)))
        if values.get("deliveryMethod", "sync") == "async":
            return Answer(data=[{"taskType": "imageInference", "taskUUID": task["taskUUID"]}])
        await anyio.sleep(self.render_seconds)
        return await self._state(job, base)

    async def _get_response(self, task: dict[str, Any], base: str) -> Answer:
        job = self.jobs.get(str(task["taskUUID"]))
        if job is None:
            raise TaskError("taskFailedOrNotFound", "No task with this taskUUID is known.", "taskUUID", status=404)
        return await self._state(job, base)

    async def _state(self, job: Job, base: str) -> Answer:
        """Every image of a job as it stands: finished, failed, or still processing with its progress."""
        async with job.drawing:
            return await self._drawn(job, base)

    async def _drawn(self, job: Job, base: str) -> Answer:
        answer = Answer()
        now = time.monotonic()
        task_uuid = job.task["taskUUID"]
        for index in range(len(job.seeds)):
            ready = job.ready_at(index, self.render_seconds)
            if now < ready:
                progress = int(100 * (1 - (ready - now) / max(ready - job.accepted, 1e-9)))
                answer.data.append(
                    {"taskType": "imageInference", "taskUUID": task_uuid, "status": "processing", "progress": progress}
                )
            elif index in job.failing:
                answer.errors.append(
                    {
                        "code": "inferenceError",
                        "message": f"Image {index + 1} failed to render.",
                        "taskType": "imageInference",
                        "taskUUID": task_uuid,
                        "status": "error",
                    }
                )
            else:
                if index not in job.items:
                    job.items[index] = await self._render(job, index, base)
                answer.data.append(job.items[index])
        return answer

    async def _render(self, job: Job, index: int, base: str) -> dict[str, Any]:
        values, seed, model = job.values, job.seeds[index], job.model
        fmt = cast(artwork.ImageFormat, str(values.get("outputFormat", "JPG")).upper())
        quality = int(values.get("outputQuality", 95))
        prompt = str(values.get("positivePrompt", ""))
        source = values.get("inputs.seedImage") or values.get("inputs.referenceImages")
        image = self._input(source, base) if source else None
        mask = self._input(values["inputs.maskImage"], base) if "inputs.maskImage" in values else None

        def draw() -> bytes:
            width, height = (int(values["width"]), int(values["height"])) if "width" in values else (0, 0)
            footer = f"EMULATED {model} · seed {seed}"
            if isinstance(image, bytes) and mask is not None:
                return artwork.edit(
                    image, mask, seed=seed, prompt=prompt, image_format=fmt, quality=quality, footer=footer
                )
            if isinstance(image, bytes) and "inputs.referenceImages" in values:
                strength = int(values.get(rules.REMIX_STRENGTH, 50))
                return artwork.remix(
                    image,
                    width,
                    height,
                    seed=seed,
                    prompt=prompt,
                    strength=strength,
                    image_format=fmt,
                    quality=quality,
                    footer=footer,
                )
            if isinstance(image, bytes) and width:
                return artwork.reframe(image, width, height, image_format=fmt, quality=quality, footer=footer)
            if isinstance(image, bytes):
                return artwork.replace_background(
                    image, seed=seed, prompt=prompt, image_format=fmt, quality=quality, footer=footer
                )
            footer += f" · {width}x{height}"
            return artwork.render(
                width, height, seed=seed, prompt=prompt, image_format=fmt, quality=quality, footer=footer
            )

        data = await anyio.to_thread.run_sync(draw)
        image_uuid = str(uuid.uuid4())
        mime = artwork.MIME_TYPES[fmt]
        self.images[image_uuid] = StoredImage(data, mime)
        item: dict[str, Any] = {
            "taskType": "imageInference",
            "taskUUID": job.task["taskUUID"],
            "status": "success",
            "imageUUID": image_uuid,
            "seed": seed,
        }
        item.update(_output(values.get("outputType", "URL"), base, image_uuid, fmt, data, mime))
        if values.get("safety.checkContent"):
            # The emulator has no classifier: it flags prompts that ask for it, so tests can see the flag.
            item["NSFWContent"] = "nsfw" in prompt.lower()
        if values.get("includeCost"):
            item["cost"] = rules.price(model, values)
        await self._deliver(values, item, data, mime)
        return item

    def _input(self, reference: object, base: str) -> bytes:
        """The bytes of an input image: one it holds (by UUID or its own URL), inline data, or a stand-in."""
        text = str(reference[0] if isinstance(reference, list) and reference else reference)  # pyright: ignore[reportUnknownArgumentType]
        if _is_uuid(text):
            return self.images[text].data
        if urlsplit(text).scheme in ("http", "https"):
            own = self._own_image(text, base)
            return own.data if own is not None else artwork.placeholder()  # it never fetches a caller's URL
        return _decoded(text).data

    async def _check_mask(self, values: Mapping[str, Any], base: str) -> None:
        if "inputs.maskImage" not in values or "inputs.seedImage" not in values:
            return
        image, mask = self._input(values["inputs.seedImage"], base), self._input(values["inputs.maskImage"], base)
        # [guess] Ideogram's rule: the mask has the image's size.
        if artwork.size_of(image) != artwork.size_of(mask):
            raise TaskError("invalidParameter", "maskImage must have the same size as seedImage.", "inputs.maskImage")

    async def _image_upload(self, task: dict[str, Any], base: str) -> Answer:
        """Store an image sent as a data URI or base64, and answer with its UUID and URL. Uploads are free."""
        self._reject_keys(task, {"taskType", "taskUUID", "image"})
        image = task.get("image")
        if not isinstance(image, str) or not image:
            raise TaskError("missingParameter", "Missing required parameter: image.", "image")
        if urlsplit(image).scheme in ("http", "https"):
            # Runware would fetch it; the emulator never requests an address a caller chose.
            stored = self._own_image(image, base) or StoredImage(artwork.placeholder(), "image/png")
        else:
            stored = _decoded(image)
        stored = StoredImage(artwork.stored(stored.data), stored.mime_type)
        image_uuid = str(uuid.uuid4())
        self.images[image_uuid] = stored
        extension = next((e for f, e in artwork.EXTENSIONS.items() if artwork.MIME_TYPES[f] == stored.mime_type), "png")
        item = {
            "taskType": "imageUpload",
            "taskUUID": task["taskUUID"],
            "imageUUID": image_uuid,
            "imageURL": f"{base}image/{image_uuid}.{extension}",
        }
        return Answer(data=[item])

    def _own_image(self, url: str, base: str) -> StoredImage | None:
        if not url.startswith(f"{base}image/"):
            return None
        return self.images.get(url.rsplit("/", 1)[-1].rsplit(".", 1)[0])

    def _reject_keys(self, task: Mapping[str, Any], allowed: set[str]) -> None:
        for key in task:
            if key not in allowed:
                raise TaskError("unsupportedParameter", f"Unsupported parameter for this task: {key}.", key)

    def _validated(self, model: str, task: Mapping[str, Any]) -> dict[str, Any]:
        """The task's values by dotted path, or the TaskError Runware would give (by the emulator's own rules)."""
        values, refusal = rules.check(model, task)
        if refusal is not None:
            raise TaskError(refusal.code, refusal.message, refusal.parameter)
        for path, value in values.items():
            if rules.MODELS[model][path].kind in ("image", "images"):
                self._known_images(path, [value] if isinstance(value, str) else cast(list[str], value))
        return values

    def _known_images(self, name: str, items: list[str]) -> None:
        # [guess] Runware refuses an image UUID it does not hold; its exact code is not documented.
        for item in items:
            if _is_uuid(item) and item not in self.images:
                raise TaskError("invalidParameter", f"Unknown image UUID in {name}: {item}.", name)

    async def _deliver(self, values: Mapping[str, Any], item: Mapping[str, Any], data: bytes, mime: str) -> None:
        """PUT the image to ``uploadEndpoint`` and POST its result to ``webhookURL`` through ``outbound`` only."""
        targets: list[tuple[str, str, dict[str, Any]]] = []
        if url := values.get("uploadEndpoint"):
            targets.append(("PUT", url, {"content": data, "headers": {"Content-Type": mime}}))
        if url := values.get("webhookURL"):
            # [guess] The webhook envelope is not documented; {"data": [item]} matches the REST answer.
            targets.append(("POST", url, {"json": {"data": [item]}}))
        self.deliveries += [(method, url) for method, url, _ in targets]
        if not targets or self.outbound is None:
            return
        async with httpx2.AsyncClient(transport=self.outbound, timeout=10.0) as http:
            for method, url, options in targets:
                try:
                    await http.request(method, url, **options)
                except httpx2.HTTPError as exc:
                    logger.warning("emulator could not deliver to %s: %s", httpx2.URL(url).host, type(exc).__name__)


async def _misbehave(fault: Fault, body: dict[str, Any], response: Response) -> Response:
    """The answer a fault gives after the work was done."""
    if fault.after == "hang":
        await anyio.sleep_forever()
    if fault.after == "mangle" and fault.rewrite is not None:
        rewritten = fault.rewrite(body)
        raw = rewritten if isinstance(rewritten, str) else json.dumps(rewritten)
        status = fault.status or response.status_code
        return Response(raw, status, dict(fault.headers), media_type="application/json")
    return _Dropped()


class _Dropped(Response):
    """An answer cut off mid-way: the headers promise more than is sent, then the connection ends."""

    def __init__(self) -> None:
        super().__init__(b'{"data": [', 200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def _output(
    output_type: object, base: str, image_uuid: str, fmt: artwork.ImageFormat, data: bytes, mime: str
) -> dict[str, str]:
    if output_type in ("base64Data", "dataURI"):
        encoded = base64.b64encode(data).decode()
        if output_type == "base64Data":
            return {"imageBase64Data": encoded}
        return {"imageDataURI": f"data:{mime};base64,{encoded}"}
    return {"imageURL": f"{base}image/{image_uuid}.{artwork.EXTENSIONS[fmt]}"}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _decoded(image: str) -> StoredImage:
    """An uploaded data URI or base64 string as stored bytes; TaskError when it is no PNG, JPEG or WEBP."""
    encoded = image.split(";base64,", 1)[1] if image.startswith("data:") and ";base64," in image else image
    try:
        data = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise TaskError("invalidImage", "The image is neither a data URI, base64 data nor a URL.", "image") from None
    mime = artwork.sniff_mime_type(data)
    if mime is None:
        raise TaskError("invalidImage", "The image is not a PNG, JPEG or WEBP image.", "image")
    return StoredImage(data, mime)


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _entry(task: Mapping[str, Any], exc: TaskError) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.parameter is not None:
        entry["parameter"] = exc.parameter
    if "taskType" in task:
        entry["taskType"] = task["taskType"]
    if "taskUUID" in task:
        entry["taskUUID"] = task["taskUUID"]
    return entry


def _errors(exc: TaskError) -> dict[str, Any]:
    return {"errors": [_entry({}, exc)]}


def _refuse(exc: TaskError) -> Response:
    return JSONResponse(_errors(exc), exc.status)
