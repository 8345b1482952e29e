"""The MCP tools, one module each: arguments in, a result out (text, previews, links, structure).

Tools know MCP: the client's folders and questions, content types, and what an agent should read. They decide
nothing about a task: ``tasks`` runs it and returns its outcome, which ``wording`` says.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast, overload

import anyio
import mcp_types as types
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from ideogram_mcp import logs
from ideogram_mcp.tools.questions import ROOTS, Questions

if TYPE_CHECKING:  # what a call uses; a start loads none of it (tests/test_start.py)
    from ideogram_mcp import files
    from ideogram_mcp.notices import OwnedListen
    from ideogram_mcp.settings import Settings
    from ideogram_mcp.tasks.job import Report
    from ideogram_mcp.tasks.services import Services

logger = logs.logger(__name__)

ERROR_META = "ideogram-mcp/error"
"""Key in a tool error's ``_meta`` holding the error as data (kind, Runware's code, retryable ...)."""
ROOTS_TIMEOUT = 5.0
"""Seconds to wait for a client's answer to roots/list before saving elsewhere."""


class AppState:
    """What the tools of one server need: the settings, the tasks' services, and what MCP adds (the bus of 2026-07-28
    listen streams, what is known of the client's folders)."""

    def __init__(
        self,
        settings: Settings,
        services: Callable[[], Services],
        listening: OwnedListen,
        *,
        project: Path | None = None,
        shared: bool = False,
    ) -> None:
        self.settings = settings
        self._make_services = services
        self._services: Services | None = None
        self.listening = listening
        """2026-07-28 listen streams, by owner: told when images are saved (the resource list changed)."""
        self.project = project
        """The project folder a client started this server in, where images go when nothing else says."""
        self.shared = shared
        """Whether this process serves many clients (HTTP): then nothing learnt of one connection is kept."""
        self.roots: list[str] | None = None
        """The client's roots once a 2026-07-28 client answered for them, on a server of one connection (stdio)."""
        self.folders: dict[tuple[object, ...], tuple[float, files.Places]] = {}
        """Folders worked out lately (resolving them is system calls), by what they were worked out from."""

    @property
    def services(self) -> Services:
        """The tasks' services, made at the first call that needs them: a start (what a client waits for) loads
        none of the tasks' machinery (Runware, the journal, the image store)."""
        if self._services is None:
            self._services = self._make_services()
        return self._services

    async def aclose(self) -> None:
        """End the services, if a call made them."""
        if self._services is not None:
            await self._services.aclose()


Context = ServerRequestContext[AppState]
Handler = Callable[[Context, types.CallToolRequestParams], Awaitable[types.CallToolResult | types.InputRequiredResult]]


@dataclass(frozen=True, slots=True)
class ToolEntry:
    """One tool as published in ``tools/list``, and the function that runs it."""

    tool: types.Tool
    run: Handler


async def client_roots(ctx: Context, questions: Questions | None = None) -> list[str] | None:
    """The client's roots, when it offers them and can be asked; else none. None while they are being asked for.

    On 2025-11-25 with a channel back (stdio) they are asked for at once. On 2026-07-28 they are a question of the
    call (``questions``), answered in its next round; the server remembers the answer, as roots belong to the
    connection. A server for many clients (HTTP) never asks; a client that offers no roots or does not answer in
    time gets the next choice of folder too.
    """
    state = ctx.lifespan_context
    capabilities = ctx.session.client_capabilities
    if state.shared or capabilities is None or capabilities.roots is None:
        # A server for many clients (HTTP) keeps nothing of a connection: roots learnt in one call's round would
        # choose a folder that the client's next requests (resources, get_generation) could not know. Its clients
        # all get the one folder, on either protocol.
        return []
    if ctx.session.can_send_request:
        try:
            with anyio.fail_after(ROOTS_TIMEOUT):
                answer = await ctx.session.send_request(types.ListRootsRequest(), types.ListRootsResult)
        except (MCPError, NoBackChannelError, TimeoutError, ValidationError) as exc:
            logger.info("the client's roots could not be read (%s); saving elsewhere", type(exc).__name__)
            return []
        return [str(root.uri) for root in answer.roots]
    if state.roots is not None:
        return state.roots
    if questions is None or not questions.modern:
        return []
    answered = questions.answer(ROOTS)
    if answered is not None:  # anything but a list of roots counts as none: the call goes on without
        roots = [str(root.uri) for root in answered.roots] if isinstance(answered, types.ListRootsResult) else []
        questions.keep(ROOTS, roots)
    elif isinstance(learnt := questions.learnt(ROOTS), list):
        roots = [str(root) for root in cast(list[object], learnt)]
    else:
        questions.ask(ROOTS, types.ListRootsRequest())
        return None
    state.roots = roots
    return roots


def owner(ctx: Context) -> str:
    """Whose tasks, spending and images a request belongs to: its bearer token's owner over HTTP, else ""."""
    token = get_access_token()
    return token.client_id if token is not None else ""


@overload
async def places(ctx: Context) -> files.Places: ...
@overload
async def places(ctx: Context, questions: Questions) -> files.Places | None: ...
async def places(ctx: Context, questions: Questions | None = None) -> files.Places | None:
    """This request's folders: where images are saved and which folders local inputs may come from; None while the
    client's roots are being asked for (the call then answers with its questions).

    A token's images are kept in a folder of its own, apart from every other token's; the client's
    roots, which name folders on the client's machine, are not asked for then.

    The first time a process works out an owner's folders, it takes up that owner's tasks an earlier process left
    unfinished (``fetch.resume_cut_short``): every call that saves or fetches images comes here first.
    """
    from ideogram_mcp.tasks import fetch

    found = await _places(ctx, questions)
    if found is not None:
        fetch.resume_cut_short(ctx.lifespan_context.services, owner(ctx), found, saved_later(ctx))
    return found


def saved_later(ctx: Context) -> Callable[[], Awaitable[None]]:
    """How background work announces images it saved for this request's owner, after the request may be over: as
    ``announce_new_images`` does, before 2026-07-28 to the session where it still lives (a notification for the
    connection), and on the owner's listen streams. It keeps the session and the listeners, not the request (its
    arguments may hold megabytes of inline images, and a task may be seen through for a day)."""
    who, session, listening = owner(ctx), ctx.session, ctx.lifespan_context.listening
    legacy = ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS

    async def saved() -> None:
        if legacy:
            with contextlib.suppress(Exception):  # the request that started it may be over (HTTP): listeners hear
                await session.send_resource_list_changed()
        await listening.announce(who)

    return saved


async def places_without_roots(ctx: Context) -> files.Places:
    """This request's folders as they are without the client's roots (a token's own, which never has any)."""
    if owner(ctx):
        return await places(ctx)
    state = ctx.lifespan_context
    return await _worked_out(state, ("roots",), lambda: _client_places(state, []))


async def _places(ctx: Context, questions: Questions | None) -> files.Places | None:
    from ideogram_mcp import files  # the folders' rules, loaded at the first call that needs them

    state = ctx.lifespan_context
    settings = state.settings
    who = owner(ctx)
    if who:
        shared = files.output_folder(settings.output_dir)

        def token_places() -> files.Places:
            own = files.places(shared / who, [], settings.allowed_dirs)
            # The allowed folders may hold the shared output folder: other tokens' images stay theirs.
            return dataclasses.replace(own, withheld=(shared.resolve(),), root=own.output)

        return await _worked_out(state, ("token", who), token_places)
    roots = await client_roots(ctx, questions)  # with a set folder too: the roots are folders inputs may come from
    if roots is None:
        return None
    return await _worked_out(state, ("roots", *roots), lambda: _client_places(state, roots))


def _client_places(state: AppState, roots: list[str]) -> files.Places:
    """A client's folders, with these roots (over HTTP, relative to the output folder)."""
    from ideogram_mcp import files

    settings = state.settings
    # Images kept in a bucket go under its root, the same on every machine: never a project's or a root's folder (a
    # stdio server started in a project had refused every call for it, naming the bucket as unreachable), and an
    # outputDir must lie under it, as under a folder the user set.
    in_bucket = settings.storage_url is not None and settings.output_dir is None
    found = files.places(
        files.default_output_dir() if in_bucket else settings.output_dir, roots, settings.allowed_dirs, state.project
    )
    if in_bucket:
        found = dataclasses.replace(found, source="bucket")
    return dataclasses.replace(found, root=found.output) if state.shared else found


FOLDERS_KEPT = 30.0
"""Seconds folders worked out for one client are used again before they are resolved anew (a folder made or linked
meanwhile is seen within that time)."""


async def _worked_out(state: AppState, key: tuple[object, ...], work: Callable[[], files.Places]) -> files.Places:
    """The folders ``work`` finds (off the event loop), or those it found for the same ``key`` lately: a busy client
    has them resolved once every ``FOLDERS_KEPT`` seconds, not at every call."""
    clock = state.services.clock
    kept = state.folders.get(key)
    if kept is not None and clock.monotonic() - kept[0] < FOLDERS_KEPT:
        return kept[1]
    found = await anyio.to_thread.run_sync(work)
    if len(state.folders) >= 1024:  # many tokens: forget the oldest first
        del state.folders[next(iter(state.folders))]
    state.folders[key] = (clock.monotonic(), found)
    return found


async def announce_new_images(ctx: Context) -> None:
    """Tell the client that the list of saved images changed, as its protocol version carries it: before 2026-07-28
    as a notification tied to the call, which reaches a stateless HTTP client on the call's own stream (one sent for
    the connection went nowhere there: no stream is open for it); on 2026-07-28 on the owner's listen streams."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        await ctx.session.send_notification(types.ResourceListChangedNotification(), related_request_id=ctx.request_id)
    await ctx.lifespan_context.listening.announce(owner(ctx))  # 2026-07-28 listen streams: the owner's alone


def reporter(ctx: Context) -> Report:
    """Progress as MCP carries it: notifications tied to the call (none when the client asked for none)."""

    async def report(done: float, total: float, message: str) -> None:
        await ctx.session.report_progress(done, total, message)

    return report
