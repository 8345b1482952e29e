"""An agent's names for arguments: plain spellings read as the names they mean, anything else named as unknown."""

from __future__ import annotations

from ideogram_mcp.arguments.names import aliases_for, canonical
from ideogram_mcp.arguments.problems import Problem

KNOWN = {"positivePrompt", "numberResults", "aspectRatio", "fileName", "taskUUID"}


def test_snake_case_lower_case_and_the_tables_aliases_name_the_known_arguments() -> None:
    aliases = aliases_for(KNOWN)
    assert aliases["positive_prompt"] == "positivePrompt"
    assert aliases["numberresults"] == "numberResults"
    assert aliases["prompt"] == "positivePrompt"
    assert aliases["n"] == "numberResults"
    assert aliases["ratio"] == "aspectRatio"
    assert aliases["task_id"] == "taskUUID"
    assert "limit" not in aliases.values()  # "n" means limit only where the tool takes one


def test_an_alias_names_the_first_of_its_meanings_the_tool_takes() -> None:
    assert aliases_for({"limit"})["n"] == "limit"
    assert aliases_for({"limit", "numberResults"})["n"] == "numberResults"


def test_arguments_are_read_by_their_own_names_and_null_means_not_given() -> None:
    named, problems = canonical({"prompt": "a cat", "N": 2, "file_name": None}, KNOWN)
    assert named == {"positivePrompt": "a cat", "numberResults": 2}
    assert problems == []


def test_a_name_given_twice_alike_is_one_and_with_two_values_a_problem() -> None:
    named, problems = canonical({"prompt": "a cat", "positivePrompt": "a cat"}, KNOWN)
    assert named == {"positivePrompt": "a cat"}
    assert problems == []
    _, problems = canonical({"prompt": "a cat", "positivePrompt": "a dog"}, KNOWN)
    assert problems == [
        Problem("positivePrompt", "given twice, as prompt and as positivePrompt, with different values.")
    ]


def test_an_unknown_name_is_a_problem_naming_the_closest_and_every_known_one() -> None:
    _, problems = canonical({"numResults": 2}, KNOWN)
    (problem,) = problems
    assert problem.argument == "numResults"
    assert "Did you mean numberResults?" in problem.message
    assert "Known arguments: aspectRatio, fileName, numberResults, positivePrompt, taskUUID." in problem.message


def test_a_tool_without_arguments_says_so() -> None:
    _, problems = canonical({"anything": 1}, set())
    assert problems[-1].message.endswith("This tool takes no arguments.")


def test_a_yes_is_never_read_as_dollars() -> None:
    # "approved" had been an alias of approvedCost, so approved: 1 (meaning yes) let a call of up to $1.00 through.
    named, problems = canonical({"approved": 1, "approved_cost": 0.6}, {"approvedCost"})
    assert named == {"approvedCost": 0.6}
    (problem,) = problems
    assert (problem.argument, "Did you mean approvedCost?" in problem.message) == ("approved", True)
