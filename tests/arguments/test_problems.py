"""How an argument's name is shown in an error: printable, short, and never blank."""

from __future__ import annotations

from ideogram_mcp.arguments.problems import label


def test_a_name_with_nothing_visible_is_shown_quoted_and_closed_however_long() -> None:
    assert label("") == '""'
    assert label(" ") == '" "'
    long = label(" " * 45)
    assert long == '"' + " " * 29 + '…"', "cut, and its quote closed"
    assert label("style") == "style"
    assert label("x" * 45) == "x" * 30 + "…"
