"""A local emulator of Runware's REST API: a test double that speaks the protocol from the outside."""

from ideogram_mcp.emulator.app import Charge, Emulator, Fault

__all__ = ["Charge", "Emulator", "Fault"]
