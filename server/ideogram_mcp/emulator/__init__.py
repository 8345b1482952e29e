"""A local emulator of Runware's REST API: a test double that speaks the protocol from the outside."""

from ideogram_mcp.emulator.app import Emulator
from ideogram_mcp.emulator.faults import Fault
from ideogram_mcp.emulator.state import Charge

__all__ = ["Charge", "Emulator", "Fault"]
