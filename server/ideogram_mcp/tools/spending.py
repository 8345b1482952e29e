"""The user's money: the price said before spending it, limits that refuse a call, and asking the user first.

Limits come from the settings and hold for every client. Above ``IDEOGRAM_MCP_CONFIRM_ABOVE`` the
user is asked, with whatever the connection's protocol offers: a server-to-client elicitation on
2025-11-25, an ``InputRequiredResult`` that the client answers and retries with on 2026-07-28. A
declined or unanswered question sends nothing; a client that cannot be asked is not blocked.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from ideogram_mcp.tools import Context

logger = logging.getLogger(__name__)

CONFIRM_KEY = "confirmSpend"
"""The key of the spending question among a result's input requests."""


Verdict = Literal["yes", "no", "not asked"]


def money(amount: float) -> str:
    return f"${amount:.2f}"


def over_the_call_limit(quote: float, limit: float | None) -> str | None:
    """Why a call quoted at ``quote`` may not run under the per-call limit, or None when it may."""
    if limit is None or quote <= limit + 1e-9:
        return None
    return (
        f"This call would cost {money(quote)}, above the limit of {money(limit)} per call, so nothing was sent. "
        "Ask for fewer images, or have the user raise IDEOGRAM_MCP_MAX_COST_PER_CALL in the server's environment."
    )


def question(quote: float, what: str) -> str:
    return f"Spend {money(quote)} of Runware credit to {what}?"


async def approve(
    ctx: Context, params: types.CallToolRequestParams, quote: float, what: str
) -> Verdict | types.InputRequiredResult:
    """Ask the user to approve spending ``quote`` when it is above the confirmation threshold and they can be asked."""
    settings = ctx.lifespan_context.settings
    capabilities = ctx.session.client_capabilities
    if quote <= settings.confirm_above + 1e-9:
        return "not asked"
    if capabilities is None or capabilities.elicitation is None:
        return "not asked"
    schema = {
        "type": "object",
        "properties": {
            "confirm": {"type": "boolean", "title": "Approve", "description": question(quote, what)},
        },
        "required": ["confirm"],
    }
    if ctx.session.can_send_request:  # 2025-11-25 and before: ask now, on this request's stream
        try:
            with anyio.fail_after(settings.wait_seconds):  # no answer within the call's wait means no
                answer = await ctx.session.elicit_form(question(quote, what), schema, related_request_id=ctx.request_id)
        except (MCPError, TimeoutError, ValidationError) as exc:
            logger.info("no answer to the spending question (%s): nothing is sent", type(exc).__name__)
            return "no"
        return _verdict(answer)
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return "not asked"  # 2025-11-25 without a channel back (stateless HTTP): there is no way to ask
    state = _state(params, quote)
    answered = (params.input_responses or {}).get(CONFIRM_KEY)
    if answered is not None and params.request_state == state:
        return _verdict(answered) if isinstance(answered, types.ElicitResult) else "no"
    return types.InputRequiredResult(
        input_requests={
            CONFIRM_KEY: types.ElicitRequest(
                params=types.ElicitRequestFormParams(message=question(quote, what), requested_schema=schema)
            )
        },
        request_state=state,
    )


def _verdict(answer: types.ElicitResult) -> Verdict:
    return "yes" if answer.action == "accept" and (answer.content or {}).get("confirm") is True else "no"


def _state(params: types.CallToolRequestParams, quote: float) -> str:
    """Ties an answer to the call it was asked for: the same tool, arguments and price."""
    arguments: Mapping[str, Any] = params.arguments or {}
    call = json.dumps([params.name, arguments, round(quote, 6)], sort_keys=True, default=str)
    return "spend:" + hashlib.sha256(call.encode()).hexdigest()[:32]
