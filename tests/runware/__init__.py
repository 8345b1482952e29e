"""Tests of Runware's REST protocol; ``client_of`` is every test's client of the emulated Runware."""

from __future__ import annotations

import httpx2
from pydantic import SecretStr

from ideogram_mcp.emulator import Emulator
from ideogram_mcp.runware.client import RunwareClient

from ..conftest import API_KEY, BASE_URL


def client_of(emulator: Emulator) -> RunwareClient:
    """A Runware client whose Runware is ``emulator``, in process, on the emulator's clock."""
    transport = httpx2.ASGITransport(emulator.app())
    return RunwareClient(SecretStr(API_KEY), base_url=BASE_URL, transport=transport, clock=emulator.clock)
