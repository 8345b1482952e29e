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

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    runware_api_key: SecretStr | None = Field(default=None, validation_alias="RUNWARE_API_KEY")
    """Runware API key; without it generate_image explains how to get one or run offline."""
    runware_base_url: str = Field(default=DEFAULT_BASE_URL, validation_alias="RUNWARE_BASE_URL")
    """The full URL that task arrays are POSTed to."""
    runware_timeout: float = Field(default=30.0, gt=0, validation_alias="RUNWARE_TIMEOUT")
    """Seconds one HTTP exchange with Runware may take, from connecting to the last byte."""
    offline: bool = Field(default=False, validation_alias=AliasChoices("offline", "IDEOGRAM_MCP_OFFLINE"))
    """Serve from the built-in Runware emulator instead of Runware."""
    log_level: str = Field(default="INFO", validation_alias="IDEOGRAM_MCP_LOG_LEVEL")

    output_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("output_dir", "IDEOGRAM_MCP_OUTPUT_DIR")
    )
    """Where images are saved; without it, inside the client's first root, else a per-user folder."""
    save: bool = Field(default=True, validation_alias=AliasChoices("save", "IDEOGRAM_MCP_SAVE"))
    """Whether generated images are downloaded and saved (hosted deployments turn it off)."""
    preview: bool = Field(default=True, validation_alias=AliasChoices("preview", "IDEOGRAM_MCP_PREVIEW"))
    """Whether results carry small previews by default (the ``preview`` argument overrides it)."""
    wait_seconds: float = Field(
        default=50.0, gt=0, validation_alias=AliasChoices("wait_seconds", "IDEOGRAM_MCP_WAIT_SECONDS")
    )
    """How long a tool call waits for its images before answering ``pending`` (clients give up near 60 s)."""
    data_dir: Path | None = Field(default=None, validation_alias=AliasChoices("data_dir", "IDEOGRAM_MCP_DATA_DIR"))
    """Where the task journal lives; without it, the per-user data folder."""
    max_cost_per_call: float | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("max_cost_per_call", "IDEOGRAM_MCP_MAX_COST_PER_CALL")
    )
    """Dollars one call may cost at most; a call quoted above it is refused before anything is sent."""
    daily_budget: float | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("daily_budget", "IDEOGRAM_MCP_DAILY_BUDGET")
    )
    """Dollars all calls of a day (server's local time) may cost, counted from the journal."""
    confirm_above: float = Field(
        default=0.50, ge=0, validation_alias=AliasChoices("confirm_above", "IDEOGRAM_MCP_CONFIRM_ABOVE")
    )
    """Quotes above this are confirmed with the user first, when the client can ask."""
    webhook_url: str | None = Field(
        default=None, validation_alias=AliasChoices("webhook_url", "IDEOGRAM_MCP_WEBHOOK_URL")
    )
    """Where Runware also POSTs each finished image's result; the user's choice, never an agent's."""
    upload_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("upload_endpoint", "IDEOGRAM_MCP_UPLOAD_ENDPOINT")
    )
    """Where Runware also PUTs each finished image (e.g. a presigned bucket URL); the user's choice."""
    allowed_dirs: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(), validation_alias=AliasChoices("allowed_dirs", "IDEOGRAM_MCP_ALLOWED_DIRS")
    )
    """Folders, besides the client's roots and the output folder, that local input images may come from."""

    @field_validator("runware_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # MCP client configs often carry "RUNWARE_API_KEY": "" as a placeholder.
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator(
        "output_dir", "data_dir", "max_cost_per_call", "daily_budget", "webhook_url", "upload_endpoint", mode="before"
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
