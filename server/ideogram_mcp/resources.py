"""Saved images as MCP resources: listed newest first, read whole as blobs, one template for them;
and ``completion/complete`` for the names that template and the prompt templates take.

A client that cannot read the server's disk (a remote one) still gets every full image this way.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
import mcp_types as types
from mcp.shared.exceptions import MCPError

from ideogram_mcp import app, cursors
from ideogram_mcp.prompts import load_prompts
from ideogram_mcp.references import encoded
from ideogram_mcp.refusals import whole
from ideogram_mcp.tools import Context, owner, places, places_without_roots
from ideogram_mcp.tools.questions import Questions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ideogram_mcp import files
    from ideogram_mcp.images import SavedImage
    from ideogram_mcp.images.formats import ImageFormat

PAGE = 50
"""Resources per page of resources/list."""


async def _galleries(ctx: Context, where: files.Places | None = None) -> tuple[files.Places, list[Path]]:
    """This connection's places (``where``, when known), and every folder its images are saved in: the output
    folder and those calls chose (``outputDir``), as the journal records them, within this connection's folders. On
    stdio every client of a user shares one journal: a session in one project lists only the folders it may read,
    not another project's."""
    where = where or await places(ctx)
    recorded = await ctx.lifespan_context.services.journal.folders(owner(ctx))

    def existing() -> list[Path]:
        found = [where.output, *(folder.resolve() for folder in recorded)]
        root = where.root
        inside = [
            folder
            for folder in found
            if folder == where.output or (where.may_read(folder) if root is None else folder.is_relative_to(root))
        ]
        return list(dict.fromkeys(inside))  # a folder since removed lists nothing (the store looks in it)

    return where, await anyio.to_thread.run_sync(existing)


async def _saved(ctx: Context, folders: list[Path]) -> list[SavedImage]:
    """The images saved in ``folders``; a store that cannot be read right now (a bucket not answering) is said to
    be so, never taken for one with no images."""
    try:
        return await anyio.to_thread.run_sync(ctx.lifespan_context.services.store.saved, folders)
    except LookupError as exc:
        raise MCPError(types.INTERNAL_ERROR, str(exc)) from None


async def list_resources(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
    """The images saved for this connection, newest first, a page at a time. A cursor names the last image listed
    (when it was made, where it is), so that images saved or removed between pages neither repeat nor go missing."""
    where, folders = await _galleries(ctx)
    cursor = params.cursor if params is not None else None
    after = _after(cursor) if cursor is not None else None
    saved = await _saved(ctx, folders)
    placed = sorted(((_place(where, image), image) for image in saved), key=lambda pair: pair[0], reverse=True)
    ordered = [(place, image) for place, image in placed if after is None or place < after]
    page = [image for _, image in ordered[:PAGE]]
    following = cursors.cursor(ordered[PAGE - 1][0]) if len(ordered) > PAGE else None
    return types.ListResourcesResult(
        resources=[
            types.Resource(
                uri=uri,
                name=image.path.name,
                title=image.path.stem,
                description=image.description,
                mime_type=image.format.mime_type,
                size=image.size,
            )
            for image in page
            if (uri := where.uri(image.path)) is not None
        ],
        next_cursor=following,
    )


def _place(where: files.Places, image: SavedImage) -> tuple[str, str]:
    """Where an image stands in the listing, newest first: when it was made, then its path as the connection is told
    it (unique; over HTTP relative to its folder, so that a cursor tells no path of the server)."""
    return image.created, where.shown(image.path)


def _after(cursor: str) -> tuple[str, str]:
    """The place a cursor this server gave names; an ``INVALID_PARAMS`` error for anything else."""
    match cursors.place(cursor):
        case [str(made), str(path)]:
            return made, path
        case _:
            raise MCPError(types.INVALID_PARAMS, f"Not a cursor this server gave: {cursor[:40]!r}. Start without one.")


async def list_resource_templates(
    ctx: Context, params: types.PaginatedRequestParams | None
) -> types.ListResourceTemplatesResult:
    """One template: any image saved in this connection's output folder, by its file name."""
    whole(params)
    where = await places(ctx)
    return types.ListResourceTemplatesResult(
        resource_templates=[
            types.ResourceTemplate(
                uri_template=where.template(),
                name="saved-image",
                title="Saved image",
                description="An image this server saved in its output folder, by file name (see the tools' results).",
            )
        ]
    )


async def read_resource(
    ctx: Context, params: types.ReadResourceRequestParams
) -> types.ReadResourceResult | types.InputRequiredResult:
    """A saved image, whole, as a base64 blob with its MIME type; or the gallery App's page.

    An image is looked for in the folders known now (those resources/list shows), then in those a connection has
    without roots (where a list made before its roots were known looked), then, on 2026-07-28, under the client's
    roots, asked for where not yet known (resources/read may ask, as a tool call may; resources/list may not). An
    image found but unreadable is said so at once."""
    from ideogram_mcp.images import NotSavedError

    if params.uri == app.URI:
        return types.ReadResourceResult(contents=[app.contents()])
    questions = Questions(ctx, params)

    looks: list[Callable[[], Awaitable[files.Places | None]]] = [  # each worked out if those before lack it
        lambda: places(ctx),
        lambda: places_without_roots(ctx),
        lambda: places(ctx, questions),
    ]
    tried: list[files.Places] = []
    for look in looks:
        if (where := await look()) is None:
            return questions.asking()
        if where in tried:
            continue
        tried.append(where)
        try:
            data, found = await _read(ctx, params.uri, where)
            break
        except NotSavedError:
            continue
        except LookupError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
    else:
        raise MCPError(types.INVALID_PARAMS, str(NotSavedError(params.uri)))
    blob = encoded(data)
    return types.ReadResourceResult(
        contents=[types.BlobResourceContents(uri=params.uri, mime_type=found.mime_type, blob=blob)]
    )


async def _read(ctx: Context, uri: str, here: files.Places) -> tuple[bytes, ImageFormat]:
    """The saved image ``uri`` names among ``here``'s folders; ``LookupError`` saying why not."""
    where, folders = await _galleries(ctx, here)
    path = where.located(uri)
    return await anyio.to_thread.run_sync(ctx.lifespan_context.services.store.read, path, folders, uri)


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFD", text).casefold())


async def complete(ctx: Context, params: types.CompleteRequestParams) -> types.CompleteResult:
    """Suggestions for an argument: saved image names, or the listed ratios, starting with what was typed."""
    typed = _folded(params.argument.value)
    kind: str | None = None
    model: str | None = None
    templated: files.Places | None = None  # the folder a resource template names
    asked = params.argument.name
    if isinstance(params.ref, types.PromptReference):
        prompts = load_prompts()
        if (template := prompts.get(params.ref.name)) is None:
            known = ", ".join(prompts)
            raise MCPError(
                types.INVALID_PARAMS, f"No prompt is named {params.ref.name[:60]!r}: the prompts are {known}."
            )
        wanted = next((a for a in template.arguments if a.name == asked), None)
        if wanted is None:
            takes = ", ".join(a.name for a in template.arguments) or "none"
            said = f"The prompt {template.name} has no argument {asked[:60]!r}: its arguments are {takes}."
            raise MCPError(types.INVALID_PARAMS, said)
        kind, model = wanted.suggest, wanted.model
    else:
        # The template as given now, or as given before the client's roots were known (a 2026-07-28 client lists the
        # templates before a call asks for its roots): it had been refused once a call knew them.
        given = [await places(ctx), await places_without_roots(ctx)]
        templated = next((where for where in given if where.template() == params.ref.uri), None)
        shown = given[0].template()
        if templated is None:
            said = f"No resource template of this server is {params.ref.uri[:120]!r}: its one template is {shown}."
            raise MCPError(types.INVALID_PARAMS, said)
        if asked != "fileName":
            said = f"The resource template {shown} has no argument {asked[:60]!r}: its one argument is fileName."
            raise MCPError(types.INVALID_PARAMS, said)
        kind = "saved images"
    options: list[str] = []
    if kind == "ratios":
        from ideogram_mcp.sizes import ratios  # with the specs, loaded when first asked for
        from ideogram_mcp.specs import load_spec

        options = ratios((load_spec(model) if model else load_spec()).sizes)
    elif kind == "saved images":
        where, folders = await _galleries(ctx, templated)
        paths = [image.path for image in await _saved(ctx, folders)]
        if isinstance(params.ref, types.PromptReference):  # as a tool reads it: relative to the output folder
            output = where.output
            named = (p.relative_to(output).as_posix() if p.is_relative_to(output) else where.shown(p) for p in paths)
            options = list(dict.fromkeys(named))
        else:  # the template names the images of the output folder itself
            options = [path.name for path in paths if path.parent == where.output]
    # What was typed begins the suggestion, or its file name (``sub/logo.jpg`` for "lo").
    # Unicode's caseless match: "CAFÉ" (or é typed as e and its accent) finds café.jpg, "strasse" straße.jpg.
    matching = [o for o in options if (f := _folded(o)).startswith(typed) or f.rpartition("/")[2].startswith(typed)]
    return types.CompleteResult(
        completion=types.Completion(values=matching[:100], total=len(matching), has_more=len(matching) > 100)
    )
