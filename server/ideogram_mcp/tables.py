"""The README's tables, rendered from the spec so that the documentation cannot drift from it.

``python -m ideogram_mcp.tables`` prints them; a test checks the README holds them verbatim.
"""

from __future__ import annotations

from ideogram_mcp import files
from ideogram_mcp.arguments import ASPECT_RATIO, FILE_NAME, OPTIONS
from ideogram_mcp.specs import ModelSpec, Parameter, load_spec


def parameter_table(spec: ModelSpec) -> str:
    """Every spec parameter: who sets it, where it goes on the wire, its type, bounds and default."""
    rows = [
        "| argument | on the wire | type | allowed | default |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in spec.exposed:
        rows.append(f"| `{p.name}` | `{p.wire}` | {p.type} | {_allowed(p)} | {_default(p)} |")
        if p.name == "positivePrompt":
            rows.append(
                f"| `{ASPECT_RATIO}` | (becomes `width`, `height`) | string | a ratio such as `16:9` or `1.5` | "
                f"{spec.default_size} |"
            )
    for option in OPTIONS:
        kind = str(option.schema["type"])
        rows.append(f"| `{option.name}` | (used by the server, not sent) | {kind} | {_option_rule(option.name)} |  |")
    owned = [
        "",
        "| owned by the server | on the wire | why |",
        "| --- | --- | --- |",
    ]
    owned += [f"| `{p.name}` | `{p.wire}` | {p.owned} |" for p in spec.parameters.values() if not p.exposed]
    return "\n".join(rows + owned)


def _option_rule(name: str) -> str:
    if name == FILE_NAME:
        return f"a file name of at most {files.MAX_NAME} characters, no folders"
    return "true or false (default: the server's IDEOGRAM_MCP_PREVIEW)"


def _allowed(p: Parameter) -> str:
    if p.name == "stylePreset" and p.values:
        return f"{len(p.values)} presets (`list_style_presets`)"
    if p.name in ("width", "height"):
        return "a listed pair (`list_sizes`)"
    if p.values:
        return " ".join(f"`{v}`" for v in p.values)
    rule = p.rule()
    if p.format == "image":
        rule += ", or a local image file in an allowed folder"
    if p.same_length_as:
        rule += f", as many as `{p.same_length_as}`"
    return rule


def _default(p: Parameter) -> str:
    if p.default is None:
        return ""
    return f"`{str(p.default).lower() if isinstance(p.default, bool) else p.default}`"


if __name__ == "__main__":
    print(parameter_table(load_spec()))
