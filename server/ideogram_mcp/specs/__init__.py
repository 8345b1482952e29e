"""Model specs: one data file per model, and the loader that checks it."""

from ideogram_mcp.specs.spec import (
    JSONValue,
    ModelInfo,
    ModelSpec,
    Parameter,
    ParameterType,
    Violation,
    has_visible,
    load_spec,
    load_specs,
)

__all__ = [
    "JSONValue",
    "ModelInfo",
    "ModelSpec",
    "Parameter",
    "ParameterType",
    "Violation",
    "has_visible",
    "load_spec",
    "load_specs",
]
