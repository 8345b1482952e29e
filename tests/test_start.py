"""What a start loads: the command a client spawns, asked for nothing but ``initialize`` and ``tools/list``, loads none
of what only a tool call needs (Runware's client and its polling, the journal, the image store and Pillow, the task's
life). A client waits for all a start loads; a call pays for its own machinery when it comes.

A start that finds the listing kept by an earlier one (``listing``) loads less still: neither the specs nor the tools'
schemas and output models, which only the first call (or the first start after a change) builds.

The modules are read from the real command's process: it runs as the console script runs it (``start.main``), and
writes the names of the modules it loaded to a file as it exits, after a session that only listed the tools.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from ideogram_mcp.server import YOUNG_COLLECTION_AFTER
from tests.processes import clean_env

pytestmark = pytest.mark.anyio

_LOADED_AT_EXIT = """
import atexit, gc, json, sys
from pathlib import Path
before = set(sys.modules)  # the interpreter's own, and a coverage run's (which holds its data in SQLite)
written, kept = sys.argv.pop(1), sys.argv.pop(1)  # the rest of the command line is the server's own
atexit.register(lambda: Path(written).write_text(json.dumps(sorted(set(sys.modules) - before))))
from ideogram_mcp import listing
listing.KEPT = Path(kept)  # this test's own place for the listing, not the package's
from ideogram_mcp import cli  # the whole program, as main() loads it: what a start makes comes after
loaded = len(gc.get_objects())
frozen = Path(written).with_suffix(".frozen")
atexit.register(
    lambda: frozen.write_text(
        json.dumps({"loaded": loaded, "frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()})
    )
)
from ideogram_mcp.start import main
main()
"""

CALL_TIME = (
    "PIL",
    "ctypes",
    "sqlite3",
    "psycopg",
    "psycopg_pool",
    "tenacity",
    "ideogram_mcp.tasks.",
    "ideogram_mcp.journal",
    "ideogram_mcp.runware.",
    "ideogram_mcp.images.downloads",
    "ideogram_mcp.images.local",
    "ideogram_mcp.images.previews",
    "ideogram_mcp.images.recipes",
    "ideogram_mcp.records",
    "ideogram_mcp.masks",
    "ideogram_mcp.emulator",
    "ideogram_mcp.demo",
    "ideogram_mcp.http",
    "ideogram_mcp.issuer",
    "ideogram_mcp.tools.running",
    "ideogram_mcp.tools.results",
    "ideogram_mcp.tools.wording",
    "ideogram_mcp.tools.spending",
)
"""Modules (a name ending in a dot: any module under it) that only a tool call, the offline mode, the demo or the
HTTP server needs."""
DERIVING = (
    "tomllib",
    "ideogram_mcp.specs",
    "ideogram_mcp.sizes",
    "ideogram_mcp.arguments",
    "ideogram_mcp.schemas",
    "ideogram_mcp.tools.published",
    "ideogram_mcp.tools.generate",
    "ideogram_mcp.tools.edit",
    "ideogram_mcp.tools.catalog",
    "ideogram_mcp.tools.generations",
)
"""Modules that deriving the listing needs, and a start that finds it kept does not."""


def _among(modules: list[str], named: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n if n.endswith(".") else n + ".") for n in named)]


async def _start(
    tmp_path: Path, *args: str, keep: bool = True, **settings: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The tools the command lists, and the modules its process loaded by the time it exited. ``keep``: Python may
    write bytecode, and the start its listing (in ``tmp_path``); ``settings``: more environment variables."""
    written = tmp_path / "modules.json"
    env = clean_env(IDEOGRAM_MCP_DATA_DIR=str(tmp_path / "data"), **settings)
    if keep:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = ["-c", _LOADED_AT_EXIT, str(written), str(tmp_path / "listing.json"), *args]
    with anyio.fail_after(60):
        async with Client(StdioServerParameters(command=sys.executable, args=command, env=env)) as client:
            tools = (await client.list_tools()).tools
    dumped = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]
    return dumped, json.loads(written.read_text(encoding="utf-8"))


async def test_a_first_start_derives_the_listing_and_loads_nothing_only_a_call_needs(tmp_path: Path) -> None:
    tools, modules = await _start(tmp_path)
    assert tools[0]["name"] == "generate_image"
    assert {"ideogram_mcp.cli", "ideogram_mcp.server", "ideogram_mcp.specs", "mcp"} <= set(modules)
    assert _among(modules, CALL_TIME) == []
    assert (tmp_path / "listing.json").is_file()


async def test_a_server_keeps_what_its_start_made_out_of_the_collectors_walks_and_walks_the_young_less_often(
    tmp_path: Path,
) -> None:
    # What a start made lives as long as the server; a burst of calls keeps thousands of young objects alive.
    await _start(tmp_path)
    counts = json.loads((tmp_path / "modules.frozen").read_text())
    # The program's objects once loaded, and the server built from them after (its schemas, its listing): not
    # frozen before the server was built.
    assert counts["frozen"] > counts["loaded"] + 2_000, counts
    assert counts["threshold"] == [YOUNG_COLLECTION_AFTER, 20, 10]


async def test_a_start_that_finds_the_listing_kept_lists_the_same_tools_and_loads_less(tmp_path: Path) -> None:
    derived, _ = await _start(tmp_path)
    kept, modules = await _start(tmp_path)
    assert kept == derived
    assert {"ideogram_mcp.cli", "ideogram_mcp.server", "ideogram_mcp.listing"} <= set(modules)
    assert _among(modules, CALL_TIME) == []
    assert _among(modules, DERIVING) == []


async def test_where_python_keeps_no_bytecode_each_start_derives_the_listing(tmp_path: Path) -> None:
    _, modules = await _start(tmp_path, keep=False)
    assert not (tmp_path / "listing.json").exists()
    assert "ideogram_mcp.specs" in modules
    assert _among(modules, CALL_TIME) == []


async def test_a_start_with_a_database_set_connects_to_nothing_and_loads_no_database_client(tmp_path: Path) -> None:
    url = "postgresql://team@127.0.0.1:9/journal"  # nothing listens there: a start that tried would be refused
    tools, modules = await _start(tmp_path, IDEOGRAM_MCP_DATABASE_URL=url)
    assert tools[0]["name"] == "generate_image"
    assert _among(modules, CALL_TIME) == []


async def test_the_offline_start_loads_the_emulator_and_still_nothing_a_call_needs(tmp_path: Path) -> None:
    _, modules = await _start(tmp_path, "--offline")
    assert "ideogram_mcp.emulator" in modules
    assert _among([m for m in modules if not m.startswith(("ideogram_mcp.emulator", "PIL"))], CALL_TIME) == []


def test_a_module_loaded_too_early_is_seen() -> None:
    """The checks above can fail: an eager import of the journal, of Runware's polling or of Pillow is named, and so
    is the specs' loader where a kept listing should have spared it."""
    loaded = ["mcp", "PIL.Image", "ideogram_mcp.journal.sqlite", "ideogram_mcp.runware.delivery", "ideogram_mcp.specs"]
    assert _among(loaded, CALL_TIME) == ["PIL.Image", "ideogram_mcp.journal.sqlite", "ideogram_mcp.runware.delivery"]
    assert _among(loaded, DERIVING) == ["ideogram_mcp.specs"]
    assert _among(["ideogram_mcp.runware"], CALL_TIME) == []  # the package's default URL, read by the settings


def test_an_http_server_of_runwares_api_loads_no_emulator(tmp_path: Path) -> None:
    # `ideogram-mcp http` had imported the emulator (Pillow's drawing, its rules) without --offline.
    from tests.processes import Running, clean_env, free_port

    env = clean_env(RUNWARE_API_KEY="sk-not-used", IDEOGRAM_MCP_DATA_DIR=str(tmp_path), PYTHONPROFILEIMPORTTIME="1")
    server = Running(["http", "--port", str(free_port())], env)
    try:
        server.listening()
    finally:
        _, _, said = server.terminate()
    assert "ideogram_mcp.http" in said, "imports are told"
    assert "ideogram_mcp.emulator" not in said
