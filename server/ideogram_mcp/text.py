"""How the server quotes text it did not write (Runware's messages, an agent's input): on one line, and short."""

from __future__ import annotations

UPSTREAM_SHOWN = 300
"""Characters of each upstream message an agent is shown (an error page can be megabytes)."""


def excerpt(text: str, limit: int = UPSTREAM_SHOWN) -> str:
    """Text as an agent is shown it: on one line, and at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sentence(text: str) -> str:
    """``text`` as a sentence: capital first letter, full stop at the end."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
