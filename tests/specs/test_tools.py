"""The tools' own arguments as data (``specs/tools.toml``), checked against the code that answers them."""

from __future__ import annotations

from ideogram_mcp.journal import STATES
from ideogram_mcp.specs import load_tool_specs
from ideogram_mcp.specs.tools import OPTIONS


def test_list_generations_offers_exactly_the_states_the_journal_keeps() -> None:
    state = load_tool_specs()["list_generations"].parameters["state"]
    assert state.values is not None
    assert tuple(state.values) == STATES


def test_every_tool_argument_is_described_for_the_agent() -> None:
    for tool in load_tool_specs().values():
        for name, parameter in tool.parameters.items():
            assert parameter.description.strip(), f"{tool.name}.{name} has no description"


def test_the_image_tools_share_one_set_of_options() -> None:
    options = load_tool_specs()[OPTIONS].parameters
    assert {"dryRun", "fileName", "outputDir", "preview", "approvedCost"} <= options.keys()
