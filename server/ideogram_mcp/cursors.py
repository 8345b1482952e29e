"""Cursors of the paged listings (``resources/list``, ``list_generations``): a place in a listing, as URL-safe base64
of JSON, which a client hands back as it came."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence


def cursor(place: Sequence[object]) -> str:
    """A cursor naming a place in a listing."""
    return base64.urlsafe_b64encode(json.dumps(list(place)).encode()).decode()


def place(given: object) -> object:
    """The place a cursor names, as JSON read it (the caller checks its shape); None for text that is no cursor."""
    try:
        return json.loads(base64.urlsafe_b64decode(str(given).encode("ascii")))
    except (ValueError, UnicodeError, RecursionError):  # binascii.Error and json's errors are ValueErrors
        return None
