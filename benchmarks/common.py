"""What the benchmarks share: the server processes they measure, read from /proc, and the fake Runware they talk to.

The fake Runware (``upstream.py``) runs in a process of its own: in the benchmark's process it would take the
client's CPU, and it stands for a service that runs on other machines. The bare SDK server (``bare.py``) is what
ideogram-mcp is held against, in the same run and with the same client.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from ideogram_mcp.journal.sqlite import JOURNAL_FILE
from ideogram_mcp.settings import ENV

HERE = Path(__file__).resolve().parent
BENCH_KEY = "bench-key-0123456789"
"""The Runware key the fake Runware accepts (long enough to be treated as a secret)."""
TICKS = os.sysconf("SC_CLK_TCK")


def cached_bytecode() -> None:
    """Compile the bytecode of every module the measured servers load (the environment's packages and the server's
    own) where it is not cached yet, before anything is measured.

    A user's Python caches it at the server's first start, and pip compiles it at install; a machine that sets
    ``PYTHONDONTWRITEBYTECODE`` (this sandbox does, and uv does not compile at install) never caches it, so every
    process measured compiled from source each module it loaded without it: ~0.14 s of ideogram-mcp's first call
    (httpcore2, h11 ...), at every start, a cost no user pays after the first. Both servers measured gain alike."""
    import compileall
    import sysconfig

    if os.environ.get(_CACHED):  # done by the benchmark that started this process (the fake Runware, clients)
        return
    paths = sysconfig.get_paths()
    for folder in sorted({paths["purelib"], paths["platlib"], str(HERE.parent / "server")}):
        compileall.compile_dir(folder, quiet=2)
    os.environ[_CACHED] = "1"


_CACHED = "BENCH_BYTECODE_CACHED"
"""Set once a benchmark has compiled the bytecode: the processes it starts, which inherit it, skip the walk (the
fake Runware's CPU is counted over its whole life)."""
cached_bytecode()


def counted(text: str) -> int:
    """An argparse type: a whole number of 1 or more (0 pairs or 0 calls would measure nothing)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"give a whole number of 1 or more, not {text!r}")
    return number


def family(pid: int) -> list[int]:
    """A process and all its descendants (uvicorn's workers, a multiprocessing helper), from /proc."""
    found = [pid]
    for each in found:
        for thread in Path(f"/proc/{each}/task").glob("*"):
            with contextlib.suppress(OSError):
                found += [int(child) for child in (thread / "children").read_text().split()]
    return found


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a process and its descendants, summed, in MiB."""
    total = 0
    for each in family(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process and its live descendants (and of those it has reaped)."""
    return sum(sum(_cpu_ticks(f"/proc/{each}/stat")) for each in family(pid)) / TICKS


def main_thread_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process's main thread (the event loop's, in a Python server)."""
    return sum(_cpu_ticks(f"/proc/{pid}/task/{pid}/stat")[:2]) / TICKS


def _cpu_ticks(stat: str) -> list[int]:
    """utime, stime, cutime and cstime from a /proc stat file, in ticks; none when it is gone."""
    try:
        # The command name may hold spaces; the fields after its closing parenthesis do not.
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []
    return [int(value) for value in fields[11:15]]


def machine_ticks() -> tuple[int, int]:
    """The machine's CPU time so far, all cores, in ticks: (all of it, idle or waiting for the disk). The columns
    are user, nice, system, idle, iowait, irq, softirq, steal, then guest time already counted in user and nice;
    time stolen by the host counts as busy."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values), values[3] + values[4]


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How busy the machine's cores were between two ``machine_ticks``, as a share of all of them (0 to 1)."""
    total, idle = after[0] - before[0], after[1] - before[1]
    return 1 - idle / total if total > 0 else 0.0


def run_folder() -> Path:
    """A new folder for one run's journal, images and logs, removed with all the others when the benchmark ends.

    Not each at its run's end: on this machine's file system (ext4 without a journal), a file made within about two
    minutes of thousands being deleted costs several times the kernel time (its allocator checks, one by one, every
    recently freed inode it passes over). Deleting a run's thousands of images right before the next run made that
    run pay for it: 1,000 tasks with the defaults (``tasks.py``) took 7.8-8.6 s with 3.3-4.3 ms of system time a
    task, against 6.7-6.9 s and 1.3-1.8 ms with the earlier runs' files kept. The bare server saves nothing, so it
    never paid.
    """
    return Path(tempfile.mkdtemp(dir=_scratch().name))


@functools.cache
def _scratch() -> tempfile.TemporaryDirectory[str]:
    """The one folder all runs' folders are made in; removed (with them) when the process exits."""
    return tempfile.TemporaryDirectory(prefix="ideogram-bench-")


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages: the machine is shared, so each figure says how busy it was."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Phases:
    """Where tasks' time went, in seconds, one value a task: from the start until Runware had it (its render began),
    from its images being ready until a poll answered them, and from that poll until it ended (its outcome or
    answer)."""

    sent: list[float]
    polled: list[float]
    ended: list[float]

    @classmethod
    def of(cls, counts: dict[str, Any], ended: dict[str, float], began: float, render: float) -> Phases:
        """From the fake Runware's ``counts`` and when each task ended (time.monotonic, by taskUUID)."""
        ready, seen = counts["ready"], counts["seen"]
        timed = [task for task in ended if task in ready and task in seen]
        return cls(
            sent=[ready[task] - render - began for task in timed],
            polled=[seen[task] - ready[task] for task in timed],
            ended=[ended[task] - seen[task] for task in timed],
        )


def spread(values: list[float]) -> str:
    """p50 / p90 / max of ``values``, in seconds to the hundredth; "-" for none."""
    return " / ".join(f"{percentile(values, share):.2f}" for share in (0.5, 0.9, 1.0)) if values else "-"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of them lie (nearest rank); 0 for none."""
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)] if ordered else 0.0


def server_env(
    runware_url: str, folder: Path, settings: Mapping[str, str] | None = None, *, generous: bool = True
) -> dict[str, str]:
    """The environment for ideogram-mcp against the fake Runware: none of the user's settings, a journal and an
    output folder of its own, and (``generous``) limits that refuse nothing and a wait that outlasts the load: the
    benchmark measures speed, not the money rules. ``settings`` adds or overrides variables by setting name
    (``{"save": "false"}``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWARE_", "IDEOGRAM_MCP_"))}
    chosen = {"runware_api_key": BENCH_KEY, "runware_base_url": runware_url}
    chosen |= {"data_dir": str(_data_dir(folder)), "output_dir": str(folder / "out")}
    if generous:
        chosen |= {"daily_budget": "0", "confirm_above": "1000000", "max_in_flight": "100000"}
        chosen["wait_seconds"] = "600"  # a call under load answers done, not pending; pendings are still counted
    chosen |= settings or {}
    return env | {getattr(ENV, name): value for name, value in chosen.items()}


def journal_file(folder: Path) -> Path:
    """The SQLite journal of a server run with ``server_env(..., folder)``."""
    return _data_dir(folder) / JOURNAL_FILE


def _data_dir(folder: Path) -> Path:
    return folder / "data"


@dataclass
class Upstream:
    """The fake Runware running in its own process (``upstream.py``)."""

    url: str
    """Where tasks are POSTed."""
    pid: int

    async def counts(self) -> dict[str, Any]:
        """What it received and charged, and when each task's images were ready and first seen done by a poll."""
        async with httpx2.AsyncClient(timeout=60) as http:
            answer = await http.get(self.url.rsplit("/v1", 1)[0] + "/bench")
            answer.raise_for_status()
            return answer.json()


@contextlib.asynccontextmanager
async def upstream(render: float, *, draw_each: bool = False) -> AsyncIterator[Upstream]:
    """A fresh fake Runware with this render time, for one measurement; stopped afterwards."""
    command = [sys.executable, str(HERE / "upstream.py"), "--render", str(render), "--key", BENCH_KEY]
    process = subprocess.Popen([*command, *(["--draw-each"] if draw_each else [])], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = (await anyio.to_thread.run_sync(process.stdout.readline)).strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the fake Runware did not start: {url!r}")
        yield Upstream(url, process.pid)
    finally:
        process.terminate()
        process.wait(30)


@dataclass
class Session:
    """An MCP client session to a server process spawned over stdio."""

    client: Client
    pid: int


@contextlib.asynccontextmanager
async def stdio_session(command: list[str], env: dict[str, str], log: Path) -> AsyncIterator[Session]:
    """A stdio session to ``command``, as an MCP client spawns its server; the server's stderr goes to ``log``."""
    before = set(family(os.getpid()))
    parameters = StdioServerParameters(command=command[0], args=command[1:], env=env)
    with log.open("a") as errors:
        async with Client(stdio_client(parameters, errlog=errors)) as client:
            spawned = [pid for pid in family(os.getpid()) if pid not in before]
            yield Session(client, min(spawned))


async def wait_until_serving(url: str, seconds: float = 30) -> None:
    """Wait until an HTTP server answers at ``url`` (with any status): it has started and imported its app."""
    deadline = time.monotonic() + seconds
    async with httpx2.AsyncClient(timeout=2) as probe:
        while True:
            try:
                await probe.get(url)
                return
            except httpx2.HTTPError:
                if time.monotonic() > deadline:
                    raise
                await anyio.sleep(0.1)


async def timed_generation(
    mcp: Client, prompt: str, latencies: list[float], errors: list[str], *, judged: bool = True
) -> dict[str, Any] | None:
    """One generate_image call (previews off) with its latency kept in ``latencies``; a failure (raised, an error
    result, or, when ``judged``, a status other than done) kept in ``errors``. Its structured output when it
    succeeded, else None."""
    started = time.perf_counter()
    try:
        result = await mcp.call_tool("generate_image", {"positivePrompt": prompt, "preview": False})
    except Exception as exc:  # a failed call is a figure, not the end of the run
        latencies.append(time.perf_counter() - started)
        errors.append(f"{type(exc).__name__}: {exc}")
        return None
    latencies.append(time.perf_counter() - started)
    answer = result.structured_content or {}
    status = answer.get("status") if judged else "done"
    if result.is_error or status != "done":
        errors.append(str(status or result.content[0]))
        return None
    return answer
