"""Sessions: one canonical history, tools, and the model reached per turn."""

from mobkat.session.services import SessionServices
from mobkat.session.session import Session, TurnResult
from mobkat.session.tools import Tool, ToolOutcome, ToolRegistry, make_tool

__all__ = ["Session", "SessionServices", "Tool", "ToolOutcome", "ToolRegistry", "TurnResult", "make_tool"]
