"""The questions one tool call (or resources/read) puts to the client on the 2026-07-28 protocol: the user's
approval of a spend, and the client's roots.

That protocol has no requests from server to client: the call answers with an ``InputRequiredResult`` holding
every question it has, and the client calls again with the same arguments, the answers and the state. The SDK's
request-state boundary (installed by ``build_server``) seals the state on the way out and checks it on the way
back, bound to this tool, these arguments and this caller, so only a state this server minted for this very call
is ever read here. What an earlier round learnt travels in the state (a stateless server keeps nothing between
two requests), and so does the taskUUID the task will be sent under: an approval that comes back twice meets a
task recorded already, and nothing is sent twice.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

if TYPE_CHECKING:
    from ideogram_mcp.tools import Context

CONFIRM = "confirmSpend"
"""The key of the spending question among a result's input requests."""
ROOTS = "roots"
"""The key of the roots question."""
_VERSION = 1


class Questions:
    """This call's round of questions: the answers it brought, what it learnt before, what it asks now."""

    def __init__(self, ctx: Context, params: types.CallToolRequestParams | types.ReadResourceRequestParams) -> None:
        self.modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        known = _state(params.request_state) if self.modern else None
        self._known: dict[str, Any] = known or {}
        self._answers = dict(params.input_responses or {}) if known is not None else {}
        self._asked: dict[str, types.InputRequest] = {}
        found = self._known.get("taskUUID")
        self.task_uuid: str | None = found if isinstance(found, str) else None
        """The taskUUID the call's task is sent under, the same in every round of it once its approval was asked
        for (the task's life mints it, and the question keeps it)."""

    def answer(self, key: str) -> types.InputResponse | None:
        """The client's answer to the question ``key`` put in the previous round, if it brought one."""
        return self._answers.get(key)

    def learnt(self, key: str) -> Any:
        """What an earlier round of this call learnt under ``key`` (None when nothing)."""
        return self._known.get(key)

    def keep(self, key: str, value: Any) -> None:
        """Carry ``value`` into the next round's state (a JSON value)."""
        self._known[key] = value

    def ask(self, key: str, request: types.InputRequest) -> None:
        self._asked[key] = request

    def asking(self) -> types.InputRequiredResult:
        """The result that asks this round's questions, when the call has asked one."""
        asking = self.pending()
        assert asking is not None, "asked only when there is a question"
        return asking

    def pending(self) -> types.InputRequiredResult | None:
        """The result that asks this round's questions, or None when there are none."""
        if not self._asked:
            return None
        kept = {**self._known, "v": _VERSION} | ({"taskUUID": self.task_uuid} if self.task_uuid else {})
        state = json.dumps(kept, separators=(",", ":"))
        return types.InputRequiredResult(input_requests=dict(self._asked), request_state=state)


def _state(text: str | None) -> dict[str, Any] | None:
    """A state this server wrote (the boundary has checked its seal), or None."""
    if not text:
        return None
    try:
        found: object = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, dict) or cast(dict[str, Any], found).get("v") != _VERSION:
        return None
    return cast(dict[str, Any], found)
