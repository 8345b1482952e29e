"""Change notices for 2026-07-28 listen streams, by owner, shared by every process serving one address: an image
saved by one process is announced to its owner's clients listening to any other, and to no other owner's.

``OwnedListen`` serves ``subscriptions/listen``: a stream hears of the images its owner saves (a token's, over
HTTP) as "the list of resources changed". The events carry a hash of the owner, never the token. Between processes
they travel through PostgreSQL's LISTEN/NOTIFY (``SharedBus``) when the journal is there; with SQLite (several
workers on one machine) each process asks the journal they share every ``WATCH_EVERY`` seconds while someone
listens to it (``OwnedListen.watch``).

``SharedBus`` is the SDK's subscription bus with a channel of the journal's database behind it. An event published
here reaches this process's listeners at once, and is sent on the channel (this process's id and the event, as small
JSON) for the others; what the others send is delivered here, and this process's own, coming back, is not delivered
twice. Each of its two connections (one listens, one sends) opens when first needed, so a start connects to nothing
and loads no database client. PostgreSQL down costs only the other processes' notices: one warning line, attempts
again after 1 s, 2 s ... up to 30 s, and neither a publish nor a tool call waits for it or fails. Each time the bus
begins to hear the others (first, or again), its listeners hear "the list changed": what came before, they missed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, cast

import anyio
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    SubscriptionBus,
)
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import event_from_wire, event_to_notification
from mcp_types import INTERNAL_ERROR, INVALID_REQUEST

from ideogram_mcp import logs
from ideogram_mcp.clock import Clock, SystemClock

if TYPE_CHECKING:
    import mcp_types as types
    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
    from mcp.server.context import ServerRequestContext
    from psycopg import AsyncConnection
    from pydantic import SecretStr

logger = logs.logger(__name__)

CHANNEL: Final = "ideogram_mcp_notices"
"""The PostgreSQL channel the processes sharing one database announce changes on."""
WAITS = (1.0, 30.0)
"""Seconds before the first attempt to reach PostgreSQL again, and the longest wait as they double."""
BACKLOG = 256
"""Notices that may wait to be sent while PostgreSQL is away; more are dropped (each only says "fetch again", as the
next one will)."""
LONGEST = 7900
"""Bytes a notice may hold (PostgreSQL takes under 8000); a longer one (a huge URI) is delivered here only."""
OWNERS: Final = "ideogram://owners/"
"""The start of the URI of an event of images saved (``saved_by``): the rest is a hash of their owner."""
WATCH_EVERY = 1.0
"""Seconds between a process's looks at the shared journal for images other processes saved (``OwnedListen.watch``),
while someone listens to it."""
STREAMS = 1024
"""Listen streams a process holds at once, every owner's together (the SDK's own bound for one handler)."""
STREAMS_AN_OWNER = 16
"""Listen streams one owner (a token) may hold open in a process: one token's never-ending streams must not take
the process's whole bound from the others."""
OWNERS_KEPT = 1024
"""Owners whose listen handlers a process keeps; past that, those no one listens to now are let go."""


def saved_by(owner: str) -> ResourceUpdated:
    """The event of images saved for ``owner`` (a token's client, "" without tokens): its listen streams hear it as
    "the list of resources changed", no other owner's do."""
    return ResourceUpdated(uri=OWNERS + hashlib.sha256(owner.encode()).hexdigest()[:32])


class _Owned:
    """One owner's view of a bus, as its listen streams see it: its own saved images as "the list changed", other
    owners' not at all, every other event as it is."""

    def __init__(
        self, bus: SubscriptionBus, owner: str, listening: Counter[str], forget: Callable[[str], None]
    ) -> None:
        self._bus, self._owner, self._listening, self._forget = bus, owner, listening, forget
        self._mark = saved_by(owner).uri

    async def publish(self, event: ServerEvent) -> None:
        await self._bus.publish(event)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        def heard(event: ServerEvent) -> None:
            if not (isinstance(event, ResourceUpdated) and event.uri.startswith(OWNERS)):
                listener(event)
            elif event.uri == self._mark:
                listener(ResourcesListChanged())

        unsubscribe = self._bus.subscribe(heard)
        self._listening[self._owner] += 1
        gone = False

        def ended() -> None:
            nonlocal gone
            if not gone:
                gone = True
                self._listening[self._owner] -= 1
                if self._listening[self._owner] <= 0:
                    del self._listening[self._owner]
                    self._forget(self._owner)
                unsubscribe()

        return ended


class OwnedListen:
    """Serves ``subscriptions/listen`` by owner (``owner_of`` a request): each owner's streams hear of its own saved
    images only; events of no owner (PostgreSQL back after an outage: "fetch again") reach every stream."""

    def __init__(self, bus: SubscriptionBus, owner_of: Callable[[Any], str], *, clock: Clock | None = None) -> None:
        self._bus, self._owner_of, self._clock = bus, owner_of, clock or SystemClock()
        self._handlers: dict[str, ListenHandler] = {}
        self.listening: Counter[str] = Counter()
        """Listen streams open in this process, by owner."""
        self._told: dict[str, float] = {}
        """Up to when each listening owner's streams here know of its saves (Unix time): from when the first began
        listening, moved on by this process's announcements and the watch's."""
        self._someone = anyio.Event()
        self._watching = anyio.Lock()

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        if sum(self.listening.values()) >= STREAMS:  # the SDK's own bound, for the process, not for each owner
            raise MCPError(INTERNAL_ERROR, "Subscription limit reached")
        owner = self._owner_of(ctx)
        if self.listening[owner] >= STREAMS_AN_OWNER:  # the client's own doing (the process's bound is the SDK's)
            raise MCPError(
                INVALID_REQUEST,
                f"This client already has {STREAMS_AN_OWNER} subscriptions/listen streams open, the most one may: "
                "close one first (one stream hears of every image saved).",
            )
        handler = self._handlers.get(owner)
        if handler is None:
            if len(self._handlers) >= OWNERS_KEPT:
                for idle in [o for o in self._handlers if o not in self.listening]:
                    del self._handlers[idle]
            owned = _Owned(self._bus, owner, self.listening, self._forget)
            handler = self._handlers[owner] = ListenHandler(owned, max_subscriptions=STREAMS)
        if owner not in self.listening:
            self._told[owner] = self._clock.now()
        self._someone.set()
        return await handler(ctx, params)  # subscribes before its first checkpoint: counted in ``listening`` now

    async def announce(self, owner: str) -> None:
        """Tell ``owner``'s streams, in every process, that its images were saved."""
        if owner in self.listening:  # what the watch must not tell again; of owners no one listens to, nothing
            self._told[owner] = max(self._told.get(owner, 0.0), self._clock.now())
        await self._bus.publish(saved_by(owner))

    def _forget(self, owner: str) -> None:
        """The last stream of ``owner`` here ended: what was kept of it goes."""
        self._told.pop(owner, None)

    async def watch(self, saved_at: Callable[[str], Awaitable[float]]) -> None:
        """Until cancelled, while anyone listens here: every ``WATCH_EVERY`` seconds, ask ``saved_at`` (the journal
        the processes share) when each listening owner's images were last saved, and tell its streams when that is
        later than what they know of, this process's own announcements included. For a journal that carries no
        notices between processes (SQLite, with several workers); never raises."""
        from ideogram_mcp.journal import JournalError

        async with self._watching:  # one watch at a time (a server whose lifespan is entered twice at once)
            while True:
                if not self.listening:
                    self._someone = anyio.Event()
                    await self._someone.wait()
                for owner in list(self.listening):
                    try:
                        last = await saved_at(owner)
                    except JournalError as exc:  # the journal busy or away for now: asked again next time
                        logger.debug("saves of other processes not seen this time: %s", exc.said)
                        continue
                    except Exception:  # a fault here must not end the server, whose task group runs this
                        logger.exception("saves of other processes are not watched any more; this process's are")
                        return
                    if last > self._told.get(owner, 0.0):
                        self._told[owner] = last
                        await self._bus.publish(saved_by(owner))
                await self._clock.sleep(WATCH_EVERY)


class SharedBus:
    """A ``SubscriptionBus`` whose events reach every process on one PostgreSQL database; ``run`` carries them."""

    def __init__(self, url: SecretStr, *, clock: Clock | None = None) -> None:
        self._url = url
        self._clock = clock or SystemClock()
        self._local = InMemorySubscriptionBus()
        self._origin = uuid.uuid4().hex
        """This process's id in its notices: its own, heard back, were delivered already."""
        self._outgoing: MemoryObjectSendStream[str] | None = None
        """Where notices wait for ``run`` to send them, while it runs."""
        self._wanted = anyio.Event()
        """Set by the first listener here: only then are the others' notices worth a connection."""
        self._running = anyio.Lock()
        self._down: set[str] = set()
        """The connections (listen, send) that cannot reach PostgreSQL now: the warning is said once an outage."""

    async def publish(self, event: ServerEvent) -> None:
        """Deliver ``event`` here now, and hand it to ``run`` for the other processes."""
        await self._local.publish(event)
        notification = event_to_notification(event, {})
        said = {"from": self._origin, "method": notification.method}
        if isinstance(event, ResourceUpdated):
            said["uri"] = event.uri
        payload = json.dumps(said, separators=(",", ":"))
        if len(payload.encode()) > LONGEST:
            return
        try:
            if self._outgoing is not None:
                self._outgoing.send_nowait(payload)
        except anyio.WouldBlock:
            logger.debug("notice dropped: %d wait to be sent already", BACKLOG)

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        """Register ``listener``; the first one makes ``run`` listen to the other processes."""
        self._wanted.set()
        return self._local.subscribe(listener)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Send this process's notices and deliver the others', until cancelled; started (``TaskGroup.start``) once
        it takes notices. One run at a time: another waits for it to end. Never raises: without it, events are
        still delivered here."""
        async with self._running:
            self._outgoing, pending = anyio.create_memory_object_stream[str](BACKLOG)
            task_status.started()
            try:
                async with pending, anyio.create_task_group() as group:
                    group.start_soon(self._guarded, functools.partial(self._send, pending))
                    await self._wanted.wait()
                    await self._guarded(self._listen)
            finally:
                self._outgoing.close()
                self._outgoing = None

    @staticmethod
    async def _guarded(work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception:  # a fault here must not end the server, whose task group runs this
            logger.exception("notices between processes stopped; listeners here still hear this process's")

    async def _listen(self) -> None:
        """Hold one connection that LISTENs, delivering the others' events; connect again when it is lost."""
        import psycopg

        wait = WAITS[0]
        while True:
            try:
                connection = await self._connect()
                try:
                    await connection.execute("LISTEN " + CHANNEL)
                    self._back("listen")
                    wait = WAITS[0]
                    await self._local.publish(ResourcesListChanged())  # anything before now was missed here
                    async for notify in connection.notifies():
                        if (event := self._event(notify.payload)) is not None:
                            await self._local.publish(event)
                finally:
                    await connection.close()  # no checkpoint in it: it closes even when cancelled
            except (psycopg.Error, OSError) as exc:  # OSError: the network under it
                self._lost("listen", exc, wait)
            await self._clock.sleep(wait)
            wait = min(wait * 2, WAITS[1])

    async def _send(self, pending: MemoryObjectReceiveStream[str]) -> None:
        """Send each notice on a connection of its own, kept open; a notice that fails is sent again once it is
        back."""
        connection: AsyncConnection | None = None
        try:
            async for payload in pending:
                import psycopg  # at the first notice: a start loads no database client

                wait = WAITS[0]
                while True:
                    try:
                        if connection is None or connection.closed:
                            connection = await self._connect()
                        await connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                        self._back("send")
                        break
                    except (psycopg.Error, OSError) as exc:  # OSError: the network under it
                        if connection is not None:
                            await connection.close()
                            connection = None
                        self._lost("send", exc, wait)
                    await self._clock.sleep(wait)
                    wait = min(wait * 2, WAITS[1])
        finally:
            if connection is not None:
                await connection.close()

    async def _connect(self) -> AsyncConnection:
        import psycopg

        from ideogram_mcp.journal.database import CONNECT_WAIT

        url = self._url.get_secret_value()
        # TCP keepalives: an idle LISTEN connection that a NAT or a balancer drops silently is found dead within a
        # minute and opened again, instead of leaving this process deaf to the others.
        return await psycopg.AsyncConnection.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_WAIT,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )

    def _event(self, payload: str) -> ServerEvent | None:
        """The event another process announced, or None for this process's own and for what is not a notice."""
        try:
            said: object = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(said, dict):
            return None
        fields = cast(dict[str, object], said)
        method = fields.get("method")
        if fields.get("from") == self._origin or not isinstance(method, str):
            return None
        return event_from_wire(method, fields)

    def _lost(self, connection: str, exc: Exception, wait: float) -> None:
        """Say once an outage that PostgreSQL cannot be used (where, why; never the URL's password)."""
        if not self._down:
            from ideogram_mcp.journal.database import Database

            logger.warning(
                "notices of new images between processes stop while PostgreSQL cannot be used: %s; trying again "
                "in %g s, then at most every %g s",
                Database(self._url).failure(exc).said,
                wait,
                WAITS[1],
            )
        self._down.add(connection)

    def _back(self, connection: str) -> None:
        if connection in self._down:
            self._down.discard(connection)
            if not self._down:
                from ideogram_mcp.journal.database import where

                logger.info(
                    "notices of new images between processes go through %s again", where(self._url.get_secret_value())
                )
