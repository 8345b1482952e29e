"""Protocol refusals that say what is wrong: the SDK answers a request whose params it cannot read, and a request
before the 2025-11-25 handshake, with ``-32602 Invalid request parameters`` and nothing else, naming neither the
field nor the fix. This middleware, around every request, says both; the code stays the SDK's."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

_KINDS = frozenset(name for name, kind in vars(types).items() if isinstance(kind, type) and issubclass(kind, BaseModel))
"""The models a part of the params may be read as, by name: where one of several, pydantic puts the one tried in an
error's location (a key an agent chose, "Style" say, is no such name)."""
SHOWN = 3
"""How many of a request's problems the message names (the data holds them all)."""
_READ_AS = ("Request", "RequestParams", "Params")
"""How the models a request is read with are named (``GetPromptRequest``, ``CallToolRequestParams``)."""
_SDKS = "Invalid request parameters"
"""The SDK's whole message, which its handshake gate raises as it is (a failed validation raises pydantic's)."""


class Explained:
    """A request the SDK refuses for its params, or for coming before the handshake, refused with what to change."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        try:
            return await call_next(ctx)
        except ValidationError as exc:
            if not exc.title.endswith(_READ_AS):  # not the request's: a result the server made, say (its own fault)
                raise
            problems = [
                {"field": _field(error["loc"]), "problem": error["msg"]}
                for error in _closest(exc.errors(include_url=False, include_input=False))
            ]
            named = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:SHOWN])
            more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
            said = f"Invalid params for {ctx.method}: {named}{more}. Send them as the method's schema says."
            raise MCPError(types.INVALID_PARAMS, said, data={"problems": problems}) from None
        except MCPError as exc:
            if exc.error.code != types.INVALID_PARAMS or exc.error.message != _SDKS or exc.error.data:
                raise
            raise MCPError(types.INVALID_PARAMS, _before_handshake(ctx.method)) from None


def _before_handshake(method: str) -> str:
    return (
        f"{method} came before the handshake: send initialize, then notifications/initialized, first (or speak "
        "2026-07-28, whose requests carry the protocol version in params._meta)."
    )


def _branch(loc: tuple[int | str, ...]) -> str | None:
    """The kind a value was tried as, where the params take one of several (pydantic names each by its model)."""
    return next((part for part in loc if isinstance(part, str) and part in _KINDS), None)


def _closest(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """The errors of the kind the value came closest to being (fewest errors, then fewest fields missing: a field
    there but wrong says which kind was meant), where it could be one of several: an answer to the spend question
    tried as a sampling result, a roots list and an elicitation answer is told what is wrong with it as an elicitation
    answer, not the sampling result's twenty fields."""
    kinds: dict[str | None, list[ErrorDetails]] = {}
    for error in errors:
        kinds.setdefault(_branch(error["loc"]), []).append(error)
    if len(kinds) < 2 or None in kinds:
        return errors
    return min(kinds.values(), key=lambda kind: (len(kind), sum(error["type"] == "missing" for error in kind)))


def _field(loc: tuple[int | str, ...]) -> str:
    """Where an error is, as a path an agent can follow: ``params.arguments``, ``params._meta["io.x/y"].z``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _KINDS:
            continue  # the kind it was tried as, not a key
        elif any(mark in part for mark in "./ "):
            path += f"[{json.dumps(part)}]"
        else:
            path += f".{part}" if path else part
    return path or "params"


def whole(params: types.PaginatedRequestParams | None) -> None:
    """Refuse a cursor for a list this server gives whole (tools, prompts, resource templates): a cursor it never
    gave, read as none, would hide the client's mistake; the spec asks -32602 for an invalid cursor."""
    if params is not None and params.cursor is not None:
        raise MCPError(
            types.INVALID_PARAMS,
            f"Not a cursor this server gave: {params.cursor[:40]!r}. This list comes whole: ask without a cursor.",
        )
