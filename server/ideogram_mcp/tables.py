"""The README's tables, rendered from the specs so that the documentation cannot drift from them.

``python -m ideogram_mcp.tables`` prints each between its markers; ``--write README.md`` puts them in
place; a test checks the README holds them verbatim.
"""

from __future__ import annotations

from ideogram_mcp import files
from ideogram_mcp.arguments import APPROVED_COST, ASPECT_RATIO, FILE_NAME, OUTPUT_DIR, PREVIEW, options
from ideogram_mcp.settings import ENV
from ideogram_mcp.specs import ModelSpec, Parameter, load_specs, models_of
from ideogram_mcp.specs.spec import BASE_MODEL
from ideogram_mcp.variables import variables


def parameter_table(spec: ModelSpec) -> str:
    """Every spec parameter: who sets it, where it goes on the wire, its type, bounds and default."""
    rows = [
        "| argument | on the wire | type | allowed | default |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in spec.exposed:
        if p.name == "width":
            rows.append(
                f"| `{ASPECT_RATIO}` | (becomes `width`, `height`) | string | a ratio such as `16:9` or `1.5` | "
                f"{spec.default_size} |"
            )
        rows.append(f"| `{p.name}` | `{p.wire}` | {p.type} | {_allowed(p)} | {_default(p)} |")
    for option in options().parameters.values():
        rows.append(
            f"| `{option.name}` | (used by the server, not sent) | {option.type} | {_option_rule(option.name)} |  |"
        )
    owned = [
        "",
        "| owned by the server | on the wire | why |",
        "| --- | --- | --- |",
    ]
    owned += [f"| `{p.name}` | `{p.wire}` | {p.owned} |" for p in spec.parameters.values() if not p.exposed]
    return "\n".join(rows + owned)


def family_table(spec: ModelSpec, base: ModelSpec) -> str:
    """What a sibling model takes beyond, or instead of, the base model's arguments, each with its source."""
    rows = [
        "| argument | on the wire | type | allowed | default | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for p in spec.exposed:
        known = base.parameters.get(p.name)
        if known is not None and (known.wire, known.type, known.source) == (p.wire, p.type, p.source):
            continue
        source = p.source or spec.model.source
        rows.append(f"| `{p.name}` | `{p.wire}` | {p.type} | {_allowed(p, spec)} | {_default(p)} | {source} |")
    left_out = [f"`{p.name}`" for p in base.exposed if p.name not in spec.parameters]
    prices = spec.model.prices or {}
    price = (
        ", ".join(f"{speed} ${value:.2f}" for speed, value in prices.items()) or f"${spec.model.price_per_image:.2f}"
    )
    notes = [
        "",
        f"Price per image: {price} ({spec.model.price_source}).",
        f"Not taken: {', '.join(left_out)}." if left_out else "It takes every argument of generate_image.",
    ]
    return "\n".join(rows + notes)


def environment_table() -> str:
    """Every environment variable, as ``ideogram-mcp --help`` lists them (from the settings' own docstrings)."""
    rows = ["| environment variable | meaning | default |", "| --- | --- | --- |"]
    for variable in variables():
        default = variable.default if variable.default.startswith("(") else f"`{variable.default}`"
        rows.append(f"| `{variable.name}` | {variable.meaning} | {default} |")
    return "\n".join(rows)


def tables() -> dict[str, str]:
    """Every table the README holds, by the name of its markers."""
    specs = load_specs()
    base = specs[BASE_MODEL]
    found = {f"parameters:{BASE_MODEL}": parameter_table(base)}
    for model, spec in specs.items():
        if model != BASE_MODEL:  # a task of another kind shares little with the base: all its arguments are listed
            kin = spec.model.task_type == base.model.task_type
            found[f"parameters:{model}"] = family_table(spec, base) if kin else parameter_table(spec)
    return found | {"environment": environment_table()}


def in_place(text: str) -> str:
    """A README's text with every table replaced by the one the specs give now."""
    for name, table in tables().items():
        start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
        before, found, rest = text.partition(start)
        _, closed, after = rest.partition(end)
        if not (found and closed):
            raise ValueError(f"the README has no {start.strip()} ... {end} markers")
        text = before + start + table + "\n" + end + after
    return text


def _option_rule(name: str) -> str:
    if name == FILE_NAME:
        return f"a file name of at most {files.MAX_NAME} characters ({files.MAX_NAME_BYTES} bytes), no folders"
    if name == PREVIEW:
        return f"true or false (default: the server's {ENV.preview})"
    if name == OUTPUT_DIR:
        return "a folder inside the allowed folders, or a name inside the usual output folder"
    if name == APPROVED_COST:
        return "dollars, at least the call's quote; only after the user agreed in the chat"
    return "true or false (default: false)"


def _allowed(p: Parameter, spec: ModelSpec | None = None) -> str:
    if p.name == "stylePreset" and p.values:
        return f"{len(p.values)} presets (`list_style_presets`)"
    if p.name in ("width", "height"):
        if spec is not None and models_of(spec.model.tool)[0] is not spec:  # the tool's model argument names it
            return f"a listed pair (`list_sizes` with model `{spec.model.choice}`)"
        return "a listed pair (`list_sizes`)"
    if p.values:
        return " ".join(f"`{v}`" for v in p.values)
    rule = p.rule()
    if p.same_length_as:
        rule += f", as many as `{p.same_length_as}`"
    return rule


def _default(p: Parameter) -> str:
    if p.default is None:
        return ""
    return f"`{str(p.default).lower() if isinstance(p.default, bool) else p.default}`"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if sys.argv[1:2] == ["--write"]:
        readme = Path(sys.argv[2])
        readme.write_text(in_place(readme.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        for name, table in tables().items():
            print(f"<!-- {name}:start -->\n{table}\n<!-- {name}:end -->\n")
