"""Protocol refusals said with the field and the fix: the paths an agent is told, and which of a union's kinds."""

from __future__ import annotations

import mcp_types as types
import pytest
from pydantic import ValidationError

from ideogram_mcp import refusals
from ideogram_mcp.refusals import _closest, _field  # pyright: ignore[reportPrivateUsage]


def test_a_field_is_named_as_a_path_an_agent_can_follow() -> None:
    assert _field(("params", "arguments")) == "params.arguments"
    assert _field(("params", "items", 2, "uri")) == "params.items[2].uri"
    assert _field(("params", "_meta", "io.modelcontextprotocol/clientCapabilities", "elicitation")) == (
        'params._meta["io.modelcontextprotocol/clientCapabilities"].elicitation'
    )
    assert _field(("params", "confirmSpend", "ElicitResult", "action")) == "params.confirmSpend.action"
    assert _field(()) == "params"
    assert _field(("params", "arguments", "Style")) == "params.arguments.Style", "a key an agent chose, kept"


def test_keys_an_agent_chose_are_never_taken_for_kinds_and_none_of_their_errors_is_dropped() -> None:
    with pytest.raises(ValidationError) as refused:
        types.GetPromptRequestParams.model_validate({"name": "poster", "arguments": {"Style": 5, "Mood": 6}})
    closest = _closest(refused.value.errors(include_url=False, include_input=False))
    assert sorted(_field(e["loc"]) for e in closest) == ["arguments.Mood", "arguments.Style"]


def test_an_answer_that_could_be_of_several_kinds_is_told_what_is_wrong_with_the_kind_it_came_closest_to() -> None:
    # An answer to the spend question, read as a sampling result, a roots list or an elicitation answer: "yes" is
    # an elicitation answer's action gone wrong, not a sampling result missing twenty fields.
    with pytest.raises(ValidationError) as refused:
        types.CallToolRequestParams.model_validate(
            {"name": "generate_image", "inputResponses": {"confirmSpend": {"action": "yes"}}}
        )
    closest = _closest(refused.value.errors(include_url=False, include_input=False))
    assert [(_field(e["loc"]), e["type"]) for e in closest] == [("inputResponses.confirmSpend.action", "literal_error")]


@pytest.mark.parametrize(
    ("answer", "first"),
    [
        ({}, ("inputResponses.confirmSpend.action", "missing")),
        (
            {"action": "accept", "content": {"confirm": [1]}},
            ("inputResponses.confirmSpend.content.confirm.str", "string_type"),
        ),
        (True, ("inputResponses.confirmSpend", "model_type")),
    ],
)
def test_an_answer_to_the_spend_question_is_told_as_an_elicitation_answer_whatever_it_came_closest_to(
    answer: object, first: tuple[str, str]
) -> None:
    # {} had been told it lacked a roots list ("confirmSpend.roots: Field required"), True that it was no sampling
    # result: a client's developer sent looking for a bug in the wrong answer.
    with pytest.raises(ValidationError) as refused:
        types.CallToolRequestParams.model_validate(
            {"name": "generate_image", "inputResponses": {"confirmSpend": answer}}
        )
    closest = _closest(refused.value.errors(include_url=False, include_input=False))
    assert [e["loc"][2] for e in closest] == ["ElicitResult"] * len(closest)
    assert (_field(closest[0]["loc"]), closest[0]["type"]) == first


def test_several_answers_are_each_told_as_the_kind_their_question_asked_for() -> None:
    # Both malformed, the kind had been chosen once for all: the spend question's answer was told it lacked a roots
    # list again. An answer to a question never asked is judged by itself.
    with pytest.raises(ValidationError) as refused:
        types.CallToolRequestParams.model_validate(
            {"name": "generate_image", "inputResponses": {"confirmSpend": {}, "roots": {}, "other": {"roots": 5}}}
        )
    closest = _closest(refused.value.errors(include_url=False, include_input=False))
    assert {(e["loc"][1], e["loc"][2]) for e in closest} == {
        ("confirmSpend", "ElicitResult"),
        ("roots", "ListRootsResult"),
        ("other", "ListRootsResult"),
    }
    assert [(_field(e["loc"]), e["type"]) for e in closest][:2] == [
        ("inputResponses.confirmSpend.action", "missing"),
        ("inputResponses.roots.roots", "missing"),
    ]


def test_a_request_nested_deeper_than_any_reader_goes_is_refused_under_its_own_id() -> None:
    # Python's reader stops at about 1,000 levels: the id had been null, and the client waited for its own timeout.
    deep = "[" * 3000 + "]" * 3000
    said = "Invalid request: its values are nested deeper than 200 levels. Send flatter arguments."
    cases = {
        # The id after the deep params, in strings holding brackets and a key named "id" inside them.
        f'{{"jsonrpc":"2.0","method":"ping","params":{{"id":"[{{","a":{deep}}}, "id" : "t-9"}}': "t-9",
        f'{{"id":4,"jsonrpc":"2.0","method":"ping","params":{{"s":"\\"]}}","a":{deep}}}}}': 4,
        f'{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"a":{deep}}},"id":2}}': 1,  # the first said
        f'{{"jsonrpc":"2.0","\\u0069d":7,"method":"ping","params":{{"a":{deep}}}}}': 7,  # a key JSON reads as "id"
        f'{{"jsonrpc":"2.0","method":"ping","params":{{"id":5,"a":{deep}}}}}': None,  # only params have one
        f'{{"jsonrpc":"2.0","id":true,"method":"ping","params":{{"a":{deep}}}}}': None,  # no id a request takes
        f'{{"jsonrpc":"2.0","id":{deep},"method":"ping"}}': None,
    }
    for text, ident in cases.items():
        assert refusals.unfit(text) == (ident, -32600, said), text[:80]
    # A string never closed, full of escaped quotes: each had begun a new search to the end (seconds at 80 KB).
    broken = '{"jsonrpc":"2.0","method":"ping","params":{"a":' + "[" * 1500 + '"' + '\\"' * 40_000
    assert refusals._top_id(broken) is None  # pyright: ignore[reportPrivateUsage]
    assert refusals._top_id(broken.replace('"method"', '"id":3,"method"')) == 3  # pyright: ignore[reportPrivateUsage]
    late = '{"jsonrpc":"2.0","method":"ping","params":{"a":' + deep + ', "s": "' + "x" * refusals.SCANNED + '"},"id":4}'
    assert refusals.unfit(late) == (None, -32600, said), "an id past the first 64 KB is not looked for"
    # One whose key is within them is read whole: it had been cut at their end, and answered under another id.
    padded = '{"jsonrpc":"2.0","method":"ping","s":"' + "x" * (refusals.SCANNED - 46) + '","id":123456789,'
    assert padded.index("123456789") < refusals.SCANNED < padded.index("123456789") + 9
    assert refusals.unfit(padded + '"params":{"a":' + deep + "}}") == (123456789, -32600, said)
