"""The one place that shapes tool results: text, previews, links and the structured output (whose models are in
``published``), and errors as an agent reads them. Used at call time only: a start loads none of it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mcp_types as types
from pydantic import BaseModel, SecretStr

from ideogram_mcp import arguments, files
from ideogram_mcp.images import previews
from ideogram_mcp.images.formats import image_format
from ideogram_mcp.runware import DEFAULT_BASE_URL, errors
from ideogram_mcp.runware.answers import REFUSALS
from ideogram_mcp.settings import ENV, redact
from ideogram_mcp.specs import load_specs
from ideogram_mcp.text import excerpt, joined, sentence
from ideogram_mcp.tools import ERROR_META
from ideogram_mcp.tools.published import GenerateImageOutput, Said


def images(
    output: GenerateImageOutput,
    headline: str,
    notes: Sequence[str | None],
    uris: Sequence[str | None],
    shown: Sequence[previews.Preview],
    footer: str = "",
    downloads: Sequence[str | None] = (),
    download_seconds: int = 0,
) -> types.CallToolResult:
    """The result of a call that made images: paths (URLs where nothing was saved), previews, one link each.

    Each fact is said once per form: the text names files, the links point at them, the structured
    output carries everything as data. ``notes`` says, per image, why it has no file (a sentence); ``uris`` are the
    saved images' resource URIs; ``downloads`` are links a person can open to the saved files (a bucket's signed URLs,
    valid ``download_seconds``), each given beside its image's resource link.
    """
    lines = [headline]
    links: list[types.ContentBlock] = []
    for n, (image, note, saved) in enumerate(zip(output.images, notes, uris, strict=True), 1):
        flag = " NSFW flagged" if image.nsfw_content else ""
        seed = f" (seed {image.seed})" if image.seed is not None else ""  # a cut-out has none
        fmt = image_format(image.format)
        if image.path is not None and saved is None:
            # Saved where this connection's resources do not serve (an output folder since moved, or its recipe
            # deleted): named, not linked.
            lines.append(f"{n}. {image.path}{seed}{flag}{f' {note}' if note else ''}")
            continue
        if image.path is not None and saved is not None:
            lines.append(f"{n}. {image.path}{seed}{flag}")
            uri, name = saved, Path(image.path).name
        else:
            lines.append(f"{n}. {image.image_url}{seed}{flag}{f' {note}' if note else ''}")
            uri, name = image.image_url, f"{image.image_uuid}.{fmt.extension}"
        title = f"Image {n}, seed {image.seed}" if image.seed is not None else f"Image {n}"
        links.append(types.ResourceLink(uri=uri, name=name, title=title, mime_type=fmt.mime_type))
        if (download := downloads[n - 1] if n <= len(downloads) else None) and image.path is not None:
            title = f"Download image {n} (the link works for {lasting(download_seconds)})"
            links.append(types.ResourceLink(uri=download, name=name, title=title, mime_type=fmt.mime_type))
    if output.errors:
        lines.append(f"{len(output.errors)} requested image(s) failed: {listed(output.errors)}.")
    if output.folder is not None and any(image.path for image in output.images):
        # A saved image has a note only when its recipe was deleted, which its line says.
        whole = not any(note for image, note in zip(output.images, notes, strict=True) if image.path)
        recipes = ", each with a .json recipe beside it" if whole else ""
        lines.append(f"Saved in {files.folder_named(output.folder)}{recipes}.")
    if any(downloads):
        lines.append(
            f"Each saved image also has a download link a person can open, for {lasting(download_seconds)}; after "
            "that, read it as a resource (its ideogram:// link), which does not expire."
        )
    if any(image.path is None for image in output.images):
        lines.append("Image URLs expire: download what should be kept.")
    pictures: list[types.ContentBlock] = []
    singles = [preview.shows[0] for preview in shown if len(preview.shows) == 1]
    if singles and singles != list(range(1, len(singles) + 1)):  # one missing: the rest are not images 1, 2, ...
        lines.append(
            f"Previews, in order, of image{'s' if len(singles) > 1 else ''} {joined([str(n) for n in singles])}."
        )
    for preview in shown:
        if len(preview.shows) > 1:
            lines.append(f"Preview: one contact sheet, tiles numbered {', '.join(map(str, preview.shows))}.")
        pictures.append(types.ImageContent(data=preview.data, mime_type=previews.MIME_TYPE))
    if footer:
        lines.append(footer)
    return ok(output, "\n".join(lines), [*pictures, *links])


def listed(failures: Sequence[str]) -> str:
    """Failures in one sentence, each without the full stop Runware's messages end in (the sentence has its own),
    and one said of several images once, with how many (``x3``)."""
    counted = Counter(failure.removesuffix(".") if not failure.endswith("...") else failure for failure in failures)
    return "; ".join(f"{failure} (x{n})" if n > 1 else failure for failure, n in counted.items())


def lasting(seconds: int) -> str:
    """A link's lifetime in words: ``1 hour``, ``90 minutes``, ``2 days``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def ok(output: BaseModel, text: str, extra: list[types.ContentBlock] | None = None) -> types.CallToolResult:
    """A successful result: the text for every client, extra blocks, and the structured output (with the text as its
    ``message`` where the output is ``Said``: a host may give the model that alone)."""
    content: list[types.ContentBlock] = [types.TextContent(text=text), *(extra or [])]
    if isinstance(output, Said) and output.message is None:
        output = output.model_copy(update={"message": text})
    return types.CallToolResult(content=content, structured_content=output.model_dump(mode="json", exclude_none=True))


def also(result: types.CallToolResult, text: str) -> None:
    """Add ``text`` to a successful result: a block of its own, and the end of its ``message`` (what a host that
    gives the model the structured output alone passes on)."""
    result.content.append(types.TextContent(text=text))
    said = result.structured_content
    if said is not None and isinstance(message := said.get("message"), str):
        said["message"] = f"{message}\n{text}"


def error(text: str, details: dict[str, Any] | None = None) -> types.CallToolResult:
    """A tool error: text a model can act on, and the same as data under ``_meta``."""
    # No structuredContent: clients such as the TypeScript SDK check it against the tool's output
    # schema even on errors, and would turn this tool error into a protocol error.
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        is_error=True,
        _meta={ERROR_META: details or {"kind": "internal"}},
    )


def invalid(problems: Sequence[arguments.Problem], *, generating: bool = True) -> types.CallToolResult:
    """A tool error listing every problem of the arguments, each naming its argument."""
    return error(arguments.InvalidArgumentsError(list(problems)).text(generating=generating), refused(problems))


def refused(problems: Sequence[arguments.Problem]) -> dict[str, Any]:
    """Arguments refused, as data: the kind, and each problem naming its argument."""
    return {"kind": "invalid_arguments", "problems": [{"argument": p.argument, "message": p.message} for p in problems]}


UPSTREAM_ERRORS_SHOWN = 5
"""How many of Runware's errors an answer shows; the count of the rest is given."""


def users_to_fix(exc: errors.RunwareError) -> bool:
    """Whether a refusal has a fix of the user's, which waiting never brings: the key, the credit, the permission, or
    an address that is not Runware's API."""
    return isinstance(exc, REFUSALS) or _not_runwares(exc)


def _not_runwares(exc: errors.RunwareError) -> bool:
    """A 404 saying nothing of Runware's: an address that is not its API, answering bare or with a web framework's
    own body (Spring's ``{"error": "Not Found", ...}``, the status's own words and no code). Runware's own say what is
    not found (``taskFailedOrNotFound``; "Model not found: ..." with no code)."""
    return isinstance(exc, errors.NotFoundError) and all(
        detail.code == errors.NO_CODE and detail.message.strip().rstrip(".").lower() == "not found"
        for detail in exc.details
    )


def describe(
    exc: errors.RunwareError, secret: SecretStr | None = None, *, polled: bool = False
) -> tuple[str, dict[str, Any]]:
    """What to tell an agent about a failed call, and the same as data: what happened and what to do in our words,
    then what Runware said, every error of it once. ``polled``: Runware refused to be asked how a task stands, where
    only a refused key, credit or permission has a fix of its own (no argument of the agent's was sent)."""
    details: dict[str, Any] = {
        "kind": "runware_error",
        "retryable": exc.retryable,
        "mayHaveBeenCharged": exc.may_have_run,
    }
    said = ""
    if isinstance(exc, errors.RunwareAPIError):
        shown = [_upstream(d, secret) for d in exc.details[:UPSTREAM_ERRORS_SHOWN]]
        details |= {"status": exc.status, "errors": shown}
        more = len(exc.details) - len(shown)
        if shown:
            said = "Runware said: " + "; ".join(  # "unknown": the client's word where Runware gave no code
                f"{e['message']} ({e['code']})" if e["code"] != "unknown" else e["message"] for e in shown
            )
            said = sentence(said + (f"; and {more} more" if more else ""))
    match exc:
        case errors.RunwareAPIError() if polled and not users_to_fix(exc):
            text = f"Runware refused to say how the task stands (HTTP {exc.status}); nothing says it failed."
        case errors.AuthenticationError():
            text = f"Runware refused the API key. Check {ENV.runware_api_key} in this server's environment."
        case errors.InsufficientCreditsError() if polled:  # the task was sent: it is fetched, never sent again
            text = (
                "The Runware account has too little credit, so Runware refused to say how the task stands. Top it up."
            )
        case errors.InsufficientCreditsError():
            text = "The Runware account has too little credit for this. Top it up, then try again."
        case errors.PermissionDeniedError():
            text = "This Runware API key is not allowed to run this model or task."
        case errors.NotFoundError() if _not_runwares(exc):
            text = (
                f"The address this server sends to answered HTTP 404 with no Runware error: have the user check "
                f"{ENV.runware_base_url} (Runware's own is {DEFAULT_BASE_URL}, the default when it is unset)."
            )
        case errors.NotFoundError():
            text = "Runware does not know this model or task; list_generations shows the tasks this server sent."
        case errors.ContentRejectedError():
            text = "Runware's safety filter refused the prompt or the image. Rephrase the prompt."
        case errors.TaskConflictError():
            text = "Runware already has a task with this taskUUID; get_generation fetches its images."
        case errors.InvalidRequestError():
            named = _arguments_named(exc.details, secret)
            where = f" ({'argument' if len(named) == 1 else 'arguments'} {', '.join(named)})" if named else ""
            text = f"Runware refused the request{where}. Change the arguments it names and try again."
        case errors.RateLimitError():
            text = "Runware is rate-limiting this key. Wait a few seconds, then try again."
        case errors.ServerError():
            text = "Runware failed on its side. Try again shortly; renderingSpeed TURBO finishes faster."
        case errors.RunwareAPIError():
            text = f"Runware refused the call with HTTP {exc.status}; nothing says whether it ran."
        case errors.RunwareConnectionError() if not exc.may_have_run and exc.call_waited:
            text = (
                f"{sentence(str(exc))} If the network is fine, the wait is too short: have the user raise "
                f"{ENV.wait_seconds}, then try again."
            )
        case errors.RunwareConnectionError() if not exc.may_have_run:
            proxy = f", the proxy ({exc.proxy})," if exc.proxy else ""
            text = f"{sentence(str(exc))} Check the network{proxy} or {ENV.runware_base_url}, then try again."
        case errors.RunwareConnectionError():
            text = (
                f"{sentence(str(exc))} The task may still run and be charged: list_generations shows it; "
                "wait before trying again."
            )
        case _:
            text = f"Runware's answer could not be used: {sentence(str(exc))}"
    return " ".join(part for part in (text, said) if part), details


def _arguments_named(details: Sequence[errors.ErrorDetail], secret: SecretStr | None) -> list[str]:
    """The arguments Runware's errors name, each once: by the name an agent gives it, where the task's field
    is one of a tool's arguments (``providerSettings.ideogram.styleType`` is ``styleType``), else as Runware
    wrote it (the key blanked before it is cut: a cut key is no longer found to blank)."""
    by_wire = {p.wire: p.name for spec in load_specs().values() for p in spec.parameters.values() if p.exposed}
    named = [by_wire.get(path, path) for detail in details for path in detail.parameter]
    return [excerpt(redact(name, secret), 80) for name in dict.fromkeys(named)][:UPSTREAM_ERRORS_SHOWN]


def _upstream(detail: errors.ErrorDetail, secret: SecretStr | None) -> dict[str, Any]:
    """One of Runware's errors as an agent is shown it: its code, a short excerpt of its message, its parameters.
    The key is blanked before the excerpt is cut, so that no cut can leave a piece of it."""
    shown: dict[str, Any] = {
        "code": excerpt(redact(detail.code, secret), 80),
        "message": excerpt(" ".join(redact(detail.message, secret).split()).rstrip(".")),
    }
    if detail.parameter:
        shown["parameter"] = [excerpt(redact(name, secret), 80) for name in detail.parameter]
    return shown
