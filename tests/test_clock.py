"""The clocks: the budget's day, and a manual clock whose waits end in the order of their times."""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import anyio
import pytest

from ideogram_mcp.clock import ManualClock, midnight

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
