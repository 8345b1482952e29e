"""Progress of one task for whoever waits on it: a value that only rises, and a word at least every few seconds
(some clients restart their timeout on each)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import anyio

from ideogram_mcp.clock import Clock
from ideogram_mcp.runware.answers import Snapshot
from ideogram_mcp.runware.delivery import KEEPALIVE
from ideogram_mcp.tasks.job import Report

SAID_MOST = 200
"""Characters of a progress message."""


class Progress:
    """Progress for one call of ``requested`` images, told through ``report`` (nothing when it is None)."""

    def __init__(self, report: Report | None, requested: int, clock: Clock) -> None:
        self._report = report
        self._requested = requested
        self._clock = clock
        self._started = clock.monotonic()
        self._last = -1.0
        self._finished = 0

    async def say(self, message: str) -> None:
        if self._report is None or self._last >= self._requested:
            return  # complete: each notification must carry a larger value, and none can be larger
        elapsed = self._clock.monotonic() - self._started
        value = self._finished + 0.99 * elapsed / (elapsed + 20.0)
        self._last = min(max(self._last + 1e-3, value), float(self._requested))
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
