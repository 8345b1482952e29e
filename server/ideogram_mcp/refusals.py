"""Protocol refusals that say what is wrong: the SDK answers a request whose params it cannot read, and a request
before the 2025-11-25 handshake, with ``-32602 Invalid request parameters`` and nothing else, naming neither the
field nor the fix. This middleware, around every request, says both; the code stays the SDK's."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

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
                {"field": ".".join(str(part) for part in error["loc"]) or "params", "problem": error["msg"]}
                for error in exc.errors(include_url=False, include_input=False)
            ]
            named = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:SHOWN])
            more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
            said = f"Invalid params for {ctx.method}: {named}{more}. Send them as the method's schema says."
            raise MCPError(types.INVALID_PARAMS, said, data={"problems": problems}) from None
        except MCPError as exc:
            if exc.error.code != types.INVALID_PARAMS or exc.error.message != _SDKS or exc.error.data:
                raise
            said = (
                f"{ctx.method} came before the handshake: send initialize, then notifications/initialized, first "
                "(or speak 2026-07-28, whose requests carry the protocol version in params._meta)."
            )
            raise MCPError(types.INVALID_PARAMS, said) from None


def whole(params: types.PaginatedRequestParams | None) -> None:
    """Refuse a cursor for a list this server gives whole (tools, prompts, resource templates): a cursor it never
    gave, read as none, would hide the client's mistake; the spec asks -32602 for an invalid cursor."""
    if params is not None and params.cursor is not None:
        raise MCPError(
            types.INVALID_PARAMS,
            f"Not a cursor this server gave: {params.cursor[:40]!r}. This list comes whole: ask without a cursor.",
        )
