"""The clocks: the budget's day, and a manual clock whose waits end in the order of their times."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import anyio.lowlevel
import httpx2
import pytest
from mcp import Client

from ideogram_mcp.clock import Clock, ManualClock, midnight
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.emulator.faults import Fault
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.tasks import fetch

from .conftest import error_of, structured, text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("day", [date(2025, 11, 2), date(2025, 3, 9)])  # the days New York's clocks change
def test_the_budgets_day_starts_at_local_midnight_even_when_the_clocks_change_that_day(
    day: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        clock = ManualClock(datetime(day.year, day.month, day.day, 18, tzinfo=ZoneInfo("America/New_York")).timestamp())
        assert datetime.fromtimestamp(midnight(clock), ZoneInfo("America/New_York")) == datetime(
            day.year, day.month, day.day, tzinfo=ZoneInfo("America/New_York")
        )
    finally:
        monkeypatch.undo()
        time.tzset()


async def test_a_manual_clocks_waits_end_in_the_order_of_their_times_as_it_moves() -> None:
    clock = ManualClock()
    start = clock.monotonic()
    ended: list[tuple[str, float]] = []

    async def wait(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        ended.append((name, clock.monotonic() - start))

    async def bounded() -> None:
        with clock.deadline(start + 7):
            await anyio.sleep_forever()
        ended.append(("deadline", clock.monotonic() - start))

    async with anyio.create_task_group() as group:
        group.start_soon(wait, "late", 10.0)
        group.start_soon(wait, "early", 2.0)
        group.start_soon(bounded)
        await anyio.wait_all_tasks_blocked()
        assert clock.next_time == start + 2
        await clock.advance(12)
    assert ended == [("early", 2.0), ("deadline", 7.0), ("late", 10.0)]
    assert clock.next_time is None


async def test_a_deadline_already_due_on_a_manual_clock_ends_its_block_at_once() -> None:
    # As anyio.move_on_at does with a time already past, without waiting for the clock to be moved.
    clock = ManualClock()
    went_on = False
    with clock.deadline(clock.monotonic()):
        await anyio.lowlevel.checkpoint()
        went_on = True
    assert not went_on


# The wall clock stepped back after a call (an NTP correction, a VM resumed with a wrong clock): what the server
# works out from the wall clock's time since a task was recorded must not shrink with it.


def _unfollowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """No background work follows a call's pending task (its process's cut short): what a get_generation says of it
    later is the test's. With saving off, as these tests have it, none did until a task was followed to its outcome
    and cost (an audit): it then found the task before Runware forgot it, and the question asked here never came."""
    monkeypatch.setattr(fetch, "take_up_when_over", lambda *_: None)


def _serving(settings: Settings, emulator: Emulator, clock: Clock) -> Client:
    return Client(build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=clock))


async def test_a_task_sent_over_an_hour_ago_is_not_said_never_charged_when_the_clock_stepped_back(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unfollowed(monkeypatch)
    emulator.faults.append(Fault.hang(on="imageInference"))  # Runware takes and charges it; its answer never comes
    async with _serving(make_settings(wait_seconds=30, save=False), emulator, clock) as mcp:
        task_uuid = structured(await mcp.call_tool("generate_image", {"positivePrompt": "a"}))["taskUUID"]
        await clock.advance(7200)  # two hours later Runware has forgotten it...
        emulator.jobs.clear()
        clock.set_wall(clock.now() - 7200)  # ...and the wall clock was stepped back two hours meanwhile
        got = await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 30})
        listed = structured(await mcp.call_tool("list_generations", {}))
    assert "It may have been charged, so it stays counted at its quote ($0.06)" in text(got), text(got)
    assert listed["spentToday"] == emulator.charged == 0.06


async def test_a_task_sent_after_the_clock_stepped_back_is_not_aged_by_the_step(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unfollowed(monkeypatch)
    # The process's whole step had been added to every task's age: one Runware never had, two minutes old, was said
    # "may have been charged" and kept counted at its quote (found by review).
    async with _serving(make_settings(wait_seconds=30, save=False), emulator, clock) as mcp:
        await mcp.call_tool("list_generations", {})
        clock.set_wall(clock.now() - 7200)  # stepped back before the task is sent
        emulator.faults.append(Fault.hang(on="imageInference"))
        task_uuid = structured(await mcp.call_tool("generate_image", {"positivePrompt": "a"}))["taskUUID"]
        await clock.advance(120)
        emulator.jobs.clear()  # Runware never had it
        got = await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 30})
        listed = structured(await mcp.call_tool("list_generations", {}))
    assert "so it was not charged" in text(got), text(got)
    assert listed["spentToday"] == 0


async def test_a_calls_a_minute_limit_holds_back_no_longer_than_a_minute_when_the_clock_stepped_back(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    async with _serving(make_settings(max_calls_per_minute=1), emulator, clock) as mcp:
        assert structured(await mcp.call_tool("generate_image", {"positivePrompt": "first"}))["status"] == "done"
        clock.set_wall(clock.now() - 30)  # 30 s back at once: the first call is still in the minute, as it really is
        refused = error_of(await mcp.call_tool("generate_image", {"positivePrompt": "second"}))
        await clock.advance(120)
        clock.set_wall(clock.now() - 3600)  # an hour back, two minutes later: it is not
        second = await mcp.call_tool("generate_image", {"positivePrompt": "third"})
    assert (refused["kind"], refused["retryAfterSeconds"]) == ("rate_limited", 60)
    assert structured(second)["status"] == "done", text(second)
    assert emulator.charged == 0.12


async def test_a_pending_task_is_saved_in_the_background_on_time_when_the_clock_stepped_back(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    emulator.render_seconds = 120
    async with _serving(make_settings(wait_seconds=30), emulator, clock) as mcp:
        call = await mcp.call_tool("generate_image", {"positivePrompt": "a", "numberResults": 2, "ttl": 600})
        assert structured(call)["status"] == "pending"
        clock.set_wall(clock.now() - 3600)  # after the call answered pending
        start, states = clock.monotonic(), []
        while clock.monotonic() - start < 600:  # its images' URLs last 600 s (ttl)
            await clock.sleep(60)  # the clock moves when all waits, as time would: work in threads done meanwhile
            states.append(structured(await mcp.call_tool("list_generations", {}))["generations"][0]["state"])
    assert "done" in states, states  # after 3,840 s, 3,600 s late, before (120 to 180 s without the step)


async def test_a_task_sent_before_a_restart_is_not_said_never_charged_when_the_clock_stepped_back_since(
    make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock
) -> None:
    # Another process's task is aged by the wall clock, plus what it fell behind this process's monotonic clock: a
    # step back after this process started had made a charged task "never accepted" again (found by review).
    settings = make_settings(wait_seconds=30, save=False)
    emulator.faults.append(Fault.hang(on="imageInference"))
    async with _serving(settings, emulator, clock) as first:
        task_uuid = structured(await first.call_tool("generate_image", {"positivePrompt": "a"}))["taskUUID"]
    async with _serving(settings, emulator, clock) as mcp:
        await mcp.call_tool("list_generations", {})
        await clock.advance(7200)
        emulator.jobs.clear()
        clock.set_wall(clock.now() - 7200)
        got = await mcp.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 30})
        listed = structured(await mcp.call_tool("list_generations", {}))
    assert "never accepted" not in text(got), text(got)  # pending yet (its sender may be sending) or maybe charged
    assert listed["spentToday"] == emulator.charged == 0.06


class _Ahead:
    """Another machine of a team: its wall clock ``by`` seconds ahead of the tests' clock, its waits the same."""

    def __init__(self, clock: ManualClock, by: float) -> None:
        self.clock, self.by = clock, by

    def now(self) -> float:
        return self.clock.now() + self.by

    def monotonic(self) -> float:
        return self.clock.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    def deadline(self, at: float) -> contextlib.AbstractContextManager[anyio.CancelScope]:
        return self.clock.deadline(at)


@pytest.mark.parametrize("ahead", [0.0, 100.0], ids=["the same process", "a machine 100 s ahead"])
async def test_a_task_still_being_sent_is_never_said_never_accepted_nor_its_spend_dropped(
    ahead: float, make_settings: Callable[..., Settings], emulator: Emulator, clock: ManualClock, output: Path
) -> None:
    # Runware answers the send "slow down" (429, retry in 40 s): while it waits, Runware knows no such task. Asked
    # then, another machine (its clock ahead) had settled it never accepted, not charged, its spend dropped, and a
    # second call passed the day's budget; the sending call then sent it and it was charged (found by audit).
    emulator.faults.append(Fault.error(429, "rateLimited", "slow down", retry_after=40, on="imageInference"))
    settings = make_settings(output_dir=output, daily_budget=0.10)  # one $0.06 image a day
    seen: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        other = await stack.enter_async_context(_serving(settings, emulator, _Ahead(clock, ahead))) if ahead else None
        sender = await stack.enter_async_context(_serving(settings, emulator, clock))
        asking = other or sender

        async def send() -> None:
            seen["sent"] = await sender.call_tool("generate_image", {"positivePrompt": "on a"})

        async with anyio.create_task_group() as group:
            group.start_soon(send)
            listed: dict[str, Any] = {"generations": []}
            for _ in range(100):  # until it is recorded, and waits out the 429
                if (listed := structured(await sender.call_tool("list_generations", {})))["generations"]:
                    break
                await anyio.sleep(0.01)
            task_uuid = listed["generations"][0]["taskUUID"]
            seen["asked"] = await asking.call_tool("get_generation", {"taskUUID": task_uuid, "wait": 5})
            seen["during"] = structured(await asking.call_tool("list_generations", {}))
            seen["second"] = await asking.call_tool("generate_image", {"positivePrompt": "on b"})
    assert "never accepted" not in text(seen["asked"]), text(seen["asked"])
    assert seen["during"]["generations"][0]["state"] != "failed"
    assert seen["during"]["spentToday"] == 0.06
    assert error_of(seen["second"])["kind"] == "over_budget"
    assert structured(seen["sent"])["status"] == "done"
    assert emulator.charged == 0.06
