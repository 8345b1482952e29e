"""Load on the HTTP server: N concurrent MCP clients, each calling generate_image in a loop, against the fake
Runware with a render time (2 s by default), over loopback; beside a bare SDK server doing the same wait.

    uv run python benchmarks/load.py [--clients 20] [--calls 5] [--render 2.0] [--workers 1] [--pairs 1]
                                     [--list-first] [--client-processes K] [--trust-schemas]
    uv run python benchmarks/load.py --matrix     # 1 and 2 workers x 20, 50 and 100 clients

Each client has a token of its own (limits are per token). ideogram-mcp saves each image (previews off); the fake
Runware (``upstream.py``) runs in its own process. The bare server (``bare.py``) is the SDK's stateless streamable
HTTP under uvicorn with as many workers, taking the same clients right after. Prints for each: calls per second,
p50 and p95 latency, errors, the peak RSS of the server's processes and their CPU per call, the clients' CPU per
call (when they run in this process); the p95 ratio to the bare server; for ideogram-mcp, how long after its render
ended each result came (the poll delay under load); for both, the p95 of each client's first, second ... call; and
for ideogram-mcp, by call of each client, when the task reached Runware, when the server recorded its outcome in
its journal (before the commit and the answer) and when the call returned to its client: the server's part and the
clients'.
``--list-first`` has each client list the tools when it connects, as MCP hosts do, instead of at its first call
(where the SDK's client fetches them to check the result).
``--client-processes K`` runs the clients in K processes of their own (the clients' share each, all started at one
signal) instead of in this one: real clients do not share one Python process, and a first call's own work (the
SDK's client lists the tools and compiles a validator for the output schema) otherwise queues behind every other
client's.
``--trust-schemas`` has the SDK's client skip checking each tool's output schema against JSON Schema's metaschema
before compiling its validator (every result is still checked against its schema): that check takes about 0.19 ms
for each subschema, 4.3 ms for ``generate_image``'s and 0.38 ms for the bare server's, and 100 clients in one
process pay it together at their first calls; the option shows how much of a ratio is that.
``--pairs K`` measures each number of workers and clients K times (bare, then ideogram-mcp), one row each, and
ends with the median of the K p95 ratios: a tail figure moves with the machine's minute, and a pair shares its minute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from jsonschema.validators import validator_for  # loaded before any timing, with --trust-schemas or without
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from referencing import Registry

from common import (
    HERE,
    counted,
    cpu_seconds,
    free_port,
    journal_file,
    load_average,
    peak_rss_mib,
    percentile,
    run_folder,
    server_env,
    timed_generation,
    upstream,
    wait_until_serving,
)

LIST_FIRST = False
"""Whether each client lists the tools when it connects (``--list-first``), before its timed calls."""
CLIENT_PROCESSES = 0
"""Processes the clients run in (``--client-processes``); 0: this one."""
TRUSTED_SCHEMAS = False
"""Whether the SDK's client skips checking output schemas against the metaschema (``--trust-schemas``)."""


def trust_output_schemas() -> None:
    """Have the SDK's client compile each tool's output-schema validator without first checking the schema against
    JSON Schema's metaschema (``--trust-schemas``); every result is still validated against its tool's schema."""
    if not hasattr(ClientSession, "_output_schema_validator"):
        raise SystemExit("--trust-schemas: this SDK's ClientSession has no _output_schema_validator to replace")

    def compiled(session: ClientSession, name: str, output_schema: dict[str, Any]) -> Any:
        cache: dict[str, Any] = getattr(session, "_tool_output_validators")  # noqa: B009 (the SDK's private cache)
        if (validator := cache.get(name)) is None:
            validator = cache[name] = validator_for(output_schema)(output_schema, registry=Registry())
        return validator

    setattr(ClientSession, "_output_schema_validator", compiled)  # noqa: B010 (a private method replaced on purpose)


@dataclass
class Load:
    """What one server did under the clients."""

    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=lambda: [])
    errors: list[str] = field(default_factory=lambda: [])
    finished: dict[str, tuple[int, float, float]] = field(default_factory=lambda: {})
    """Which of its client's calls each task was (from 0), when the call began and when it returned (time.monotonic),
    by taskUUID: ideogram-mcp only."""
    rss_mib: float = 0.0
    cpu_per_call: float = 0.0
    client_cpu_per_call: float | None = None
    """This process's CPU per call while its clients ran; None when they ran in processes of their own."""
    by_call: dict[int, list[float]] = field(default_factory=lambda: {})
    """The latencies of each client's first, second ... call (index from 0)."""

    def waves(self) -> str:
        """p95 of each client's first, second ... call: a client's first call also lists the tools (the SDK's
        client fetches them to check the structured result) and compiles the output schema's validator."""
        return ", ".join(f"{n + 1}: {percentile(xs, 0.95):.2f} s" for n, xs in sorted(self.by_call.items()))

    def line(self, name: str, bare: Load | None) -> str:
        p95 = percentile(self.latencies, 0.95)
        ratio = f"  p95 {p95 / percentile(bare.latencies, 0.95):.2f}x bare" if bare else ""
        rate = len(self.latencies) / self.elapsed
        return (
            f"  {name:13} {rate:6.2f} calls/s  p50 {percentile(self.latencies, 0.5):5.2f} s"
            f"  p95 {p95:5.2f} s  max {max(self.latencies):5.2f} s  errors {len(self.errors)}"
            f"  RSS {self.rss_mib:4.0f} MiB  CPU/call {self.cpu_per_call * 1000:5.1f} ms{self._clients()}{ratio}"
        )

    def _clients(self) -> str:
        if self.client_cpu_per_call is None:
            return ""
        return f"  client CPU/call {self.client_cpu_per_call * 1000:4.1f} ms"


async def one_client(url: str, token: str, calls: int, measured: Load, with_status: bool) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120)
    async with Client(streamable_http_client(url, http_client=http)) as mcp:
        if LIST_FIRST:
            await mcp.list_tools()
        for n in range(calls):
            began = time.monotonic()
            answer = await timed_generation(
                mcp, f'"LOAD {n}" poster', measured.latencies, measured.errors, judged=with_status
            )
            measured.by_call.setdefault(n, []).append(measured.latencies[-1])
            if answer is not None and with_status:
                measured.finished[str(answer.get("taskUUID"))] = (n, began, time.monotonic())


async def drive(command: list[str], env: dict[str, str], probe: str, port: int, clients: int, calls: int) -> Load:
    """Start a server, wait until it answers, run the clients against it, measure it, stop it.

    Results are judged by ideogram-mcp's structured status when the server answers on ``/healthz`` (the bare one
    does not)."""
    tokens = [f"load-token-{n:03d}" for n in range(clients)]
    env = env | {"IDEOGRAM_MCP_TOKENS": ",".join(tokens)}
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    measured = Load()
    try:
        await wait_until_serving(f"http://127.0.0.1:{port}{probe}")
        await anyio.sleep(1)  # with several workers, the first one up answers the probe; the others get a moment
        cpu_before = cpu_seconds(server.pid)
        ours = probe == "/healthz"
        url = f"http://127.0.0.1:{port}/mcp"
        if CLIENT_PROCESSES:
            await in_processes(url, tokens, calls, measured, ours)
        else:
            started, client_cpu = time.perf_counter(), time.process_time()  # this process's, its children not
            async with anyio.create_task_group() as group:
                for token in tokens:
                    group.start_soon(one_client, url, token, calls, measured, ours)
            measured.elapsed = time.perf_counter() - started
            measured.client_cpu_per_call = (time.process_time() - client_cpu) / max(len(measured.latencies), 1)
        measured.rss_mib = peak_rss_mib(server.pid)
        measured.cpu_per_call = (cpu_seconds(server.pid) - cpu_before) / max(len(measured.latencies), 1)
    finally:
        server.terminate()
        server.wait(30)
    return measured


async def in_processes(url: str, tokens: list[str], calls: int, measured: Load, ours: bool) -> None:
    """The clients in ``CLIENT_PROCESSES`` processes (``--clients-of``), started together once all are loaded; their
    figures merged into ``measured``, the time from the start signal to the last one's end as its elapsed time."""
    shares = [tokens[n::CLIENT_PROCESSES] for n in range(CLIENT_PROCESSES) if tokens[n::CLIENT_PROCESSES]]
    options = ["--calls", str(calls), *(["--judged"] if ours else []), *(["--list-first"] if LIST_FIRST else [])]
    options += ["--trust-schemas"] if TRUSTED_SCHEMAS else []
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--clients-of", url, ",".join(share), *options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
    ]
    try:
        for process in processes:  # each says so once its modules are loaded
            said = process.stdout.readline() if process.stdout is not None else ""
            if said.strip() != "loaded":
                raise RuntimeError(f"a client process did not start: {said!r}")
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [await anyio.to_thread.run_sync(process.communicate) for process in processes]
        measured.elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.kill()
    for out, _ in outputs:
        part = json.loads(out)
        measured.latencies += part["latencies"]
        measured.errors += part["errors"]
        measured.finished |= {uuid: (n, began, ended) for uuid, (n, began, ended) in part["finished"].items()}
        for n, latencies in part["by_call"].items():
            measured.by_call.setdefault(int(n), []).extend(latencies)


async def clients_of(url: str, tokens: list[str], calls: int, judged: bool) -> None:
    """One process's clients (``--clients-of``): waits for the start line on stdin, prints its figures as JSON."""
    measured = Load()
    print("loaded", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    async with anyio.create_task_group() as group:
        for token in tokens:
            group.start_soon(one_client, url, token, calls, measured, judged)
    kept = ("latencies", "errors", "finished", "by_call")
    print(json.dumps({name: getattr(measured, name) for name in kept}))


async def bare(clients: int, calls: int, render: float, workers: int) -> Load:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare:http_app", "--factory", "--app-dir", str(HERE)]
    command += ["--port", str(port), "--workers", str(workers), "--http", "h11", "--log-level", "warning"]
    env = dict(os.environ) | {"BARE_RENDER_SECONDS": str(render)}
    return await drive(command, env, "/ready", port, clients, calls)  # any answer, a 404 too, says it serves


async def ours(clients: int, calls: int, render: float, workers: int) -> tuple[Load, dict[str, float], list[str]]:
    """ideogram-mcp's figures, how long after its render ended each task's result reached its client, and where the
    time of each client's first, second ... call went (p50 / p95)."""
    port = free_port()
    folder = run_folder()
    async with upstream(render) as runware:
        # The real per-token limits and the default wait: the server as deployed (5 calls fit in them).
        env = server_env(runware.url, folder, {"log_level": "WARNING"}, generous=False)
        command = [sys.executable, "-m", "ideogram_mcp", "http", "--port", str(port), "--workers", str(workers)]
        measured = await drive(command, env, "/healthz", port, clients, calls)
        counts = await runware.counts()
    ready: dict[str, float] = counts["ready"]
    delays = {uuid: ended - ready[uuid] for uuid, (_, _, ended) in measured.finished.items() if uuid in ready}
    # Each task renders from when it reached Runware, so that moment is its images' readiness less the render time.
    reached: dict[int, list[float]] = {}
    after: dict[int, list[float]] = {}
    recorded = recorded_after_render(journal_file(folder), ready)
    journaled: dict[int, list[float]] = {}
    for uuid, (n, began, _) in measured.finished.items():
        if uuid in delays:
            reached.setdefault(n, []).append(ready[uuid] - render - began)
            after.setdefault(n, []).append(delays[uuid])
        if uuid in recorded:
            journaled.setdefault(n, []).append(recorded[uuid])
    figures = {
        "getResponse per task": counts["get_response"] / max(counts["inference"], 1),
        "charged": counts["charged_images"],
        "delay p50": percentile(list(delays.values()), 0.5),
        "delay p95": percentile(list(delays.values()), 0.95),
        "upstream cpu": counts["cpu_seconds"],
    }
    phases = [
        f"{n + 1}: {percentile(reached[n], 0.5):.2f} / {percentile(reached[n], 0.95):.2f} s to reach Runware,"
        f" its outcome recorded {_spread(journaled.get(n, []), len(after[n]))} and the call returned to its client"
        f" {percentile(after[n], 0.5):.2f} / {percentile(after[n], 0.95):.2f} s after the render"
        for n in sorted(reached)
    ]
    return measured, figures, phases


def _spread(seconds: list[float], calls: int) -> str:
    """p50 / p95 of ``seconds``, saying how many of the ``calls`` they cover when not all; "-" when none."""
    if not seconds:
        return "-"
    covered = "" if len(seconds) == calls else f" (of {len(seconds)} of {calls} calls)"
    return f"{percentile(seconds, 0.5):.2f} / {percentile(seconds, 0.95):.2f} s{covered}"


def recorded_after_render(journal: Path, ready: dict[str, float]) -> dict[str, float]:
    """How long after its render ended the server recorded each finished task's outcome in its journal, by taskUUID:
    the server's side of "after the render" up to that write (its commit, and the answer after it, not included), apart
    from the clients' part. The journal keeps Unix time and Runware's readiness is monotonic, so the one is brought to
    the other's clock. Empty when the journal cannot be read (it is said why)."""
    offset = time.time() - time.monotonic()
    if not journal.is_file():
        print(f"  (no journal at {journal}: the server's part is not shown)")
        return {}
    try:
        with contextlib.closing(sqlite3.connect(journal)) as db:
            rows = db.execute("SELECT task_uuid, updated FROM tasks WHERE state = 'done'").fetchall()
    except sqlite3.Error as exc:
        print(f"  (the journal at {journal} could not be read: {exc}; the server's part is not shown)")
        return {}
    return {str(uuid): updated - offset - ready[uuid] for uuid, updated in rows if uuid in ready}


async def measure(clients: int, calls: int, render: float, workers: int) -> tuple[str, float]:
    """Both servers under the same clients, printed; returns the summary row and the p95 ratio."""
    load = load_average()
    reference = await bare(clients, calls, render, workers)
    measured, figures, phases = await ours(clients, calls, render, workers)
    print(f"\n{clients} clients x {calls} calls, {render:g} s render, {workers} worker(s); load average before: {load}")
    print(reference.line("bare", None))
    print(measured.line("ideogram-mcp", reference))
    print(
        f"  ideogram-mcp: result after render end p50 {figures['delay p50']:.2f} s, p95 {figures['delay p95']:.2f} s;"
        f" getResponse per task {figures['getResponse per task']:.1f}; images charged {figures['charged']:.0f};"
        f" fake Runware CPU {figures['upstream cpu']:.1f} s; load average after: {load_average()}"
    )
    print(f"  p95 by call of each client: ideogram-mcp {measured.waves()}; bare {reference.waves()}")
    print(f"  where ideogram-mcp's calls' time went (p50 / p95), by call of each client: {'; '.join(phases)}")
    for error in sorted(set(measured.errors + reference.errors))[:3]:
        print(f"  error: {error[:200]}")
    p95, p95_bare = percentile(measured.latencies, 0.95), percentile(reference.latencies, 0.95)
    row = (
        f"| {workers} | {clients:>3} | {len(measured.latencies) / measured.elapsed:5.2f}"
        f" ({len(reference.latencies) / reference.elapsed:5.2f}) | {percentile(measured.latencies, 0.5):4.2f}"
        f" ({percentile(reference.latencies, 0.5):4.2f}) s | {p95:4.2f} ({p95_bare:4.2f}) s | {p95 / p95_bare:4.2f}x"
        f" | {len(measured.errors)} ({len(reference.errors)}) | {measured.rss_mib:4.0f} ({reference.rss_mib:3.0f}) MiB"
        f" | {measured.cpu_per_call * 1000:4.1f} ({reference.cpu_per_call * 1000:3.1f}) ms"
        f" | {figures['delay p50']:4.2f} / {figures['delay p95']:4.2f} s | {load} |"
    )
    return row, p95 / p95_bare


async def main(clients: list[int], calls: int, render: float, workers: list[int], pairs: int) -> None:
    listing = "each lists the tools when it connects" if LIST_FIRST else "the SDK's client lists them at its first call"
    where = f"in {CLIENT_PROCESSES} processes" if CLIENT_PROCESSES else "in this process"
    where += "; output schemas trusted, not checked against the metaschema" if TRUSTED_SCHEMAS else ""
    print(
        f"HTTP: concurrent MCP clients calling generate_image in a loop (saving on, previews off), loopback; {listing};"
        f" the clients {where}"
    )
    rows: list[str] = []
    ratios: dict[tuple[int, int], list[float]] = {}
    for w in workers:
        for c in [each for each in clients for _ in range(pairs)]:
            row, ratio = await measure(c, calls, render, w)
            rows.append(row)
            ratios.setdefault((w, c), []).append(ratio)
    print("\nideogram-mcp (bare SDK server in the same run)")
    print(
        "| workers | clients | calls/s | p50 | p95 | p95 ratio | errors | peak RSS | CPU/call"
        " | result after render end p50 / p95 | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if pairs > 1:
        for (w, c), each in ratios.items():
            print(f"{w} worker(s), {c} clients: median p95 ratio {statistics.median(each):.2f}x of {len(each)} pairs"
                  f" ({min(each):.2f}x to {max(each):.2f}x)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=counted, nargs="+", default=[20])
    parser.add_argument("--calls", type=counted, default=5)
    parser.add_argument("--render", type=float, default=2.0)
    parser.add_argument("--workers", type=int, nargs="+", choices=[1, 2], default=[1])
    parser.add_argument("--matrix", action="store_true", help="1 and 2 workers x 20, 50 and 100 clients")
    parser.add_argument("--list-first", action="store_true", help="each client lists the tools when it connects")
    parser.add_argument("--client-processes", type=counted, help="run the clients in this many processes")
    parser.add_argument("--trust-schemas", action="store_true", help="the client skips the metaschema check")
    parser.add_argument("--pairs", type=counted, default=1, help="measurements of each, bare then ours")
    parser.add_argument("--clients-of", nargs=2, metavar=("URL", "TOKENS"), help=argparse.SUPPRESS)
    parser.add_argument("--judged", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    LIST_FIRST = arguments.list_first
    CLIENT_PROCESSES = arguments.client_processes or 0
    TRUSTED_SCHEMAS = arguments.trust_schemas
    if TRUSTED_SCHEMAS:
        trust_output_schemas()
    if arguments.clients_of:
        url, tokens = arguments.clients_of
        anyio.run(clients_of, url, tokens.split(","), arguments.calls, arguments.judged)
        sys.exit()
    if arguments.matrix:
        arguments.clients, arguments.workers = [20, 50, 100], [1, 2]
    anyio.run(main, arguments.clients, arguments.calls, arguments.render, arguments.workers, arguments.pairs)
