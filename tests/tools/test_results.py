"""What an agent is told when Runware fails: our words once, then every error Runware sent, each once and short."""

from __future__ import annotations

from typing import Any

import pytest

from ideogram_mcp.runware import errors
from ideogram_mcp.runware.errors import ErrorDetail, api_error
from ideogram_mcp.text import UPSTREAM_SHOWN
from ideogram_mcp.tools.results import describe, lasting


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (
            api_error(400, [ErrorDetail("invalidParameter", "Invalid width.", ("width",))]),
            "Runware refused the request (argument width). Change the arguments it names and try again. "
            "Runware said: Invalid width (invalidParameter).",
        ),
        (  # each error's fields, by the names an agent gives them, once
            api_error(
                400,
                [
                    ErrorDetail("invalidParameter", "Bad style.", ("providerSettings.ideogram.styleType",)),
                    ErrorDetail("invalidParameter", "Bad mask.", ("inputs.maskImage", "safety.mode")),
                    ErrorDetail("invalidParameter", "Bad style again.", ("providerSettings.ideogram.styleType",)),
                ],
            ),
            "Runware refused the request (arguments styleType, mask, safety.mode). Change the arguments it names and "
            "try again. Runware said: Bad style (invalidParameter); Bad mask (invalidParameter); Bad style again "
            "(invalidParameter).",
        ),
        (
            api_error(418, [ErrorDetail("teapot", "Short and stout.")]),
            "Runware refused the call with HTTP 418; nothing says whether it ran. "
            "Runware said: Short and stout (teapot).",
        ),
        (
            api_error(404, [ErrorDetail("modelNotFound", "No such model.")]),
            "Runware does not know this model or task; list_generations shows the tasks this server sent. "
            "Runware said: No such model (modelNotFound).",
        ),
        (  # a 404 that is no Runware error: an address that is not Runware's API (it had blamed the model)
            api_error(404, []),
            "The address this server sends to answered HTTP 404 with no Runware error: have the user check "
            "RUNWARE_BASE_URL (Runware's own is https://api.runware.ai/v1, the default when it is unset).",
        ),
        (  # a bare-string error: no code, and none made up ("(unknown)" had been shown)
            api_error(402, [ErrorDetail("unknown", "Insufficient credits. Please top up.")]),
            "The Runware account has too little credit for this. Top it up, then try again. "
            "Runware said: Insufficient credits. Please top up.",
        ),
        (
            api_error(502, []),
            "Runware failed on its side. Try again shortly; renderingSpeed TURBO finishes faster.",
        ),
        (
            errors.RunwareTimeoutError("Runware at api.runware.ai did not answer within 30 s"),
            "Runware at api.runware.ai did not answer within 30 s. The task may still run and be charged: "
            "list_generations shows it; wait before trying again.",
        ),
        (
            errors.RunwareConnectionError("Could not connect to Runware at api.runware.ai", sent=False),
            "Could not connect to Runware at api.runware.ai. Check the network or RUNWARE_BASE_URL, then try again.",
        ),
        (  # the call's own wait ran out while connecting: it had been blamed on the network alone
            errors.RunwareConnectionError(
                "could not reach Runware at api.runware.ai within 0.01 s, all that was left of the call's wait; "
                "nothing was sent or charged",
                sent=False,
                call_waited=True,
            ),
            "Could not reach Runware at api.runware.ai within 0.01 s, all that was left of the call's wait; nothing "
            "was sent or charged. If the network is fine, the wait is too short: have the user raise "
            "IDEOGRAM_MCP_WAIT_SECONDS, then try again.",
        ),
        (
            errors.RunwareResponseError("Runware's answer is not a JSON object"),
            "Runware's answer could not be used: Runware's answer is not a JSON object.",
        ),
    ],
)
def test_each_failure_is_told_in_whole_sentences_with_runwares_words_once(exc: errors.RunwareError, said: str) -> None:
    text, _ = describe(exc)
    assert text == said


def test_every_error_runware_sends_is_shown_short_and_the_rest_counted() -> None:
    sent = [ErrorDetail("invalidParameter", "word " * 400, ("width",))]
    sent += [ErrorDetail(f"code{n}", f"Message {n}.") for n in range(6)]
    text, details = describe(api_error(400, sent))
    shown: list[dict[str, Any]] = details["errors"]
    assert details == {
        "kind": "runware_error",
        "retryable": False,
        "mayHaveBeenCharged": False,
        "status": 400,
        "errors": shown,
    }
    assert shown[0] == {"code": "invalidParameter", "message": shown[0]["message"], "parameter": ["width"]}
    assert len(shown[0]["message"]) == UPSTREAM_SHOWN
    assert shown[0]["message"].endswith("...")
    assert shown[1:] == [{"code": f"code{n}", "message": f"Message {n}"} for n in range(4)]
    assert text.endswith("; Message 0 (code0); Message 1 (code1); Message 2 (code2); Message 3 (code3); and 2 more.")
    assert text.count("word") == shown[0]["message"].count("word")  # the long message once, cut short


@pytest.mark.parametrize(
    "cls", [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.RunwareAPIError)]
)
def test_no_kind_of_runware_error_falls_through_to_a_generic_or_garbled_message(
    cls: type[errors.RunwareAPIError],
) -> None:
    text, _ = describe(cls(400, [ErrorDetail("someCode", "Some message.")]))
    assert text.endswith(" Runware said: Some message (someCode).")
    assert text.count("Some message") == 1
    assert "could not be used" not in text
    assert ".." not in text
    assert " ." not in text


@pytest.mark.anyio
async def test_a_bucket_that_cannot_take_the_images_is_told_with_the_buckets_fix_not_a_folders() -> None:
    # It had said "have the user set IDEOGRAM_MCP_OUTPUT_DIR to a folder this server can write", which no folder on
    # the server's disk would fix.
    from ideogram_mcp.tasks.outcomes import Unwritable
    from ideogram_mcp.tools import wording

    said = await wording.said(Unwritable("images", "the bucket images cannot be reached (refused)", True, True), None)
    text = said.content[0].text  # pyright: ignore[reportAttributeAccessIssue]
    assert text == (
        "Images cannot be saved in images: the bucket images cannot be reached (refused). Nothing was sent or charged. "
        "Try again once the bucket answers, or have the user check IDEOGRAM_MCP_STORAGE_URL and the bucket's "
        "credentials (or set IDEOGRAM_MCP_SAVE=false to keep only the image URLs)."
    )


@pytest.mark.anyio
async def test_an_http_connections_own_folder_is_named_in_words_when_it_cannot_be_written() -> None:
    # "Images cannot be saved in .:" (and "folder": "." in the data, kept as the paths are given).
    from ideogram_mcp.tasks.outcomes import Unwritable
    from ideogram_mcp.tools import wording

    said = await wording.said(Unwritable(".", "the bucket cannot be reached", False, True), None)
    assert said.content[0].text.startswith(  # pyright: ignore[reportAttributeAccessIssue]
        "Images cannot be saved in this connection's folder: the bucket cannot be reached."
    )
    assert (said.meta or {})["ideogram-mcp/error"]["folder"] == "."


def test_a_paid_results_journal_trouble_keeps_its_lasting_fix_and_never_says_try_again() -> None:
    import sqlite3

    from ideogram_mcp.journal import JournalError, failure
    from ideogram_mcp.tools import wording

    lost = JournalError("x", "Try again in a moment; if it lasts, start it.", lasting="start it.")
    busy = JournalError("x", "Try again in a moment.", lasting="", locked=True)
    full = failure("/j/tasks.db", OSError(28, "No space left on device"))
    locked = failure("/j/tasks.db", sqlite3.OperationalError("database is locked"))
    stays = failure("/j/tasks.db", sqlite3.DatabaseError("disk I/O error"))  # had read "If it lasts: If it stays, ..."
    said = [wording._lasting_fix(t) for t in (lost, busy, full, locked, stays)]  # pyright: ignore[reportPrivateUsage]
    assert said == [
        " If it lasts: start it.",
        "",
        " If it lasts: free space, or set IDEOGRAM_MCP_DATA_DIR to another folder.",
        " If it lasts: stop the other ideogram-mcp processes that use IDEOGRAM_MCP_DATA_DIR, or give this one a folder "
        "of its own.",
        " If it lasts: set IDEOGRAM_MCP_DATA_DIR to another folder.",
    ]
    assert locked.fix.startswith("Try again in a moment; if it stays locked, stop the other")  # told to the unpaid


def test_failures_are_listed_once_each_with_a_shortened_one_still_marked_so() -> None:
    from ideogram_mcp.tools.results import listed

    # A message cut short ends in "...": stripping full stops had made it read whole.
    assert listed(["a: flagged.", "b: a long message ...", "a: flagged."]) == "a: flagged (x2); b: a long message ..."


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(3600, "1 hour"), (5400, "90 minutes"), (90, "90 seconds"), (172800, "2 days"), (90000, "25 hours")],
)
def test_a_links_lifetime_is_said_in_the_largest_unit_it_is_a_whole_number_of(seconds: int, said: str) -> None:
    assert lasting(seconds) == said
