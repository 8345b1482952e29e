"""Delivery on the tests' clock: submissions resent under their own taskUUID, uploads, the poll loop shared by
every wait, and the patience that ends retries before an outage is hidden."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from ideogram_mcp.clock import ManualClock, SystemClock
from ideogram_mcp.emulator import Emulator, Fault
from ideogram_mcp.emulator.faults import said_of_each
from ideogram_mcp.runware import delivery, errors, polling
from ideogram_mcp.runware.answers import LOST_AFTER, Snapshot
from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.runware.delivery import KEEPALIVE, Delivery, Patience, PollSchedule

from ..conftest import API_KEY, task
from . import client_of

pytestmark = pytest.mark.anyio


def test_polls_come_at_a_share_of_the_tasks_age_within_bounds() -> None:
    schedule = PollSchedule(minimum=0.5, share=0.25, maximum=5.0)
    assert [schedule.interval(age) for age in (0, 1, 2, 8, 40, 400)] == [0.5, 0.5, 0.5, 2.0, 5.0, 5.0]


def test_a_task_with_progress_is_asked_about_when_it_should_be_done() -> None:
    schedule = PollSchedule(minimum=0.25, cadence=0.1, maximum=5.0, margin=0.05)
    assert schedule.interval(0.2, progress=9) == pytest.approx(1.8 + 0.05), "9% is at least 9%, at most 10%"
    assert schedule.interval(4.0, progress=49) == pytest.approx(4.05)
    assert schedule.interval(5.0, progress=97) == pytest.approx(5 * 2 / 98 + 0.05), "done in 0.1 s: asked then"
    assert schedule.interval(1.0, progress=98) == 0.1, "never sooner than the next round"
    assert schedule.interval(1.0, progress=98, may_hurry=False) == 0.25, "a stalled percentage: as often as none"
    assert schedule.interval(10.0, progress=5) == 5.0, "never later than the longest interval"
    assert schedule.interval(2.0, progress=100) == schedule.interval(2.0), "a percentage past its end: by age"


async def test_a_resend_answered_with_a_conflict_means_runware_has_the_task(
    emulator: Emulator, clock: ManualClock
) -> None:
    sent = task(deliveryMethod="async", includeCost=True)
    async with client_of(emulator) as client:
        runware = Delivery(client, clock=clock)
        await runware.submit(sent, until=clock.monotonic() + 5)
        await runware.submit(sent, until=clock.monotonic() + 5)  # as after a lost answer
    assert [c.task_uuid for c in emulator.ledger] == [sent["taskUUID"]]


async def test_a_submit_gives_up_at_the_deadline_and_says_whether_the_task_may_have_run(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.extend(Fault.error(503, "internalServerError", "Down.") for _ in range(50))
    async with client_of(emulator) as client:
        with pytest.raises(errors.ServerError) as caught:
            await Delivery(client, clock=clock).submit(task(deliveryMethod="async"), until=clock.monotonic() + 1.5)
    assert caught.value.may_have_run is True
    assert caught.value.task_uuid is not None
    assert 2 <= len(emulator.requests) <= 6


async def test_an_upload_whose_answer_was_lost_is_stored_again_under_a_new_uuid(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.append(Fault.drop(on="imageUpload"))
    png = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElF"
        "TkSuQmCC"
    )
    async with client_of(emulator) as client:
        found, url = await Delivery(client, clock=clock).upload(png, until=clock.monotonic() + 5)
    assert url == f"http://runware.test/image/{found}.png"
    uploads = [t["taskUUID"] for t in emulator.arrived if t["taskType"] == "imageUpload"]
    assert len(uploads) == 3, "sent, resent (Runware has it: conflict), sent under a new UUID"
    assert len(set(uploads)) == 2
    assert found in emulator.images


async def test_a_long_wait_reports_at_least_every_keepalive_even_when_nothing_changes(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 10 * KEEPALIVE
    once = PollSchedule(minimum=20 * KEEPALIVE, cadence=20 * KEEPALIVE, maximum=20 * KEEPALIVE)  # one poll, then none
    sent = task(deliveryMethod="async")
    heard: list[float] = []
    snapshot: Snapshot | None = None
    started = clock.monotonic()

    async def on_change(snapshot: Snapshot) -> None:
        heard.append(clock.monotonic() - started)

    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock, schedule=once)
        loop.start_soon(runware.run)
        await runware.submit(sent, until=clock.monotonic() + 5)
        snapshot = await runware.wait(
            sent["taskUUID"], 1, until=clock.monotonic() + 7.5 * KEEPALIVE, on_change=on_change
        )
        loop.cancel_scope.cancel()
    assert snapshot is not None
    assert not snapshot.done
    gaps = [later - earlier for earlier, later in zip([0.0, *heard], heard, strict=False)]
    assert max(gaps) <= KEEPALIVE, "heard from at least every KEEPALIVE, though nothing changed"
    assert heard[-1] == 7.5 * KEEPALIVE, "and once more at the end of the wait"


async def _submitted_and_waited(
    emulator: Emulator, clock: ManualClock, sent: dict[str, Any], requested: int = 1, *, wait: float = 5.0
) -> Snapshot:
    """``sent`` submitted, then waited for ``wait`` seconds, the delivery's poll loop running meanwhile."""
    got: list[Snapshot] = []
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)
        await runware.submit(sent, until=clock.monotonic() + 5)
        got.append(await runware.wait(sent["taskUUID"], requested, until=clock.monotonic() + wait))
        loop.cancel_scope.cancel()
    return got[0]


async def test_a_wait_returns_once_every_image_is_in_with_their_cost(emulator: Emulator, clock: ManualClock) -> None:
    sent = task(deliveryMethod="async", includeCost=True, numberResults=2)
    snapshot = await _submitted_and_waited(emulator, clock, sent, 2)
    made = emulator.jobs[sent["taskUUID"]].items.values()
    assert [i.image_uuid for i in snapshot.images] == [item["imageUUID"] for item in made]
    assert snapshot.done
    assert [image.cost for image in snapshot.images] == [0.06, 0.06]


async def test_two_waits_for_one_task_are_served_by_the_same_polls(emulator: Emulator, clock: ManualClock) -> None:
    emulator.render_seconds = 0.5
    sent = task(deliveryMethod="async")
    snapshots: list[Snapshot] = []
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)
        await runware.submit(sent, until=clock.monotonic() + 5)

        async def wait() -> None:
            snapshots.append(await runware.wait(sent["taskUUID"], 1, until=clock.monotonic() + 5))

        async with anyio.create_task_group() as waits:
            waits.start_soon(wait)
            waits.start_soon(wait)
        loop.cancel_scope.cancel()
    first, second = snapshots
    assert (first.done, second.done) == (True, True)
    assert first.images == second.images
    polls = [tasks for tasks in emulator.requests if tasks[0]["taskType"] == "getResponse"]
    assert all(len(tasks) == 1 for tasks in polls), "one task polled once per request, however many wait for it"


async def test_a_later_wait_knows_a_task_an_earlier_one_saw_run_of_the_latest_tasks_kept(
    emulator: Emulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wait cut short records nothing: a lack of credit said to the next wait had been taken for the task's own.
    monkeypatch.setattr(delivery, "RAN_KEPT", 1)
    first, second = task(deliveryMethod="async"), task(deliveryMethod="async")
    later: list[Snapshot] = []
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)
        for sent in (first, second):
            await runware.submit(sent, until=clock.monotonic() + 5)
            assert (await runware.wait(sent["taskUUID"], 1, until=clock.monotonic() + 5)).ran
        now = clock.monotonic()
        later += [await runware.wait(sent["taskUUID"], 1, until=now) for sent in (first, second)]
        loop.cancel_scope.cancel()
    assert [snapshot.ran for snapshot in later] == [False, True], "the latest kept, the one before it let go"


async def test_a_task_runware_does_not_know_yet_is_waited_for_and_one_it_long_forgot_is_lost(
    emulator: Emulator,
    clock: ManualClock,
) -> None:
    unknown = task()["taskUUID"]
    got: list[Snapshot] = []
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)
        for sent_at, wait in ((clock.now(), 1), (clock.now() - LOST_AFTER, 5)):
            got.append(await runware.wait(unknown, 1, until=clock.monotonic() + wait, sent_at=sent_at))
        loop.cancel_scope.cancel()
    fresh, old = got
    polls = [tasks for tasks in emulator.requests if tasks[0]["taskType"] == "getResponse"]
    assert len(polls) >= 2
    assert (fresh.done, fresh.lost, fresh.failures) == (False, None, [])
    assert isinstance(old.lost, errors.NotFoundError)
    assert [d.code for d in old.lost.details] == ["taskFailedOrNotFound"]
    assert old.done


async def test_an_upload_answer_naming_no_image_of_this_upload_is_asked_again(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.append(Fault.mangle(lambda body: {"data": [{"taskUUID": "someone else's"}]}, on="imageUpload"))
    png = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElF"
        "TkSuQmCC"
    )
    async with client_of(emulator) as client:
        found, url = await Delivery(client, clock=clock).upload(png, until=clock.monotonic() + 5)
    assert url == f"http://runware.test/image/{found}.png"
    uploads = [t["taskUUID"] for t in emulator.arrived if t["taskType"] == "imageUpload"]
    assert len(uploads) == 3, "sent, resent (Runware has it: conflict), sent under a new UUID"
    assert found in emulator.images


async def test_a_poll_that_fails_unexpectedly_is_logged_and_asked_again(
    emulator: Emulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    absorb_for_real = polling.absorb
    calls: list[str] = []

    def absorb_failing_once(snapshot: Snapshot, *args: Any, **kwargs: Any) -> None:
        calls.append(snapshot.task_uuid)
        if len(calls) == 1:
            raise RuntimeError("an answer nobody foresaw")
        absorb_for_real(snapshot, *args, **kwargs)

    monkeypatch.setattr(polling, "absorb", absorb_failing_once)
    snapshot = await _submitted_and_waited(emulator, clock, task(deliveryMethod="async"))
    assert snapshot.done
    assert len(snapshot.images) == 1
    assert len(calls) == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "a poll failed unexpectedly; asking again shortly"
    ]


async def test_images_beside_an_error_answer_are_kept_and_teach_nothing_about_the_other_tasks(
    emulator: Emulator,
    clock: ManualClock,
) -> None:
    emulator.render_seconds = 0.2
    first, second = task(deliveryMethod="async"), task(deliveryMethod="async")
    got: dict[str, Snapshot] = {}
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock)
        loop.start_soon(runware.run)
        for sent in (first, second):
            await runware.submit(sent, until=clock.monotonic() + 5)
        await clock.advance(0.5)  # both rendered: the next poll, for both, is answered 503 with only the first's image

        def only_the_first(body: dict[str, Any]) -> object:
            return {"data": [i for i in body["data"] if i["taskUUID"] == first["taskUUID"]], "errors": [{"code": "x"}]}

        emulator.faults.append(Fault.mangle(only_the_first, on="getResponse", status=503))

        async def wait(sent: dict[str, Any], seconds: float, ask_first: bool) -> None:
            until = clock.monotonic() + seconds
            got[sent["taskUUID"]] = await runware.wait(sent["taskUUID"], 1, until, ask_first=ask_first)

        async with anyio.create_task_group() as waits:
            waits.start_soon(wait, first, 5.0, False)
            waits.start_soon(wait, second, 0.0, True)  # get_generation with wait 0: Runware must really answer
        loop.cancel_scope.cancel()
    assert not emulator.faults
    assert [(got[t["taskUUID"]].done, len(got[t["taskUUID"]].images)) for t in (first, second)] == [
        (True, 1),
        (True, 1),
    ]


async def test_an_image_beside_a_refused_poll_is_kept_though_the_refusal_ends_the_wait(
    emulator: Emulator, clock: ManualClock
) -> None:
    # A refused key ends the wait at once: the paid image that came with the refusal is all the caller gets.
    def refused_with_images(body: dict[str, Any]) -> object:
        return {"data": body.get("data", []), "errors": [{"code": "invalidApiKey", "message": "Invalid API key."}]}

    emulator.faults.append(Fault.mangle(refused_with_images, on="getResponse", status=401))
    snapshot = await _submitted_and_waited(emulator, clock, task(deliveryMethod="async"), wait=30)
    assert (snapshot.blocked is not None, len(snapshot.images)) == (True, 1)


async def test_a_submit_that_sends_nothing_gives_up_after_its_patience_not_at_the_deadline() -> None:
    clock = SystemClock()  # a real socket: the machine's time
    closed = RunwareClient(SecretStr(API_KEY), base_url="http://127.0.0.1:9/v1")
    async with closed:
        started = clock.monotonic()
        with anyio.fail_after(10), pytest.raises(errors.RunwareConnectionError) as caught:
            await Delivery(closed, clock=clock, patience=Patience(nothing_sent=0.5)).submit(
                task(deliveryMethod="async"), until=started + 60
            )
    assert caught.value.may_have_run is False
    assert clock.monotonic() - started < 30, "not held until the deadline a minute away"


async def test_a_submit_met_only_by_failures_gives_up_after_its_patience_saying_it_may_have_run(
    emulator: Emulator,
    clock: ManualClock,
) -> None:
    emulator.faults.extend(Fault.error(500, "internalServerError", "Down.") for _ in range(50))
    async with client_of(emulator) as client:
        with anyio.fail_after(10), pytest.raises(errors.ServerError) as caught:
            await Delivery(client, clock=clock, patience=Patience(failing=1.0)).submit(
                task(deliveryMethod="async"), until=clock.monotonic() + 60
            )
    assert caught.value.may_have_run is True
    assert 2 <= len(emulator.requests) <= 5


@pytest.mark.parametrize(
    "failure",
    [
        Fault.error(503, "internalServerError", "Down.", on="getResponse", lasting=True),
        Fault(on="getResponse", after="mangle", rewrite=said_of_each("internalServerError", "Down."), lasting=True),
    ],
    ids=["503", "200 naming the task"],
)
async def test_a_wait_whose_polls_meet_only_failures_ends_after_its_patience_with_the_trouble(
    failure: Fault,
    emulator: Emulator,
    clock: ManualClock,
) -> None:
    sent = task(deliveryMethod="async")
    got: list[Snapshot] = []
    waited = 0.0
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock, patience=Patience(failing=1.0))
        loop.start_soon(runware.run)
        await runware.submit(sent, until=clock.monotonic() + 5)
        emulator.faults.append(failure)
        began = clock.monotonic()
        got.append(await runware.wait(sent["taskUUID"], 1, until=clock.monotonic() + 60))
        waited = clock.monotonic() - began
        loop.cancel_scope.cancel()
    (snapshot,) = got
    assert (snapshot.images, snapshot.done, snapshot.failures) == ([], False, [])
    assert isinstance(snapshot.trouble, errors.ServerError)
    assert waited < 2, "the patience, not the 60 s the call may wait"


async def test_a_wait_through_429s_goes_on_as_runware_asks(emulator: Emulator, clock: ManualClock) -> None:
    sent = task(deliveryMethod="async")
    got: list[Snapshot] = []
    async with client_of(emulator) as client, anyio.create_task_group() as loop:
        runware = Delivery(client, clock=clock, patience=Patience(failing=0.3))
        loop.start_soon(runware.run)
        await runware.submit(sent, until=clock.monotonic() + 5)
        emulator.faults.extend(
            Fault.error(429, "rateLimitExceeded", "Slow down.", retry_after=0.2, on="getResponse") for _ in range(3)
        )
        got.append(await runware.wait(sent["taskUUID"], 1, until=clock.monotonic() + 10))
        loop.cancel_scope.cancel()
    assert got[0].done


async def test_a_429_is_waited_out_as_long_as_runware_asks_within_the_deadline(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.append(Fault.error(429, "rateLimitExceeded", "Slow down.", retry_after=3.5, on="imageInference"))
    sent = task(deliveryMethod="async")
    async with client_of(emulator) as client:
        await Delivery(client, clock=clock).submit(sent, until=clock.monotonic() + 30)
    assert [c.task_uuid for c in emulator.ledger] == [sent["taskUUID"]]


async def test_a_connection_that_never_finishes_its_handshake_is_given_up_within_seconds() -> None:
    clock = SystemClock()  # a real socket: the machine's time
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts, then never says a word of TLS
    try:
        base = f"https://127.0.0.1:{silent.getsockname()[1]}/v1"
        async with RunwareClient(SecretStr(API_KEY), base_url=base, timeout=2.0) as client:  # 1 s to connect
            with anyio.fail_after(5), pytest.raises(errors.RunwareConnectionError) as caught:
                await Delivery(client, clock=clock).submit(task(deliveryMethod="async"), until=clock.monotonic() + 60)
    finally:
        silent.close()
    assert caught.value.may_have_run is False
    assert "nothing was sent or charged" in str(caught.value)


async def test_no_resend_starts_too_close_to_the_deadline_for_its_answer_runwares_last_answer_stands(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.extend(
        Fault.error(429, "rateLimitExceeded", "Slow down.", retry_after=2.0, on="imageInference") for _ in range(5)
    )
    async with client_of(emulator) as client:
        with pytest.raises(errors.RateLimitError):
            await Delivery(client, clock=clock).submit(task(deliveryMethod="async"), until=clock.monotonic() + 2.05)
    assert len(emulator.requests) == 1, "the resend would come 0.05 s before the deadline: not sent"
