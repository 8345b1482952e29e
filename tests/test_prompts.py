"""The prompt templates, as prompts/list and prompts/get serve them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from ideogram_mcp import prompts
from ideogram_mcp.prompts import PromptArgumentSpec, PromptTemplate

from .conftest import picture

pytestmark = pytest.mark.anyio


async def test_prompts_are_listed_with_their_arguments(mcp: Client) -> None:
    prompts = {p.name: p for p in (await mcp.list_prompts()).prompts}
    assert set(prompts) == {"poster", "poster-layout", "logo", "storefront-signage", "fix-text", "social-variants"}
    poster = prompts["poster"]
    assert {(a.name, a.required) for a in poster.arguments or []} >= {("headline", True), ("mood", False)}
    assert all(p.title and p.description for p in prompts.values())


async def test_a_prompt_renders_its_arguments_and_defaults(mcp: Client) -> None:
    got = await mcp.get_prompt("poster", {"headline": "JAZZ NIGHT", "subject": "a trio in a small club"})
    (message,) = got.messages
    assert message.role == "user"
    assert message.content.type == "text"
    body = message.content.text
    assert '"JAZZ NIGHT"' in body
    assert "a trio in a small club" in body
    assert 'aspectRatio "2:3"' in body
    assert "$" not in body


async def test_a_missing_required_argument_is_named(mcp: Client) -> None:
    arguments = "headline, subject, tagline (optional), mood (optional), aspect_ratio (optional)"
    for given, says in (
        ({"headline": "X"}, "it needs subject, which was not given"),
        (
            {"headline": "\u200b ", "subject": "a trio", "colour": "red"},
            "it needs headline, which was not given; it takes no colour",
        ),
        (
            {"headline": "X", "subject": "y"} | {f"x{n}": "z" for n in range(7)},
            "it takes no x0, x1, x2, x3, x4 and 2 more",
        ),
        ({"headline": "X", "subject": "y", "": "z"}, 'it takes no ""'),  # it had said "it takes no ."
        ({"headline": "X", "subject": "y", " ": "z"}, 'it takes no " "'),
        (  # one past the five named is counted too, never left out
            {"headline": "X", "subject": "y"} | {f"x{n}": "z" for n in range(6)},
            "it takes no x0, x1, x2, x3, x4 and 1 more",
        ),
    ):
        with pytest.raises(MCPError) as refused:
            await mcp.get_prompt("poster", given)
        assert refused.value.error.message == f"The prompt 'poster' cannot be made: {says}. Its arguments: {arguments}."
    with pytest.raises(MCPError, match="Unknown prompt 'flyer'"):
        await mcp.get_prompt("flyer", {})


def test_a_template_with_an_undeclared_placeholder_does_not_load() -> None:
    with pytest.raises(ValueError, match="undeclared placeholders"):
        PromptTemplate(name="x", title="x", description="x", template="Hello $who")


def test_a_template_with_a_dollar_that_begins_no_placeholder_does_not_load() -> None:
    # It loaded, and each prompts/get of it failed, told as the client's fault (-32602).
    with pytest.raises(ValueError, match=r"prompt x: a \$ that begins no placeholder \(write \$\$"):
        PromptTemplate(name="x", title="x", description="x", template="Each image costs $0.06.")
    assert PromptTemplate(name="x", title="x", description="x", template="It costs $$0.06.").render({}) == (
        "It costs $0.06."
    )


def test_a_template_whose_optional_argument_has_no_default_does_not_load() -> None:
    with pytest.raises(ValueError, match="prompt x: optional argument who needs a default"):
        PromptTemplate(
            name="x",
            title="x",
            description="x",
            template="Hello $who",
            arguments=(PromptArgumentSpec(name="who", description="whom to greet"),),
        )


def test_a_package_without_its_prompt_templates_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "README.md").write_text("the templates are missing\n")
    monkeypatch.setattr(prompts, "_folder", lambda: tmp_path)
    prompts.load_prompts.cache_clear()
    try:
        with pytest.raises(RuntimeError) as refused:
            prompts.load_prompts()
    finally:
        prompts.load_prompts.cache_clear()
    assert str(refused.value) == "no prompt templates found; the package is incomplete"


@pytest.mark.parametrize(
    ("name", "arguments", "calls"),
    [
        ("fix-text", {"image": "menu.png", "correct_text": "SOUP OF THE DAY"}, ["edit_image", "region"]),
        ("social-variants", {"image": "sale.png", "name": "spring-sale"}, ["reframe_image", '"9:16"', "spring-sale"]),
    ],
)
async def test_the_editing_prompts_lead_to_the_editing_tools(
    name: str, arguments: dict[str, str], calls: list[str], mcp: Client
) -> None:
    (message,) = (await mcp.get_prompt(name, arguments)).messages
    assert message.content.type == "text"
    body = message.content.text
    assert all(word in body for word in calls)
    assert all(value in body for value in arguments.values())
    tools = {t.name for t in (await mcp.list_tools()).tools}
    assert calls[0] in tools
    assert "$" not in body


async def test_the_fix_text_prompts_region_example_is_what_the_published_schema_and_the_tool_take(
    mcp: Client, output: Path
) -> None:
    # Its example was one rectangle: taken by the tool, refused by the schema a strict host checks (found by review).
    import jsonschema

    (message,) = (await mcp.get_prompt("fix-text", {"image": "sign.png", "correct_text": "OPEN"})).messages
    assert message.content.type == "text"
    example = json.loads(re.search(r"e\.g\. (\[\{.*?\}\])", message.content.text, re.DOTALL)[1])  # pyright: ignore[reportOptionalSubscript]
    picture(output / "sign.png", (256, 256))
    arguments = {"image": "sign.png", "positivePrompt": 'a sign reading "OPEN"', "region": example, "dryRun": True}
    schema = {t.name: t.input_schema for t in (await mcp.list_tools()).tools}["edit_image"]
    jsonschema.validate(arguments, schema)
    taken = await mcp.call_tool("edit_image", arguments)
    assert not taken.is_error, taken.content


async def test_the_layout_prompt_leads_to_a_structured_prompt_that_ideogram_4_takes(mcp: Client) -> None:
    arguments = {"subject": "a gig", "texts": "NIGHT SIGNALS, huge, top half; FRI 12 DEC, small, bottom left"}
    (message,) = (await mcp.get_prompt("poster-layout", arguments)).messages
    assert message.content.type == "text"
    body = message.content.text
    assert all(value in body for value in arguments.values())
    assert all(word in body for word in ('model "ideogram-4.0"', "structuredPrompt", "bbox", 'aspectRatio "2:3"'))
    assert "$" not in body
    example = {
        "model": "ideogram-4.0",
        "aspectRatio": "2:3",
        "dryRun": True,
        "structuredPrompt": {
            "high_level_description": "A gig poster.",
            "compositional_deconstruction": {
                "background": "near-black paper",
                "elements": [
                    {"type": "text", "text": "NIGHT SIGNALS", "desc": "huge capitals", "bbox": [60, 80, 420, 920]}
                ],
            },
        },
    }
    followed = await mcp.call_tool("generate_image", example)  # the shape the prompt describes, as the tool takes it
    assert not followed.is_error, followed.content


async def test_an_optional_argument_of_invisible_characters_takes_its_default(mcp: Client) -> None:
    made = await mcp.get_prompt("poster", {"headline": "X", "subject": "y", "mood": "\u200b"})
    default = await mcp.get_prompt("poster", {"headline": "X", "subject": "y"})
    assert made.messages == default.messages


async def test_an_unknown_prompt_or_tool_name_is_named_short_however_long(mcp: Client) -> None:
    for ask in (lambda: mcp.get_prompt("p" * 1_000_000, {}), lambda: mcp.call_tool("t" * 1_000_000, {})):
        with pytest.raises(MCPError) as refused:
            await ask()
        assert len(refused.value.error.message) < 400


def test_every_model_a_template_suggests_ratios_of_is_one_the_server_has() -> None:
    from ideogram_mcp.specs import load_specs

    named = {a.model for t in prompts.load_prompts().values() for a in t.arguments if a.model is not None}
    assert named == {"ideogram:4@0"}
    assert named <= set(load_specs())
