"""A local emulator of Runware's REST API for Ideogram 3.0, with no key and no network.

It speaks the protocol from the outside, so that the server cannot tell it from Runware:
``POST`` task arrays (Bearer or ``authentication``-task auth), checked against its own reading
of Runware's rules (``rules``, not the server's specs) with Runware-shaped errors, sync and async
delivery (``getResponse``, several polls in one request), a render time on its clock, real encoded
images of the requested size served at their URLs, ``imageUpload``, Runware's prices, and a ledger
of what it charged.

``Emulator.faults`` makes the next answers misbehave on purpose (``faults``). ``Emulator.failing``
makes some images of every task fail.

It never sends a request to an address it was given: webhook and upload deliveries go only
through ``outbound`` (a transport a test hands it), and are otherwise recorded, not sent.

Where Runware's behaviour is not documented the emulator guesses; those places say so.

    app        the account and its routes (this module)
    handlers   what each task does
    state      jobs, images, charges, refusals
    faults     misbehaviour on purpose
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ideogram_mcp.clock import Clock, SystemClock
from ideogram_mcp.emulator import rules
from ideogram_mcp.emulator.faults import Fault, misbehave
from ideogram_mcp.emulator.handlers import TaskHandler, TaskWork
from ideogram_mcp.emulator.state import Answer, Charge, Job, StoredImage, TaskError, entry, errors

KEPT = 86_400.0
"""Seconds an emulator left serving holds a task's work (``Emulator.kept``): a day, as long as a server asks."""
LOGGED = 1_000
"""The requests, tasks and deliveries such an emulator keeps the latest of."""
FORGET_EVERY = 60.0
"""Seconds between two looks for what such an emulator may let go."""


SPILLED = "ideogram-mcp-emulator-"
"""How the temporary folder of an emulator left serving is named: this, its process's id, and tempfile's letters."""


FRESH = 60.0
"""Seconds a folder is left alone after it last changed: one just made is held a moment after it is made."""


@contextlib.contextmanager
def _holding(folder: Path) -> Generator[None]:
    """A lock on ``folder`` while it serves, which ends with its process however that ends (a signal, a kill): what
    tells ``_sweep_left`` it is in use, across containers sharing the temporary folder too, where process ids are not
    the same. None on Windows, which is not swept."""
    if sys.platform == "win32":
        yield
        return
    import fcntl

    held = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(held)


def _sweep_left() -> None:
    """Remove what emulators stopped by a signal (SIGTERM, SIGKILL: no clean-up runs) left in the temporary folder:
    this user's folders no live emulator holds (``_holding``), unchanged for ``FRESH`` seconds. One of a version that
    held none (no process id in its name) is left."""
    if sys.platform == "win32":
        return
    import fcntl

    for folder in Path(tempfile.gettempdir()).glob(SPILLED + "*"):
        pid, dash, _ = folder.name.removeprefix(SPILLED).partition("-")
        try:
            found = folder.stat()
            if not (dash and pid.isdigit()) or found.st_uid != os.getuid() or time.time() - found.st_ctime < FRESH:
                continue
            looked = os.open(folder, os.O_RDONLY)
        except OSError:  # gone meanwhile
            continue
        try:
            fcntl.flock(looked, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its emulator serves
            continue
        else:
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(looked)


@dataclass
class Emulator(TaskWork):
    """The emulated Runware account: its key, what it was sent, what it made and charged."""

    api_key: str | None = None
    """The only key accepted; None accepts any non-empty key."""
    outbound: httpx2.AsyncBaseTransport | None = None
    """Transport for webhook and upload deliveries (tests capture them here); without it nothing is sent."""
    render_seconds: float = 0.0
    """How long a task takes to render all its images."""
    clock: Clock = field(default_factory=SystemClock)
    """Whose time the render time passes in (tests move a clock of their own)."""
    kept: float | None = None
    """Seconds it holds a task's work, to be asked about, and what it was sent (the last ``LOGGED`` requests and
    tasks); its images go to files of a folder of its own while it is ``served``, as Runware keeps them for weeks.
    For one left serving, the offline server's (``KEPT``); None (tests) holds everything, in memory."""
    spill: Path | None = field(default=None, init=False)
    """The folder its images are kept in, while it is served with ``kept`` set."""
    _servings: int = field(default=0, init=False, repr=False)
    _spilled: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, init=False, repr=False)

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
    _task_uuids: dict[str, float] = field(default_factory=lambda: {}, init=False)
    _forgotten_at: float = field(default=-math.inf, init=False)

    def __post_init__(self) -> None:
        self.handlers["imageInference"] = self._image_inference
        self.handlers[rules.CUTOUT] = self._image_inference  # one image, drawn and delivered alike
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
        return self._served(host, port)

    @contextlib.asynccontextmanager
    async def _served(self, host: str, port: int) -> AsyncGenerator[str]:
        from ideogram_mcp.embedded import serving

        if self._servings == 0 and self.kept is not None:  # the first serving makes the folder, the last removes it
            self._spilled = contextlib.ExitStack()
            with contextlib.suppress(OSError):  # in memory where no folder can be made
                _sweep_left()
                made = tempfile.TemporaryDirectory(prefix=f"{SPILLED}{os.getpid()}-", ignore_cleanup_errors=True)
                folder = Path(self._spilled.enter_context(made))
                self._spilled.enter_context(_holding(folder))
                self.spill = folder
        self._servings += 1
        try:
            async with serving(self.app(), host, port, path="/v1") as url:
                yield url
        finally:
            self._servings -= 1
            if self._servings == 0:  # served twice at once, the other serving's images are its too until then
                self.spill = None
                self._spilled.close()

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
        data = stored.read() if stored is not None else None
        if stored is None or data is None:  # never held, or its file removed since
            return JSONResponse(errors(TaskError("imageNotFound", "No such image.", status=404)), 404)
        return Response(data, media_type=stored.mime_type)

    async def _tasks(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _refuse(TaskError("invalidJSON", "The request body is not valid JSON."))
        if not isinstance(body, list) or not all(isinstance(t, dict) for t in body):  # pyright: ignore[reportUnknownVariableType]
            return _refuse(TaskError("invalidRequest", "The request body must be a JSON array of task objects."))
        tasks = cast(list[dict[str, Any]], body)
        self._forget()
        self.requests.append(list(tasks))
        fault = next((f for f in self.faults if f.applies_to(tasks)), None)
        if fault is not None and not fault.lasting:
            self.faults.remove(fault)
        if fault is not None and fault.after is None:  # a canned answer, lasting or not: nothing done or charged
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
                answer.errors.append(entry(task, exc))
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
        return await misbehave(fault, body_out, response)

    def _forget(self) -> None:
        """Let go of the tasks it held over ``kept`` seconds, at most once every ``FORGET_EVERY`` s, and of all but
        the latest ``LOGGED`` requests: an offline server, left running, had kept all it was sent and every image it
        made in memory (70 KB a call; its images are files now)."""
        now = self.clock.monotonic()
        if self.kept is None or now < self._forgotten_at + FORGET_EVERY:
            return
        self._forgotten_at, since = now, now - self.kept
        self.jobs = {task: job for task, job in self.jobs.items() if job.accepted >= since}
        self._task_uuids = {task: when for task, when in self._task_uuids.items() if when >= since}
        for logged in (self.received, self.requests, self.deliveries):
            del logged[:-LOGGED]


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _refuse(exc: TaskError) -> Response:
    return JSONResponse(errors(exc), exc.status)
