"""An agent's values read in the types the specs say: forgiving where the meaning is plain, refused with the rule
where it is not."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ideogram_mcp.arguments import show
from ideogram_mcp.arguments.values import boolean, coerce, dollars, number, whole
from ideogram_mcp.specs import Parameter, load_spec, load_tool_specs
from ideogram_mcp.specs.tools import OPTIONS

SPEC = load_spec()
OPTION = load_tool_specs()[OPTIONS].parameters


def parameter(name: str) -> Parameter:
    return SPEC.parameters[name]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(3, 3), (3.0, 3), ("3", 3), (" 12 ", 12), ("-2", -2), (3.5, 3.5), ("three", "three"), ("9" * 19, "9" * 19)],
)
def test_a_whole_number_however_it_came(raw: Any, expected: Any) -> None:
    assert whole(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [("10", 10.0), ("2.5", 2.5), (7, 7), ("1e3", "1e3"), ("-1", "-1")])
def test_a_number_however_it_came(raw: Any, expected: Any) -> None:
    assert number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("Yes", True), ("on", True), ("1", True), ("off", False), ("NO", False), ("maybe", "maybe")],
)
def test_a_boolean_however_it_came(raw: Any, expected: Any) -> None:
    assert boolean(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0.6, 0.6), ("0.6", 0.6), ("$0.60", 0.6), (" $ 1 ", 1.0), (".5", 0.5), (2, 2.0)],
)
def test_dollars_however_they_came(raw: Any, expected: float) -> None:
    assert dollars(raw) == pytest.approx(expected)


@pytest.mark.parametrize("raw", [-1, "-0.5", math.inf, math.nan, True, "six", None, 10**400])
def test_what_is_no_amount_of_dollars(raw: Any) -> None:
    assert dollars(raw) is None


def test_a_choice_is_matched_in_any_case_and_spacing() -> None:
    assert coerce(parameter("stylePreset"), "watercolor") == ("WATERCOLOR", None)
    assert coerce(parameter("renderingSpeed"), "quality") == ("QUALITY", None)


def test_a_choice_not_allowed_names_the_closest_and_the_allowed_ones() -> None:
    value, problem = coerce(parameter("renderingSpeed"), "QUALTY")
    assert value is None
    assert problem == '"QUALTY" is not allowed. Closest: QUALITY. Allowed: TURBO, DEFAULT, QUALITY.'


def test_a_choice_among_many_points_to_the_list_tool() -> None:
    _, problem = coerce(parameter("stylePreset"), "no such style")
    assert problem is not None
    assert problem.endswith("Call list_style_presets for all.")


def test_a_number_out_of_bounds_is_refused_with_the_rule_and_what_was_given() -> None:
    value, problem = coerce(parameter("numberResults"), "30")
    assert value is None
    assert problem == 'must be a whole number from 1 to 20; got "30".'


def test_a_prompt_is_trimmed() -> None:
    assert coerce(parameter("positivePrompt"), "  a cat \n") == ("a cat", None)


def test_one_image_where_a_list_is_expected_is_a_list_of_one() -> None:
    url = "https://example.com/a.png"
    assert coerce(parameter("styleReferenceImages"), url) == ([url], None)


def test_a_local_file_is_checked_as_the_image_uuid_it_will_be_sent_as() -> None:
    assert coerce(parameter("styleReferenceImages"), ["./style.png"]) == (["./style.png"], None)
    value, problem = coerce(parameter("styleReferenceImages"), ["./a.png"] * 5)
    assert value is None
    assert problem is not None


def test_the_options_read_their_own_formats() -> None:
    assert coerce(OPTION["approvedCost"], "$0.60") == (0.6, None)
    assert coerce(OPTION["outputDir"], "  posters ") == ("posters", None)
    value, problem = coerce(OPTION["approvedCost"], "lots")
    assert value is None
    assert problem == 'must be the dollars the user agreed to, a number such as 0.6; got "lots".'


def test_a_number_too_large_for_any_float_is_refused_not_a_crash() -> None:
    wait = load_tool_specs()["get_generation"].parameters["wait"]
    value, problem = coerce(wait, 10**400)
    assert value is None
    assert problem is not None
    assert problem.startswith("must be a number")


def test_minus_nothing_is_nothing_dollars() -> None:
    assert str(dollars(-0.0)) == "0.0", "never said as $-0.00"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (False, "false"),
        ([None], "[null]"),
        ("1024px", '"1024px"'),
        ({"a": 1}, '{"a": 1}'),
        ("café 日本", '"café 日本"'),
        ("a\u200bb\ud800", '"a\\u200bb\\ud800"'),  # unprintable, and half a surrogate pair: escaped
    ],
)
def test_what_was_sent_is_quoted_back_as_json_as_the_agent_wrote_it(value: object, shown: str) -> None:
    # Python's spelling had answered "got False", "got [None]", "got '1024px'" to agents that send JSON.
    assert show(value) == shown


def test_a_long_text_is_cut_and_counted_as_the_agent_counts_it() -> None:
    # A 101-character fileName had been said "(got 101)" and "(103 chars)", the quotes counted, in one message.
    assert show("a" * 101).endswith("… (101 chars)")
    assert show("\n" * 101).endswith("… (101 chars)")
    assert show(["a" * 101]).endswith("… (105 chars)"), "anything else as the JSON it was sent as"
