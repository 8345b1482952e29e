"""Progress of one task as its caller hears it: values that only rise, images counted, a word every few seconds."""

from __future__ import annotations

import itertools

import anyio
import pytest

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.runware.answers import Snapshot
from ideogram_mcp.runware.delivery import KEEPALIVE
from ideogram_mcp.runware.errors import ErrorDetail
from ideogram_mcp.tasks.progress import SAID_MOST, Progress

pytestmark = pytest.mark.anyio


class Heard:
    def __init__(self) -> None:
        self.said: list[tuple[float, float, str]] = []

    async def __call__(self, done: float, total: float, message: str) -> None:
        self.said.append((done, total, message))


def image(n: int) -> ImageRecord:
    return ImageRecord(image_uuid=f"image-{n}", image_url=f"https://example.com/{n}.png")


async def test_values_only_rise_and_never_pass_the_images_asked(clock: ManualClock) -> None:
    heard = Heard()
    progress = Progress(heard, 2, clock)
    await progress.say("starting")
    await progress.say("starting")  # at the same moment: a larger value all the same
    await clock.advance(30)
    await progress.images(Snapshot("t", 2, images=[image(1)]))
    await progress.images(Snapshot("t", 2, images=[image(1), image(2)]))
    await progress.say("after the end")  # complete: nothing more is said

    values = [done for done, _, _ in heard.said]
    assert values == sorted(set(values))
    assert values[-1] == 2.0
    assert len(heard.said) == 4
    assert all(total == 2 for _, total, _ in heard.said)


async def test_a_snapshot_says_images_ready_failed_and_the_time(clock: ManualClock) -> None:
    heard = Heard()
    progress = Progress(heard, 3, clock)
    await clock.advance(12)
    await progress.images(Snapshot("t", 3, images=[image(1)], failures=[ErrorDetail("inferenceError", "no")]))
    ((done, _, message),) = heard.said
    assert message == "1 of 3 ready, 1 failed, 12 s"
    assert 2 <= done < 3


async def test_a_heartbeat_speaks_every_few_seconds_while_its_block_runs(clock: ManualClock) -> None:
    heard = Heard()
    progress = Progress(heard, 1, clock)
    async with progress.heartbeat("Sending the task"):
        await clock.sleep(3 * KEEPALIVE + 1)
    await clock.sleep(3 * KEEPALIVE)  # after the block: silent
    assert [message for _, _, message in heard.said] == ["Sending the task"] * 4


async def test_a_long_message_is_cut_and_without_a_listener_nothing_is_said(clock: ManualClock) -> None:
    heard = Heard()
    await Progress(heard, 1, clock).say("x" * 1000)
    assert len(heard.said[0][2]) == SAID_MOST
    await Progress(None, 1, clock).say("nobody listens")  # no error


async def test_one_shared_loop_keeps_every_waiting_call_alive(clock: ManualClock) -> None:
    from ideogram_mcp.tasks.progress import Beats

    beats = Beats(clock)
    first, second = Heard(), Heard()
    async with anyio.create_task_group() as background:
        progress_of = [Progress(heard, 1, clock, (beats, background)) for heard in (first, second)]

        async def wait(progress: Progress, seconds: float) -> None:
            async with progress.heartbeat("Sending the task"):
                await clock.sleep(seconds)

        async with anyio.create_task_group() as calls:
            calls.start_soon(wait, progress_of[0], 3 * KEEPALIVE + 1)
            calls.start_soon(wait, progress_of[1], KEEPALIVE + 1)
        await clock.sleep(3 * KEEPALIVE)  # both ended: silent
        background.cancel_scope.cancel()
    assert len(first.said) == 5, "at once, then never more than KEEPALIVE apart (the loop looks every quarter)"
    assert len(second.said) == 2
    assert all(message == "Sending the task" for _, _, message in first.said + second.said)


async def test_the_shared_loop_waits_on_no_timer_while_no_call_waits_and_wakes_for_the_next(clock: ManualClock) -> None:
    # It had woken every quarter of KEEPALIVE for good once started: an idle server, all day long.
    from ideogram_mcp.tasks.progress import Beats

    said: list[tuple[str, float]] = []

    async def heard(done: float, total: float, message: str) -> None:
        said.append((message, clock.monotonic()))

    beats, start = Beats(clock), clock.monotonic()
    async with anyio.create_task_group() as background:
        async with Progress(heard, 1, clock, (beats, background)).heartbeat("first"):
            await clock.sleep(KEEPALIVE + 1)
        await clock.sleep(KEEPALIVE)  # the loop's last tick finds nothing to keep alive
        assert clock.next_time is None, "nothing waits on the clock: no wake-ups"
        async with Progress(heard, 1, clock, (beats, background)).heartbeat("second"):
            await clock.sleep(2 * KEEPALIVE + 1)
        background.cancel_scope.cancel()
    seconds = [(message, at - start) for message, at in said]
    assert [message for message, _ in seconds] == ["first", "first", "second", "second", "second"]
    second = [at for message, at in seconds if message == "second"]
    assert all(0 < later - earlier <= KEEPALIVE for earlier, later in itertools.pairwise(second))


async def test_a_client_slow_to_take_its_words_holds_back_no_other_calls_words(clock: ManualClock) -> None:
    # The loop had said each call's word in turn, waiting for each: a client taking 3 s for one had pushed every other
    # call's words past KEEPALIVE apart, where a client may give up on a call that says nothing.
    from ideogram_mcp.tasks.progress import Beats

    slow_said, quick_said = [], list[float]()

    async def slow(done: float, total: float, message: str) -> None:
        slow_said.append(clock.monotonic())
        if len(slow_said) > 1:  # its words from the loop: taken long after
            await clock.sleep(3 * KEEPALIVE)

    async def quick(done: float, total: float, message: str) -> None:
        quick_said.append(clock.monotonic())

    beats = Beats(clock)
    async with anyio.create_task_group() as background:
        slow_call, quick_call = (Progress(report, 1, clock, (beats, background)) for report in (slow, quick))

        async def wait(progress: Progress) -> None:
            async with progress.heartbeat("Sending the task"):
                await clock.sleep(4 * KEEPALIVE)

        async with anyio.create_task_group() as calls:
            calls.start_soon(wait, slow_call)
            calls.start_soon(wait, quick_call)
        background.cancel_scope.cancel()
    assert len(quick_said) >= 4
    assert all(later - earlier <= KEEPALIVE for earlier, later in itertools.pairwise(quick_said)), quick_said
    assert len(slow_said) == 3, "one word at a time for a call (at 0, 6 and 30 s): none piled up behind another"
