"""One thing wrong with what an agent sent, said for the model that sent it; and how what it sent is quoted back
(short, printable: no error repeats a long input)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ideogram_mcp.errors import IdeogramError
from ideogram_mcp.text import quoted

SHOWN = 60
"""Characters of a value quoted back in an error."""
LISTED = 12
"""Problems listed in one error; an agent fixes these first."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the arguments, written for the model that sent them."""

    argument: str
    message: str


class InvalidArgumentsError(IdeogramError):
    """The arguments cannot be sent; ``problems`` says every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(self.text())

    def text(self, *, generating: bool = True) -> str:
        """The problems as an agent reads them; a generating tool says first that nothing was made or charged."""
        lines = [f"- {p.argument}: {p.message}" for p in self.problems[:LISTED]]
        if len(self.problems) > LISTED:
            lines.append(f"- and {len(self.problems) - LISTED} more problems of the same kinds.")
        opening = "Nothing was generated and nothing was charged. " if generating else ""
        return f"{opening}Fix these arguments:\n" + "\n".join(lines)


def label(name: str) -> str:
    """An argument's name as an error shows it: printable, and short; one with nothing visible (``""``, ``" "``)
    quoted, as "- : unknown argument." said nothing."""
    shown = "".join(c if c.isprintable() else "?" for c in name)
    if not shown.strip():
        said = quoted(name)
        return said if len(said) <= 42 else said[:30] + '…"'  # cut, and closed
    return shown if len(shown) <= 40 else shown[:30] + "…"


def show(value: Any) -> str:
    """A short excerpt of what was sent, as JSON (the agent sent JSON: ``"x"``, ``false``, ``null``), never the whole
    of it."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**SHOWN:
        return f"a {len(str(abs(value))) if abs(value) < 10**4000 else 'more than 4000'}-digit number"
    try:
        text = quoted(value)
    except ValueError:  # an integer too long to print
        return f"a {type(value).__name__} too long to show"
    except RecursionError:
        return f"a {type(value).__name__} nested too deep to show"
    length = len(value) if isinstance(value, str) else len(text)  # a text's own, as "(got 101)" says it, not quoted
    return text if len(text) <= SHOWN else f"{text[: SHOWN - 15]}… ({length} chars)"
