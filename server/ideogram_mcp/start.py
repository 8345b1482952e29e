"""The command's entry point: Ctrl-C while the program is still loading stops it as quietly as later on.

Loading the MCP SDK takes about half a second; a Ctrl-C then would otherwise print a traceback, as no code
of ours runs yet to catch it. This module loads nothing but the standard library before that handler is set.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

from ideogram_mcp.exits import STOPPED_STATUS, say_stopped


def _stopped_while_loading(signum: int, frame: FrameType | None) -> None:
    say_stopped()
    os._exit(STOPPED_STATUS)  # halfway through imports there is nothing to clean up


# Set as this module loads, not when main() is called: a Ctrl-C between the two would print a traceback.
_HANDLED = signal.getsignal(signal.SIGINT) is signal.default_int_handler  # not when Ctrl-C is to be ignored
if _HANDLED:
    signal.signal(signal.SIGINT, _stopped_while_loading)


def main() -> None:
    """Load the program with Ctrl-C handled, then run the command line."""
    try:
        from ideogram_mcp import cli  # the whole program, the SDK with it
    finally:
        if _HANDLED:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    cli.main()
