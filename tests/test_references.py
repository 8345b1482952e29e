"""What a piece of text names as an image: a web URL, a data URI, base64 data or an image UUID."""

from __future__ import annotations

import base64
import uuid

import pytest

from ideogram_mcp.references import (
    data_uri,
    decoded,
    encoded,
    inline_picture,
    is_image_reference,
    is_inline_image,
    is_uuid,
    is_web_url,
)

from .conftest import png

PNG = png()
V4 = "9b2f6c1e-3d4a-4f5b-8c7d-0e1f2a3b4c5d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://im.runware.ai/image/a.png", True),
        ("http://localhost:8080/a.png", True),
        ("ftp://host/a.png", False),
        ("http://[", False),
        ("http://host:port/a.png", False),
        ("https://", False),
        ("/tmp/a.png", False),
        ("https://exa mple.com/a.png", False),  # a host no server has: it had been sent, to fail after it was paid
        ("https://example.com/a\x00.png", False),
        ("https://example.com/a\x7f.png", False),
        ("https://example.com/my photo.png", True),  # a space in the path: the fetcher escapes it
        ("https://alice:hunter2 secret@images.example.com/a.png", True),  # in the password too
        ("https://example.com/\na.png", True),  # a line break: URL readers drop it
    ],
)
def test_a_web_url_has_a_scheme_and_a_host(text: str, expected: bool) -> None:
    assert is_web_url(text) is expected


def test_a_uuid_of_any_version_or_of_the_one_asked() -> None:
    assert is_uuid(V4)
    assert is_uuid(V4, version=4)
    assert is_uuid(str(uuid.uuid1()))
    assert not is_uuid("not-a-uuid")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/a.png", True),
        ("HTTPS://example.com/a.png", True),
        ("https://[", False),
        (data_uri(PNG, "image/png"), True),
        ("data:image/png,plain", False),
        (encoded(PNG), True),
        (V4, True),
        ("a cat", False),
        ("./picture.png", False),
    ],
)
def test_what_runware_takes_as_an_image(text: str, expected: bool) -> None:
    assert is_image_reference(text) is expected


def test_inline_data_is_a_picture_only_when_its_bytes_are_one() -> None:
    assert inline_picture(data_uri(PNG, "image/png")) is True
    assert inline_picture(encoded(PNG)) is True
    assert inline_picture(base64.b64encode(b"this is plain text, no image").decode()) is False
    assert inline_picture("https://example.com/a.png") is None
    assert inline_picture(V4) is None


def test_inline_image_data_is_told_from_other_text() -> None:
    assert is_inline_image(data_uri(PNG, "image/png"))
    assert is_inline_image(encoded(PNG))
    assert not is_inline_image("https://example.com/a.png")
    assert not is_inline_image("a cat on a mat!")


def test_inline_data_decodes_to_its_bytes_and_back() -> None:
    assert decoded(data_uri(PNG, "image/png")) == PNG
    assert decoded(encoded(PNG)) == PNG
    assert decoded("not base64 at all!") is None
