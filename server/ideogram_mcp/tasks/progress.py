"""Progress of one task for whoever waits on it: a value that only rises, and a word at least every few seconds
(some clients restart their timeout on each)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import anyio
import anyio.abc

from ideogram_mcp import logs
from ideogram_mcp.clock import Clock
from ideogram_mcp.runware.answers import Snapshot
from ideogram_mcp.runware.delivery import KEEPALIVE
from ideogram_mcp.tasks.job import Report

logger = logs.logger(__name__)

SAID_MOST = 200
"""Characters of a progress message."""


class Beats:
    """One loop that keeps every waiting call's progress alive: each heartbeat says its word again once
    ``KEEPALIVE`` seconds have passed without one (a task per call would cost a thousand calls a thousand tasks).
    Each word is said in a task of its own, one at a time for each call, so that a client slow to take its words
    holds back none of the others'."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._beating: dict[int, tuple[Progress, str]] = {}
        self._saying: set[int] = set()
        """The calls whose word is being said."""
        self._started = False
        self._wanted: anyio.Event | None = None
        """Set when a heartbeat is added while the loop waits for one."""

    def add(self, progress: Progress, message: str, background: anyio.abc.TaskGroup) -> int:
        if not self._started:
            self._started = True
            background.start_soon(self._run, background)
        key = id(progress)
        self._beating[key] = (progress, message)
        if self._wanted is not None:
            self._wanted.set()
        return key

    def remove(self, key: int) -> None:
        self._beating.pop(key, None)

    async def _run(self, background: anyio.abc.TaskGroup) -> None:
        tick = KEEPALIVE / 4
        while True:
            if not self._beating:  # nothing to keep alive: an idle server is not woken every tick, all day
                self._wanted = anyio.Event()
                await self._wanted.wait()
                self._wanted = None
            await self._clock.sleep(tick)
            now = self._clock.monotonic()
            for key, (progress, message) in self._beating.items():
                # Said again a tick early rather than late: never more than KEEPALIVE without a word.
                if key not in self._saying and now - progress.said_at >= KEEPALIVE - tick:
                    self._saying.add(key)
                    background.start_soon(self._say, key, progress, message)

    async def _say(self, key: int, progress: Progress, message: str) -> None:
        try:
            if self._beating.get(key, (None, ""))[0] is progress:  # its call may have ended meanwhile
                await progress.say(message)
        except Exception:  # a client gone: its call ends on its own; the others are kept alive
            logger.debug("a keep-alive word could not be said", exc_info=True)
        finally:
            self._saying.discard(key)


class Progress:
    """Progress for one call of ``requested`` images, told through ``report`` (nothing when it is None); kept
    alive by ``beats`` (the server's shared loop, run in ``background``), else by a task of its own."""

    def __init__(
        self,
        report: Report | None,
        requested: int,
        clock: Clock,
        beats: tuple[Beats, anyio.abc.TaskGroup] | None = None,
    ) -> None:
        self._report = report
        self._requested = requested
        self._clock = clock
        self._beats = beats
        self._started = clock.monotonic()
        self._last = -1.0
        self._finished = 0
        self.said_at = self._started
        """When (monotonic) a word was last said."""

    async def say(self, message: str) -> None:
        if self._report is None or self._last >= self._requested:
            return  # complete: each notification must carry a larger value, and none can be larger
        elapsed = self._clock.monotonic() - self._started
        value = self._finished + 0.99 * elapsed / (elapsed + 20.0)
        self._last = min(max(self._last + 1e-3, value), float(self._requested))
        self.said_at = self._clock.monotonic()
        await self._report(self._last, self._requested, message[:SAID_MOST])

    async def images(self, snapshot: Snapshot) -> None:
        """Report what a snapshot shows: images ready, failed, and the time so far."""
        self._finished = len(snapshot.images) + len(snapshot.failures)
        parts = [f"{len(snapshot.images)} of {self._requested} ready"]
        if snapshot.failures:
            parts.append(f"{len(snapshot.failures)} failed")
        parts.append(f"{self._clock.monotonic() - self._started:.0f} s")
        await self.say(", ".join(parts))

    @contextlib.asynccontextmanager
    async def heartbeat(self, message: str) -> AsyncGenerator[None]:
        """Say ``message`` now and again every few seconds while the block runs."""
        if self._report is None:  # nobody listens: nothing to keep alive
            yield
            return
        await self.say(message)
        if self._beats is not None:
            beats, background = self._beats
            key = beats.add(self, message, background)
            try:
                yield
            finally:
                beats.remove(key)
            return

        async def beat() -> None:
            while True:
                await self._clock.sleep(KEEPALIVE)
                await self.say(message)

        async with anyio.create_task_group() as beating:
            beating.start_soon(beat)
            try:
                yield
            finally:
                beating.cancel_scope.cancel()
