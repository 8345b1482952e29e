"""What every task of one server shares: the settings, the clock, Runware, the journal and the image store.

Runware's client, the downloader and the journal are made when first used, after the client's handshake, so that
starting the server (what a client waits for) costs neither TLS set-up nor a database. ``server.build_server`` is
the one place that builds them (the composition root); tests hand in a clock, a transport or a journal of their own.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from collections.abc import AsyncGenerator
from pathlib import Path

import anyio
import anyio.abc
import httpx2

from ideogram_mcp import files
from ideogram_mcp.clock import Clock, SystemClock, stamp
from ideogram_mcp.images import ImageStore
from ideogram_mcp.images.local import LocalFolders
from ideogram_mcp.images.recipes import KEPT_AT_RUNWARE
from ideogram_mcp.journal import CLOCKS_APART, Entry, Journal
from ideogram_mcp.journal.sqlite import SqliteJournal
from ideogram_mcp.runware import connections
from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.runware.delivery import Delivery
from ideogram_mcp.settings import Settings
from ideogram_mcp.tasks.progress import Beats

DOWNLOAD_TIMEOUT = 60.0
"""Seconds allowed for fetching one generated image."""
IMAGE_LANES = 8
"""Calls downloading, saving and previewing their images at once; the others wait their turn, in arrival order
(image work is CPU and memory: unbounded, a thousand calls would all finish late, together)."""
INPUT_LANES = 2
"""Calls decoding the input images agents give at once: one may decode up to Pillow's most pixels, hundreds of MB,
so that a caller sending many (a dry run costs nothing) cannot make the process hold gigabytes. The others wait on
the event loop, holding no thread the journal needs."""
MALLOC_ARENAS = 2
"""glibc's memory pools (arenas) the process's threads share. glibc gives each new thread one of its own, up to 8
a core, and each keeps the pages its thread freed: with them, 1,000 calls in flight with the defaults (the image
lanes' threads, the journal's) peaked at 150-157 MiB, and at 137-140 MiB with two, as fast."""
REMEMBERED = 86_400.0
"""Seconds a process keeps when it recorded a task (``Services.age``): no task is looked at again after a day."""
_M_ARENA_MAX = -8
"""``mallopt``'s parameter number for the most arenas (glibc's malloc.h)."""


class Services:
    """The shared parts of every task, made lazily; ``aclose`` ends them."""

    def __init__(
        self,
        settings: Settings,
        *,
        background: anyio.abc.TaskGroup,
        clock: Clock | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        journal: Journal | None = None,
        store: ImageStore | None = None,
    ) -> None:
        share_malloc_arenas()
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.store: ImageStore = store or _store_of(settings)
        self.lanes = anyio.Semaphore(IMAGE_LANES)
        """The image lanes: one held by each call while it downloads, saves and previews its images."""
        self.inputs = anyio.CapacityLimiter(INPUT_LANES)
        """The lanes of input images' decoding (``INPUT_LANES``)."""
        self.writable: dict[tuple[Path, int], float] = {}
        """When (monotonic) each folder was last found writable, for names of each length in bytes."""
        self.uploads: dict[str, tuple[str, tuple[float, float]]] = {}
        """The images this process uploaded (local files, and inline data an edit needs measured), by their bytes'
        SHA-256: the image UUID Runware keeps each under, and when (``now``, ``monotonic``) it was uploaded."""
        self.numbered: dict[tuple[Path, str], tuple[bool, int, float]] = {}
        """What this process gave a ``fileName`` (casefolded) in a folder lately: its plain name (or not), its highest
        number, and until when (monotonic) that counts; see ``naming.NUMBERED_FOR``."""
        self.measured: dict[str, tuple[int, int]] = {}
        """The sizes of Runware's copies of images uploaded larger than it keeps, by their SHA-256."""
        self.background = background
        """Where work that outlives a call runs."""
        self.started = self.clock.now()
        """When this process began serving calls: the journal's tasks created before were another process's."""
        self._began = self.clock.monotonic()
        self.sending: set[str] = set()
        """The tasks this process is sending now (its submission, with its retries, under way)."""
        self._recorded: dict[str, tuple[float, float]] = {}
        """When (``now``, ``monotonic``) this process recorded each of its tasks of the last ``REMEMBERED`` s."""
        self._recording: dict[str, int] = {}
        """The tasks noted in ``_recorded`` that no call has recorded yet, with how many calls record each now."""
        self.closing = False
        """Whether the server is stopping: background work that fails on the parts it closes says so quietly."""
        self.resumed: dict[str, float] = {}
        """By owner, when (monotonic) a call may next take up the tasks earlier processes left unfinished
        (``fetch.resume_cut_short``): infinity while that is under way."""
        self._beats: Beats | None = None
        self._transport = transport
        self._delivery: Delivery | None = None
        self._downloads: httpx2.AsyncClient | None = None
        self._journal: Journal | None = journal
        self._finishing: dict[str, tuple[anyio.Lock, int]] = {}

    def unproven(self, folder: Path) -> None:
        """Forget that ``folder`` was found writable (a save in it failed): the next paid call probes it again."""
        self.writable = {key: when for key, when in self.writable.items() if key[0] != folder}

    def elapsed(self, since: tuple[float, float]) -> float:
        """Seconds since ``since`` (``now`` and ``monotonic`` then), as long as they may have been: the wall clock may
        have been stepped back meanwhile (an NTP correction), and the monotonic one stands still while a machine is
        suspended."""
        wall, steady = since
        return max(self.clock.now() - wall, self.clock.monotonic() - steady)

    def recorded(self, task_uuid: str) -> None:
        """Note, as a call is about to record a task, when (both clocks) this process recorded it, for ``age`` and as
        its own, for as long as it may ask; ``recording_over`` is told how the recording ended."""
        if task_uuid in self._recorded and task_uuid not in self._recording:
            return  # recorded already: an approved round sent again meets it there
        self._recording[task_uuid] = self._recording.get(task_uuid, 0) + 1
        if task_uuid in self._recorded:
            return  # another call of this process records it at once (an approved round sent twice)
        now = self.clock.monotonic()
        stamp(self._recorded, task_uuid, (self.clock.now(), now), lambda since: since[1] < now - REMEMBERED)

    def recording_over(self, task_uuid: str, *, recorded: bool) -> None:
        """A call's recording of a task noted (``recorded``) ended: the task stays this process's once one of its
        calls recorded it, and is forgotten once every call recording it failed (refused, or cancelled)."""
        calls = self._recording.pop(task_uuid, None)
        if calls is None or recorded:
            return
        if calls > 1:
            self._recording[task_uuid] = calls - 1
        else:
            self._recorded.pop(task_uuid, None)

    @property
    def sent(self) -> dict[str, float]:
        """The tasks this process recorded to send (taskUUID: when, ``now``), which its own calls and background work
        see through; any other in the journal is another process's, earlier or running beside it (``fetch``). With
        saving off too: its tasks are followed to their outcome, and a process's own had been taken up as another's."""
        return {task: wall for task, (wall, _) in self._recorded.items()}

    def age(self, task_uuid: str, created: float) -> float:
        """Seconds since a task was recorded at ``created`` (Unix time), as long as they may have been: a wall clock
        stepped back since (an NTP correction) does not shorten them. For a task this process recorded, by its own
        record of both clocks; for another process's, by the wall clock with what it fell behind the monotonic one
        while this process served added (all of it may have come after the task). A task sent over an hour ago had
        been told never charged, to be sent again."""
        since = self._recorded.get(task_uuid)
        if since is not None:
            return self.elapsed(since)
        now = self.clock.now()
        return now - created + max(0.0, (self.clock.monotonic() - self._began) - (now - self.started))

    def may_be_sending(self, entry: Entry) -> bool:
        """Whether the process that recorded a task may still be sending it, so that Runware not knowing it yet says
        nothing: this process's own while its submission is under way; another's until its call's wait is over
        and ``CLOCKS_APART`` more (the other's clock may be ahead of this one's), by the wall clock alone (this
        one's steps back, which ``age`` adds, may all have come before the task). Another process had taken a task
        waiting out a 429 for one Runware never accepted, not charged, and the day's budget was passed."""
        if entry.task_uuid in self._recorded:
            return entry.task_uuid in self.sending
        wait = entry.options.call_over(entry.created, self.settings.wait_seconds) - entry.created
        return self.clock.now() - entry.created < wait + CLOCKS_APART  # as short as it may be: no step back added

    def held(self, digest: str) -> str | None:
        """The image UUID this process uploaded the bytes of SHA-256 ``digest`` under, while Runware is taken to keep
        it (``KEPT_AT_RUNWARE`` from the upload, as for the images tasks made); after that they are uploaded again.
        A server serving for weeks had sent a UUID Runware no longer held."""
        uuid, since = self.uploads.get(digest, ("", (-math.inf, -math.inf)))
        if self.elapsed(since) <= KEPT_AT_RUNWARE.total_seconds():
            return uuid
        self.uploads.pop(digest, None)
        self.measured.pop(digest, None)
        return None

    async def upload(self, digest: str, image: str, until: float) -> tuple[str, str | None]:
        """Upload ``image`` (inline data, of SHA-256 ``digest``) to Runware, kept for ``held``: the image UUID it is
        stored under and the URL of Runware's copy."""
        assert self.delivery is not None
        uuid, url = await self.delivery.upload(image, until)
        self.uploads.pop(digest, None)
        self.uploads[digest] = (uuid, (self.clock.now(), self.clock.monotonic()))  # the latest last
        while (first := next(iter(self.uploads))) != digest and self.held(first) is None:
            pass  # one Runware no longer keeps forgotten (``held``): a server uploading a new image each call
        return uuid, url

    @property
    def delivery(self) -> Delivery | None:
        """Runware, with retries and polling; None when no key is configured."""
        key = self.settings.runware_api_key
        if self._delivery is None and key is not None:
            client = RunwareClient(
                key,
                base_url=self.settings.runware_base_url,
                timeout=self.settings.runware_timeout,
                transport=self._transport,
                clock=self.clock,
            )
            self._delivery = Delivery(client, clock=self.clock)
            self.background.start_soon(self._delivery.run)
        return self._delivery

    @property
    def keepalive(self) -> tuple[Beats, anyio.abc.TaskGroup]:
        """The one loop that keeps every waiting call's progress alive, and where it runs."""
        if self._beats is None:
            self._beats = Beats(self.clock)
        return self._beats, self.background

    @property
    def runware(self) -> str:
        """The Runware this server talks to (an image UUID is only good there)."""
        return self.settings.runware_base_url

    @property
    def downloads(self) -> httpx2.AsyncClient:
        """For fetching generated images; it never carries the Runware key."""
        if self._downloads is None:
            self._downloads = connections.client(
                transport=self._transport, timeout=DOWNLOAD_TIMEOUT, follow_redirects=True
            )
        return self._downloads

    @property
    def journal(self) -> Journal:
        """The task journal, opened when first used: in PostgreSQL when a database is set, else in SQLite."""
        if self._journal is None and (database := self.settings.shared_database) is not None:
            from ideogram_mcp.journal.postgres import PostgresJournal  # psycopg loads only where a database is set

            self._journal = PostgresJournal(database, secret=self.settings.runware_api_key, clock=self.clock)
        if self._journal is None:
            # In the data folder; offline tasks, which cost nothing real, in one of their own.
            folder = self.settings.data_dir or files.default_data_dir()
            self._journal = SqliteJournal.open(
                folder / "offline" if self.settings.offline else folder,
                secret=self.settings.runware_api_key,
                clock=self.clock,
            )
        return self._journal

    @contextlib.asynccontextmanager
    async def finishing(self, task_uuid: str) -> AsyncGenerator[None]:
        """Held while a task's images are finished (downloaded, saved, recorded): one finish of a task at a time in
        this process, so that calls fetching one task at once save each image once."""
        lock, users = self._finishing.get(task_uuid, (anyio.Lock(), 0))
        self._finishing[task_uuid] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._finishing[task_uuid]
            if users == 1:
                del self._finishing[task_uuid]
            else:
                self._finishing[task_uuid] = (lock, users - 1)

    async def aclose(self) -> None:
        self.closing = True
        if self._delivery is not None:
            await self._delivery.client.aclose()
        if self._downloads is not None:
            await self._downloads.aclose()
        if self._journal is not None:
            await self._journal.aclose()


@functools.cache
def share_malloc_arenas() -> bool:
    """Ask glibc to bound its arenas to ``MALLOC_ARENAS`` for the threads started from now on; True when it took the
    setting. glibc fixes its own bound (8 a core) once a process has made more than 8 arenas, and then ignores this
    while still saying yes: it is asked before the lanes start threads, when the tasks' machinery is first made (a
    server for many clients: in its lifespan). Not before the handshake, where loading ``ctypes`` would lengthen
    every start. Left alone where the user chose (``MALLOC_ARENA_MAX``, or ``GLIBC_TUNABLES`` naming
    ``arena_max``) and where the C library is not glibc.
    """
    chosen = "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", "")
    if chosen or not sys.platform.startswith("linux") or not _glibc():
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a glibc process exports mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(_M_ARENA_MAX, MALLOC_ARENAS) == 1


def _glibc() -> bool:
    if sys.platform == "win32":
        return False
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # pragma: no cover - a C library without the name (musl)
        return False


def _store_of(settings: Settings) -> ImageStore:
    """Where images are saved: the team's bucket when one is set, else folders of this machine."""
    if settings.storage_url is None:
        return LocalFolders()
    from ideogram_mcp.images.s3 import BucketStore  # obstore loads only where a bucket is set

    return BucketStore.of_settings(settings)
