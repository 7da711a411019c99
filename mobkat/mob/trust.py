"""What a mob definition may reach: the Python tools it may name and the files it may read.

The operator's own definitions (``mobkat run FILE``, the Python API) may name any importable function
and read skill files inside their own directory. A definition sent over JSON-RPC is data: it may name
only the tools the operator allow-listed (``mobkat rpc --allow-python-tools``) and read only files
inside ``--definitions-root`` (none without it). See docs/security.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobkat.errors import InvalidInputError

ALLOW_TOOLS_FLAG = "--allow-python-tools"
DEFINITIONS_ROOT_FLAG = "--definitions-root"

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_PATTERN = re.compile(rf"(?P<module>{_DOTTED}):(?P<attribute>{_DOTTED}|\*)")
_PUBLIC_NAME = re.compile(r"[A-Za-z]\w*")


class ToolAllowList:
    """The operator's ``--allow-python-tools`` patterns: ``pkg.mod:func`` allows exactly that import path;
    ``pkg.mod:*`` allows the public functions *defined in* ``pkg.mod`` (not the names it imports, not
    ``_private`` ones, not dotted attributes, not submodules)."""

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.exact: frozenset[str] = frozenset()
        self.modules: frozenset[str] = frozenset()
        exact: set[str] = set()
        modules: set[str] = set()
        for pattern in patterns:
            found = _PATTERN.fullmatch(pattern.strip())
            if found is None:
                raise InvalidInputError(
                    f"{ALLOW_TOOLS_FLAG} {pattern!r}: expected 'package.module:function' or 'package.module:*'",
                    details={"flag": ALLOW_TOOLS_FLAG, "pattern": pattern})
            if found["attribute"] == "*":
                modules.add(found["module"])
            else:
                exact.add(found.group(0))
        self.exact, self.modules = frozenset(exact), frozenset(modules)

    def __bool__(self) -> bool:
        return bool(self.exact or self.modules)

    def allows(self, spec: str) -> bool:
        """Whether the import path ``spec`` (``module:attribute``) may be imported; decided on the text
        alone, before anything is imported."""
        if spec in self.exact:
            return True
        module, _, attribute = spec.partition(":")
        return module in self.modules and _PUBLIC_NAME.fullmatch(attribute) is not None

    def admits(self, spec: str, target: Callable[..., Any]) -> bool:
        """After the import: a wildcard admits only functions defined in the allowed module itself."""
        if spec in self.exact:
            return True
        return self.allows(spec) and getattr(target, "__module__", None) == spec.partition(":")[0]


@dataclass(frozen=True)
class DefinitionTrust:
    """What one definition may reach.

    ``remote=False`` (the operator's own definitions, the default): any importable Python tool; files
    inside ``files_root``, else inside the definition's own directory. ``remote=True`` (sent over
    JSON-RPC): only ``allowed_tools``; files only inside ``files_root`` (``None``: no files at all).
    """

    remote: bool = False
    files_root: Path | None = None
    allowed_tools: ToolAllowList = field(default_factory=ToolAllowList)

    @classmethod
    def from_client(cls, *, definitions_root: Path | None, allow_python_tools: Iterable[str] = ()) -> DefinitionTrust:
        """The trust of definitions a client sends (``mob/create``), from the server's flags."""
        root = definitions_root.resolve() if definitions_root is not None else None  # fixed at start, not per cwd
        return cls(remote=True, files_root=root, allowed_tools=ToolAllowList(allow_python_tools))

    def file_root(self, definition_dir: Path) -> Path | None:
        """The directory the definition's files must resolve inside (``None``: it may read none)."""
        if self.remote:
            return self.files_root
        return self.files_root if self.files_root is not None else definition_dir

    def allows_tool(self, spec: str) -> bool:
        """Whether the definition may name the Python tool ``spec`` (checked before any import)."""
        return not self.remote or self.allowed_tools.allows(spec)

    def admits_tool(self, spec: str, target: Callable[..., Any]) -> bool:
        """Whether the imported ``target`` of ``spec`` may become a tool."""
        return not self.remote or self.allowed_tools.admits(spec, target)

    def tool_refusal(self, spec: str) -> str:
        """Why ``spec`` is refused, and what the operator can do (for error messages)."""
        allowed = "this server allows none" if not self.allowed_tools else "it is not on this server's allow-list"
        return (f"Python tool {spec!r} is not allowed in a definition sent over JSON-RPC ({allowed}); "
                f"definitions are data: the server's operator must allow it with "
                f"`mobkat rpc {ALLOW_TOOLS_FLAG} '{spec}'` (or '{spec.partition(':')[0]}:*')")
