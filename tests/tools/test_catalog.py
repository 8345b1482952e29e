"""list_sizes and list_style_presets: the whole answers, and filters that read a ratio by its value."""

from __future__ import annotations

from typing import Any, cast

import mcp_types as types
import pytest
from mcp import Client

from ideogram_mcp.specs import load_spec

from ..conftest import error_of, text

pytestmark = pytest.mark.anyio

SIXTEEN_NINE = ["1280x704~", "1312x736", "1344x768~", "1216x704~"]


def _sizes(result: types.CallToolResult) -> list[str]:
    out = cast(dict[str, Any], result.structured_content)
    return [f"{s['width']}x{s['height']}{'~' if s.get('approximate') else ''}" for s in out["sizes"]]


async def test_list_sizes_gives_each_listed_size_once_with_only_what_is_not_said_elsewhere(mcp: Client) -> None:
    result = await mcp.call_tool("list_sizes", {})
    out = cast(dict[str, Any], result.structured_content)
    assert out == {
        "sizes": [
            {"width": s.width, "height": s.height, "ratio": s.ratio} | ({} if s.exact else {"approximate": True})
            for s in load_spec().sizes
        ],
        "default": {"width": 1024, "height": 1024, "ratio": "1:1"},
    }
    assert len(out["sizes"]) == 69
    assert out["sizes"][:2] == [
        {"width": 1536, "height": 512, "ratio": "3:1"},
        {"width": 1536, "height": 576, "ratio": "21:9", "approximate": True},
    ]
    assert text(result).splitlines()[:2] == ["69 supported size(s) (~ marks approximate ratios):", "3:1: 1536x512"]


@pytest.mark.parametrize(
    ("arguments", "sizes"),
    [
        ({"ratio": "16:9"}, SIXTEEN_NINE),
        ({"ratio": "32:18"}, SIXTEEN_NINE),
        ({"ratio": "1.78"}, SIXTEEN_NINE),
        ({"ratio": "16x9"}, SIXTEEN_NINE),
        ({"ratio": "1.5"}, ["1248x832", "1216x832~", "1088x768~"]),
        ({"ratio": "8:5"}, ["1280x800", "1216x768~"]),
        ({"ratio": "7:3"}, ["1536x576~", "1472x576~", "1408x576~", "1536x640~", "1472x640~", "1408x640~"]),
        ({"orientation": "square"}, ["960x896~", "1024x960~", "1024x1024", "960x1024~", "896x960~"]),
        ({"orientation": "Portrait", "ratio": "9:16"}, ["704x1216~", "768x1344~", "736x1312", "704x1280~"]),
    ],
)
async def test_list_sizes_finds_a_ratio_by_its_value_however_it_is_written(
    arguments: dict[str, Any], sizes: list[str], mcp: Client
) -> None:
    assert _sizes(await mcp.call_tool("list_sizes", arguments)) == sizes


async def test_list_sizes_says_its_filter_in_a_few_lines(mcp: Client) -> None:
    result = await mcp.call_tool("list_sizes", {"ratio": "1.5"})
    assert text(result) == "3 supported size(s) (~ marks approximate ratios):\n3:2: 1248x832, 1216x832~, 1088x768~"


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (
            {"ratio": "7:4"},
            "No size is listed for ratio '7:4'. The closest listed ratio is 16:9 (1344x768). Listed ratios: 3:1, "
            "21:9, 2:1, 16:9, 5:3, 16:10, 3:2, 4:3, 5:4, 1:1, 4:5, 3:4, 2:3, 10:16, 3:5, 9:16, 1:2, 9:21, 1:3. "
            "generate_image also takes any aspectRatio and picks the closest size.",
        ),
        (
            {"ratio": "wide"},
            "No size is listed for ratio 'wide'. Listed ratios: 3:1, 21:9, 2:1, 16:9, 5:3, 16:10, 3:2, 4:3, 5:4, 1:1, "
            "4:5, 3:4, 2:3, 10:16, 3:5, 9:16, 1:2, 9:21, 1:3. "
            "generate_image also takes any aspectRatio and picks the closest size.",
        ),
        (
            {"orientation": "sideways"},
            'Fix these arguments:\n- orientation: "sideways" is not allowed. Allowed: landscape, portrait, square.',
        ),
        (
            {"shape": "wide"},
            "Fix these arguments:\n- shape: unknown argument. Known arguments: model, orientation, ratio.",
        ),
        ({"ratio": [16, 9]}, "Fix these arguments:\n- ratio: must be a ratio such as '16:9' or 1.5; got [16, 9]."),
        (
            {"ratio": "16:9", "orientation": " Portrait "},
            "No size is both 16:9 and portrait: the 16:9 sizes are landscape. Drop one of the filters.",
        ),
        (
            {"orientation": True},
            "Fix these arguments:\n- orientation: must be one of landscape, portrait, square; got true.",
        ),
        (
            {"ratio": 10**5000},
            "Fix these arguments:\n- ratio: must be a ratio such as '16:9' or 1.5; got a number too long to be one.",
        ),
    ],
)  # fmt: skip
async def test_list_sizes_explains_bad_filters(arguments: dict[str, Any], said: str, mcp: Client) -> None:
    result = await mcp.call_tool("list_sizes", arguments)
    assert error_of(result)["kind"] == "invalid_arguments"
    assert text(result) == said


async def test_list_style_presets_names_them_in_text_and_describes_them_once_in_structured_output(
    mcp: Client,
) -> None:
    result = await mcp.call_tool("list_style_presets", {})
    presets = load_spec().parameters["stylePreset"].values or {}
    assert len(presets) == 62
    assert result.structured_content == {
        "stylePresets": [{"name": k, "description": v} for k, v in presets.items()],
        "styleTypes": [
            {"name": k, "description": v} for k, v in (load_spec().parameters["styleType"].values or {}).items()
        ],
    }
    assert text(result) == (
        "styleType (the broad approach): AUTO, GENERAL, REALISTIC, DESIGN, RENDER_3D, ANIME, FICTION.\n"
        f"stylePreset (62): {', '.join(presets)}.\n"
        "What each looks like is in the structured output (stylePresets, styleTypes)."
    )
    refused = await mcp.call_tool("list_style_presets", {"filter": "x"})
    assert text(refused) == "Fix these arguments:\n- filter: unknown argument. Known arguments: model."


async def test_list_sizes_with_model_4_0_lists_its_21_sizes_at_2k_and_its_default(mcp: Client) -> None:
    result = await mcp.call_tool("list_sizes", {"model": "ideogram-4.0"})
    out = cast(dict[str, Any], result.structured_content)
    spec = load_spec("ideogram:4@0")
    assert out == {
        "sizes": [{"width": s.width, "height": s.height, "ratio": s.ratio} for s in spec.sizes],
        "default": {"width": 2048, "height": 2048, "ratio": "1:1"},
    }
    assert len(out["sizes"]) == 21
    assert {(s["width"], s["height"]) for s in out["sizes"]} >= {(2048, 2048), (1440, 2880), (3328, 1248)}
    assert text(result).splitlines()[:2] == ["21 supported size(s) of Ideogram 4.0 (~ marks approximate ratios):",
                                            "8:3: 3328x1248"]  # fmt: skip
    assert _sizes(await mcp.call_tool("list_sizes", {"model": "4.0", "ratio": "16:9"})) == ["2560x1440"]
    assert _sizes(await mcp.call_tool("list_sizes", {"model": "ideogram-3.0", "ratio": "16:9"})) == SIXTEEN_NINE


async def test_list_style_presets_says_that_4_0_has_none_and_which_model_has(mcp: Client) -> None:
    result = await mcp.call_tool("list_style_presets", {"model": "ideogram:4@0"})
    said = (
        "Ideogram 4.0 has no style presets or style types: describe the look in the prompt (or "
        "structuredPrompt.style_description). Ideogram 3.0 (model: ideogram-3.0) takes stylePreset and styleType."
    )
    assert text(result) == said
    # The lists are empty, so the words are the answer: a host that shows the model only the structured output
    # (Claude Code) shows them too.
    assert result.structured_content == {"stylePresets": [], "styleTypes": [], "message": said}


async def test_a_catalogue_call_naming_no_model_it_knows_is_refused_with_the_choices(mcp: Client) -> None:
    for tool in ("list_sizes", "list_style_presets"):
        refused = await mcp.call_tool(tool, {"model": "dall-e"})
        assert text(refused) == (
            'Fix these arguments:\n- model: "dall-e" is not a model this tool runs: give ideogram-3.0 or '
            "ideogram-4.0 (the default is ideogram-3.0)."
        )
