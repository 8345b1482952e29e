"""The shared parts of every task: what making them does to the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.tasks import services
from tests.processes import clean_env

_THREADS_THEN_ARENAS = """
import ctypes, sys, threading
from ideogram_mcp.tasks.services import share_malloc_arenas
print(share_malloc_arenas() if sys.argv[1] == "share" else "-", flush=True)
together = threading.Barrier(8)
def allocate():
    kept = [bytearray(1000) for _ in range(100)]  # small blocks: from the thread's arena
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()  # glibc: one "Arena N:" block per arena, on stderr
"""

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not services._glibc(),  # pyright: ignore[reportPrivateUsage]
    reason="malloc arenas are glibc's",
)


def _arenas(how: str, **env: str) -> tuple[str, int]:
    """What ``share_malloc_arenas`` answered in a fresh process (or "-" when not called), and how many arenas its
    eight threads then used."""
    ran = subprocess.run(
        [sys.executable, "-c", _THREADS_THEN_ARENAS, how],
        env={k: v for k, v in clean_env().items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return ran.stdout.strip(), sum(line.startswith("Arena ") for line in ran.stderr.splitlines())


@glibc_only
def test_threads_started_after_the_machinery_is_made_share_two_arenas() -> None:
    assert _arenas("share") == ("True", services.MALLOC_ARENAS)
    _, left_alone = _arenas("none")
    assert left_alone > services.MALLOC_ARENAS  # glibc's default: an arena for each new thread (the check can fail)


@glibc_only
@pytest.mark.parametrize(
    "chosen", [{"MALLOC_ARENA_MAX": "3"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=3"}], ids=["variable", "tunable"]
)
def test_the_users_own_arena_setting_is_kept(chosen: dict[str, str]) -> None:
    assert _arenas("share", **chosen) == ("False", 3)


@pytest.mark.anyio
async def test_making_the_services_shares_the_arenas(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[str] = []
    monkeypatch.setattr(services, "share_malloc_arenas", lambda: calls.append("shared") or True)
    settings = Settings(runware_api_key=None, data_dir=tmp_path / "data", output_dir=tmp_path / "out")
    async with anyio.create_task_group() as background:
        services.Services(settings, background=background)
    assert calls == ["shared"]


@pytest.mark.anyio
async def test_a_server_for_many_clients_shares_the_arenas_at_its_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(services, "share_malloc_arenas", lambda: calls.append("shared") or True)
    settings = Settings(runware_api_key=None, data_dir=tmp_path / "data", output_dir=tmp_path / "out")
    async with Client(build_server(settings, shared=True)) as client:
        assert calls == ["shared"]  # before any call: its clients' first calls start the threads
        await client.list_tools()
    async with Client(build_server(settings)) as client:  # one client's server: at its first call
        await client.list_tools()
    assert calls == ["shared"]
