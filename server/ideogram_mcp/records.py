"""One image a task made, as one typed record from Runware's answer to the tool's result.

Delivery makes it from Runware's answer; the journal keeps it (as JSON, with Runware's camelCase names); the
recipe beside a saved file extends it; results show it. No image travels as a dict between modules.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class ImageRecord(BaseModel):
    """One image of a task: what Runware said of it, and what became of it here."""

    model_config = ConfigDict(frozen=True, serialize_by_alias=True, extra="ignore")

    image_uuid: str = Field(validation_alias=AliasChoices("imageUUID", "image_uuid"), serialization_alias="imageUUID")
    """Runware's id of the image."""
    image_url: str = Field(validation_alias=AliasChoices("imageURL", "image_url"), serialization_alias="imageURL")
    """Where Runware serves the image; the link expires."""
    seed: int | None = None
    cost: float | None = None
    """What Runware charged for it, in USD, when it said."""
    nsfw_content: bool | None = Field(
        default=None, validation_alias=AliasChoices("NSFWContent", "nsfw_content"), serialization_alias="NSFWContent"
    )
    structured_prompt: dict[str, Any] | None = Field(
        default=None,
        validation_alias=AliasChoices("structuredPrompt", "structured_prompt"),
        serialization_alias="structuredPrompt",
    )
    """The structured prompt the image was made from (Ideogram 4.0 answers with it: the one sent, or the one Magic
    Prompt wrote from a text prompt), to change and send back."""
    width: int | None = None
    height: int | None = None
    format: str | None = None
    """JPG, PNG or WEBP, as the saved bytes are (else as the task asked)."""
    stem: str | None = None
    """The name it is saved under, without extension: chosen once, before any write."""
    path: str | None = None
    """Where it is saved; None until it is."""
    problem: str | None = None
    """Why it is not saved, when saving failed."""

    def with_(self, **changes: object) -> Self:
        """This record with some fields changed (by their Python names)."""
        return self.model_copy(update=changes)
