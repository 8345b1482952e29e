"""The user's money: the price said before spending it, limits that refuse a call, and the user's yes.

Limits come from the settings and hold for every client. A call quoted above ``IDEOGRAM_MCP_CONFIRM_ABOVE`` is
sent only once the user approved it. The client asks them where its connection can carry the question: an
elicitation on a 2025-11-25 connection with a channel back (stdio), an input request in the call's own round trip
on 2026-07-28 (stdio or HTTP). Where it cannot (no elicitation, or stateless HTTP on 2025-11-25), the call is
refused with the way forward: the agent asks the user in the chat, and calls again with ``approvedCost``. A
declined, dismissed or unanswered question sends nothing, and the answer says which.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from ideogram_mcp import logs
from ideogram_mcp.errors import Kind
from ideogram_mcp.journal import Approval
from ideogram_mcp.money import money, within
from ideogram_mcp.settings import ENV
from ideogram_mcp.tasks.job import Approver, Cheaper
from ideogram_mcp.tasks.outcomes import Declined
from ideogram_mcp.tools import Context
from ideogram_mcp.tools.questions import CONFIRM, Questions

logger = logs.logger(__name__)


def question(quote: float, what: str) -> str:
    return f"Spend {money(quote)} of Runware credit to {what}?"


def approver(ctx: Context, questions: Questions) -> Approver:
    """How this call's spend is approved (``tasks.job.Approver``): asked of the user through this connection."""

    async def approve(
        quote: float, what: str, approved_cost: float | None, task_uuid: str, cheaper: Cheaper
    ) -> Approval | Declined | None:
        questions.task_uuid = task_uuid
        return await _approve(ctx, questions, quote, what, approved_cost, cheaper)

    return approve


async def _approve(
    ctx: Context, questions: Questions, quote: float, what: str, approved_cost: float | None, cheaper: Cheaper
) -> Approval | Declined | None:
    """How a call quoted at ``quote`` is approved, or why it is not; None while the question is being asked
    (the call then answers with ``questions``)."""
    settings = ctx.lifespan_context.settings
    threshold = settings.confirm_above
    if approved_cost is not None and not within(quote, approved_cost):
        unneeded = (
            f" No approval is needed up to {money(threshold)}: without approvedCost it runs."
            if within(quote, threshold)
            else ""
        )
        return Declined(
            Kind.NOT_APPROVED,
            f"This call would cost {money(quote)}, more than the {money(approved_cost)} the user agreed to "
            f"(approvedCost), so nothing was sent. Ask the user about {money(quote)} first"
            f"{_or(cheaper(approved_cost))}.{unneeded}",
            {"quote": quote, "approvedCost": approved_cost},
        )
    if within(quote, threshold):
        return "under threshold"
    can_elicit = asks_forms(ctx.session.client_capabilities)
    if can_elicit and ctx.session.can_send_request:  # 2025-11-25 and before, with a channel back: ask now
        try:
            with anyio.fail_after(settings.wait_seconds):
                answer = await ctx.session.elicit_form(
                    question(quote, what), _schema(quote, what), related_request_id=ctx.request_id
                )
        except TimeoutError:
            logger.info("no answer to the spending question in time: nothing is sent")
            return _unanswered(quote)
        except (MCPError, ValidationError) as exc:  # the client could not put the question: as if it had none
            logger.info("the client could not ask the spending question (%s)", type(exc).__name__)
            unshown = "this client could not show the question"
            return "approvedCost" if approved_cost is not None else _cannot_ask(quote, threshold, cheaper, unshown)
        return _verdict(answer, quote, cheaper)
    if can_elicit and questions.modern:  # 2026-07-28: the question goes in this call's round trip
        answered = questions.answer(CONFIRM)
        if isinstance(answered, types.ElicitResult) and questions.learnt("quote") == quote:
            return _verdict(answered, quote, cheaper)
        questions.keep("quote", quote)
        questions.ask(
            CONFIRM,
            types.ElicitRequest(
                params=types.ElicitRequestFormParams(
                    message=question(quote, what), requested_schema=_schema(quote, what)
                )
            ),
        )
        return None
    if approved_cost is not None:  # at or above the quote: checked first
        return "approvedCost"
    # Stateless HTTP before 2026-07-28 knows no client's capabilities and has no way to put a question to it: a
    # client that can answer is not to be told it cannot (its user would hear their client lacks what it has).
    known = ctx.session.client_capabilities is not None
    how = "this client cannot ask them" if known and not can_elicit else "this connection cannot carry the question"
    return _cannot_ask(quote, threshold, cheaper, how)


def _or(cheaper: str | None) -> str:
    """ ", or ask for" what would cost less, where something would."""
    return f", or ask for {cheaper}" if cheaper else ""


def _cannot_ask(quote: float, threshold: float, cheaper: Cheaper, how: str) -> Declined:
    return Declined(
        Kind.APPROVAL_NEEDED,
        f"This call would cost {money(quote)}, above the {money(threshold)} that needs the user's approval "
        f"({ENV.confirm_above}), and {how}, so nothing was sent or charged. Ask the user in the chat "
        f"whether to spend {money(quote)}; if they agree, call again with the same arguments and approvedCost: "
        f"{quote:g}."
        + (f" Or ask for {less}, at most {money(threshold)} in all." if (less := cheaper(threshold)) else ""),
        {"quote": quote, "threshold": threshold},
    )


def asks_forms(capabilities: types.ClientCapabilities | None) -> bool:
    """Whether a client can put a form question to its user: the spending question is one. An elicitation
    capability with neither mode means forms (the spec's rule for clients of before URL mode)."""
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def _schema(quote: float, what: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"confirm": {"type": "boolean", "title": "Approve", "description": question(quote, what)}},
        "required": ["confirm"],
    }


def _verdict(answer: types.ElicitResult, quote: float, cheaper: Cheaper) -> Approval | Declined:
    confirm = (answer.content or {}).get("confirm")
    if isinstance(confirm, str) and confirm.strip().lower() in ("true", "false"):  # a client that sent the word
        confirm = confirm.strip().lower() == "true"
    if answer.action == "accept" and confirm is True:
        return "asked"
    if answer.action == "accept" and not isinstance(confirm, bool):  # accepted, but no yes or no to read
        return Declined(
            Kind.UNANSWERED,
            f"The client answered the question about spending {money(quote)} without a yes or no this server can "
            "read (confirm: true or false), so nothing was sent or charged. Tell the user: their client's answers "
            "to such questions cannot be read, and it may need an update.",
            {"quote": quote},
        )
    if answer.action == "cancel":
        return Declined(
            Kind.CANCELLED,
            f"The user dismissed the question about spending {money(quote)} without answering, so nothing was sent "
            "or charged. Ask them in the chat before trying again.",
            {"quote": quote},
        )
    return Declined(
        Kind.DECLINED,
        f"The user declined to spend {money(quote)}, so nothing was sent or charged. Ask them before trying again"
        f"{_or(cheaper(None))}.",
        {"quote": quote},
    )


def _unanswered(quote: float) -> Declined:
    return Declined(
        Kind.UNANSWERED,
        f"The question about spending {money(quote)} got no answer in time, so nothing was sent or charged. Ask the "
        "user in the chat before trying again.",
        {"quote": quote},
    )
