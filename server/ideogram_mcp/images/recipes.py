"""The recipe beside a saved image (``<same name>.json``): its record, how it was made, and the file it describes.

It extends ``ImageRecord``: what the journal knows of the image, plus the task as it was sent (never the key; inline
image data shortened), the Runware it came from, when, and the file's name, format, size and SHA-256. Only
recipes marked as this server's (``generator``) are read back.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from pydantic import AliasChoices, Field, ValidationError

from ideogram_mcp.images import SavedImage
from ideogram_mcp.images.formats import image_format
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.specs import prompt_of
from ideogram_mcp.text import clipped

KEPT_AT_RUNWARE = timedelta(days=25)
"""How long after it was made an image is taken to be held by Runware under its UUID (Runware keeps an image 30 days
after its last use); an older one is uploaded again rather than sent by a UUID Runware may have let go."""
SIDECAR_MARK = "ideogram-mcp"
"""The ``generator`` of every recipe this server writes; other JSON files are not ours."""
SIDECAR_MOST = 1024 * 1024
"""Most bytes a recipe is read of: a larger file named like one is not ours."""


class Recipe(ImageRecord):
    """What the ``.json`` beside a saved image holds."""

    image_uuid: str = Field(
        default="", validation_alias=AliasChoices("imageUUID", "image_uuid"), serialization_alias="imageUUID"
    )
    image_url: str = Field(
        default="", validation_alias=AliasChoices("imageURL", "image_url"), serialization_alias="imageURL"
    )
    generator: str = SIDECAR_MARK
    model: str = ""
    task_uuid: str = Field(
        default="", validation_alias=AliasChoices("taskUUID", "task_uuid"), serialization_alias="taskUUID"
    )
    runware: str | None = None
    """The Runware URL the image came from: an image UUID is only good there."""
    created: str = ""
    task: dict[str, Any] = Field(default_factory=lambda: {})
    """The task as it was sent (JSON as Runware takes it)."""
    file: str | None = None
    """The image file's name, in the same folder."""
    bytes: int | None = None
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The recipe as written: this server's names for its facts, what only the journal needs left out."""
        unsaid = {"nsfw_content"} if self.nsfw_content is None else set[str]()  # only when the check was asked for
        unsaid |= {"structured_prompt"} if self.structured_prompt is None else set[str]()  # only 4.0 answers with one
        return self.model_dump(mode="json", exclude={"path", "problem", "stem", *unsaid})

    @classmethod
    def of_json(cls, data: object) -> Recipe | None:
        """A recipe from its JSON when it is one of ours, else None; a value of the wrong kind is left out (anyone
        may write a file named like a recipe, or edit one)."""
        if not isinstance(data, dict):
            return None
        fields = cast(dict[str, Any], data)
        if fields.get("generator") != SIDECAR_MARK:
            return None
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            wrong = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        try:
            return cls.model_validate({k: v for k, v in fields.items() if k not in wrong})
        except ValidationError:
            return None

    @classmethod
    def of_bytes(cls, raw: bytes) -> Recipe | None:
        """A recipe from a file's bytes when it is one of ours (at most ``SIDECAR_MOST``, UTF-8 JSON), else None."""
        if len(raw) > SIDECAR_MOST:
            return None
        try:
            found: object = json.loads(raw.decode("utf-8"))
        except ValueError:  # not UTF-8 or JSON: not ours
            return None
        return cls.of_json(found)

    def text(self) -> bytes:
        """The recipe's file, as it is written beside its image."""
        return (json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    def uuid_for(self, data: bytes, service: str) -> str | None:
        """The image UUID Runware (at ``service``) holds these bytes under, when this recipe describes them
        unchanged and they came from there: then they need no new upload."""
        if self.sha256 != hashlib.sha256(data).hexdigest():
            return None  # changed since it was saved: upload it as it is now
        if not service or self.runware != service:
            return None  # made through another Runware (an emulator run, another account): it holds no such UUID
        try:
            made = datetime.fromisoformat(self.created)
        except ValueError:
            return None  # when it was made is not known: uploaded, as Runware may have let it go
        if made.tzinfo is None or datetime.now(UTC) - made > KEPT_AT_RUNWARE:
            return None
        return self.image_uuid or None

    def saved_at(self, path: Path, size: int) -> SavedImage:
        """The image this recipe describes, as listed, saved at ``path`` with ``size`` bytes."""
        shape = f"{self.width}x{self.height}" if self.width is not None and self.height is not None else "size unknown"
        with_seed = f", seed {self.seed}" if self.seed is not None else ""
        return SavedImage(
            path=path,
            format=image_format(self.format or ""),
            created=self.created,
            size=size,
            description=f"{shape}{with_seed}"
            + (f": {clipped(self.prompt, 120)}" if self.prompt else ""),  # a cut-out has none
        )

    @property
    def prompt(self) -> str:
        return prompt_of(self.task)
