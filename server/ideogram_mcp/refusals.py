"""Protocol refusals that say what is wrong: the SDK answers a request whose params it cannot read, and a request
before the 2025-11-25 handshake, with ``-32602 Invalid request parameters`` and nothing else, naming neither the
field nor the fix. This middleware, around every request, says both; the code stays the SDK's.

A message the SDK cannot read at all (a batch, an id that is null or a fraction, params that are no object) it drops
unanswered on stdio, and answers over HTTP with pydantic's dump of four models' errors under ``-32602``, or takes for
a notification and answers 202: ``unfit`` says what is wrong with it instead, under ``-32600``, for both.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, cast

import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ideogram_mcp import logs
from ideogram_mcp.text import excerpt, quoted, unpaired
from ideogram_mcp.tools.questions import CONFIRM, ROOTS

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logs.logger(__name__)

_KINDS = frozenset(name for name, kind in vars(types).items() if isinstance(kind, type) and issubclass(kind, BaseModel))
"""The models a part of the params may be read as, by name: where one of several, pydantic puts the one tried in an
error's location (a key an agent chose, "Style" say, is no such name)."""
_ASKED_AS = {CONFIRM: "ElicitResult", ROOTS: "ListRootsResult"}
"""The kind of answer each question this server asks (an ``inputResponses`` key) takes: never a sampling result."""
DEEPEST = 200
"""About how deep the SDK's JSON reader follows nested values (pydantic-core's recursion limit)."""
SHOWN = 3
"""How many of a request's problems the message names (the data holds them all)."""
_READ_AS = ("Request", "RequestParams", "Params")
"""How the models a request is read with are named (``GetPromptRequest``, ``CallToolRequestParams``)."""
_SDKS = "Invalid request parameters"
"""The SDK's whole message, which its handshake gate raises as it is (a failed validation raises pydantic's)."""


class Explained:
    """A request the SDK refuses for its params, or for coming before the handshake, refused with what to change.
    ``either_era``: each request may speak either protocol era (HTTP); on stdio the first request fixes the era of
    the connection, so one refused as before the handshake is not told of the other."""

    def __init__(self, *, either_era: bool) -> None:
        self._either_era = either_era

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
            raise MCPError(types.INVALID_PARAMS, _before_handshake(ctx.method, either_era=self._either_era)) from None


def _before_handshake(method: str, *, either_era: bool) -> str:
    other = " (or speak 2026-07-28, whose requests carry the protocol version in params._meta)" if either_era else ""
    return f"{method} came before the handshake: send initialize, then notifications/initialized, first{other}."


def _branch(loc: tuple[int | str, ...]) -> str | None:
    """The kind a value was tried as, where the params take one of several (pydantic names each by its model)."""
    return next((part for part in loc if isinstance(part, str) and part in _KINDS), None)


def _closest(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """The errors of the kind the value came closest to being (fewest errors, then fewest fields missing: a field
    there but wrong says which kind was meant), where it could be one of several: an answer to the spend question
    tried as a sampling result, a roots list and an elicitation answer is told what is wrong with it as an elicitation
    answer, not the sampling result's twenty fields. Each answer (``inputResponses`` key) is judged on its own, and
    one to a question this server asks as the kind it asked for."""
    answers: dict[int | str | None, list[ErrorDetails]] = {}
    for error in errors:
        answers.setdefault(_answered(error["loc"]), []).append(error)
    return [error for key, group in answers.items() for error in _of_one_kind(group, _ASKED_AS.get(str(key)))]


def _of_one_kind(errors: list[ErrorDetails], asked: str | None) -> list[ErrorDetails]:
    kinds: dict[str | None, list[ErrorDetails]] = {}
    for error in errors:
        kinds.setdefault(_branch(error["loc"]), []).append(error)
    if len(kinds) < 2 or None in kinds:
        return errors
    # Closest by count, the spend question's answer {} had been told it lacked a roots list, and True that it was no
    # sampling result.
    if asked in kinds:
        return kinds[asked]
    return min(kinds.values(), key=lambda kind: (len(kind), sum(error["type"] == "missing" for error in kind)))


def _answered(loc: tuple[int | str, ...]) -> int | str | None:
    """The question an error is in the answer to (the key after ``inputResponses``), if any."""
    at = loc.index("inputResponses") + 1 if "inputResponses" in loc else len(loc)
    return loc[at] if at < len(loc) else None


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


def unfit(text: str, *, notifications: bool = False, halves_read: bool = False) -> tuple[object, int, str] | None:
    """What is wrong with a message that is no JSON-RPC message the SDK reads, which it would drop unanswered or
    answer with no words of use: the request's id (when one can be read), the error's code and what to change. None
    for a message the SDK reads, a blank one, and a notification or a response (nothing to answer; logged), unless
    ``notifications``: then a notification whose version, method or params the SDK cannot read is told which (under
    a null id, as JSON-RPC answers a request whose id cannot be read), where the SDK answers one anyway (HTTP).
    ``halves_read``: the SDK reads half a surrogate pair alone as Python's JSON does (its 2026-07-28 entry), so a
    request holding one is the SDK's to answer."""
    if not text.strip():
        return None
    deep = False
    try:
        read = types.jsonrpc_message_adapter.validate_json(text, by_name=False)  # ~3.5 us; the SDK reads it again
    except ValueError as exc:
        read, deep = None, "recursion limit exceeded" in str(exc)
    # A request whose id is null, a fraction or an object reads as a notification: it would go unanswered.
    if read is not None and (not isinstance(read, types.JSONRPCNotification) or '"id"' not in text):
        return None
    try:
        message: object = json.loads(text)
    except RecursionError:  # deeper than Python's reader goes too (about 1,000 levels)
        message, deep = None, True
    except ValueError:
        message = None
        if not deep:
            return None, types.PARSE_ERROR, NOT_JSON
    if deep:  # JSON, but nested deeper than the SDK's reader goes (about 200 levels)
        ident = cast(dict[str, object], message).get("id") if isinstance(message, dict) else _top_id(text)
        said = f"Invalid request: its values are nested deeper than {DEEPEST} levels. Send flatter arguments."
        return (
            (ident if isinstance(ident, str | int) and not isinstance(ident, bool) else None),
            types.INVALID_REQUEST,
            said,
        )
    if isinstance(message, list):
        return None, types.INVALID_REQUEST, "Invalid request: a batch (an array) is not MCP's: send each message alone."
    if not isinstance(message, dict):
        return None, types.INVALID_REQUEST, "Invalid request: a message is one JSON object."
    fields = cast(dict[str, object], message)
    ident = fields.get("id")
    readable_id = isinstance(ident, str) or (isinstance(ident, int) and not isinstance(ident, bool))
    if read is not None and "id" not in fields:
        return None  # a notification the SDK reads (the id a key of its params)
    if "id" not in fields and "method" in fields and notifications and (said := _misread(fields)) is not None:
        return None, types.INVALID_REQUEST, said
    if ("method" not in fields and ("result" in fields or "error" in fields)) or "id" not in fields:
        logger.warning("a message that is no JSON-RPC 2.0 message was dropped: %s", excerpt(text, 200))
        return None  # a response or a notification: nothing to answer
    if not readable_id:
        return None, types.INVALID_REQUEST, "Invalid request: its id must be a string or a whole number."
    misread = _misread(fields)
    if "method" in fields and (half := unpaired(fields)) is not None:  # JSON reads it; the SDK's reader may not
        if halves_read:
            return None if misread is None else (ident, types.INVALID_REQUEST, misread)
        return ident, types.PARSE_ERROR, lone_half(half[0])
    return ident, types.INVALID_REQUEST, misread or "Invalid request: not a JSON-RPC 2.0 request."


_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)|[^"]+')
"""A JSON string (one never closed runs to the end: no search again from each of its quotes), or a stretch of what
lies between strings, whose brackets are counted at C speed."""
_COLON = re.compile(r"\s*:\s*")
SCANNED = 65_536
"""Characters of a message looked through for its id: a client writes it before its params, at the start."""


def _top_id(text: str) -> object:
    """The id of a message nested deeper than a JSON reader follows, read from its top level alone (the first key
    that reads as "id", within its first ``SCANNED`` characters), so that its refusal reaches the request it answers;
    None where none is found."""
    depth = 0
    head = text[:SCANNED]
    for token in _TOKEN.finditer(head):
        found = token.group()
        if found[0] != '"':
            depth += found.count("[") + found.count("{") - found.count("]") - found.count("}")
        elif depth == 1 and (colon := _COLON.match(head, token.end())) is not None and _reads_id(found):
            try:
                return json.JSONDecoder().raw_decode(text, colon.end())[0]  # whole, where it runs past the head
            except (ValueError, RecursionError):
                return None
    return None


def _reads_id(key: str) -> bool:
    if key == '"id"':
        return True
    try:
        return "\\" in key and json.loads(key) == "id"  # "\u0069d"
    except ValueError:
        return False


NOT_JSON = "Parse error: the message is not JSON. Send one JSON-RPC message at a time."


def at(path: str) -> str:
    """Where in a request a problem is (``params.arguments.x``), as said: its keys are an agent's, so each character
    that does not print is escaped (a newline had forged a log line) and it is cut at 200 characters."""
    return excerpt(quoted(path)[1:-1], 200) or "its top"


def lone_half(path: str) -> str:
    """What to say of a request whose text at ``path`` holds half of a UTF-16 surrogate pair alone (JSON's
    ``"\\ud800"``), which the SDK's JSON reader refuses, over stdio unanswered."""
    return (
        f"The request's text at {at(path)} holds half of a UTF-16 surrogate pair alone, which is no valid Unicode, so "
        "it was not read: send the character whole (both halves of its \\u escape pair) or leave it out."
    )


def _misread(fields: dict[str, object]) -> str | None:
    """What of a message's frame (its version, method and params) JSON-RPC cannot read, or None."""
    if fields.get("jsonrpc") != "2.0":
        return 'Invalid request: say "jsonrpc": "2.0".'
    if not isinstance(fields.get("method"), str):
        return "Invalid request: name its method as a string."
    if not isinstance(fields.get("params", {}), dict):
        return "Invalid request: its params must be an object (or left out)."
    return None


def answer(ident: object, code: int, said: str) -> str:
    """A JSON-RPC error response, as JSON."""
    return json.dumps({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": said}})


class UnfitExplained:
    """Over HTTP, a POST whose body the SDK refused for its shape (400), or took for a notification (202: a request
    whose id is null or a fraction), is answered with what ``unfit`` says, as 400. Everything the SDK checks first
    (authentication, the Host and Origin, the Accept and Content-Type headers, the body's size) answers as the SDK
    does, and so does a body that is not JSON (the SDK names where it stops being JSON); the body is kept as the SDK
    reads it, and nothing else is held back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body: list[bytes] = []
        whole = False
        refused = False
        # The SDK serves a request naming a protocol version past the handshake's at its 2026-07-28 entry, which
        # reads the body with Python's JSON (as the SDK's manager routes it, by this header alone).
        version = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"mcp-protocol-version"), None)
        modern = version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS

        async def teed() -> Message:
            nonlocal whole
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
                whole = not message.get("more_body", False)
            return message

        async def sent(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start" and message["status"] not in (400, 202):
                body.clear()  # a call's answer can stream for minutes: its body (inline images, say) is not kept
            elif message["type"] == "http.response.start" and whole:
                found = unfit(b"".join(body).decode(errors="replace"), notifications=True, halves_read=modern)
                if found is not None and found[2] != NOT_JSON:  # not JSON: the SDK's answer says where
                    logger.warning("a request was refused as the SDK could not read it: %s", found[2])
                    said = answer(*found).encode()
                    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(said)).encode())]
                    await send({"type": "http.response.start", "status": 400, "headers": headers})
                    await send({"type": "http.response.body", "body": said})
                    refused = True
            if not refused:
                await send(message)

        await self.app(scope, teed, sent)
