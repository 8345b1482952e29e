"""The environment variables a user may set, each with its meaning (the docstring under its setting) and default:
for --help and the README's table. Read from the source only when asked: pydantic's use_attribute_docstrings would
parse the settings' source at every start (about 25 ms)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ideogram_mcp.settings import Settings, variable_name


@dataclass(frozen=True)
class Variable:
    """One environment variable the server reads: for --help and the README's table."""

    name: str
    meaning: str
    default: str


def variables() -> list[Variable]:
    """Every environment variable a user may set, in the order Settings declares them."""
    meanings = _docstrings(Settings)
    found: list[Variable] = []
    for field, info in Settings.model_fields.items():
        if info.exclude:
            continue
        name = variable_name(field)
        default = info.default
        shown = (
            "(none)" if default in (None, ()) else str(default).lower() if isinstance(default, bool) else str(default)
        )
        meaning = " ".join(meanings.get(field, "").split())
        found.append(Variable(name, meaning, "(see meaning)" if field in ("output_dir", "data_dir") else shown))
    return found


def _docstrings(cls: type) -> dict[str, str]:
    """The docstring written under each annotated attribute of a class, by attribute name."""
    import ast
    import inspect
    import textwrap

    (body,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for statement, following in itertools.pairwise(body.body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found
