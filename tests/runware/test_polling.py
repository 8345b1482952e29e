"""Polling in rounds, on the tests' clock: every waiting task asked about in one round when due, each waiter woken
only when its task changed, and one task whose polls fail never holding back the others."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator, Fault
from ideogram_mcp.runware import polling
from ideogram_mcp.runware.answers import LOST_AFTER, Snapshot
from ideogram_mcp.runware.delivery import Delivery
from ideogram_mcp.runware.errors import NotFoundError
from ideogram_mcp.runware.polling import MAX_BATCH, PollSchedule

from ..conftest import task
from . import client_of

pytestmark = pytest.mark.anyio


def _down(about: str | None = None) -> Fault:
    """Every poll answered 500, or every poll that asks about ``about``."""
    return Fault.error(500, "internalServerError", "Down.", on="getResponse", about=about, lasting=True)


def _polls(emulator: Emulator) -> list[list[dict[str, Any]]]:
    return [tasks for tasks in emulator.requests if tasks and tasks[0]["taskType"] == "getResponse"]


async def _run(
    emulator: Emulator, clock: ManualClock, sent: list[dict[str, Any]], *, spacing: float = 0.0, wait: float = 30.0
) -> dict[str, tuple[Snapshot, float, int]]:
    """Send the tasks ``spacing`` seconds apart, each waited for by its own caller: its snapshot, when it returned
    (seconds after it was sent) and how many times the caller was woken."""
    got: dict[str, tuple[Snapshot, float, int]] = {}
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)

        async def one(item: dict[str, Any]) -> None:
            woken = 0

            async def heard(snapshot: Snapshot) -> None:
                nonlocal woken
                woken += 1

            await runware.submit(item, until=clock.monotonic() + 5)
            started = clock.monotonic()
            snapshot = await runware.wait(
                item["taskUUID"], item.get("numberResults", 1), clock.monotonic() + wait, heard
            )
            got[item["taskUUID"]] = (snapshot, clock.monotonic() - started, woken)

        async with anyio.create_task_group() as callers:
            for item in sent:
                callers.start_soon(one, item)
                await clock.sleep(spacing)
        loop.cancel_scope.cancel()
    return got


async def test_tasks_in_flight_together_are_asked_about_in_shared_rounds(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 2.0
    sent = [task(deliveryMethod="async") for _ in range(150)]
    got = await _run(emulator, clock, sent, spacing=0.007)  # arriving over a second

    assert all(snapshot.done and len(snapshot.images) == 1 for snapshot, _, _ in got.values())
    polls = _polls(emulator)
    entries = sum(len(tasks) for tasks in polls)
    assert entries / len(sent) <= 4, "a first look, then where its progress said it would be done"
    assert all(len(tasks) <= MAX_BATCH for tasks in polls)
    span = 1.05 + emulator.render_seconds + 0.5  # the sending, the render, the last answer
    assert len(polls) <= 3 * len(sent) / MAX_BATCH + span / PollSchedule().cadence, "rounds, not a request per task"
    delays = sorted(took - emulator.render_seconds for _, took, _ in got.values())
    assert delays[len(delays) // 2] <= 0.3
    assert delays[-1] <= 0.5


async def test_a_task_with_progress_is_asked_about_a_few_times_however_long_it_renders(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 8.0
    got = await _run(emulator, clock, [task(deliveryMethod="async")])

    ((snapshot, took, _),) = got.values()
    assert snapshot.done
    assert took - 8.0 <= 0.5
    assert sum(len(tasks) for tasks in _polls(emulator)) <= 4


async def test_a_task_whose_percentage_says_it_is_nearly_done_is_asked_about_then(
    emulator: Emulator, clock: ManualClock
) -> None:
    """Asked about where its progress says it will be done, not held to the quarter second a task without progress
    waits between asks."""
    emulator.render_seconds = 2.0
    got = await _run(emulator, clock, [task(deliveryMethod="async")])

    ((snapshot, took, _),) = got.values()
    assert snapshot.done
    assert took - 2.0 <= 0.1, f"answered {took - 2.0:.2f} s after its render ended"
    assert sum(len(tasks) for tasks in _polls(emulator)) <= 4


async def test_a_stalled_percentage_is_asked_about_no_more_often_than_none(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 3.0

    def stalled(body: dict[str, Any]) -> object:
        data = [{**item, "progress": 99} if "progress" in item else item for item in body.get("data", [])]
        return {**body, "data": data}

    emulator.faults.append(Fault(on="getResponse", after="mangle", rewrite=stalled, lasting=True))
    got = await _run(emulator, clock, [task(deliveryMethod="async")])

    ((snapshot, _, _),) = got.values()
    assert snapshot.done
    polls = sum(len(tasks) for tasks in _polls(emulator))
    assert polls <= 3.0 / PollSchedule().minimum + 3, f"{polls} asks in a 3 s render at 99% all along"


async def test_a_percentage_that_keeps_saying_nearly_done_is_hurried_at_most_every_other_ask(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 3.0
    answers = 0

    def always_nearly_done(body: dict[str, Any]) -> object:
        nonlocal answers
        answers += 1
        data = [{**item, "progress": 95 + answers % 4} if "progress" in item else item for item in body.get("data", [])]
        return {**body, "data": data}

    emulator.faults.append(Fault(on="getResponse", after="mangle", rewrite=always_nearly_done, lasting=True))
    got = await _run(emulator, clock, [task(deliveryMethod="async")])

    ((snapshot, _, _),) = got.values()
    assert snapshot.done
    schedule = PollSchedule()
    polls = sum(len(tasks) for tasks in _polls(emulator))
    assert polls <= 2 * 3.0 / (schedule.minimum + schedule.cadence) + 3, f"{polls} asks in a 3 s render"


async def test_a_waiter_is_woken_only_when_its_task_changed(emulator: Emulator, clock: ManualClock) -> None:
    emulator.render_seconds = 3.0

    def without_progress(body: dict[str, Any]) -> object:
        return {**body, "data": [{k: v for k, v in item.items() if k != "progress"} for item in body.get("data", [])]}

    emulator.faults.append(Fault(on="getResponse", after="mangle", rewrite=without_progress, lasting=True))
    got = await _run(emulator, clock, [task(deliveryMethod="async")])

    ((snapshot, _, woken),) = got.values()
    assert snapshot.done
    assert len(_polls(emulator)) >= 5, "asked about by its age, without progress to go by"
    assert woken == 2, "its first news, then its image: the polls in between brought nothing new"


async def test_a_new_task_waits_for_the_next_round_instead_of_starting_one(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 1.0
    sent = [task(deliveryMethod="async") for _ in range(40)]
    await _run(emulator, clock, sent, spacing=0.01)

    rounds = len(_polls(emulator))
    assert rounds <= 1.4 / PollSchedule().cadence + 4, f"{rounds} rounds for 40 tasks over 1.4 s"


async def test_a_task_whose_polls_fail_is_singled_out_and_holds_back_no_other(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 0.5
    healthy = [task(deliveryMethod="async") for _ in range(7)]
    failing = task(deliveryMethod="async")
    emulator.faults.append(_down(failing["taskUUID"]))
    got = await _run(emulator, clock, [*healthy, failing], wait=10)

    for item in healthy:
        snapshot, took, _ = got[item["taskUUID"]]
        assert snapshot.done
        assert took <= 1.0, "as soon as its image was ready, though polled beside a failing task"
    failed, _, _ = got[failing["taskUUID"]]
    assert not failed.done
    assert failed.trouble is not None
    later = [tasks for tasks in _polls(emulator) if any(t["taskUUID"] == failing["taskUUID"] for t in tasks)][-3:]
    assert all(len(tasks) == 1 for tasks in later), "polled apart once singled out"


async def _beside_a_hanging_task(
    emulator: Emulator, clock: ManualClock, *, render: float, wait: float
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, tuple[Snapshot, float, int]]]:
    """A task whose polls Runware hangs on, sent with 31 others: it, them, and what each caller got (``_run``)."""
    emulator.render_seconds = render
    beside = [task(deliveryMethod="async") for _ in range(31)]
    hanging = task(deliveryMethod="async")
    emulator.faults.append(Fault(after="hang", on="getResponse", about=hanging["taskUUID"], lasting=True))
    return hanging, beside, await _run(emulator, clock, [hanging, *beside], wait=wait)


async def test_a_task_whose_polls_hang_holds_back_neither_the_next_rounds_nor_long_the_tasks_polled_beside_it(
    emulator: Emulator, clock: ManualClock
) -> None:
    # A round had waited for all its requests, and a failed request's halves were polled one after the other, each
    # up to POLL_WAIT (15 s): a task sent a second later waited 14 s for an image ready in 0.5, and half of the 31
    # tasks polled beside the hanging one were never done within a call's 50 s.
    hanging, beside, got = await _beside_a_hanging_task(emulator, clock, render=0.5, wait=50)
    for item in beside:
        snapshot, took, _ = got[item["taskUUID"]]
        assert snapshot.done, f"done in the call's wait though polled beside a hanging task ({took:.1f} s)"
        assert took <= 5 * polling.POLL_WAIT, "one wait for each split, the halves at once"
    later = task(deliveryMethod="async")
    emulator.faults.append(Fault(after="hang", on="getResponse", about=hanging["taskUUID"], lasting=True))
    got = await _run(emulator, clock, [hanging, later], spacing=1.0, wait=50)
    snapshot, took, _ = got[later["taskUUID"]]
    assert snapshot.done
    assert took <= 1.0, "never in a request with the hanging task: not held by it"


async def test_tasks_polled_beside_a_hanging_one_are_asked_again_at_once_and_its_caller_is_told_after_its_patience(
    emulator: Emulator, clock: ManualClock
) -> None:
    # The parts that answered "still rendering" had been held until the hanging part was split down to its task:
    # images ready at 18 s came at 45 s. The hanging task's caller, its trouble forgotten at each split, had waited
    # out its whole wait (80 s) instead of its patience.
    hanging, beside, got = await _beside_a_hanging_task(emulator, clock, render=18.0, wait=80)
    took = sorted(got[item["taskUUID"]][1] for item in beside)
    assert all(got[item["taskUUID"]][0].done for item in beside)
    assert took[27] <= 18.0 + 1.0, f"images ready at 18 s, delivered at {took[27]:.1f} s"  # 7 parts of 8 answered
    assert took[-1] <= 2 * polling.POLL_WAIT + 1.0, "the 3 in the hanging task's part, when it is split again"
    snapshot, took, _ = got[hanging["taskUUID"]]
    assert snapshot.trouble is not None
    assert took <= 2 * polling.POLL_WAIT + 20, "told once its polls had failed for its patience, not at its wait"


async def test_tasks_singled_out_for_hanging_polls_hold_no_slot_a_new_task_needs(
    emulator: Emulator, clock: ManualClock
) -> None:
    # Four tasks polled apart, each poll hanging 15 s, had held every one of the four slots: a new task waited 10.7 s.
    emulator.render_seconds = 0.5
    hanging = [task(deliveryMethod="async") for _ in range(4)]
    for item in hanging:
        emulator.faults.append(Fault(after="hang", on="getResponse", about=item["taskUUID"], lasting=True))
    later = task(deliveryMethod="async")
    snapshot, took = None, float("inf")
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)
        async with anyio.create_task_group() as callers:
            for item in hanging:  # each with a healthy companion, a second apart: a request of its own
                for one in (item, task(deliveryMethod="async")):
                    await runware.submit(one, until=clock.monotonic() + 5)
                    callers.start_soon(runware.wait, one["taskUUID"], 1, clock.monotonic() + 200)
                await clock.sleep(1.0)
            await clock.sleep(46.5)  # the four are polled apart by now, each request hanging
            await runware.submit(later, until=clock.monotonic() + 5)
            started = clock.monotonic()
            snapshot = await runware.wait(later["taskUUID"], 1, clock.monotonic() + 30)
            took = clock.monotonic() - started
            callers.cancel_scope.cancel()
        loop.cancel_scope.cancel()
    assert snapshot is not None
    assert snapshot.done
    assert took <= 1.0, f"waited {took:.1f} s for an image ready in 0.5"


async def test_when_runware_fails_every_poll_a_round_is_not_split_into_a_storm(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 0.5
    sent = [task(deliveryMethod="async") for _ in range(16)]
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)
        for item in sent:
            await runware.submit(item, until=clock.monotonic() + 5)
        emulator.faults.append(Fault.error(503, "internalServerError", "Down.", on="getResponse", lasting=True))
        async with anyio.create_task_group() as callers:
            for item in sent:
                callers.start_soon(runware.wait, item["taskUUID"], 1, clock.monotonic() + 3)
        loop.cancel_scope.cancel()
    polls = _polls(emulator)
    rounds = sum(1 for tasks in polls if len(tasks) == len(sent))
    assert rounds >= 2
    assert len(polls) <= 3 * rounds, "a failed round is split once; both halves failing, no further"


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "invalidParameter"), (404, "notFound"), (422, "unprocessable")],
)
async def test_a_poll_refused_alike_for_every_task_writes_none_off_and_is_not_split_into_a_storm(
    emulator: Emulator, clock: ManualClock, status: int, code: str
) -> None:
    # The request's refusal, not any task's: each task, charged and rendering, stays to be fetched later.
    emulator.render_seconds = 0.5
    sent = [task(deliveryMethod="async") for _ in range(4)]
    emulator.faults.append(Fault.error(status, code, "Refused.", on="getResponse", lasting=True))
    got = await _run(emulator, clock, sent, wait=10)
    for snapshot, _, _ in got.values():
        assert not snapshot.done
        assert snapshot.failures == []
        assert snapshot.lost is None
        assert snapshot.blocked is not None
    assert len(_polls(emulator)) <= 3, "split once at most"
    assert len(emulator.ledger) == 4


@pytest.mark.parametrize(
    ("size", "unknown", "passing", "within"),
    [
        (6, [5], None, 1.0),  # one task of a round, its 404 naming none: it had blocked every task of the request
        (8, [0, 7], 3, 1.5),  # one in each half, and a passing 503 on another
    ],
)
async def test_tasks_runware_does_not_know_hold_back_none_of_the_others_and_each_hears_it_alone(
    emulator: Emulator, clock: ManualClock, size: int, unknown: list[int], passing: int | None, within: float
) -> None:
    # Runware does not know a task (yet, or any more) and says so naming none: each healthy task of the round is
    # answered as soon as its image is ready, and each unknown one hears it as its own, after Runware's grace.
    emulator.render_seconds = 0.5
    sent = [task(deliveryMethod="async") for _ in range(size)]
    for n in unknown:
        emulator.faults.append(
            Fault.error(
                404, "taskFailedOrNotFound", "No such task.", on="getResponse", about=sent[n]["taskUUID"], lasting=True
            )
        )
    if passing is not None:
        emulator.faults.append(
            Fault.error(503, "internalServerError", "Busy.", on="getResponse", about=sent[passing]["taskUUID"])
        )
    got = await _run(emulator, clock, sent, wait=30)

    for n, item in enumerate(sent):
        snapshot, took, _ = got[item["taskUUID"]]
        assert snapshot.blocked is None, "not a refusal of every task's"
        if n in unknown:
            assert isinstance(snapshot.lost, NotFoundError), "its own news, after Runware's grace"
        else:
            assert snapshot.done, item["taskUUID"]
            assert took <= within, "as soon as its image was ready, though polled beside a task Runware did not know"
    first = sent[unknown[0]]["taskUUID"]
    alone = [tasks for tasks in _polls(emulator)[-6:] if any(t["taskUUID"] == first for t in tasks)]
    assert all(len(tasks) == 1 for tasks in alone), "polled apart once found unknown, not split out every round"


async def test_a_task_found_at_fault_keeps_its_own_trouble_time_not_that_of_a_task_polled_beside_it(
    emulator: Emulator, clock: ManualClock
) -> None:
    # Sent late in an outage, its polls failing for 3 s, it was given the 17 s older trouble time of the tasks it was
    # polled beside, and its caller told Runware was failing 17 s before its patience (20 s) ran out.
    emulator.render_seconds = 60.0
    olds = [task(deliveryMethod="async") for _ in range(2)]
    late = task(deliveryMethod="async")
    outage = _down()
    emulator.faults.append(outage)
    emulator.faults.append(_down(late["taskUUID"]))
    took: dict[str, float] = {}
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)

        async def one(item: dict[str, Any]) -> None:
            await runware.submit(item, until=clock.monotonic() + 5)
            started = clock.monotonic()
            await runware.wait(item["taskUUID"], 1, clock.monotonic() + 60)
            took[item["taskUUID"]] = clock.monotonic() - started

        async with anyio.create_task_group() as callers:
            for item in olds:
                callers.start_soon(one, item)
            await clock.sleep(17.0)
            callers.start_soon(one, late)
            await clock.sleep(0.45)
            emulator.faults.remove(outage)  # Runware is back, but for the late task
        loop.cancel_scope.cancel()
    assert took[late["taskUUID"]] >= 19.0


async def test_an_image_beside_a_404_said_of_another_task_of_the_round_is_kept(
    emulator: Emulator, clock: ManualClock
) -> None:
    # The round's answer is "no such task", naming none, with the other task's finished image beside it; that task's
    # own polls fail from then on, so the image of that answer is the only one it gets before its patience ends.
    lost, ready = task(deliveryMethod="async"), task(deliveryMethod="async")

    def unknown(body: dict[str, Any]) -> object:
        data = [item for item in body.get("data", []) if item.get("taskUUID") != lost["taskUUID"]]
        return {"data": data, "errors": [{"code": "taskFailedOrNotFound", "message": "No such task."}]}

    emulator.faults.append(
        Fault(404, on="getResponse", about=lost["taskUUID"], after="mangle", rewrite=unknown, lasting=True)
    )
    emulator.faults.append(
        Fault.error(503, "internalServerError", "Down.", on="getResponse", about=ready["taskUUID"], lasting=True)
    )
    got = await _run(emulator, clock, [lost, ready])
    assert len(_polls(emulator)[0]) == 2, "both asked about in one poll"
    assert len(got[ready["taskUUID"]][0].images) == 1


@pytest.mark.parametrize("status", [400, 409, 422])
@pytest.mark.parametrize("code", ["internalServerError", "requestTimeout"])
async def test_tasks_polled_beside_one_whose_polls_fail_under_a_4xx_get_their_images_on_time(
    emulator: Emulator, clock: ManualClock, status: int, code: str
) -> None:
    # A passing fault's code naming one task under a 4xx is the request's trouble: split from the others (they had
    # been polled beside it, each time refused alike, and their images ready at 4 s came at 24 s; found by review).
    emulator.render_seconds = 4.0
    healthy = [task(deliveryMethod="async") for _ in range(3)]
    failing = task(deliveryMethod="async")
    body = json.dumps({"errors": [{"code": code, "message": "Busy.", "taskUUID": failing["taskUUID"]}]})
    emulator.faults.append(Fault(status, body, on="getResponse", about=failing["taskUUID"], lasting=True))
    got = await _run(emulator, clock, [failing, *healthy], wait=50)
    took = [round(got[item["taskUUID"]][1], 1) for item in healthy]
    assert all(got[item["taskUUID"]][0].done for item in healthy)
    assert max(took) <= 5.0, f"images ready at 4 s, delivered at {took} s"
    assert not got[failing["taskUUID"]][0].failures, "a passing fault fails no task"


@pytest.mark.parametrize("status", [400, 404, 409, 422, 429])
async def test_a_rate_limit_naming_the_task_under_any_status_is_waited_out_as_runware_asks(
    emulator: Emulator, clock: ManualClock, status: int
) -> None:
    # A 422 had been asked again every half second, ten times as often as Runware asked (found by review). Under a 400
    # or a 404 the rate limit had been taken for failing polls: the caller given up after 20 s of them, not its wait.
    emulator.render_seconds = 60.0
    item = task(deliveryMethod="async")
    said = {"errors": [{"code": "rateLimitExceeded", "message": "Slow down.", "taskUUID": item["taskUUID"]}]}
    emulator.faults.append(
        Fault(status, json.dumps(said), {"Retry-After": "5"}, on="getResponse", about=item["taskUUID"], lasting=True)
    )
    got = await _run(emulator, clock, [item], wait=30)
    assert len(_polls(emulator)) <= 7, "about one poll every 5 s"
    assert got[item["taskUUID"]][1] >= 29, "waited as long as the caller would, as Runware only asked to slow down"


@pytest.mark.parametrize("status", [200, 400, 402, 404, 409, 410, 422])
async def test_a_lack_of_credit_said_once_the_task_delivered_an_image_fails_none_of_its_others(
    emulator: Emulator, clock: ManualClock, status: int
) -> None:
    # A task that delivered an image ran: "no credit" is then no refusal of it when it was to run. Under a 409, 410 or
    # 422 (1a02de2), and under a 200, a 400 or a 404 before, its second image, run and charged, had been failed at $0
    # and never fetched (found by review); it is kept pending, as under a 402.
    emulator.render_seconds = 4.0
    item = task(deliveryMethod="async", numberResults=2)
    said = {"errors": [{"code": "insufficientCredits", "message": "Top up.", "taskUUID": item["taskUUID"]}]}
    refused = Fault(status, json.dumps(said), on="getResponse", about=item["taskUUID"], lasting=True)

    async def heard(snapshot: Snapshot) -> None:
        if snapshot.images and refused not in emulator.faults:
            emulator.faults.append(refused)  # from the poll after the first image came

    snapshot = Snapshot(item["taskUUID"], 2)
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)
        await runware.submit(item, until=clock.monotonic() + 5)
        snapshot = await runware.wait(item["taskUUID"], 2, clock.monotonic() + 30, heard)
        loop.cancel_scope.cancel()
    assert [charge.images for charge in emulator.ledger] == [2]
    assert (len(snapshot.images), snapshot.failures) == (1, [])
    assert snapshot.blocked is not None


async def test_a_lack_of_credit_said_beside_the_tasks_first_image_fails_none_of_its_others(
    emulator: Emulator, clock: ManualClock
) -> None:
    # In the answer that brings the first image as in a later one: the task ran (it had failed its second at $0).
    emulator.render_seconds = 4.0
    item = task(deliveryMethod="async", numberResults=2)

    def beside(body: dict[str, Any]) -> object:
        if any(i.get("status") == "success" for i in body.get("data", [])):
            said = {"code": "insufficientCredits", "message": "Top up.", "taskUUID": item["taskUUID"]}
            return body | {"errors": [*body.get("errors", []), said]}
        return body

    emulator.faults.append(dataclasses.replace(Fault.mangle(beside, on="getResponse"), lasting=True))
    got = await _run(emulator, clock, [item], wait=30)
    snapshot = got[item["taskUUID"]][0]
    assert (len(snapshot.images), snapshot.failures) == (1, [])
    assert snapshot.blocked is not None


@pytest.mark.parametrize(("status", "naming"), [(422, "it"), (429, "it"), (503, "it"), (408, "it"), (400, "another")])
async def test_a_refused_key_blocks_the_poll_whatever_the_status_and_whichever_task_it_names(
    emulator: Emulator, clock: ManualClock, status: int, naming: str
) -> None:
    # Under a 429 the caller had waited its whole wait, under a 5xx, a 408 or naming another task 20 s, each told that
    # whether the task runs is not known, where nothing will be known until the key is fixed (found by review).
    emulator.render_seconds = 60.0
    item = task(deliveryMethod="async")
    named = item["taskUUID"] if naming == "it" else str(uuid.uuid4())
    said = {"errors": [{"code": "invalidApiKey", "message": "Invalid key.", "parameter": "apiKey", "taskUUID": named}]}
    emulator.faults.append(Fault(status, json.dumps(said), on="getResponse", about=item["taskUUID"], lasting=True))
    got = await _run(emulator, clock, [item], wait=60)
    snapshot, took, _ = got[item["taskUUID"]]
    assert snapshot.blocked is not None
    assert took < 2


async def _beside_one_refused(
    emulator: Emulator, clock: ManualClock, status: int, code: str, named: Callable[[dict[str, Any]], str | None]
) -> list[tuple[float, int]]:
    """Three healthy tasks polled beside one whose polls are answered ``status`` with ``code`` naming ``named(it)``:
    when each healthy one's wait ended (its image ready at 4 s), and with how many images."""
    emulator.render_seconds = 4.0
    healthy = [task(deliveryMethod="async") for _ in range(3)]
    failing = task(deliveryMethod="async")
    said = {"code": code, "message": "x"} | ({"taskUUID": task_uuid} if (task_uuid := named(failing)) else {})
    body = json.dumps({"errors": [said]})
    emulator.faults.append(
        Fault(status, body, {"Retry-After": "3"}, on="getResponse", about=failing["taskUUID"], lasting=True)
    )
    got = await _run(emulator, clock, [failing, *healthy], wait=50)
    return [(round(got[item["taskUUID"]][1], 1), len(got[item["taskUUID"]][0].images)) for item in healthy]


@pytest.mark.parametrize(
    ("status", "code", "naming"),
    [
        *((status, "rateLimitExceeded", "it") for status in (400, 404, 409, 410, 422)),
        *((status, "inferenceError", "a task not asked about") for status in (400, 422)),
        *((status, "taskFailedOrNotFound", "it") for status in (400, 404, 422)),
        (400, "taskFailedOrNotFound", "no task"),  # every task had been blocked at once
    ],
)
async def test_tasks_polled_beside_one_refused_for_itself_or_a_stranger_get_their_images_on_time(
    emulator: Emulator, clock: ManualClock, status: int, code: str, naming: str
) -> None:
    # Each had held the healthy tasks of its request back (found by review): a rate limit under 409 to 422 for the
    # whole wait, a stranger's failure until they were given up at 20 s with no image, a named "no such task" until
    # it was given up as lost at 26 s.
    def named(failing: dict[str, Any]) -> str | None:
        return {"it": failing["taskUUID"], "no task": None}.get(naming, str(uuid.uuid4()))

    healthy = await _beside_one_refused(emulator, clock, status, code, named)
    assert all(images == 1 and took <= 5 for took, images in healthy), healthy


@pytest.mark.parametrize(
    ("status", "errors"),
    [
        (400, [{"code": "rateLimitExceeded", "message": "x"}]),
        (400, [{"code": "internalServerError", "message": "x"}]),
        (400, [{"code": "taskFailedOrNotFound", "message": "x"}, {"code": "rateLimitExceeded", "message": "x"}]),
        (404, [{"code": "taskFailedOrNotFound", "message": "x"}, {"code": "internalServerError", "message": "x"}]),
        (422, [{"code": "rateLimitExceeded", "message": "x"}]),
    ],
)
async def test_a_passing_faults_code_naming_no_task_under_any_4xx_blocks_none_of_the_tasks_beside_it(
    emulator: Emulator, clock: ManualClock, status: int, errors: list[dict[str, str]]
) -> None:
    # The status's class is not retryable under a 400 or a 404: every task of the request had been blocked at once,
    # their ready images never delivered (found by review).
    emulator.render_seconds = 4.0
    healthy = [task(deliveryMethod="async") for _ in range(3)]
    failing = task(deliveryMethod="async")
    body = json.dumps({"errors": errors})
    emulator.faults.append(
        Fault(status, body, {"Retry-After": "3"}, on="getResponse", about=failing["taskUUID"], lasting=True)
    )
    got = await _run(emulator, clock, [failing, *healthy], wait=50)
    for item in healthy:
        snapshot, took, _ = got[item["taskUUID"]]
        assert (len(snapshot.images), snapshot.blocked, took <= 5) == (1, None, True)
    assert got[failing["taskUUID"]][0].blocked is None


@pytest.mark.parametrize("named", [True, False])
async def test_a_no_such_task_beside_words_without_a_code_is_still_one_tasks_news(
    emulator: Emulator, clock: ManualClock, named: bool
) -> None:
    # A "no such task" beside an entry saying no code had held the healthy tasks back 26 s (named) or blocked them at
    # once (naming none), where alone it is split off (found by review).
    emulator.render_seconds = 4.0
    healthy = [task(deliveryMethod="async") for _ in range(3)]
    failing = task(deliveryMethod="async")
    lost = {"code": "taskFailedOrNotFound", "message": "x"} | ({"taskUUID": failing["taskUUID"]} if named else {})
    body = json.dumps({"errors": [lost, {"message": "Not found."}]})
    emulator.faults.append(Fault(404, body, on="getResponse", about=failing["taskUUID"], lasting=True))
    got = await _run(emulator, clock, [failing, *healthy], wait=50)
    for item in healthy:
        snapshot, took, _ = got[item["taskUUID"]]
        assert (len(snapshot.images), snapshot.blocked, took <= 5) == (1, None, True)


async def test_a_lone_task_said_not_found_beside_words_without_a_code_is_lost_after_the_grace_never_failed(
    emulator: Emulator, clock: ManualClock
) -> None:
    item = task(deliveryMethod="async")
    body = json.dumps({"errors": [{"code": "taskFailedOrNotFound", "message": "x"}, {"message": "Not found."}]})
    emulator.faults.append(Fault(404, body, on="getResponse", about=item["taskUUID"], lasting=True))
    snapshot, took, _ = (await _run(emulator, clock, [item], wait=50))[item["taskUUID"]]
    assert (snapshot.failures, snapshot.lost is not None, took >= LOST_AFTER) == ([], True, True)
