"""Reading the files a mob definition names (the definition itself, ``source = "path"`` skills),
confined and bounded: inside an allowed root, regular files only, at most a size cap.

Files are opened with ``O_NONBLOCK | O_NOFOLLOW`` and checked with ``fstat`` before a byte is read,
so a FIFO, a device or ``/dev/stdin`` never blocks the reader, and at most ``limit + 1`` bytes are read
(``/dev/zero`` or a file that grows cannot exhaust memory). Paths that leave the root (``..``, an
absolute path, a symlink) and anything under ``/proc``, ``/sys`` or ``/dev`` get one and the same
refusal, whether or not the file exists: nothing of a file outside the root is revealed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mobkat.mob.trust import DEFINITIONS_ROOT_FLAG

MAX_DEFINITION_BYTES = 1024 * 1024
"""A definition file (``mob/create {path}``, ``mobkat run FILE``) is at most 1 MiB."""
MAX_SKILL_BYTES = 256 * 1024
"""A ``source = "path"`` skill file is at most 256 KiB."""
SYSTEM_TREES = ("/proc", "/sys", "/dev")
"""Kernel trees no definition may read from, whatever the root."""

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 64 * 1024


class FileRefused(Exception):
    """A file was not read. ``problem`` (``does not exist``, ``refused: ...``) is safe to show the sender and
    reads after "the file"; ``refused`` tells a refusal (outside the root, not a regular file, too large)
    from a plain failure inside the root (missing, unreadable)."""

    def __init__(self, problem: str, *, refused: bool = True) -> None:
        super().__init__(problem)
        self.problem = problem
        self.refused = refused


def outside_root_problem(remote: bool) -> str:
    """The one refusal for every path outside the root (the same whether or not the file exists)."""
    if remote:
        return (f"refused: definitions sent over JSON-RPC may only name regular files inside the server's "
                f"{DEFINITIONS_ROOT_FLAG} directory (give paths relative to it)")
    return "refused: a definition may only name regular files inside its own directory"


def no_root_problem() -> str:
    """The refusal when the server allows no files at all (no ``--definitions-root``)."""
    return (f"refused: this server reads no files for definitions sent over JSON-RPC; its operator can allow "
            f"the files inside one directory with `mobkat rpc {DEFINITIONS_ROOT_FLAG} DIR`, or send the "
            "definition inline (skills with source = \"inline\")")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _in_system_tree(path: str) -> bool:
    return any(_inside(path, tree) for tree in SYSTEM_TREES)


def confine(given: str, *, base: Path, root: Path | None, remote: bool) -> str:
    """The real path of ``given`` (relative to ``base``) if it lies inside ``root``; ``FileRefused`` with
    the same problem for every path that does not (and with :func:`no_root_problem` when ``root`` is None)."""
    if root is None:
        raise FileRefused(no_root_problem())
    outside = FileRefused(outside_root_problem(remote))
    try:
        real_root = os.path.realpath(root)
        joined = os.path.join(os.path.realpath(base), given)
        if not _inside(os.path.normpath(joined), real_root):  # before touching anything outside
            raise outside
        real = os.path.realpath(joined)
    except (OSError, ValueError):  # a NUL byte, a name too long: never a file we may read
        raise outside from None
    if not _inside(real, real_root) or _in_system_tree(real):
        raise outside
    return real


def read_bounded(path: str, *, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``, opened without blocking or following a final
    symlink. ``FileRefused`` if it is missing (``refused=False``), not a regular file or larger than ``limit``."""
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        raise FileRefused("does not exist", refused=False) from None
    except (OSError, ValueError) as exc:
        raise FileRefused(f"cannot be read ({_reason(exc)})", refused=False) from None
    _check_regular(before, limit)  # never open a device or a FIFO: opening alone can have effects
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise FileRefused(f"cannot be read ({_reason(exc)})", refused=False) from None
    try:
        now = os.fstat(fd)
        _check_regular(now, limit)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise FileRefused("refused: it was replaced while it was being opened")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileRefused(f"cannot be read ({_reason(exc)})", refused=False) from None
    finally:
        os.close(fd)
    if size > limit:
        raise FileRefused(_too_large(limit))
    return b"".join(chunks)


def _check_regular(info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused("refused: not a regular file (directories, FIFOs, sockets and devices are never read)")
    if info.st_size > limit:
        raise FileRefused(_too_large(limit))


def _too_large(limit: int) -> str:
    return f"refused: larger than the {format_size(limit)} limit"


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def format_size(size: int) -> str:
    """``1 MiB``, ``256 KiB``, ``100 bytes``."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def read_confined(given: str, *, base: Path, root: Path | None, remote: bool, limit: int) -> bytes:
    """:func:`confine` then :func:`read_bounded`."""
    return read_bounded(confine(given, base=base, root=root, remote=remote), limit=limit)
