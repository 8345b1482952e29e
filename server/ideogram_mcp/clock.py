"""The one source of time: the wall clock (when a task was sent, the budget's day) and the monotonic clock with
its waits (deadlines, polls, render times, claims, heartbeats). Nothing else reads the time or sleeps.

``SystemClock`` is the machine's. ``ManualClock`` stands still until it is moved: each wait on it ends when the
clock has been moved past its time, in the order of their times, so that a test of a 50 s wait takes no time.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import time
from collections.abc import Callable, Generator
from datetime import date, datetime
from datetime import time as time_of_day
from typing import Protocol, TypeVar

import anyio
import anyio.lowlevel


class Clock(Protocol):
    """What the server asks of time."""

    def now(self) -> float:
        """The wall clock, as Unix time."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never jump: for deadlines and intervals."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    def deadline(self, at: float) -> contextlib.AbstractContextManager[anyio.CancelScope]:
        """A cancel scope ending its block at ``at`` (monotonic seconds), as ``anyio.move_on_at`` does."""
        ...


def midnight(clock: Clock) -> float:
    """The start of the clock's local day, as Unix time: with midnight's own UTC offset, which on the days clocks
    change is not the offset of now."""
    today = date.fromtimestamp(clock.now())
    return datetime.combine(today, time_of_day()).timestamp()  # a naive time is taken as local


class SystemClock:
    """The clocks of the machine."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def deadline(self, at: float) -> contextlib.AbstractContextManager[anyio.CancelScope]:
        return anyio.move_on_after(max(0.0, at - time.monotonic()))


class ManualClock:
    """A clock that moves only when told (``advance``, ``jump``): the waits it holds end as it passes their time.

    ``waiting`` says whether anything waits on it; ``next_time`` when the first of them ends. A test moves it by
    hand, or lets ``tests/timing.py`` move it to the next wait whenever every task is waiting.
    """

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self._wall = now
        self._monotonic = 1000.0
        self._order = itertools.count()
        self._timers: list[tuple[float, int, anyio.Event]] = []
        self._scopes: list[tuple[float, anyio.CancelScope]] = []

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._timers, (self._monotonic + seconds, next(self._order), event))
        await event.wait()

    @contextlib.contextmanager
    def deadline(self, at: float) -> Generator[anyio.CancelScope]:
        with anyio.CancelScope() as scope:
            if at <= self._monotonic:
                scope.cancel()
            entry = (at, scope)
            self._scopes.append(entry)
            try:
                yield scope
            finally:
                self._scopes.remove(entry)

    @property
    def next_time(self) -> float | None:
        """When the first wait on this clock ends (monotonic), or None when none is waiting."""
        times = [when for when, _, _ in self._timers] + [at for at, scope in self._scopes if not scope.cancel_called]
        return min(times) if times else None

    def jump(self, to: float) -> None:
        """Move the clock to ``to`` (monotonic) and end the waits whose time has come, in their order."""
        if to > self._monotonic:
            self._wall += to - self._monotonic
            self._monotonic = to
        while self._timers and self._timers[0][0] <= self._monotonic:
            heapq.heappop(self._timers)[2].set()
        for at, scope in self._scopes:
            if at <= self._monotonic:
                scope.cancel()

    async def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds``, one wait at a time: each woken task runs on until it waits again
        before the next wait's time comes."""
        target = self._monotonic + seconds
        while (first := self.next_time) is not None and first <= target:
            self.jump(first)
            for _ in range(50):
                await anyio.lowlevel.checkpoint()
        self.jump(target)
        await anyio.lowlevel.checkpoint()

    def set_wall(self, now: float) -> None:
        """Set the wall clock (a test of the budget's day), the monotonic one left as it is."""
        self._wall = now


K = TypeVar("K")
V = TypeVar("V")


def stamp(kept: dict[K, V], key: K, when: V, stale: Callable[[V], bool]) -> None:
    """Note ``key`` ``when`` last in ``kept`` (a dict in the order its stamps were made), and forget, from the first
    on, those ``stale`` now: a server serving for weeks keeps no more than it may still use."""
    kept.pop(key, None)
    kept[key] = when
    while (first := next(iter(kept))) != key and stale(kept[first]):
        del kept[first]
