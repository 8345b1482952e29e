"""The composition root: ``build_server()`` builds the services every task shares and registers the tools,
prompts and resources.

A client waits for a start (spawn, ``initialize``, ``tools/list``), so a start does only that: it shows the listing
(the tools and the instructions) kept by an earlier start while no source changed (``listing``), else derives it
from the specs; the tools themselves and everything a call needs (the tasks' services, Runware, the journal, the
image store) load at the first call. ``tests/test_start.py`` holds a start to it.

It knows MCP and builds no HTTP request. Tool failures an agent can act on (bad arguments,
a refused key, no credit, Runware down) come back as tool errors (``is_error``) with text
written for a model; only an unknown tool or prompt name is a protocol error.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.subscriptions import InMemorySubscriptionBus, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp_types.methods import validate_client_request

from ideogram_mcp import __version__, app, listing, logs, prompts, resources
from ideogram_mcp.blanking import Blanking
from ideogram_mcp.errors import ConfigurationError, Kind
from ideogram_mcp.notices import OwnedListen, SharedBus
from ideogram_mcp.refusals import Explained, whole
from ideogram_mcp.settings import ENV, Settings, secret_value
from ideogram_mcp.tools import ERROR_META, AppState, Context, ToolEntry, owner

if TYPE_CHECKING:  # what the calls use is loaded at the first call (tests/test_start.py: what a start loads)
    import httpx2

    from ideogram_mcp.clock import Clock
    from ideogram_mcp.images import ImageStore
    from ideogram_mcp.journal import Journal
    from ideogram_mcp.specs import ModelSpec
    from ideogram_mcp.tasks.services import Services

_Asked = TypeVar("_Asked")
_Answer = TypeVar("_Answer")
logger = logs.logger(__name__)

__all__ = ["ERROR_META", "IdeogramServer", "build_server"]


class IdeogramServer(Server[AppState]):
    """The low-level server, announcing by default that its list of saved images changes."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(resources_changed=True), experimental_capabilities, extensions
        )


def build_server(
    settings: Settings | None = None,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    project: Path | None = None,
    shared: bool = False,
    journal: Journal | None = None,
    clock: Clock | None = None,
    store: ImageStore | None = None,
) -> Server[AppState]:
    """A server for these settings; ``transport`` replaces the network (tests plug the emulator in).

    ``project`` is the project folder a client started the server in (images go there when nothing else says);
    ``shared`` says that one process serves many clients (HTTP), so nothing learnt of a connection is kept.
    ``journal``, ``clock`` and ``store`` replace the journal opened in the data folder, the machine's clock and the
    local folders (tests hand in a journal that fails on purpose, a clock they move).
    """
    settings = settings or Settings()
    logs.keep_out(secret_value(settings.runware_api_key))  # out of the package's log lines, whoever handles them
    shown = listing.load(_derived, [listing.PACKAGE, prompts.folder()])
    blank = Blanking(settings, shared=shared)
    # A team's processes share one database: an image one saves is announced to the listeners of all.
    url = settings.shared_database
    notices = SharedBus(url, clock=clock) if url is not None else None
    bus: SubscriptionBus = notices or InMemorySubscriptionBus()
    listening = OwnedListen(bus, owner, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(_: Server[AppState]) -> AsyncGenerator[AppState]:
        if settings.runware_api_key is None:
            logger.warning("%s is not set: generate_image will explain how to set it", ENV.runware_api_key)
        async with anyio.create_task_group() as background:
            if notices is not None:
                await background.start(notices.run)  # connects when first needed: a start waits for nothing

            def services() -> Services:
                from ideogram_mcp.tasks.services import Services  # the tasks' machinery loads at the first call

                return Services(
                    settings, background=background, clock=clock, transport=transport, journal=journal, store=store
                )

            state = AppState(settings, services, listening, project=project, shared=shared)
            if shared and notices is None:  # other workers may share the SQLite journal: their saves are seen there

                async def saved_at(who: str) -> float:
                    return await state.services.journal.saved_at(who)

                background.start_soon(listening.watch, saved_at)
            if shared:  # a server for many clients loads now what calls use, not in its first clients' time
                from ideogram_mcp.tasks.services import share_malloc_arenas

                share_malloc_arenas()  # before the threads its clients' first calls start (glibc may ignore it later)
                await anyio.to_thread.run_sync(_load_for_calls, settings)
            try:
                yield state
            finally:
                await state.aclose()
                background.cancel_scope.cancel()

    async def list_tools(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        whole(params)
        return types.ListToolsResult(tools=list(shown.tools))

    async def call_tool(
        ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        from ideogram_mcp.journal import JournalError  # loaded at the first call, with the tools'
        from ideogram_mcp.tools import results

        entries = _entries()
        entry = entries.get(params.name)
        if entry is None:
            from ideogram_mcp.arguments import label

            raise MCPError(types.INVALID_PARAMS, f"Unknown tool {label(params.name)!r}. Tools: {', '.join(entries)}.")
        try:
            result = await entry.run(ctx, params)
        except JournalError as exc:  # where a task was sent, the tool answers itself: here nothing was sent
            hints = entry.tool.annotations or types.ToolAnnotations()
            if hints.read_only_hint:
                consequence = ""
            elif hints.idempotent_hint:  # a fetch (get_generation): it sends nothing, and its task may well be paid
                consequence = "the task could not be looked up; it is as Runware has it, and this call charged nothing"
            else:  # a paid tool: the journal is written before anything is sent
                consequence = "nothing was sent or charged"
            result = results.error(exc.text(consequence), {"kind": "journal"})
        except ConfigurationError as exc:  # a setting that cannot work (certificates, a proxy): the message names it
            result = results.error(str(exc), {"kind": Kind.NOT_CONFIGURED})
        except Exception:
            logger.exception("tool %s failed unexpectedly", params.name)
            result = results.error(
                "The server hit an internal error; nothing more is known. Its log (stderr) has details."
            )
        return blank(result)  # errors too: a journal's failure names its file, in the server's data folder

    def said(
        handler: Callable[[Context, _Asked], Awaitable[_Answer]],
    ) -> Callable[[Context, _Asked], Awaitable[_Answer]]:
        """``handler`` (of resources, completions), a failing journal answered as the tools answer it: what is wrong
        and the fix (blanked as results are), not an internal error without a word."""

        @functools.wraps(handler)
        async def handle(ctx: Context, params: _Asked) -> _Answer:
            try:
                return await handler(ctx, params)
            except MCPError:
                raise
            except Exception as exc:  # never the SDK's answer to it: error code 0 and the exception's words (a path)
                from ideogram_mcp.journal import JournalError

                if isinstance(exc, JournalError | ConfigurationError):
                    told = exc.text() if isinstance(exc, JournalError) else str(exc)
                    raise MCPError(types.INTERNAL_ERROR, blank.text(told)) from None
                logger.exception("%s failed unexpectedly", handler.__name__)
                raise MCPError(
                    types.INTERNAL_ERROR,
                    "The server hit an internal error; nothing more is known. Its log (stderr) has details.",
                ) from None

        return handle

    server = IdeogramServer(
        "ideogram-mcp",
        version=__version__,
        title="Ideogram on Runware",
        description="Make and edit images with Ideogram 3.0 and 4.0 through Runware's API.",
        instructions=shown.instructions,
        lifespan=lifespan,
        # The inputSchema a tools/call's Mcp-Param headers are checked against: looked up, where the SDK would
        # otherwise run the whole tools/list (and serialize every schema) for each call over HTTP.
        get_tool_input_schema={tool.name: tool.input_schema for tool in shown.tools}.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=prompts.list_prompts,
        on_get_prompt=prompts.get_prompt,
        on_list_resources=said(resources.list_resources),
        on_list_resource_templates=said(resources.list_resource_templates),
        on_read_resource=said(resources.read_resource),
        on_completion=said(resources.complete),
        on_subscriptions_listen=listening,
    )
    server.extensions[app.EXTENSION] = {}  # MCP Apps: the image tools' results have a gallery hosts may show
    # Questions put to the user on 2026-07-28 travel in a state the client echoes: sealed, and bound to the call.
    # Served over HTTP, perhaps beside other processes or machines, with keys of its own or its command's.
    unshared_keys = shared and (not settings.state_keys or settings.state_keys_made)
    server.middleware.append(
        _QuestionState(
            _state_security(settings), default_audience="ideogram-mcp", unshared_keys=unshared_keys, shared=shared
        )
    )
    server.middleware.append(_ListedOnce())
    # Within the SDK's tracing, around all else: refusals said whole.
    server.middleware.insert(1, Explained(either_era=shared))
    return server


YOUNG_COLLECTION_AFTER = 10_000
"""Objects made (net of those freed) between two collections of the youngest generation while serving; Python's
default is 700."""


def tune_collector() -> None:
    """Set the garbage collector for serving: what the start made (the modules, the specs, the tools' schemas and
    listing, the server) is frozen, out of its walks, as it lives as long as the process; and the youngest objects
    are collected every ``YOUNG_COLLECTION_AFTER`` objects made instead of every 700, so that the thousands a burst
    of calls keeps alive at once are not walked again and again, with every call waiting.

    1,000 calls at once over stdio, saving off, in four pairs against a bare server: by default the collector
    walked about 500 times a run (45 of them the middle generation too, 3 or 4 everything), 0.29-0.40 s in all and
    the longest walk 0.11-0.18 s; with the start frozen, 0.21-0.26 s; tuned as here, 34 walks of the youngest alone,
    0.05-0.06 s, the longest 7 ms. Wall time 1.28x-1.31x the bare server's against 1.31x-1.45x, peak memory the same.
    What it costs over a long session: 20 waves of 1,000 calls in one, saving off, peaked at 112-116 MiB against 102
    (cyclic garbage waits longer for the older generations' walks, and levels off), and a walk of the middle
    generation, now rare, takes up to 65-110 ms against 15-20; the collector's time in all is about a tenth.
    Only a process that serves does this: what a test builds and drops is collected as ever. No collection comes
    first (it would lengthen every start): the few hundred objects a start leaves unreachable stay, frozen."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, 20, 10)


class _ListedOnce:
    """Answers ``tools/list`` with the result the SDK made of it the first time, for each protocol version: the list
    never changes while the server runs, and making it (validating and dumping 22 KB of schemas twice) is most of a
    listing's cost, which every client of an HTTP server pays at once when many connect together.

    Only a listing the SDK would answer itself is answered so: on a connection past its handshake (or on a protocol
    that has none), with valid params and no cursor; any other goes the SDK's way, to be answered or refused there.
    """

    def __init__(self) -> None:
        self._made: dict[str, dict[str, Any]] = {}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/list" or not _plain_listing(ctx):
            return await call_next(ctx)
        made = self._made.get(ctx.protocol_version)
        if made is None:
            result = await call_next(ctx)
            if not isinstance(result, dict):
                return result
            made = self._made[ctx.protocol_version] = result
        # Shared by every answer and read-only: each gets a top level, a list of tools and a _meta of its own.
        answer = dict(made)
        if isinstance(tools := made.get("tools"), list):
            answer["tools"] = list(cast(list[Any], tools))
        if isinstance(meta := made.get("_meta"), dict):
            answer["_meta"] = dict(cast(dict[str, Any], meta))
        return answer


def _plain_listing(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether a tools/list is one the SDK answers with the whole list: its client known (by its handshake, or by the
    capabilities a 2026-07-28 request carries), its params valid, no cursor."""
    if ctx.session.client_params is None and ctx.session.client_capabilities is None:
        return False
    params = ctx.params or {}
    if any(key != "_meta" for key in params):
        return False
    try:
        validate_client_request("tools/list", ctx.protocol_version, params)
        types.PaginatedRequestParams.model_validate(params, by_name=False)
    except (ValueError, KeyError):  # pydantic's ValidationError is a ValueError; KeyError: a version it does not know
        return False
    return True


class _QuestionState(RequestStateBoundary):
    """The SDK's request-state boundary; a state it refuses on a tool call (expired after its 10 minutes, made for
    another call, altered, or sealed by another process with keys of its own) is answered as a tool error an agent
    can act on, rather than a protocol error."""

    def __init__(
        self, security: RequestStateSecurity, *, default_audience: str, unshared_keys: bool, shared: bool
    ) -> None:
        super().__init__(security, default_audience=default_audience)
        self._unshared_keys = unshared_keys
        """Whether this process seals with keys of its own while serving HTTP, where another may get the answer."""
        self._shared = shared
        """Whether it serves HTTP, where a state is bound to the token (the owner) it was asked for."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        try:
            return await super().__call__(ctx, call_next)
        except MCPError as exc:
            data: object = exc.data
            reason = cast(dict[str, object], data).get("reason") if isinstance(data, dict) else None
            if ctx.method != "tools/call" or reason != "invalid_request_state":
                raise
            from ideogram_mcp.tools import results

            elsewhere = (
                f" If it keeps happening, the question was put by another process or machine serving this address:"
                f" have the server's operator give every one the same {ENV.state_keys} (ideogram-mcp http does so"
                " for its own workers only)."
                if self._unshared_keys
                else ""
            )
            token = " for another token (another client or user)," if self._shared else ""
            return results.error(
                "The answers this call carries can no longer be used: the question was asked more than 10 minutes "
                f"ago, for other arguments,{token} or by another server process, so nothing was sent or charged. Call "
                "again: what needs asking (the user's approval of a spend, the client's folders) is asked again."
                f"{elsewhere}",
                {"kind": "question_expired"},
            )


def _state_security(settings: Settings) -> RequestStateSecurity:
    """The keys that seal a question's state: the settings' ring (shared by every process serving one address),
    else one made for this process."""
    if settings.state_keys:
        return RequestStateSecurity(keys=[key.get_secret_value() for key in settings.state_keys])
    return RequestStateSecurity.ephemeral()


@functools.cache
def _entries() -> dict[str, ToolEntry]:
    """Every tool, built from its model's spec, by name: the specs, the tools' schemas and output models load here,
    at the first call (or the first start after a change, to derive the listing)."""
    from ideogram_mcp.specs import models_of
    from ideogram_mcp.tools import background, catalog, cutout, edit, generate, generations, reframe, remix

    generating = models_of("generate_image")  # Ideogram 3.0 (the default), 4.0
    return {
        e.tool.name: e
        for e in (
            generate.entry(generating),
            remix.entry(*models_of("remix_image")),
            edit.entry(*models_of("edit_image")),
            reframe.entry(*models_of("reframe_image")),
            background.entry(*models_of("replace_background")),
            cutout.entry(*models_of("remove_background")),
            generations.get_generation_entry(),
            generations.list_generations_entry(),
            catalog.list_sizes_entry(generating),
            catalog.list_style_presets_entry(generating),
        )
    }


def _derived() -> listing.Listing:
    """What a client reads first, derived from the specs and the prompt templates (``listing`` keeps it)."""
    from ideogram_mcp.specs import load_spec

    tools = tuple(entry.tool for entry in _entries().values())
    return listing.Listing(
        tools, _instructions(load_spec(), list(prompts.load_prompts()), load_spec(_NEWEST), load_spec(_CUTOUT))
    )


def _load_for_calls(settings: Settings) -> None:
    """Import what a tool call uses (the tools, the tasks' machinery, the journal, Pillow), and make the outgoing
    connections' TLS context: ~0.3 s that a server for many clients spends at its start rather than in its first
    calls, which would all wait for it at once."""
    import importlib

    _entries()
    journal = "postgres" if settings.shared_database is not None else "sqlite"
    for name in (*_CALL_MODULES, f"ideogram_mcp.journal.{journal}"):
        importlib.import_module(name)
    from ideogram_mcp.runware import connections

    try:  # the system's certificate authorities read (~20 ms) before the first calls, not in them
        connections.tls_context()
    except ConfigurationError as exc:  # said now, and by each call that needs them (nothing is sent)
        logger.warning("%s", exc)


_CALL_MODULES = (
    "ideogram_mcp.tools.running",
    "ideogram_mcp.tasks.life",
    "ideogram_mcp.tasks.services",
    "ideogram_mcp.images.local",
    "ideogram_mcp.images.previews",
    "PIL.Image",
    "PIL.JpegImagePlugin",
)


_NEWEST = "ideogram:4@0"
"""Ideogram 4.0, which generate_image runs when its model argument names it."""
_CUTOUT = "ideogram:remove-background@0"
"""The model remove_background runs."""


def _instructions(spec: ModelSpec, prompt_names: list[str], newest: ModelSpec, cutout: ModelSpec) -> str:
    def by_speed(spec: ModelSpec) -> str:
        return "/".join(f"${price:.2f}" for price in (spec.model.prices or {}).values())

    return (
        f"Make and edit images with {spec.model.name} on Runware. It renders text well: put the exact words to "
        "show in double quotes inside positivePrompt and say where they go. generate_image makes images; "
        "edit_image repaints a region (fix a word), remix_image restyles, reframe_image changes the shape, "
        f"replace_background keeps the subject, remove_background cuts it out (${cutout.model.price_per_image:.2f}); "
        "they take an image as a saved path, an image UUID or a URL, and "
        "their shared settings are named as in generate_image. Shapes: aspectRatio or a pair from list_sizes; "
        "looks: list_style_presets. Images are saved as files (paths in the result) and shown as previews. "
        f"Each image costs {by_speed(spec)} by renderingSpeed ({'/'.join(spec.model.prices or {})}). "
        f"generate_image with model {newest.model.choice} "
        f"runs {newest.model.name}: {newest.model.price_tier} sizes, {by_speed(newest)} by renderingSpeed, no style "
        "presets; "
        "its structuredPrompt (instead of positivePrompt) describes the scene as data, elements placed by bbox, exact "
        "words in text elements, and each result returns the one used, to change and send back. "
        "A slow generation answers pending: fetch it "
        "with get_generation, never start it again. Bad arguments are refused before anything is charged. "
        f"The prompts {', '.join(prompt_names)} show how to write prompts that render well."
    )
