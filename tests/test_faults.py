"""The fault matrix: Runware misbehaving over real loopback HTTP, and what the agent sees and pays.

For each fault: the tool result, how many times the task reached the wire, and, from the
emulator's ledger, that every paid image was charged once and delivered (saved on disk).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator, Fault
from ideogram_mcp.emulator.faults import said_of_each
from ideogram_mcp.runware import delivery, retries
from ideogram_mcp.runware.answers import LOST_AFTER
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.tasks import fetch

from .conftest import API_KEY, error_of, picture, text
from .conftest import structured as data

pytestmark = pytest.mark.anyio

PROMPT = 'A market stall sign reading "FRESH FIGS"'
STRAY = "00000000-0000-4000-8000-000000000000"
"""A taskUUID this server never sent."""


@pytest.fixture
def emulator() -> Emulator:
    """Runware behind a real socket, on the machine's clock as the server reaching it is."""
    return Emulator(api_key=API_KEY)


@pytest.fixture
async def runware(emulator: Emulator) -> AsyncIterator[str]:
    """The emulator, served over real HTTP on loopback: what the server reaches at RUNWARE_BASE_URL."""
    async with emulator.served() as url:
        yield url


@pytest.fixture
def short_patience(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls answering only failures are told after 2 s, not Patience's 20: tests of what is then said, on the
    machine's clock, each 18 s shorter."""
    monkeypatch.setattr(delivery, "Patience", functools.partial(retries.Patience, failing=2.0))


@pytest.fixture
def over_http(make_settings: Callable[..., Settings], runware: str, output: Path) -> Callable[..., Client]:
    """An MCP client session with a server that reaches the emulator over HTTP, like any Runware."""

    def connect(**changes: Any) -> Client:
        settings = make_settings(
            runware_base_url=runware, runware_timeout=1.0, wait_seconds=20.0, output_dir=output, preview=False
        )
        return Client(build_server(settings.model_copy(update=changes)))

    return connect


def sent(emulator: Emulator, kind: str = "imageInference") -> list[str]:
    """The taskUUIDs of every task of this kind that reached the wire, resends included."""
    return [t["taskUUID"] for t in emulator.arrived if t.get("taskType") == kind]


def charged_once_and_delivered(emulator: Emulator, result: types.CallToolResult) -> None:
    out = data(result)
    task_uuid = out["taskUUID"]
    assert set(sent(emulator)) == {task_uuid}, "one task, one taskUUID, however often it was sent"
    (charge,) = [c for c in emulator.ledger if c.task_uuid == task_uuid]
    made = {item["imageUUID"] for item in emulator.jobs[task_uuid].items.values()}
    assert {image["imageUUID"] for image in out["images"]} == made
    assert len(made) == charge.images
    for image in out["images"]:
        assert Path(image["path"]).is_file()


@dataclass(frozen=True)
class Case:
    faults: list[Fault]
    sends: int
    """How many times the task reached the wire."""


def _other_task(body: dict[str, Any]) -> object:
    return {"data": [item | {"taskUUID": str(uuid.uuid4())} for item in body.get("data", [])]}


def _without_image_uuid(body: dict[str, Any]) -> object:
    return {"data": [{k: v for k, v in item.items() if k != "imageUUID"} for item in body.get("data", [])]}


_not_known_yet = said_of_each("taskFailedOrNotFound", "No task with this taskUUID.")


CASES = {
    "429 with Retry-After": Case(
        [Fault.error(429, "rateLimitExceeded", "Slow down.", retry_after=1, on="imageInference")], 2
    ),
    "500": Case([Fault.error(500, "internalServerError", "Oops.", on="imageInference")], 2),
    "502 with an HTML page": Case([Fault(502, "<html>bad gateway</html>", on="imageInference")], 2),
    "charged, then the connection dropped": Case([Fault.drop(on="imageInference")], 2),
    "charged, then no answer past RUNWARE_TIMEOUT": Case([Fault.hang(on="imageInference")], 2),
    "charged, then a malformed 200": Case([Fault.mangle(lambda body: "{not json", on="imageInference")], 2),
    "a poll answered with a 503": Case([Fault.error(503, "internalServerError", "Busy.", on="getResponse")], 1),
    "a poll's connection dropped": Case([Fault.drop(on="getResponse")], 1),
    "a poll answered about another task": Case([Fault.mangle(_other_task, on="getResponse")], 1),
    "a poll item without imageUUID, once": Case([Fault.mangle(_without_image_uuid, on="getResponse")], 1),
    # Errors of the poll's own, said of the task in an answer of 200: not the task's outcome.
    "a poll answered with a rate limit naming the task": Case(
        [Fault.mangle(said_of_each("rateLimitExceeded", "Slow down."), on="getResponse")], 1
    ),
    "a poll answered with an internal error naming the task": Case(
        [Fault.mangle(said_of_each("internalServerError", "Oops."), on="getResponse")], 1
    ),
    "a poll answered with a request timeout naming the task": Case(
        [Fault.mangle(said_of_each("requestTimeout", "Timed out."), on="getResponse")], 1
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_each_fault_ends_with_every_image_delivered_and_charged_once(
    name: str, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    case = CASES[name]
    emulator.faults.extend(case.faults)
    async with over_http() as mcp:
        with anyio.fail_after(30):
            result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    assert not result.is_error, text(result)
    assert data(result)["status"] == "done"
    assert len(data(result)["images"]) == 2
    assert len(sent(emulator)) == case.sends
    assert not emulator.faults, "every fault was met"
    charged_once_and_delivered(emulator, result)


async def test_images_that_fail_upstream_are_reported_and_the_rest_kept(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.failing = {1}
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
    out = data(result)
    assert (out["status"], len(out["images"]), out["errors"]) == (
        "done",
        2,
        ["inferenceError: Image 2 failed to render."],
    )
    assert "1 requested image(s) failed: inferenceError: Image 2 failed to render." in text(result)
    charged_once_and_delivered(emulator, result)


def _garble_last(body: dict[str, Any]) -> object:
    items = list(body.get("data", []))
    items[-1] = items[-1] | {"imageUUID": 12345}
    return {"data": items}


def _no_url_for_last(body: dict[str, Any]) -> object:
    items = list(body.get("data", []))
    items[-1] = {k: v for k, v in items[-1].items() if k != "imageURL"}
    return {"data": items}


@pytest.mark.parametrize(
    ("rewrite", "says"),
    [
        (_garble_last, "unusableResult: Runware reported a finished image without its imageUUID"),
        (_no_url_for_last, "gave no usable URL for it"),
    ],
)
async def test_an_unusable_item_beside_good_ones_is_a_reported_failure_never_a_success(
    rewrite: Callable[[dict[str, Any]], object], says: str, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.faults.extend(Fault.mangle(rewrite, on="getResponse") for _ in range(20))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 4})
    out = data(result)
    assert out["status"] == "done"
    assert len(out["images"]) == 3
    assert all(image["imageURL"].startswith("http") for image in out["images"])
    (failure,) = out["errors"]
    assert says in failure
    assert len(sent(emulator)) == 1


@pytest.mark.parametrize(
    "said",
    [
        {"errors": [{"code": "invalidParameter", "message": "Bad.", "parameter": "taskUUID"}]},
        {"error": "Service temporarily unavailable"},
        {"errors": [{"message": "Try again later."}]},
    ],
    ids=["naming a parameter of the poll", "a bare string", "a message alone"],
)
async def test_an_answer_that_says_nothing_of_the_tasks_failure_leaves_its_task_pending_never_failed(
    said: dict[str, Any], emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Nothing in such an answer says the task failed: taken for its failure, a task Runware ran and charged was said to
    # have made nothing, counted at $0, and never fetched again (a 400 so: test_a_refused_poll_keeps_the_paid_task...).
    # With no code, asked about beside another task, the same answer had been passed over (found by an audit).
    emulator.faults.append(Fault(200, json.dumps(said), on="getResponse"))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "Nothing usable was made" not in text(result)
    assert listed["generations"][0]["state"] in ("pending", "done")
    assert listed["spentTotal"] == 0.06


@pytest.mark.parametrize("status", [400, 422])
@pytest.mark.parametrize(
    "beside",
    [
        [],
        [{"code": "invalidParameter", "message": "Bad.", "parameter": "taskUUID"}],
        [{"code": "invalidParameter", "message": "Bad.", "taskUUID": STRAY}],
    ],
    ids=["alone", "beside a coded error of a parameter", "beside a coded error of another task"],
)
async def test_a_poll_refused_with_no_code_naming_the_task_leaves_it_pending_never_failed(
    status: int, beside: list[dict[str, str]], emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The status refuses the poll; nothing says the task failed: it had been said to have made nothing, counted at $0
    # and never fetched again, though Runware ran and charged it (found by review; 9889799 had made the 422 so), and,
    # beside a coded error, after the first fix too (found by a later review).
    def refused(body: dict[str, Any]) -> object:
        named = {item.get("taskUUID") for item in body.get("data", [])}
        return {"errors": [*({"message": "Request rejected", "taskUUID": task_uuid} for task_uuid in named), *beside]}

    emulator.faults.append(Fault.mangle(refused, on="getResponse", status=status))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert len(emulator.ledger) == 1
    assert "Nothing usable was made" not in text(result)
    assert listed["spentTotal"] == 0.06
    # No argument of the agent's was sent: "Change the arguments it names and try again" had been said beside "do not
    # start it again" (found by review).
    assert "Change the arguments" not in text(result)
    if not any("taskUUID" in error for error in beside):  # else asked again, as where a poll names another task
        opening = f"Runware refused to say how the task stands (HTTP {status}); nothing says it failed."
        assert text(result).startswith(opening)
        assert "Later, call get_generation" in text(result)


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (200, lambda body: {"errors": [{"code": "inferenceError", "message": "Inference failed", "status": "error"}]}),
        *((status, said_of_each("inferenceError", "Inference failed")) for status in (200, 400, 422)),
    ],
    ids=["200 naming no task", "200", "400", "422"],
)
async def test_a_task_said_to_have_failed_is_failed_whatever_the_status_and_named_or_not(
    status: int, said: Callable[[dict[str, Any]], object], emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # A coded failure of the task is its outcome:
    # - naming no task, in an answer about one (Runware's error entries need not carry a taskUUID), it had waited out
    #   its call, "still running on Runware", counted at its quote for good;
    # - under a 422 it had been taken for a passing fault of Runware's (inferenceError is one in a submission's
    #   answer), asked again for the whole wait, with the same outcome (seen by a review).
    emulator.faults.extend(Fault.mangle(said, on="getResponse", status=status) for _ in range(20))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert result.is_error
    assert "inferenceError: Inference failed" in text(result)
    assert "still running" not in text(result)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("failed", 0)
    assert len(emulator.ledger) == 1


@pytest.mark.parametrize("status", [200, 400, 404, 409, 410, 422])
async def test_a_task_refused_credit_when_it_was_to_run_failed_uncharged_whatever_the_status_but_402(
    status: int, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Said of the task polled, a lack of credit is its news: it was refused when it was to run. Under a 409, 410 or
    # 422 the code had been read as a 402 of the poll's: the task left pending and counted at its quote for good, where
    # under a 200, a 400 or a 404 the same words failed it (a 402 is the account's refusal of the poll: kept pending).
    emulator.faults.extend(
        Fault.mangle(said_of_each("insufficientCredits", "Top up."), on="getResponse", status=status) for _ in range(20)
    )
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert result.is_error
    assert "insufficientCredits: Top up." in text(result), text(result)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("failed", 0)


def _second_image_late(body: dict[str, Any]) -> object:
    """A rewrite for ``Fault.mangle``: every image of the answer but its first still processing."""
    items = [item for item in body.get("data", []) if item.get("status") == "success"]
    late = [item | {"status": "processing", "imageUUID": None, "imageURL": None} for item in items[1:]]
    return body | {"data": [*items[:1], *late]}


def _lasting(rewrite: Callable[[dict[str, Any]], object]) -> Fault:
    """Every poll's answer rewritten so, until the faults are cleared."""
    return dataclasses.replace(Fault.mangle(rewrite, on="getResponse"), lasting=True)


def _garbled_then_late(body: dict[str, Any]) -> object:
    """A rewrite for ``Fault.mangle``: the first image of the answer garbled (no usable imageUUID), the rest late."""
    late = cast(dict[str, Any], _second_image_late(body))
    return late | {"data": [item | {"imageUUID": 12345} if item.get("imageURL") else item for item in late["data"]]}


def _all_late(body: dict[str, Any]) -> object:
    """A rewrite for ``Fault.mangle``: every image of the answer still processing."""
    late = {"status": "processing", "imageUUID": None, "imageURL": None}
    return body | {"data": [item | late for item in body.get("data", [])]}


def _said_of(task_uuid: str, code: str, message: str, status: int = 200) -> Fault:
    """Every poll answered with Runware's ``code`` said of the task, under ``status``, until the faults are cleared."""
    said = {"errors": [{"code": code, "message": message, "taskUUID": task_uuid}]}
    return Fault(status, json.dumps(said), on="getResponse", lasting=True)


def _now(emulator: Emulator, *faults: Fault) -> None:
    """The emulator's faults from here on: ``faults``, in order, in place of those before."""
    emulator.faults.clear()
    emulator.faults.extend(faults)


async def _sent(mcp: Client) -> str:
    """A task of two images sent, its call over (its images as the faults have them); its taskUUID."""
    return data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))["taskUUID"]


async def _short_of_credit(emulator: Emulator, mcp: Client, task_uuid: str, status: int = 200) -> None:
    """Runware now says the account lacks credit, under ``status``: a later fetch says so, and the task, which ran,
    stays pending at its quote ($0.12), never failed at $0."""
    _now(emulator, _said_of(task_uuid, "insufficientCredits", "Top up.", status))
    later = await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 0})
    listed = data(await mcp.call_tool("list_generations", {}))
    assert "The Runware account has too little credit" in text(later), text(later)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("pending", 0.12)


@pytest.mark.parametrize("status", [200, 400, 404, 422])
async def test_a_lack_of_credit_said_to_a_later_fetch_of_a_task_that_saved_an_image_keeps_it_pending(
    status: int, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The fetch's watch began empty: the credit refusal was taken for the task's own, its second image, run and
    # charged, failed at $0 and never fetched, the task settled as done (found by review).
    emulator.faults.append(_lasting(_second_image_late))
    async with over_http(wait_seconds=1.0) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        assert (first["status"], len(first["images"])) == ("pending", 1)
        _now(emulator, _said_of(first["taskUUID"], "insufficientCredits", "Top up.", status))
        later = await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"], "wait": 0})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "failed" not in text(later)
    assert "The Runware account has too little credit" in text(later), text(later)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("pending", 0.12)


@pytest.mark.parametrize("status", [200, 422])
async def test_a_lack_of_credit_said_to_a_later_fetch_of_a_task_whose_first_image_was_unusable_keeps_it_pending(
    status: int, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # An image Runware reported finished ran and was charged, though it could not be used: the task had been failed,
    # its charge forgotten ($0 spent, $0.12 charged; found by review).
    emulator.faults.append(_lasting(_garbled_then_late))
    async with over_http(wait_seconds=1.0) as mcp:
        task_uuid = await _sent(mcp)
        await _short_of_credit(emulator, mcp, task_uuid, status)


async def test_a_task_that_fails_after_an_unusable_image_keeps_that_image_charged(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Runware reported the first image finished (charged) but unusable; a later fetch heard only that the task failed.
    # The failure had been recorded at $0 and said "not charged", the unusable image's charge dropped from the day's
    # spend, though the answer still listed its failure.
    emulator.faults.append(_lasting(_garbled_then_late))
    async with over_http(wait_seconds=1.0) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        assert first["status"] == "pending"
        _now(emulator, _said_of(first["taskUUID"], "inferenceFailed", "It broke."))
        later = await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"], "wait": 0})
        again = await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]})  # settled: from the journal
        listed = data(await mcp.call_tool("list_generations", {}))
    assert later.is_error
    assert again.is_error
    assert "; inferenceFailed: It broke. Nothing usable was made." in text(later), text(later)
    assert text(later).startswith("All 2 requested image(s) failed: unusableResult: "), text(later)
    assert "1 of them finished, so those may have been charged ($0.06)" in text(later), text(later)
    assert text(again).endswith("Nothing more can be fetched. It may have been charged ($0.06), and is counted so.")
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("failed", 0.06)


async def test_an_unusable_image_that_comes_right_in_a_later_fetch_is_charged_once(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The journal's unusable image is counted while its place is empty, never beside the image that filled it.
    emulator.faults.append(_lasting(_garbled_then_late))
    async with over_http(wait_seconds=1.0) as mcp:
        sent = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        _now(emulator)
        later = await mcp.call_tool("get_generation", {"taskUUID": data(sent)["taskUUID"], "wait": 0})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "Runware reported 1 more image(s) finished that cannot be used" in text(sent), text(sent)
    assert (data(sent)["status"], data(later)["status"], len(data(later)["images"])) == ("pending", "done", 2)
    assert "cannot be used" not in text(later)
    assert (listed["generations"][0]["cost"], listed["spentTotal"]) == (0.12, 0.12)


def _first_right_second_failed(body: dict[str, Any]) -> object:
    """A rewrite for ``Fault.mangle``: the first image of the answer whole, the rest failed."""
    items = [item for item in body.get("data", []) if item.get("status") == "success"]
    broke = {"status": "error", "code": "inferenceFailed", "message": "It broke.", "imageUUID": None, "imageURL": None}
    return body | {"data": [*items[:1], *[item | broke for item in items[1:]]]}


def _first_bad_url(rewrite: Callable[[dict[str, Any]], object]) -> Callable[[dict[str, Any]], object]:
    """``rewrite``, then the first image's URL garbled (another way an image comes unusable)."""

    def garbled(body: dict[str, Any]) -> object:
        done = cast(dict[str, Any], rewrite(body))
        return done | {
            "data": [item | {"imageURL": "not a url"} if item.get("imageURL") else item for item in done["data"]]
        }

    return garbled


async def test_an_unusable_image_that_comes_right_beside_one_that_failed_is_not_charged_in_its_place(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The journal's unusable image took the one free place: $0.12 counted, the real failure never said (found by
    # review of 59c45a2).
    emulator.faults.append(_lasting(_garbled_then_late))
    async with over_http(wait_seconds=1.0) as mcp:
        sent = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        _now(emulator, _lasting(_first_right_second_failed))
        later = await mcp.call_tool("get_generation", {"taskUUID": sent["taskUUID"]})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "1 requested image(s) failed: inferenceFailed: It broke." in text(later), text(later)
    assert "unusableResult" not in text(later)
    assert "cannot be used" not in text(later)
    assert (listed["generations"][0]["cost"], listed["spentTotal"]) == (0.06, 0.06)


async def test_one_unusable_image_worded_two_ways_in_two_fetches_is_charged_once(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Both wordings were kept as two failures, then counted as two charged images (found by review of 59c45a2).
    emulator.faults.append(_lasting(_garbled_then_late))
    async with over_http(wait_seconds=1.0) as mcp:
        task_uuid = await _sent(mcp)
        _now(emulator, _lasting(_first_bad_url(_second_image_late)))
        later = await mcp.call_tool("get_generation", {"taskUUID": task_uuid})
        _now(emulator, _lasting(_first_bad_url(_first_right_second_failed)))
        last = await mcp.call_tool("get_generation", {"taskUUID": task_uuid})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "Runware reported 1 more image(s) finished that cannot be used" in text(later), text(later)
    assert text(last).startswith("All 2 requested image(s) failed: inferenceFailed: It broke; unusableResult: ")
    assert text(last).endswith(
        "Nothing usable was made. Runware reported 1 of them finished, so those may have been charged ($0.06)."
    )
    assert (listed["generations"][0]["cost"], listed["spentTotal"]) == (0.06, 0.06)


async def test_a_task_failing_as_a_whole_after_a_poll_that_listed_its_images_keeps_the_unusable_one_charged(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # One answer that listed the images had made every later one trusted: the whole-task failure that followed was
    # said "not charged", the unusable image dropped from the answer and the spend (found by review of 54fc7bd).
    emulator.faults.append(_lasting(_garbled_then_late))
    async with over_http(wait_seconds=1.0) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        listing = Fault.mangle(_garbled_then_late, on="getResponse")  # one poll that lists them
        _now(emulator, listing, _said_of(first["taskUUID"], "inferenceFailed", "It broke."))
        later = await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert text(later).startswith("All 2 requested image(s) failed: unusableResult: "), text(later)
    assert text(later).endswith("1 of them finished, so those may have been charged ($0.06).")
    assert listed["spentTotal"] == 0.06


async def test_a_fetch_that_sees_the_unusable_image_only_once_keeps_its_recorded_charge(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # A garbled item seen once is in doubt (it may come right); its charge, recorded before, had been written over
    # with $0, and the whole-task failure after it was said "not charged" (found by review of 54fc7bd).
    emulator.faults.append(_lasting(_garbled_then_late))
    async with over_http(wait_seconds=1.0) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        later = await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"], "wait": 0})
        between = data(await mcp.call_tool("list_generations", {}))
        _now(emulator, _said_of(first["taskUUID"], "inferenceFailed", "It broke."))
        last = await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"], "wait": 0})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert text(later).startswith("Still rendering: 0 of 2 image(s) ready"), text(later)  # in doubt: it may come right
    assert (between["generations"][0]["state"], between["generations"][0]["cost"]) == ("pending", 0.06)
    assert text(last).endswith("1 of them finished, so those may have been charged ($0.06)."), text(last)
    assert listed["spentTotal"] == 0.06


def _instead(code: str, message: str) -> Callable[[dict[str, Any]], object]:
    """A rewrite for ``Fault.mangle``: Runware's ``code`` said of the answer's task, and no items."""

    def rewrite(body: dict[str, Any]) -> object:
        return {"errors": [{"code": code, "message": message, "taskUUID": body["data"][0]["taskUUID"]}]}

    return rewrite


_failed_whole = _instead("inferenceFailed", "It broke.")
"""The task failed as a whole."""


@pytest.mark.parametrize("n", [1, 2, 3])
async def test_a_task_failing_as_a_whole_right_after_an_unusable_image_keeps_it_charged(
    n: int, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The answer with no items had cleared the unusable image's charge and rebuilt the failures without it: $0 and
    # "Nothing usable was made" where Runware charged the image (found by review; older than 59c45a2).
    emulator.faults.extend([Fault.mangle(_garbled_then_late, on="getResponse")] * 2)
    emulator.faults.append(_lasting(_failed_whole))
    async with over_http(wait_seconds=2.0) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": n})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert text(result).startswith(f"All {n} requested image(s) failed: unusableResult: "), text(result)
    assert "may have been charged ($0.06)" in text(result)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("failed", 0.06)


async def test_an_unusable_image_seen_once_in_each_of_two_fetches_stays_charged_when_the_task_then_fails(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Each fetch saw it once, so in doubt (it may come right), and none kept it: the whole-task failure after was
    # said "not charged" (found by review; older than 59c45a2).
    emulator.faults.append(_lasting(_all_late))
    async with over_http(wait_seconds=1.0) as mcp:
        task_uuid = await _sent(mcp)
        seen = []
        for _ in range(2):
            _now(emulator, Fault.mangle(_garbled_then_late, on="getResponse"))
            seen.append(text(await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 0})))
        _now(emulator, _lasting(_failed_whole))
        last = await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 0})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert all("cannot be used" not in said for said in seen)  # in doubt in each: not said, but recorded
    assert "1 of them finished, so those may have been charged ($0.06)" in text(last), text(last)
    assert listed["spentTotal"] == 0.06


async def test_a_second_unusable_image_seen_in_a_fetch_is_charged_beside_the_first_when_the_task_fails(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The journal's one unusable image stood for both (found by review of 6b2990c).
    def two_garbled(body: dict[str, Any]) -> object:
        items = [item for item in body.get("data", []) if item.get("status") == "success"]
        late = [item | {"status": "processing", "imageUUID": None, "imageURL": None} for item in items[2:]]
        return body | {"data": [*(item | {"imageUUID": 12345} for item in items[:2]), *late]}

    emulator.faults.append(_lasting(_garbled_then_late))
    async with over_http(wait_seconds=1.0) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3}))
        _now(emulator, *[Fault.mangle(two_garbled, on="getResponse")] * 2, _lasting(_failed_whole))
        later = await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "2 of them finished, so those may have been charged ($0.12)" in text(later), text(later)
    assert listed["spentTotal"] == 0.12


async def test_an_unusable_image_that_comes_right_before_the_task_fails_as_a_whole_is_charged_once(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The answer that showed it whole was forgotten once the failure came: the journal's charge was added back, the
    # image it was given said to be unusable, and the real failure dropped (found by review of 75f106a).
    emulator.faults.append(_lasting(_first_bad_url(_second_image_late)))
    async with over_http(wait_seconds=1.0) as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        _now(emulator, Fault.mangle(_second_image_late, on="getResponse"), _lasting(_failed_whole))
        later = await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "1 requested image(s) failed: inferenceFailed: It broke." in text(later), text(later)
    assert "cannot be used" not in text(later)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("done", 0.06)


@pytest.mark.parametrize("status", [200, 422])
async def test_a_lack_of_credit_said_after_an_unusable_image_seen_once_keeps_the_task_pending(
    status: int, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The image in doubt was not taken for a sign the task ran: the refusal failed the task, "Nothing usable was
    # made", $0.06 counted and never polled again (found by review of 8056af7; at efb4b11, $0).
    emulator.faults.append(_lasting(_all_late))
    async with over_http(wait_seconds=1.0) as mcp:
        task_uuid = await _sent(mcp)
        _now(emulator, Fault.mangle(_garbled_then_late, on="getResponse"))  # seen once: in doubt
        await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 0})
        await _short_of_credit(emulator, mcp, task_uuid, status)


async def test_a_lack_of_credit_said_right_after_an_unusable_image_seen_once_in_the_call_keeps_the_task_pending(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The same in one call: a garbled item of an answer before is a sign the task ran, though the answer after it
    # lists the image as running again (found by review of 7050bc7).
    emulator.faults.append(Fault.mangle(_garbled_then_late, on="getResponse"))
    emulator.faults.append(Fault.mangle(_all_late, on="getResponse"))
    emulator.faults.append(_lasting(_instead("insufficientCredits", "Top up.")))
    async with over_http(wait_seconds=1.0) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "The Runware account has too little credit" in text(result), text(result)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("pending", 0.12)


async def test_a_lack_of_credit_said_to_a_later_call_after_an_unusable_image_seen_once_keeps_the_task_pending(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The same across calls: the call that saw the garbled item, then the image running again, journaled the task as
    # if it had never run (nothing in doubt once the image was listed again), and the next call's refusal failed it,
    # $0 counted, never polled again (found by review of 9f944b8).
    emulator.faults.append(_lasting(_all_late))
    async with over_http(wait_seconds=1.0) as mcp:
        task_uuid = await _sent(mcp)
        _now(emulator, Fault.mangle(_garbled_then_late, on="getResponse"), _lasting(_all_late))
        polls = len(emulator.requests)
        await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 1})
        assert [fault.lasting for fault in emulator.faults] == [True], "the garbled answer was read"
        assert len(emulator.requests) - polls >= 2, "and one after it, listing the image running again"
        await _short_of_credit(emulator, mcp, task_uuid)


async def test_a_lack_of_credit_said_after_a_cancelled_call_saw_an_unusable_image_once_keeps_the_task_pending(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The same with the call that saw them cancelled: nothing of it reached the journal, and the next call's refusal
    # failed the task at $0 (found by review of 8763a97).
    emulator.faults.append(_lasting(_all_late))
    async with over_http(wait_seconds=1.0) as mcp:
        task_uuid = await _sent(mcp)
    async with over_http(wait_seconds=20.0) as mcp:  # the next call waits longer than its polls take
        listed_again = anyio.Event()

        def late_again(body: dict[str, Any]) -> object:
            listed_again.set()
            return _all_late(body)

        _now(emulator, Fault.mangle(_garbled_then_late, on="getResponse"), _lasting(late_again))
        async with anyio.create_task_group() as group:
            group.start_soon(mcp.call_tool, "get_generation", {"taskUUID": task_uuid, "wait": 10})
            with anyio.fail_after(10):  # the garbled answer given, then one listing the image running again
                await listed_again.wait()
            group.cancel_scope.cancel()
        await _short_of_credit(emulator, mcp, task_uuid)


async def test_a_task_blocked_for_credit_after_its_first_image_says_so_not_that_it_renders(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The call had ended at once with "The task is still running on Runware ... wait for the rest", nothing saying the
    # account must be topped up first (found by review). The second image is kept late whatever the clock does (two
    # renders ending in one poll's interval had made the test flaky under load).
    emulator.render_seconds = 2.0

    def beside(body: dict[str, Any]) -> object:
        if any(item.get("status") == "success" for item in body.get("data", [])):
            said = {"code": "insufficientCredits", "message": "Top up.", "taskUUID": body["data"][0]["taskUUID"]}
            late = cast(dict[str, Any], _second_image_late(body))
            return late | {"errors": [*body.get("errors", []), said]}
        return body

    emulator.faults.append(dataclasses.replace(Fault.mangle(beside, on="getResponse"), lasting=True))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
    assert (data(result)["status"], len(data(result)["images"])) == ("pending", 1)
    assert "still running" not in text(result)
    assert "The Runware account has too little credit" in text(result), text(result)
    assert "The rest may still run and be charged. Once this is fixed, call get_generation" in text(result)
    assert text(result).endswith(" to fetch the rest; do not start a new generation for it.")


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "Not Found"},
        {"timestamp": "2026-12-07T05:00:00Z", "status": 404, "error": "Not Found", "path": "/v1"},
    ],
    ids=["bare", "a web framework's own"],
)
async def test_polls_answered_by_an_address_that_is_not_runwares_api_say_to_check_it(
    body: dict[str, object], emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # A 404 with no Runware error code in it: RUNWARE_BASE_URL names something else, which waiting never fixes; b4da33e
    # had told the agent to fetch it "later" and no longer named the setting, and Spring's body had been taken for
    # Runware's own (found by review).
    emulator.faults.append(Fault(404, json.dumps(body), on="getResponse", lasting=True))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert "have the user check RUNWARE_BASE_URL" in text(result)
    assert "Once this is fixed, call get_generation" in text(result)


@pytest.mark.parametrize(
    ("on", "body"),
    [
        ("imageInference", {"error": "Model not found: ideogram:4@1"}),
        ("imageInference", {"errors": [{"message": "Model not found", "parameter": "model"}]}),
        ("getResponse", {"error": "Task not found"}),
    ],
    ids=["a submission, a bare string", "a submission, no code", "a poll, a bare string"],
)
async def test_a_404_saying_what_runware_does_not_know_is_runwares_not_the_addresss(
    on: str, body: dict[str, object], emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Shapes Runware's SDKs have seen, said with no code: the first version of 6ebb462 had sent the user to check a
    # RUNWARE_BASE_URL that was right (found by review).
    emulator.faults.append(Fault(404, json.dumps(body), on=on, lasting=True))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert "RUNWARE_BASE_URL" not in text(result)
    assert "Runware said:" in text(result)


async def test_a_poll_refused_for_credit_says_to_fetch_the_task_never_to_try_again(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # "Top it up, then try again" had stood beside "do not start it again": an agent obeying the first pays twice
    # (found by review).
    emulator.faults.append(Fault.error(402, "insufficientCredits", "no credit", on="getResponse", lasting=True))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert text(result).startswith(
        "The Runware account has too little credit, so Runware refused to say how the task stands. Top it up."
    )
    assert "try again" not in text(result)
    assert "Once this is fixed, call get_generation" in text(result)


@pytest.mark.parametrize(
    "said",
    [
        {"error": "Service temporarily unavailable"},
        {"errors": [{"message": "Service temporarily unavailable", "taskUUID": STRAY}]},
        {"errors": [{"code": "internalServerError", "message": "x", "taskUUID": STRAY}]},
    ],
    ids=["no code", "no code, of a task not asked about", "a code, of a task not asked about"],
)
async def test_a_task_whose_every_poll_answers_an_error_of_no_task_asked_about_is_not_said_to_be_running(
    said: dict[str, Any], emulator: Emulator, over_http: Callable[..., Client], short_patience: None
) -> None:
    # Passed over as saying nothing, such answers had left the task "still running on Runware" for the whole wait,
    # where the same answer with a code said the polls were failing (found by review); naming a task this server never
    # asked about, coded or not, the same (found by a later review).
    emulator.faults.append(Fault(200, json.dumps(said), on="getResponse", lasting=True))
    async with over_http(wait_seconds=40.0) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "still running on Runware" not in text(result)
    assert "Runware's last answer about this task was a failure" in text(result)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("pending", 0.06)


async def test_an_error_with_no_code_naming_the_task_in_a_poll_is_still_its_failure(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Counted as the poll's trouble, it had left a task that failed pending for good (found by review).
    def failed(body: dict[str, Any]) -> object:
        named = {item.get("taskUUID") for item in body.get("data", [])}
        return {"errors": [{"message": "Generation failed.", "taskUUID": task_uuid} for task_uuid in named]}

    emulator.faults.append(dataclasses.replace(Fault.mangle(failed, on="getResponse"), lasting=True))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "Generation failed." in text(result)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("failed", 0)


@pytest.mark.parametrize(
    "said",
    [{"error": "Service temporarily unavailable"}, {"errors": [{"code": "internalServerError", "message": "x"}]}],
    ids=["no code", "a code"],
)
async def test_tasks_polled_together_whose_polls_answer_an_error_naming_none_are_not_said_to_be_running(
    said: dict[str, Any], emulator: Emulator, over_http: Callable[..., Client], short_patience: None
) -> None:
    emulator.faults.append(Fault(200, json.dumps(said), on="getResponse", lasting=True))
    results: list[str] = []
    async with over_http(wait_seconds=40.0) as mcp:

        async def call(prompt: str) -> None:
            results.append(text(await mcp.call_tool("generate_image", {"positivePrompt": prompt})))

        async with anyio.create_task_group() as calls:
            calls.start_soon(call, PROMPT)
            calls.start_soon(call, PROMPT + " again")
    assert any(len(tasks) == 2 for tasks in emulator.requests if tasks[0]["taskType"] == "getResponse")
    assert not any("still running on Runware" in said for said in results), results


@pytest.mark.parametrize(
    "said",
    [
        {"error": "Service temporarily unavailable"},
        {"errors": None, "error": "Service temporarily unavailable"},
        {"errors": [{"message": "Service temporarily unavailable", "taskUUID": STRAY}]},
        {"errors": [{"code": "invalidParameter", "message": "Invalid value.", "taskUUID": STRAY}]},
    ],
    ids=["no code", "beside errors of null", "no code, of another task", "a code, of another task"],
)
async def test_a_submission_answered_with_an_error_not_its_own_is_sent_again_under_its_task_uuid(
    said: dict[str, Any], emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Not retried, the task had stayed pending and counted as spent though Runware never ran it (found by review);
    # beside "errors": null the error had not been read at all, and a lone task's answer holding only another task's
    # error had been taken for its acknowledgement (found by a later review).
    emulator.faults.append(Fault(200, json.dumps(said), on="imageInference"))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert not result.is_error
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("done", 0.06)
    assert len(emulator.ledger) == 1


async def test_a_finished_task_fetched_again_is_said_to_cost_what_its_journal_holds(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # Fetched again, it was said to cost what its usable images cost: $0.18 of the $0.24 Runware charged.
    emulator.faults.extend(Fault.mangle(_garble_last, on="getResponse") for _ in range(20))
    async with over_http() as mcp:
        first = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 4}))
        again = data(await mcp.call_tool("get_generation", {"taskUUID": first["taskUUID"]}))
        listed = data(await mcp.call_tool("list_generations", {}))
    assert first["totalCost"] == again["totalCost"] == listed["generations"][0]["cost"] == emulator.charged == 0.24
    assert "$0.24" in again["message"].splitlines()[0]


@pytest.mark.parametrize(
    ("fault", "says", "kind"),
    [
        (Fault.error(401, "invalidApiKey", "Invalid API key.", "apiKey"), "refused the API key", "runware_error"),
        (Fault.error(402, "insufficientCredits", "Top up."), "too little credit", "runware_error"),
        (Fault.error(400, "invalidParameter", "Bad.", "width"), "(argument width)", "runware_error"),
    ],
)
async def test_a_refusal_is_never_retried_and_nothing_is_charged(
    fault: Fault, says: str, kind: str, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.faults.append(fault)
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert says in text(result)
    assert error_of(result)["kind"] == kind
    assert error_of(result)["retryable"] is False
    assert len(sent(emulator)) == 1
    assert emulator.ledger == []
    assert [g["state"] for g in listed["generations"]] == ["failed"]


async def test_a_server_that_cannot_be_reached_costs_nothing_and_says_so(
    make_settings: Callable[..., Settings], output: Path
) -> None:
    settings = make_settings(runware_base_url="http://127.0.0.1:9/v1")  # a closed port; the default 50 s wait
    async with Client(build_server(settings)) as mcp:
        with anyio.fail_after(5):  # the bound: the agent hears within 5 s, not at the end of its wait
            result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert "nothing was sent" in text(result)
    assert "may still" not in text(result)
    assert error_of(result)["retryable"] is True
    assert error_of(result)["mayHaveBeenCharged"] is False
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("failed", 0)


async def test_a_render_slower_than_the_wait_is_pending_and_get_generation_brings_it(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.render_seconds = 2.0
    async with over_http(wait_seconds=0.5) as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        assert not first.is_error, text(first)
        pending = data(first)
        assert (pending["status"], pending["images"]) == ("pending", [])
        assert f'Call get_generation with taskUUID "{pending["taskUUID"]}"' in text(first)
        ready: list[int] = []
        with anyio.fail_after(15):
            while True:  # as an agent does: ask again while it is pending, each call waiting at most 0.5 s
                later = await mcp.call_tool("get_generation", {"taskUUID": pending["taskUUID"], "wait": 10})
                ready.append(len(data(later)["images"]))
                if data(later)["status"] == "done":
                    break
        again = await mcp.call_tool("get_generation", {"taskUUID": pending["taskUUID"]})
    assert ready == sorted(ready)
    assert ready[-1] == 2
    assert data(later)["status"] == "done"
    assert data(later)["taskUUID"] == pending["taskUUID"]
    assert data(again) == data(later), "a finished task is answered from the journal, unchanged"
    assert len(sent(emulator)) == 1
    charged_once_and_delivered(emulator, later)


async def test_a_cancelled_call_stays_pending_and_its_images_can_be_fetched_later(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.render_seconds = 1.5
    async with over_http() as mcp:
        with anyio.move_on_after(0.5) as scope:
            await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        assert scope.cancelled_caught
        listed = data(await mcp.call_tool("list_generations", {"state": "pending"}))
        (pending,) = listed["generations"]
        with anyio.fail_after(15):
            fetched = await mcp.call_tool("get_generation", {"taskUUID": pending["taskUUID"], "wait": 10})
    assert data(fetched)["status"] == "done"
    charged_once_and_delivered(emulator, fetched)


async def test_a_task_cut_short_by_a_restart_is_fetched_by_the_next_server(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.render_seconds = 1.0
    async with over_http(wait_seconds=0.2) as mcp:
        pending = data(await mcp.call_tool("generate_image", {"positivePrompt": PROMPT}))
    assert pending["status"] == "pending"
    async with over_http() as restarted:
        with anyio.fail_after(15):
            fetched = await restarted.call_tool("get_generation", {"taskUUID": pending["taskUUID"], "wait": 10})
    assert data(fetched)["status"] == "done"
    charged_once_and_delivered(emulator, fetched)


async def test_a_task_a_stopped_process_left_is_saved_by_one_already_running_beside_it(
    emulator: Emulator, over_http: Callable[..., Client], output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only a process started after it took such a task up: one serving already (a second stdio session on the same
    # data folder, another HTTP worker) had looked once, at its first call, and the paid images stayed unsaved.
    monkeypatch.setattr(fetch, "CUT_SHORT_AGAIN", 0.2)
    emulator.render_seconds = 1.0
    async with over_http(wait_seconds=0.3) as running:
        assert data(await running.call_tool("list_generations", {}))["generations"] == []  # it looked: nothing
        async with over_http(wait_seconds=0.3) as stopped:
            pending = data(await stopped.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))
        assert pending["status"] == "pending"  # and its process stopped before seeing it through
        with anyio.fail_after(15):
            while True:  # the agent of the other process lists its own tasks now and then; it never fetches this one
                (listed,) = data(await running.call_tool("list_generations", {}))["generations"]
                if listed["state"] == "done" and not any(image.startswith("http") for image in listed["images"]):
                    break  # each image's saved path, not its URL
                await anyio.sleep(0.2)
    saved = sorted(path.name for path in output.iterdir() if path.suffix == ".jpg")
    assert sorted(Path(image).name for image in listed["images"]) == saved
    assert len(saved) == 2, "each image saved once"
    assert sent(emulator) == [pending["taskUUID"]], "fetched, never sent again"
    (charge,) = [c for c in emulator.ledger if c.task_uuid == pending["taskUUID"]]
    assert charge.images == 2


async def test_a_process_waiting_less_leaves_alone_a_task_whose_call_still_waits_in_another(
    emulator: Emulator,
    over_http: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It took a task up once its own wait was over, not the sending call's: a live call's task, polled and downloaded
    # twice, and logged as one its process "did not finish".
    monkeypatch.setattr(fetch, "CUT_SHORT_AGAIN", 0.2)
    caplog.set_level(logging.INFO, logger="ideogram_mcp.tasks.fetch")
    monkeypatch.setattr(fetch, "SAVING_GRACE", 0.5)  # a grace shorter than the render: the call still waits
    emulator.render_seconds = 3.0
    made: list[types.CallToolResult] = []
    async with over_http(wait_seconds=0.3) as hurried, over_http(wait_seconds=15) as patient:
        assert data(await hurried.call_tool("list_generations", {}))["generations"] == []

        async def call() -> None:
            made.append(await patient.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2}))

        async def list_meanwhile() -> None:
            while not made:
                await hurried.call_tool("list_generations", {})
                await anyio.sleep(0.2)

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                group.start_soon(call)
                group.start_soon(list_meanwhile)
    assert data(made[0])["status"] == "done"
    assert [r.getMessage() for r in caplog.records if "fetching it" in r.getMessage()] == []
    charged_once_and_delivered(emulator, made[0])


async def test_many_generations_in_flight_share_their_polls(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.render_seconds = 1.0
    results: list[types.CallToolResult] = []
    async with over_http() as mcp:

        async def one(n: int) -> None:
            results.append(await mcp.call_tool("generate_image", {"positivePrompt": f"{PROMPT} {n}"}))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                for n in range(8):
                    group.start_soon(one, n)
    assert all(data(r)["status"] == "done" for r in results)
    polls = [tasks for tasks in emulator.requests if tasks[0]["taskType"] == "getResponse"]
    assert max(len(tasks) for tasks in polls) >= 4, "tasks in flight together are polled in one request"
    assert len(polls) < len(sent(emulator, "getResponse"))


@pytest.mark.parametrize("on", ["imageInference", "getResponse"])
async def test_an_answer_that_cannot_be_decoded_is_a_broken_exchange_not_a_crash(
    on: str, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.faults.append(Fault.mangle(lambda body: "this is not gzip", on=on, headers={"Content-Encoding": "gzip"}))
    async with over_http() as mcp:
        with anyio.fail_after(30):
            result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        assert not result.is_error, text(result)
        assert data(result)["status"] == "done"
        charged_once_and_delivered(emulator, result)
        with anyio.fail_after(30):
            again = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert not again.is_error, "the server (and its poll loop) still serves"


async def test_an_image_url_the_downloader_cannot_parse_is_a_failure_never_a_success(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    def bad_port(body: dict[str, Any]) -> object:
        return {"data": [item | {"imageURL": "http://im.runware.ai:abc/x.jpg"} for item in body.get("data", [])]}

    emulator.faults.extend(Fault.mangle(bad_port, on="getResponse") for _ in range(20))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert error_of(result)["kind"] == "failed"
    assert "gave no usable URL" in text(result)


async def test_when_every_image_fails_the_call_says_so_at_once(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.failing = {0, 1}
    async with over_http() as mcp:
        with anyio.fail_after(10):
            result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        listed = data(await mcp.call_tool("list_generations", {}))
        again = await mcp.call_tool("get_generation", {"taskUUID": listed["generations"][0]["taskUUID"]})
    assert error_of(result)["kind"] == "failed"
    failures = "inferenceError: Image 1 failed to render; inferenceError: Image 2 failed to render."  # one full stop
    assert text(result).startswith(f"All 2 requested image(s) failed: {failures} Nothing usable was made.")
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("failed", 0)
    assert text(again) == f"That generation failed: {failures} Nothing more can be fetched."


@pytest.mark.parametrize(
    "refusal",
    [
        Fault.error(401, "invalidApiKey", "Invalid API key.", "apiKey", on="getResponse"),
        # A refusal of the poll itself: taken for the task's failure, a task Runware charged had been failed at $0.
        Fault.error(400, "invalidParameter", "Invalid value for taskType.", "taskType", on="getResponse"),
        # The refusal naming the task polled: still the poll's, not the task's outcome.
        Fault.mangle(said_of_each("invalidApiKey", "Invalid API key."), on="getResponse", status=401),
        Fault.mangle(said_of_each("forbidden", "Not allowed."), on="getResponse", status=403),
        Fault.mangle(said_of_each("insufficientCredits", "Top up."), on="getResponse", status=402),
        Fault.mangle(said_of_each("invalidApiKey", "Invalid API key."), on="getResponse"),  # in an answer of 200
    ],
    ids=[
        "401",
        "400 about the poll",
        "401 naming the task",
        "403 naming the task",
        "402 naming the task",
        "200 naming the task",
    ],
)
async def test_a_refused_poll_keeps_the_paid_task_pending_and_fetchable(
    refusal: Fault, emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.faults.append(refusal)
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
        fetched = await mcp.call_tool("get_generation", {"taskUUID": listed["generations"][0]["taskUUID"]})
    assert result.is_error
    assert (error_of(result)["mayHaveBeenCharged"], error_of(result)["retryable"]) == (True, False)
    assert "do not start it again" in text(result)
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("pending", 0.06)
    assert data(fetched)["status"] == "done"
    charged_once_and_delivered(emulator, fetched)


async def test_a_task_answered_about_another_task_then_rate_limited_stays_pending_never_try_again(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # The first send is accepted (and charged) though its answer names another task; every resend then meets a 429.
    emulator.faults.append(Fault.mangle(_other_task, on="imageInference"))
    emulator.faults.extend(Fault.error(429, "rateLimitExceeded", "Slow down.", on="imageInference") for _ in range(50))
    async with over_http(wait_seconds=2.0) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert not result.is_error, text(result)
    assert data(result)["status"] == "pending"
    assert text(result) == (
        "Pending: 0 of 1 image(s) ready with Ideogram 3.0.\n"
        "Runware's last answer about this task was a failure (rateLimitExceeded: Slow down.), so whether it runs is "
        "not known; it may still run and be charged, and it is never sent twice. Call get_generation with taskUUID "
        f'"{data(result)["taskUUID"]}" later to see; do not start a new generation for it until get_generation says '
        "it failed."
    )
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("pending", 0.06)
    assert [c.task_uuid for c in emulator.ledger] == [data(result)["taskUUID"]]


async def test_polls_that_keep_failing_leave_the_task_pending_and_say_so_not_that_it_renders(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.faults.extend(Fault.error(503, "serviceUnavailable", "Busy.", on="getResponse") for _ in range(50))
    async with over_http(wait_seconds=1.5) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert data(result)["status"] == "pending"
    assert text(result).startswith("Pending: 0 of 1 image(s) ready with Ideogram 3.0.\n")
    assert "Runware's last answer about this task was a failure (serviceUnavailable: Busy.)" in text(result)


async def test_no_such_task_is_counted_from_when_runware_took_the_task_not_from_a_slow_submission(
    make_settings: Callable[..., Settings], output: Path, clock: ManualClock
) -> None:
    # In memory, on the tests' clock: a 429 that holds the submission longer than "no such task" is doubted.
    emulator = Emulator(api_key=API_KEY, clock=clock, render_seconds=10.0)
    slow_down = Fault.error(429, "rateLimitExceeded", "Slow down.", retry_after=2 * LOST_AFTER, on="imageInference")
    emulator.faults.append(slow_down)
    emulator.faults.append(Fault.mangle(_not_known_yet, on="getResponse"))  # Runware's lag right after a task
    settings = make_settings(output_dir=output, wait_seconds=4 * LOST_AFTER, preview=False)
    async with Client(build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=clock)) as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert data(result)["status"] == "done", text(result)
    charged_once_and_delivered(emulator, result)


async def test_images_that_come_beside_an_error_status_are_kept(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    # One image failed: the poll answers HTTP 400 with its error, and the finished images in the same body.
    emulator.failing = {1}
    emulator.faults.append(Fault.mangle(lambda body: body, on="getResponse", status=400))
    async with over_http() as mcp:
        result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 3})
    out = data(result)
    assert (out["status"], len(out["images"]), out["errors"]) == (
        "done",
        2,
        ["inferenceError: Image 2 failed to render."],
    )
    assert not emulator.faults
    charged_once_and_delivered(emulator, result)


async def test_a_finished_task_with_a_failed_image_is_fetched_again_unchanged(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.failing = {1}
    async with over_http() as mcp:
        first = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT, "numberResults": 2})
        again = await mcp.call_tool("get_generation", {"taskUUID": data(first)["taskUUID"]})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert data(again) == data(first)
    assert data(again)["status"] == "done"
    assert (listed["generations"][0]["state"], listed["spentTotal"]) == ("done", 0.06)


async def test_a_hanging_runware_never_keeps_the_call_past_its_wait(
    emulator: Emulator, over_http: Callable[..., Client]
) -> None:
    emulator.faults.extend(Fault.hang(on="imageInference") for _ in range(10))
    async with over_http(wait_seconds=2.0, runware_timeout=1.5) as mcp:
        # Ten hanging exchanges of 1.5 s each would take 15 s; bounded by its 2 s wait the call ends far
        # sooner. The guard is loose on purpose: it tells the two apart on any machine, it times nothing.
        with anyio.fail_after(10):
            result = await mcp.call_tool("generate_image", {"positivePrompt": PROMPT})
    assert data(result)["status"] == "pending", "it may have reached Runware: pending, never 'try again'"


async def test_an_upload_that_never_answers_fails_the_call_with_nothing_sent_or_charged(
    emulator: Emulator, over_http: Callable[..., Client], output: Path
) -> None:
    picture(output / "square.png", (512, 512))
    emulator.faults.extend(Fault.hang(on="imageUpload") for _ in range(10))
    async with over_http(wait_seconds=2.0, runware_timeout=0.5) as mcp:
        with anyio.fail_after(10):
            result = await mcp.call_tool("reframe_image", {"image": "square.png", "aspectRatio": "16:9"})
        listed = data(await mcp.call_tool("list_generations", {}))
    assert text(result) == (
        "Runware at 127.0.0.1 did not answer within 0.5 s. Check the network or RUNWARE_BASE_URL, then try again."
    )
    assert error_of(result) == {"kind": "runware_error", "retryable": True, "mayHaveBeenCharged": False}
    assert sent(emulator) == [], "the paid task was never sent"
    assert emulator.ledger == []
    assert (listed["generations"], listed["spentTotal"]) == ([], 0)
