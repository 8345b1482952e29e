"""The per-user folders used when no setting names one: images in the user's pictures, the journal in the user's
data folder, each as its system names it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ideogram_mcp.settings import ENV


def default_output_dir() -> Path:
    """The per-user folder images go to when neither a setting nor a client root says otherwise."""
    return Path.home() / "Pictures" / "ideogram-mcp"


def output_folder(setting: Path | None) -> Path:
    """The server's own image folder: the one the user set (IDEOGRAM_MCP_OUTPUT_DIR, expanded when read), else the
    per-user default; images of no root or project go there, and it is the bucket's images root."""
    return setting or default_output_dir()


def default_data_dir() -> Path:
    """The per-user folder for the server's own data (the task journal), as each system names it."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "ideogram-mcp"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "ideogram-mcp"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "ideogram-mcp"


def homeless(output_dir: Path | None, data_dir: Path | None) -> str | None:
    """Why the folders not set cannot be found (a user with no home folder: HOME unset, and none in the system's
    user list, as for a service's made-up user id); None when they can. Said at the start: each call had failed as
    "an internal error", and ideogram-mcp http had ended in a traceback."""
    try:
        _ = None if output_dir else default_output_dir()
        _ = None if data_dir else default_data_dir()
    except RuntimeError:  # Path.home(): "Could not determine home directory"
        return (
            f"this user has no home folder (HOME is unset, and the system names none), where images and the task "
            f"journal go by default; set HOME, or {ENV.output_dir} and {ENV.data_dir}"
        )
    return None
