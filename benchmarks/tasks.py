"""N tasks at once through the task machinery alone (``tasks.life``, no MCP), against the fake Runware.

    uv run python benchmarks/tasks.py [--n 1000] [--render 2.0] [--mode off defaults] [--runs 1]

What ``inflight.py`` measures over stdio, without the MCP layer in front: N jobs started together in one process,
each checked, recorded in the journal, sent, polled and finished as a tool call's would be, in two modes: saving off
(no files, no previews) and the defaults (each image saved with its recipe, a preview made). The fake Runware
(``upstream.py``) runs in its own process. Printed per run: the wall time, the CPU per task of this process (user and
system) and its voluntary context switches per task (the hand-offs between the event loop and threads), and where
each task's time went, as p50 / p90 / max over the tasks:

- sent: from the start to Runware having the task (when its render began);
- polled: from its images being ready to a poll answering them;
- finished: from that poll to its outcome (the journal read again and written, the images saved, the previews).

With saving off the last figure is the journal's work alone; ``inflight.py``'s wall ratio adds the MCP layer's
intake in front of "sent".
"""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import dataclass

import anyio

from common import BENCH_KEY, Phases, counted, load_average, run_folder, spread, upstream
from ideogram_mcp import arguments, files
from ideogram_mcp.journal import Approval
from ideogram_mcp.settings import Settings
from ideogram_mcp.specs import load_spec
from ideogram_mcp.tasks import life
from ideogram_mcp.tasks.job import Cheaper, Job
from ideogram_mcp.tasks.outcomes import Made
from ideogram_mcp.tasks.services import Services

MODES = {"off": {"save": False, "preview": False}, "defaults": {"save": True, "preview": True}}


@dataclass
class Run:
    """One run of N tasks: its wall time, CPU and switches per task, outcomes, and each task's phases (seconds)."""

    wall: float
    user: float
    system: float
    switches: float
    made: int
    phases: Phases


async def approve(quote: float, what: str, approved_cost: float | None, task_uuid: str, cheaper: Cheaper) -> Approval:
    """Every spend approved, as one under the confirmation threshold is."""
    return "under threshold"


async def run(n: int, render: float, mode: str) -> Run:
    async with upstream(render) as runware:
        folder = run_folder()
        settings = Settings(
            runware_api_key=BENCH_KEY,
            runware_base_url=runware.url,
            data_dir=folder / "data",
            output_dir=folder / "out",
            wait_seconds=600,
            confirm_above=1e6,
            max_in_flight=100_000,
            daily_budget=0,
            **MODES[mode],
        )
        spec = load_spec()
        where = files.places(folder / "out", [], [])
        done: dict[str, float] = {}
        outcomes: list[object] = []

        async def one(number: int) -> None:
            generation = arguments.parse(spec, {"positivePrompt": f'"BENCH {number}" poster'})
            outcome = await life.start(services, Job("generate_image", spec, generation, "", where), approve)
            outcomes.append(outcome)
            if isinstance(outcome, Made):
                done[outcome.entry.task_uuid] = time.monotonic()

        async def measure() -> tuple[float, float, resource.struct_rusage, resource.struct_rusage, int]:
            """The N tasks at once: when they started (monotonic), the wall time, CPU and switches around them."""
            await one(-1)  # the first call loads what calls use; not measured
            outcomes.clear()
            done.clear()
            before = resource.getrusage(resource.RUSAGE_SELF)
            started, wall = time.monotonic(), time.perf_counter()
            async with anyio.create_task_group() as tasks:
                for number in range(n):
                    tasks.start_soon(one, number)
            wall = time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_SELF)
            return started, wall, before, after, after.ru_nvcsw - before.ru_nvcsw  # threads that ended included

        taken: list[tuple[float, float, resource.struct_rusage, resource.struct_rusage, int]] = []
        async with anyio.create_task_group() as background:
            services = Services(settings, background=background)
            taken.append(await measure())
            await services.aclose()
            background.cancel_scope.cancel()
        counts = await runware.counts()
    ((started, wall, before, after, switches),) = taken
    return Run(
        wall=wall,
        user=(after.ru_utime - before.ru_utime) / n,
        system=(after.ru_stime - before.ru_stime) / n,
        switches=switches / n,
        made=sum(isinstance(outcome, Made) for outcome in outcomes),
        phases=Phases.of(counts, done, started, render),
    )


async def main(n: int, render: float, modes: list[str], runs: int) -> None:
    print(f"{n} tasks at once through tasks.life (no MCP), {render:g} s render, fake Runware in its own process")
    print(
        "| mode | wall | CPU per task (user + system) | switches a task | made | sent | polled | finished | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for mode in [each for each in modes for _ in range(runs)]:
        load = load_average()
        measured = await run(n, render, mode)
        user, system = measured.user * 1000, measured.system * 1000
        print(
            f"| {mode} | {measured.wall:.2f} s | {user + system:.2f} ms ({user:.2f} + {system:.2f})"
            f" | {measured.switches:.1f} | {measured.made} / {n} | {spread(measured.phases.sent)}"
            f" | {spread(measured.phases.polled)} | {spread(measured.phases.ended)} | {load} |",
            flush=True,
        )
    print("sent, polled, finished: p50 / p90 / max seconds over the tasks")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=counted, default=1000)
    parser.add_argument("--render", type=float, default=2.0)
    parser.add_argument("--mode", choices=list(MODES), nargs="+", default=list(MODES))
    parser.add_argument("--runs", type=counted, default=1, help="runs of each mode")
    arguments_given = parser.parse_args()
    anyio.run(main, arguments_given.n, arguments_given.render, arguments_given.mode, arguments_given.runs)
