"""Property-based: random argument sets to any tool, through the MCP client, never crash the server, never
get an unreadable error, and a refused call never sends anything to Runware, but for image UUIDs that only Runware
can look up (sent, refused there, nothing charged, and the result says so).

``HYPOTHESIS_EXAMPLES`` sets how many argument sets one run tries (CI runs the default below).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx2
import mcp_types as types
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.exceptions import MCPError
from pydantic import SecretStr

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import ERROR_META, build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.specs import load_specs

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "1000"))
MAX_ERROR_TEXT = 4 * 1024

SPECS = load_specs()
NAMES = sorted({
    *(p.name for spec in SPECS.values() for p in spec.parameters.values()),
    "aspectRatio", "fileName", "preview", "dryRun", "prompt", "negative_prompt", "num_images", "n", "size",
    "style", "seed", "aspect_ratio", "format", "quality", "webhook", "steps", "filename", "safety", "negative",
    "region", "taskUUID", "wait", "limit", "state", "ratio", "orientation", "outputDir", "approvedCost",
    "task_uuid", "taskId",
})  # fmt: skip
VALUES = {
    name: list(options) for spec in SPECS.values() for name, p in spec.parameters.items() if (options := p.values or {})
}
URL = "https://example.com/a.png"
# Each tool with a call it would take, so that one changed argument reaches the checks past the first.
TOOLS = {
    "generate_image": {"positivePrompt": "a sign"},
    "remix_image": {"image": URL, "positivePrompt": "a sign"},
    "edit_image": {"image": URL, "mask": URL, "positivePrompt": "a sign"},
    "reframe_image": {"image": URL, "aspectRatio": "16:9"},
    "replace_background": {"image": URL, "positivePrompt": "a beach"},
    "get_generation": {"taskUUID": "6f1c1b9e-2b7a-4c3e-9a57-0d1e2f3a4b5c", "wait": 0},
    "list_generations": {},
    "list_sizes": {},
    "list_style_presets": {},
}

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**5000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "1024", "16:9", "1:" + "9" * 400, "http://[", "https://x/a.png", "data:image/png;base64,",
            "../../etc/passwd", "/etc/passwd", "~/x.png", "file:///etc/shadow", "WATERCOLOR",
            "6f1c1b9e-2b7a-4c3e-9a57-0d1e2f3a4b5c",
            "art deco", "jpeg", " ", "\u200b", "\x00", "NaN", "1e309", "-1", "0", "x" * 3000,
        ]
    )
)  # fmt: skip
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
arguments = st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=12), values, max_size=7)
with_a_prompt = st.builds(lambda a, p: {"positivePrompt": p, **a}, arguments, st.text(min_size=1, max_size=60))
tools = st.sampled_from(sorted(TOOLS))
calls = st.one_of(
    st.tuples(tools, arguments | with_a_prompt),
    # Mostly valid calls with one thing changed, so that the checks past the first problem run too.
    st.builds(
        lambda tool, name, value: (tool, {**TOOLS[tool], name: value}),
        tools,
        st.sampled_from(NAMES),
        values | st.sampled_from([v for options in VALUES.values() for v in options]),
    ),
)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BlockingPortal, Client, Emulator]]:
    """One MCP session, on an event loop of its own, shared by every example."""
    emulator = Emulator(api_key="sk-property")
    folder = tmp_path_factory.mktemp("properties")
    config = Settings(
        runware_api_key=SecretStr("sk-property"),
        runware_base_url="http://runware.test/v1",
        output_dir=folder / "out",
        data_dir=folder / "data",
        save=False,
        preview=False,
        daily_budget=0,  # thousands of calls: no budget, so that the checks past it run for every one
    )
    with start_blocking_portal() as portal:
        client = Client(build_server(config, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock))
        with portal.wrap_async_context_manager(client) as mcp:
            yield portal, mcp, emulator


def _check(session: tuple[BlockingPortal, Client, Emulator], given_arguments: dict[str, Any], tool: str) -> None:
    portal, mcp, emulator = session
    before, charged = len(_paid(emulator)), len(emulator.ledger)
    result: types.CallToolResult = portal.call(mcp.call_tool, tool, given_arguments)  # MCPError fails
    shown = "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))
    assert len(shown.encode()) <= MAX_ERROR_TEXT or not result.is_error, shown[:300]
    if result.is_error:
        details = (result.meta or {})[ERROR_META]
        kind = details["kind"]
        assert kind != "internal", shown
        assert len(json.dumps(result.meta).encode()) <= 2 * MAX_ERROR_TEXT
        if kind == "runware_error" and _only_runware_could_judge(details):  # sent, refused there, free
            assert details["mayHaveBeenCharged"] is False, shown[:300]
            assert len(emulator.ledger) == charged, f"charged: {shown[:300]}"
        else:  # refused, by the server or by Runware for what the server should have caught: nothing went out
            assert len(_paid(emulator)) == before, f"a refused call sent a task: {shown[:300]}"
    else:
        assert len(_paid(emulator)) in (before, before + 1)


def _only_runware_could_judge(details: dict[str, Any]) -> bool:
    """Whether Runware refused the task only for image UUIDs it does not hold: an image an agent names by its UUID
    can only be looked up there (no call to Runware says so for free), so such a task goes out."""
    errors = details.get("errors") or []
    return bool(errors) and all(str(error.get("message", "")).startswith("Unknown image UUID") for error in errors)


def _paid(emulator: Emulator) -> list[dict[str, Any]]:
    """The tasks that cost money (uploads are free, and an edit with a region may store its image first)."""
    return [task for task in emulator.submitted if task.get("taskType") != "imageUpload"]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=calls)
# Found by the search: an image UUID Runware does not hold goes out, and Runware refuses it, charging nothing.
@example(call=("generate_image", {"positivePrompt": "x", "styleReferenceImages": ["00000000000000000000000000000000"]}))
def test_random_arguments_to_any_tool_never_crash_never_flood_and_a_refused_call_sends_nothing(
    session: tuple[BlockingPortal, Client, Emulator], call: tuple[str, dict[str, Any]]
) -> None:
    tool, given_arguments = call
    _check(session, given_arguments, tool)


def test_the_known_crashers_are_argument_errors(session: tuple[BlockingPortal, Client, Emulator]) -> None:
    for crasher in (
        {"positivePrompt": "x", "styleReferenceImages": ["http://["]},
        {"positivePrompt": "x", "numberResults": "9" * 4301},
        {"positivePrompt": "x", "width": 10**400, "height": 1024},
        {"positivePrompt": "x", "aspectRatio": "1:" + "9" * 5000},
        {f"unknown{n}": n for n in range(3000)},
    ):
        _check(session, crasher, "generate_image")
    for tool, crasher in (  # found by fuzzing the other tools
        ("reframe_image", {"image": URL, "aspectRatio": "16:9", "prompt": "a beach"}),
        ("edit_image", {"image": URL, "mask": URL, "positivePrompt": "x", "negative": "blur"}),
        ("get_generation", {"taskUUID": "x", "k" * 200_000: 1}),
        ("list_sizes", {"ratio": 10**5000}),
        ("list_sizes", {"orientation": 10**5000}),
    ):
        _check(session, crasher, tool)


@settings(max_examples=EXAMPLES // 4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    uri=st.one_of(
        st.text(max_size=80),
        st.builds(lambda tail: "file://" + tail, st.text(max_size=60)),
        st.builds(lambda tail: "ideogram://images/" + tail, st.text(max_size=60)),
        st.sampled_from(["file:///etc/passwd", "file://host/x.png", "ideogram://images/..%2F..%2Fx", "file:///a%00b"]),
    )
)
def test_any_resource_uri_is_read_or_refused_never_a_crash(
    session: tuple[BlockingPortal, Client, Emulator], uri: str
) -> None:
    portal, mcp, _ = session
    code: int | None = None
    try:
        portal.call(mcp.read_resource, uri)
    except MCPError as exc:
        code = exc.error.code
    assert code != types.INTERNAL_ERROR, uri
