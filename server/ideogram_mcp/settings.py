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
    runware_timeout: float = Field(default=120.0, gt=0, validation_alias="RUNWARE_TIMEOUT")
    """Seconds to wait for Runware's answer to one generation."""
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

    @field_validator("output_dir", mode="before")
    @classmethod
    def _blank_dir_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _path_list(cls, value: object) -> object:
        # One variable holds several folders, separated as PATH separates them (':' or ';').
        if isinstance(value, str):
            return tuple(Path(part.strip()) for part in value.split(os.pathsep) if part.strip())
        return value
