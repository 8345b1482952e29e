"""The recipe beside a saved image (``<same name>.json``): its record, how it was made, and the file it describes.

It extends ``ImageRecord``: what the journal knows of the image, plus the task as it was sent (never the key; inline
image data shortened), the Runware it came from, when, and the file's name, format, size and SHA-256. Only
recipes marked as this server's (``generator``) are read back.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import AliasChoices, Field, ValidationError

from ideogram_mcp.records import ImageRecord
from ideogram_mcp.specs import prompt_of

SIDECAR_MARK = "ideogram-mcp"
"""The ``generator`` of every recipe this server writes; other JSON files are not ours."""


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

    @property
    def prompt(self) -> str:
        return prompt_of(self.task)
