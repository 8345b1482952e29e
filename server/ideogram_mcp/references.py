"""What a piece of text names, as Runware reads an image argument: an http(s) URL, a data URI, base64 data, or an
image UUID. Said once here for the parser, the tools, delivery and the emulator."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import uuid
from urllib.parse import urlsplit

from ideogram_mcp.images.formats import sniff

_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]{16,}={0,2}")
_SIGNED = re.compile(r"iVBORw0KGgo|/9j/|_9j_|UklGR")
"""How the base64 of a PNG, a JPEG and a WEBP begins (``_9j_``: a JPEG's in the URL-safe alphabet)."""
_FROM_URL_SAFE = str.maketrans("-_", "+/")
_LONGEST_NAME = 255
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")
_WRAPPED = re.compile(r"[A-Za-z0-9+/=\s]{16,}")
_SPACE = re.compile(r"\s+")
_LONGEST_UUID = len("urn:uuid:{12345678-1234-1234-1234-123456789012}")


def is_web_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL with a host that could be fetched (a malformed one, such as ``http://[``,
    is not; nor one whose host has a space, or that holds a control character, see ``url_fault``)."""
    return _url_fault(text) is None


def url_fault(text: str) -> str | None:
    """Why text that begins as an http(s) URL names nothing Runware could fetch, in words that say the fix; None
    when it is a URL, or no http(s) URL at all. A tab or line break is left to the fetcher to drop, as URL readers
    do (a URL wrapped in an agent's text); a space in the path to it to escape."""
    if not re.match(r"https?:", text, re.IGNORECASE):
        return None
    return _url_fault(text)


def _url_fault(text: str) -> str | None:
    control = next((n for n, c in enumerate(text) if (c < " " and c not in "\t\n\r") or "\x7f" <= c <= "\x9f"), None)
    if control is not None:
        return f"character {control + 1} of the URL is a control character (\\u{ord(text[control]):04x}): remove it"
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises for a port that is no number
    except ValueError:
        return "it is no URL a server could be reached at: check its host and port"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it is no http(s) URL with a host: give the whole address, such as https://example.com/photo.png"
    if any(c.isspace() for c in parts.hostname):  # in the user part, a fetcher escapes it (and it is a secret)
        return f"the URL's host ({parts.hostname!r}) has a space, which no host name has: remove it"
    return None


def is_uuid(text: str, *, version: int | None = None) -> bool:
    """Whether ``text`` is a UUID (of ``version``, when given)."""
    try:
        uuid.UUID(text, version=version)
    except ValueError:
        return False
    return True


def as_runware_reads(text: str) -> str:
    """``text`` as Runware reads an image: an image UUID in its one form (lower case, dashed: ``uuid.UUID`` also
    takes upper case, braces, ``urn:uuid:`` and bare hex, which Runware does not know), an http(s) URL with its
    scheme in lower case (the rest of it as it was: a signed URL must not change), base64 without the line breaks
    and spaces that tools wrap it in (``base64``'s 76 characters a line); anything else as it is."""
    if len(text) <= _LONGEST_UUID:  # no copy of megabytes of data made to find it is none
        with contextlib.suppress(ValueError):
            return str(uuid.UUID(text))
    if (scheme := re.match(r"https?(?=:)", text, re.IGNORECASE)) and not text.startswith(("http:", "https:")):
        return scheme[0].lower() + text[scheme.end() :]
    if text[:11].lower() == "data:image/" and not text.startswith("data:image/") and (at := text.find(",", 0, 200)) > 0:
        text = text[:at].lower() + text[at:]  # DATA:IMAGE/PNG;BASE64,: a scheme and a type in any case
    if begins_as_base64_image(text) and ("-" in text or "_" in text) and _URL_SAFE.fullmatch(text):
        return _padded(text.translate(_FROM_URL_SAFE))  # the same bytes in base64's other alphabet (base64url)
    head, comma, data = text.partition(",") if text.startswith("data:image/") else ("", "", "")
    if (
        comma
        and head.endswith(";base64")
        and begins_as_base64_image(data)
        and ("-" in data or "_" in data)
        and _URL_SAFE.fullmatch(data)
    ):
        return f"{head},{_padded(data.translate(_FROM_URL_SAFE))}"  # a data URI of base64url
    if not any(space in text for space in " \n\r\t"):  # the common case, found at C speed (data can be megabytes)
        if comma and head.endswith(";base64"):
            return f"{head},{_padded(data)}" if len(data) % 4 in (2, 3) else text
        unpadded = len(text) % 4 in (2, 3) and begins_as_base64_image(text) and _BASE64.fullmatch(text)
        return _padded(text) if unpadded else text
    if text.startswith("data:") and ";base64," in text:
        head, data = text.split(";base64,", 1)
        return f"{head};base64,{_padded(_SPACE.sub('', data))}"
    if _WRAPPED.fullmatch(text):
        joined = _padded(_SPACE.sub("", text))
        return joined if inline_picture(joined) else text  # a file's name with spaces stays one
    return text


def _padded(data: str) -> str:
    """Base64 with the "=" its last group lacks, as base64url is often written (without): the same bytes, which
    Runware's reader, and this server's, would refuse without them. Any other text as it is."""
    return data + "=" * (-len(data) % 4) if len(data) % 4 in (2, 3) else data


def is_image_reference(text: str) -> bool:
    """Whether ``text`` is an image as Runware takes one: http(s) URL, data URI, base64 or image UUID."""
    if re.match(r"^https?:", text, re.IGNORECASE):
        return is_web_url(text)
    if text.startswith("data:image/"):
        return ";base64," in text
    return is_uuid(text) or _BASE64.fullmatch(text) is not None


def begins_as_base64_image(text: str) -> bool:
    """Whether ``text`` is the base64 of a PNG, JPEG or WEBP image, perhaps damaged or in the URL-safe alphabet: it
    begins as such base64 does, and is longer than a file's name may be (255 bytes on the usual file systems) or
    decodes to an image that ends as a whole one does. A file may well be named ``UklGR-notes``."""
    return _SIGNED.match(text) is not None and (len(text) > _LONGEST_NAME or _ends_whole(text))


def _ends_whole(text: str) -> bool:
    """Whether base64 text (its characters of neither alphabet left out) decodes to bytes that end as a whole PNG,
    JPEG or WEBP does: a file's name does not."""
    kept = _NOT_BASE64.sub("", text.translate(_FROM_URL_SAFE))
    try:
        data = base64.b64decode(kept + "=" * (-len(kept) % 4))
    except (binascii.Error, ValueError):
        return False
    if data.startswith(b"RIFF"):
        return int.from_bytes(data[4:8], "little") + 8 == len(data)
    return data.endswith((b"IEND\xaeB`\x82", b"\xff\xd9"))


def broken_base64(text: str) -> str | None:
    """Why text that begins as an image's base64 is not base64, else None."""
    if not begins_as_base64_image(text) or is_image_reference(text):
        return None
    at = next((n for n, c in enumerate(text) if not (c.isascii() and (c.isalnum() or c in "+/="))), None)
    if at is not None:
        return (
            f"it begins as an image's base64, but character {at + 1} ({text[at]!r}) is not base64: send the image's "
            "base64 whole and unchanged"
        )
    return "it begins as an image's base64, but is cut short or padded wrongly: send the image's base64 whole"


def inline_picture(text: str) -> bool | None:
    """For inline image data (a data URI, or bare base64): whether its first bytes are those of a PNG, JPEG or WEBP
    image. None for anything else (a URL, an image UUID), whose bytes are not here."""
    if is_web_url(text) or is_uuid(text) or not is_image_reference(text):
        return None
    encoded = text.split(";base64,", 1)[1] if text.startswith("data:") else text
    head = encoded[:16]  # 12 bytes: enough for every format's signature
    try:
        first = base64.b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return False
    return sniff(first) is not None


def is_inline_image(text: str) -> bool:
    """Whether ``text`` is (or begins as) inline image data: a data URI, or base64."""
    if text.startswith("data:"):
        return True
    try:
        base64.b64decode(text[:64], validate=True)
    except ValueError:
        return False
    return True


def decoded(image: str) -> bytes | None:
    """The bytes of inline image data (a data URI or bare base64); None when it is neither."""
    encoded = image.split(";base64,", 1)[1] if image.startswith("data:") and ";base64," in image else image
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def data_uri(data: bytes, mime_type: str) -> str:
    """Bytes as a data URI."""
    return f"data:{mime_type};base64,{encoded(data)}"


def encoded(data: bytes) -> str:
    """Bytes as base64 text."""
    return base64.b64encode(data).decode("ascii")
