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
