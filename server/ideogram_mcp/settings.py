"""Configuration from the environment, in one place; the API key is a secret that never prints."""

from __future__ import annotations

import decimal
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from ideogram_mcp.references import is_web_url
from ideogram_mcp.runware import DEFAULT_BASE_URL

TEAM_CLIENTS = {
    "database_url": ("PostgreSQL's client (psycopg)", ("psycopg", "psycopg_pool")),
    "storage_url": ("the bucket's client (obstore)", ("obstore",)),
}
"""What each setting of team mode needs installed (the ``team`` extra): what it is, and its modules."""


SECRET_SHORTEST = 8
"""Shorter values are not blanked: no real key is that short, and blanking it would maul ordinary words."""


def secret_value(secret: SecretStr | None) -> str:
    """The value to blank out of what the server shows and keeps ("" for none)."""
    value = secret.get_secret_value() if secret is not None else ""
    return value if len(value) >= SECRET_SHORTEST else ""


def redact(text: str, secret: SecretStr | None) -> str:
    """``text`` with the secret's value blanked out, wherever a library or upstream put it.

    The one redaction of the server: results, the journal, the logs, the recipes beside images and every error go
    through it (``redacted`` for data), so no new field can carry the key anywhere.
    """
    value = secret_value(secret)
    return text.replace(value, "[redacted]") if value else text


def redacted(value: Any, secret: SecretStr | None) -> Any:
    """JSON-like data (dicts, lists, strings, numbers) with the secret blanked out of every string in it."""
    if not secret_value(secret):
        return value
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, dict):
        return {redact(str(k), secret): redacted(v, secret) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if isinstance(value, list | tuple):
        return [redacted(v, secret) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value


DEFAULT_DAILY_BUDGET = 10.0
"""The daily budget when none is set: a looping agent cannot spend without limit."""
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""How a database URL may begin (libpq reads both)."""
STATE_KEY_SHORTEST = 32
"""Characters a state key needs at the least (the SDK's rule for request-state secrets)."""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The levels IDEOGRAM_MCP_LOG_LEVEL takes (in any case)."""


def variable_name(field: str) -> str:
    """The environment variable a setting is read from: RUNWARE_* for Runware's, IDEOGRAM_MCP_* for the rest."""
    return field.upper() if field.startswith(("runware_", "aws_")) else f"IDEOGRAM_MCP_{field.upper()}"


class _Names:
    """Every setting's environment variable, by the setting's name: ``ENV.daily_budget`` is
    ``IDEOGRAM_MCP_DAILY_BUDGET``. The one way code names a variable (a misspelt setting fails, never misleads)."""

    def __getattr__(self, field: str) -> str:
        if field not in Settings.model_fields:
            raise AttributeError(f"no setting {field!r}")
        return variable_name(field)


ENV = _Names()
"""The environment variables, by setting."""
_AWS_CREDENTIALS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_token", "aws_region")
_CONTROLS = "holds a line break or another control character (copied from a file?): no request carries one; remove it"


class Settings(BaseModel):
    """What the server reads from its environment (MCP clients set it in their server config).

    ``Settings()`` reads the environment; keyword arguments override it (tests and the command line use them).
    """

    # Each setting is read from its own variable (``variable_name``) and from no other: a generic name set for
    # another tool (WEBHOOK_URL, SAVE ...) must never configure this server. Names match in any case, as
    # environments on Windows do. Reading them is a dozen lines, so pydantic-settings (about 10 ms of every
    # cold start) is not needed; pydantic still converts and checks each value.
    # The docstrings below each setting are read by ``variables`` for --help and the README, only when asked.
    # An error never repeats the value it refuses: it may be a key, or a URL holding a password.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    runware_api_key: SecretStr | None = None
    """Runware API key: sign up at https://my.runware.ai/signup, then API Keys, Create Key. Without it the server
    still starts and the tools say how to set it. Never printed or logged."""
    runware_base_url: str = DEFAULT_BASE_URL
    """The full URL tasks are POSTed to (any Runware-compatible server, e.g. the emulator)."""
    runware_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    """Seconds one HTTP exchange with Runware may take, from connecting to the last byte."""
    offline: bool = False
    """true does what --offline does: generate with the built-in Runware emulator (no key, no cost)."""
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING, ERROR or CRITICAL; logs go to stderr only (on stdio, stdout carries the protocol)."""

    output_dir: Path | None = None
    """Where images are saved (--output-dir does the same). Without it, on stdio: ideogram-output/ inside the
    client's first root (its project folder), else inside the folder the server was started in when that is a
    project (not / or the home folder, and writable), else ~/Pictures/ideogram-mcp; over HTTP, ~/Pictures/ideogram-mcp
    (a folder for each token inside)."""
    save: bool = True
    """false saves nothing (hosted deployments); results then give the image URLs, and say that a fileName or
    outputDir had no effect."""
    preview: bool = True
    """false leaves previews out of results unless a call asks for them (preview: true)."""
    wait_seconds: float = Field(default=50.0, gt=0, allow_inf_nan=False)
    """How long a tool call waits for its images before answering pending (clients give up near 60 s)."""
    data_dir: Path | None = None
    """Where the task journal (journal.sqlite3) lives; an offline server keeps its own in offline/ there. Without it:
    ~/.local/share/ideogram-mcp ($XDG_DATA_HOME/ideogram-mcp where that is set; ~/Library/Application
    Support/ideogram-mcp on macOS, %LOCALAPPDATA%\\ideogram-mcp on Windows)."""
    max_cost_per_call: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Dollars one call may cost; a call quoted above it is refused before anything is sent."""
    daily_budget: float = Field(default=DEFAULT_DAILY_BUDGET, ge=0, allow_inf_nan=False)
    """Dollars all calls of a day (the server's local time) may cost, per owner, counted from the journal; 0 means
    no limit."""
    confirm_above: float = Field(default=0.50, ge=0, allow_inf_nan=False)
    """Calls quoted above this many dollars are sent only once the user approved them: the client asks them when
    it can; where it cannot, the call is refused unless the agent passes approvedCost after the user agreed in the
    chat."""
    webhook_url: str | None = None
    """Runware also POSTs each finished image's result here. The user's choice: agents cannot set it."""
    upload_endpoint: str | None = None
    """Runware also PUTs each finished image here (e.g. a presigned bucket URL). The user's choice: agents cannot
    set it."""
    allowed_dirs: tuple[Path, ...] = ()
    """More folders that local input images may come from, and that a call may save into (outputDir) unless an
    output folder is set (then outputDir stays inside it), separated like PATH (':'; ';' on Windows). The client's
    roots, the project folder and the output folder always are. Over HTTP every token may send images from them too:
    set only folders every client of the server may use."""

    # Serving over HTTP (``ideogram-mcp http``).
    http_host: str = Field(default="127.0.0.1", exclude=True)
    """The address ``ideogram-mcp http`` serves on (its --host; the command sets this for its workers)."""
    tokens: tuple[str, ...] = ()
    """Bearer tokens the HTTP server accepts, comma-separated; each owns its own images and spend."""
    tokens_file: Path | None = None
    """A file of bearer tokens for the HTTP server, one a line; # at a line's start or after a space begins a
    comment."""
    oauth_issuer: str | None = None
    """An OAuth 2.1 authorization server whose JWT access tokens the HTTP server accepts."""
    public_url: str | None = None
    """The HTTP server's public URL (e.g. https://images.example.com/mcp): the audience OAuth tokens must name."""
    allowed_hosts: tuple[str, ...] = ()
    """More Host values the HTTP server answers (DNS-rebinding protection), comma-separated, e.g.
    images.example.com:*. Loopback and the public URL's host always are."""
    allowed_origins: tuple[str, ...] = ()
    """More Origin values the HTTP server answers, comma-separated, e.g. https://app.example.com."""
    max_in_flight: int = Field(default=4, ge=1, le=1_000_000)
    """Generations one HTTP token may have running at once."""
    max_calls_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    """Paid calls one owner (an HTTP token) may start in any 60 seconds, counted in the journal, so across every
    process and machine that shares it; unset means no such limit."""
    state_keys: tuple[SecretStr, ...] = ()
    """Secrets (each 32 characters or more, comma-separated, the newest first) that seal the state of a question
    put to the user on the 2026-07-28 protocol; every process serving one address must share them. Without it,
    ideogram-mcp http makes one for its own workers; to rotate, list the new key first, the old after it."""
    state_keys_made: bool = Field(default=False, exclude=True)
    """Whether ``state_keys`` are the ones ideogram-mcp http made for its own workers, not the operator's (the
    command sets this for its workers): another machine serving the address cannot have them."""
    database_url: SecretStr | None = None
    """A PostgreSQL database (postgresql://user:password@host:5432/database) that keeps the task journal, the spend
    and the limits for every process and machine serving one address (the database must exist; its tables are made
    at the first start). Without it they are kept in SQLite in the data folder, as they are with --offline. Never
    printed or logged."""
    storage_url: str | None = None
    """An S3-compatible bucket (s3://bucket/prefix) that keeps the saved images and their recipes for every process
    and machine serving one address, instead of the output folder. Its endpoint, region and credentials come from
    the usual AWS_* variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""
    aws_endpoint_url: str | None = Field(default=None, exclude=True)
    """The bucket's endpoint, which obstore reads itself: read here only to be checked when a bucket is set (one
    without its scheme, such as 127.0.0.1:9000, had made obstore's Rust panic and end the process)."""
    aws_endpoint: str | None = Field(default=None, exclude=True)  # the same, by obstore's two other names for it
    aws_endpoint_url_s3: str | None = Field(default=None, exclude=True)
    aws_access_key_id: None = Field(default=None, exclude=True)
    """The bucket's credentials and region (``_AWS_CREDENTIALS``), which obstore reads itself: checked when a bucket
    is set (a line break copied at the end of one had made its Rust panic at every request), never kept."""
    aws_secret_access_key: None = Field(default=None, exclude=True)
    aws_session_token: None = Field(default=None, exclude=True)
    aws_token: None = Field(default=None, exclude=True)
    aws_region: None = Field(default=None, exclude=True)
    storage_link_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    """How long the download links results give for images in the bucket stay valid, in seconds (at most 7 days)."""

    @property
    def daily_limit(self) -> float | None:
        """The daily budget in dollars, or None when there is none (0)."""
        return self.daily_budget or None

    @property
    def shared_database(self) -> SecretStr | None:
        """The PostgreSQL database the journal is kept in, or None: none set, or offline (whose tasks cost nothing
        real and are kept in SQLite)."""
        return None if self.offline else self.database_url

    def __init__(self, **overrides: Any) -> None:
        variables = {variable_name(field).lower(): field for field in type(self).model_fields}
        # A blank variable is as unset (client configs carry "" placeholders): its default, whatever the setting.
        found = {
            variables[name.lower()]: value
            for name, value in os.environ.items()
            if name.lower() in variables and value.strip()
        }
        super().__init__(**(found | overrides))

    @classmethod
    def reading(cls, *fields: str) -> Settings:
        """The settings with only ``fields`` read from the environment, every other at its default: for a command
        that reads those alone (the emulator), which a bad value of another must not stop."""
        others = {name: info.get_default(call_default_factory=True) for name, info in cls.model_fields.items()}
        return cls(
            **{name: value for name, value in others.items() if name not in fields}
        )  # they outrank the variables

    @field_validator("state_keys", mode="before")
    @classmethod
    def _secret_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, tuple | list):
            keys = [str(v.get_secret_value() if isinstance(v, SecretStr) else v) for v in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            if short := [n for n, key in enumerate(keys, 1) if len(key) < STATE_KEY_SHORTEST]:
                raise ValueError(
                    f"key {short[0]} has fewer than {STATE_KEY_SHORTEST} characters; make each with: "
                    'python3 -c "import secrets; print(secrets.token_hex(32))"'
                )
            return tuple(SecretStr(key) for key in keys)
        return value

    @field_validator("tokens", "allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            parts = tuple(part.strip() for part in value.split(",") if part.strip())
            if info.field_name == "tokens" and value.strip() and not parts:  # "," is not "no authentication wanted"
                raise ValueError("holds no token, only commas; give tokens separated by commas, or unset it")
            return parts
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"{value.strip()[:40]!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("runware_base_url", "webhook_url", "upload_endpoint", "oauth_issuer", "public_url")
    @classmethod
    def _web_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not is_web_url(value.strip()):
            # A webhook's or an upload's URL may carry its token anywhere (Slack's is in the path): none is repeated.
            if info.field_name in ("webhook_url", "upload_endpoint"):
                raise ValueError("is not an http:// or https:// URL; write it in full, with the scheme")
            raise ValueError(
                f"{_without_secrets(value.strip())[:80]!r} is not an http:// or https:// URL; write it in full, with "
                "the scheme"
            )
        return value.strip()

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        # The value is never repeated in the error: it may hold a password.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str) or not text.strip():
            return None if isinstance(text, str) else value
        if not text.strip().lower().startswith(POSTGRES_SCHEMES):
            raise ValueError(
                "not a PostgreSQL URL; write it as postgresql://user:password@host:5432/database "
                "(or leave it unset to keep the journal in SQLite)"
            )
        return SecretStr(text.strip())

    @field_validator("database_url", "storage_url")
    @classmethod
    def _team_installed(cls, value: object, info: ValidationInfo) -> object:
        # The clients of team mode are the `team` extra: without them, every call had been "an internal error".
        if value is None or (info.field_name == "database_url" and info.data.get("offline")):
            return value  # offline, the journal is SQLite whatever is set
        what, modules = TEAM_CLIENTS[str(info.field_name)]
        if any(importlib.util.find_spec(module) is None for module in modules):
            raise ValueError(
                f"needs {what}, which this install lacks; install the team extra (uv sync --extra team, or pip "
                "install 'ideogram-mcp[team]'), or leave it unset"
            )
        return value

    @field_validator("storage_url", mode="before")
    @classmethod
    def _bucket_url(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return None
        bucket = text.removeprefix("s3://").split("/", 1)[0]
        if not text.startswith("s3://") or not bucket:
            raise ValueError(
                f"{text[:80]!r} is not a bucket URL; write it as s3://bucket or s3://bucket/prefix (or leave it unset "
                "to save images in the output folder)"
            )
        if not re.fullmatch(r"[A-Za-z0-9._-]+", bucket):  # a space had made obstore's Rust panic, ending the process
            raise ValueError(
                f"{bucket[:80]!r} is no bucket's name: a bucket is named with letters, digits, '.', '-' and '_' only"
            )
        return text.rstrip("/")

    @field_validator(*_AWS_CREDENTIALS, mode="before")
    @classmethod
    def _bucket_credential(cls, value: object, info: ValidationInfo) -> None:
        if isinstance(value, str) and info.data.get("storage_url") is not None and _controls(value):
            raise ValueError(_CONTROLS)  # never its value: it may be a secret

    @field_validator("aws_endpoint_url", "aws_endpoint", "aws_endpoint_url_s3", mode="before")
    @classmethod
    def _bucket_endpoint(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str) or info.data.get("storage_url") is None:
            return value  # another tool's: none of this server's business without a bucket
        if any(c.isspace() for c in value.strip()):  # obstore's Rust panics on it too
            raise ValueError(
                "has a space, which no endpoint's URL has; write it without, such as http://127.0.0.1:9000"
            )
        if not is_web_url(value.strip()):
            raise ValueError(
                f"{_without_secrets(value.strip())[:80]!r} is not an http:// or https:// URL, which the bucket of "
                f"{ENV.storage_url} is reached at; write it in full, with the scheme, such as http://127.0.0.1:9000"
            )
        return value.strip()

    @field_validator("runware_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # MCP client configs often carry "RUNWARE_API_KEY": "" as a placeholder.
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str):
            value = value.strip()
            # A header carries only visible ASCII: a line break or a zero-width space copied with the key had made
            # every call fail after it was recorded as sent (or an internal error). Its place, never the key.
            if (at := next((n for n, c in enumerate(value, 1) if not "!" <= c <= "~"), None)) is not None:
                raise ValueError(
                    f"holds a character an API key cannot have (character {at} of {len(value)}: a space, a line break "
                    "or a character that is not plain ASCII); copy the key again from Runware's dashboard"
                )
        return value

    @field_validator(
        "output_dir",
        "data_dir",
        "max_cost_per_call",
        "webhook_url",
        "upload_endpoint",
        "tokens_file",
        "oauth_issuer",
        "public_url",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        # Spaces or a line break copied around a value are not part of it: " /srv/images\n" had become a folder of
        # that name inside the one the server started in.
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("output_dir", "data_dir", "tokens_file", "allowed_dirs")
    @classmethod
    def _home_expanded(cls, value: Path | tuple[Path, ...] | None) -> Path | tuple[Path, ...] | None:
        # "~" is expanded once, here: "~nobody/x" names no folder, which is said now rather than at every call. A
        # relative folder is taken from where the server starts, once: later its meaning could not change.
        def expanded(path: Path) -> Path:
            try:
                found = path.expanduser().absolute()
            except RuntimeError:
                raise ValueError(
                    f"{str(path)[:80]!r} starts with the home folder of a user this machine has not"
                ) from None
            except OSError:  # relative, in a working folder deleted since: a traceback had followed
                raise ValueError(
                    f"{str(path)[:80]!r} is relative to the folder the server was started in, which is gone; give a "
                    "whole path, or start the server in a folder that exists"
                ) from None
            try:  # every call resolves it (a loop of links would fail each one); results name it, in UTF-8
                str(found.resolve()).encode()
            except (OSError, RuntimeError):
                raise ValueError(f"{str(path)[:80]!r} cannot be followed: a symbolic link in it leads round") from None
            except UnicodeEncodeError:  # bytes of another encoding (a Latin-1 name), held as half a surrogate pair
                raise ValueError(f"{ascii(str(path))[:80]} is no text here; name a folder in UTF-8") from None
            return found

        if isinstance(value, tuple):
            return tuple(expanded(path) for path in value)
        return expanded(value) if value is not None else None

    @field_validator("daily_budget", mode="before")
    @classmethod
    def _no_limit_only_as_zero(cls, value: object) -> object:
        # 0 lifts the limit; a budget of almost nothing had read as 0 ("1e-400") and lifted it.
        exact = decimal.Context(traps=[]).create_decimal(value.strip()) if isinstance(value, str) else None
        if exact is not None and exact.is_finite() and exact != 0 and float(exact) == 0:
            raise ValueError("it reads as 0, which means no limit; give the dollars a day may cost, such as 10")
        return value

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _path_list(cls, value: object) -> object:
        # One variable holds several folders, separated as PATH separates them (':' or ';').
        if isinstance(value, str):
            return tuple(Path(part.strip()) for part in value.split(os.pathsep) if part.strip())
        return value


def _controls(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)  # a line break, a tab, a NUL, DEL


def _without_secrets(url: str) -> str:
    """A URL as an error may repeat it: without its query, fragment and user part, where a token or a password
    goes (``hooks.example.com/in?...``, ``ftp://...@host/``)."""
    head, cut = re.split(r"[?#]", url, maxsplit=1)[0], ""
    if len(head) < len(url):
        cut = url[len(head)] + "..."
    scheme, sep, rest = head.partition("://")
    if not sep:
        scheme, rest = "", head
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "...@" + host.rsplit("@", 1)[1]
    return f"{scheme}{sep}{host}{slash}{path}{cut}"
