"""Time in the tests: a ``ManualClock`` that runs as fast as the code under test lets it.

Whenever every task of the event loop waits (nothing is ready to run, no worker thread is busy), ``autojump`` moves
the clock to the first time something waits for: a poll's interval, a render time, a deadline. A test of a
60-second wait takes no wall time, and what happens first happens first, whatever the machine's load. It holds for
what runs in the test's own event loop over in-memory transports; servers in other processes, or behind real
sockets, keep the machine's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio.to_thread

from ideogram_mcp.clock import ManualClock

QUIET_ROUNDS = 3
"""Rounds of the event loop with nothing ready before the clock moves."""
THREAD_POLL = 0.0005
"""Seconds of wall time between looks while a worker thread runs (the clock stands still meanwhile)."""
IDLE_POLL = 0.001
"""Seconds of wall time between looks while nothing waits on the clock (a real timer, another process)."""


@contextlib.asynccontextmanager
async def autojump(clock: ManualClock) -> AsyncIterator[ManualClock]:
    """Move ``clock`` on whenever the event loop is idle, for the length of the block."""
    driver = asyncio.get_running_loop().create_task(_drive(clock))
    try:
        yield clock
    finally:
        driver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driver


async def _drive(clock: ManualClock) -> None:
    loop = asyncio.get_running_loop()
    threads = anyio.to_thread.current_default_thread_limiter()
    quiet = 0
    while True:
        await asyncio.sleep(0)
        if threads.borrowed_tokens:  # a thread's work (the journal, drawing) takes wall time, not clock time
            quiet = 0
            await asyncio.sleep(THREAD_POLL)
            continue
        if loop._ready:  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]  # something can run
            quiet = 0
            continue
        quiet += 1
        if quiet < QUIET_ROUNDS:
            continue
        quiet = 0
        following = clock.next_time
        if following is None:
            await asyncio.sleep(IDLE_POLL)
        else:
            clock.jump(following)
