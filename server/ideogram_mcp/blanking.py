"""What no answer may show, blanked out of each one: the API key anywhere in it, and for a server of many clients
(HTTP) the server's own folders wherever a text names a path in them; and what no answer can carry, escaped."""

from __future__ import annotations

import re
from typing import Any, cast

import mcp_types as types

from ideogram_mcp.settings import Settings, redacted, secret_value
from ideogram_mcp.text import carried, unpaired


class Blanking:
    """What no result may show, blanked out of each one: the API key anywhere in it; and for remote connections
    (HTTP) the server's own folders wherever a text names a path in them (a remote connection's paths are told
    relative to its folder; this catches any sentence that names one all the same)."""

    def __init__(self, settings: Settings, *, shared: bool) -> None:
        self._key = settings.runware_api_key if secret_value(settings.runware_api_key) else None
        self._folders: list[tuple[re.Pattern[str], str]] = []
        if shared:
            from ideogram_mcp import files

            named = {
                "the server's data folder": settings.data_dir or files.default_data_dir(),
                "the server's image folder": files.output_folder(settings.output_dir),
            }
            forms = {
                (form, f"[{name}]")
                for name, folder in named.items()
                for form in {str(folder.expanduser().absolute()), str(folder.expanduser().resolve())}
                if len(form) > 1
            }
            for form, stand_in in sorted(forms, key=lambda pair: -len(pair[0])):  # a folder's inside first
                # A path in it, or the folder itself: never a word that merely begins like it.
                self._folders.append((re.compile(re.escape(form) + r"(?=[/\\\s'\")\]},.;:]|$)"), stand_in))

    def __call__(
        self, result: types.CallToolResult | types.InputRequiredResult
    ) -> types.CallToolResult | types.InputRequiredResult:
        data = result.model_dump(by_alias=True, mode="json", exclude_unset=True)
        blanked = redacted(self._in_values(data) if self._folders else data, self._key)  # the one redaction
        if unpaired(blanked) is not None:  # a path of a folder named in another encoding (one the journal kept)
            blanked = carried(blanked)
        return result if blanked == data else type(result).model_validate(blanked)

    def text(self, said: str) -> str:
        """A sentence with what no result may show blanked out of it."""
        return cast(str, redacted(self._in_values(said), self._key))

    def _in_values(self, value: Any) -> Any:
        """JSON data with the folders blanked in its string values (never in its keys)."""
        if isinstance(value, str):
            for pattern, stand_in in self._folders:
                value = pattern.sub(stand_in, value)
            return value
        if isinstance(value, dict):
            return {k: self._in_values(v) for k, v in cast(dict[str, Any], value).items()}
        if isinstance(value, list):
            return [self._in_values(v) for v in cast(list[Any], value)]
        return value
