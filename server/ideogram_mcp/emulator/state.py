"""What the emulated Runware account holds and answers with: its jobs, images and charges, and the error a
refused task becomes."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from PIL import Image

from ideogram_mcp.images.formats import sniff
from ideogram_mcp.references import decoded


@dataclass(slots=True)
class Answer:
    """What one task contributes to a response: result items and error entries."""

    data: list[dict[str, Any]] = field(default_factory=lambda: [])
    errors: list[dict[str, Any]] = field(default_factory=lambda: [])


class TaskError(Exception):
    """A task was refused; becomes one entry of the ``errors`` array."""

    def __init__(self, code: str, message: str, parameter: str | list[str] | None = None, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.parameter, self.status = code, message, parameter, status


@dataclass(frozen=True, slots=True)
class Charge:
    """One task the emulator billed."""

    task_uuid: str
    images: int
    cost: float


@dataclass(frozen=True, slots=True)
class StoredImage:
    held: bytes
    """Its bytes, when held in memory (empty when in ``file``)."""
    mime_type: str
    file: Path | None = None
    """The file holding its bytes, for an emulator that keeps its images on disk."""

    @property
    def data(self) -> bytes:
        """Its bytes (``OSError`` when its file was removed since)."""
        return self.file.read_bytes() if self.file is not None else self.held

    def read(self) -> bytes | None:
        """Its bytes; None when its file was removed since (a folder of temporary files cleaned)."""
        try:
            return self.data
        except OSError:
            return None


@dataclass(slots=True)
class Job:
    """An accepted inference task: what to draw, when each image is ready, and what was drawn."""

    model: str
    task: dict[str, Any]
    values: dict[str, Any]
    """The task's values by dotted wire path (``providerSettings.ideogram.styleType``)."""
    seeds: list[int]
    failing: frozenset[int]
    accepted: float
    items: dict[int, dict[str, Any]] = field(default_factory=lambda: {})
    drawing: anyio.Lock = field(default_factory=anyio.Lock)
    """Held while its images are drawn: two polls at once get the same image, drawn once."""

    def ready_at(self, index: int, render: float) -> float:
        """Images finish one after another over the render time."""
        return self.accepted + render * (index + 1) / len(self.seeds)


def decoded_upload(image: str) -> StoredImage:
    """An uploaded data URI or base64 string as stored bytes; TaskError when it is no PNG, JPEG or WEBP."""
    data = decoded(image)
    if data is None:
        raise TaskError("invalidImage", "The image is neither a data URI, base64 data nor a URL.", "image")
    found = sniff(data)
    if found is None:
        raise TaskError("invalidImage", "The image is not a PNG, JPEG or WEBP image.", "image")
    try:  # its first bytes say PNG, JPEG or WEBP: the rest must be one too, its checksums right and its pixels whole
        with Image.open(io.BytesIO(data)) as opened:
            opened.verify()
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
    except Image.DecompressionBombError as exc:  # Pillow's refusal to open it: answered, not a crash (HTTP 500)
        raise TaskError("invalidImage", "The image has too many pixels.", "image") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # PIL's ways of saying "no image"
        raise TaskError(
            "invalidImage", "The image could not be read: its data is damaged or cut short.", "image"
        ) from exc
    return StoredImage(data, found.mime_type)


def entry(task: Mapping[str, Any], exc: TaskError) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.parameter is not None:
        entry["parameter"] = exc.parameter
    if "taskType" in task:
        entry["taskType"] = task["taskType"]
    if "taskUUID" in task:
        entry["taskUUID"] = task["taskUUID"]
    return entry


def errors(exc: TaskError) -> dict[str, Any]:
    return {"errors": [entry({}, exc)]}
