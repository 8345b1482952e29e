"""The tools' own arguments as data (``tools.toml``): the options of every image tool, edit_image's region, the
journal and catalogue tools'. Each is a ``Parameter`` like a model's, so one parser checks every argument and one
builder publishes every schema."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any, cast

from ideogram_mcp.specs.parameter import Frozen, Parameter

OPTIONS = "options"
"""The name under which the image tools' shared options are held."""


class ToolSpec(Frozen):
    """The arguments of one tool (or the options every image tool shares) that are no model's parameters."""

    name: str
    parameters: dict[str, Parameter]


@functools.cache
def load_tool_specs() -> dict[str, ToolSpec]:
    """Every tool's own arguments by tool name, and the image tools' options under ``OPTIONS``."""
    text = resources.files("ideogram_mcp").joinpath("specs", "tools.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    source = str(data["source"])
    groups = {OPTIONS: cast(dict[str, Any], data[OPTIONS])} | cast(dict[str, dict[str, Any]], data["tools"])
    return {
        name: ToolSpec(
            name=name,
            parameters={
                key: Parameter.model_validate({"name": key, "wire": key, "source": source, **body})
                for key, body in cast(dict[str, dict[str, Any]], group).items()
            },
        )
        for name, group in groups.items()
    }
