"""Model specs: one data file per model, and the loader that checks it."""

from ideogram_mcp.specs.spec import (
    JSONValue,
    ModelInfo,
    ModelSpec,
    Parameter,
    ParameterType,
    Violation,
    has_visible,
    is_image_reference,
    is_web_url,
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
    "is_image_reference",
    "is_web_url",
    "load_spec",
    "load_specs",
]
