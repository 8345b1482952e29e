"""Where the server's log lines go, and what they may not hold: stderr only (on stdio, stdout carries the
protocol), and never the API key."""

from __future__ import annotations

import logging
import sys

from pydantic import SecretStr

from ideogram_mcp.settings import Settings, redact


class _Redacting(logging.Formatter):
    """Keeps the API key out of every log line, tracebacks included, whatever a library puts in them."""

    def __init__(self, secret: SecretStr | None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._secret = secret

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secret)


def configure_logging(settings: Settings) -> None:
    """Log at the settings' level to stderr, the key blanked; the HTTP stack's own logs at warnings and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting(settings.runware_api_key))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    # The HTTP stack logs headers and bodies at DEBUG: quiet even then, so a key in a header never reaches a log.
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "mcp", "uvicorn"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # The journal's pool warns at each try to reconnect while PostgreSQL is down (18 in 30 s); the journal logs the
    # outage itself, once, with the fix (database._diagnosed).
    logging.getLogger("psycopg.pool").setLevel(max(logging.ERROR, logging.getLogger().level))
