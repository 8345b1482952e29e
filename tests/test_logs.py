"""The package's loggers (``logs.logger``): the API key is blanked from each record as it is made, whatever handler a
host puts the records through, and a record that holds no key, or cannot be formatted, is left to logging."""

from __future__ import annotations

import logging
from logging import Logger

import pytest

from ideogram_mcp import logs

KEY = "sk-logs-test-0123456789"


class Kept(logging.Handler):
    """A host's handler that keeps the records themselves, as a JSON or error-tracking handler does."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logger() -> Logger:
    """A logger with the package's filter and a host's handler alone: one no test runner's capture is attached to
    (pytest's own handler raises on a message it cannot format)."""
    logs.keep_out(KEY)
    made = Logger("ideogram_mcp.test_logs", logging.DEBUG)
    made.filters = list(logs.logger("ideogram_mcp.test_logs").filters)
    made.addHandler(Kept())
    return made


def kept(logger: Logger) -> list[logging.LogRecord]:
    (handler,) = logger.handlers
    assert isinstance(handler, Kept)
    return handler.records


def test_a_record_holding_the_key_reaches_a_hosts_handler_without_it_traceback_and_all(logger: Logger) -> None:
    try:
        raise RuntimeError(f"Authorization: Bearer {KEY}")
    except RuntimeError:
        logger.exception("a call with %s failed", KEY)
    (record,) = kept(logger)
    assert record.getMessage() == "a call with [redacted] failed"
    assert record.exc_info is None, "the exception itself holds the key: a handler that reads it would see it"
    assert record.exc_text is not None
    assert "Bearer [redacted]" in record.exc_text
    assert KEY not in logging.Formatter().format(record)


def test_a_record_without_the_key_is_left_as_it_was_made(logger: Logger) -> None:
    try:
        raise ValueError("nothing secret")
    except ValueError:
        logger.exception("task %s failed", "t-1")
    (record,) = kept(logger)
    assert (record.msg, record.args) == ("task %s failed", ("t-1",))
    assert record.exc_info is not None, "the exception is kept for handlers that read it"


def test_a_message_that_cannot_be_formatted_is_left_to_the_handlers_not_raised_at_the_call(logger: Logger) -> None:
    logger.warning("two places %s %s", "one value")  # returns: the call goes on
    (record,) = kept(logger)
    with pytest.raises(TypeError):
        record.getMessage()  # as a handler finds it, and logging's own report on stderr


def test_each_line_the_cli_writes_is_one_line_of_at_most_2000_characters_the_key_blanked_first(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Text an agent, a client or Runware wrote had forged log lines (a newline, an ANSI escape in a Host header, a
    # JSON key) and made a 1 MB line (an upstream message), and Pillow wrote 80,000 lines for one inline PNG.
    from ideogram_mcp.settings import Settings

    root = logging.getLogger()
    kept = (root.level, list(root.handlers), logging.getLogger("PIL").level)
    logs.configure_logging(Settings(log_level="DEBUG"))
    logs.keep_out(KEY)
    try:
        forged = "\n2030-01-01 00:00:00,000 CRITICAL ideogram_mcp.server: FORGED\x1b[2K\r\u2028"
        logging.getLogger("mcp.server.transport_security").warning("Invalid Host header: evil%s", forged)
        logs.logger("ideogram_mcp.test_logs").warning("upstream said: %s", "x" * 90 + KEY + "y" * 1_000_000)
        logs.logger("ideogram_mcp.test_logs").warning("%s", "x" * 1995 + KEY)  # the key where the line is cut
        try:
            raise RuntimeError("a traceback keeps its lines")
        except RuntimeError:
            logs.logger("ideogram_mcp.test_logs").exception("failed")
        pillow = logging.getLogger("PIL.PngImagePlugin").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(kept[0])
        root.handlers[:] = kept[1]
        logging.getLogger("PIL").setLevel(kept[2])
    lines = capfd.readouterr().err.splitlines()
    host, upstream, cut, failed, *trace = lines
    assert host.endswith(
        "Invalid Host header: evil\\n2030-01-01 00:00:00,000 CRITICAL ideogram_mcp.server: FORGED\\x1b[2K\\r\\u2028"
    )
    assert upstream.endswith("… (1000115 characters)")
    assert len(upstream) < 2100
    assert f"upstream said: {'x' * 90}[redacted]yyy" in upstream
    assert KEY[:5] not in cut, "the key blanked before the line is cut: no piece of it left"
    assert failed.endswith("failed")
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == "RuntimeError: a traceback keeps its lines"
    assert not pillow


def test_where_a_request_holds_a_lone_half_is_said_escaped_and_cut() -> None:
    from ideogram_mcp.refusals import lone_half

    said = lone_half("params.arguments.x\n2030 FORGED\x1b[2K" + "k" * 5_000)
    assert "params.arguments.x\\n2030 FORGED\\u001b[2K" in said
    assert "\n" not in said
    assert len(said) < 500
