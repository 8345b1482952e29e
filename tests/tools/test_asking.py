"""What a call asks the client on the 2026-07-28 protocol, in its own round trip: the user's yes to a spend, and the
client's roots; the state that carries the round is sealed, bound to the call, and good for one task only."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext, ListRootsFnT
from mcp.shared.exceptions import MCPError

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings

from ..conftest import error_of, picture, structured, text

pytestmark = pytest.mark.anyio

LARGE = {"positivePrompt": 'A banner reading "SALE"', "numberResults": 10}
YES = types.ElicitResult(action="accept", content={"confirm": True})


async def _accept(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    """A user who says yes to every question."""
    return YES


def server(make_settings: Callable[..., Settings], emulator: Emulator, **changes: Any) -> Any:
    return _built(make_settings(**changes), emulator)


def _built(settings: Settings, emulator: Emulator) -> Any:
    """A server with these settings (several may share them: one journal, one folder) on the emulator."""
    return build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock)


def _project_roots(tmp_path: Path) -> tuple[Path, list[int], ListRootsFnT]:
    """A project folder made under ``tmp_path``, the answers a client gave to roots/list (one entry each), and that
    client's answer: the project."""
    project = tmp_path / "project"
    project.mkdir()
    asked: list[int] = []

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        asked.append(1)
        return types.ListRootsResult(roots=[types.Root(uri=project.as_uri())])  # pyright: ignore[reportArgumentType]

    return project, asked, roots


@pytest.mark.parametrize("budget", [None, 0.6], ids=["no budget", "a budget the task uses up"])
async def test_an_accepted_question_sends_the_task_once_under_the_uuid_the_question_carried(
    budget: float | None, make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    # With the day's budget used up by the task itself, the round sent again was told "over budget, nothing was
    # sent", never the task it had paid for.
    limits = {} if budget is None else {"daily_budget": budget}
    async with Client(server(make_settings, emulator, **limits), elicitation_callback=_accept) as mcp:
        asked = await mcp.session.call_tool("generate_image", LARGE, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        assert list(asked.input_requests or {}) == ["confirmSpend"]
        assert emulator.requests == [], "nothing is sent while the question is open"
        answers: dict[str, types.InputResponse] = {"confirmSpend": YES}
        state = asked.request_state
        first = await mcp.session.call_tool("generate_image", LARGE, input_responses=answers, request_state=state)
        replayed = await mcp.session.call_tool("generate_image", LARGE, input_responses=answers, request_state=state)
    made = structured(first)
    assert len(made["images"]) == 10
    assert error_of(replayed) == {"kind": "sent_before", "taskUUID": made["taskUUID"]}
    assert f'Call get_generation with taskUUID "{made["taskUUID"]}"' in text(replayed)
    assert [task["taskUUID"] for task in emulator.submitted] == [made["taskUUID"]]


async def test_a_state_forged_or_made_for_other_arguments_is_refused(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async with Client(server(make_settings, emulator), elicitation_callback=_accept) as mcp:
        asked = await mcp.session.call_tool("generate_image", LARGE, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        answers: dict[str, types.InputResponse] = {"confirmSpend": YES}
        forged = '{"v":1,"taskUUID":"0b9a3c5e-8f1d-4b2a-9c3e-5d7f1a2b3c4d","quote":0.6}'
        refused = [
            await mcp.session.call_tool("generate_image", arguments, input_responses=answers, request_state=state)
            for arguments, state in ((LARGE, forged), ({**LARGE, "numberResults": 11}, asked.request_state))
        ]
    assert [error_of(result)["kind"] for result in refused] == ["question_expired"] * 2
    assert "or by another server process, so nothing was sent or charged. Call again: what needs asking" in text(
        refused[0]
    )
    assert emulator.requests == []


@pytest.mark.parametrize("keys", ["own", "made by each command", "shared"])
async def test_a_question_answered_to_another_process_is_refused_naming_the_setting_where_keys_are_not_shared(
    keys: str, make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    # Two HTTP processes serving one address, as uvicorn --workers runs them (or two machines, each run by
    # ideogram-mcp http, which makes keys for its own workers: there the hint had never shown): the yes may reach
    # either.
    made = iter(["a-key-the-first-command-made-for-its-workers-0123", "a-key-the-second-command-made-for-its-own-0123"])

    def worker() -> Any:
        match keys:
            case "own":
                settings = make_settings(state_keys=())
            case "made by each command":
                settings = make_settings(state_keys=(next(made),), state_keys_made=True)
            case _:
                settings = make_settings(state_keys=("a-key-every-process-serving-one-address-shares-0123",))
        return build_server(settings, transport=httpx2.ASGITransport(emulator.app()), clock=emulator.clock, shared=True)

    async with (
        Client(worker(), elicitation_callback=_accept) as asking,
        Client(worker(), elicitation_callback=_accept) as answering,
    ):
        asked = await asking.session.call_tool("generate_image", LARGE, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult), asked
        answers: dict[str, types.InputResponse] = {"confirmSpend": YES}
        answered = await answering.session.call_tool(
            "generate_image", LARGE, input_responses=answers, request_state=asked.request_state
        )
    if keys == "shared":  # the same keys: the other process takes the yes
        assert len(structured(answered)["images"]) == 10
        return
    assert error_of(answered)["kind"] == "question_expired"
    assert text(answered).endswith(
        "If it keeps happening, the question was put by another process or machine serving this address: have the "
        "server's operator give every one the same IDEOGRAM_MCP_STATE_KEYS (ideogram-mcp http does so for its own "
        "workers only)."
    )
    assert emulator.requests == []


async def test_answers_without_the_state_are_not_taken_for_the_users(
    make_settings: Callable[..., Settings], emulator: Emulator
) -> None:
    async with Client(server(make_settings, emulator), elicitation_callback=_accept) as mcp:
        again = await mcp.session.call_tool(
            "generate_image", LARGE, input_responses={"confirmSpend": YES}, allow_input_required=True
        )
    assert isinstance(again, types.InputRequiredResult), "the question is asked, not skipped"
    assert emulator.requests == []


async def test_a_client_with_roots_is_asked_for_them_once_and_images_land_in_the_first(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    project, asked, roots = _project_roots(tmp_path)

    mcp_server = server(make_settings, emulator)
    async with Client(mcp_server, list_roots_callback=roots, elicitation_callback=_accept) as mcp:
        assert mcp.session.protocol_version == "2026-07-28"
        small = structured(await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "one"}))
        large = structured(await mcp.call_tool("generate_image", LARGE | {"fileName": "many"}))
        listed = await mcp.list_resources()
    assert asked == [1], "asked once, then remembered for the connection"
    assert Path(small["images"][0]["path"]) == (project / "ideogram-output" / "one.jpg").resolve()
    assert {Path(image["path"]).parent for image in large["images"]} == {(project / "ideogram-output").resolve()}
    assert len(listed.resources) == 11


async def test_over_http_the_spend_is_asked_in_the_calls_rounds_and_roots_never_are(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # One process for many clients keeps nothing of a connection: roots learnt in one call's round would choose a
    # folder the client's next requests (resources, get_generation) could not know. The client's callbacks only
    # declare what it can answer; the test answers each round itself. No folder is set: the server's project's.
    project = tmp_path / "project"
    project.mkdir()
    output = project / "ideogram-output"
    mcp_server = build_server(
        make_settings(),
        transport=httpx2.ASGITransport(emulator.app()),
        project=project,
        shared=True,
        clock=emulator.clock,
    )

    async def no_roots(context: ClientRequestContext) -> types.ListRootsResult:
        raise AssertionError("answered by the test")

    async def no_answer(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        raise AssertionError("answered by the test")

    async with Client(mcp_server, list_roots_callback=no_roots, elicitation_callback=no_answer) as mcp:
        first = await mcp.session.call_tool("generate_image", LARGE, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        assert list(first.input_requests or {}) == ["confirmSpend"], "roots are not asked for"
        done = await mcp.session.call_tool(
            "generate_image", LARGE, input_responses={"confirmSpend": YES}, request_state=first.request_state
        )
        made = structured(done)["images"]
        listed = await mcp.list_resources()
        fetched = structured(await mcp.call_tool("get_generation", {"taskUUID": structured(done)["taskUUID"]}))
    assert sorted(image["path"] for image in made) == sorted(p.name for p in output.glob("*.jpg"))
    assert len(made) == 10, "shown relative to the server's folder: over HTTP no server path is told"
    assert len([r for r in listed.resources if r.uri.startswith("ideogram://images/")]) == 10, "readable as made"
    assert [image["path"] for image in fetched["images"]] == [image["path"] for image in made]
    assert len(emulator.submitted) == 1


async def test_an_approved_round_sent_again_after_its_file_moved_is_told_its_task_went(
    make_settings: Callable[..., Settings], emulator: Emulator, output: Path
) -> None:
    # A client retrying a lost answer: the round's file was read again first, and its absence was all it heard.
    picture(output / "shop.png", (640, 480))
    asked_for = {"image": "shop.png", "positivePrompt": "as a woodcut", "numberResults": 10}

    async with Client(server(make_settings, emulator, output_dir=output), elicitation_callback=_accept) as mcp:
        asked = await mcp.session.call_tool("remix_image", asked_for, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        answers: dict[str, types.InputResponse] = {"confirmSpend": YES}
        state = asked.request_state
        first = await mcp.session.call_tool("remix_image", asked_for, input_responses=answers, request_state=state)
        (output / "shop.png").unlink()
        replayed = await mcp.session.call_tool("remix_image", asked_for, input_responses=answers, request_state=state)
    assert error_of(replayed) == {"kind": "sent_before", "taskUUID": structured(first)["taskUUID"]}


async def test_a_new_connection_learns_its_roots_at_its_first_fetch_or_read_not_only_at_an_image_tool(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # A session whose first request was get_generation or resources/read was never asked for its
    # roots: the server's own folder was taken, and its links read "No image saved by this server".
    project, asked, roots = _project_roots(tmp_path)

    settings = make_settings()
    made = _built(settings, emulator)
    async with Client(made, list_roots_callback=roots) as mcp:
        saved = structured(await mcp.call_tool("generate_image", {"positivePrompt": "x", "fileName": "one"}))
    task, (image,) = saved["taskUUID"], saved["images"]
    link = (project / "ideogram-output" / "one.jpg").resolve().as_uri()
    fetched, read = {}, None
    for first in ("get_generation", "resources/read"):
        again = _built(settings, emulator)
        async with Client(again, list_roots_callback=roots) as mcp:
            assert mcp.session.protocol_version == "2026-07-28"
            if first == "get_generation":
                fetched = structured(await mcp.call_tool("get_generation", {"taskUUID": task}))
            else:
                read = await mcp.read_resource(link)
    assert asked == [1, 1, 1], "each new connection asked once"
    assert fetched["images"][0]["path"] == image["path"]
    assert read is not None
    assert isinstance(read.contents[0], types.BlobResourceContents)
    assert base64.b64decode(read.contents[0].blob) == Path(image["path"]).read_bytes()


async def test_a_link_resources_list_gave_before_the_roots_were_known_is_read_and_an_unknown_task_asks_nothing(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    # resources/list cannot ask for roots, so it gave the folder known without them (~/Pictures here); reading one of
    # its links asked for the roots first and then looked only under them: "No image saved by this server".
    _, asked, roots = _project_roots(tmp_path)

    settings = make_settings()
    made = _built(settings, emulator)
    async with Client(made) as mcp:  # a client with no roots: the image goes to ~/Pictures/ideogram-mcp
        saved = structured(await mcp.call_tool("generate_image", {"positivePrompt": "x"}))["images"][0]
    again = _built(settings, emulator)
    async with Client(again, list_roots_callback=roots) as mcp:
        (listed,) = (await mcp.list_resources()).resources
        (template,) = (await mcp.list_resource_templates()).resource_templates
        read = await mcp.read_resource(listed.uri)
        unknown = await mcp.call_tool("get_generation", {"taskUUID": "0b9a3c5e-8f1d-4b2a-9c3e-5d7f1a2b3c4d"})
        unasked = list(asked)
        await mcp.call_tool("generate_image", {"positivePrompt": "y"})  # the roots are asked for, and kept
        read_later = await mcp.read_resource(listed.uri)  # had been refused once the roots were known
        # So was a completion of the template given then: "No resource template of this server is ..." (an audit).
        named = types.ResourceTemplateReference(uri=template.uri_template)
        completed = await mcp.complete(named, {"name": "fileName", "value": ""})
        Path(saved["path"]).write_bytes(b"no longer a picture")
        with pytest.raises(MCPError) as damaged:  # said so, not "No image saved by this server"
            await mcp.read_resource(listed.uri)
    assert str(listed.uri) == Path(saved["path"]).as_uri()
    assert completed.completion.values == [Path(saved["path"]).name], "the images of the folder it names"
    assert isinstance(read.contents[0], types.BlobResourceContents)
    assert isinstance(read_later.contents[0], types.BlobResourceContents)
    assert unasked == [], "found without asking; and a task this server never had needs no roots to be refused"
    assert asked == [1]
    assert error_of(unknown)["kind"] == "unknown_task"
    assert damaged.value.error.message.endswith("is no longer a PNG, JPEG or WEBP image.")


async def test_a_yes_brought_to_a_round_that_asked_only_for_the_roots_is_not_taken_for_the_users(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    project, _, roots = _project_roots(tmp_path)

    async with Client(server(make_settings, emulator), list_roots_callback=roots, elicitation_callback=_accept) as mcp:
        first = await mcp.session.call_tool("generate_image", LARGE, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        assert list(first.input_requests or {}) == ["roots"]
        answers: dict[str, types.InputResponse] = {
            "roots": types.ListRootsResult(roots=[types.Root(uri=project.as_uri())]),  # pyright: ignore[reportArgumentType]
            "confirmSpend": YES,  # never asked: the user said nothing
        }
        second = await mcp.session.call_tool(
            "generate_image", LARGE, input_responses=answers, request_state=first.request_state,
            allow_input_required=True,
        )  # fmt: skip
    assert isinstance(second, types.InputRequiredResult), "the spend is asked of the user, not skipped"
    assert list(second.input_requests or {}) == ["confirmSpend"]
    assert emulator.requests == []


async def test_roots_brought_without_the_state_are_not_taken_for_the_clients_answer(
    make_settings: Callable[..., Settings], emulator: Emulator, tmp_path: Path
) -> None:
    _, _, roots = _project_roots(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    unasked: dict[str, types.InputResponse] = {
        "roots": types.ListRootsResult(roots=[types.Root(uri=elsewhere.as_uri())])  # pyright: ignore[reportArgumentType]
    }
    async with Client(server(make_settings, emulator), list_roots_callback=roots) as mcp:
        first = await mcp.session.call_tool(
            "generate_image", {"positivePrompt": "x"}, input_responses=unasked, allow_input_required=True
        )
    assert isinstance(first, types.InputRequiredResult), "the roots are asked for, not taken unasked"
    assert list(first.input_requests or {}) == ["roots"]
    assert emulator.requests == []
