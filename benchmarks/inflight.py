"""N generate_image calls in flight at once over one stdio session, against a bare SDK server doing the same wait.

    uv run python benchmarks/inflight.py [--n 100 500 1000] [--render 2.0] [--mode off defaults] [--draw-each]
                                         [--pairs 1]

ideogram-mcp is spawned as an MCP client spawns it (``python -m ideogram_mcp``), against the fake Runware
(``upstream.py``, its own process) with a render time, in two modes: saving off (``IDEOGRAM_MCP_SAVE=false``,
previews off) and the defaults (each image saved with its recipe, a preview in each result). Right before it, the
bare server (``bare.py``) takes the same N calls on the same client. Printed per N and mode: the wall time of all N
and its ratio to the bare server's, the per-call p50, the server process's peak RSS (VmHWM) and CPU per call (after
the session started) with its main thread's part (the event loop's), this client's CPU per call (reading and
checking each result, on the same cores), how busy the machine's cores were while the answers came, from the first
to the last (every process on the machine: the server, the fake Runware, this client and any other; near 100%, the
work is more than the cores; well under it, the run waits on something other than the cores), where the tasks'
time went (p50 / p90 / max: from the start until Runware had the task, from its images being ready until a poll
answered them, from that poll to its answer), ``getResponse`` entries per task sent, errors, answers still pending
(the wait is raised to 600 s so none should be), tasks charged once and images delivered (saved on disk, or an
URL).
``--pairs K`` measures each N and mode K times (bare, then ideogram-mcp), one row each, and ends with the median of
the K ratios: the machine's speed drifts from minute to minute, and a pair shares its minute.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp.types import CallToolResult

from common import (
    HERE,
    Phases,
    Session,
    busy_share,
    counted,
    cpu_seconds,
    load_average,
    machine_ticks,
    main_thread_cpu_seconds,
    peak_rss_mib,
    percentile,
    run_folder,
    server_env,
    spread,
    stdio_session,
    upstream,
)

MODES: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "off": ({"save": "false", "preview": "false"}, {"preview": False}),
    "defaults": ({}, {}),
}
"""Each mode's settings (by setting name) and the arguments it adds to each call."""
MODE_NAMES = {"off": "saving off", "defaults": "defaults (saving, previews)"}


@dataclass
class Flight:
    """What one server did with N calls at once."""

    wall: float = 0.0
    latencies: list[float] = field(default_factory=lambda: [])
    results: list[CallToolResult | BaseException] = field(default_factory=lambda: [])
    rss_mib: float = 0.0
    cpu_per_call: float = 0.0
    main_cpu_per_call: float = 0.0
    """The part of ``cpu_per_call`` spent in the server's main thread (its event loop)."""
    busy: float = 0.0
    """How busy the machine's cores were from the first answer to the last (every process on it), 0 to 1."""
    client_cpu_per_call: float = 0.0
    """This process's CPU a call: the MCP client reading and checking each result, on the same cores."""
    with_status: bool = True
    """Whether results carry ideogram-mcp's structured status (the bare server's do not)."""
    began: float = 0.0
    """When the calls started (time.monotonic, which the fake Runware's clock shares)."""
    answered: dict[str, float] = field(default_factory=lambda: {})
    """When each task's answer came (time.monotonic), by its taskUUID."""

    def failures(self) -> tuple[list[str], int]:
        """The errors (a tool error, an exception, a status other than done or pending) and the pending count."""
        errors: list[str] = []
        pending = 0
        for result in self.results:
            if isinstance(result, BaseException):
                errors.append(f"{type(result).__name__}: {result}")
                continue
            status = (result.structured_content or {}).get("status") if self.with_status else "done"
            if status == "pending" and not result.is_error:
                pending += 1
            elif result.is_error or status != "done":
                text = getattr(result.content[0], "text", "") if result.content else ""
                errors.append(f"{status}: {text[:160]}")
        return errors, pending

    def delivered(self) -> int:
        """Images a caller can use: saved files that exist with bytes in them, or an URL when nothing is saved."""
        count = 0
        for result in self.results:
            if isinstance(result, BaseException):
                continue
            for image in (result.structured_content or {}).get("images", []):
                path = image.get("path")
                if path:
                    count += Path(path).is_file() and Path(path).stat().st_size > 0
                else:
                    count += bool(image.get("imageURL"))
        return count


async def flight(session: Session, n: int, extra: dict[str, Any], *, with_status: bool = True) -> Flight:
    """N calls started together on one session; the server's CPU is counted from here, not from its start."""
    measured = Flight(with_status=with_status)
    cpu_before, main_before = cpu_seconds(session.pid), main_thread_cpu_seconds(session.pid)
    first_answer: tuple[int, int] | None = None
    client_before = time.process_time()

    async def one(number: int) -> None:
        nonlocal first_answer
        started = time.perf_counter()
        try:
            result: CallToolResult | BaseException = await session.client.call_tool(
                "generate_image", {"positivePrompt": f'"BENCH {number}" poster', **extra}
            )
        except Exception as exc:  # a failed call is a figure, not the end of the run
            result = exc
        measured.latencies.append(time.perf_counter() - started)
        measured.results.append(result)
        if not isinstance(result, BaseException) and (task := (result.structured_content or {}).get("taskUUID")):
            measured.answered[task] = time.monotonic()
        first_answer = first_answer or machine_ticks()

    started, measured.began = time.perf_counter(), time.monotonic()
    async with anyio.create_task_group() as calls:
        for number in range(n):
            calls.start_soon(one, number)
    measured.wall = time.perf_counter() - started
    measured.rss_mib = peak_rss_mib(session.pid)
    measured.cpu_per_call = (cpu_seconds(session.pid) - cpu_before) / n
    measured.main_cpu_per_call = (main_thread_cpu_seconds(session.pid) - main_before) / n
    measured.busy = busy_share(first_answer, machine_ticks()) if first_answer else 0.0
    measured.client_cpu_per_call = (time.process_time() - client_before) / n
    return measured


async def bare(n: int, render: float, folder: Path) -> Flight:
    env = dict(os.environ) | {"BARE_RENDER_SECONDS": str(render)}
    async with stdio_session([sys.executable, str(HERE / "bare.py")], env, folder / "bare.log") as session:
        return await flight(session, n, {}, with_status=False)


async def ours(n: int, render: float, mode: str, folder: Path, draw_each: bool) -> tuple[Flight, dict[str, Any]]:
    settings, extra = MODES[mode]
    async with upstream(render, draw_each=draw_each) as runware:
        env = server_env(runware.url, folder, settings)
        command = [sys.executable, "-m", "ideogram_mcp"]
        async with stdio_session(command, env, folder / "ideogram-mcp.log") as session:
            measured = await flight(session, n, extra)
        return measured, await runware.counts()


def phases(measured: Flight, counts: dict[str, Any], render: float) -> str:
    """Where the tasks' time went, p50 / p90 / max over them: sent (from the start to Runware having the task),
    polled (from its images being ready to a poll answering them), answered (from that poll to its answer)."""
    went = Phases.of(counts, measured.answered, measured.began, render)
    return (
        f"  where the time went (p50 / p90 / max s): sent {spread(went.sent)}, polled {spread(went.polled)},"
        f" answered {spread(went.ended)}"
    )


def row(name: str, measured: Flight, wall_bare: float | None) -> str:
    errors, pending = measured.failures()
    ratio = f"{measured.wall / wall_bare:5.2f}x" if wall_bare else "      "
    return (
        f"  {name:13} {measured.wall:7.2f} s {ratio} p50 {percentile(measured.latencies, 0.5):6.2f} s"
        f" max {max(measured.latencies):6.2f} s  RSS {measured.rss_mib:5.0f} MiB"
        f"  CPU/call {measured.cpu_per_call * 1000:6.2f} ms (main thread {measured.main_cpu_per_call * 1000:5.2f})"
        f"  client CPU/call {measured.client_cpu_per_call * 1000:5.2f} ms"
        f"  machine busy {measured.busy:4.0%}  errors {len(errors)} pending {pending}"
    )


async def main(ns: list[int], render: float, modes: list[str], draw_each: bool, pairs: int) -> None:
    summary: list[str] = []
    ratios: dict[tuple[int, str], list[float]] = {}
    print(
        f"N generate_image calls at once over one stdio session, {render:g} s render, fake Runware in its own process"
    )
    for n in ns:
        for mode in [each for each in modes for _ in range(pairs)]:
            folder = run_folder()
            load = load_average()
            reference = await bare(n, render, folder)
            measured, counts = await ours(n, render, mode, folder, draw_each)
            errors, pending = measured.failures()
            per_task = counts["get_response"] / max(counts["inference"], 1)
            charged_once = counts["charged_tasks"] == counts["charged_distinct"] == n
            print(f"\nN={n}, {MODE_NAMES[mode]}; load average before: {load}")
            print(row("bare", reference, None))
            print(row("ideogram-mcp", measured, reference.wall))
            print(
                f"  getResponse entries per task {per_task:.1f} ({counts['get_response']} in"
                f" {counts['requests']} requests); tasks charged {counts['charged_tasks']}"
                f" ({counts['charged_distinct']} distinct, once each: {charged_once}),"
                f" images charged {counts['charged_images']}, delivered {measured.delivered()}"
            )
            print(phases(measured, counts, render))
            print(
                f"  fake Runware: {counts['cpu_seconds']:.1f} s CPU, peak RSS {counts['peak_rss_mib']:.0f} MiB;"
                f" load average after: {load_average()}"
            )
            for error in sorted(set(errors))[:3]:
                print(f"  error: {error}")
            ratios.setdefault((n, mode), []).append(measured.wall / reference.wall)
            summary.append(
                f"| {n:>5} | {mode:8} | {measured.wall:6.2f} s | {reference.wall:5.2f} s"
                f" | {measured.wall / reference.wall:5.2f}x | {percentile(measured.latencies, 0.5):5.2f} s"
                f" | {measured.rss_mib:4.0f} ({reference.rss_mib:3.0f}) MiB"
                f" | {measured.cpu_per_call * 1000:5.2f} ({reference.cpu_per_call * 1000:4.2f}) ms"
                f" | {measured.main_cpu_per_call * 1000:5.2f} ms | {measured.busy:4.0%} ({reference.busy:4.0%})"
                f" | {per_task:5.1f} | {len(errors)} / {pending}"
                f" | {counts['charged_images']} / {measured.delivered()}"
                f" | {load} |"
            )
    print("\n| N | mode | wall | bare wall | ratio | p50 | peak RSS (bare) | CPU/call (bare) | main thread"
          " | machine busy (bare) | getResponse/task | errors / pending | charged / delivered"
          " | load avg |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(summary))
    if pairs > 1:
        for (n, mode), each in ratios.items():
            print(f"N={n} {mode}: median ratio {statistics.median(each):.2f}x of {len(each)} pairs"
                  f" ({min(each):.2f}x to {max(each):.2f}x)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=counted, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--render", type=float, default=2.0)
    parser.add_argument("--mode", choices=list(MODES), nargs="+", default=list(MODES))
    parser.add_argument("--draw-each", action="store_true", help="the fake Runware draws every image")
    parser.add_argument("--pairs", type=counted, default=1, help="measurements of each N and mode, bare then ours")
    arguments = parser.parse_args()
    anyio.run(main, arguments.n, arguments.render, arguments.mode, arguments.draw_each, arguments.pairs)
