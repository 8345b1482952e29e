"""How the command ends when stopped: one line, and the status shells report for Ctrl-C. Standard library only:
it is loaded before anything else, so that a Ctrl-C while the program loads ends it as quietly as later on."""

from __future__ import annotations

import sys

STOPPED_LINE = "ideogram-mcp: stopped (Ctrl-C)"
"""What Ctrl-C prints, whenever it comes."""
STOPPED_STATUS = 130
"""The exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def say_stopped() -> None:
    """Print the one line Ctrl-C prints, on stderr."""
    sys.stderr.write(STOPPED_LINE + "\n")
    sys.stderr.flush()
