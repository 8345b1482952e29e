"""Where the server's log lines go, and what they may not hold: stderr only (on stdio, stdout carries the
protocol), and never the API key, whatever handler a host that embeds the server puts them through."""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ideogram_mcp.settings import Settings

_KEYS: set[str] = set()
"""The API keys of this process's servers (``keep_out``): blanked from every record the package's loggers make."""


def _blank(text: str) -> str:
    for key in _KEYS:
        text = text.replace(key, "[redacted]")
    return text


class _KeepingKeysOut(logging.Filter):
    """Blanks the keys from a record's message, traceback and stack as the record is made, so a host's own handlers
    and formatters (a server embedded with ``build_server``, pytest's capture) never see them. A record holding no
    key is left as it is; one whose message cannot be formatted is left to logging, which reports it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _KEYS:
            return True
        try:
            message = record.getMessage()
            if (blanked := _blank(message)) != message:
                record.msg, record.args = blanked, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text and (clean := _blank(record.exc_text)) != record.exc_text:
                # The exception itself holds the key: only its blanked text goes on to the handlers.
                record.exc_text, record.exc_info = clean, None
            if record.stack_info:
                record.stack_info = _blank(record.stack_info)
        except Exception:  # a message that cannot be formatted: logging's own handling says so
            return True
        return True


_FILTER = _KeepingKeysOut()


def logger(name: str) -> logging.Logger:
    """The logger of one of the package's modules (``logger(__name__)``), its records kept clear of the keys."""
    made = logging.getLogger(name)
    made.addFilter(_FILTER)  # once: a filter already there is not added again
    return made


def keep_out(key: str) -> None:
    """Blank ``key`` (a value ``settings.secret_value`` gave; "" for none) from every log line from now on."""
    if key:
        _KEYS.add(key)


LONGEST = 2000
"""Most characters of a record's message a log line shows (a 1 MB upstream message had made a 1 MB line)."""
_UNPRINTED = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` as one line of a log: control characters escaped (a newline, an ANSI escape: text an agent, a client
    or Runware wrote cannot forge a line or hide one), at most ``LONGEST`` characters."""
    text = _UNPRINTED.sub(lambda found: found.group().encode("unicode_escape").decode(), text)
    return text if len(text) <= LONGEST else f"{text[:LONGEST]}… ({len(text)} characters)"


class _Redacting(logging.Formatter):
    """Keeps the keys out of every line the CLI writes, other libraries' included, tracebacks and all; each
    record's message on one line, at most ``LONGEST`` characters (``printable``)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a message that cannot be formatted: logging's own handling says so
            return _blank(super().format(record))
        if (shown := printable(_blank(message))) != message:  # the key out before any cut
            record = logging.makeLogRecord({**record.__dict__, "msg": shown, "args": None})
        return _blank(super().format(record))


class _StopAskedTwice(logging.Filter):
    """A second Ctrl-C has uvicorn cancel the app's lifespan at once; Starlette reports the cancellation as a failed
    shutdown, and uvicorn logs it at ERROR, a traceback ending in ``CancelledError``: a stop asked twice, no fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not (message.startswith("Traceback") and message.rstrip().endswith("CancelledError"))


_STOP_ASKED_TWICE = _StopAskedTwice()


def configure_logging(settings: Settings) -> None:
    """Log at the settings' level to stderr, the key blanked; the HTTP stack's own logs at warnings and above."""
    from ideogram_mcp.settings import secret_value

    keep_out(secret_value(settings.runware_api_key))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting())
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    # The HTTP stack logs headers and bodies at DEBUG: quiet even then, so a key in a header never reaches a log.
    # Pillow logs each chunk of an image it reads at DEBUG: an agent's inline PNG of 20,000 empty chunks, 80,000 lines.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "mcp", "uvicorn", "PIL"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    logging.getLogger("uvicorn.error").addFilter(_STOP_ASKED_TWICE)
    # The journal's pool warns at each try to reconnect while PostgreSQL is down (18 in 30 s); the journal logs the
    # outage itself, once, with the fix (database._diagnosed).
    logging.getLogger("psycopg.pool").setLevel(max(logging.ERROR, logging.getLogger().level))
