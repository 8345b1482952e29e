"""The server as a client meets it: the published tools, their schemas and annotations, both protocol eras,
unknown tools and a missing key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import httpx2
import pytest
from mcp import Client
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError

from ideogram_mcp import files
from ideogram_mcp.embedded import serving
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.specs import load_spec

from .conftest import API_KEY, ERROR_META, TOOL_NAMES, picture, text
from .conftest import structured as data

pytestmark = pytest.mark.anyio

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools_list.json"


async def test_the_published_tools_match_the_snapshot(mcp: Client) -> None:
    listed = await mcp.list_tools()
    published = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(published, indent=2, ensure_ascii=False) + "\n")
    assert published == json.loads(SNAPSHOT.read_text())


async def test_the_tools_list_answer_stays_under_23_kb(mcp: Client) -> None:
    # 22 KB until seven tools pointed at the gallery App (_meta.ui, 55 bytes each; 22,767 bytes in all).
    listed = await mcp.list_tools()
    assert len(listed.model_dump_json(by_alias=True, exclude_none=True).encode()) <= 23 * 1024
    assert len(listed.tools) == 10


async def test_a_strict_client_checking_the_published_schemas_lets_through_what_the_server_takes_and_no_more(
    mcp: Client, output: Path
) -> None:
    # JSON Schema's pattern matches anywhere in a value: "0123abCD0" passed the published styleCode and was refused;
    # a region's rectangles were published with any keys (found by audit).
    import jsonschema

    picture(output / "photo.png", (512, 512))
    schemas = {tool.name: tool.input_schema for tool in (await mcp.list_tools()).tools}
    square = {"x": 0, "y": 0, "width": 0.5, "height": 0.5}
    cases = [
        ("remix_image", {"image": ["photo.png"], "positivePrompt": "x", "styleCode": "0123abCD"}, True),
        ("remix_image", {"image": ["photo.png"], "positivePrompt": "x", "styleCode": "0123abCD0"}, False),
        ("edit_image", {"image": "photo.png", "positivePrompt": "x", "region": [square]}, True),
        ("edit_image", {"image": "photo.png", "positivePrompt": "x", "region": [square | {"z": 1}]}, False),
    ]
    for tool, arguments, taken in cases:
        published = jsonschema.Draft202012Validator(schemas[tool]).is_valid(arguments)
        answered = await mcp.call_tool(tool, arguments | {"dryRun": True})
        assert (published, not answered.is_error) == (taken, taken), (tool, arguments, text(answered))


async def test_a_list_sizes_filter_refused_names_its_argument_in_data_as_every_refusal_does(mcp: Client) -> None:
    # {"kind": "invalid_arguments"} alone, where every other refusal lists its problems (found by audit).
    refused = [
        await mcp.call_tool("list_sizes", {"ratio": "8:3"}),
        await mcp.call_tool("list_sizes", {"ratio": "16:9", "orientation": "portrait"}),
    ]
    problems = [result.meta[ERROR_META]["problems"] for result in refused if result.meta]
    assert [[p["argument"] for p in listed] for listed in problems] == [["ratio"], ["orientation"]]
    assert [listed[0]["message"] for listed in problems] == [text(result) for result in refused]


async def test_generate_image_schema_is_derived_from_the_spec(mcp: Client) -> None:
    spec, four = load_spec(), load_spec("ideogram:4@0")
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    schema = tools["generate_image"].input_schema
    props = schema["properties"]
    options = {"aspectRatio", "fileName", "outputDir", "preview", "dryRun", "approvedCost"}
    assert set(props) == {p.name for p in spec.exposed} | {p.name for p in four.exposed} | options | {"model"}
    assert not {"webhookURL", "uploadEndpoint"} & set(props)
    assert "enum" not in props["stylePreset"], "62 names are list_style_presets' to give, not every tools/list's"
    assert props["styleType"]["enum"] == list(spec.parameters["styleType"].values or {})
    number = props["numberResults"]
    assert (number["type"], number["minimum"], number["maximum"], number["default"]) == ("integer", 1, 20, 1)
    # One object for both models: each side as loose as the loosest model's sizes; the chosen model checks them.
    assert (props["width"]["minimum"], props["width"]["maximum"], props["width"]["multipleOf"]) == (512, 3328, 16)
    assert schema["required"] == [], "4.0 takes structuredPrompt instead of positivePrompt"
    assert not {"oneOf", "anyOf", "allOf"} & set(schema)
    assert (props["model"]["enum"], props["model"]["default"]) == (["ideogram-3.0", "ideogram-4.0"], "ideogram-3.0")
    assert list(props)[:3] == ["model", "positivePrompt", "structuredPrompt"]
    assert props["structuredPrompt"]["description"].startswith("4.0 only. ")
    assert props["structuredPrompt"]["required"] == ["high_level_description"]
    for name in ("negativePrompt", "seed", "styleType", "stylePreset", "styleReferenceImages"):
        assert props[name]["description"].startswith("3.0 only. "), name
    for name in ("positivePrompt", "renderingSpeed", "magicPrompt", "width", "numberResults", "outputFormat"):
        assert " only. " not in props[name]["description"], name
    assert not {"taskType", "taskUUID", "outputType", "deliveryMethod", "includeCost"} & set(props)


async def test_the_instructions_name_every_image_tool_and_the_prices_calls_are_quoted_at(mcp: Client) -> None:
    # They had said "Each image costs about $0.06" of the 3.0 family, whose QUALITY images are quoted $0.09, and had
    # named every image tool but remove_background.
    instructions = mcp.instructions or ""
    tools = [t.name for t in (await mcp.list_tools()).tools if not t.name.startswith(("get_", "list_"))]
    assert len(tools) == 6
    assert [tool for tool in tools if tool not in instructions] == []
    image = {"image": "https://example.com/a.png"}

    async def quote(tool: str, arguments: dict[str, Any]) -> str:
        return f"${data(await mcp.call_tool(tool, arguments | {'dryRun': True}))['quote']:.2f}"

    for model in ("ideogram-3.0", "ideogram-4.0"):
        by_speed = [
            await quote("generate_image", {"positivePrompt": "x", "model": model, "renderingSpeed": speed})
            for speed in ("TURBO", "DEFAULT", "QUALITY")
        ]
        assert f"{'/'.join(by_speed)} by renderingSpeed" in instructions
    assert f"remove_background cuts it out ({await quote('remove_background', image)})" in instructions
    # Claude Code cuts instructions and each tool's description at 2 KB (../shared/notes/mcp-clients.md).
    assert len(instructions.encode()) <= 2048
    assert max(len((t.description or "").encode()) for t in (await mcp.list_tools()).tools) <= 2048


async def test_clients_on_the_2025_11_25_handshake_get_the_same_service(
    settings: Settings, transport: httpx2.ASGITransport, emulator: Emulator
) -> None:
    async with Client(build_server(settings, transport=transport, clock=emulator.clock), mode="legacy") as legacy:
        assert [t.name for t in (await legacy.list_tools()).tools] == TOOL_NAMES
        result = await legacy.call_tool("generate_image", {"positivePrompt": "x", "aspectRatio": "3:2"})
    assert not result.is_error, text(result)
    assert data(result)["images"][0]["width"] == 1248
    assert len(emulator.submitted) == 1


async def test_tool_annotations_tell_clients_which_tools_cost_and_which_are_free(mcp: Client) -> None:
    tools = {t.name: t for t in (await mcp.list_tools()).tools}
    generate = tools["generate_image"].annotations
    assert generate
    assert generate.open_world_hint is True
    assert generate.idempotent_hint is False
    assert generate.read_only_hint is False
    for name in ("list_sizes", "list_style_presets"):
        hints = tools[name].annotations
        assert hints
        assert hints.read_only_hint
        assert hints.idempotent_hint
        assert hints.open_world_hint is False


async def test_an_unknown_tool_is_a_protocol_error_naming_the_tools(mcp: Client) -> None:
    with pytest.raises(MCPError, match="generate_image, remix_image, edit_image, reframe_image, replace_background"):
        await mcp.call_tool("make_picture", {})


async def test_without_a_key_tools_list_and_generate_explains_the_fix(
    emulator: Emulator, make_settings: Callable[..., Settings]
) -> None:
    server = build_server(
        make_settings(runware_api_key=None), transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock
    )
    async with Client(server) as mcp:
        assert len((await mcp.list_tools()).tools) == 10
        assert not (await mcp.call_tool("list_sizes", {})).is_error
        result = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    assert result.is_error
    assert "RUNWARE_API_KEY" in text(result)
    assert "--offline" in text(result)
    assert emulator.submitted == []


async def test_certificate_authorities_that_cannot_be_read_are_named_with_the_fix_and_nothing_is_sent(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_pem = tmp_path / "authorities.pem"
    not_pem.write_text("not a certificate")
    monkeypatch.setenv("SSL_CERT_FILE", str(not_pem))
    runware = Emulator(api_key=API_KEY)
    async with serving(runware.app(), path="/v1") as url:  # over loopback, as Runware is: TLS needed for https only,
        server = build_server(make_settings(runware_base_url=url, output_dir=tmp_path / "out"))  # but made for both
        async with Client(server) as mcp:
            result = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
            journal = await mcp.call_tool("list_generations", {})
    assert data(journal)["generations"] == []  # nothing recorded either
    assert result.is_error
    assert text(result).startswith(f"SSL_CERT_FILE names {not_pem}, which cannot be read as certificate authorities")
    assert "point it at a PEM file of them, or unset it" in text(result)
    assert (result.meta or {})[ERROR_META] == {"kind": "not_configured"}
    assert runware.requests == []


async def test_each_tools_input_schema_is_looked_up_as_tools_list_gives_it(mcp: Client) -> None:
    # Over HTTP the SDK checks a tools/call's Mcp-Param headers against this schema; without the lookup it ran the
    # whole tools/list for every call.
    server = build_server(Settings())
    lookup = server.get_tool_input_schema
    assert lookup is not None
    listed = (await mcp.list_tools()).tools
    assert {tool.name: lookup(tool.name) for tool in listed} == {tool.name: tool.input_schema for tool in listed}
    assert lookup("generate_images") is None


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_tools_list_is_made_once_for_each_protocol_version(mode: Literal["legacy", "auto"]) -> None:
    # Every client of an HTTP server lists the tools, many at once when they connect together: the answer is made
    # the first time (on each protocol version) and given again, the same, afterwards; one with a cursor goes the
    # SDK's way, and is refused there (the list comes whole).
    server = build_server(Settings())
    made: list[str | None] = []

    async def making(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/list":
            made.append((ctx.params or {}).get("cursor"))
        return await call_next(ctx)

    server.middleware.append(making)  # inside the server's own: sees what reaches the SDK's making of answers
    async with Client(server, mode=mode) as client:
        first = await client.list_tools(cache_mode="bypass")
        again = await client.list_tools(cache_mode="bypass")
        with pytest.raises(MCPError, match="This list comes whole"):
            await client.list_tools(cursor="next", cache_mode="bypass")
    assert again == first
    assert made == [None, "next"]


def test_only_a_listing_the_sdk_would_answer_is_answered_from_the_first() -> None:
    from ideogram_mcp.server import _plain_listing  # pyright: ignore[reportPrivateUsage]

    def request(params: dict[str, Any] | None, *, known: bool = True, version: str = "2025-11-25") -> Any:
        session = SimpleNamespace(client_params=object() if known else None, client_capabilities=None)
        return SimpleNamespace(session=session, params=params, protocol_version=version)

    assert _plain_listing(request(None))
    assert _plain_listing(request({"_meta": {"progressToken": 1}}))
    assert not _plain_listing(request(None, known=False))  # before its handshake: the SDK refuses it
    assert not _plain_listing(request({"cursor": "next"}))
    assert not _plain_listing(request({"_meta": "junk"}))  # invalid params: the SDK says so
    assert not _plain_listing(request(None, version="1999-01-01"))


def test_a_server_for_many_clients_loads_what_calls_use_before_it_serves() -> None:
    """Over HTTP the first calls of many clients come at once: the tools' machinery is loaded in the lifespan,
    before the first request, and not by a server for one client (stdio), whose start stays light."""
    script = (
        "import sys, anyio; from ideogram_mcp.server import build_server; from ideogram_mcp.settings import Settings\n"
        "async def main(shared):\n"
        "    server = build_server(Settings(), shared=shared)\n"
        "    async with server.lifespan(server):\n"
        "        print(sorted(m for m in ('PIL.Image', 'ideogram_mcp.tasks.life', 'ideogram_mcp.tools.running', "
        "'ideogram_mcp.journal.sqlite') if m in sys.modules))\n"
        "anyio.run(main, sys.argv[1] == 'shared')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
    for shared, expected in (
        (
            "shared",
            "['PIL.Image', 'ideogram_mcp.journal.sqlite', 'ideogram_mcp.tasks.life', 'ideogram_mcp.tools.running']",
        ),
        ("one", "[]"),
    ):
        loaded = subprocess.run([sys.executable, "-c", script, shared], capture_output=True, text=True, env=env)
        assert loaded.returncode == 0, loaded.stderr
        assert loaded.stdout.strip() == expected


def test_starting_the_server_leaves_what_only_some_commands_need_unloaded() -> None:
    """Cold start: Pillow, the emulator, the demo, the journal's SQLite and the retry library load when used."""
    script = (
        "import sys; from ideogram_mcp.server import build_server; from ideogram_mcp.settings import Settings; "
        "build_server(Settings()); "
        "print(sorted(m for m in ('PIL', 'ideogram_mcp.emulator', 'ideogram_mcp.demo', 'sqlite3', 'tenacity', "
        "'jwt', 'ideogram_mcp.http', 'ideogram_mcp.issuer') if m in sys.modules))"
    )
    # Without coverage's variables: measuring a process loads modules (sqlite3) the process itself does not.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert loaded.stdout.strip() == "[]"


async def test_a_tool_that_fails_unexpectedly_answers_with_an_error_and_the_log_says_why(
    mcp: Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in this server")

    monkeypatch.setattr(files, "read_all", broken)
    result = await mcp.call_tool("generate_image", {"positivePrompt": "x"})
    assert result.is_error
    assert text(result) == "The server hit an internal error; nothing more is known. Its log (stderr) has details."
    (logged,) = [r for r in caplog.records if r.name == "ideogram_mcp.server"]
    assert logged.getMessage() == "tool generate_image failed unexpectedly"
    assert logged.exc_info is not None
    assert str(logged.exc_info[1]) == "a bug in this server"
    assert emulator.requests == []


async def test_the_previews_default_is_not_promised_where_the_user_can_turn_it_off(
    make_settings: Callable[..., Settings], transport: httpx2.ASGITransport
) -> None:
    # "Default: on." with IDEOGRAM_MCP_PREVIEW=false: an agent had no reason to ask for the previews it never got.
    async with Client(build_server(make_settings(preview=False), transport=transport)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        said = [
            tools[name].input_schema["properties"]["preview"]["description"]
            for name in ("generate_image", "get_generation")
        ]
        result = await client.call_tool("generate_image", {"positivePrompt": "a sign", "numberResults": 1})
    assert all("unless the user turned" in description for description in said), said
    assert [content.type for content in result.content] == ["text", "resource_link"], "no preview, as it says it may"


@pytest.mark.parametrize("shared", [False, True])
def test_a_result_naming_half_a_surrogate_pair_is_sent_with_its_escape(
    shared: bool, make_settings: Callable[..., Settings]
) -> None:
    # A path the journal kept from a folder named in Latin-1 ("caf\udce9"): the SDK could not write the result, and
    # the stdio server ended (found by review). Escaped, the result is sent, the rest of it as it was.
    import mcp_types as types

    from ideogram_mcp.blanking import Blanking

    result = types.CallToolResult(
        content=[types.TextContent(type="text", text="Saved /srv/caf\udce9/poster.jpg (café).")],
        structured_content={"images": [{"path": "/srv/caf\udce9/poster.jpg", "seed": 7}]},
    )
    sent = Blanking(make_settings(), shared=shared)(result)
    assert json.loads(sent.model_dump_json(by_alias=True, exclude_unset=True)) == {
        "content": [{"type": "text", "text": "Saved /srv/caf\\udce9/poster.jpg (café)."}],
        "structuredContent": {"images": [{"path": "/srv/caf\\udce9/poster.jpg", "seed": 7}]},
    }
