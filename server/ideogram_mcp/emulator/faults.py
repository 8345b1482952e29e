"""Misbehaviour on purpose: the next answers of the emulator made to fail the way a real network and a real
service do (an error answer, a dropped connection, no answer at all, a garbled answer)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class Fault:
    """A misbehaviour for the next request that carries a task of type ``on`` (any request when None), and of
    taskUUID ``about`` when given; for every such request from then on when ``lasting``.

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
    about: str | None = None
    lasting: bool = False

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
        about: str | None = None,
        lasting: bool = False,
    ) -> Fault:
        """A Runware-shaped error answer; nothing is done or charged."""
        entry: dict[str, Any] = {"code": code, "message": message}
        if parameter is not None:
            entry["parameter"] = parameter
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status, json.dumps({"errors": [entry]}), headers, on=on, about=about, lasting=lasting)

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
        return any(
            (self.on is None or task.get("taskType") == self.on)
            and (self.about is None or task.get("taskUUID") == self.about)
            for task in tasks
        ) or (not tasks and self.on is None and self.about is None)


def said_of_each(code: str, message: str) -> Callable[[dict[str, Any]], object]:
    """A rewrite for ``Fault.mangle``: the answer replaced by an error ``code`` naming each task it was about."""

    def rewrite(body: dict[str, Any]) -> object:
        tasks = cast(list[object], [*body.get("data", []), *body.get("errors", [])])
        named = dict.fromkeys(cast(dict[str, object], i).get("taskUUID") for i in tasks if isinstance(i, dict))
        return {"errors": [{"code": code, "message": message, "taskUUID": task_uuid} for task_uuid in named]}

    return rewrite


async def misbehave(fault: Fault, body: dict[str, Any], response: Response) -> Response:
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
