"""The installed command, spawned the way MCP clients spawn it, and the demo."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext
from PIL import Image

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.stdio import Stdout, _End, _from_loop, _own_end

from .conftest import TOOL_NAMES, text

pytestmark = pytest.mark.anyio

COMMAND = str(Path(sys.executable).with_name("ideogram-mcp"))


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWARE_", "IDEOGRAM_MCP_"))}
    env["IDEOGRAM_MCP_DATA_DIR"] = os.environ.get("IDEOGRAM_MCP_DATA_DIR", "")
    return env | extra


@pytest.fixture(autouse=True)
def _journal_apart(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned servers keep their journal in the test's data folder, apart from the folders tests watch; and start
    in the test's folder, which they take for the project (images go there, not into this repository)."""
    monkeypatch.setenv("IDEOGRAM_MCP_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)


async def test_the_offline_server_over_stdio_generates_real_images() -> None:
    server = StdioServerParameters(command=COMMAND, args=["--offline"], env=_env())
    with anyio.fail_after(60):
        async with Client(server) as mcp, httpx2.AsyncClient() as http:
            tools = await mcp.list_tools()
            assert [t.name for t in tools.tools] == TOOL_NAMES
            result = await mcp.call_tool("generate_image", {"positivePrompt": '"HI" on a wall', "aspectRatio": "9:16"})
            assert not result.is_error
            (image,) = cast(dict[str, Any], result.structured_content)["images"]
            picture = Image.open(io.BytesIO((await http.get(image["imageURL"])).content))
    assert image["imageURL"].startswith("http://127.0.0.1:")
    assert picture.size == (736, 1312) == (image["width"], image["height"])


async def test_without_a_key_the_stdio_server_starts_lists_and_explains() -> None:
    server = StdioServerParameters(command=COMMAND, args=[], env=_env(RUNWARE_BASE_URL="http://127.0.0.1:9/v1"))
    with anyio.fail_after(60):
        async with Client(server) as mcp:
            assert len((await mcp.list_tools()).tools) == 10
            result = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
            prompts = await mcp.list_prompts()
    shown = text(result)
    assert result.is_error
    assert "RUNWARE_API_KEY is not set" in shown
    assert [p.name for p in prompts.prompts] == [
        "fix-text",
        "logo",
        "poster-layout",
        "poster",
        "social-variants",
        "storefront-signage",
    ]


async def test_the_stdio_server_uses_any_runware_compatible_server_at_runware_base_url() -> None:
    emulator = Emulator(api_key="sk-stdio-test")
    with anyio.fail_after(60):
        async with emulator.served() as url:
            env = _env(RUNWARE_BASE_URL=url, RUNWARE_API_KEY="sk-stdio-test")
            async with Client(StdioServerParameters(command=COMMAND, args=[], env=env)) as mcp:
                result = await mcp.call_tool("generate_image", {"positivePrompt": "x", "width": 512, "height": 1536})
    assert not result.is_error
    (task,) = emulator.submitted
    assert (task["width"], task["height"], task["model"]) == (512, 1536, "ideogram:4@1")
    assert emulator.charged == 0.06


async def test_over_stdio_model_ideogram_4_0_sends_a_4_0_task_and_a_call_4_0_cannot_take_sends_nothing() -> None:
    emulator = Emulator(api_key="sk-stdio-four")
    scene = {
        "high_level_description": "A gig poster.",
        "compositional_deconstruction": {"elements": [{"type": "text", "text": "LIVE", "bbox": [100, 100, 300, 900]}]},
    }
    with anyio.fail_after(60):
        async with emulator.served() as url:
            env = _env(RUNWARE_BASE_URL=url, RUNWARE_API_KEY="sk-stdio-four")
            async with Client(StdioServerParameters(command=COMMAND, args=[], env=env)) as mcp:
                refused = await mcp.call_tool(
                    "generate_image", {"model": "ideogram-4.0", "positivePrompt": "x", "styleType": "DESIGN"}
                )
                result = await mcp.call_tool(
                    "generate_image", {"model": "ideogram-4.0", "structuredPrompt": scene, "renderingSpeed": "TURBO"}
                )
    assert "Ideogram 3.0 takes it (model: ideogram-3.0)" in text(refused)
    assert not result.is_error, text(result)
    (task,) = emulator.submitted
    assert (task["model"], task["width"], task["height"]) == ("ideogram:4@0", 2048, 2048)
    assert task["settings"] == {"structuredPrompt": scene, "renderingSpeed": "TURBO"}
    assert "providerSettings" not in task
    assert cast(dict[str, Any], result.structured_content)["images"][0]["structuredPrompt"] == scene
    assert emulator.charged == 0.03


async def test_over_stdio_images_land_in_the_clients_root_and_nowhere_else(tmp_path: Path, home: Path) -> None:
    project, cwd = tmp_path / "project", tmp_path / "cwd"
    cwd.mkdir()
    reference = project / "refs" / "style.png"
    reference.parent.mkdir(parents=True)
    Image.new("RGB", (40, 30), (250, 200, 0)).save(reference)
    secret = tmp_path / "secret.png"
    Image.new("RGB", (40, 30), (0, 0, 0)).save(secret)

    def everything() -> set[Path]:
        return {p for p in tmp_path.rglob("*") if p.is_file()} | {p for p in home.rglob("*") if p.is_file()}

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=project.as_uri(), name="project")])  # pyright: ignore[reportArgumentType]

    before = everything()
    server = StdioServerParameters(command=COMMAND, args=["--offline"], env=_env(), cwd=cwd)
    with anyio.fail_after(60):
        async with Client(server, mode="legacy", list_roots_callback=roots) as mcp, httpx2.AsyncClient() as http:
            refused = [
                await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "../../escape"}),
                await mcp.call_tool("generate_image", {"positivePrompt": "x", "styleReferenceImages": [str(secret)]}),
            ]
            result = await mcp.call_tool(
                "generate_image",
                {
                    "positivePrompt": '"HI" on a wall',
                    "numberResults": 2,
                    "fileName": "wall",
                    "styleReferenceImages": [str(reference)],
                },
            )
            assert not result.is_error, text(result)
            made = cast(dict[str, Any], result.structured_content)["images"]
            served = [(await http.get(image["imageURL"])).content for image in made]
    assert all(r.is_error for r in refused)
    folder = (project / "ideogram-output").resolve()
    written = {folder / n for n in ("wall-1.jpg", "wall-1.json", "wall-2.jpg", "wall-2.json")}
    assert everything() - before == written
    assert [(folder / f"wall-{n}.jpg").read_bytes() for n in (1, 2)] == served
    previews = [b for b in result.content if isinstance(b, types.ImageContent)]
    assert len(previews) == 2
    for block in previews:
        assert len(block.data) <= 48 * 1024
        with Image.open(io.BytesIO(base64.b64decode(block.data))) as picture:
            assert max(picture.size) <= 512


async def test_a_name_the_locales_file_names_cannot_hold_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    # Started where the locale is not UTF-8, the server names its files in ASCII (or Latin-1): "ポスター" had been
    # sent, charged, and never saved, each get_generation failing alike; such an outputDir had been an internal error
    # (found by audit).
    ascii_only = _env(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    server = StdioServerParameters(command=COMMAND, args=["--offline"], env=ascii_only, cwd=tmp_path)
    with anyio.fail_after(60):
        async with Client(server) as mcp:
            named = await mcp.call_tool("generate_image", {"positivePrompt": "a poster", "fileName": "ポスター"})
            placed = await mcp.call_tool("generate_image", {"positivePrompt": "a poster", "outputDir": "日本"})
            plain = await mcp.call_tool("generate_image", {"positivePrompt": "a poster", "fileName": "poster"})
            listed = await mcp.call_tool("list_generations", {})
    assert named.is_error
    assert "fileName: must be a file name this machine can write: its file names are in ascii, which has no 'ポ'" in (
        text(named)
    )
    assert placed.is_error
    assert (
        "outputDir: must be a folder path this machine can write: its file names are in ascii, which has no '日'"
        in text(placed)
    )
    assert not plain.is_error, text(plain)
    assert len(cast(dict[str, Any], listed.structured_content)["generations"]) == 1, "only the plain one was sent"
    assert sorted(p.name for p in tmp_path.rglob("*.jpg")) == ["poster.jpg"]


async def test_a_folder_no_result_could_name_is_passed_over_and_never_ends_the_server(
    tmp_path: Path, home: Path
) -> None:
    # Started in a folder named by Latin-1 bytes (caf\xe9), the server had saved the paid image there, then died
    # writing a result no JSON can carry, and the path, kept in the journal, ended every later server at
    # list_generations; in the C locale, a root named "projé" had made every call an internal error (found by review).
    latin = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    os.mkdir(latin)
    accented = tmp_path / "projé"
    accented.mkdir()

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=accented.as_uri(), name="project")])  # pyright: ignore[reportArgumentType]

    ascii_only = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    said: list[str] = []
    for env, cwd, offered in ((_env(HOME=str(home)), latin, None), (_env(**ascii_only), tmp_path, roots)):
        server = StdioServerParameters(command=COMMAND, args=["--offline"], env=env, cwd=cwd)
        with anyio.fail_after(60):
            async with Client(server, mode="legacy", list_roots_callback=offered) as mcp:
                made = await mcp.call_tool("generate_image", {"positivePrompt": "a poster", "fileName": "poster"})
                listed = await mcp.call_tool("list_generations", {})
        assert not made.is_error, text(made)
        assert not listed.is_error
        said += [image["path"] for image in cast(dict[str, Any], made.structured_content)["images"]]
    assert Path(said[0]).is_relative_to(home), "the per-user folder, as where no project is"
    assert Path(said[1]).is_relative_to(tmp_path / "ideogram-output"), "the project the server started in"
    assert not list(Path(latin).iterdir())
    assert not list(accented.iterdir())


async def test_over_stdio_each_editing_tool_sends_its_models_task(tmp_path: Path, output: Path) -> None:
    emulator = Emulator(api_key="sk-stdio-family")
    source = output / "source.png"
    source.parent.mkdir(parents=True)
    Image.new("RGB", (512, 384), (200, 60, 20)).save(source)
    calls = {
        "remix_image": {"image": "source.png", "positivePrompt": "as a woodcut", "remixStrength": 30},
        "edit_image": {
            "image": "source.png",
            "positivePrompt": '"OPEN"',
            "region": {"x": 0, "y": 0, "width": 1, "height": 0.5},
        },
        "reframe_image": {"image": "source.png", "aspectRatio": "9:16"},
        "replace_background": {"image": "source.png", "positivePrompt": "a beach at dusk"},
    }
    with anyio.fail_after(60):
        async with emulator.served() as url:
            env = _env(RUNWARE_BASE_URL=url, RUNWARE_API_KEY="sk-stdio-family", IDEOGRAM_MCP_OUTPUT_DIR=str(output))
            async with Client(StdioServerParameters(command=COMMAND, args=[], env=env)) as mcp:
                results = {tool: await mcp.call_tool(tool, arguments) for tool, arguments in calls.items()}
    for tool, result in results.items():
        assert not result.is_error, (tool, text(result))
    upload, *tasks = emulator.submitted
    assert upload["taskType"] == "imageUpload"
    shapes = {t["model"]: (sorted(t["inputs"]), "positivePrompt" in t, "width" in t) for t in tasks}
    assert shapes == {
        "ideogram:4@2": (["referenceImages"], True, True),
        "ideogram:4@3": (["maskImage", "seedImage"], True, False),
        "ideogram:4@4": (["seedImage"], False, True),
        "ideogram:4@5": (["seedImage"], True, False),
    }
    assert emulator.charged == pytest.approx(0.24)


def test_the_demo_leaves_real_image_files(tmp_path: Path) -> None:
    out = tmp_path / "images"
    done = subprocess.run(
        [COMMAND, "demo", "--offline", "--output-dir", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    pictures: dict[str, tuple[tuple[int, int], str | None]] = {}
    for path in sorted(out.iterdir()):
        if path.suffix != ".json":
            with Image.open(path) as picture:
                pictures[path.name] = (picture.size, picture.format)
    assert sorted(p.name for p in out.glob("*.json")) == [
        "demo-bakery-1.json",
        "demo-bakery-2.json",
        "demo-poster.json",
    ]
    assert pictures == {
        "demo-poster.png": ((832, 1248), "PNG"),
        "demo-bakery-1.jpg": ((1312, 736), "JPEG"),
        "demo-bakery-2.jpg": ((1312, 736), "JPEG"),
    }
    assert f"-> {out / 'demo-poster.png'}" in done.stdout
    assert "previews in the result: 341x512 JPEG" in done.stdout
    assert "total cost $0.18" in done.stdout
    assert "cost: emulated; nothing is charged (on Runware these 3 images would cost $0.18)" in done.stdout.splitlines()
    assert "refused before any request" in done.stdout


_OPENING = [
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
    '"capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}',
    '{"jsonrpc":"2.0","method":"notifications/initialized"}',
]


def _offline(stderr: int) -> subprocess.Popen[str]:
    """An offline server over pipes, as a client spawns it (a byte that is not UTF-8 written as its escape)."""
    return subprocess.Popen(
        [COMMAND, "--offline"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=_env(),
        encoding="utf-8",
        errors="surrogateescape",  # a test writes a byte that is not UTF-8 as its escape, "\udcc9"
    )


def _answered(lines: list[str], before: str = "") -> list[Any]:
    """The answers an offline server writes, one a line, to the initialize and then to each of ``lines`` (a byte that
    is not UTF-8 written as its ``surrogateescape``, ``"\udcc9"`` for 0xC9); to a request ``before`` the handshake
    first, when given."""
    with _offline(stderr=subprocess.DEVNULL) as server:
        assert server.stdin is not None
        assert server.stdout is not None
        watchdog = threading.Timer(30, server.kill)  # a line dropped unanswered would leave readline waiting
        watchdog.start()
        try:
            # As a client does, the lines go once the handshake is answered: a line refused as it is read is
            # answered at once, and would otherwise come before the SDK's answer to initialize.
            server.stdin.write("\n".join([*([before] if before else []), _OPENING[0]]) + "\n")
            server.stdin.flush()
            opened = [json.loads(server.stdout.readline() or "null") for _ in range(bool(before) + 1)]
            server.stdin.write("\n".join([*_OPENING[1:], *lines]) + "\n")
            server.stdin.flush()
            return [*opened, *(json.loads(server.stdout.readline() or "null") for _ in lines)]
        finally:
            watchdog.cancel()
            server.kill()


def test_a_number_too_long_for_python_is_answered_as_an_argument_error_not_dropped() -> None:
    huge = "9" * 4301
    answers = _answered(
        [
            '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"generate_image",'
            f'"arguments":{{"positivePrompt":"a sign","numberResults":{huge}}}}}}}'
        ]
    )
    assert answers[1] is not None, "no answer: the line was dropped"
    result = answers[1]["result"]
    assert (answers[1]["id"], result["isError"]) == (2, True)
    assert result["content"][0]["text"].startswith(
        "Nothing was generated and nothing was charged. Fix these arguments:"
    )
    assert (
        '- numberResults: must be a whole number from 1 to 20; got "99999999999999999999999999999999999999999999…'
        in (result["content"][0]["text"])
    )


def test_text_with_half_a_surrogate_pair_is_answered_with_where_it_is_not_dropped() -> None:
    def call(n: int, prompt: str) -> str:
        return (
            f'{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"generate_image",'
            f'"arguments":{{"positivePrompt":"{prompt}","dryRun":true}}}}}}'
        )

    # JSON's \ud800 is valid JSON but no valid Unicode: the SDK's reader drops such a line without a word.
    answers = _answered([call(2, "a \\ud800 sign"), call(3, "a \\ud83d\\ude00 sign"), call(4, "a \\udc80 sign")])
    by_id = {answer["id"]: answer for answer in answers[1:]}  # a refusal may come before a call's result
    assert by_id[2] == {
        "jsonrpc": "2.0",
        "id": 2,
        "error": {
            "code": -32700,
            "message": "The request's text at params.arguments.positivePrompt holds half of a UTF-16 surrogate pair "
            "alone, which is no valid Unicode, so it was not read: send the character whole (both halves of its \\u "
            "escape pair) or leave it out.",
        },
    }
    assert by_id[4]["error"]["message"].startswith(
        "The request's text at params.arguments.positivePrompt holds half of a UTF-16 surrogate pair alone"
    ), "an escape of a low half, not a byte that is not UTF-8"
    assert 3 in by_id, "a pair of halves is one character, read as such"
    assert by_id[3]["result"]["structuredContent"]["task"]["positivePrompt"] == "a \N{GRINNING FACE} sign"


def test_a_request_whose_bytes_are_not_utf8_is_refused_not_run_with_the_text_altered() -> None:
    # Latin-1's É in a prompt: a reader replacing it would have sent "CAF\ufffd" to be rendered, and charged for it.
    call = (
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"generate_image",'
        '"arguments":{"positivePrompt":"a shop sign reading \\"CAF\udcc9\\""}}}'
    )
    notice = '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9,"reason":"gone \udcc9"}}'
    answers = _answered([call, notice + "\n" + '{"jsonrpc":"2.0","id":3,"method":"ping"}'])
    assert answers[1] == {
        "jsonrpc": "2.0",
        "id": 2,
        "error": {
            "code": -32700,
            "message": "The request's text at params.arguments.positivePrompt is not UTF-8 (byte 0xC9), so it was not "
            "read and nothing was sent: send every text as UTF-8.",
        },
    }
    assert answers[2] == {"jsonrpc": "2.0", "id": 3, "result": {}}, "a notification so written is read as before"


def test_a_response_holding_half_a_surrogate_pair_is_not_answered_as_a_request_would_be() -> None:
    # A response (to a question the server put) has an id but no method: there is no request to refuse.
    for said in ("a \\ud800 sign", "a CAF\udcc9 sign"):
        response = f'{{"jsonrpc":"2.0","id":7,"result":{{"said":"{said}"}}}}'
        answers = _answered([response + "\n" + '{"jsonrpc":"2.0","id":3,"method":"ping"}'])
        assert answers[1] == {"jsonrpc": "2.0", "id": 3, "result": {}}, said


def test_a_line_that_is_no_json_rpc_request_is_answered_with_what_is_wrong_not_dropped() -> None:
    # The SDK drops each of these at DEBUG, and the client waits for its own timeout; over HTTP each is answered.
    cases = {
        '{"jsonrpc":"2.0","id":2,"method":"ping"': (None, -32700),
        '[{"jsonrpc":"2.0","id":3,"method":"ping"}]': (None, -32600),
        '{"jsonrpc":"2.0","id":"t1","method":"tools/call","params":["generate_image"]}': ("t1", -32600),
        '{"jsonrpc":"2.0","id":null,"method":"ping"}': (None, -32600),
        '{"jsonrpc":"2.0","id":4.5,"method":"ping"}': (None, -32600),
        '{"jsonrpc":"1.0","id":5,"method":"ping"}': (5, -32600),
        '{"jsonrpc":"2.0","id":6,"method":7}': (6, -32600),
        '{"jsonrpc":"2.0","id":7}': (7, -32600),
        "42": (None, -32600),
        # Valid JSON-RPC nested deeper than the SDK reads: it had been told "not a JSON-RPC request", or "not JSON".
        '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"x","arguments":{"a":'
        + "[" * 300
        + "]" * 300
        + "}}}": (9, -32600),
        '{"jsonrpc":"2.0","id":10,"method":"ping","params":{"a":' + "[" * 5000 + "]" * 5000 + "}}": (10, -32600),
        # With half a surrogate pair too: the look for it had ended the server (RecursionError, found by an audit).
        # Deeper than Python's reader goes, each is answered under its id (read from the top level): it was null.
        '{"jsonrpc":"2.0","id":11,"method":"ping","params":{"s":"\\ud800","a":'
        + "[" * 100_000
        + "]" * 100_000
        + "}}": (11, -32600),
        # With a number of more digits than Python reads too: the look for such numbers had ended the server.
        '{"jsonrpc":"2.0","id":12,"method":"ping","params":{"a":' + "[" * 100_000 + "1" * 4301 + "]" * 100_000 + "}}": (
            12,
            -32600,
        ),
    }
    quiet = '{"jsonrpc":"2.0","method":"notifications/cancelled","params":"soon"}'  # nothing to answer
    answers = _answered([*cases, quiet + "\n" + '{"jsonrpc":"2.0","id":8,"method":"ping"}'])
    for (line, (ident, code)), answer in zip(cases.items(), answers[1:], strict=False):
        assert (answer["id"], answer["error"]["code"]) == (ident, code), line
        assert answer["error"]["message"].startswith(("Parse error: ", "Invalid request: ")), line
    assert answers[3]["error"]["message"] == "Invalid request: its params must be an object (or left out)."
    deep = "Invalid request: its values are nested deeper than 200 levels. Send flatter arguments."
    assert [answer["error"]["message"] for answer in answers[10:12]] == [deep, deep]
    assert [answer["error"]["message"] for answer in answers[12:14]] == [deep, deep]
    assert answers[-1] == {"jsonrpc": "2.0", "id": 8, "result": {}}, "the session serves on"


def test_params_the_sdk_cannot_read_and_a_request_before_the_handshake_are_refused_naming_the_fix() -> None:
    # The SDK's own answer to each was "-32602 Invalid request parameters" and nothing else.
    answers = _answered(
        [
            '{"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"poster","arguments":5}}',
            '{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{}}',
            '{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"poster","arguments":'
            '{"a":1,"b":2,"c":3,"d":4,"e":5}}}',
        ],
        before='{"jsonrpc":"2.0","id":0,"method":"tools/list"}',
    )
    early, _, arguments, uri, many = answers
    assert early["error"] == {
        "code": -32602,
        # Not "or speak 2026-07-28": this first request fixed the connection's era, and it then refused such requests.
        "message": "tools/list came before the handshake: send initialize, then notifications/initialized, first.",
    }
    assert arguments["error"] == {
        "code": -32602,
        "message": "Invalid params for prompts/get: params.arguments: Input should be a valid dictionary. Send them "
        "as the method's schema says.",
        "data": {"problems": [{"field": "params.arguments", "problem": "Input should be a valid dictionary"}]},
    }
    assert uri["error"]["message"].startswith("Invalid params for resources/read: params.uri: Field required.")
    assert len(many["error"]["data"]["problems"]) == 5  # three said, the rest counted
    assert many["error"]["message"].endswith("; and 2 more. Send them as the method's schema says.")


_SERVING = """
import anyio, os, socket, sys
from ideogram_mcp import stdio

async def main():
    with stdio.ends() as (stdin, stdout):
        print("written by the loop" if stdout is not None else "left to the SDK", file=sys.stderr, flush=True)
        print("stdin blocking:", os.get_blocking(0), file=sys.stderr, flush=True)
        print("a stray print", flush=True)
        os.write(1, b"a stray write\\n")
        print("a stray print left in the buffer")
        if stdout is not None:
            await stdout.write('{"jsonrpc": "2.0", "method": "a message"}\\n')
            await stdout.flush()
    print("after serving", flush=True)

anyio.run(main)
"""


def _serving(**streams: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in _env().items() if k != "PYTHONUNBUFFERED"}  # a print is kept in a buffer, as by default
    return subprocess.run([sys.executable, "-c", _SERVING], env=env, text=True, timeout=60, check=True, **streams)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="a pipe is reopened through Linux's /proc")
def test_on_a_pipe_messages_are_written_by_the_loop_and_stray_output_goes_to_stderr() -> None:
    ran = _serving(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert ran.stdout == '{"jsonrpc": "2.0", "method": "a message"}\nafter serving\n'  # descriptor 1 is back after
    assert ran.stderr.splitlines() == [
        "written by the loop",
        "stdin blocking: True",
        "a stray print",
        "a stray write",
        "a stray print left in the buffer",
    ]


def test_on_a_socket_that_is_also_stdin_messages_are_sent_without_making_stdin_non_blocking() -> None:
    ours, theirs = socket.socketpair()  # as inetd or socat hand a server its connection
    with ours, theirs:
        ran = _serving(stdin=theirs, stdout=theirs, stderr=subprocess.PIPE)
        theirs.close()
        ours.settimeout(30)
        received = b""
        while chunk := ours.recv(1 << 16):
            received += chunk
    assert received.decode() == '{"jsonrpc": "2.0", "method": "a message"}\nafter serving\n'
    assert ran.stderr.splitlines()[:2] == ["written by the loop", "stdin blocking: True"]


def test_a_stdout_shared_with_stderr_or_not_a_pipe_is_left_to_the_sdk(tmp_path: Path) -> None:
    shared = _serving(stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert shared.stdout.splitlines()[0] == "left to the SDK"
    with (tmp_path / "out.txt").open("w") as file:
        in_a_file = _serving(stdout=file, stderr=subprocess.PIPE)
    assert in_a_file.stderr.splitlines()[0] == "left to the SDK"


@contextlib.contextmanager
def _unread_pipe() -> Iterator[tuple[Stdout, threading.Event, bytearray]]:
    """Messages written from the loop onto a pipe that nobody reads until the event is set; what was read, once the
    block has ended."""
    readable, writable = os.pipe()
    os.set_blocking(writable, False)
    received = bytearray()
    reading = threading.Event()

    def read() -> None:
        reading.wait(30)
        while chunk := os.read(readable, 1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with os.fdopen(writable, "w", encoding="utf-8", closefd=False) as wire:
            yield Stdout(wire, lambda data: os.write(writable, data)), reading, received
    finally:
        reading.set()
        os.close(writable)
        reader.join(30)
        os.close(readable)


async def test_a_message_larger_than_the_pipe_holds_waits_for_room_without_holding_up_the_loop() -> None:
    message = "".join(f"{n:07d}," for n in range(1 << 17)) + "\n"  # 1 MiB: 16 times a Linux pipe's buffer
    written: list[int] = []
    with anyio.fail_after(30), _unread_pipe() as (stdout, reading, received):
        async with anyio.create_task_group() as group:

            async def write() -> None:
                written.append(await stdout.write(message))

            group.start_soon(write)
            await anyio.wait_all_tasks_blocked()  # the pipe is full and nobody reads: the write waits, not the loop
            assert written == []
            reading.set()
    assert written == [len(message)]
    assert received.decode() == message


async def test_a_message_written_while_another_waits_for_room_goes_whole_after_it() -> None:
    # The server's own answers (to a line the SDK would drop) and the SDK's share the wire: never interleaved.
    first = "".join(f"{n:07d}," for n in range(1 << 17)) + "\n"  # 1 MiB: it waits for room part-way
    second = '{"jsonrpc": "2.0", "id": 2, "error": {}}\n'
    with anyio.fail_after(30), _unread_pipe() as (stdout, reading, received):
        async with anyio.create_task_group() as group:
            group.start_soon(stdout.write, first)
            await anyio.wait_all_tasks_blocked()  # the pipe is full: the first waits part-way
            group.start_soon(stdout.write, second)
            await anyio.wait_all_tasks_blocked()
            reading.set()
    assert received.decode() == first + second


async def test_after_a_message_cut_off_part_way_nothing_more_is_written_onto_the_wire() -> None:
    big = "x" * (1 << 20) + "\n"  # more than the pipe holds: its writer waits part-way, and is cancelled there
    with _unread_pipe() as (stdout, _, _):
        with anyio.move_on_after(0.2):
            await stdout.write(big)
        with anyio.fail_after(5), pytest.raises(anyio.BrokenResourceError, match="cut off part-way"):
            await stdout.write('{"jsonrpc": "2.0", "id": 2, "result": {}}\n')


async def test_a_message_cancelled_before_any_of_it_went_out_leaves_the_wire_to_the_next() -> None:
    # Nothing of it is on the wire: the next message is whole there, and is written.
    full = "x" * ((1 << 16) - 1) + "\n"  # a Linux pipe's whole buffer: the next message finds no room at all
    after = '{"jsonrpc": "2.0", "id": 3, "result": {}}\n'
    with anyio.fail_after(30), _unread_pipe() as (stdout, reading, received):
        await stdout.write(full)
        with anyio.move_on_after(0.2):
            await stdout.write('{"jsonrpc": "2.0", "id": 2, "result": {}}\n')
        reading.set()
        await stdout.write(after)
    assert received.decode() == full + after


def test_a_client_that_stops_reading_ends_the_server_as_one_that_stops_writing_does() -> None:
    # Its end of stdout closed, stdin still open: the next message out met EPIPE, and the server died with status 1
    # and a traceback of exception groups, where a closed stdin ends it with status 0.
    with _offline(stderr=subprocess.PIPE) as server:
        assert server.stdin is not None
        assert server.stdout is not None
        server.stdout.close()  # nothing reads what the server writes from now on; stdin stays open
        server.stdin.write("\n".join(_OPENING) + "\n")
        server.stdin.flush()
        try:
            status = server.wait(timeout=30)
        finally:
            server.kill()
        assert server.stderr is not None
        said = server.stderr.read()
    assert status == 0, said
    assert "the client stopped reading this server's output; stopping" in said
    assert "Traceback" not in said


async def test_lines_read_on_the_loop_are_the_lines_a_text_file_reads() -> None:
    # Cut where a reader of chunks could go wrong: a \r\n split, a character's UTF-8 bytes split, nothing to read for a
    # while, a byte that is not UTF-8, and a last line without its end.
    pieces = [b'{"a":1}\r', b'\n{"b":"caf\xc3', b'\xa9"}\r\n{"c":', None, b'"\xc9"}\n\n', b'{"d":"', b'4"}']
    waited: list[int] = []
    readable, writable = os.pipe()
    os.write(writable, b"x")  # readable from the start: the waits end at once

    def receive(size: int) -> bytes:
        if not pieces:
            return b""
        if (piece := pieces.pop(0)) is None:
            waited.append(len(pieces))
            raise BlockingIOError
        return piece[:size]

    try:
        read = [line async for line in _from_loop(_End(readable, receive, lambda data: len(data)))]
    finally:
        os.close(readable)
        os.close(writable)
    whole = b'{"a":1}\r\n{"b":"caf\xc3\xa9"}\r\n{"c":"\xc9"}\n\n{"d":"4"}'
    as_a_file = io.TextIOWrapper(io.BytesIO(whole), encoding="utf-8", errors="surrogateescape").readlines()
    assert read == as_a_file == ['{"a":1}\n', '{"b":"café"}\n', '{"c":"\udcc9"}\n', "\n", '{"d":"4"}']
    assert waited == [3], "nothing to read: it waited for more, not took it for the end"


_READING = """
import anyio, sys
from ideogram_mcp import stdio

async def main():
    with stdio.ends() as (stdin, stdout):
        print("switch interval while serving:", round(sys.getswitchinterval() * 1e6), "us", file=sys.stderr, flush=True)
        async for line in stdin:
            print(repr(line), file=sys.stderr, flush=True)
    print("switch interval after:", round(sys.getswitchinterval() * 1e6), "us", file=sys.stderr, flush=True)

anyio.run(main)
"""


@pytest.mark.parametrize("kind", ["pipe", "socket", "file"])
def test_requests_are_read_whole_from_a_pipe_a_socket_or_a_file(kind: str, tmp_path: Path) -> None:
    lines = [b'{"jsonrpc":"2.0","method":"n","params":{"t":"caf\xc3\xa9"}}\n', b'{"jsonrpc":"2.0","method":"m"}\n']
    command = [sys.executable, "-c", _READING]
    if kind == "file":
        (tmp_path / "in").write_bytes(b"".join(lines))
        with (tmp_path / "in").open("rb") as stdin:
            ran = subprocess.run(command, stdin=stdin, capture_output=True, env=_env(), timeout=60, check=True)
        said = ran.stderr.decode()
    else:
        ours, theirs = socket.socketpair() if kind == "socket" else (None, None)
        server = subprocess.Popen(
            command,
            stdin=theirs.fileno() if theirs is not None else subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_env(),
        )
        try:
            for line in lines:  # each in two writes, the second after the server has waited for it
                for part in (line[:30], line[30:]):
                    if ours is not None:
                        ours.sendall(part)
                    else:
                        assert server.stdin is not None
                        server.stdin.write(part)
                        server.stdin.flush()
                    time.sleep(0.05)
            if ours is not None:
                ours.shutdown(socket.SHUT_WR)
            _, err = server.communicate(timeout=60)  # a pipe closed by it: the end of input
        finally:
            server.kill()
            if ours is not None and theirs is not None:
                ours.close()
                theirs.close()
        said = err.decode()
    interval = 50 if kind != "file" else 5000  # read on the loop, or by a thread
    assert said.splitlines() == [
        f"switch interval while serving: {interval} us",
        repr('{"jsonrpc":"2.0","method":"n","params":{"t":"café"}}\n'),
        repr('{"jsonrpc":"2.0","method":"m"}\n'),
        "switch interval after: 5000 us",
    ]


def test_on_windows_stdin_is_read_by_the_thread_even_from_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows' pipes read as FIFOs and its os has no O_NONBLOCK: the server had failed to start on every client there.
    readable, writable = os.pipe()
    saved = os.dup(0)
    try:
        os.dup2(readable, 0)
        monkeypatch.delattr(os, "O_NONBLOCK")
        monkeypatch.setattr(sys, "platform", "win32")
        with _own_end(0) as source:
            assert source is None
    finally:
        os.dup2(saved, 0)
        for fd in (saved, readable, writable):
            os.close(fd)
