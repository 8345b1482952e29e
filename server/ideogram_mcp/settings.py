"""Configuration from the environment, in one place; the API key is a secret that never prints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ideogram_mcp.runware import DEFAULT_BASE_URL


def redact(text: str, secret: SecretStr | None) -> str:
    """``text`` with the secret's value blanked out, wherever a library or upstream put it."""
    value = secret.get_secret_value() if secret is not None else ""
    return text.replace(value, "[redacted]") if value else text


class Settings(BaseSettings):
    """What the server reads from its environment (MCP clients set it in their server config)."""

    # Each setting is read from its own IDEOGRAM_MCP_ variable (the Runware ones from RUNWARE_API_KEY,
    # RUNWARE_BASE_URL, RUNWARE_TIMEOUT) and from no other: a generic name set for another tool (WEBHOOK_URL,
    # SAVE ...) must never configure this server. Environment names match in any case, so the Runware
    # fields name their variables as aliases spelled like the fields.
    model_config = SettingsConfigDict(extra="ignore", env_prefix="IDEOGRAM_MCP_")

    runware_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("runware_api_key"))
    """Runware API key; without it generate_image explains how to get one or run offline."""
    runware_base_url: str = Field(default=DEFAULT_BASE_URL, validation_alias=AliasChoices("runware_base_url"))
    """The full URL that task arrays are POSTed to."""
    runware_timeout: float = Field(default=30.0, gt=0, validation_alias=AliasChoices("runware_timeout"))
    """Seconds one HTTP exchange with Runware may take, from connecting to the last byte."""
    offline: bool = False
    """Serve from the built-in Runware emulator instead of Runware."""
    log_level: str = "INFO"

    output_dir: Path | None = None
    """Where images are saved; without it, inside the client's first root, else a per-user folder."""
    save: bool = True
    """Whether generated images are downloaded and saved (hosted deployments turn it off)."""
    preview: bool = True
    """Whether results carry small previews by default (the ``preview`` argument overrides it)."""
    wait_seconds: float = Field(default=50.0, gt=0)
    """How long a tool call waits for its images before answering ``pending`` (clients give up near 60 s)."""
    data_dir: Path | None = None
    """Where the task journal lives; without it, the per-user data folder."""
    max_cost_per_call: float | None = Field(default=None, ge=0)
    """Dollars one call may cost at most; a call quoted above it is refused before anything is sent."""
    daily_budget: float | None = Field(default=None, ge=0)
    """Dollars all calls of a day (server's local time) may cost, counted from the journal."""
    confirm_above: float = Field(default=0.50, ge=0)
    """Quotes above this are confirmed with the user first, when the client can ask."""
    webhook_url: str | None = None
    """Where Runware also POSTs each finished image's result; the user's choice, never an agent's."""
    upload_endpoint: str | None = None
    """Where Runware also PUTs each finished image (e.g. a presigned bucket URL); the user's choice."""
    allowed_dirs: Annotated[tuple[Path, ...], NoDecode] = ()
    """Folders, besides the client's roots and the output folder, that local input images may come from."""

    # Serving over HTTP (``ideogram-mcp http``).
    http_host: str = "127.0.0.1"
    """The address ``ideogram-mcp http`` serves on (it sets this for its workers)."""
    tokens: Annotated[tuple[str, ...], NoDecode] = ()
    """Bearer tokens that may call the HTTP server, comma-separated; each is an owner of its own images and spend."""
    tokens_file: Path | None = None
    """A file of bearer tokens, one a line (# starts a comment)."""
    oauth_issuer: str | None = None
    """An OAuth 2.1 authorization server whose JWT access tokens the HTTP server accepts."""
    public_url: str | None = None
    """The HTTP server's public URL (e.g. https://images.example.com/mcp): the audience tokens must name."""
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    """More Host values to answer (DNS-rebinding protection), comma-separated, e.g. images.example.com:*."""
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    """More Origin values to answer, comma-separated, e.g. https://app.example.com."""
    max_in_flight: int = Field(default=4, ge=1)
    """Generations one owner may have running at once."""

    @field_validator("tokens", "allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("runware_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # MCP client configs often carry "RUNWARE_API_KEY": "" as a placeholder.
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator(
        "output_dir",
        "data_dir",
        "max_cost_per_call",
        "daily_budget",
        "webhook_url",
        "upload_endpoint",
        "tokens_file",
        "oauth_issuer",
        "public_url",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _path_list(cls, value: object) -> object:
        # One variable holds several folders, separated as PATH separates them (':' or ';').
        if isinstance(value, str):
            return tuple(Path(part.strip()) for part in value.split(os.pathsep) if part.strip())
        return value
