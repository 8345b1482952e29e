"""The specs: one data file per model, and one for the tools that are no model's; the loaders that check them."""

from ideogram_mcp.specs.parameter import JSONValue, Parameter, ParameterType, Violation, has_visible
from ideogram_mcp.specs.spec import ModelInfo, ModelSpec, load_spec, load_specs, models_of, prompt_of
from ideogram_mcp.specs.tools import ToolSpec, load_tool_specs

__all__ = [
    "JSONValue",
    "ModelInfo",
    "ModelSpec",
    "Parameter",
    "ParameterType",
    "ToolSpec",
    "Violation",
    "has_visible",
    "load_spec",
    "load_specs",
    "load_tool_specs",
    "models_of",
    "prompt_of",
]
