"""Spending and the journal as an agent meets them: dry runs, limits, the user's approval, listing tasks."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from PIL import Image

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator, Fault
from ideogram_mcp.journal import failure
from ideogram_mcp.journal.sqlite import SqliteJournal
from ideogram_mcp.runware import answers
from ideogram_mcp.runware.delivery import KEEPALIVE
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.tasks import fetch, life
from ideogram_mcp.tasks.outcomes import AllFailed
from ideogram_mcp.tools import wording
from ideogram_mcp.tools.generations import PAGE_CHARACTERS

from ..conftest import API_KEY, error_of, text
from ..conftest import structured as data

pytestmark = pytest.mark.anyio

PROMPT = 'A chalkboard menu reading "SOUP OF THE DAY"'


def server(make_settings: Callable[..., Settings], emulator: Emulator, **changes: Any) -> Any:
    return build_server(make_settings(**changes), transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)


@contextlib.asynccontextmanager
async def _killed_first(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Client]:
    """A first process, saving in ``output`` with a 2 s wait, killed before its background work could see its
    pending tasks through (as it now does); what is patched here is undone as it ends."""
    monkeypatch.setattr(fetch, "take_up_when_over", lambda *_: None)
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=2.0, preview=False)) as first:
        yield first
    monkeypatch.undo()


async def test_a_dry_run_gives_the_exact_task_and_price_and_sends_nothing(mcp: Client, emulator: Emulator) -> None:
    result = await mcp.call_tool(
        "generate_image", {"positivePrompt": PROMPT, "aspectRatio": "16:9", "numberResults": 3, "dryRun": True}
    )
    out = data(result)
    assert (out["status"], out["quote"], out["requested"], out["images"]) == ("dry_run", 0.18, 3, [])
    task = out["task"]
    assert task.pop("taskUUID") == out["taskUUID"]
    assert task == {
        "taskType": "imageInference",
        "model": "ideogram:4@1",
        "outputType": "URL",
        "deliveryMethod": "async",
        "includeCost": True,
        "positivePrompt": PROMPT,
        "numberResults": 3,
        "width": 1312,
        "height": 736,
    }
    assert text(result).startswith("Dry run: nothing was sent or charged. This call would make 3 images")
    assert "at 1312x736 for $0.18" in text(result)
    assert emulator.requests == []


async def test_a_dry_run_says_what_the_real_call_would_meet_with_its_approved_cost_and_its_folder(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # Each dry run had said "send the same arguments without dryRun to run it", and the call was then refused.
    (tmp_path / "a-file").write_text("not a folder")
    async with Client(server(make_settings, emulator, output_dir=tmp_path / "a-file" / "sub")) as mcp:
        unwritable = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "dryRun": True})
    async with Client(server(make_settings, emulator, confirm_above=0.5)) as mcp:
        small = {"positivePrompt": PROMPT, "approvedCost": 0.01, "dryRun": True}
        under, real = [await mcp.call_tool("generate_image", small | {"dryRun": dry}) for dry in (True, False)]
        over = await mcp.call_tool("generate_image", small | {"numberResults": 10})
    assert data(unwritable)["quote"] == 0.06, "the price is still told"
    assert (
        f"Images cannot be saved in {tmp_path / 'a-file' / 'sub'}: a file (not a folder) stands in its path, so the "
        "call as it is would be refused: have the user set IDEOGRAM_MCP_OUTPUT_DIR (or the --output-dir the server is "
        "started with, which comes first) to a folder this server can write"
    ) in text(unwritable)
    assert error_of(real)["kind"] == "not_approved", "what the dry run foretells"
    assert text(real).endswith("No approval is needed up to $0.50: without approvedCost it runs.")
    assert text(under).endswith(
        "for $0.06. That is more than approvedCost ($0.01), so the call as it is would be refused: leave approvedCost "
        "out (no approval is needed up to $0.50). The task it would send is in the structured output (task); then "
        "send the call without dryRun to run it."
    )
    assert "ask the user about $0.60, and if they agree give approvedCost: 0.6." in text(over)
    assert emulator.requests == []


async def test_a_charge_above_the_quote_is_told(
    mcp: Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runware's price moved above the server's list: the result said the higher cost and nothing of the quote.
    from ideogram_mcp.emulator import rules

    listed = rules.price
    monkeypatch.setattr(rules, "price", lambda model, values: round(2.5 * listed(model, values), 6))
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    assert (data(result)["totalCost"], data(result)["quote"]) == (0.3, 0.12)
    assert "Runware charged $0.30 for this task, more than the $0.12 it was quoted at: tell the user." in text(result)


async def test_failures_said_alike_of_several_images_are_said_once_with_how_many() -> None:
    from ideogram_mcp.tasks.outcomes import AllFailed

    lost = "taskFailedOrNotFound: Runware no longer knows this task, and an image of it never arrived."
    said = await wording.said(AllFailed("t", 4, [lost, lost, "nsfw: flagged.", lost], 0.0), None)
    assert text(said).startswith(
        "All 4 requested image(s) failed: taskFailedOrNotFound: Runware no longer knows this task, and an image of it "
        "never arrived (x3); nsfw: flagged. Nothing usable was made."
    )


async def test_a_dry_run_works_without_a_key(make_settings: Callable[..., Settings], emulator: Emulator) -> None:
    async with Client(server(make_settings, emulator, runware_api_key=None)) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "dryRun": "yes"})
    assert data(result)["quote"] == 0.06


async def test_a_call_above_the_per_call_limit_is_refused_before_anything_is_sent(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async with Client(server(make_settings, emulator, max_cost_per_call=0.25)) as mcp:
        dry = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 5, "dryRun": True})
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 5})
        allowed = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 4})
    assert error_of(refused) == {"kind": "over_limit", "quote": 0.3, "limit": 0.25}
    assert text(refused) == (
        "This call would cost $0.30, above the limit of $0.25 per call, so nothing was sent. Ask for at most 4 images, "
        "or have the user raise IDEOGRAM_MCP_MAX_COST_PER_CALL in the server's environment."
    )
    assert (error_of(dry), text(dry)) == (error_of(refused), text(refused)), "a dry run meets what the call would"
    assert not allowed.is_error
    assert len(emulator.submitted) == 1


async def test_a_call_over_a_whole_days_budget_is_told_that_waiting_will_not_help(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async with Client(server(make_settings, emulator, daily_budget=0.10)) as mcp:
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    assert error_of(refused)["leftToday"] == 0.1
    assert "This call alone costs more than a day's budget: ask for at most 1 image, or have the user raise" in text(
        refused
    )
    assert emulator.requests == []


async def test_an_over_budget_refusal_suggests_only_what_fits_and_says_when(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    # With $0.04 left, "ask for at most 1 image" was refused again today; with nothing of the call able to cost less,
    # the sentence ended ", or have the user raise ..." with nothing before it.
    async with Client(server(make_settings, emulator, daily_budget=0.10)) as mcp:
        await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        tomorrow = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
    async with Client(server(make_settings, emulator, daily_budget=0.05)) as mcp:
        nothing = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert "This call alone costs more than a day's budget: ask for at most 1 image tomorrow, or have the user" in text(
        tomorrow
    )
    assert "so nothing was sent. This call alone costs more than a day's budget: have the user raise" in text(nothing)
    assert len(emulator.submitted) == 1


async def test_a_dry_runs_folder_check_says_what_it_finds_and_never_fails_the_call(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder of the output's path that may not be looked in had made the dry run an internal error; one where no
    # folder may be made was said to be fine.
    locked = tmp_path / "locked"
    listed = Path.exists

    def exists(path: Path, **kwargs: Any) -> bool:
        if path == locked / "inner":
            raise PermissionError(13, "Permission denied")
        return listed(path, **kwargs)

    dry = {"positivePrompt": PROMPT, "dryRun": True}
    async with Client(server(make_settings, emulator, output_dir=locked / "inner" / "out")) as mcp:
        monkeypatch.setattr(Path, "exists", exists)
        unreadable = await mcp.call_tool("generate_image", dry)
        monkeypatch.undo()
        monkeypatch.setattr(life.os, "access", lambda path, mode: False)
        unmakeable = await mcp.call_tool("generate_image", dry)
    assert "so the call as it is would be refused" in text(unreadable)
    assert data(unreadable)["quote"] == 0.06
    assert "this server may not make folders where it goes, so the call as it is would be refused" in text(unmakeable)
    assert emulator.requests == []


async def test_the_daily_budget_counts_what_was_spent_and_refuses_what_would_pass_it(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async with Client(server(make_settings, emulator, daily_budget=0.20)) as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
        dry = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "dryRun": True})
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        last = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert not first.is_error
    assert error_of(refused) == {
        "kind": "over_budget", "quote": 0.12, "limit": 0.2, "spentToday": 0.18, "leftToday": 0.02,
    }  # fmt: skip
    assert text(refused) == (
        "This call would cost $0.12, and $0.18 is already spent today against a daily budget of $0.20, so nothing "
        "was sent. $0.02 is left today: wait until tomorrow, or have the user raise "
        "IDEOGRAM_MCP_DAILY_BUDGET in the server's environment (0 means no limit)."
    )
    assert (error_of(dry), text(dry)) == (error_of(refused), text(refused)), "a dry run meets what the call would"
    assert "IDEOGRAM_MCP_DAILY_BUDGET" in text(refused)
    assert error_of(last)["kind"] == "over_budget"
    assert len(emulator.submitted) == 1
    assert (listed["spentToday"], listed["spentTotal"], listed["dailyBudget"]) == (0.18, 0.18, 0.2)


def _answering(action: str, confirm: object = None) -> Any:
    asked: list[str] = []

    async def answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams)
        asked.append(params.message)
        content = {"confirm": confirm} if confirm is not None else None
        return types.ElicitResult(action=action, content=content)  # pyright: ignore[reportArgumentType]

    answer.asked = asked  # pyright: ignore[reportFunctionMemberAccess]
    return answer


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize(
    ("action", "confirm", "refusal"),
    [
        ("accept", True, None),
        ("accept", "true", None),  # a client that sent the word
        ("accept", " FALSE ", "declined"),  # and its no: never read as a yes
        ("accept", False, "declined"),
        ("accept", "maybe", "unanswered"),  # accepted with no yes or no to read: never said to be the user's no
        ("accept", None, "unanswered"),
        ("decline", None, "declined"),
        ("cancel", None, "cancelled"),
    ],
)
async def test_a_large_call_is_sent_only_when_the_user_approves(
    mode: str,
    action: str,
    confirm: object,
    refusal: str | None,
    make_settings: Callable[..., Settings],
    emulator: Emulator,
) -> None:
    answer = _answering(action, confirm)
    async with Client(server(make_settings, emulator), mode=mode, elicitation_callback=answer) as mcp:
        small = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 8})
        large = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 9})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert not small.is_error, "at $0.48 the default threshold of $0.50 is not passed"
    assert answer.asked == ["Spend $0.54 of Runware credit to make 9 images with Ideogram 3.0?"]
    assert len(emulator.submitted) == 1 + (refusal is None)
    if refusal is None:
        assert len(data(large)["images"]) == 9
        assert [g["approval"] for g in listed["generations"]] == ["asked", "under threshold"]
    else:
        assert error_of(large) == {"kind": refusal, "quote": 0.54}
        assert "so nothing was sent or charged" in text(large)


async def test_a_client_that_cannot_be_asked_is_refused_until_the_agent_says_the_user_agreed(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    call = {"positivePrompt": PROMPT, "numberResults": 10}
    async with Client(server(make_settings, emulator, max_cost_per_call=1.0)) as mcp:
        refused = await mcp.call_tool("generate_image", call)
        too_little = await mcp.call_tool("generate_image", call | {"approvedCost": 0.5})
        approved = await mcp.call_tool("generate_image", call | {"approvedCost": "$0.60"})
        over_the_limit = await mcp.call_tool("generate_image", call | {"numberResults": 20, "approvedCost": 1.2})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert error_of(refused) == {"kind": "approval_needed", "quote": 0.6, "threshold": 0.5}
    assert text(refused) == (
        "This call would cost $0.60, above the $0.50 that needs the user's approval (IDEOGRAM_MCP_CONFIRM_ABOVE), and "
        "this client cannot ask them, so nothing was sent or charged. Ask the user in the chat whether to spend "
        "$0.60; if they agree, call again with the same arguments and approvedCost: 0.6. Or ask for at most 8 images, "
        "at most $0.50 in all."
    )
    assert error_of(too_little) == {"kind": "not_approved", "quote": 0.6, "approvedCost": 0.5}
    assert len(data(approved)["images"]) == 10
    assert error_of(over_the_limit)["kind"] == "over_limit"
    assert len(emulator.submitted) == 1
    assert [g["approval"] for g in listed["generations"]] == ["approvedCost"]
    assert "$0.60 (approvedCost)" in text(await _listing(make_settings, emulator))


async def _listing(make_settings: Callable[..., Settings], emulator: Emulator) -> types.CallToolResult:
    async with Client(server(make_settings, emulator)) as mcp:
        return await mcp.call_tool("list_generations", {})


async def test_where_images_go_is_the_users_setting_never_an_agents(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    settings = {"webhook_url": "https://hooks.example/ideogram", "upload_endpoint": "https://bucket.example/put?X-Amz"}
    async with Client(server(make_settings, emulator, **settings)) as mcp:
        refused = await mcp.call_tool(
            "generate_image", {"positivePrompt": PROMPT, "webhookURL": "http://127.0.0.1:8080/admin"}
        )
        dry = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "dryRun": True})
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    # A dry run had shown both, and a presigned upload URL or a webhook's token is a secret of the user's.
    assert (data(dry)["task"]["webhookURL"], data(dry)["task"]["uploadEndpoint"]) == ("<set by the server>",) * 2
    assert "hooks.example" not in str(dry.model_dump())
    assert "X-Amz" not in str(dry.model_dump())
    assert error_of(refused)["problems"][0]["argument"] == "webhookURL"
    assert "set by the server, not by callers" in text(refused)
    (task,) = emulator.submitted
    assert (task["webhookURL"], task["uploadEndpoint"]) == (
        "https://hooks.example/ideogram",
        "https://bucket.example/put?X-Amz",
    )
    assert not made.is_error
    assert emulator.deliveries == [
        ("PUT", "https://bucket.example/put?X-Amz"),
        ("POST", "https://hooks.example/ideogram"),
    ]
    # Nor are they written into the recipe beside the image (a folder agents read and people share), or the journal.
    (image,) = data(made)["images"]
    recipe = Path(image["path"]).with_suffix(".json").read_text()
    assert "hooks.example" not in recipe
    assert "X-Amz" not in recipe
    assert json.loads(recipe)["task"]["webhookURL"] == "<set by the server>"


async def test_list_generations_shows_recent_tasks_their_state_and_the_spend(mcp: Client) -> None:
    made = [data(await mcp.call_tool("generate_image", {"positivePrompt": f"poster {n}"})) for n in range(3)]
    listed = await mcp.call_tool("list_generations", {"limit": 2})
    out = data(listed)
    assert [g["taskUUID"] for g in out["generations"]] == [made[2]["taskUUID"], made[1]["taskUUID"]]
    first = out["generations"][0]
    keys = ("tool", "model", "state", "requested", "ready", "cost", "quote", "approval", "prompt")
    assert {k: first[k] for k in keys} == {
        "tool": "generate_image",
        "model": "ideogram:4@1",
        "state": "done",
        "requested": 1,
        "ready": 1,
        "cost": 0.06,
        "quote": 0.06,
        "approval": "under threshold",
        "prompt": "poster 2",
    }
    assert text(listed).splitlines()[0] == (
        "Spent $0.18 today of a $10.00 daily budget, $0.18 in all (pending tasks at their quote)."
    )
    assert data(await mcp.call_tool("list_generations", {"state": "failed"}))["generations"] == []


async def test_list_generations_shows_a_failed_task_at_what_the_spend_counts_it(
    mcp: Client, emulator: Emulator
) -> None:
    # It read "quoted $0.18", as a pending task counted at its quote does: its lines seemed to add up to more than
    # the spend said (found by an audit).
    emulator.failing = {0, 1, 2}
    failed = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
    assert failed.is_error
    lines = text(await mcp.call_tool("list_generations", {})).splitlines()
    assert lines[0].startswith("Spent $0.00 today")
    assert " failed " in lines[1]
    assert ": 0/3 image(s), $0.00 (quoted $0.18), generate_image " in lines[1]


async def test_list_generations_shows_prompts_in_any_script_as_written_and_cuts_none_inside_a_character(
    mcp: Client,
) -> None:
    # Shown with repr, a Persian joiner, French no-break spaces and a Hebrew direction mark had read as \u200c, \xa0
    # and \u200f; cut at a code point, a flag had been halved (found by audit).
    prompts = ["می\u200cخواهم یک تابلو", "Prix\xa0: 5\xa0€", "שלום\u200f!", "a" * 119 + "\U0001f1ef\U0001f1f5 sign"]  # noqa: RUF001
    for prompt in prompts:
        assert not (await mcp.call_tool("generate_image", {"positivePrompt": prompt})).is_error
    listed = await mcp.call_tool("list_generations", {})
    assert [g["prompt"] for g in data(listed)["generations"]] == ["a" * 119 + "…", *reversed(prompts[:3])]
    lines = text(listed).splitlines()[1:]
    assert [line.split("generate_image ", 1)[1] for line in lines] == [
        f'"{"a" * 59}…"',
        *(json.dumps(prompt, ensure_ascii=False) for prompt in reversed(prompts[:3])),
    ]


async def test_list_generations_pages_through_every_generation_with_a_cursor(mcp: Client, clock: ManualClock) -> None:
    # Only the latest 100 had been reachable, older ones only by a taskUUID already known.
    sent: list[dict[str, Any]] = []
    for n in range(5):
        sent.append(data(await mcp.call_tool("generate_image", {"positivePrompt": f"p{n}"})))
        await clock.advance(1.0)
    pages: list[list[str]] = []
    arguments: dict[str, Any] = {"limit": 2}
    while True:
        listed = await mcp.call_tool("list_generations", arguments)
        pages.append([g["taskUUID"] for g in data(listed)["generations"]])
        if "nextCursor" not in data(listed):
            break
        cursor = data(listed)["nextCursor"]
        assert text(listed).endswith(f'Older ones follow: call list_generations with cursor "{cursor}" for them.')
        arguments = {"limit": 2, "cursor": cursor}
        if len(pages) == 1:  # a generation made between pages is on the first page, not repeated in the next
            await mcp.call_tool("generate_image", {"positivePrompt": "later"})
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(uuid for page in pages for uuid in page) == sorted(made["taskUUID"] for made in sent)
    # A forged one: not base64 JSON, a number too large for a float, NaN, a NUL or half a surrogate pair (an internal
    # error, or PostgreSQL's "text fields cannot contain NUL" said as the journal failing)
    for raw in ("not-one", "[1" + "0" * 400 + ', "x"]', '[NaN, "x"]', '[2000000000, "a\\u0000b"]', '[1, "\\udcff"]'):
        forged = raw if raw == "not-one" else base64.urlsafe_b64encode(raw.encode()).decode()
        refused = await mcp.call_tool("list_generations", {"cursor": forged})
        assert error_of(refused)["problems"] == [
            {
                "argument": "cursor",
                "message": "is not a cursor this tool gave: give the nextCursor of an earlier call as it came, or "
                "leave it out",
            }
        ], raw


async def test_a_page_of_generations_ends_early_where_claude_code_would_cut_it(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 tasks of 20 images had made a page of 315,000 characters of structured output, which Claude Code gives its
    # model and cuts at 25,000 tokens (found by audit): the rest come by the cursor.
    from ideogram_mcp.emulator import artwork

    monkeypatch.setattr(artwork, "render", artwork.drawn_once(artwork.render))  # 1,200 images it never looks at
    settings = {"save": False, "preview": False, "confirm_above": 100.0, "daily_budget": 0}
    async with Client(server(make_settings, emulator, **settings)) as mcp:
        for n in range(60):
            made = await mcp.call_tool("generate_image", {"positivePrompt": f"p{n}", "numberResults": 20})
            assert data(made)["status"] == "done"
            await clock.advance(1.0)
        pages: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {"limit": 100}
        while True:
            pages.append(data(await mcp.call_tool("list_generations", arguments)))
            if "nextCursor" not in pages[-1]:
                break
            arguments = {"limit": 100, "cursor": pages[-1]["nextCursor"]}
    sizes = [len(json.dumps(page["generations"])) for page in pages]
    assert len(pages) > 1, sizes
    assert max(sizes) <= PAGE_CHARACTERS, sizes
    listed = [g["taskUUID"] for page in pages for g in page["generations"]]
    assert len(listed) == len(set(listed)) == 60, "each task on one page, none left out"
    assert all(len(g["images"]) == 20 for page in pages for g in page["generations"])


@pytest.mark.parametrize(
    ("tool", "arguments", "says"),
    [
        ("get_generation", {}, "taskUUID: required: the taskUUID a generating tool returned."),
        ("get_generation", {"taskUUID": "  "}, "taskUUID: must be text, with a visible character; it has none."),
        ("get_generation", {"taskUUID": "x", "wait": -1}, "wait: must be a number of at least 0; got -1."),
        ("get_generation", {"taskUUID": "x", "wait": "soon"}, 'wait: must be a number of at least 0; got "soon".'),
        ("get_generation", {"taskUUID": "x", "preview": "maybe"}, 'preview: must be true or false; got "maybe".'),
        ("get_generation", {"taskUUID": "x", "extra": 1}, "extra: unknown argument."),
        ("list_generations", {"limit": 0}, "limit: must be a whole number from 1 to 100; got 0."),
        ("list_generations", {"limit": "x"}, 'limit: must be a whole number from 1 to 100; got "x".'),
        ("list_generations", {"state": "lost"}, 'state: "lost" is not allowed. Allowed: pending, done, failed.'),
        ("list_generations", {"since": "today"}, "since: unknown argument."),
        ("list_generations", {"": 1}, '- "": unknown argument.'),  # it had said "- : unknown argument."
    ],
)
async def test_bad_arguments_to_the_journal_tools_are_named(
    tool: str, arguments: dict[str, Any], says: str, mcp: Client
) -> None:
    result = await mcp.call_tool(tool, arguments)
    assert error_of(result)["kind"] == "invalid_arguments"
    assert says in text(result)
    assert not text(result).startswith("Nothing was generated"), "these tools generate nothing"


async def test_list_generations_takes_a_limit_as_a_number_in_any_spelling(mcp: Client) -> None:
    for limit in (5, 5.0, "5"):
        assert not (await mcp.call_tool("list_generations", {"limit": limit})).is_error


async def test_what_the_journal_tools_repeat_is_short_however_long_what_they_were_given(
    mcp: Client, emulator: Emulator, data_dir: Path
) -> None:
    emulator.faults.append(Fault.error(400, "invalidParameter", "Bad value. " * 2000, on="imageInference"))
    refused = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    fetched = await mcp.call_tool("get_generation", {"taskUUID": error_of(refused)["taskUUID"]})
    # As a journal written by an earlier version holds it: the upstream message whole.
    old = SqliteJournal(data_dir / "journal.sqlite3")
    await old.update(error_of(refused)["taskUUID"], state="failed", images=[], errors=["Bad value. " * 2000], cost=None)
    old.close()
    fetched_from_old = await mcp.call_tool("get_generation", {"taskUUID": error_of(refused)["taskUUID"]})
    listed = await mcp.call_tool("list_generations", {})
    unknown = await mcp.call_tool(
        "get_generation", {"taskUUID": "x", "k" * 200_000: 1} | {f"a{n}": 1 for n in range(3000)}
    )
    assert error_of(fetched)["kind"] == "failed"
    assert [len(text(result)) < 1000 for result in (refused, fetched, fetched_from_old, listed, unknown)] == [True] * 5
    long = await mcp.call_tool("list_generations", {"k" * 200_000: 1})
    listed_first = "".join(f"- a{n}: unknown argument.\n" for n in range(10))
    assert text(unknown) == (
        f"Fix these arguments:\n- {'k' * 30}…: unknown argument.\n{listed_first}- a10: unknown argument. "
        "(3001 unknown in all) Known arguments: preview, taskUUID, wait."
    )
    assert (
        text(long) == f"Fix these arguments:\n- {'k' * 30}…: unknown argument. Known arguments: cursor, limit, state."
    )


async def test_an_unknown_task_is_an_error_naming_the_way_to_find_tasks(mcp: Client, emulator: Emulator) -> None:
    result = await mcp.call_tool("get_generation", {"taskUUID": "6f1c1b9e-2b7a-4c3e-9a57-0d1e2f3a4b5c"})
    assert error_of(result) == {"kind": "unknown_task"}
    assert "list_generations shows the recent ones" in text(result)
    assert emulator.requests == []


async def test_an_imageuuid_given_for_the_taskuuid_is_told_its_tasks_taskuuid(mcp: Client, emulator: Emulator) -> None:
    # It had been told no such generation was known here, and that one of another server cannot be fetched.
    made = data(await mcp.call_tool("generate_image", {"positivePrompt": "a sign"}))
    image_uuid = made["images"][0]["imageUUID"]
    result = await mcp.call_tool("get_generation", {"taskUUID": image_uuid})
    assert text(result) == (
        f'"{image_uuid}" is the imageUUID of an image of task {made["taskUUID"]}, not a taskUUID: call get_generation '
        f'with taskUUID "{made["taskUUID"]}".'
    )
    assert error_of(result) == {"kind": "unknown_task", "taskUUID": made["taskUUID"]}
    again = data(await mcp.call_tool("get_generation", {"taskUUID": made["taskUUID"]}))
    assert again["images"][0]["imageUUID"] == image_uuid


async def test_a_dry_runs_taskuuid_fetched_is_told_it_names_a_task_never_sent(mcp: Client, emulator: Emulator) -> None:
    # It was told only that a taskUUID of another server or machine cannot be fetched.
    dry = data(await mcp.call_tool("generate_image", {"positivePrompt": "a sign", "dryRun": True}))
    result = await mcp.call_tool("get_generation", {"taskUUID": dry["taskUUID"]})
    assert error_of(result) == {"kind": "unknown_task"}
    assert "a dry run's taskUUID names a task never sent (send the call without dryRun to make it)" in text(result)
    assert emulator.requests == []


async def test_an_over_budget_call_with_a_local_image_sends_nothing_at_all(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    reference = tmp_path / "out" / "style.png"
    reference.parent.mkdir(parents=True)
    Image.new("RGB", (32, 32), (1, 2, 3)).save(reference)
    settings = {"output_dir": tmp_path / "out", "daily_budget": 0.05}
    async with Client(server(make_settings, emulator, **settings)) as mcp:
        result = await mcp.call_tool(
            "generate_image", {"positivePrompt": PROMPT, "styleReferenceImages": ["style.png"]}
        )
    assert error_of(result)["kind"] == "over_budget"
    assert emulator.requests == []


async def test_the_key_is_blanked_wherever_upstream_echoes_it_in_a_result(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path, data_dir: Path
) -> None:
    def url_with_key(answer: dict[str, Any]) -> object:
        for item in answer.get("data", []):
            if "imageURL" in item:
                item["imageURL"] += f"?token={API_KEY}"
        return answer

    emulator.faults += [
        Fault.error(400, "invalidParameter", "Unknown parameter.", parameter=API_KEY),
        Fault.mangle(url_with_key, on="getResponse"),
    ]
    async with Client(server(make_settings, emulator)) as mcp:
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert API_KEY not in refused.model_dump_json() + made.model_dump_json()
    assert error_of(refused)["errors"] == [
        {"code": "invalidParameter", "message": "Unknown parameter", "parameter": ["[redacted]"]}
    ]
    (image,) = data(made)["images"]
    assert image["imageURL"].endswith("?token=[redacted]")
    kept = [p for folder in (output, data_dir) for p in folder.rglob("*") if p.is_file()]
    assert [p.name for p in kept if API_KEY.encode() in p.read_bytes()] == []


async def test_the_key_never_reaches_the_journal_a_result_or_a_log_line(
    make_settings: Callable[..., Settings], emulator: Emulator, data_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from ideogram_mcp.logs import configure_logging

    settings = make_settings()
    root = logging.getLogger()
    kept = (root.level, list(root.handlers))
    configure_logging(settings.model_copy(update={"log_level": "DEBUG"}))
    emulator.faults.append(Fault.error(402, "insufficientCredits", f"Key {API_KEY} has no credit."))
    async with Client(server(make_settings, emulator)) as mcp:
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = await mcp.call_tool("list_generations", {})
        fetched = await mcp.call_tool("get_generation", {"taskUUID": data(listed)["generations"][0]["taskUUID"]})
    try:
        raise RuntimeError(f"a library echoing {API_KEY}")
    except RuntimeError:
        logging.getLogger("ideogram_mcp.test").exception("with a traceback")
    logged = capfd.readouterr().err
    root.setLevel(kept[0])
    root.handlers[:] = kept[1]
    for shown in (refused, listed, fetched):
        assert API_KEY not in shown.model_dump_json()
    assert "[redacted]" in text(refused)
    assert API_KEY.encode() not in (data_dir / "journal.sqlite3").read_bytes()
    assert "with a traceback" in logged
    assert API_KEY not in logged


def _pending_after_trouble(task_uuid: str) -> tuple[str, dict[str, Any]]:
    return (
        "The task was sent, but following it failed in this server (its log on stderr says why). It is not lost: "
        f'call get_generation with taskUUID "{task_uuid}" to fetch its images; do not start it again.',
        {"kind": "internal", "taskUUID": task_uuid, "mayHaveBeenCharged": True, "retryable": False},
    )


async def test_a_failure_in_this_server_after_sending_leaves_the_task_fetchable_and_never_sent_twice(
    mcp: Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> types.CallToolResult:
        raise RuntimeError("a bug in this server")

    monkeypatch.setattr(life, "finish", broken)
    monkeypatch.setattr(fetch, "finish", broken)
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    (sent,) = emulator.submitted
    again = await mcp.call_tool("get_generation", {"taskUUID": sent["taskUUID"]})
    monkeypatch.undo()
    fetched = data(await mcp.call_tool("get_generation", {"taskUUID": sent["taskUUID"]}))
    assert (text(result), error_of(result)) == _pending_after_trouble(sent["taskUUID"])
    assert (text(again), error_of(again)) == _pending_after_trouble(sent["taskUUID"])
    assert (fetched["status"], fetched["taskUUID"]) == ("done", sent["taskUUID"])
    assert Path(fetched["images"][0]["path"]).is_file()
    assert emulator.submitted == [sent]
    assert len(emulator.ledger) == 1


async def test_a_task_runware_has_not_said_it_has_is_pending_not_rendering_and_one_it_has_is_rendering(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    # Every submission answered 500: Runware may not have the task, and every poll says it has none. It had been
    # called "Still rendering" for the 70 s a sent task is given to appear.
    emulator.faults.append(Fault.error(500, "internalServerError", "Down.", on="imageInference", lasting=True))
    async with Client(server(make_settings, emulator, wait_seconds=0.2)) as mcp:
        sent = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3}))
        emulator.faults.clear()
        unheard = await mcp.call_tool("get_generation", {"taskUUID": sent["taskUUID"]})
        emulator.render_seconds = 30.0
        running = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}))
        rendering = await mcp.call_tool("get_generation", {"taskUUID": running["taskUUID"]})
    assert sent["status"] == "pending"
    assert text(unheard).startswith("Pending: 0 of 3 image(s) ready with Ideogram 3.0.\n")
    assert "Runware has not yet said that it has this task" in text(unheard)
    assert text(rendering).startswith("Still rendering: 0 of 1 image(s) ready with Ideogram 3.0.\n")


async def test_a_task_runware_has_forgotten_is_reported_failed_and_no_longer_waited_for(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, wait_seconds=0.2)) as mcp:
        pending = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}))
        del emulator.jobs[pending["taskUUID"]]  # its results expired, as Runware's do
        await clock.advance(answers.LOST_AFTER)  # past the time Runware's "no such task" may be a lag
        lost = await mcp.call_tool("get_generation", {"taskUUID": pending["taskUUID"], "wait": 0.2})
        listed = data(await mcp.call_tool("list_generations", {}))
        again = await mcp.call_tool("get_generation", {"taskUUID": pending["taskUUID"]})
    assert pending["status"] == "pending"
    assert error_of(lost) == {
        "kind": "runware_error",
        "retryable": False,
        "mayHaveBeenCharged": True,
        "status": 404,
        "errors": [
            {
                "code": "taskFailedOrNotFound",
                "message": "No task with this taskUUID is known",
                "parameter": ["taskUUID"],
            }
        ],
        "taskUUID": pending["taskUUID"],
    }
    assert text(lost) == (
        "Runware no longer knows this task: it never arrived, or it ran and its results expired. Nothing more can "
        "be fetched. It may have been charged, so it stays counted at its quote ($0.06)."
    )
    assert [g["state"] for g in listed["generations"]] == ["failed"]
    assert listed["spentToday"] == 0.06, "it may have cost that: a budget must not forget it"
    assert error_of(again) == {"kind": "failed", "taskUUID": pending["taskUUID"], "mayHaveBeenCharged": True}
    assert text(again).endswith("Nothing more can be fetched. It may have been charged ($0.06), and is counted so.")


async def test_a_task_the_offline_emulator_forgot_in_a_restart_is_said_not_charged_and_costs_nothing(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    # Offline, the built-in emulator keeps its tasks in memory: a task pending across a restart was told "It may
    # have been charged, so it stays counted at its quote", where offline nothing is ever charged.
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, wait_seconds=0.2, offline=True)) as mcp:
        pending = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}))
        emulator.jobs.clear()  # the server restarted, and its emulator with it
        await clock.advance(answers.LOST_AFTER)
        lost = await mcp.call_tool("get_generation", {"taskUUID": pending["taskUUID"], "wait": 0.2})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert text(lost) == (
        "The built-in emulator no longer knows this task: offline, tasks are kept only while the server runs, and it "
        "was restarted since. Nothing was charged (offline nothing is); to make the images, call the tool again."
    )
    assert error_of(lost)["mayHaveBeenCharged"] is False
    assert [g["state"] for g in listed["generations"]] == ["failed"]
    assert listed["spentToday"] == 0


async def test_a_pending_task_cannot_be_fetched_by_a_server_without_a_key_and_it_says_how_to_fix_that(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, wait_seconds=0.2)) as mcp:
        pending = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}))
    async with Client(server(make_settings, emulator, runware_api_key=None)) as keyless:
        result = await keyless.call_tool("get_generation", {"taskUUID": pending["taskUUID"]})
        listed = data(await keyless.call_tool("list_generations", {}))
    assert error_of(result) == {"kind": "not_configured"}
    assert text(result) == wording.NOT_CONFIGURED
    assert [(g["taskUUID"], g["state"]) for g in listed["generations"]] == [(pending["taskUUID"], "pending")]


async def test_images_that_could_not_be_saved_are_saved_when_the_task_is_fetched_again(
    emulator: Emulator, settings: Settings, output: Path
) -> None:
    app = httpx2.ASGITransport(emulator.app())
    images_gone = True

    async def runware(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and images_gone:
            return httpx2.Response(503)
        return await app.handle_async_request(request)

    async with Client(build_server(settings, transport=httpx2.MockTransport(runware), clock=emulator.clock)) as mcp:
        first = await mcp.call_tool(
            "generate_image", {"positivePrompt": PROMPT, "numberResults": 2, "fileName": "menu"}
        )
        images_gone = False
        again = await mcp.call_tool("get_generation", {"taskUUID": data(first)["taskUUID"]})
    assert [image.get("path") for image in data(first)["images"]] == [None, None]
    assert text(first).splitlines()[-1] == (
        "get_generation with this taskUUID tries to save the unsaved images again while their URLs live."
    )
    saved = [Path(image["path"]) for image in data(again)["images"]]
    assert [p.name for p in saved] == ["menu-1.jpg", "menu-2.jpg"]
    made = [item["imageUUID"] for item in emulator.jobs[data(first)["taskUUID"]].items.values()]
    assert [p.read_bytes() for p in saved] == [emulator.images[uuid].data for uuid in made]
    assert len([b for b in again.content if isinstance(b, types.ImageContent)]) == 2
    assert "Not saved" not in text(again)
    assert emulator.charged == 0.12


async def test_an_image_gone_past_its_tasks_ttl_is_said_to_have_an_expired_url_too(
    mcp: Client, clock: ManualClock
) -> None:
    made = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "ttl": 3600}))
    (image,) = made["images"]
    Path(image["path"]).unlink()
    within = await mcp.call_tool("get_generation", {"taskUUID": made["taskUUID"]})
    await clock.sleep(3601)
    past = await mcp.call_tool("get_generation", {"taskUUID": made["taskUUID"]})
    assert text(within).splitlines()[1].endswith("this URL serves the image until it expires.")
    expired = "no longer there (moved, deleted or made unreadable since): its URL here has expired too, with the task's"
    assert text(past).splitlines()[1].endswith(f"{expired} ttl.")


@pytest.mark.parametrize("preview", [True, False])
async def test_an_image_deleted_since_it_was_saved_is_said_to_be_gone_and_given_by_its_url(
    preview: bool, mcp: Client, emulator: Emulator
) -> None:
    made = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
    deleted, kept = (Path(image["path"]) for image in made["images"])
    deleted.unlink()
    again = await mcp.call_tool("get_generation", {"taskUUID": made["taskUUID"], "preview": preview})
    images = data(again)["images"]
    assert [image.get("path") for image in images] == [None, str(kept)]
    assert [image["imageURL"] for image in images] == [image["imageURL"] for image in made["images"]]
    lines = text(again).splitlines()
    assert lines[1] == (
        f"1. {images[0]['imageURL']} (seed {images[0]['seed']}) Saved as {deleted}, which is no longer there (moved, "
        "deleted or made unreadable since): this URL serves the image until it expires."
    )
    assert lines[2] == f"2. {kept} (seed {images[1]['seed']})"
    assert "Image URLs expire: download what should be kept." in lines
    assert "tries to save the unsaved images again" not in text(again)  # it was saved: nothing to try again
    links = [b.uri for b in again.content if isinstance(b, types.ResourceLink)]
    assert links == [images[0]["imageURL"], kept.as_uri()]
    assert len([b for b in again.content if isinstance(b, types.ImageContent)]) == (1 if preview else 0)
    assert len(emulator.submitted) == 1
    listed = data(await mcp.call_tool("list_generations", {}))["generations"][0]
    assert listed["images"] == [str(deleted), str(kept)]  # the journal keeps where each was saved


@pytest.mark.parametrize("preview", [True, False])
async def test_an_image_whose_recipe_was_deleted_is_named_by_its_path_with_no_link_resources_read_refuses(
    preview: bool, mcp: Client
) -> None:
    # Its path and resource link had been given, and reading that link failed: "No image saved by this server".
    made = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
    bare, kept = (Path(image["path"]) for image in made["images"])
    bare.with_suffix(".json").unlink()
    again = await mcp.call_tool("get_generation", {"taskUUID": made["taskUUID"], "preview": preview})
    assert [image.get("path") for image in data(again)["images"]] == [str(bare), str(kept)]
    lines = text(again).splitlines()
    assert lines[1].startswith(f"1. {bare} (seed ")
    assert lines[1].endswith(" Its .json recipe was deleted: it is no longer one of this server's resources (no link).")
    assert f"Saved in {bare.parent}." in lines, "not 'each with a .json recipe beside it'"
    links = [str(b.uri) for b in again.content if isinstance(b, types.ResourceLink)]
    assert links == [kept.as_uri()]
    for link in links:
        assert (await mcp.read_resource(link)).contents, "every link given is one resources/read serves"


async def test_over_http_an_image_whose_recipe_was_deleted_is_named_by_its_path_in_the_connections_folder(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # Over HTTP it had lost its path too, and been given by Runware's URL (found by review of d0a006c).
    from tests.test_http import TOKENS, connect, served

    settings = make_settings(output_dir=tmp_path / "out", tokens=TOKENS)
    async with served(settings, emulator) as url, connect(url, TOKENS[0]) as alice:
        made = data(await alice.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        bare, kept = (image["path"] for image in made["images"])
        (next((tmp_path / "out").rglob(bare)).with_suffix(".json")).unlink()
        again = await alice.call_tool("get_generation", {"taskUUID": made["taskUUID"]})
    assert [image.get("path") for image in data(again)["images"]] == [bare, kept]
    assert text(again).splitlines()[1].startswith(f"1. {bare} (seed ")
    links = [str(b.uri) for b in again.content if isinstance(b, types.ResourceLink)]
    assert links == [f"ideogram://images/{kept}"]


@pytest.mark.parametrize("count", [1, 5])
async def test_images_that_cannot_be_decoded_get_no_preview_and_the_call_still_succeeds(
    count: int, emulator: Emulator, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = httpx2.ASGITransport(emulator.app())

    async def truncated(request: httpx2.Request) -> httpx2.Response:
        answer = await app.handle_async_request(request)
        if request.method != "GET":
            return answer
        await answer.aread()
        damaged = (
            b"\xff\xd8\xff\xda\x00\x02" + bytes(30) + b"\xff\xd9"
        )  # whole to look at (a scan, its end), no picture
        return httpx2.Response(200, content=damaged, headers={"Content-Type": "image/jpeg"})

    async with Client(build_server(settings, transport=httpx2.MockTransport(truncated), clock=emulator.clock)) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": count})
    out = data(result)
    assert (out["status"], len(out["images"])) == ("done", count)
    assert all(Path(image["path"]).is_file() for image in out["images"])
    assert [b for b in result.content if isinstance(b, types.ImageContent)] == []
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == (["no preview for image 1: it could not be decoded"] if count == 1 else [])


@pytest.mark.parametrize("fmt", ["JPG", "PNG", "WEBP"])
async def test_an_image_served_cut_short_is_not_saved_and_get_generation_fetches_it_whole(
    fmt: str, emulator: Emulator, settings: Settings
) -> None:
    # Served cut short with a 200 (its length as served), it was saved as done: a file no one could open, and
    # get_generation reported it saved and never fetched it again.
    app = httpx2.ASGITransport(emulator.app())
    served: list[int] = []

    async def cut_once(request: httpx2.Request) -> httpx2.Response:
        answer = await app.handle_async_request(request)
        if request.method != "GET":
            return answer
        await answer.aread()
        served.append(len(answer.content))
        body = answer.content[: len(answer.content) // 2] if len(served) == 1 else answer.content
        return httpx2.Response(200, content=body, headers={"Content-Type": answer.headers["content-type"]})

    async with Client(build_server(settings, transport=httpx2.MockTransport(cut_once), clock=emulator.clock)) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "outputFormat": fmt})
        (image,) = data(made)["images"]
        again = data(await mcp.call_tool("get_generation", {"taskUUID": data(made)["taskUUID"]}))
    assert "path" not in image
    assert f"could not be downloaded: the URL served a {fmt} image cut short ({served[0] // 2:,} bytes)" in text(made)
    (whole,) = again["images"]
    with Image.open(whole["path"]) as saved:
        saved.load()
    assert emulator.charged == 0.06


async def test_inline_image_data_is_kept_short_in_the_journal_and_the_recipe(mcp: Client, output: Path) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).save(buffer, format="PNG")  # noise: a few kB, as real pictures are
    encoded = base64.b64encode(buffer.getvalue()).decode()
    assert len(encoded) > 256
    made = data(await mcp.call_tool("remix_image", {"image": encoded, "positivePrompt": "as a woodcut"}))
    recipe = json.loads(Path(made["images"][0]["path"]).with_suffix(".json").read_text())
    assert recipe["task"]["inputs"]["referenceImages"] == [f"{encoded[:64]}... ({len(encoded)} characters)"]


async def test_the_client_hears_from_a_slow_call_every_keepalive_and_nothing_once_it_is_complete(
    emulator: Emulator, settings: Settings, clock: ManualClock
) -> None:
    emulator.render_seconds = 2.5 * KEEPALIVE
    app = httpx2.ASGITransport(emulator.app())

    async def slow_downloads(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":  # a slow network: the image is saved several keepalives after it is ready
            await clock.sleep(2 * KEEPALIVE)
        return await app.handle_async_request(request)

    heard: list[tuple[float, str | None]] = []
    times: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        heard.append((progress, message))
        times.append(clock.monotonic())

    async with Client(build_server(settings, transport=httpx2.MockTransport(slow_downloads), clock=clock)) as mcp:
        started = clock.monotonic()
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}, progress_callback=on_progress)
        ended = clock.monotonic()
    assert data(result)["status"] == "done"
    assert ended - started >= 4 * KEEPALIVE, "rendering, then downloading, for several keepalives"
    gaps = [later - earlier for earlier, later in zip([started, *times], times, strict=False)]
    assert len(times) >= 3
    assert max(gaps) <= KEEPALIVE, "heard from at least every KEEPALIVE until the image is ready"
    assert heard[0][1] == "Preparing the task (make 1 image with Ideogram 3.0)"
    values = [progress for progress, _ in heard]
    assert values == sorted(set(values)), "progress only rises"
    last, said = heard[-1]
    assert (last, str(said).startswith("1 of 1 ready, ")) == (1.0, True), "nothing is said once it is complete"


async def test_get_generation_with_no_wait_still_asks_runware_once(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path, clock: ManualClock
) -> None:
    emulator.render_seconds = 0.3
    async with Client(server(make_settings, emulator, wait_seconds=0.05, output_dir=output)) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": "x"}))
        await clock.advance(1.0)  # rendered by now; nothing has asked since the first call ended
        asked = len([t for t in emulator.arrived if t.get("taskType") == "getResponse"])
        now = data(await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"], "wait": 0}))
    assert first["status"] == "pending"
    assert (now["status"], len(now["images"])) == ("done", 1)
    assert len([t for t in emulator.arrived if t.get("taskType") == "getResponse"]) == asked + 1


@pytest.mark.parametrize("offset", [260, 275, 280, 290])
async def test_no_cut_of_an_upstream_message_leaves_a_piece_of_the_key_in_the_result_or_the_journal(
    offset: int, mcp: Client, emulator: Emulator, data_dir: Path
) -> None:
    # The excerpt is cut at 300 characters: wherever the key falls, it is blanked before the cut.
    echoed = "x" * offset + " " + API_KEY + " was refused"
    emulator.faults.append(Fault.error(400, "invalidParameter", echoed, on="imageInference"))
    result = await mcp.call_tool("generate_image", {"positivePrompt": "a sign"})
    stored = b"".join(path.read_bytes() for path in data_dir.glob("journal.sqlite3*"))
    piece = API_KEY[:12]
    assert result.is_error
    assert piece not in text(result)
    assert piece not in json.dumps(result.meta)
    assert piece.encode() not in stored


async def test_a_journal_kept_in_memory_only_is_said_in_every_result_with_the_fix(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path, output: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    settings = make_settings(data_dir=tmp_path / "a-file" / "data", output_dir=output, daily_budget=0)
    async with Client(
        build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)
    ) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = await mcp.call_tool("list_generations", {})
    warning = (
        f"Warning: the task journal cannot be kept in {tmp_path / 'a-file' / 'data'} (a file (not a folder) stands in "
        "its path), so this server keeps it in memory only: a restart forgets this taskUUID and today's spend. Make "
        "that folder writable, or set IDEOGRAM_MCP_DATA_DIR to another folder."
    )
    for result in (made, listed):
        (line,) = [line for line in text(result).splitlines() if line.startswith("Warning:")]
        assert line == warning


async def test_every_tool_reads_the_same_obvious_spellings_of_its_arguments(mcp: Client) -> None:
    made = data(await mcp.call_tool("generate_image", {"prompt": PROMPT, "num_images": 2, "aspect_ratio": "16:9"}))
    for spelling in ("taskUUID", "task_uuid", "taskId", "task_id", "TaskUUID"):
        fetched = await mcp.call_tool("get_generation", {spelling: made["taskUUID"], "wait_seconds": 0})
        assert data(fetched)["taskUUID"] == made["taskUUID"], spelling
    listed = data(await mcp.call_tool("list_generations", {"count": 1, "status": "done"}))
    sizes = data(await mcp.call_tool("list_sizes", {"aspect_ratio": "16:9"}))
    twice = await mcp.call_tool("get_generation", {"taskUUID": made["taskUUID"], "taskId": "another"})
    assert [g["taskUUID"] for g in listed["generations"]] == [made["taskUUID"]]
    assert {(s["width"], s["height"]) for s in sizes["sizes"]} == {(1312, 736), (1344, 768), (1280, 704), (1216, 704)}
    assert "taskUUID: given twice, as taskUUID and as taskId, with different values." in text(twice)


async def test_a_host_that_shows_the_model_only_the_structured_output_still_gives_it_what_to_do(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    # Claude Code passes a model JSON.stringify(structuredContent) in place of a result's text blocks (its images it
    # keeps). What the text alone said is what keeps money safe: a pending task is fetched, never started again.
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=1)) as mcp:
        results = {
            "pending": await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}),
            "dry run": await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "dryRun": True}),
            "listed": await mcp.call_tool("list_generations", {}),
        }
        emulator.render_seconds = 0.0
        results["done"] = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    for name, result in results.items():
        assert data(result)["message"] == text(result), name
    seen = json.dumps(data(results["pending"]))
    assert "Call get_generation with taskUUID" in seen
    assert "do not start a new generation for it" in seen
    assert "send the same arguments without dryRun" in json.dumps(data(results["dry run"]))
    assert data(results["done"])["images"][0]["path"] in data(results["done"])["message"]


@pytest.mark.parametrize("later", [0, 60], ids=["its last task", "sixty tasks after it"])
async def test_a_task_an_earlier_process_left_unfinished_is_fetched_and_saved_by_the_next_one_never_sent_again(
    later: int,
    make_settings: Callable[..., Settings],
    emulator: Emulator,
    clock: ManualClock,
    output: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server killed (or its client gone) after Runware took a task and before its images were saved: the agent
    # never heard the taskUUID, and the next session would pay again for the same images. Only the owner's latest
    # 50 tasks were looked at: one behind 50 later ones was never taken up.
    emulator.render_seconds = 30.0
    async with _killed_first(make_settings, emulator, output, monkeypatch) as first:
        cut_short = data(await first.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        emulator.render_seconds = 0.0
        for _ in range(later):
            sent = {"positivePrompt": "x", "fileName": "later", "outputDir": "later"}
            assert data(await first.call_tool("generate_image", sent))["status"] == "done"
        emulator.render_seconds = 30.0
    assert cut_short["status"] == "pending"
    assert not list(output.glob("*.jpg"))
    await clock.advance(31.0)  # it rendered meanwhile
    async with Client(server(make_settings, emulator, output_dir=output)) as second:
        before = data(await second.call_tool("list_generations", {"state": "pending"}))
        with anyio.fail_after(60):
            while len(list(output.glob("*.jpg"))) < 2:  # taken up in the background, while the agent does other things
                await clock.sleep(0.5)
        after = data(await second.call_tool("list_generations", {"state": "pending"}))
        fetched = data(await second.call_tool("get_generation", {"taskUUID": cut_short["taskUUID"]}))
    assert [g["taskUUID"] for g in before["generations"]] == [cut_short["taskUUID"]]
    assert after["generations"] == []
    assert sorted(Path(image["path"]) for image in fetched["images"]) == sorted(output.glob("*.jpg"))
    sent = [task["taskUUID"] for task in emulator.submitted]
    assert sent.count(cut_short["taskUUID"]) == 1, "fetched, never sent again"
    assert len(sent) == len(set(sent)) == len(emulator.ledger) == 1 + later


async def test_a_task_taken_up_after_its_project_was_deleted_is_saved_where_the_taking_up_saves_not_made_again(
    make_settings: Callable[..., Settings],
    emulator: Emulator,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by an audit of two clients' servers on one journal: the first one's project deleted after it was killed,
    # the second had made the whole folder again to save the image taken up there (a drive not mounted, likewise).
    project, other = tmp_path / "proj0", tmp_path / "proj1"
    emulator.render_seconds = 30.0
    async with _killed_first(make_settings, emulator, project / "ideogram-output", monkeypatch) as first:
        cut_short = data(await first.call_tool("generate_image", {"positivePrompt": PROMPT}))
    shutil.rmtree(project)
    await clock.advance(31.0)
    async with Client(server(make_settings, emulator, output_dir=other)) as second:
        await second.call_tool("list_generations", {})  # its first call: the taking up begins
        with anyio.fail_after(60):
            while not list(other.glob("*.jpg")):
                await clock.sleep(0.5)
        fetched = data(await second.call_tool("get_generation", {"taskUUID": cut_short["taskUUID"]}))
    assert not project.exists(), "a deleted project is not made again"
    assert [Path(image["path"]) for image in fetched["images"]] == list(other.glob("*.jpg"))
    assert len(emulator.ledger) == 1


async def test_a_task_seen_through_by_its_own_process_after_its_project_was_deleted_is_saved_in_the_servers_folder(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, tmp_path: Path, home: Path
) -> None:
    # Found by a review of the fix above: the call cancelled, its project deleted, the process's own background work
    # (given the call's places, the folder found gone) had made the project again to save the image in it.
    project = tmp_path / "proj0"
    project.mkdir()
    emulator.render_seconds = 30.0
    settings = make_settings(wait_seconds=5.0, preview=False)  # no folder set: the project's, as Claude Code starts it
    made = build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock, project=project)
    async with Client(made) as mcp:
        async with anyio.create_task_group() as group:
            group.start_soon(mcp.call_tool, "generate_image", {"positivePrompt": PROMPT})
            with anyio.fail_after(30):
                while not emulator.submitted:
                    await clock.sleep(0.05)
            group.cancel_scope.cancel()
        shutil.rmtree(project)
        with anyio.fail_after(60):
            while data(await mcp.call_tool("list_generations", {}))["generations"][0]["state"] != "done":
                await clock.sleep(0.5)
        (image,) = data(await mcp.call_tool("get_generation", {"taskUUID": emulator.submitted[0]["taskUUID"]}))[
            "images"
        ]
    assert not project.exists(), f"a deleted project is not made again: {sorted(project.rglob('*'))}"
    assert Path(image["path"]).parent == home / "Pictures" / "ideogram-mcp"  # the server's own folder
    assert Path(image["path"]).is_file()


async def test_a_task_is_this_process_s_before_the_journal_shows_it_to_the_taking_up_of_other_processes_tasks(
    make_settings: Callable[..., Settings],
    emulator: Emulator,
    clock: ManualClock,
    output: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The taking up of the tasks other processes left reads the journal beside the calls. One it read between the
    # call's recording and the call noting the task as its own was taken up as another process's: fetched and saved
    # once the call's time was over (a test of a killed process saw its images saved, one run in two under load).
    committed, looked, reads = anyio.Event(), anyio.Event(), []
    record, recent = SqliteJournal.record, SqliteJournal.recent

    async def record_then_let_it_be_read(self: SqliteJournal, *args: Any, **kwargs: Any) -> Any:
        entry = await record(self, *args, **kwargs)
        committed.set()
        await looked.wait()
        return entry

    async def recent_once_recorded(self: SqliteJournal, *args: Any, **kwargs: Any) -> Any:
        await committed.wait()
        found = await recent(self, *args, **kwargs)
        reads.append(found)
        if len(reads) == len(fetch.CUT_SHORT_LOOKED_AT):  # the journal read: the recording call has not gone on yet
            looked.set()
        return found

    monkeypatch.setattr(SqliteJournal, "record", record_then_let_it_be_read)
    monkeypatch.setattr(SqliteJournal, "recent", recent_once_recorded)
    monkeypatch.setattr(fetch, "take_up_when_over", lambda *_: None)  # the call's own seeing through, left out
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=2.0, preview=False)) as mcp:
        cut_short = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}))
        emulator.render_seconds = 0.0  # rendered: a taking up would now save it
        await clock.sleep(60.0)
    assert cut_short["status"] == "pending"
    assert looked.is_set()
    assert not list(output.glob("*.jpg")), "taken up as another process's"
    assert [task["taskUUID"] for task in emulator.submitted] == [cut_short["taskUUID"]]


async def test_a_task_whose_sending_got_no_answer_is_not_said_to_be_running_on_runware(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    # The process that sent it ended before any answer came, and Runware never had it: the next process finds it
    # pending, and no answer or poll has said Runware has it, so "still running on Runware" would be a guess.
    inner = httpx2.ASGITransport(emulator.app())

    class Swallowing(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if b'"imageInference"' in request.content:
                await anyio.sleep_forever()
            return await inner.handle_async_request(request)

    settings = make_settings(wait_seconds=0.5)
    async with Client(build_server(settings, transport=Swallowing(), clock=clock)) as first:
        sent = data(await first.call_tool("generate_image", {"positivePrompt": PROMPT}))
    async with Client(server(make_settings, emulator, wait_seconds=0.5)) as second:
        fetched = await second.call_tool("get_generation", {"taskUUID": sent["taskUUID"], "wait": 0.5})
    assert data(fetched)["status"] == "pending"
    assert "still running on Runware" not in text(fetched)
    assert "Runware has not yet said that it has this task: it may still run and be charged" in text(fetched)
    assert emulator.submitted == [], "fetched, never sent"


async def test_a_task_another_live_process_is_waiting_for_is_left_to_it(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, output: Path
) -> None:
    # Two HTTP workers, or two machines of a team, share the journal: one starting up takes up only what the other
    # left unfinished once its call's time was over, and polls nothing the other is waiting for.
    emulator.render_seconds = 3.0
    inner = httpx2.ASGITransport(emulator.app())
    polled_by_second: list[bytes] = []

    class Counting(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if b'"getResponse"' in request.content:
                polled_by_second.append(request.content)
            return await inner.handle_async_request(request)

    settings = make_settings(output_dir=output, wait_seconds=10)
    made: list[Any] = []
    async with (
        Client(build_server(settings, transport=inner, clock=clock)) as first,
        Client(build_server(settings, transport=Counting(), clock=clock)) as second,
        anyio.create_task_group() as calls,
    ):

        async def generate() -> None:
            made.append(await first.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))

        calls.start_soon(generate)
        await clock.sleep(0.5)  # sent, rendering
        await second.call_tool("list_generations", {})  # the second starts serving this owner
        await clock.sleep(30.0)  # past the first call's time, and its grace
    assert data(made[0])["status"] == "done"
    assert polled_by_second == []
    assert len(list(output.glob("*.jpg"))) == 2


async def test_taking_up_an_earlier_process_s_task_never_ends_the_server_whatever_fails(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, output: Path
) -> None:
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=0.2)) as first:
        left = data(await first.call_tool("generate_image", {"positivePrompt": PROMPT}))

    class Locked(SqliteJournal):
        """Reading a task works once, then fails as a journal another process holds locked does."""

        reads = 0

        async def get(self, task_uuid: str, owner: str) -> Any:
            self.reads += 1
            if self.reads > 1:
                raise failure(self.path, sqlite3.OperationalError("database is locked"))
            return await super().get(task_uuid, owner)

    settings = make_settings(output_dir=output)
    assert settings.data_dir is not None
    journal = Locked(settings.data_dir / "journal.sqlite3", clock=clock)
    transport = httpx2.ASGITransport(emulator.app())
    async with Client(build_server(settings, transport=transport, journal=journal, clock=clock)) as second:
        await second.call_tool("list_generations", {})  # takes the owner's unfinished tasks up, in the background
        await clock.sleep(120.0)  # past the first call's time: the journal fails the taking up
        later = await second.call_tool("list_generations", {})
    assert [g["taskUUID"] for g in data(later)["generations"]] == [left["taskUUID"]], "still serving"


async def test_taking_up_cut_short_by_the_server_stopping_is_one_quiet_line_not_a_traceback(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # A client that made one call and went: the server closed its journal under the work its first call started,
    # which logged "could not be taken up" with a traceback of the closed database, at every such stop.
    class Closing(SqliteJournal):
        closed = anyio.Event()

        async def recent(self, owner: str, limit: int, state: Any = None, before: Any = None) -> Any:
            if state is None:  # list_generations' own reading
                return await super().recent(owner, limit, state, before)
            await self.closed.wait()
            raise failure(self.path, sqlite3.ProgrammingError("Cannot operate on a closed database."))

        async def aclose(self) -> None:
            self.closed.set()
            await anyio.lowlevel.checkpoint()
            await super().aclose()

    settings = make_settings()
    assert settings.data_dir is not None
    journal = Closing(settings.data_dir / "journal.sqlite3", clock=clock)
    transport = httpx2.ASGITransport(emulator.app())
    with caplog.at_level(logging.INFO, logger="ideogram_mcp"):
        async with Client(build_server(settings, transport=transport, journal=journal, clock=clock)) as mcp:
            await mcp.call_tool("list_generations", {})
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "taken up" in r.getMessage()]
    assert said == [
        (logging.INFO, "the tasks earlier processes left unfinished could not be taken up as the server stopped")
    ]


async def test_a_task_a_version_that_recorded_no_folder_left_unfinished_is_saved_in_the_next_ones_folder(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, output: Path, data_dir: Path
) -> None:
    # Versions before the folder was recorded (2026-11-25's) wrote only the file name and previews: their tasks had
    # been taken for ones sent with saving off, never taken up, and the paid images never saved.
    emulator.render_seconds = 3.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=0.2)) as first:
        sent = data(await first.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "paid"}))
        with sqlite3.connect(data_dir / "journal.sqlite3") as journal:  # as that version wrote it, killed mid-call
            journal.execute("UPDATE tasks SET options = ?", ('{"fileName": "paid", "preview": null}',))
    assert sent["status"] == "pending"
    async with Client(server(make_settings, emulator, output_dir=output)) as second:
        await second.call_tool("list_generations", {})
        await clock.sleep(120.0)
        listed = data(await second.call_tool("list_generations", {}))
    assert [g["state"] for g in listed["generations"]] == ["done"]
    assert sorted(path.name for path in output.iterdir()) == ["paid.jpg", "paid.json"]
    assert len(emulator.ledger) == 1


async def test_a_task_a_version_that_recorded_no_folder_saved_says_the_folder_its_images_are_in(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path, data_dir: Path
) -> None:
    # Such a version saved in a folder this one no longer does (~/Pictures, before a project's own folder): its
    # images had been said saved in this connection's folder, where they are not.
    async with Client(server(make_settings, emulator, output_dir=tmp_path / "then")) as first:
        made = data(await first.call_tool("generate_image", {"positivePrompt": PROMPT, "fileName": "logo"}))
    with sqlite3.connect(data_dir / "journal.sqlite3") as journal:
        journal.execute("UPDATE tasks SET options = ?", ('{"fileName": "logo", "preview": null}',))
    async with Client(server(make_settings, emulator, output_dir=tmp_path / "now")) as second:
        fetched = await second.call_tool("get_generation", {"taskUUID": made["taskUUID"]})
        with pytest.raises(MCPError) as read:
            await second.read_resource((tmp_path / "then" / "logo.jpg").as_uri())
    assert data(fetched)["folder"] == str(tmp_path / "then")
    assert f"Saved in {tmp_path / 'then'}, each with a .json recipe beside it." in text(fetched)
    assert f"1. {tmp_path / 'then' / 'logo.jpg'}" in text(fetched)
    assert "in the folders this connection may read" in str(read.value)


async def test_a_task_sent_with_saving_off_is_not_saved_by_the_next_process(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, output: Path
) -> None:
    emulator.render_seconds = 3.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=0.2, save=False)) as first:
        await first.call_tool("generate_image", {"positivePrompt": PROMPT})
    async with Client(server(make_settings, emulator, output_dir=output)) as second:
        await second.call_tool("list_generations", {})
        await clock.sleep(120.0)
    assert list(output.glob("*")) == []


async def test_a_process_with_saving_off_follows_a_saving_processs_task_once_and_leaves_its_saving(
    make_settings: Callable[..., Settings],
    emulator: Emulator,
    clock: ManualClock,
    output: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It took the finished task up again at every call a minute apart, for a day, as if it could save it (found by
    # review): one fetch learns its outcome; its saving is a saving process's.
    emulator.render_seconds = 30.0
    async with _killed_first(make_settings, emulator, output, monkeypatch) as first:
        left = data(await first.call_tool("generate_image", {"positivePrompt": PROMPT}))
    fetched: list[object] = []
    real = fetch.again

    async def counted(*args: Any, **kwargs: Any) -> Any:
        fetched.append(kwargs.get("save"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(fetch, "again", counted)
    async with Client(server(make_settings, emulator, output_dir=output, save=False, preview=False)) as second:
        for _ in range(4):
            await second.call_tool("list_generations", {})
            await clock.sleep(fetch.CUT_SHORT_AGAIN + 1)
        listed = data(await second.call_tool("list_generations", {}))
    assert fetched == [False]
    assert [(g["taskUUID"], g["state"]) for g in listed["generations"]] == [(left["taskUUID"], "done")]
    assert list(output.glob("*.jpg")) == []
    async with Client(server(make_settings, emulator, output_dir=output, preview=False)) as third:
        await third.call_tool("list_generations", {})
        with anyio.fail_after(120):
            while not list(output.glob("*.jpg")):
                await clock.sleep(1.0)
    assert len(emulator.submitted) == 1


async def test_a_task_a_poll_has_found_at_runware_is_said_to_be_running_there(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    emulator.render_seconds = 300.0
    emulator.faults.append(Fault.hang(on="imageInference"))  # Runware takes it (and charges it), never answers
    async with Client(server(make_settings, emulator, wait_seconds=0.5)) as first:
        sent = data(await first.call_tool("generate_image", {"positivePrompt": PROMPT}))
    async with Client(server(make_settings, emulator, wait_seconds=2)) as second:
        fetched = await second.call_tool("get_generation", {"taskUUID": sent["taskUUID"], "wait": 2})
    assert "The task is still running on Runware" in text(fetched)
    assert "has not yet said" not in text(fetched)


async def test_taking_up_that_failed_is_tried_again_by_a_later_call_not_given_up_for_the_process(
    make_settings: Callable[..., Settings],
    emulator: Emulator,
    clock: ManualClock,
    output: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A team's journal or bucket down at the owner's first call: the paid images stayed unsaved for the process's life.
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=0.2)) as first:
        await first.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})

    class DownAtFirst(SqliteJournal):
        """The first look at the owner's recent tasks fails, as a journal whose database is down does."""

        looks = 0

        async def recent(self, owner: str, limit: int, state: Any = None, before: Any = None) -> Any:
            self.looks += 1
            if self.looks == 1:
                raise failure(self.path, sqlite3.OperationalError("unable to open database file"))
            return await super().recent(owner, limit, state, before)

    settings = make_settings(output_dir=output)
    assert settings.data_dir is not None
    journal = DownAtFirst(settings.data_dir / "journal.sqlite3", clock=clock)
    transport = httpx2.ASGITransport(emulator.app())
    async with Client(build_server(settings, transport=transport, journal=journal, clock=clock)) as second:
        await second.call_tool("list_sizes", {})  # no journal needed: nothing taken up
        await second.call_tool("get_generation", {"taskUUID": "00000000-0000-4000-8000-000000000000"})
        await clock.sleep(fetch.CUT_SHORT_AGAIN + 1)
        assert list(output.glob("*.jpg")) == [], "the first try failed"
        await second.call_tool("get_generation", {"taskUUID": "00000000-0000-4000-8000-000000000000"})
        with anyio.fail_after(120):
            while len(list(output.glob("*.jpg"))) < 2:
                await clock.sleep(0.5)
    # The journal's failure is one line with its reason (the calls say it with the fix), not a traceback.
    (said,) = [r for r in caplog.records if "taken up" in r.getMessage()]
    assert (said.levelno, said.exc_info) == (logging.WARNING, None)
    assert said.getMessage().startswith("the tasks earlier processes left unfinished could not be taken up: the task")


async def test_a_task_that_can_never_be_finished_is_tried_again_only_until_it_is_a_day_old(
    make_settings: Callable[..., Settings],
    emulator: Emulator,
    clock: ManualClock,
    output: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=0.2)) as first:
        await first.call_tool("generate_image", {"positivePrompt": PROMPT})
    tries: list[float] = []

    async def never(*args: Any, **kwargs: Any) -> Any:
        tries.append(clock.now())
        raise RuntimeError("its URL expired, its folder unwritable ...")

    monkeypatch.setattr(fetch, "again", never)
    async with Client(server(make_settings, emulator, output_dir=output)) as second:
        for _ in range(3):  # calls of the owner, each past the wait between tries, then a day later
            await second.call_tool("list_generations", {})
            await clock.sleep(fetch.CUT_SHORT_AGAIN + 60)
        await clock.sleep(fetch.CUT_SHORT_WITHIN)
        for _ in range(3):
            await second.call_tool("list_generations", {})
            await clock.sleep(fetch.CUT_SHORT_AGAIN + 60)
    assert len(tries) == 3, "tried again while it might still be fetched, never once it is a day old"


@pytest.mark.parametrize("failed", [False, True], ids=["none failed", "one said to have failed"])
async def test_a_task_runware_forgets_after_some_of_its_images_came_says_the_rest_never_came_and_counts_them(
    failed: bool,
    make_settings: Callable[..., Settings],
    emulator: Emulator,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fetched later, the images that never came went unsaid ("Generated 1 image(s)", done, no error) and uncounted,
    # though they may have run and been charged: the spend said $0.06 where Runware's ledger said $0.12. Then, once
    # counted, a fetch more forgot them again; and an image Runware had said failed (not charged) was counted too.
    emulator.render_seconds = 30.0
    requested = 3 if failed else 2
    if failed:
        emulator.failing.add(1)  # the second image fails, as Runware says of it
    # The fetches here are the agent's alone: the call's background follow-up, polling on its own schedule, would
    # make what a 0.2 s get_generation has heard a matter of timing.
    monkeypatch.setattr(fetch, "take_up_when_over", lambda *_: None)
    async with Client(server(make_settings, emulator, wait_seconds=0.2, preview=False)) as mcp:
        pending = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": requested}))
        task_uuid = pending["taskUUID"]
        # The images end at 10, 20 and 30 s (15 and 30 s for two): asked at 25 s, not 1 s after the failure, so that a
        # poll round begun a moment before it, under a loaded machine, is not the one the fetch hears.
        await clock.advance(25.0)
        partly = data(await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 0.2}))
        del emulator.jobs[task_uuid]  # its results expired, as Runware's do
        await clock.advance(answers.LOST_AFTER)
        later = await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 0.2})
        listed = data(await mcp.call_tool("list_generations", {}))
        again = data(await mcp.call_tool("get_generation", {"taskUUID": task_uuid}))
        relisted = data(await mcp.call_tool("list_generations", {}))
    assert (partly["status"], len(partly["images"]), len(partly["errors"])) == ("pending", 1, int(failed))
    fetched = data(later)
    assert (fetched["status"], len(fetched["images"])) == ("done", 1)
    lost = "taskFailedOrNotFound: Runware no longer knows this task, and an image of it never arrived"
    assert fetched["errors"] == [*partly["errors"], lost]
    assert "an image of it never arrived" in text(later)
    assert listed["spentToday"] == 0.12, "the image that never came may have been charged; the failed one was not"
    assert (again["errors"], relisted["spentToday"]) == (fetched["errors"], 0.12), "and stays so, fetched again"


async def test_a_task_whose_call_was_cancelled_is_seen_through_by_the_same_process(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, output: Path
) -> None:
    # Over stateless HTTP a client that goes away cancels its call, and the process lives on: the paid task stayed
    # pending, unsaved, until a restart or a get_generation by an agent that may never have heard its taskUUID.
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=5.0, preview=False)) as mcp:
        async with anyio.create_task_group() as group:
            group.start_soon(mcp.call_tool, "generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
            with anyio.fail_after(30):
                while not emulator.submitted:
                    await clock.sleep(0.05)
            group.cancel_scope.cancel()
        assert not list(output.glob("*.jpg"))
        with anyio.fail_after(60):
            while len(list(output.glob("*.jpg"))) < 2:  # after the call's wait and grace, once it has rendered
                await clock.sleep(0.5)
        listed = data(await mcp.call_tool("list_generations", {}))
    (task,) = listed["generations"]
    assert (task["state"], len(task["images"])) == ("done", 2)
    assert [t["taskUUID"] for t in emulator.submitted] == [task["taskUUID"]], "fetched, never sent again"
    assert len(emulator.ledger) == 1


async def test_with_saving_off_a_task_whose_call_ended_early_is_still_followed_to_its_outcome_and_cost(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    # Saving off (a hosted server), nothing polled such a task again: it stayed pending at its quote for ever,
    # counted in flight and in the day's spend, its images' URLs never learnt (found by an audit).
    emulator.render_seconds = 30.0
    emulator.failing = {1}
    async with Client(server(make_settings, emulator, save=False, wait_seconds=5.0)) as mcp:
        async with anyio.create_task_group() as group:
            group.start_soon(mcp.call_tool, "generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
            with anyio.fail_after(30):
                while not emulator.submitted:
                    await clock.sleep(0.05)
            group.cancel_scope.cancel()
        answered = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        assert answered["status"] == "pending"
        with anyio.fail_after(120):
            while any(
                g["state"] == "pending" for g in data(await mcp.call_tool("list_generations", {}))["generations"]
            ):
                await clock.sleep(1.0)
        listed = data(await mcp.call_tool("list_generations", {}))
    assert [(g["state"], len(g["images"])) for g in listed["generations"]] == [("done", 1), ("done", 1)]
    assert all(g["images"][0].startswith("http") for g in listed["generations"]), "their URLs"
    assert listed["spentToday"] == 0.12, "each at the one image made, not at its quote of two"
    assert len(emulator.submitted) == 2, "followed, never sent again"


async def test_a_journal_failing_under_get_generation_never_says_the_task_was_not_charged(
    make_settings: Callable[..., Settings], emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The words for a paid tool's failure before sending ("nothing was sent or charged") were given to a fetch of a
    # task that was sent and charged.
    import sqlite3

    from ideogram_mcp.journal import failure
    from ideogram_mcp.journal.sqlite import SqliteJournal

    emulator.render_seconds = 30.0

    async def broken(self: SqliteJournal, task_uuid: str, owner: str) -> None:
        raise failure(tmp_path / "journal.sqlite3", sqlite3.OperationalError("disk I/O error"))

    async with Client(server(make_settings, emulator, wait_seconds=0.2)) as mcp:
        pending = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}))
        monkeypatch.setattr(SqliteJournal, "get", broken)
        fetched = await mcp.call_tool("get_generation", {"taskUUID": pending["taskUUID"]})
    assert error_of(fetched)["kind"] == "journal"
    assert "nothing was sent or charged" not in text(fetched)
    assert "so the task could not be looked up; it is as Runware has it, and this call charged nothing." in text(
        fetched
    )


async def test_a_task_whose_call_answered_pending_is_saved_as_it_comes_without_get_generation(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, output: Path
) -> None:
    # A call that answered "pending" left its task to get_generation: an agent that called it late (past the
    # images' ttl) or never lost a paid image.
    emulator.render_seconds = 30.0
    async with Client(server(make_settings, emulator, output_dir=output, wait_seconds=5.0, preview=False)) as mcp:
        answered = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        assert answered["status"] == "pending"
        with anyio.fail_after(60):
            while len(list(output.glob("*.jpg"))) < 2:  # once it has rendered
                await clock.sleep(0.5)
        listed = data(await mcp.call_tool("list_generations", {}))
    assert listed["generations"][0]["state"] == "done"
    assert len(emulator.submitted) == 1, "fetched, never sent again"


async def test_a_refusal_over_the_per_call_limit_names_every_image_the_limit_takes(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    # $0.30 holds three 4.0 images at QUALITY ($0.10) exactly; in floating point 0.30 // 0.10 is 2.
    call = {"model": "ideogram-4.0", "positivePrompt": PROMPT, "renderingSpeed": "QUALITY"}
    async with Client(server(make_settings, emulator, max_cost_per_call=0.30)) as mcp:
        refused = await mcp.call_tool("generate_image", call | {"numberResults": 4})
        allowed = await mcp.call_tool("generate_image", call | {"numberResults": 3})
    assert "Ask for at most 3 images or renderingSpeed TURBO ($0.03 an image)," in text(refused)
    assert not allowed.is_error


async def test_images_all_failed_unfinished_are_said_not_charged_and_those_reported_finished_may_be() -> None:
    none_finished = await wording.said(AllFailed("t", 2, ["nsfw: flagged.", "nsfw: flagged."], 0.0), None)
    assert error_of(none_finished)["mayHaveBeenCharged"] is False
    assert "charged" not in text(none_finished)
    finished = await wording.said(AllFailed("t", 2, ["unusable.", "unusable."], 0.08), None)
    assert error_of(finished)["mayHaveBeenCharged"] is True
    assert "Runware reported them finished, so they may have been charged ($0.08)." in text(finished)
    one = await wording.said(AllFailed("t", 2, ["unusable.", "nsfw: flagged."], 0.04, unusable_count=1), None)
    assert "Runware reported 1 of them finished, so those may have been charged ($0.04)." in text(one)


async def test_a_budget_spent_to_the_cent_says_wait_not_that_nothing_is_left(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async with Client(server(make_settings, emulator, daily_budget=0.18)) as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
        refused = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert not first.is_error
    assert error_of(refused)["leftToday"] == 0.0
    assert text(refused) == (
        "This call would cost $0.06, and $0.18 is already spent today against a daily budget of $0.18, so nothing "
        "was sent. Wait until tomorrow, or have the user raise IDEOGRAM_MCP_DAILY_BUDGET in the server's environment "
        "(0 means no limit)."
    )
    assert len(emulator.submitted) == 1


async def test_too_little_approved_is_told_what_fits_what_the_user_agreed_to(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async with Client(server(make_settings, emulator)) as mcp:
        refused = await mcp.call_tool(
            "generate_image", {"positivePrompt": PROMPT, "numberResults": 10, "approvedCost": 0.3}
        )
    assert error_of(refused) == {"kind": "not_approved", "quote": 0.6, "approvedCost": 0.3}
    assert text(refused) == (
        "This call would cost $0.60, more than the $0.30 the user agreed to (approvedCost), so nothing was sent. Ask "
        "the user about $0.60 first, or ask for at most 5 images."
    )
    assert emulator.requests == []


async def test_a_call_quoted_at_the_threshold_itself_needs_no_approval(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async with Client(server(make_settings, emulator, confirm_above=0.12)) as mcp:
        made = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    assert not made.is_error, text(made)
    assert len(emulator.submitted) == 1


async def test_a_spending_question_unanswered_in_time_sends_nothing(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async def slow(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        await anyio.sleep_forever()  # the user is away; the server waits wait_seconds (0.1)
        raise AssertionError("never answered")

    async with Client(
        server(make_settings, emulator, wait_seconds=0.1), mode="legacy", elicitation_callback=slow
    ) as mcp:
        large = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 9})
    assert error_of(large) == {"kind": "unanswered", "quote": 0.54}
    assert text(large) == (
        "The question about spending $0.54 got no answer in time, so nothing was sent or charged. Ask the user in "
        "the chat before trying again."
    )
    assert emulator.submitted == []


async def test_the_time_the_user_takes_to_answer_the_spending_question_is_the_calls_own(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    # The call's wait had begun again after the answer: with a 50 s wait, a call could answer at 100 s, past where
    # clients give up, and be sent again (found by an audit). Answered late in the wait, the task still goes out.
    emulator.render_seconds = 8.0
    clock = emulator.clock
    delays, took = [3.0, 9.0], []

    async def later(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        await clock.sleep(delays[len(took)])
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with Client(
        server(make_settings, emulator, wait_seconds=10.0), mode="legacy", elicitation_callback=later
    ) as mcp:
        for _ in delays:
            began = clock.monotonic()
            result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 9})
            took.append((data(result)["status"], clock.monotonic() - began))
    # Sent at 3 s, ready at 11 s: answered pending at 10 s (it had waited on to 13 s, and answered done at 11 s);
    # answered at 9 s, sent with 5 s to go.
    assert took == [("pending", 10.0), ("pending", 9.0 + life.SEND_FLOOR)]
    assert len(emulator.submitted) == len(emulator.ledger) == 2


async def test_a_declined_spend_says_what_would_cost_less(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async def no(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with Client(server(make_settings, emulator), mode="legacy", elicitation_callback=no) as mcp:
        large = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 9})
    assert text(large) == (
        "The user declined to spend $0.54, so nothing was sent or charged. Ask them before trying again, or ask for "
        "fewer images."
    )


async def test_a_cost_runware_said_in_parts_of_a_cent_is_added_up_to_the_part(
    mcp: Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ideogram_mcp.emulator import rules

    monkeypatch.setattr(rules, "price", lambda model, values: 0.0585)
    result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
    assert (data(result)["totalCost"], data(result)["quote"]) == (0.1755, 0.18)
    assert "$0.1755" in text(result)
