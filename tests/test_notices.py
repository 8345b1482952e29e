"""Change notices shared through PostgreSQL (``ideogram_mcp.notices``; here for the database fixtures): an event
published by one process is heard once by the listeners of every other, and once by its own; PostgreSQL away costs
only the other processes' notices, said in one line, and they come back with it.

Two buses on one database stand for two processes. Nothing waits by the clock: a test waits for what a listener
hears, and a bus's waits before it tries again are on a clock the test moves.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourcesListChanged, ResourceUpdated, ServerEvent
from mcp.shared.exceptions import MCPError
from pydantic import SecretStr

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.notices import STREAMS, WATCH_EVERY, OwnedListen, SharedBus, saved_by
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from tests.conftest import API_KEY
from tests.processes import free_port

pytestmark = pytest.mark.anyio

PATIENCE = 10
"""Seconds a test waits for a notice before it fails; only a lost one takes them."""
PASSWORD = "s3cret-pass-word"

T = TypeVar("T")


class Arrivals(list[T]):
    """Things that come one by one (notices heard, waits asked for), in order, each waited for in turn."""

    def __init__(self) -> None:
        super().__init__()
        self._read = 0
        self._more = anyio.Event()

    def arrived(self, item: T) -> None:
        self.append(item)
        self._more.set()

    async def next(self) -> T:
        with anyio.fail_after(PATIENCE):
            while self._read == len(self):
                self._more = anyio.Event()
                await self._more.wait()
        self._read += 1
        return self[self._read - 1]


class Heard:
    """What one listener of a bus heard, in order, waited for one at a time."""

    def __init__(self, bus: SharedBus) -> None:
        self.events = Arrivals[ServerEvent]()
        bus.subscribe(self.events.arrived)

    async def next(self) -> ServerEvent:
        return await self.events.next()


class Watched(ManualClock):
    """A clock that stands still, telling each wait asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = Arrivals[float]()

    async def sleep(self, seconds: float) -> None:
        self.waits.arrived(seconds)
        await super().sleep(seconds)

    async def next_wait(self) -> float:
        return await self.waits.next()


@pytest.fixture
async def running() -> AsyncIterator[Callable[..., Awaitable[SharedBus]]]:
    """Buses on a URL, each running (as in a server's lifespan) until the test ends."""
    async with anyio.create_task_group() as group:

        async def run(url: str, clock: ManualClock | None = None) -> SharedBus:
            bus = SharedBus(SecretStr(url), clock=clock)
            await group.start(bus.run)
            return bus

        yield run
        group.cancel_scope.cancel()


def _terminate(url: str, query: str) -> None:
    """End the backends of this database whose last statement began with ``query``, as a lost connection would."""
    with psycopg.connect(url, autocommit=True) as connection:
        ended = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND starts_with(query, %s)",
            (query,),
        ).fetchall()
    assert ended == [(True,)]


async def test_an_event_published_in_one_process_is_heard_once_in_another(
    database_url: str, running: Callable[..., Awaitable[SharedBus]]
) -> None:
    a, b = await running(database_url), await running(database_url)
    heard = Heard(b)
    assert await heard.next() == ResourcesListChanged()  # listening now: what came before, it could not hear
    await a.publish(ResourcesListChanged())
    await a.publish(ResourceUpdated(uri="file:///out/a.png"))  # the next one: a repeat of the first would precede it
    assert await heard.next() == ResourcesListChanged()
    assert await heard.next() == ResourceUpdated(uri="file:///out/a.png")
    assert heard.events == [ResourcesListChanged(), ResourcesListChanged(), ResourceUpdated(uri="file:///out/a.png")]


async def test_a_process_hears_its_own_event_once_and_not_again_through_the_database(
    database_url: str, running: Callable[..., Awaitable[SharedBus]]
) -> None:
    a, b = await running(database_url), await running(database_url)
    here, there = Heard(a), Heard(b)
    assert await here.next() == await there.next() == ResourcesListChanged()
    await a.publish(ResourceUpdated(uri="file:///out/a.png"))
    assert here.events[-1] == ResourceUpdated(uri="file:///out/a.png"), "delivered here at once"
    assert await there.next() == ResourceUpdated(uri="file:///out/a.png")  # so it is in a's queue too, before:
    await b.publish(ResourceUpdated(uri="file:///out/b.png"))
    assert await here.next() == ResourceUpdated(uri="file:///out/a.png")
    assert await here.next() == ResourceUpdated(uri="file:///out/b.png")
    assert here.events == [
        ResourcesListChanged(),
        ResourceUpdated(uri="file:///out/a.png"),
        ResourceUpdated(uri="file:///out/b.png"),
    ]


async def test_without_its_database_a_bus_delivers_here_says_so_once_and_tries_again_less_and_less_often(
    running: Callable[..., Awaitable[SharedBus]], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Watched()
    port = free_port()
    with caplog.at_level(logging.INFO, logger="ideogram_mcp"):
        bus = await running(f"postgresql://ideogram:{PASSWORD}@127.0.0.1:{port}/journal", clock)
        heard = Heard(bus)
        await bus.publish(ResourcesListChanged())
        assert heard.events == [ResourcesListChanged()]
        assert sorted([await clock.next_wait(), await clock.next_wait()]) == [1.0, 1.0]  # listening, sending
        await clock.advance(1.0)
        assert [await clock.next_wait(), await clock.next_wait()] == [2.0, 2.0]
    assert [r.getMessage() for r in caplog.records] == [
        "notices of new images between processes stop while PostgreSQL cannot be used: the task journal in "
        f"PostgreSQL at 127.0.0.1:{port}/journal cannot be reached (connection refused); trying again in 1 s, then "
        "at most every 30 s"
    ]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert PASSWORD not in caplog.text


async def test_a_listener_whose_connection_is_lost_hears_again_after_its_wait_and_is_told_to_fetch_again(
    database_url: str, running: Callable[..., Awaitable[SharedBus]], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Watched()
    a, b = await running(database_url), await running(database_url, clock)
    heard = Heard(b)
    assert await heard.next() == ResourcesListChanged()
    with caplog.at_level(logging.INFO, logger="ideogram_mcp"):
        await anyio.to_thread.run_sync(_terminate, database_url, "LISTEN")
        assert await clock.next_wait() == 1.0
        await clock.advance(1.0)
        assert await heard.next() == ResourcesListChanged()  # whatever was published meanwhile was missed
        await a.publish(ResourceUpdated(uri="file:///out/a.png"))
        assert await heard.next() == ResourceUpdated(uri="file:///out/a.png")
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert caplog.records[1].getMessage() == (
        f"notices of new images between processes go through {database_url.rpartition('@')[2]} again"
    )


async def test_a_notice_whose_connection_was_lost_is_sent_once_it_is_back(
    database_url: str, running: Callable[..., Awaitable[SharedBus]]
) -> None:
    clock = Watched()
    a, b = await running(database_url, clock), await running(database_url)
    heard = Heard(b)
    assert await heard.next() == ResourcesListChanged()
    await a.publish(ResourceUpdated(uri="file:///out/1.png"))
    assert await heard.next() == ResourceUpdated(uri="file:///out/1.png")
    await anyio.to_thread.run_sync(_terminate, database_url, "SELECT pg_notify")
    await a.publish(ResourceUpdated(uri="file:///out/2.png"))
    assert await clock.next_wait() == 1.0
    await clock.advance(1.0)
    assert await heard.next() == ResourceUpdated(uri="file:///out/2.png")
    assert heard.events[1:] == [ResourceUpdated(uri="file:///out/1.png"), ResourceUpdated(uri="file:///out/2.png")]


async def test_a_client_listening_to_one_server_hears_of_an_image_another_server_saved(
    database_url: str, make_settings: Callable[..., Settings], output: Path
) -> None:
    emulator = Emulator(api_key=API_KEY)  # on the machine's clock: PostgreSQL answers in real time
    transport = httpx2.ASGITransport(emulator.app())
    settings = make_settings(output_dir=output, database_url=database_url)
    async with (
        Client(build_server(settings, transport=transport)) as one,
        Client(build_server(settings, transport=transport)) as other,
        other.listen(resources_list_changed=True) as events,
    ):
        with anyio.fail_after(PATIENCE):
            assert await anext(events) == ResourcesListChanged()  # it hears the other servers from now on
            await one.call_tool("generate_image", {"positivePrompt": "a lighthouse at dusk", "preview": False})
            assert await anext(events) == ResourcesListChanged()


async def test_the_journal_watch_tells_of_other_processes_saves_once_and_never_repeats_this_ones() -> None:
    # SQLite carries no notices between processes: a process with listeners asks the journal they share.
    clock = Watched()
    bus = InMemorySubscriptionBus()
    told: list[ServerEvent] = []
    bus.subscribe(told.append)
    listen = OwnedListen(bus, lambda _: "", clock=clock)
    saved = {"alice": 0.0, "bob": 0.0}

    async def saved_at(owner: str) -> float:
        return saved[owner]

    listen.listening["alice"] += 1  # a stream of alice's listens here; none of bob's
    async with anyio.create_task_group() as group:
        group.start_soon(listen.watch, saved_at)
        assert await clock.next_wait() == WATCH_EVERY
        saved["alice"] = clock.now()  # this process saved an image of hers, and told her streams
        await listen.announce("alice")
        await clock.advance(WATCH_EVERY)
        assert await clock.next_wait() == WATCH_EVERY
        assert told == [saved_by("alice")], "its own save is not told again"
        await clock.advance(0.5)
        saved["alice"] = saved["bob"] = clock.now()  # another process saved one of each
        await clock.advance(WATCH_EVERY - 0.5)
        assert await clock.next_wait() == WATCH_EVERY
        await clock.advance(WATCH_EVERY)
        assert await clock.next_wait() == WATCH_EVERY
        group.cancel_scope.cancel()
    assert told == [saved_by("alice"), saved_by("alice")], "the other's save told once; bob has no stream here"


async def test_a_process_holding_its_limit_of_streams_refuses_the_next_whoever_asks() -> None:
    listen = OwnedListen(InMemorySubscriptionBus(), lambda _: "carol")
    listen.listening.update({"alice": STREAMS - 1, "bob": 1})  # every owner's streams count towards one bound
    with pytest.raises(MCPError, match="Subscription limit reached"):
        await listen(cast(Any, None), cast(Any, None))


async def test_a_notice_too_long_for_postgresql_is_heard_here_only_and_the_next_still_reaches_the_others(
    database_url: str, running: Callable[..., Awaitable[SharedBus]]
) -> None:
    a, b = await running(database_url), await running(database_url)
    here, there = Heard(a), Heard(b)
    assert await here.next() == await there.next() == ResourcesListChanged()
    huge = ResourceUpdated(uri="file:///out/" + "a" * 8000 + ".png")  # PostgreSQL takes a payload under 8000 bytes
    await a.publish(huge)
    await a.publish(ResourceUpdated(uri="file:///out/b.png"))
    assert here.events[1:] == [huge, ResourceUpdated(uri="file:///out/b.png")], "both delivered here at once"
    assert await there.next() == ResourceUpdated(uri="file:///out/b.png"), "the long one holds back no other"


async def test_the_journal_watch_stops_asking_once_the_last_stream_of_an_owner_ended() -> None:
    from ideogram_mcp.notices import _Owned  # pyright: ignore[reportPrivateUsage]  (a listen stream, as the SDK opens it)

    clock = Watched()
    listen = OwnedListen(InMemorySubscriptionBus(), lambda _: "", clock=clock)
    asked: list[str] = []

    async def saved_at(owner: str) -> float:
        asked.append(owner)
        return 0.0

    stream = _Owned(InMemorySubscriptionBus(), "alice", listen.listening, lambda owner: None)
    ended = stream.subscribe(lambda event: None)
    async with anyio.create_task_group() as group:
        group.start_soon(listen.watch, saved_at)
        assert await clock.next_wait() == WATCH_EVERY
        assert asked == ["alice"]
        ended()  # her only stream closed
        await clock.advance(WATCH_EVERY)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert asked == ["alice"], "no one listens: the journal is not asked for her saves any more"
    assert not listen.listening
